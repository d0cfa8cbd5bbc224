"""ASGI ``http`` messages end to end: receive() and request bodies, http.disconnect, send() and
response framing, 100-continue, HEAD, invalid message sequences, and app errors."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from urllib.parse import quote, urlencode

import httpx
import pytest
from conftest import start_server
from support import ConnectionClosed, RawConnection, build_request, chunked, wait_for_file


@pytest.fixture(scope="module")
def shared():
    """``shared(app, *args)``: one server per (app, args) for the whole module."""
    servers = {}

    def get(app: str, *args: str):
        key = (app, args)
        if key not in servers:
            servers[key] = start_server(app, *args)
        return servers[key]

    yield get
    for server in servers.values():
        server.stop()


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_records(path, predicate, timeout: float = 10.0) -> list[dict]:
    wait_for_file(path, lambda text: predicate([json.loads(line) for line in text.splitlines()]), timeout)
    return records(path)


def rec(path) -> str:
    return quote(str(path))


# --- receive(): the request body -------------------------------------------------------------


def test_get_without_body_is_one_empty_request_message(shared):
    server = shared("asgi_apps.raw:echo_body")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/")
    data = json.loads(response.body)
    assert data["messages"] == [{"type": "http.request", "size": 0, "more_body": False, "body_type": "bytes"}]


@pytest.mark.parametrize("size", [1, 1000, 65536])
def test_body_up_to_64_kib_is_one_message(shared, size):
    server = shared("asgi_apps.raw:echo_body")
    body = os.urandom(size)
    with RawConnection.to(server) as conn:
        response = conn.request("POST", "/", body=body)
    data = json.loads(response.body)
    assert data["size"] == size
    assert data["sha256"] == hashlib.sha256(body).hexdigest()
    assert data["messages"] == [{"type": "http.request", "size": size, "more_body": False, "body_type": "bytes"}]


@pytest.mark.parametrize("size", [256 * 1024, 1024 * 1024 + 3])
def test_larger_body_streams_as_several_messages(shared, size):
    server = shared("asgi_apps.raw:echo_body")
    body = os.urandom(size)
    with RawConnection.to(server) as conn:
        response = conn.request("POST", "/", body=body)
    data = json.loads(response.body)
    messages = data["messages"]
    assert data["size"] == size
    assert data["sha256"] == hashlib.sha256(body).hexdigest()
    assert len(messages) >= 2
    assert all(m["type"] == "http.request" and m["body_type"] == "bytes" for m in messages)
    assert all(m["more_body"] for m in messages[:-1]), messages
    assert messages[-1]["more_body"] is False
    assert sum(m["size"] for m in messages) == size


def test_chunked_request_body(shared):
    server = shared("asgi_apps.raw:echo_body")
    parts = [b"hello ", b"chunked ", os.urandom(200_000)]
    with RawConnection.to(server) as conn:
        conn.send(build_request("POST", "/", headers=[("Transfer-Encoding", "chunked")]) + chunked(*parts))
        response = conn.read_response()
    data = json.loads(response.body)
    assert data["size"] == sum(map(len, parts))
    assert data["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()
    assert data["messages"][-1]["more_body"] is False
    assert all(m["more_body"] for m in data["messages"][:-1])


def test_body_sent_slowly_arrives_complete(shared):
    server = shared("asgi_apps.raw:echo_body")
    body = b"a" * 30000 + b"b" * 30000
    with RawConnection.to(server) as conn:
        conn.send(build_request("POST", "/", headers=[("Content-Length", str(len(body)))]))
        for start in range(0, len(body), 15000):
            conn.send(body[start : start + 15000])
            time.sleep(0.1)  # the stimulus: a client that sends its body slowly, in pieces
        response = conn.read_response()
    data = json.loads(response.body)
    assert data["sha256"] == hashlib.sha256(body).hexdigest()
    assert data["messages"][-1]["more_body"] is False


def test_receive_after_the_response_says_disconnect(shared, tmp_path):
    """The response is complete: a later receive() returns http.disconnect at once, even on a
    connection the client keeps alive."""
    server = shared("asgi_apps.raw:after_response")
    path = tmp_path / "record.jsonl"
    with RawConnection.to(server) as conn:
        response = conn.request("GET", f"/?record={rec(path)}")
        assert response.body == b"done"
        found = wait_records(path, lambda rows: len(rows) >= 1, timeout=5)
        assert found, "receive() did not return after the response completed (connection still open)"
        # The connection is still usable.
        assert conn.request("GET", "/").body == b"done"
    assert found[0]["type"] == "http.disconnect"
    assert found[0]["after"] < 2.0


def test_receive_waits_for_the_client_to_disconnect(shared, tmp_path):
    server = shared("asgi_apps.raw:wait_disconnect")
    path = tmp_path / "record.jsonl"
    with RawConnection.to(server) as conn:
        conn.send(build_request("POST", f"/?record={rec(path)}", body=b"payload"))
        first = wait_records(path, lambda rows: len(rows) >= 1, timeout=5)
        assert first[0]["body_messages"] == [
            {"type": "http.request", "size": 7, "more_body": False, "body_type": "bytes"}
        ]
        # The stimulus: the client stays connected for 0.8 s, and all that time receive() must
        # not return (the app records it when it does).
        time.sleep(0.8)
        assert len(records(path)) == 1, f"receive() returned while the client was still there: {records(path)}"
    rows = wait_records(path, lambda rows: len(rows) >= 2, timeout=5)
    assert rows[1]["type"] == "http.disconnect"
    assert rows[1]["after"] >= 0.7


def test_send_after_disconnect_raises_client_disconnected(shared, tmp_path):
    server = shared("asgi_apps.raw:wait_disconnect")
    path = tmp_path / "record.jsonl"
    with RawConnection.to(server) as conn:
        conn.send(build_request("POST", f"/?record={rec(path)}", body=b"payload"))
        wait_records(path, lambda rows: len(rows) >= 1, timeout=5)
    rows = wait_records(path, lambda rows: len(rows) >= 3, timeout=5)
    assert len(rows) >= 3, rows
    outcome = rows[2]["send"]
    errors = [item for item in outcome if item != "ok"]
    assert errors, f"send() after the client left never raised: {outcome}"
    assert errors[0]["oserror"] is True, errors[0]
    assert errors[0]["client_disconnected"] is True, errors[0]


def test_disconnect_during_upload_ends_the_body_with_http_disconnect(shared, tmp_path):
    server = shared("asgi_apps.raw:partial_upload")
    path = tmp_path / "record.jsonl"
    with RawConnection.to(server) as conn:
        conn.send(build_request("POST", f"/?record={rec(path)}", headers=[("Content-Length", "1000000")]))
        conn.send(b"x" * 100_000)
        wait_records(path, lambda rows: sum(r["size"] for r in rows) >= 65536, timeout=5)
    rows = wait_records(path, lambda rows: rows and rows[-1]["type"] != "http.request", timeout=5)
    assert rows, "the app saw nothing"
    assert rows[-1]["type"] == "http.disconnect", rows
    assert all(r["type"] == "http.request" for r in rows[:-1])
    assert sum(r["size"] for r in rows) <= 100_000


def test_streaming_send_raises_once_the_client_is_gone(shared, tmp_path):
    server = shared("asgi_apps.raw:endless")
    path = tmp_path / "record.jsonl"
    with RawConnection.to(server) as conn:
        conn.send(build_request("GET", f"/?record={rec(path)}"))
        head = conn.read_head()
        assert head.status == 200
        assert conn.recv_some(timeout=5)
    rows = wait_records(path, lambda rows: len(rows) >= 1, timeout=10)
    assert rows, "the app never learnt that the client left"
    assert rows[0]["class"] is not None, f"send() kept succeeding for 20 s after the client left: {rows[0]}"
    assert rows[0]["oserror"] is True, rows[0]
    assert rows[0]["client_disconnected"] is True, rows[0]
    assert rows[0]["class"] == "ClientDisconnected"


# --- send(): the response --------------------------------------------------------------------


def response_path(**params) -> str:
    return "/?" + urlencode(params)


def test_single_body_message_has_content_length(shared):
    server = shared("asgi_apps.raw:response")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", response_path(parts="hello world"))
    assert response.status == 200
    assert response.header("content-length") == "11"
    assert response.header("transfer-encoding") is None
    assert response.body == b"hello world"


def test_final_message_without_body_key_is_an_empty_body(shared):
    server = shared("asgi_apps.raw:response")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", response_path(parts="ignored", nobody=1))
        again = conn.request("GET", response_path(parts="next"))
    assert response.status == 200
    assert response.header("content-length") == "0"
    assert response.body == b""
    assert again.body == b"next"


@pytest.mark.parametrize("parts", ["aaa,bbb,ccc", "aaa,bbb,-", "-,aaa,-,bbb", "only,-"])
def test_several_body_messages_stream_chunked(shared, parts):
    server = shared("asgi_apps.raw:response")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", response_path(parts=parts))
        again = conn.request("GET", response_path(parts="next"))
    expected = parts.replace("-", "").replace(",", "").encode()
    assert response.status == 200
    assert response.chunked
    assert response.complete
    assert response.header("content-length") is None
    assert response.body == expected
    assert again.body == b"next"


def test_app_content_length_with_several_messages_is_not_chunked(shared):
    server = shared("asgi_apps.raw:response")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", response_path(parts="aaa,bbbb,-", length=1))
        again = conn.request("GET", response_path(parts="next"))
    assert response.header("content-length") == "7"
    assert not response.chunked
    assert response.body == b"aaabbbb"
    assert again.body == b"next"


def test_http_1_0_streamed_response_is_not_chunked(shared):
    server = shared("asgi_apps.raw:response")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", response_path(parts="aaa,bbb,-"), version="HTTP/1.0")
        assert response.version in ("HTTP/1.0", "HTTP/1.1")
        assert not response.chunked
        assert response.body == b"aaabbb"
        assert conn.is_closed()


def test_chunks_are_sent_as_produced(shared):
    server = shared("asgi_apps.raw:response")
    with RawConnection.to(server) as conn:
        started = time.monotonic()
        conn.send(build_request("GET", response_path(parts="first;,second;", delay=1.5)))
        head = conn.read_head()
        assert head.status == 200
        first = b""
        while b"first;" not in first:
            data = conn.recv_some(timeout=5)
            assert data, "no data"
            first += data
        first_at = time.monotonic() - started
    assert first_at < 1.0, f"the first chunk waited {first_at:.2f}s for the second"


@pytest.mark.parametrize("status", [201, 202, 299, 404, 418, 503])
def test_status_codes(shared, status):
    server = shared("asgi_apps.raw:response")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", response_path(status=status, parts="s"))
    assert response.status == status
    assert response.body == b"s"


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_statuses(shared, status):
    server = shared("asgi_apps.raw:response")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", response_path(status=status, parts="-"))
        again = conn.request("GET", response_path(parts="next"))
    assert response.status == status
    assert response.header("transfer-encoding") is None
    assert again.body == b"next"


def test_response_headers_keep_repeats_and_values(shared):
    server = shared("asgi_apps.raw:response")
    headers = "set-cookie:a=1; Path=/|x-custom:MiXeD Case|set-cookie:b=2|x-empty:"
    with RawConnection.to(server) as conn:
        response = conn.request("GET", response_path(parts="h", headers=headers))
    assert response.header_all("set-cookie") == ["a=1; Path=/", "b=2"]
    assert response.header("x-custom") == "MiXeD Case"
    assert response.header("x-empty") == ""
    assert response.header("content-type") == "text/plain"


@pytest.mark.parametrize("parts", ["hello", "aaa,bbb,-"])
def test_head_sends_no_body(shared, parts):
    server = shared("asgi_apps.raw:response")
    with RawConnection.to(server) as conn:
        response = conn.request("HEAD", response_path(parts=parts))
        assert response.status == 200
        # Nothing may follow the head: the next response must start right away.
        again = conn.request("GET", response_path(parts="next"))
    assert again.status == 200
    assert again.body == b"next"


def test_head_keeps_the_content_length_of_a_single_body(shared):
    server = shared("asgi_apps.raw:response")
    with RawConnection.to(server) as conn:
        response = conn.request("HEAD", response_path(parts="hello"))
        assert conn.recv_some(timeout=0.3) is None
    assert response.header("content-length") == "5"


def test_keep_alive_and_pipelining(shared):
    server = shared("asgi_apps.raw:response")
    with RawConnection.to(server) as conn:
        conn.send(b"".join(build_request("GET", response_path(parts=f"r{i}")) for i in range(3)))
        bodies = [conn.read_response().body for _ in range(3)]
    assert bodies == [b"r0", b"r1", b"r2"]


def test_requests_run_concurrently_on_the_loop(shared):
    server = shared("asgi_apps.raw:sleepy")
    results: list[int] = []
    lock = threading.Lock()

    conns = [RawConnection.to(server) for _ in range(20)]

    def one(conn) -> None:
        with conn:
            status = conn.request("GET", "/?seconds=0.5").status
        with lock:
            results.append(status)

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(conn,)) for conn in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert results == [200] * 20
    assert elapsed < 1.5, f"20 concurrent half-second requests took {elapsed:.2f}s"


# --- Expect: 100-continue --------------------------------------------------------------------


def test_100_continue_is_sent_only_when_the_app_calls_receive(shared):
    server = shared("asgi_apps.raw:expect_read")
    with RawConnection.to(server) as conn:
        conn.send(build_request("POST", "/?delay=1.0", headers=[("Expect", "100-continue"), ("Content-Length", "5")]))
        started = time.monotonic()
        early = conn.recv_some(timeout=0.6)
        assert early is None, f"got {early!r} before the app called receive()"
        interim = conn.read_head()
        elapsed = time.monotonic() - started
        assert interim.status == 100, interim
        assert interim.version == "HTTP/1.1"
        assert elapsed >= 0.9, f"100 Continue after {elapsed:.2f}s, before the app called receive()"
        conn.send(b"hello")
        response = conn.read_response()
    assert response.status == 200
    assert response.body == b"got:hello"


def test_100_continue_is_not_sent_when_the_app_never_reads(shared):
    server = shared("asgi_apps.raw:expect_ignore")
    with RawConnection.to(server) as conn:
        conn.send(build_request("POST", "/", headers=[("Expect", "100-continue"), ("Content-Length", "100000")]))
        response = conn.read_response(skip_interim=False)
    assert response.status == 403
    assert response.body == b"ignored"


def test_100_continue_with_an_eager_client(shared):
    server = shared("asgi_apps.raw:expect_read")
    with RawConnection.to(server) as conn:
        conn.send(build_request("POST", "/", headers=[("Expect", "100-continue")], body=b"eager"))
        response = conn.read_response()
    assert response.status == 200
    assert response.body == b"got:eager"


# --- invalid message sequences ---------------------------------------------------------------

# case -> the message type the error must name
INVALID = {
    "body_before_start": "http.response.body",
    "start_twice": "http.response.start",
    "unknown_type": "http.response.bogus",
    "unknown_type_after_start": "http.response.bogus",
    "after_final_body": "http.response.body",
    "start_after_final_body": "http.response.start",
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_message_sequence_raises_runtime_error(shared, tmp_path, case):
    server = shared("asgi_apps.raw:invalid")
    path = tmp_path / "record.jsonl"
    with RawConnection.to(server) as conn:
        response = conn.request("GET", f"/?case={case}&record={rec(path)}")
        rows = wait_records(path, lambda rows: len(rows) >= 1, timeout=5)
        # The valid part of the exchange still completes normally.
        assert response.status == 200
        assert response.complete
        assert conn.request("GET", f"/?case=body_before_start&record={rec(tmp_path / 'other')}").status == 200
    assert rows, "the app did not report"
    report = rows[0]
    assert report["class"] == "RuntimeError", f"send() did not raise RuntimeError for {case}: {report}"
    assert INVALID[case] in report["message"], report["message"]
    if case in ("after_final_body", "start_after_final_body"):
        assert response.body == b"complete"
    else:
        assert json.loads(response.body) == report


def test_uncaught_invalid_sequence_is_a_500_with_the_error_logged(shared):
    server = shared("asgi_apps.raw:invalid")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/?case=unknown_type&uncaught=1")
    assert response.status == 500
    assert server.wait_for_stderr("http.response.bogus")
    assert "RuntimeError" in server.stderr()


# --- app errors ------------------------------------------------------------------------------


def test_exception_before_the_response_is_a_500_with_a_logged_traceback(shared):
    server = shared("asgi_apps.raw:fail_before_start")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/?tag=t-9931")
        assert response.status == 500
        # The connection survives a 500.
        assert conn.request("GET", "/?tag=t-again").status == 500
    assert server.wait_for_stderr("boom-before-start t-9931")
    log = server.stderr()
    assert "Traceback" in log
    assert "ValueError" in log
    assert "fail_before_start" in log


def test_exception_after_the_response_started_cuts_the_chunked_body(shared):
    server = shared("asgi_apps.raw:fail_after_start")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/?tag=t-4410")
        assert response.status == 200
        assert response.chunked
        assert not response.complete, "the body ended cleanly although the app failed"
        assert response.body.startswith(b"partial body")
        assert conn.eof or conn.is_closed()
    assert server.wait_for_stderr("boom-after-start t-4410")
    assert "Traceback" in server.stderr()


def test_exception_after_start_with_content_length_closes_short(shared):
    server = shared("asgi_apps.raw:fail_after_start_with_length")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/")
        assert response.status == 200
        assert not response.complete
        assert response.body == b"only ten b"
    assert server.wait_for_stderr("boom-after-start-with-length")


def test_returning_without_a_response_is_a_500(shared):
    server = shared("asgi_apps.raw:no_response")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/")
        assert response.status == 500
        assert conn.request("GET", "/").status == 500
    assert server.wait_for_stderr("returned without starting the response")


def test_returning_after_start_without_the_final_body_aborts(shared):
    server = shared("asgi_apps.raw:incomplete_response")
    with RawConnection.to(server) as conn:
        try:
            response = conn.request("GET", "/")
        except ConnectionClosed:
            response = None  # aborted before even the head went out (see the next test)
        if response is not None:
            assert response.status == 200
            assert not response.complete, "the body ended cleanly although the app never finished it"
            assert response.body == b"partial"
        assert conn.eof or conn.is_closed()
    assert server.wait_for_stderr("without completing")


@pytest.mark.parametrize("app", ["incomplete_response", "fail_after_start_at_once"])
def test_what_the_app_sent_before_an_abort_reaches_the_client(shared, app):
    """send() returned for the head and a first chunk, so they must be on the wire (then the
    abort) even when the app returns or raises at once, with no pause for the server to write."""
    server = shared(f"asgi_apps.raw:{app}")
    outcomes = []
    for _ in range(5):
        with RawConnection.to(server) as conn:
            try:
                response = conn.request("GET", "/")
            except ConnectionClosed:
                outcomes.append("closed with nothing sent")
                continue
            outcomes.append((response.status, response.body, response.complete))
    assert outcomes == [(200, b"partial", False)] * 5, outcomes


def test_server_keeps_serving_after_app_errors(shared):
    failing = shared("asgi_apps.raw:fail_before_start")
    with httpx.Client(timeout=10) as client:
        for _ in range(3):
            assert client.get(failing.url + "/").status_code == 500
    assert failing.proc.poll() is None
