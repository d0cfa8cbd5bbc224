"""The benchmark's ASGI 3 app: plain ASGI, no framework. Same routes as ``wsgi_app``:

- ``…/hello``  the 13-byte body ``Hello, world!``
- ``…/echo``   the request body (every ``http.request`` message), sent back
- ``…/stream`` 1 MiB in 16 ``http.response.body`` messages of 64 KiB

It answers ``lifespan`` too, so servers that run it do not log a failure.
"""

HELLO = b"Hello, world!"
CHUNK = b"x" * (64 * 1024)
CHUNKS = 16
HELLO_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"13")]
STREAM_HEADERS = [
    (b"content-type", b"application/octet-stream"),
    (b"content-length", str(len(CHUNK) * CHUNKS).encode()),
]


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if kind != "http":
        return
    path = scope["path"]
    if path.endswith("/echo"):
        parts = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(parts)
        headers = [(b"content-type", b"application/octet-stream"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    if path.endswith("/stream"):
        await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})
        for _ in range(CHUNKS - 1):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
        await send({"type": "http.response.body", "body": CHUNK})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HELLO_HEADERS})
    await send({"type": "http.response.body", "body": HELLO})
