"""Request smuggling and framing: every ambiguous or malformed framing gets 400 and a closed
connection, a request hidden behind it is never served, and the server keeps serving.

Raw sockets throughout: clients like httpx refuse to send most of these."""

from __future__ import annotations

import json

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


# --- whitespace after a chunk size -----------------------------------------------------------
# RFC 9112 §7.1 allows whitespace after a chunk size only before a `;` extension; hyper also
# takes `5 \r\n`, which a proxy in front may read otherwise. Such a line must get what an
# invalid chunk size gets (`bad-chunk-size` above).

CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
INVALID_SIZE = [b"zz\r\nhello\r\n0\r\n\r\n"]

#: Each a chunked body, as the sends that carry it.
WHITESPACE_AFTER_SIZE = {
    "space": [b"5 \r\nhello\r\n0\r\n\r\n"],
    "tab": [b"5\t\r\nhello\r\n0\r\n\r\n"],
    # The space arrives before the CR that ends the line, in a read of its own.
    "space-then-cr-apart": [b"5 ", b"\r\nhello\r\n0\r\n\r\n"],
    "last-chunk": [b"5\r\nhello\r\n0 \r\n\r\n"],
}

#: Chunk-size lines that stay valid, each with its body as the app must get it.
VALID_SIZE_LINES = {
    "extension-after-space": (b"5 ;ext=1\r\nhello\r\n0\r\n\r\n", 5),
    "extension-after-tab-and-space": (b"5\t ; ext = 1\r\nhello\r\n0\r\n\r\n", 5),
    "uppercase-hex": (b"A\r\nhelloworld\r\n0\r\n\r\n", 10),
    "trailer": (b"5\r\nhello\r\n0\r\nX-Sum: 1 \r\n\r\n", 5),
}


def _answer(server, sends: list[bytes]) -> tuple[int, bytes, bool]:
    """Status, body and whether the connection closed, for a chunked POST sent as `sends`
    with a smuggled request behind it."""
    with RawConnection.to(server) as conn:
        conn.send(CHUNKED_HEAD + sends[0])
        for send in sends[1:]:
            # The chunk-size line is not over: nothing may be answered yet. (The wait is
            # also what lets the server read the part sent so far on its own.)
            assert conn.recv_some(0.3) is None, "answered before the chunk-size line ended"
            conn.send(send)
        conn.send(SMUGGLED)
        response = conn.read_response()
        return response.status, response.body, conn.is_closed()


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("name", sorted(WHITESPACE_AFTER_SIZE))
def test_whitespace_after_a_chunk_size_is_answered_as_an_invalid_size(serve, app, name):
    server = serve(app)
    invalid = _answer(server, INVALID_SIZE)
    assert invalid == (400, b"Bad Request\n", True), "the reference answer changed"
    # Not the app's answer (200, with the body's size): the app never got the body as valid.
    assert _answer(server, WHITESPACE_AFTER_SIZE[name]) == invalid
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/", content=b"abcd").status_code == 200


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("name", sorted(VALID_SIZE_LINES))
def test_valid_chunk_size_lines_are_served_and_keep_the_connection(serve, app, name):
    body, size = VALID_SIZE_LINES[name]
    server = serve(app)
    with RawConnection.to(server) as conn:
        # The next request is pipelined behind the body: it must be read as one, too.
        conn.send(CHUNKED_HEAD + body + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first, second = conn.read_response(), conn.read_response()
        assert first.status == 200, first
        payload = json.loads(first.body)
        assert payload.get("bytes", payload.get("body_length")) == size, payload
        assert second.status == 200, second
        assert not conn.is_closed(timeout=0.3)


@pytest.mark.parametrize("app", APPS)
def test_an_invalid_chunk_the_app_reads_after_100_continue_gets_400_not_the_apps_answer(serve, app):
    """With `Expect: 100-continue` the body is not read before the app asks for it, so the
    app is the one that meets the invalid chunk: a WSGI read raises, an ASGI `receive()`
    says `http.disconnect`. Either way the client gets the `400` of an invalid body (not a
    `500`, nor the app's answer to a body cut short), and no traceback is logged."""
    server = serve(app)
    with RawConnection.to(server) as conn:
        conn.send(CHUNKED_HEAD.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
        assert conn.read_response(skip_interim=False).status == 100
        conn.send(INVALID_SIZE[0])
        response = conn.read_response()
        assert (response.status, response.body) == (400, b"Bad Request\n"), response
        assert conn.is_closed()
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/", content=b"abcd").status_code == 200
    assert "Exception in" not in server.stderr()


@pytest.mark.parametrize("app", APPS)
def test_an_upgrade_header_does_not_turn_the_chunk_size_check_off(serve, app):
    """Until a `101`, a request with `Upgrade` is a request: one the app answers as usual
    (here every one) gets the same check of its chunked body, and so does the next."""
    server = serve(app)
    upgrade_head = CHUNKED_HEAD.replace(b"\r\n\r\n", b"\r\nUpgrade: x-custom\r\nConnection: upgrade\r\n\r\n")
    with RawConnection.to(server) as conn:
        conn.send(upgrade_head + WHITESPACE_AFTER_SIZE["space"][0])
        response = conn.read_response()
        assert (response.status, response.body) == (400, b"Bad Request\n"), response
    with RawConnection.to(server) as conn:
        # A valid body first: the upgrade is declined (the app answers 200), and the request
        # after it on the same connection is checked too.
        conn.send(upgrade_head + b"5\r\nhello\r\n0\r\n\r\n" + CHUNKED_HEAD + WHITESPACE_AFTER_SIZE["space"][0])
        assert conn.read_response().status == 200
        response = conn.read_response()
        assert (response.status, response.body) == (400, b"Bad Request\n"), response
