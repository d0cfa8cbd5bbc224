"""Apps for interface detection: each answers with how it was called.

ASGI apps answer ``asgi <loop module> <thread>``; the WSGI app answers ``wsgi``.
"""

from __future__ import annotations

import asyncio
import threading


async def _answer(scope, receive, send, label: str) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    thread = "main" if threading.current_thread() is threading.main_thread() else "other"
    body = f"{label} {loop} {thread}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def coroutine_function(scope, receive, send):
    """An ``async def`` app: detected as ASGI."""
    await _answer(scope, receive, send, "asgi-function")


class AsyncCallable:
    """An instance whose ``__call__`` is ``async def``: detected as ASGI."""

    async def __call__(self, scope, receive, send):
        await _answer(scope, receive, send, "asgi-instance")


instance = AsyncCallable()


def hidden_coroutine(scope, receive, send):
    """A plain function returning a coroutine: looks like WSGI, is ASGI when forced."""
    return _answer(scope, receive, send, "asgi-forced")


def wsgi_app(environ, start_response):
    """A plain WSGI app."""
    body = b"wsgi " + environ["wsgi.url_scheme"].encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def factory():
    """A factory returning an ASGI app (for ``--factory`` and ``detect:factory()``)."""

    async def made_by_factory(scope, receive, send):
        await _answer(scope, receive, send, "asgi-factory")

    return made_by_factory


def wsgi_factory():
    return wsgi_app
