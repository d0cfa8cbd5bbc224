"""Apps for the TLS tests: each reports what it learns about the connection's security.

``wsgi`` answers ``wsgi.url_scheme``, ``HTTPS`` and its process id as JSON; ``asgi`` answers
its scope's ``scheme`` over HTTP, and sends it as a text message over a WebSocket.
"""

from __future__ import annotations

import json
import os

from apps._util import json_response


def wsgi(environ, start_response):
    """``{"url_scheme": ..., "HTTPS": ..., "pid": ...}``."""
    seen = {"url_scheme": environ["wsgi.url_scheme"], "HTTPS": environ.get("HTTPS"), "pid": os.getpid()}
    return json_response(start_response, seen)


async def asgi(scope, receive, send):
    """HTTP: ``{"scheme": ...}``; WebSocket: accepts and sends the scheme, then closes."""
    if scope["type"] == "http":
        body = json.dumps({"scheme": scope["scheme"]}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": scope["scheme"]})
        await send({"type": "websocket.close", "code": 1000})
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
