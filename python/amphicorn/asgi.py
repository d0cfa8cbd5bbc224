"""The asyncio side of ASGI: the event loop thread and the lifespan protocol.

The loop runs in a thread of its own (``uvloop`` when installed and ``--loop auto``);
the Rust core hands requests to it through a socketpair it watches with ``add_reader``.
Lifespan runs on that loop before the port accepts requests, and after the last one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.util
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from amphicorn._amphicorn import defer_thread_wakeups
from amphicorn.errors import LifespanFailure

LoopName = Literal["auto", "asyncio", "uvloop"]
LOOPS: tuple[str, ...] = ("auto", "asyncio", "uvloop")
LifespanMode = Literal["auto", "on", "off"]
LIFESPAN_MODES: tuple[str, ...] = ("auto", "on", "off")

logger = logging.getLogger("amphicorn.error")


def new_event_loop(name: str) -> asyncio.AbstractEventLoop:
    """An event loop of the named kind: ``auto`` is uvloop when it is installed."""
    if name == "uvloop" or (name == "auto" and importlib.util.find_spec("uvloop") is not None):
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class LoopThread:
    """An event loop running forever in a daemon thread, until :meth:`stop`."""

    def __init__(self, loop_name: str) -> None:
        self.loop = new_event_loop(loop_name)
        self._thread = threading.Thread(target=self._run, name="amphicorn-asgi", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # Woken by the I/O thread, the loop waits for it to block rather than preempt it.
        defer_thread_wakeups()
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        """Runs ``coroutine`` on the loop and waits for its result from this thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(function, *args)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancels what is still running, stops the loop and joins its thread."""

        async def cancel_tasks() -> None:
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            self.run(cancel_tasks(), timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


class Lifespan:
    """Runs the ASGI lifespan protocol for one app.

    ``auto``: an app that raises before completing startup is taken not to support
    lifespan, and serving goes on (as uvicorn does). ``on``: that is a failure.
    ``off``: the app never sees a lifespan scope. ``lifespan.startup.failed`` always stops
    the server with the app's message.
    """

    def __init__(self, app: Callable[..., Any], mode: str) -> None:
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self.supported = mode != "off"
        self._messages: asyncio.Queue[dict[str, Any]] | None = None
        self._startup_done: asyncio.Event | None = None
        self._shutdown_done: asyncio.Event | None = None
        self._failure: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        """Sends ``lifespan.startup`` and waits for the answer; raises LifespanFailure."""
        if not self.supported:
            return
        self._messages = asyncio.Queue()
        self._startup_done = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._main())
        await self._messages.put({"type": "lifespan.startup"})
        await self._startup_done.wait()
        if self._failure is not None:
            raise LifespanFailure(self._failure)

    async def shutdown(self) -> None:
        """Sends ``lifespan.shutdown`` and waits for the answer; raises LifespanFailure."""
        if not self.supported or self._messages is None or self._shutdown_done is None:
            return
        if self._task is not None and self._task.done():
            return
        await self._messages.put({"type": "lifespan.shutdown"})
        await self._shutdown_done.wait()
        if self._failure is not None:
            raise LifespanFailure(self._failure)

    async def _main(self) -> None:
        assert self._startup_done is not None
        assert self._shutdown_done is not None
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.4"}, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as error:
            if self._startup_done.is_set() or self._failure is not None:
                if not self._shutdown_done.is_set():
                    logger.exception("Exception in ASGI lifespan shutdown")
                    self._failure = f"{type(error).__name__}: {error}"
            elif self.mode == "auto":
                self.supported = False
                logger.info("ASGI 'lifespan' protocol appears unsupported (%s: %s)", type(error).__name__, error)
            else:
                logger.exception("Exception in ASGI lifespan startup")
                self._failure = f"{type(error).__name__}: {error}"
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            self._startup_done.set()
            self._shutdown_done.set()

    async def _receive(self) -> dict[str, Any]:
        assert self._messages is not None
        return await self._messages.get()

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._startup_done is not None
        assert self._shutdown_done is not None
        kind = message.get("type")
        if kind == "lifespan.startup.complete" and not self._startup_done.is_set():
            self._startup_done.set()
        elif kind == "lifespan.startup.failed" and not self._startup_done.is_set():
            self._failure = message.get("message") or "lifespan startup failed"
            self._startup_done.set()
        elif kind == "lifespan.shutdown.complete" and not self._shutdown_done.is_set():
            self._shutdown_done.set()
        elif kind == "lifespan.shutdown.failed" and not self._shutdown_done.is_set():
            self._failure = message.get("message") or "lifespan shutdown failed"
            self._shutdown_done.set()
        else:
            raise RuntimeError(f"unexpected ASGI lifespan message {kind!r}")
