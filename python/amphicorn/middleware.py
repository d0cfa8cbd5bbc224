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
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from amphicorn._amphicorn import WakeChannel, WsgiBridge
from amphicorn.errors import ConfigError

if TYPE_CHECKING:
    from amphicorn._amphicorn import _Exchange

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: As a2wsgi: ten threads unless told otherwise.
DEFAULT_THREADS = 10


class WSGIMiddleware:
    """Serves ``app`` (a WSGI callable) as an ASGI 3 application.

    ``threads`` is the size of the app's thread pool (``workers`` is accepted as a2wsgi's
    name for it); ``queue_size`` bounds the requests waiting for a thread, and a request
    that waits longer than ``queue_timeout`` seconds is answered ``503``. The pool starts on
    the first request, in the process that serves it (after a fork, a new one starts). A
    bad ``threads`` raises :class:`~amphicorn.ConfigError` (a ``ValueError``).
    """

    def __init__(
        self,
        app: Callable[..., Any],
        threads: int | None = None,
        *,
        workers: int | None = None,
        queue_size: int | None = None,
        queue_timeout: float = 30.0,
    ) -> None:
        if threads is not None and workers is not None:
            raise TypeError("give threads or workers, not both")
        count = threads if threads is not None else workers if workers is not None else DEFAULT_THREADS
        if not isinstance(count, int) or count < 1:
            raise ConfigError(f"threads must be a positive integer, not {count!r}")
        self.app = app
        self.threads = count
        self.queue_size = queue_size if queue_size is not None else 4 * count
        self.queue_timeout = queue_timeout
        self._bridge: WsgiBridge | None = None
        #: Per event loop, the channel through which the pool wakes the loop's futures.
        self._channels: dict[asyncio.AbstractEventLoop, WakeChannel] = {}
        self._pid = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            # WSGI has no WebSockets: refuse the handshake (the server answers 403).
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise ValueError(f"WSGIMiddleware cannot serve {kind!r} scopes")

    def _bridge_here(self, loop: asyncio.AbstractEventLoop) -> tuple[WsgiBridge, WakeChannel]:
        """The pool and the loop's wake channel, started in this process on first use."""
        if self._bridge is None or self._pid != os.getpid():
            name = getattr(self.app, "__name__", type(self.app).__name__)
            self._bridge = WsgiBridge(self.app, self.threads, self.queue_size, f"wsgi-{name}")
            self._channels = {}
            self._pid = os.getpid()
        channel = self._channels.get(loop)
        if channel is None:
            channel = self._channels[loop] = WakeChannel()
            loop.add_reader(channel.fileno(), channel.drain)
        return self._bridge, channel

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        loop = asyncio.get_running_loop()
        more_body = message.get("more_body", False)
        bridge, channel = self._bridge_here(loop)
        # The bridge reads a dict (every ASGI server passes one); copy any other mapping.
        scope_dict = scope if isinstance(scope, dict) else dict(scope)
        exchange = bridge.exchange(scope_dict, message.get("body", b""), more_body, contextvars.copy_context(), channel)
        listener = None
        try:
            queued = exchange.poll_submit(waiting := loop.create_future())
            if queued is None:  # The queue is full: wait for room, up to the timeout.
                try:
                    queued = await asyncio.wait_for(_poll(loop, exchange.poll_submit, waiting), self.queue_timeout)
                except asyncio.TimeoutError:
                    queued = False
            if not queued:
                await _overloaded(send)
                return
            listener = loop.create_task(_listen(loop, exchange, receive, more_body))
            status, headers = await _poll(loop, exchange.poll_head)
            chunk, more = await _poll(loop, exchange.poll_body)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            while more:
                chunk, more = await _poll(loop, exchange.poll_body)
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
        finally:
            if listener is not None:
                listener.cancel()
            exchange.close()


async def _poll(
    loop: asyncio.AbstractEventLoop,
    poll: Callable[[asyncio.Future[None]], Any],
    waiting: asyncio.Future[None] | None = None,
) -> Any:
    """Asks Rust until it has the answer, sleeping on an asyncio future it wakes
    (``waiting``: one a poll already handed over)."""
    if waiting is not None:
        await waiting
    while True:
        future = loop.create_future()
        result = poll(future)
        if result is not None:
            return result
        await future


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
            await _poll(loop, exchange.poll_feed)
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
