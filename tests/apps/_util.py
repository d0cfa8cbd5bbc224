"""Small helpers for the test apps: query parsing, JSON answers, recording to a file.

The server is another process, so an app that must report something the response cannot
carry (``close()`` was called, an exception reached it after the client left) appends a line
to a file whose path the test passes in the query string as ``record=``.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs


def query(environ) -> dict[str, str]:
    """The query string as a dict of first values."""
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def record(path: str | None, line: str) -> None:
    """Append ``line`` to ``path`` (no-op without a path), flushed at once."""
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()


def json_response(start_response, obj, status: str = "200 OK", extra_headers=()):
    """Answer with ``obj`` as JSON, with a Content-Length."""
    body = json.dumps(obj).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *extra_headers,
        ],
    )
    return [body]


def text_response(start_response, text: str | bytes, status: str = "200 OK"):
    body = text.encode() if isinstance(text, str) else text
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def stash_raw_input(app):
    """Keep the server's own ``wsgi.input`` (and object types) before ``validator`` wraps them.

    ``wsgiref.validate`` replaces ``wsgi.input`` with a wrapper that only allows ``read(n)``
    with exactly one argument and iterates through ``readline()``; the tests of ``read()``,
    ``read(-1)`` and the server's own ``__iter__`` reach the real object through
    ``environ["tests.raw_input"]`` while everything else still goes through the validator.
    """

    def outer(environ, start_response):
        environ["tests.raw_input"] = environ.get("wsgi.input")
        environ["tests.types"] = {
            key: type(value).__name__ for key, value in environ.items() if not isinstance(value, str)
        }
        return app(environ, start_response)

    return outer
