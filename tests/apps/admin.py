"""Apps for tests/test_admin.py: a WSGI and an ASGI app whose answers the metrics are
checked against, and an ASGI app whose lifespan startup waits for a file.

- ``wsgi_app``: ``/missing`` is 404; ``/hold?record=F&release=G`` writes ``started`` to F,
  then waits until G exists (a request in flight for as long as the test wants); ``/echo``
  answers the request body; else 200 ``wsgi``.
- ``asgi_app``: ``/teapot`` is 418, ``/old`` and below 404 (for a fallback to answer); else 200
  ``asgi``. A WebSocket is accepted and echoes text until the client closes. Its lifespan
  startup waits until the file named by ``ADMIN_TEST_GATE`` exists (no variable: it starts
  at once).
"""

from __future__ import annotations

import asyncio
import os
import time

from apps._util import query, record


def wsgi_app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/missing":
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    if path == "/hold":
        options = query(environ)
        record(options.get("record"), "started")
        deadline = time.monotonic() + 30
        while not os.path.exists(options["release"]) and time.monotonic() < deadline:
            time.sleep(0.01)  # polling for the release file, which the test creates
    body = b"wsgi"
    if path == "/echo":
        body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def _lifespan(receive, send) -> None:
    message = await receive()
    assert message["type"] == "lifespan.startup"
    gate = os.environ.get("ADMIN_TEST_GATE")
    while gate is not None and not os.path.exists(gate):
        await asyncio.sleep(0.01)  # polling for the gate file, which the test creates
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    await send({"type": "lifespan.shutdown.complete"})


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] == "websocket":
        await _echo(receive, send)
        return
    path = scope["path"].removeprefix(scope["root_path"])
    status = 418 if path == "/teapot" else 404 if path == "/old" or path.startswith("/old/") else 200
    body = b"asgi"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _echo(receive, send) -> None:
    message = await receive()
    assert message["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": message.get("text") or ""})
