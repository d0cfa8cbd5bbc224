"""Apps for response compression: the same answers from WSGI and ASGI, shaped by the query.

``size`` bytes of repetitive text (default 4096), of type ``type`` (default text/plain),
with a Content-Length unless ``stream=N`` (then N chunks, no length); ``encoding``,
``cache``, ``etag``, ``vary`` and ``status`` set those headers. ``/events`` (ASGI) is a
server-sent-events stream whose next event waits for a request to ``/release``.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

TEXT = b"amphicorn compresses what apps send. "


def _answer(params: dict[str, str]) -> tuple[int, list[tuple[str, str]], list[bytes]]:
    size = int(params.get("size", "4096"))
    body = (TEXT * (size // len(TEXT) + 1))[:size]
    headers = [("Content-Type", params.get("type", "text/plain; charset=utf-8"))]
    for key, name in (("encoding", "Content-Encoding"), ("cache", "Cache-Control"), ("etag", "ETag"), ("vary", "Vary")):
        if key in params:
            headers.append((name, params[key]))
    chunks = int(params.get("stream", "0"))
    if chunks:
        step = -(-size // chunks)
        return int(params.get("status", "200")), headers, [body[i : i + step] for i in range(0, size, step)]
    headers.append(("Content-Length", str(size)))
    return int(params.get("status", "200")), headers, [body]


def wsgi_app(environ, start_response):
    """The answer ``_answer`` describes, as a WSGI app (chunks from a generator)."""
    params = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    status, headers, chunks = _answer(params)
    start_response(f"{status} X", headers)
    return iter(chunks)


_released: asyncio.Queue[None] | None = None


async def asgi_app(scope, receive, send):
    """The answer ``_answer`` describes, as an ASGI app; plus ``/events`` and ``/release``."""
    global _released
    if scope["type"] != "http":
        return
    if _released is None:
        _released = asyncio.Queue()
    if scope["path"].endswith("/release"):
        _released.put_nowait(None)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    params = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    if scope["path"].endswith("/events"):
        count = int(params.get("count", "3"))
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index in range(count):
            if index:
                await _released.get()
            event = f"id: {index}\ndata: event number {index}\n\n".encode()
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    status, headers, chunks = _answer(params)
    raw = [(name.lower().encode(), value.encode()) for name, value in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    for index, chunk in enumerate(chunks):
        await send({"type": "http.response.body", "body": chunk, "more_body": index < len(chunks) - 1})
