"""HTTP/1.x on the wire: keep-alive, pipelining, chunked both ways, 100-continue, HEAD,
HTTP/1.0 and malformed input. Raw sockets, because httpx would hide the framing."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from support import RawConnection, build_request, chunked, wait_for_file

HELLO = "apps.basic:hello"
ECHO = "apps.input:echo"
DUMP = "apps.basic:environ_dump"


@pytest.fixture
def hello(serve):
    return serve(HELLO)


# --- keep-alive and pipelining ---------------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_connection(hello):
    with RawConnection.to(hello) as conn:
        for _ in range(5):
            response = conn.request("GET", "/")
            assert response.status == 200
            assert response.body == b"Hello, world!"
            assert (response.header("connection") or "").lower() != "close"
        assert not conn.is_closed(timeout=0.3)


def test_keep_alive_through_httpx_reuses_the_connection(serve):
    server = serve(DUMP)
    with httpx.Client(base_url=server.url) as client:
        ports = {client.get("/").json()["str"]["REMOTE_PORT"] for _ in range(5)}
    assert len(ports) == 1


def test_pipelined_requests_are_answered_in_order(serve):
    server = serve(DUMP)
    with RawConnection.to(server) as conn:
        conn.send(b"".join(build_request("GET", f"/p{i}?n={i}") for i in range(3)))
        for i in range(3):
            response = conn.read_response()
            assert response.status == 200
            assert json.loads(response.body)["str"]["PATH_INFO"] == f"/p{i}"


def test_pipelined_posts_with_bodies_do_not_bleed_into_each_other(serve):
    server = serve(ECHO)
    bodies = [b"first body", b"second\nbody\n", b"x" * 5000]
    with RawConnection.to(server) as conn:
        conn.send(b"".join(build_request("POST", "/?method=read", body=b) for b in bodies))
        for body in bodies:
            response = conn.read_response()
            assert response.status == 200
            assert "".join(json.loads(response.body)["pieces"]).encode("latin-1") == body


def test_connection_close_request_header_closes_after_response(hello):
    with RawConnection.to(hello) as conn:
        response = conn.request("GET", "/", headers=[("Connection", "close")])
        assert response.status == 200
        assert response.body == b"Hello, world!"
        assert conn.is_closed()


# --- answering before the body is read --------------------------------------------------------

#: Well past the 64 KiB pre-read, so most of it is still on the wire when the app answers.
UNREAD = b"u" * (1024 * 1024)


@pytest.mark.parametrize("app", ["apps.input:expect_ignore", "asgi:asgi_apps.detect:coroutine_function"])
def test_an_answer_before_the_body_arrived_says_connection_close(serve, app):
    """An app may answer without reading the body (a 403, an error page). If part of the body
    has not arrived, the connection cannot carry another request: the answer says
    ``Connection: close`` and the connection closes. It used to close unannounced (or not,
    depending on how much of the body had arrived), so a client that reused it failed."""
    server = serve(app)
    with RawConnection.to(server) as conn:
        # Half the body: the rest is still to come when the app answers.
        headers = [("Content-Length", str(len(UNREAD)))]
        conn.send(build_request("POST", "/", headers=headers, body=UNREAD[: len(UNREAD) // 2]))
        response = conn.read_response()
        assert response.status in (200, 403)
        assert response.header("connection") == "close"
        assert conn.is_closed()


def test_an_app_that_keeps_an_unread_body_does_not_hang_the_connection(serve):
    """The app answers without reading and keeps its request (and ``wsgi.input``) alive.
    amphicorn must still let go of the body once the response is out: the connection then
    either closes, having said so, or serves the next request. It used to hang now and then,
    the next request never answered, because the body was held for a reader that never came."""
    server = serve("apps.input:keep_request")
    for _ in range(30):
        with RawConnection.to(server, timeout=5) as conn:
            response = conn.request("POST", "/", body=UNREAD)
            assert response.body == b"kept"
            if response.header("connection") == "close":
                assert conn.is_closed()
            else:
                assert conn.request("GET", "/").body == b"kept"


@pytest.mark.parametrize("app", ["apps.input:checksum", "asgi:asgi_apps.raw:checksum"])
def test_a_large_body_read_in_full_keeps_the_connection(serve, app):
    server = serve(app)
    with RawConnection.to(server) as conn:
        for _ in range(3):
            response = conn.request("POST", "/", body=UNREAD)
            assert response.status == 200
            assert json.loads(response.body)["bytes"] == len(UNREAD)
            assert response.header("connection") is None
        assert not conn.is_closed(timeout=0.3)


# --- chunked both ways -----------------------------------------------------------------------


def test_chunked_request_body(serve):
    server = serve(ECHO)
    body = chunked(b"hello ", b"chunked ", b"world" * 1000)
    with RawConnection.to(server) as conn:
        response = conn.request("POST", "/?method=read_n&n=4096", headers=[("Transfer-Encoding", "chunked")], body=body)
    assert response.status == 200
    data = json.loads(response.body)
    assert "".join(data["pieces"]) == "hello chunked " + "world" * 1000
    assert data["content_length"] in (None, "")


def test_chunked_request_body_from_httpx_generator(serve):
    server = serve(ECHO)

    def parts():
        for i in range(50):
            yield b"%04d-" % i

    with httpx.Client(base_url=server.url) as client:
        response = client.post("/?method=read", content=parts())
    assert response.status_code == 200
    assert "".join(response.json()["pieces"]) == "".join(f"{i:04d}-" for i in range(50))


def test_chunked_request_with_chunk_extensions_and_trailers(serve):
    server = serve(ECHO)
    body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    with RawConnection.to(server) as conn:
        response = conn.request("POST", "/?method=read", headers=[("Transfer-Encoding", "chunked")], body=body)
        assert response.status == 200
        assert json.loads(response.body)["pieces"] == ["hello world"]
        # The connection is still usable: the trailer was consumed, not taken as a request.
        assert conn.request("POST", "/?method=read", body=b"next").status == 200


def test_generator_response_is_chunked_on_the_wire(serve):
    server = serve("apps.response:generator_body")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/?count=4&size=100")
    assert response.status == 200
    assert response.chunked
    assert response.header("content-length") is None
    assert response.complete
    assert response.body == b"a" * 100 + b"b" * 100 + b"c" * 100 + b"d" * 100


# --- Expect: 100-continue --------------------------------------------------------------------


def test_100_continue_is_sent_only_when_the_app_reads(serve):
    server = serve("apps.input:expect_read")
    with RawConnection.to(server) as conn:
        conn.send(
            build_request(
                "POST",
                "/?delay=1.0",
                headers=[("Expect", "100-continue"), ("Content-Length", "5")],
            )
        )
        started = time.monotonic()
        # The app sleeps 1 s before reading: nothing may arrive before that.
        early = conn.recv_some(timeout=0.6)
        assert early is None, f"got {early!r} before the app read wsgi.input"
        interim = conn.read_head()
        elapsed = time.monotonic() - started
        assert interim.status == 100, interim
        assert elapsed >= 0.9, f"100 Continue after {elapsed:.2f}s, before the app read"
        conn.send(b"hello")
        response = conn.read_response()
    assert response.status == 200
    assert response.body == b"got:hello"


def test_100_continue_is_not_sent_when_the_app_never_reads(serve):
    server = serve("apps.input:expect_ignore")
    with RawConnection.to(server) as conn:
        conn.send(
            build_request(
                "POST",
                "/",
                headers=[("Expect", "100-continue"), ("Content-Length", "100000")],
            )
        )
        response = conn.read_response(skip_interim=False)
    assert response.status == 403
    assert response.body == b"ignored"


def test_100_continue_with_httpx_style_immediate_body(serve):
    """Clients that send the body without waiting for 100 Continue must work too."""
    server = serve("apps.input:expect_read")
    with RawConnection.to(server) as conn:
        conn.send(build_request("POST", "/", headers=[("Expect", "100-continue")], body=b"eager"))
        response = conn.read_response()
    assert response.status == 200
    assert response.body == b"got:eager"


# --- HEAD ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "path"),
    [
        ("apps.basic:hello", "/"),
        ("apps.response:generator_body", "/?count=3&size=1000"),
        ("apps.response:generator_body", "/?count=3&size=1000&length=1"),
        ("apps.response:list_body", "/?parts=3"),
    ],
)
def test_head_sends_headers_but_no_body(serve, app, path):
    server = serve(app)
    with RawConnection.to(server) as conn:
        get = conn.request("GET", path)
        head = conn.request("HEAD", path)
        assert head.status == 200
        assert head.header("content-type") == get.header("content-type")
        if get.header("content-length") is not None and head.header("content-length") is not None:
            assert head.header("content-length") == get.header("content-length")
        # No body bytes follow: the next response on this connection parses cleanly.
        again = conn.request("GET", path)
        assert again.status == 200
        assert again.body == get.body


def test_head_calls_close_on_the_iterable(serve, tmp_path):
    server = serve("apps.response:tracked")
    log = tmp_path / "close.log"
    with RawConnection.to(server) as conn:
        assert conn.request("HEAD", f"/?record={log}").status == 200
    assert "close" in wait_for_file(log, lambda t: "close" in t)


# --- HTTP/1.0 --------------------------------------------------------------------------------


def test_http10_request_gets_a_compatible_answer_and_close(hello):
    with RawConnection.to(hello) as conn:
        response = conn.request("GET", "/", version="HTTP/1.0")
        assert response.version in ("HTTP/1.0", "HTTP/1.1")
        assert response.status == 200
        assert response.body == b"Hello, world!"
        assert response.header("transfer-encoding") is None
        assert conn.is_closed()


def test_http10_streamed_response_is_close_delimited_not_chunked(serve):
    server = serve("apps.response:generator_body")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/?count=3&size=50", version="HTTP/1.0")
        assert response.status == 200
        assert response.header("transfer-encoding") is None
        assert response.body == b"a" * 50 + b"b" * 50 + b"c" * 50
        assert conn.eof


def test_http10_keep_alive_when_asked(hello):
    with RawConnection.to(hello) as conn:
        first = conn.request("GET", "/", version="HTTP/1.0", headers=[("Connection", "keep-alive")])
        assert first.status == 200
        assert first.body == b"Hello, world!"
        assert first.header("content-length") == "13"
        second = conn.request("GET", "/", version="HTTP/1.0", headers=[("Connection", "keep-alive")])
        assert second.body == b"Hello, world!"


def test_http10_server_protocol_in_environ(serve):
    server = serve(DUMP)
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/", version="HTTP/1.0")
    assert json.loads(response.body)["str"]["SERVER_PROTOCOL"] == "HTTP/1.0"


# --- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nThis is not a header line\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["garbage-line", "bad-header-line", "bad-content-length", "bad-chunk-size"],
)
def test_malformed_request_gets_400_and_close(serve, garbage):
    server = serve(ECHO)
    with RawConnection.to(server) as conn:
        conn.send(garbage)
        response = conn.read_response()
        assert response.status == 400
        assert conn.is_closed()


def test_conflicting_content_length_and_transfer_encoding_is_rejected(serve):
    server = serve(ECHO)
    with RawConnection.to(server) as conn:
        conn.send(b"POST /?method=read HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 7\r\n\r\nabcdefg")
        response = conn.read_response()
        assert response.status == 400
        assert conn.is_closed()


def test_malformed_request_does_not_affect_other_connections(hello):
    with RawConnection.to(hello) as good:
        assert good.request("GET", "/").status == 200
        for _ in range(5):
            with RawConnection.to(hello) as bad:
                bad.send(b"GARBAGE\r\n\r\n")
                assert bad.read_response().status == 400
        # The open keep-alive connection still works, and so do new ones.
        assert good.request("GET", "/").body == b"Hello, world!"
    with httpx.Client() as client:
        assert client.get(hello.url).text == "Hello, world!"


def test_client_that_closes_mid_headers_costs_nothing(hello):
    for _ in range(10):
        with RawConnection.to(hello) as conn:
            conn.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Half")
    with httpx.Client() as client:
        assert client.get(hello.url).text == "Hello, world!"
