"""Apps that read ``wsgi.input`` with each method PEP 3333 names and echo what they got.

``echo`` picks the method from ``?method=``. ``read()``, ``read(-1)`` and iteration use the
server's own input object (``tests.raw_input``): the validator's wrapper forbids a bare
``read()`` and turns iteration into ``readline()`` calls, which would hide the server's own
``__iter__``. The other methods go through the validator.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from wsgiref.validate import validator

from apps._util import json_response, query, record, stash_raw_input, text_response


def _read_with(method: str, checked, raw, n: int) -> list[bytes]:
    """Read the whole body with ``method``; returns the pieces as the input returned them."""
    pieces: list[bytes] = []
    if method == "read":
        pieces.append(raw.read())
    elif method == "read_minus1":
        pieces.append(raw.read(-1))
    elif method == "read_n":
        while piece := checked.read(n):
            pieces.append(piece)
    elif method == "readline":
        while line := checked.readline():
            pieces.append(line)
    elif method == "readline_n":
        while line := checked.readline(n):
            pieces.append(line)
    elif method == "readlines":
        pieces.extend(checked.readlines())
    elif method == "readlines_hint":
        first = checked.readlines(n)
        pieces.extend(first)
        pieces.append(b"|")  # marks where readlines(hint) stopped
        while piece := checked.read(8192):
            pieces.append(piece)
    elif method == "iter":
        pieces.extend(raw)
    else:
        raise ValueError(f"unknown method {method!r}")
    return pieces


def _echo(environ, start_response):
    params = query(environ)
    method = params.get("method", "read")
    n = int(params.get("n", "7"))
    checked = environ["wsgi.input"]
    raw = environ["tests.raw_input"]
    pieces = _read_with(method, checked, raw, n)
    # Everything after the end of the body must come back empty.
    after = [checked.read(10), checked.readline(), raw.read(), checked.readlines()]
    if params.get("summary"):
        body = b"".join(pieces)
        return json_response(
            start_response,
            {"length": len(body), "sha256": hashlib.sha256(body).hexdigest(), "count": len(pieces)},
        )
    return json_response(
        start_response,
        {
            "pieces": [p.decode("latin-1") for p in pieces],
            "after": [a.decode("latin-1") if isinstance(a, bytes) else a for a in after],
            "content_length": environ.get("CONTENT_LENGTH"),
        },
    )


echo = stash_raw_input(validator(_echo))


def _disconnect_probe(environ, start_response):
    """Reads in 64 KiB steps until EOF or an error; records the outcome to ``record=``."""
    path = query(environ).get("record")
    stream = environ["wsgi.input"]
    got = 0
    record(path, "started")
    try:
        while piece := stream.read(65536):
            got += len(piece)
            record(path, f"progress {got}")
    except Exception as exc:
        record(path, f"error {type(exc).__name__} oserror={isinstance(exc, OSError)} got={got}")
        raise
    record(path, f"eof got={got}")
    return text_response(start_response, b"read %d" % got)


disconnect_probe = validator(_disconnect_probe)


def _expect_read(environ, start_response):
    """Waits ``delay`` seconds, then reads the body and echoes it (for 100-continue)."""
    time.sleep(float(query(environ).get("delay", "0")))
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    return text_response(start_response, b"got:" + body)


expect_read = validator(_expect_read)


def _expect_ignore(environ, start_response):
    """Answers without ever touching wsgi.input."""
    return text_response(start_response, b"ignored", "403 Forbidden")


expect_ignore = validator(_expect_ignore)


#: Requests ``keep_request`` holds on to, as an app with a cache or a reference cycle might.
KEPT: list[dict] = []


def keep_request(environ, start_response):
    """Answers without reading the body, and keeps the environ (so its ``wsgi.input``) alive."""
    KEPT.append(environ)
    start_response("500 Internal Server Error", [("Content-Type", "text/plain"), ("Content-Length", "4")])
    return [b"kept"]


def _checksum(environ, start_response):
    """CRC32 and size of the body read with ``read(65536)`` (for big uploads)."""
    stream = environ["wsgi.input"]
    crc = 0
    total = 0
    max_piece = 0
    while piece := stream.read(65536):
        crc = zlib.crc32(piece, crc)
        total += len(piece)
        max_piece = max(max_piece, len(piece))
    return json_response(start_response, {"bytes": total, "crc32": crc, "max_piece": max_piece})


checksum = validator(_checksum)
