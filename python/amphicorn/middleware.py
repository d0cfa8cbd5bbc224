"""``WSGIMiddleware``: a WSGI app as an ASGI 3 app, on amphicorn's Rust WSGI bridge.

A drop-in for ``a2wsgi.WSGIMiddleware`` and asgiref's ``WsgiToAsgi`` that runs under any ASGI
server (uvicorn, hypercorn, amphicorn) or inside an ASGI framework (a Starlette ``Mount``)::

    from amphicorn import WSGIMiddleware
    app = Starlette(routes=[Mount("/legacy", app=WSGIMiddleware(django_app, threads=8))])

The WSGI side is the one amphicorn's own WSGI mounts use: the app runs on a bounded pool of
threads with the environ, ``wsgi.input`` and ``start_response`` built in Rust; the response is
handed back to the event loop without a thread hop per chunk (the pool wakes the loop through
a socket the loop watches, one per loop: ``WakeChannel``). The app runs in a copy of the
calling task's ``contextvars`` context, so values set by ASGI middleware are visible to it.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from amphicorn._amphicorn import WakeChannel, WsgiBridge
from amphicorn.config import Config
from amphicorn.errors import ConfigError

if TYPE_CHECKING:
    from amphicorn._amphicorn import _Exchange

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: As a2wsgi: ten threads unless told otherwise.
DEFAULT_THREADS = 10

#: A request whose body has all arrived is watched for its client leaving only once its
#: answer has taken this long (seconds): a quick answer needs no task for it (measured: the
#: task cost 3 of the 14 µs the middleware takes for a hello). A view that polls
#: ``environ["amphicorn.disconnected"]()`` learns of a client gone at most this late.
WATCH_AFTER = 0.1

#: Forks seen by this process (counted in the child): a pool started before the last one
#: has no threads here.
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)


class WSGIMiddleware:
    """Serves ``app`` (a WSGI callable) as an ASGI 3 application.

    ``threads`` is the size of the app's thread pool (``workers`` is accepted as a2wsgi's
    name for it); ``queue_size`` bounds the requests waiting for a thread, and a request
    that waits longer than ``queue_timeout`` seconds for room is answered ``503`` (both
    default to the server's ``--queue-size`` and ``--queue-timeout``). The pool starts on
    the first request, in the process that serves it (after a fork, a new one starts). A
    bad ``threads``, ``queue_size`` or ``queue_timeout`` raises
    :class:`~amphicorn.ConfigError` (a ``ValueError``).
    """

    def __init__(
        self,
        app: Callable[..., Any],
        threads: int | None = None,
        *,
        workers: int | None = None,
        queue_size: int = Config.queue_size,
        queue_timeout: float = Config.queue_timeout,
    ) -> None:
        if threads is not None and workers is not None:
            raise TypeError("give threads or workers, not both")
        count = threads if threads is not None else workers if workers is not None else DEFAULT_THREADS
        for name, value in (("threads", count), ("queue_size", queue_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, not {value!r}")
        if not isinstance(queue_timeout, (int, float)) or not queue_timeout > 0:
            raise ConfigError(f"queue_timeout must be a positive number of seconds, not {queue_timeout!r}")
        self.app = app
        self.threads = count
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        self._bridge: WsgiBridge | None = None
        #: Per event loop: how the pool wakes it, and its requests waiting to be watched.
        self._loops: dict[asyncio.AbstractEventLoop, _OnLoop] = {}
        self._forks = -1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # One coroutine per request, and the polls inline: each object a request keeps while
        # it waits for a thread is one more for Python's garbage collector to walk, and it
        # walks them often when many requests wait (see `_OnLoop`).
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        loop = asyncio.get_running_loop()
        more_body = message.get("more_body", False)
        bridge, here = self._bridge_here(loop)
        # The bridge reads a dict (every ASGI server passes one); copy any other mapping.
        scope_dict = scope if isinstance(scope, dict) else dict(scope)
        body = message.get("body", b"")
        exchange = bridge.exchange(scope_dict, body, more_body, contextvars.copy_context(), here.channel)
        try:
            queued = exchange.poll_submit(future := loop.create_future())
            if queued is None:  # The queue is full: wait for room, up to the timeout.
                queued = await _room(loop, exchange, future, self.queue_timeout)
                future = loop.create_future()
            if not queued:
                await _overloaded(send)
                return
            here.watch(exchange, receive, more_body)
            # The future poll_submit did not need asks for the head.
            while (head := exchange.poll_head(future)) is None:
                await future
                future = loop.create_future()
            status, headers, first = head
            if first is None:
                while (first := exchange.poll_body(future := loop.create_future())) is None:
                    await future
            chunk, more = first
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            while more:
                while (part := exchange.poll_body(future := loop.create_future())) is None:
                    await future
                chunk, more = part
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
        finally:
            here.forget(exchange)
            exchange.close()

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            # WSGI has no WebSockets: refuse the handshake (the server answers 403).
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise ValueError(f"WSGIMiddleware cannot serve {kind!r} scopes")

    def _bridge_here(self, loop: asyncio.AbstractEventLoop) -> tuple[WsgiBridge, _OnLoop]:
        """The pool and what the loop keeps, started in this process on first use."""
        if self._bridge is None or self._forks != _forks:
            name = getattr(self.app, "__name__", type(self.app).__name__)
            self._bridge = WsgiBridge(self.app, self.threads, self.queue_size, f"wsgi-{name}")
            self._loops = {}
            self._forks = _forks
        here = self._loops.get(loop)
        if here is None:
            here = self._loops[loop] = _OnLoop(loop)
        return self._bridge, here


class _OnLoop:
    """What the middleware keeps per event loop: the channel the pool wakes its futures
    through, and its requests' watches of their clients (``_listen``).

    A request whose body is still coming is watched at once (the task feeds the body). One
    whose body has all arrived is watched only once its answer has taken ``WATCH_AFTER``
    seconds, by one timer for all of the loop's requests. A timer per request (its handle, its
    arguments, a list for its task) kept three more objects alive per waiting request, and
    with hundreds of requests waiting for a thread, Python's cyclic garbage collector walks
    what they keep alive again and again: under uvicorn at 256 connections its collections
    took 19.6 µs per request with those objects and two more coroutines per request, 11.2
    without. Here the requests waiting are keys of dicts (insertion order is start order)."""

    __slots__ = ("channel", "loop", "receives", "since", "tasks", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.channel = WakeChannel()
        loop.add_reader(self.channel.fileno(), self.channel.drain)
        self.since: dict[_Exchange, float] = {}
        self.receives: dict[_Exchange, Receive] = {}
        self.tasks: dict[_Exchange, asyncio.Task[None]] = {}
        self.timer: asyncio.TimerHandle | None = None

    def watch(self, exchange: _Exchange, receive: Receive, more_body: bool) -> None:
        """Watches ``exchange``'s client: now if its body is still coming, else after ``WATCH_AFTER``."""
        if more_body:
            self.tasks[exchange] = self.loop.create_task(_listen(self.loop, exchange, receive, True))
            return
        self.since[exchange] = self.loop.time()
        self.receives[exchange] = receive
        if self.timer is None:
            self.timer = self.loop.call_later(WATCH_AFTER, self._due)

    def forget(self, exchange: _Exchange) -> None:
        """``exchange`` is over: no watch for it, and any it had stops."""
        if self.since.pop(exchange, None) is not None:
            del self.receives[exchange]
        task = self.tasks.pop(exchange, None)
        if task is not None:
            task.cancel()

    def _due(self) -> None:
        """Watches every request that began ``WATCH_AFTER`` ago or more; again at the next one's time."""
        self.timer = None
        since = self.since
        cutoff = self.loop.time() - WATCH_AFTER
        due = [exchange for exchange, began in itertools.takewhile(lambda item: item[1] <= cutoff, since.items())]
        for exchange in due:
            del since[exchange]
            receive = self.receives.pop(exchange)
            self.tasks[exchange] = self.loop.create_task(_listen(self.loop, exchange, receive, False))
        if since:
            self.timer = self.loop.call_at(next(iter(since.values())) + WATCH_AFTER, self._due)


async def _room(
    loop: asyncio.AbstractEventLoop, exchange: _Exchange, waiting: asyncio.Future[None], timeout: float
) -> bool:
    """Waits on ``waiting`` (which ``poll_submit`` filed) and asks again until the queue takes
    the request: True then, False when the pool is closed or ``timeout`` seconds passed.

    One timer for the whole wait, not ``asyncio.wait_for`` (a task per wait): with many
    clients, a burst of requests arrives while the pool's threads wait for the GIL, and
    those past the queue's size all wait here (measured on the middleware alone, 64
    concurrent hellos, 10 threads and 40 places: 10.8 µs per request with ``wait_for``, 9.4
    with one timer, 8.3 with a queue that never fills)."""
    deadline = loop.time() + timeout
    timer = loop.call_at(deadline, _resolve, waiting)
    try:
        while True:
            await waiting
            queued: bool | None = exchange.poll_submit(waiting := loop.create_future())
            if queued is not None:
                return queued
            if loop.time() >= deadline:
                return False
            timer.cancel()
            timer = loop.call_at(deadline, _resolve, waiting)
    finally:
        timer.cancel()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _poll(
    loop: asyncio.AbstractEventLoop, poll: Callable[[asyncio.Future[None]], Any], future: asyncio.Future[None]
) -> Any:
    """Asks Rust until it has the answer, sleeping on an asyncio future it wakes (``future``,
    not handed to Rust yet, for the first time)."""
    while (result := poll(future)) is None:
        await future
        future = loop.create_future()
    return result


async def _listen(loop: asyncio.AbstractEventLoop, exchange: _Exchange, receive: Receive, more_body: bool) -> None:
    """Feeds the rest of the request body to ``wsgi.input``, then waits for the client to
    leave, so ``environ["amphicorn.disconnected"]()`` and the next read can tell."""
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            exchange.disconnect()
            return
        more_body = message.get("more_body", False)
        if not exchange.feed(message.get("body", b""), more_body):
            await _poll(loop, exchange.poll_feed, loop.create_future())
    if (await receive())["type"] == "http.disconnect":
        exchange.disconnect()


async def _overloaded(send: Send) -> None:
    body = b"Service Unavailable\n"
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 503, "headers": [*headers, (b"retry-after", b"1")]})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start or stop: the pool starts with the first request."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
