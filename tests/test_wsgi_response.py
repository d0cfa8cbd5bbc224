"""The response side of WSGI: write(), exc_info, lazy start_response, close() on every path,
Content-Length vs chunked, wsgi.file_wrapper, and app errors."""

from __future__ import annotations

import os
import socket
import struct

import httpx
import pytest
from support import RawConnection, wait_for_file

R = "apps.response"


def _get(server, path: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        return client.get(path)


# --- write() ---------------------------------------------------------------------------------


def test_write_then_iterable(serve):
    server = serve(f"{R}:write_then_iterable")
    response = _get(server, "/")
    assert response.status_code == 200
    assert response.content == b"abc"


def test_write_only_with_content_length(serve):
    server = serve(f"{R}:write_only")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/")
        assert response.status == 200
        assert response.header("content-length") == str(8 * 1000)
        assert not response.chunked
        assert response.body == b"written-" * 1000
        assert conn.request("GET", "/").body == b"written-" * 1000


# --- exc_info --------------------------------------------------------------------------------


def test_exc_info_before_body_replaces_status_and_headers(serve):
    server = serve(f"{R}:exc_info_before_body")
    response = _get(server, "/")
    assert response.status_code == 500
    assert response.headers.get("x-replaced") == "yes"
    assert "x-original" not in response.headers
    assert response.content == b"replaced"


def test_exc_info_after_headers_reraises_and_cuts_the_response(serve, tmp_path):
    server = serve(f"{R}:exc_info_after_body")
    log = tmp_path / "exc.log"
    with RawConnection.to(server) as conn:
        response = conn.request("GET", f"/?record={log}")
        assert response.status == 200
        assert response.body.startswith(b"first-chunk")
        assert b"should-not-be-sent" not in response.body
        assert not response.complete, "a response whose app failed mid-body looked complete"
        assert conn.is_closed()
    assert wait_for_file(log, bool).strip() == "reraised same=True"


def test_start_response_twice_without_exc_info_is_an_error(serve):
    server = serve(f"{R}:start_response_twice")
    response = _get(server, "/")
    assert response.status_code == 200
    assert response.headers.get("x-first") == "yes"
    assert "x-second" not in response.headers
    assert response.content.startswith(b"second call raised ")


# --- lazy start_response ---------------------------------------------------------------------


def test_lazy_start_response_inside_the_generator(serve):
    server = serve(f"{R}:lazy")
    response = _get(server, "/")
    assert response.status_code == 202
    assert response.headers["x-lazy"] == "yes"
    assert response.content == b"lazy-body"


def test_empty_chunks_before_lazy_start_response(serve):
    server = serve(f"{R}:lazy_after_empty_chunks")
    response = _get(server, "/")
    assert response.status_code == 201
    assert response.headers["x-lazy"] == "late"
    assert response.content == b"after-empties"


# --- close() on every path -------------------------------------------------------------------


def test_close_called_after_normal_end(serve, tmp_path):
    server = serve(f"{R}:tracked")
    log = tmp_path / "close.log"
    response = _get(server, f"/?record={log}")
    assert response.content == b"chunk-1;chunk-2;chunk-3;"
    assert wait_for_file(log, bool).strip() == "close after 3"


def test_close_called_when_iteration_raises(serve, tmp_path):
    server = serve(f"{R}:tracked")
    log = tmp_path / "close.log"
    with RawConnection.to(server) as conn:
        response = conn.request("GET", f"/?mode=raise&record={log}")
        assert response.status == 200
        assert not response.complete
        assert conn.is_closed()
    assert wait_for_file(log, bool).strip() == "close after 1"
    assert server.wait_for_stderr("tracked-body-mid-stream-failure")


def test_close_called_when_the_first_next_raises(serve, tmp_path):
    server = serve(f"{R}:tracked_error_first")
    log = tmp_path / "close.log"
    response = _get(server, f"/?record={log}")
    assert response.status_code == 500
    assert wait_for_file(log, bool).strip() == "close after 0"
    assert server.wait_for_stderr("first-next-failure-marker")


def test_close_called_when_the_client_disconnects_mid_stream(serve, tmp_path):
    server = serve(f"{R}:tracked")
    log = tmp_path / "close.log"
    with RawConnection.to(server) as conn:
        conn.send(f"GET /?mode=endless&record={log} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = conn.read_head()
        assert head.status == 200
        received = 0
        while received < 256 * 1024:
            data = conn.recv_some(timeout=5)
            assert data, "stream ended early"
            received += len(data)
        # Abort with a reset, the way a browser tab that is closed does.
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    text = wait_for_file(log, lambda t: "close" in t, timeout=10)
    assert "close after" in text, f"close() not called after the client left:\n{text[-500:]}"
    chunks_at_close = int(text.split("close after ")[1].split()[0])
    assert chunks_at_close < 1000
    # The iteration stopped: no more chunks were produced after close(). Once the server
    # has exited, the app has written everything it ever will.
    assert server.stop() == 0
    assert log.read_text().count("chunk ") <= chunks_at_close
    assert "garbage collected without being closed" not in server.stderr()


def test_close_called_for_every_request_on_a_keep_alive_connection(serve, tmp_path):
    server = serve(f"{R}:tracked")
    log = tmp_path / "close.log"
    with RawConnection.to(server) as conn:
        for _ in range(5):
            assert conn.request("GET", f"/?record={log}").status == 200
    assert wait_for_file(log, lambda t: t.count("close") == 5).count("close after 3") == 5


# --- Content-Length vs chunked ---------------------------------------------------------------


@pytest.mark.parametrize(("parts", "body"), [(1, b"part0;"), (3, b"part0;part1;part2;")])
def test_list_body_gets_content_length(serve, parts, body):
    server = serve(f"{R}:list_body")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", f"/?parts={parts}")
    assert response.header("content-length") == str(len(body))
    assert response.header("transfer-encoding") is None
    assert response.body == body


def test_tuple_body_gets_content_length(serve):
    server = serve(f"{R}:tuple_body")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/")
    assert response.header("content-length") == "5"
    assert response.header("transfer-encoding") is None
    assert response.body == b"tuple"


def test_app_content_length_is_used_for_a_generator(serve):
    server = serve(f"{R}:generator_body")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/?count=5&size=1000&length=1")
        assert response.header_all("content-length") == ["5000"]
        assert response.header("transfer-encoding") is None
        assert response.body == b"".join(bytes([97 + i]) * 1000 for i in range(5))
        assert conn.request("GET", "/?count=1&size=3&length=1").body == b"aaa"


def test_generator_without_length_is_chunked_for_http11(serve):
    server = serve(f"{R}:generator_body")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/?count=3&size=7")
        assert response.chunked
        assert response.complete
        assert response.header("content-length") is None
        assert response.body == b"aaaaaaabbbbbbbccccccc"
        # and the connection stays usable
        assert conn.request("GET", "/?count=1&size=2").body == b"aa"


def test_generator_without_length_is_close_delimited_for_http10(serve):
    server = serve(f"{R}:generator_body")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/?count=3&size=7", version="HTTP/1.0")
        assert not response.chunked
        assert response.body == b"aaaaaaabbbbbbbccccccc"
        assert conn.eof


def test_response_headers_pass_through(serve):
    server = serve(f"{R}:headers_app")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/")
    assert response.header_all("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.header("x-custom") == "custom value"
    assert response.header("content-type") == "text/plain"


def test_204_has_no_body(serve):
    server = serve(f"{R}:no_content")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/")
        assert response.status == 204
        assert response.header("transfer-encoding") is None
        assert conn.request("GET", "/").status == 204


# --- wsgi.file_wrapper -----------------------------------------------------------------------


@pytest.fixture
def payload(tmp_path):
    path = tmp_path / "payload.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("blksize", [None, 4096])
def test_file_wrapper_sends_the_whole_file_with_content_length(serve, tmp_path, payload, blksize):
    path, data = payload
    server = serve(f"{R}:file_wrapper_app")
    log = tmp_path / "file.log"
    query = f"/?path={path}&record={log}" + (f"&blksize={blksize}" if blksize else "")
    with RawConnection.to(server, timeout=30) as conn:
        response = conn.request("GET", query)
        assert response.status == 200
        assert response.header("content-length") == str(len(data))
        assert not response.chunked
        assert response.body == data
        # keep-alive survives a file response
        assert conn.request("GET", query).body == data
    assert wait_for_file(log, lambda t: t.count("file closed") == 2).count("file closed") == 2


def test_file_wrapper_head_sends_no_body_and_closes_the_file(serve, tmp_path, payload):
    path, data = payload
    server = serve(f"{R}:file_wrapper_app")
    log = tmp_path / "file.log"
    with RawConnection.to(server) as conn:
        head = conn.request("HEAD", f"/?path={path}&record={log}")
        assert head.status == 200
        assert conn.request("GET", f"/?path={path}").body == data
    assert "file closed" in wait_for_file(log, bool)


def test_file_wrapper_on_a_file_like_without_fileno(serve, tmp_path):
    server = serve(f"{R}:file_wrapper_bytesio")
    log = tmp_path / "bytesio.log"
    response = _get(server, f"/?record={log}")
    assert response.status_code == 200
    assert response.content == b"in-memory-" * 10000
    assert "bytesio closed" in wait_for_file(log, bool)


def test_file_wrapper_client_disconnect_still_closes_the_file(serve, tmp_path):
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        f.truncate(256 * 1024 * 1024)
    server = serve(f"{R}:file_wrapper_app")
    log = tmp_path / "file.log"
    with RawConnection.to(server) as conn:
        conn.send(f"GET /?path={path}&record={log} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert conn.read_head().status == 200
        assert conn.recv_some(timeout=5)
    assert "file closed" in wait_for_file(log, bool, timeout=10)


# --- app errors ------------------------------------------------------------------------------


def test_exception_before_start_response_is_500_and_logged(serve):
    server = serve(f"{R}:error_before_start", "--threads", "1")
    marker = "boom-before-start-8e2f"
    response = _get(server, f"/?marker={marker}")
    assert response.status_code == 500
    assert server.wait_for_stderr(marker), server.stderr()
    text = server.stderr()
    assert "Traceback" in text
    assert "RuntimeError" in text
    assert "_error_before_start" in text  # the app's own frame is in the traceback
    assert marker not in response.text, "the exception text leaked to the client"


def test_worker_keeps_serving_after_app_errors(serve):
    server = serve(f"{R}:error_before_start", "--threads", "1")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for i in range(20):
            assert client.get(f"/?marker=err{i}").status_code == 500
    # The only thread of the pool survived all of them.
    assert _get(server, "/").text == "ok"


def test_exception_after_headers_closes_the_connection(serve):
    server = serve(f"{R}:error_after_headers")
    marker = "boom-after-headers-41aa"
    with RawConnection.to(server) as conn:
        response = conn.request("GET", f"/?marker={marker}")
        assert response.status == 200
        assert response.body.startswith(b"partial-")
        assert not response.complete
        assert conn.is_closed()
    assert server.wait_for_stderr(marker), server.stderr()
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/?marker=x").body.startswith(b"partial-")


def test_exception_after_headers_with_httpx_is_a_protocol_error(serve):
    server = serve(f"{R}:error_after_headers")
    with httpx.Client(base_url=server.url) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get("/")


def test_non_iterable_result_is_500(serve):
    server = serve(f"{R}:returns_none")
    response = _get(server, "/")
    assert response.status_code == 500
    # The TypeError comes from iterating None, not from an app frame: its text is what is logged.
    assert server.wait_for_stderr("not iterable"), server.stderr()
    assert _get(server, "/").status_code == 500


# --- the status line -------------------------------------------------------------------------


def test_a_reason_phrase_goes_out_latin_1_encoded(serve):
    """PEP 3333: the status is a str of latin-1 characters, sent as latin-1 bytes."""
    server = serve(f"{R}:status_line")
    with RawConnection.to(server) as conn:
        head = conn.request("GET", "/?case=latin1")
    assert head.status == 200
    assert head.reason == "Caf\xe9"  # the head is read as latin-1: one byte 0xE9, not UTF-8's two


@pytest.mark.parametrize("case", ["crlf_inside", "crlf_after", "beyond_latin1"])
def test_a_status_that_cannot_go_out_as_is_is_an_app_error(serve, case):
    """A CR or LF in the status (response splitting) or a character beyond latin-1 is the
    app's error: a 500, with the status named in the log, never a trimmed or re-encoded line."""
    server = serve(f"{R}:status_line")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", f"/?case={case}")
    assert response.status == 500
    assert response.header("x-injected") is None
    assert server.wait_for_stderr("invalid status"), server.stderr()
