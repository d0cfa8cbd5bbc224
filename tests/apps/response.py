"""Apps for the response side: write(), exc_info, lazy start_response, close(), framing,
file_wrapper and app errors."""

from __future__ import annotations

import io
import sys
import time
from wsgiref.validate import validator

from apps._util import query, record, text_response

TEXT = [("Content-Type", "text/plain")]


# --- write() ---------------------------------------------------------------------------------


def _write_then_iterable(environ, start_response):
    write = start_response("200 OK", list(TEXT))
    write(b"a")
    write(b"b")
    return [b"c"]


write_then_iterable = validator(_write_then_iterable)


def _write_only(environ, start_response):
    body = b"written-" * 1000
    write = start_response("200 OK", [*TEXT, ("Content-Length", str(len(body)))])
    for i in range(0, len(body), 1000):
        write(body[i : i + 1000])
    return []


write_only = validator(_write_only)


# --- exc_info --------------------------------------------------------------------------------


def _exc_info_before_body(environ, start_response):
    start_response("200 OK", [*TEXT, ("X-Original", "yes")])
    try:
        raise ValueError("handled before any body")
    except ValueError:
        start_response("500 Internal Server Error", [*TEXT, ("X-Replaced", "yes")], sys.exc_info())
    return [b"replaced"]


exc_info_before_body = validator(_exc_info_before_body)


def _exc_info_after_body(environ, start_response):
    path = query(environ).get("record")

    def body():
        start_response("200 OK", list(TEXT))
        yield b"first-chunk"
        time.sleep(0.2)  # the headers have surely gone out by now
        try:
            raise ValueError("late failure")
        except ValueError as original:
            try:
                start_response("500 Internal Server Error", list(TEXT), sys.exc_info())
            except BaseException as exc:
                record(path, f"reraised same={exc is original}")
                raise
            record(path, "not reraised")
            yield b"should-not-be-sent"

    return body()


exc_info_after_body = validator(_exc_info_after_body)


def _start_response_twice(environ, start_response):
    start_response("200 OK", [*TEXT, ("X-First", "yes")])
    try:
        start_response("201 Created", [*TEXT, ("X-Second", "yes")])
    except Exception as exc:
        return [f"second call raised {type(exc).__name__}".encode()]
    return [b"second call accepted"]


start_response_twice = validator(_start_response_twice)


# --- lazy start_response -------------------------------------------------------------------


def _lazy(environ, start_response):
    def body():
        start_response("202 Accepted", [*TEXT, ("X-Lazy", "yes")])
        yield b"lazy-"
        yield b"body"

    return body()


lazy = validator(_lazy)


def lazy_after_empty_chunks(environ, start_response):
    """Not validated: it yields b"" before calling start_response, which PEP 3333 allows
    (headers wait for the first non-empty chunk) but the validator rejects."""

    def body():
        yield b""
        yield b""
        start_response("201 Created", [*TEXT, ("X-Lazy", "late")])
        yield b"after-empties"

    return body()


# --- close() tracking ------------------------------------------------------------------------


class TrackedBody:
    """An iterable whose ``close()`` records to a file; ``mode`` picks how it ends."""

    def __init__(self, path: str | None, mode: str, chunks: int = 3) -> None:
        self.path = path
        self.mode = mode
        self.chunks = chunks
        self.sent = 0

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        if self.mode == "raise" and self.sent == 1:
            time.sleep(0.2)  # the first chunk has surely gone out by now
            raise RuntimeError("tracked-body-mid-stream-failure")
        if self.mode == "endless":
            if self.sent >= 3000:  # ~30 s: the test would have failed long before
                raise StopIteration
            time.sleep(0.01)
            self.sent += 1
            record(self.path, f"chunk {self.sent}")
            return b"x" * 65536
        if self.sent >= self.chunks:
            raise StopIteration
        self.sent += 1
        return b"chunk-%d;" % self.sent

    def close(self) -> None:
        record(self.path, f"close after {self.sent}")


def _tracked(environ, start_response):
    params = query(environ)
    start_response("200 OK", list(TEXT))
    return TrackedBody(params.get("record"), params.get("mode", "normal"))


tracked = validator(_tracked)


def _tracked_error_first(environ, start_response):
    """start_response is called, then the very first next() raises: nothing was sent yet."""
    params = query(environ)

    class FailsAtOnce(TrackedBody):
        def __next__(self):
            raise RuntimeError("first-next-failure-marker")

    start_response("200 OK", list(TEXT))
    return FailsAtOnce(params.get("record"), "normal")


tracked_error_first = validator(_tracked_error_first)


# --- framing: Content-Length vs chunked ------------------------------------------------------


# list_body and tuple_body are not validated: the validator hands the server its own iterator
# object instead of the list, and whether the server sees a list is what they test.


def list_body(environ, start_response):
    parts = int(query(environ).get("parts", "1"))
    start_response("200 OK", list(TEXT))
    return [b"part%d;" % i for i in range(parts)]


def tuple_body(environ, start_response):
    start_response("200 OK", list(TEXT))
    return (b"tu", b"ple")


def _generator_body(environ, start_response):
    params = query(environ)
    count = int(params.get("count", "3"))
    size = int(params.get("size", "10"))
    headers = list(TEXT)
    if params.get("length"):
        headers.append(("Content-Length", str(count * size)))
    start_response("200 OK", headers)

    def body():
        for i in range(count):
            yield bytes([97 + i % 26]) * size

    return body()


generator_body = validator(_generator_body)


def _headers_app(environ, start_response):
    start_response(
        "200 OK",
        [
            *TEXT,
            ("Set-Cookie", "a=1; Path=/"),
            ("Set-Cookie", "b=2; Path=/"),
            ("X-Custom", "custom value"),
        ],
    )
    return [b"headers"]


headers_app = validator(_headers_app)


def _no_content(environ, start_response):
    start_response("204 No Content", [])
    return []


no_content = validator(_no_content)


# --- wsgi.file_wrapper -----------------------------------------------------------------------


class TrackedReader(io.BufferedReader):
    """A real file (it has a fileno) whose close() is recorded."""

    record_path: str | None = None

    def close(self) -> None:
        if not self.closed:
            record(self.record_path, "file closed")
        super().close()


def file_wrapper_app(environ, start_response):
    """Not validated: the validator wraps the returned iterable in its own iterator, which
    would hide the file_wrapper object from the server and so test nothing."""
    params = query(environ)
    f = TrackedReader(io.FileIO(params["path"], "rb"))
    f.record_path = params.get("record")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    wrapper = environ["wsgi.file_wrapper"]
    if "blksize" in params:
        return wrapper(f, int(params["blksize"]))
    return wrapper(f)


class TrackedBytesIO(io.BytesIO):
    record_path: str | None = None

    def close(self) -> None:
        record(self.record_path, "bytesio closed")
        super().close()


def file_wrapper_bytesio(environ, start_response):
    """Not validated (see file_wrapper_app). A file-like without fileno() must still work."""
    f = TrackedBytesIO(b"in-memory-" * 10000)
    f.record_path = query(environ).get("record")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f, 4096)


# --- errors ----------------------------------------------------------------------------------


def _error_before_start(environ, start_response):
    """Raises RuntimeError(marker) before start_response; without ``marker`` it answers ok."""
    marker = query(environ).get("marker")
    if marker is None:
        return text_response(start_response, b"ok")
    raise RuntimeError(marker)


error_before_start = validator(_error_before_start)


def _error_after_headers(environ, start_response):
    marker = query(environ).get("marker", "error-after-headers")

    def body():
        start_response("200 OK", list(TEXT))
        yield b"partial-"
        yield b"body-"
        time.sleep(0.2)  # the chunks above have surely reached the socket by now
        raise RuntimeError(marker)

    return body()


error_after_headers = validator(_error_after_headers)


def returns_none(environ, start_response):
    """Not validated: returning None is the app bug under test; the validator would turn it
    into its own AssertionError instead of letting the server see a non-iterable."""
    start_response("200 OK", list(TEXT))
    return None  # noqa: RET501 - the None is the bug under test


def _ok(environ, start_response):
    return text_response(start_response, b"ok")


ok = validator(_ok)


#: Statuses an app might pass to start_response, by the name the tests ask for (``?case=``).
STATUSES = {
    "latin1": "200 Caf\xe9",
    "crlf_inside": "200 OK\r\nX-Injected: yes",
    "crlf_after": "200 OK\r\n",
    "beyond_latin1": "200 \u20ac",
}


def status_line(environ, start_response):
    """Answers with ``STATUSES[case]`` as its status (no validator: it would refuse most)."""
    start_response(STATUSES[query(environ)["case"]], [("Content-Length", "0")])
    return [b""]
