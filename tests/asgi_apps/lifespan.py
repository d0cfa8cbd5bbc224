"""Apps for the lifespan protocol. Side channels come from the environment (set by the tests):
``ASGI_TEST_MARKER`` is a file the app appends its lifespan events to.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from asgi_apps._util import encode, query, record, respond, respond_json

MARKER = os.environ.get("ASGI_TEST_MARKER")


async def stateful(scope, receive, send):
    """Startup sleeps ``ASGI_TEST_STARTUP_DELAY`` seconds, fills ``state``; shutdown writes the marker."""
    if scope["type"] == "lifespan":
        message = await receive()
        assert message["type"] == "lifespan.startup"
        await asyncio.sleep(float(os.environ.get("ASGI_TEST_STARTUP_DELAY", "0")))
        scope["state"]["greeting"] = "hello from startup"
        scope["state"]["shared"] = []
        record(MARKER, "startup")
        print("lifespan-startup-done", file=sys.stderr, flush=True)
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        record(MARKER, "shutdown")
        await send({"type": "lifespan.shutdown.complete"})
        return
    state = scope["state"]
    seen = {"keys": sorted(state), "greeting": state.get("greeting"), "shared": list(state.get("shared", []))}
    params = query(scope)
    if "set" in params:
        state[params["set"]] = "set by a request"
    if "append" in params:
        state["shared"].append(params["append"])
    await respond_json(send, seen)


async def startup_failed(scope, receive, send):
    """Answers ``lifespan.startup.failed`` with a message."""
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable: startup-failed-7731"})
        return
    await respond(send, b"should never serve")


async def raises_in_startup(scope, receive, send):
    """Raises while handling ``lifespan.startup`` (after receiving it)."""
    if scope["type"] == "lifespan":
        await receive()
        raise RuntimeError("startup-exploded-4242")
    await respond(send, b"served without lifespan")


async def http_only(scope, receive, send):
    """Does not support lifespan: asserts the scope is ``http`` (as many small apps do)."""
    record(MARKER, f"called with {scope['type']}")
    assert scope["type"] == "http", "http-only-app-9137"
    await respond(send, b"http only")


async def shutdown_failed(scope, receive, send):
    """Starts fine; answers ``lifespan.shutdown.failed`` with a message."""
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        record(MARKER, "shutdown")
        await send({"type": "lifespan.shutdown.failed", "message": "could-not-flush-5150"})
        return
    await respond(send, b"ok")


async def timing(scope, receive, send):
    """Records the wall-clock times of startup completion and of each request (to compare)."""
    if scope["type"] == "lifespan":
        await receive()
        await asyncio.sleep(1.0)
        record(MARKER, json.dumps({"event": "startup-complete", "at": time.time()}))
        print("lifespan-startup-done", file=sys.stderr, flush=True)
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    record(MARKER, json.dumps({"event": "request", "at": time.time()}))
    await respond_json(send, {"scope_state": encode(scope.get("state"))})
