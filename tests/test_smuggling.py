"""Request smuggling and framing: every ambiguous or malformed framing gets 400 and a closed
connection, a request hidden behind it is never served, and the server keeps serving.

Raw sockets throughout: clients like httpx refuse to send most of these."""

from __future__ import annotations

import httpx
import pytest
from support import RawConnection

APPS = ["apps.input:checksum", "asgi:apps.mounts:api"]

# What would be served as a second request if the server misread the first one's length.
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

REJECTED = {
    "differing-content-lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "content-length-list": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 5\r\n\r\nabcd",
    "content-length-sign": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd",
    "content-length-negative": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "space-before-colon": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "bad-chunk-size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "chunk-size-overflow": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nabc\r\n0\r\n\r\n"
    ),
    "chunked-not-final": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "unknown-coding-only": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    "xchunked": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "chunked-twice": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "chunked-header-twice": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "transfer-encoding-on-http-1.0": b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "no-host": b"GET / HTTP/1.1\r\n\r\n",
    "two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
}


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("name", sorted(REJECTED))
def test_ambiguous_framing_gets_400_and_closes(serve, app, name):
    server = serve(app)
    with RawConnection.to(server) as conn:
        conn.send(REJECTED[name] + SMUGGLED)
        response = conn.read_response()
        assert response.status == 400, response
        assert conn.is_closed(), "the connection must close: nothing after the bad message is trusted"
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/", content=b"abcd").status_code == 200


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
    ],
    ids=["length-first", "encoding-first"],
)
def test_content_length_with_transfer_encoding_is_read_chunked_then_closed(serve, app, head):
    """hyper removes the Content-Length before we see the request, so this cannot be a 400;
    it does what RFC 9112 §6.3 asks instead: Transfer-Encoding wins, and the connection
    closes after the response, so the bytes behind the body are never read as a request."""
    server = serve(app)
    with RawConnection.to(server) as conn:
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n4\r\nabcd\r\n0\r\n\r\n" + SMUGGLED)
        response = conn.read_response()
        assert response.status == 200
        assert b"smuggled" not in response.body
        assert conn.is_closed()


@pytest.mark.parametrize("app", APPS)
def test_identical_duplicate_content_lengths_are_one(serve, app):
    """RFC 9110 §8.6 lets a recipient take identical repeated values as one."""
    server = serve(app)
    with RawConnection.to(server) as conn:
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd")
        assert conn.read_response().status == 200
        assert not conn.is_closed(timeout=0.3)
