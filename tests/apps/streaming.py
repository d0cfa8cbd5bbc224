"""Apps for streaming and the thread pool: big downloads, slow chunks, concurrency."""

from __future__ import annotations

import threading
import time
from wsgiref.validate import validator

from apps._util import json_response, query, text_response

BLOCK = bytes(range(256)) * 256  # 64 KiB, a pattern the client can check


def _download(environ, start_response):
    """``chunks`` blocks of 64 KiB from a generator, no Content-Length."""
    chunks = int(query(environ).get("chunks", "16"))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])

    def body():
        for _ in range(chunks):
            yield BLOCK

    return body()


download = validator(_download)


def _slow_chunks(environ, start_response):
    """Yields one chunk, sleeps ``delay`` s, yields another: the first must not wait."""
    delay = float(query(environ).get("delay", "1"))
    start_response("200 OK", [("Content-Type", "text/plain")])

    def body():
        yield b"first;"
        time.sleep(delay)
        yield b"second;"

    return body()


slow_chunks = validator(_slow_chunks)


_lock = threading.Lock()
_in_flight = 0
_max_in_flight = 0


def _concurrency(environ, start_response):
    """``/sleep?seconds=S`` sleeps while counting how many run at once; ``/stats`` reports
    the maximum seen, ``/reset`` clears it."""
    global _in_flight, _max_in_flight
    path = environ["PATH_INFO"]
    if path == "/stats":
        with _lock:
            return json_response(start_response, {"max": _max_in_flight, "now": _in_flight})
    if path == "/reset":
        with _lock:
            _max_in_flight = 0
        return text_response(start_response, b"reset")
    seconds = float(query(environ).get("seconds", "1"))
    with _lock:
        _in_flight += 1
        _max_in_flight = max(_max_in_flight, _in_flight)
    started = time.time()
    try:
        time.sleep(seconds)
    finally:
        with _lock:
            _in_flight -= 1
    return json_response(start_response, {"started": started, "thread": threading.get_ident()})


concurrency = validator(_concurrency)
