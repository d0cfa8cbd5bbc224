"""wsgi.input: every read method, Content-Length and chunked bodies, EOF, disconnects."""

from __future__ import annotations

import hashlib
import json
import os
import time

import httpx
import pytest
from support import RawConnection, build_request, chunked, wait_for_file

ECHO = "apps.input:echo"

LINES = b"".join(b"line %02d %s\n" % (i, b"x" * (i % 7)) for i in range(40)) + b"no newline at end"


@pytest.fixture
def echo(serve):
    return serve(ECHO)


def _send(server, query: str, body: bytes, framing: str) -> dict:
    with RawConnection.to(server) as conn:
        if framing == "chunked":
            parts = [body[i : i + 37] for i in range(0, len(body), 37)]
            response = conn.request(
                "POST", "/?" + query, headers=[("Transfer-Encoding", "chunked")], body=chunked(*parts)
            )
        else:
            response = conn.request("POST", "/?" + query, body=body, content_length=True)
    assert response.status == 200, (response, response.body)
    return json.loads(response.body)


def _joined(data: dict) -> bytes:
    return "".join(data["pieces"]).encode("latin-1")


FRAMINGS = ["content-length", "chunked"]


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("method", ["read", "read_minus1", "read_n", "readline", "readlines", "iter"])
def test_each_method_reads_the_whole_body(echo, method, framing):
    data = _send(echo, f"method={method}", LINES, framing)
    assert _joined(data) == LINES
    # After the end, read(n), readline(), read() and readlines() all come back empty.
    assert data["after"] == ["", "", "", []]


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("n", [1, 5, 7, 100, 65536])
def test_read_n_never_returns_more_than_n(echo, framing, n):
    data = _send(echo, f"method=read_n&n={n}", LINES, framing)
    assert _joined(data) == LINES
    assert all(0 < len(piece) <= n for piece in data["pieces"])


@pytest.mark.parametrize("framing", FRAMINGS)
def test_readline_returns_lines(echo, framing):
    data = _send(echo, "method=readline", LINES, framing)
    assert [p.encode("latin-1") for p in data["pieces"]] == LINES.splitlines(keepends=True)


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("n", [1, 4, 9, 1000])
def test_readline_n_is_bounded_and_stops_at_newlines(echo, framing, n):
    data = _send(echo, f"method=readline_n&n={n}", LINES, framing)
    pieces = [p.encode("latin-1") for p in data["pieces"]]
    assert b"".join(pieces) == LINES
    assert all(0 < len(p) <= n for p in pieces)
    # A newline can only be the last byte of a piece.
    assert all(b"\n" not in p[:-1] for p in pieces)
    # And a piece shorter than n that is not the final one must end at a newline.
    assert all(p.endswith(b"\n") or len(p) == n for p in pieces[:-1])


@pytest.mark.parametrize("framing", FRAMINGS)
def test_readlines_returns_all_lines(echo, framing):
    data = _send(echo, "method=readlines", LINES, framing)
    assert [p.encode("latin-1") for p in data["pieces"]] == LINES.splitlines(keepends=True)


@pytest.mark.parametrize("framing", FRAMINGS)
def test_readlines_hint_returns_whole_lines_and_leaves_the_rest(echo, framing):
    data = _send(echo, "method=readlines_hint&n=30", LINES, framing)
    pieces = [p.encode("latin-1") for p in data["pieces"]]
    split = pieces.index(b"|")
    lines, rest = pieces[:split], pieces[split + 1 :]
    assert lines, "readlines(hint) returned no line at all"
    # Complete lines, a prefix of the body; the hint may be ignored but lines are never cut.
    assert lines == LINES.splitlines(keepends=True)[: len(lines)]
    assert b"".join(lines) + b"".join(rest) == LINES


@pytest.mark.parametrize("framing", FRAMINGS)
def test_iteration_yields_lines(echo, framing):
    data = _send(echo, "method=iter", LINES, framing)
    assert [p.encode("latin-1") for p in data["pieces"]] == LINES.splitlines(keepends=True)


@pytest.mark.parametrize("method", ["read", "read_n", "readline", "readlines", "iter"])
def test_empty_body(echo, method):
    with RawConnection.to(echo) as conn:
        for request in (
            build_request("GET", f"/?method={method}"),
            build_request("POST", f"/?method={method}", headers=[("Content-Length", "0")]),
            build_request("POST", f"/?method={method}", headers=[("Transfer-Encoding", "chunked")], body=chunked()),
        ):
            conn.send(request)
            response = conn.read_response()
            assert response.status == 200
            assert _joined(json.loads(response.body)) == b""


def test_reads_stop_at_content_length_even_with_more_bytes_on_the_wire(echo):
    """Request 1 declares 5 bytes and the next request follows at once on the same connection:
    read() must return exactly those 5 bytes, and request 2 must still be parsed."""
    with RawConnection.to(echo) as conn:
        conn.send(
            b"POST /?method=read HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"POST /?method=read_n&n=1000 HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nworld!"
        )
        first = json.loads(conn.read_response().body)
        second = json.loads(conn.read_response().body)
    assert first["pieces"] == ["hello"]
    assert first["after"] == ["", "", "", []]
    assert first["content_length"] == "5"
    assert second["pieces"] == ["world!"]


def test_large_body_streams_byte_exact(echo):
    body = os.urandom(5 * 1024 * 1024 + 123)
    with httpx.Client(timeout=60) as client:
        response = client.post(f"{echo.url}/?method=read_n&n=65536&summary=1", content=body)
    data = response.json()
    assert data["length"] == len(body)
    assert data["sha256"] == hashlib.sha256(body).hexdigest()


def test_large_chunked_body_streams_byte_exact(echo):
    block = os.urandom(100_000)

    def parts():
        for _ in range(30):
            yield block

    with httpx.Client(timeout=60) as client:
        response = client.post(f"{echo.url}/?method=readline&summary=1", content=parts())
    data = response.json()
    assert data["length"] == len(block) * 30
    assert data["sha256"] == hashlib.sha256(block * 30).hexdigest()


def test_binary_body_with_crlf_and_nul_bytes(echo):
    body = bytes(range(256)) * 50 + b"\r\n\r\n0\r\n\r\n"
    for framing in FRAMINGS:
        assert _joined(_send(echo, "method=read_n&n=333", body, framing)) == body


# --- client going away mid-body --------------------------------------------------------------


def test_disconnect_mid_body_raises_oserror_in_the_app(serve, tmp_path):
    server = serve("apps.input:disconnect_probe")
    log = tmp_path / "probe.log"
    sent = 256 * 1024
    with RawConnection.to(server) as conn:
        conn.send(
            build_request(
                "POST",
                f"/?record={log}",
                headers=[("Content-Length", str(4 * 1024 * 1024))],
            )
            + b"z" * sent
        )
        text = wait_for_file(log, lambda t: f"progress {sent}" in t, timeout=10)
        assert f"progress {sent}" in text, text
        # The stimulus: the client leaves while the app waits in read() for the rest of the body.
        # Nothing announces "blocked in read()", so this pause gives it time to get there.
        time.sleep(0.2)
    text = wait_for_file(log, lambda t: "error" in t or "eof" in t, timeout=10)
    assert "error" in text, f"the app never saw an error after the client left:\n{text}"
    assert "oserror=True" in text, text
    assert f"got={sent}" in text
    assert "eof" not in text


def test_disconnect_mid_chunked_body_raises_oserror_in_the_app(serve, tmp_path):
    server = serve("apps.input:disconnect_probe")
    log = tmp_path / "probe.log"
    with RawConnection.to(server) as conn:
        conn.send(
            build_request("POST", f"/?record={log}", headers=[("Transfer-Encoding", "chunked")])
            + b"10000\r\n"
            + b"q" * 0x10000
            + b"\r\n"
            + b"10000\r\n"
            + b"q" * 0x10000
            + b"\r\n"
        )
        text = wait_for_file(log, lambda t: "progress 131072" in t, timeout=10)
        assert "progress 131072" in text, text
    text = wait_for_file(log, lambda t: "error" in t or "eof" in t, timeout=10)
    assert "oserror=True" in text, text


def test_server_keeps_serving_after_a_client_left_mid_body(serve, tmp_path):
    server = serve("apps.input:disconnect_probe", "--threads", "1")
    for i in range(3):
        log = tmp_path / f"probe{i}.log"
        with RawConnection.to(server) as conn:
            conn.send(
                build_request("POST", f"/?record={log}", headers=[("Content-Length", "10000000")]) + b"z" * 200_000
            )
            wait_for_file(log, lambda t: "progress" in t, timeout=10)
        wait_for_file(log, lambda t: "error" in t, timeout=10)
    # With one thread, this only works if the thread was given back each time.
    with RawConnection.to(server) as conn:
        response = conn.request("POST", "/", body=b"abc")
    assert response.status == 200
    assert response.body == b"read 3"
