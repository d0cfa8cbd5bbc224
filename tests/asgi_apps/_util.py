"""Helpers for the ASGI test apps: a lossless JSON form of scopes, query parsing, side channels.

The server runs in another process, so an app reports what the response cannot carry (an error
raised by ``send()`` after the client left, a message seen after the response) by appending a
line to a file whose path the test passes as ``?record=PATH``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs


def encode(obj: Any) -> Any:
    """A JSON-able form of ``obj`` that keeps bytes and tuples apart from str and list."""
    if isinstance(obj, bytes):
        return {"__bytes__": obj.decode("latin-1")}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(item) for item in obj]}
    if isinstance(obj, list):
        return [encode(item) for item in obj]
    if isinstance(obj, dict):
        return {"__dict__": [[encode(key), encode(value)] for key, value in obj.items()]}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return {"__repr__": f"{type(obj).__module__}.{type(obj).__qualname__}"}


def decode(obj: Any) -> Any:
    """The inverse of :func:`encode` (objects that had no JSON form come back as a type name)."""
    if isinstance(obj, list):
        return [decode(item) for item in obj]
    if isinstance(obj, dict):
        if "__bytes__" in obj:
            return obj["__bytes__"].encode("latin-1")
        if "__tuple__" in obj:
            return tuple(decode(item) for item in obj["__tuple__"])
        if "__dict__" in obj:
            return {decode(key): decode(value) for key, value in obj["__dict__"]}
        if "__repr__" in obj:
            return f"<{obj['__repr__']}>"
    return obj


def query(scope) -> dict[str, str]:
    """The query string as a dict of first values."""
    return {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}


def record(path: str | None, line: str) -> None:
    """Append ``line`` to ``path`` (no-op without a path), flushed at once."""
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()


async def respond(send, body: bytes | str, status: int = 200, content_type: bytes = b"text/plain", headers=()):
    """One complete response with a single body message."""
    if isinstance(body, str):
        body = body.encode()
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type), *headers]}
    )
    await send({"type": "http.response.body", "body": body})


async def respond_json(send, obj: Any, status: int = 200):
    await respond(send, json.dumps(obj), status, b"application/json")


async def read_body(receive) -> tuple[bytes, list[dict[str, Any]]]:
    """The whole request body, and a summary of each message received for it."""
    pieces: list[bytes] = []
    messages: list[dict[str, Any]] = []
    while True:
        message = await receive()
        body = message.get("body", b"")
        messages.append(
            {
                "type": message["type"],
                "size": len(body),
                "more_body": message.get("more_body", False),
                "body_type": type(body).__name__,
            }
        )
        if message["type"] != "http.request":
            break
        pieces.append(body)
        if not message.get("more_body", False):
            break
    return b"".join(pieces), messages


def with_lifespan(handler):
    """Wraps an ``http`` handler into a full ASGI app that completes lifespan startup/shutdown."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert scope["type"] == "http", scope["type"]
        await handler(scope, receive, send)

    app.__name__ = app.__qualname__ = handler.__name__
    return app
