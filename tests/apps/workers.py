"""Apps for worker processes: which process answered, slow and stuck requests, a worker
that keeps crashing, and what a request learns about a Unix-socket connection."""

from __future__ import annotations

import concurrent.futures
import os
import sys
import threading
import time

from apps._util import json_response, query, text_response

_executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)


def pid(environ, start_response):
    """``/`` answers the worker's process id; ``/sleep?seconds=S`` sleeps first (``/stuck``: an
    hour; ``/stuck-in-executor``: an hour, in a thread pool that Python joins at exit)."""
    path = environ["PATH_INFO"]
    if path != "/":
        # Tests wait for this line to know the request is inside the app.
        print(f"request {path} started in {os.getpid()}", file=sys.stderr, flush=True)
    if path == "/sleep":
        time.sleep(float(query(environ).get("seconds", "1")))
    elif path == "/stuck":
        time.sleep(3600)
    elif path == "/stuck-in-executor":
        # Python joins executor threads at exit: without a hard exit this would hang it.
        _executor.submit(time.sleep, 3600).result()
    elif path == "/environ":
        keys = ("REMOTE_ADDR", "REMOTE_PORT", "SERVER_NAME", "SERVER_PORT")
        return json_response(start_response, {key: environ.get(key) for key in keys})
    return text_response(start_response, str(os.getpid()).encode())


async def asgi_scope(scope, receive, send):
    """An ASGI app answering its scope's ``client`` and ``server`` as JSON."""
    import json

    if scope["type"] != "http":
        return
    body = json.dumps({"client": scope["client"], "server": scope["server"], "pid": os.getpid()}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def _crash_soon() -> None:
    time.sleep(float(os.environ.get("CRASH_AFTER", "0.3")))
    os._exit(7)


# Imported only by the crash-loop test: every worker dies shortly after it starts.
if os.environ.get("CRASH_AFTER"):
    threading.Thread(target=_crash_soon, daemon=True).start()


async def slow_shutdown(scope, receive, send):
    """An ASGI app whose lifespan shutdown takes a minute: only a kill stops its worker in time."""
    import asyncio

    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.sleep(60)
                await send({"type": "lifespan.shutdown.complete"})
                return
    await asgi_scope(scope, receive, send)
