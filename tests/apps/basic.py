"""Hello-world and environ-dumping apps (all validated)."""

from __future__ import annotations

import gc
import time
from types import SimpleNamespace
from wsgiref.validate import validator

from apps._util import json_response, query, record, stash_raw_input, text_response


@validator
def gc_frozen(environ, start_response):
    """How many objects gc.freeze() set aside (0: none)."""
    return text_response(start_response, str(gc.get_freeze_count()).encode())


@validator
def _hello(environ, start_response):
    return text_response(start_response, b"Hello, world!")


hello = _hello

# `apps.basic:nested.app` exercises a dotted attribute in the app spec.
nested = SimpleNamespace(app=SimpleNamespace(inner=_hello))


def _environ_dump(environ, start_response):
    params = query(environ)
    if "errors" in params:
        environ["wsgi.errors"].write(params["errors"] + "\n")
        environ["wsgi.errors"].flush()
    disconnected = environ.get("amphicorn.disconnected")
    file_wrapper = environ.get("wsgi.file_wrapper")
    raw_input = environ["tests.raw_input"]
    dump = {
        "str": {k: v for k, v in environ.items() if isinstance(v, str)},
        "types": environ["tests.types"],
        "keys": sorted(environ),
        "wsgi.version": list(environ["wsgi.version"]),
        "wsgi.version_type": type(environ["wsgi.version"]).__name__,
        "wsgi.multithread": environ["wsgi.multithread"],
        "wsgi.multiprocess": environ["wsgi.multiprocess"],
        "wsgi.run_once": environ["wsgi.run_once"],
        "wsgi.input_terminated": environ.get("wsgi.input_terminated"),
        "file_wrapper_callable": callable(file_wrapper),
        "disconnected_callable": callable(disconnected),
        "disconnected_value": disconnected() if callable(disconnected) else None,
        "input_methods": [
            name for name in ("read", "readline", "readlines", "__iter__") if callable(getattr(raw_input, name, None))
        ],
        "errors_methods": [
            name for name in ("write", "writelines", "flush") if callable(getattr(environ["wsgi.errors"], name, None))
        ],
        "body": environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0) or 1 << 20).decode("latin-1"),
    }
    return json_response(start_response, dump)


environ_dump = stash_raw_input(validator(_environ_dump))


def _wait_for_disconnect(environ, start_response):
    """Polls ``amphicorn.disconnected`` for up to ``timeout`` s; records what it saw, each
    poll that found the client there too (``still connected``)."""
    params = query(environ)
    path = params.get("record")

    record(path, "started")
    deadline = time.monotonic() + float(params.get("timeout", "10"))
    check = environ["amphicorn.disconnected"]
    while time.monotonic() < deadline:
        if check():
            record(path, "disconnected")
            break
        record(path, "still connected")
        time.sleep(0.05)
    else:
        record(path, "timeout")
    return text_response(start_response, b"done")


wait_for_disconnect = validator(_wait_for_disconnect)
