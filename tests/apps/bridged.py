"""A WSGI app run as ASGI through ``amphicorn.WSGIMiddleware``, for uvicorn and Starlette.

``wsgi_app`` answers by ``PATH_INFO``; ``app`` is the same app as an ASGI app, ``small_app``
has one thread and a one-request queue that waits at most 0.3 s (for the 503 test),
``tight_app`` two threads and a two-request queue (for the load test), and
``flask_app`` is the Flask test app bridged. ``request_tag`` is a context variable that ASGI
middleware in front may set; the app reports what it sees.
"""

from __future__ import annotations

import contextvars
import threading
import time
import zlib

from amphicorn import WSGIMiddleware

from apps._util import json_response, query, record, text_response
from apps.flask_app import app as flask_wsgi_app

request_tag: contextvars.ContextVar[str] = contextvars.ContextVar("request_tag", default="unset")

ENVIRON_KEYS = (
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_PROTOCOL",
    "SERVER_NAME",
    "SERVER_PORT",
    "REMOTE_ADDR",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "HTTP_X_CUSTOM",
    "HTTP_COOKIE",
    "wsgi.url_scheme",
)


def wsgi_app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/environ":
        seen = {key: environ.get(key) for key in ENVIRON_KEYS}
        seen["request_tag"] = request_tag.get()
        seen["thread"] = threading.current_thread().name
        seen["multithread"] = environ["wsgi.multithread"]
        return json_response(start_response, seen)
    if path == "/echo":
        # Read in pieces, as a view that streams an upload would.
        size, crc = 0, 0
        while chunk := environ["wsgi.input"].read(65536):
            size += len(chunk)
            crc = zlib.crc32(chunk, crc)
        return json_response(start_response, {"size": size, "crc": crc})
    if path == "/stream":
        return stream(environ, start_response)
    if path == "/slow":
        time.sleep(float(query(environ).get("seconds", "1")))
        return text_response(start_response, "slept")
    if path == "/wait-for-disconnect":
        options = query(environ)
        record(options.get("record"), "started")
        deadline = time.monotonic() + 5
        while not environ["amphicorn.disconnected"]() and time.monotonic() < deadline:
            time.sleep(0.02)
        record(options.get("record"), f"disconnected={environ['amphicorn.disconnected']()}")
        return text_response(start_response, "done")
    if path == "/boom":
        raise RuntimeError("bridged-view-failure-marker")
    return text_response(start_response, "Hello, world!")


def stream(environ, start_response):
    """1 MiB in 64 KiB chunks, start_response called lazily inside the generator."""
    block = bytes(range(256)) * 256
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    for _ in range(16):
        yield block


app = WSGIMiddleware(wsgi_app, threads=4)
small_app = WSGIMiddleware(wsgi_app, threads=1, queue_size=1, queue_timeout=0.3)
#: A queue that is full most of the time under load: requests wait for room, then run.
tight_app = WSGIMiddleware(wsgi_app, threads=2, queue_size=2, queue_timeout=30)
flask_app = WSGIMiddleware(flask_wsgi_app)
