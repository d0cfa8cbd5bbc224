"""The static-files benchmark's JSON answer: 64 KiB of API-like JSON, from WSGI and from ASGI.

``BODY`` is exactly 65,536 bytes, the same on every run (its values come from a seeded
generator): a list of catalogue records whose keys repeat and whose values vary, so it
compresses the way real API answers do (several times, not a thousand times). Both apps
answer every path with it whole, with ``Content-Type: application/json`` and its
``Content-Length``; ``bench/static_files.py`` asks for it with and without
``Accept-Encoding``.

- ``json_app:wsgi``: PEP 3333.
- ``json_app:asgi``: ASGI 3, with lifespan, one ``http.response.body`` message.
"""

import json
import random

LENGTH = 64 * 1024
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett")


def _body() -> bytes:
    rng = random.Random(16)
    items = []
    while True:
        index = len(items)
        items.append(
            {
                "id": index,
                "sku": f"SKU-{rng.randrange(16**6):06X}",
                "name": " ".join(rng.choice(WORDS) for _ in range(3)),
                "price": round(rng.uniform(1, 500), 2),
                "stock": rng.randrange(1000),
                "tags": rng.sample(WORDS, 2),
                "active": rng.random() < 0.8,
            }
        )
        text = json.dumps({"items": items, "padding": ""}, separators=(",", ":"))
        if len(text) > LENGTH - 200:
            break
    # The padding string takes the body to exactly LENGTH bytes.
    return json.dumps({"items": items, "padding": "x" * (LENGTH - len(text))}, separators=(",", ":")).encode()


BODY = _body()
assert len(BODY) == LENGTH, len(BODY)
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(LENGTH))]
ASGI_HEADERS = [(name.lower().encode(), value.encode()) for name, value in HEADERS]


def wsgi(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": ASGI_HEADERS})
    await send({"type": "http.response.body", "body": BODY})
