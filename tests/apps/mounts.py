"""Apps for the mount tests: each says who it is and what the gateway told it about paths."""

import json
import os
import time

from apps._util import query, record


def _reply_json(start_response, status, payload):
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def legacy(environ, start_response):
    """WSGI: echoes SCRIPT_NAME, PATH_INFO and the body; /slow sleeps a second first (and with
    ``?record=FILE``, first appends ``started`` to FILE, so a test knows it is inside)."""
    if environ["PATH_INFO"] == "/slow":
        record(query(environ).get("record"), "started")
        time.sleep(1.0)
    body = environ["wsgi.input"].read()
    return _reply_json(
        start_response,
        "200 OK",
        {
            "app": "legacy",
            "script_name": environ["SCRIPT_NAME"],
            "path_info": environ["PATH_INFO"],
            "body_length": len(body),
        },
    )


def gated_legacy(environ, start_response):
    """WSGI: like ``legacy``, but ``/hold`` first writes "entered" to the file named by
    MOUNT_TEST_ENTERED, then waits (at most 30 s) for the file named by MOUNT_TEST_RELEASE."""
    if environ["PATH_INFO"] == "/hold":
        with open(os.environ["MOUNT_TEST_ENTERED"], "w") as file:
            file.write("entered")
        release = os.environ["MOUNT_TEST_RELEASE"]
        deadline = time.monotonic() + 30
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.01)
    return legacy(environ, start_response)


def other_legacy(environ, start_response):
    """A second WSGI app, to show one busy pool does not hold up another."""
    return _reply_json(start_response, "200 OK", {"app": "other", "script_name": environ["SCRIPT_NAME"]})


async def _read_body(receive):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def _record(name, event):
    path = os.environ.get("MOUNT_TEST_RECORD")
    if path:
        with open(path, "a") as file:
            file.write(f"{name}:{event}\n")


def _asgi_app(name, known_paths=None):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    _record(name, "startup")
                    if os.environ.get("MOUNT_TEST_FAIL") == name:
                        await send({"type": "lifespan.startup.failed", "message": f"{name} cannot start"})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    _record(name, "shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = await _read_body(receive)
        found = known_paths is None or scope["path"] in known_paths
        payload = {
            "app": name,
            "root_path": scope["root_path"],
            "path": scope["path"],
            "body_length": len(body),
        }
        data = json.dumps(payload).encode()
        status = 200 if found else 404
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": data})

    return app


api = _asgi_app("api")
second_api = _asgi_app("second")
#: Knows only /api/new: everything else is a 404 for the fallback to take.
new_api = _asgi_app("new", known_paths={"/api/new"})
