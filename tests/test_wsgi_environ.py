"""The WSGI environ (PEP 3333 and SPEC §3), seen from inside a validated app."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from support import RawConnection, wait_for_file

DUMP = "apps.basic:environ_dump"


@pytest.fixture
def dump_server(serve):
    return serve(DUMP)


def _dump(conn: RawConnection, *args, **kwargs) -> dict:
    response = conn.request(*args, **kwargs)
    assert response.status == 200, response
    return json.loads(response.body)


def _dump_one(server, *args, **kwargs) -> dict:
    with RawConnection.to(server) as conn:
        return _dump(conn, *args, **kwargs)


def test_required_keys_and_their_values(dump_server):
    with RawConnection.to(dump_server) as conn:
        client_port = conn.sock.getsockname()[1]
        data = _dump(conn, "GET", "/some/path?a=1&b=two", host=f"127.0.0.1:{dump_server.port}")
    env = data["str"]
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/some/path"
    assert env["QUERY_STRING"] == "a=1&b=two"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] in ("127.0.0.1", "localhost")
    assert env["SERVER_PORT"] == str(dump_server.port)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(client_port)
    assert env["HTTP_HOST"] == f"127.0.0.1:{dump_server.port}"
    assert env["wsgi.url_scheme"] == "http"
    assert data["wsgi.version"] == [1, 0]
    assert data["wsgi.version_type"] == "tuple"
    assert data["wsgi.multithread"] is True
    assert data["wsgi.multiprocess"] is False
    assert data["wsgi.run_once"] is False
    assert data["wsgi.input_terminated"] is True


def test_wsgi_objects_have_the_pep_3333_interfaces(dump_server):
    data = _dump_one(dump_server, "GET", "/")
    assert data["input_methods"] == ["read", "readline", "readlines", "__iter__"]
    assert data["errors_methods"] == ["write", "writelines", "flush"]
    assert data["file_wrapper_callable"] is True
    assert data["disconnected_callable"] is True
    assert data["disconnected_value"] is False
    for key in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper", "amphicorn.disconnected"):
        assert key in data["types"], f"{key} missing from environ"


def test_every_non_extension_key_is_a_str(dump_server):
    """PEP 3333: CGI keys are native strings; only dotted (extension) keys may be other types."""
    data = _dump_one(dump_server, "POST", "/x?y", headers=[("Content-Type", "text/plain")], body=b"b")
    non_str = {k: t for k, t in data["types"].items() if "." not in k}
    assert non_str == {}


def test_no_key_is_left_none(dump_server):
    """Each environ is a copy of one made at start-up, with its keys set per request."""
    for method in ("GET", "POST"):
        data = _dump_one(dump_server, method, "/")
        assert [key for key, kind in data["types"].items() if kind == "NoneType"] == [], method


def test_query_string_is_raw_and_present_when_empty(dump_server):
    with RawConnection.to(dump_server) as conn:
        assert _dump(conn, "GET", "/p?q=caf%C3%A9+x&r=%2F&s")["str"]["QUERY_STRING"] == "q=caf%C3%A9+x&r=%2F&s"
        assert _dump(conn, "GET", "/p")["str"]["QUERY_STRING"] == ""
        assert _dump(conn, "GET", "/p?")["str"]["QUERY_STRING"] == ""


@pytest.mark.parametrize(
    ("raw_path", "path_info"),
    [
        ("/caf%C3%A9", "/caf\xc3\xa9"),
        ("/a%20b", "/a b"),
        ("/a+b", "/a+b"),
        ("/a%2Fb", "/a/b"),
        ("/%E2%82%AC/x", "/\xe2\x82\xac/x"),
        ("/", "/"),
    ],
)
def test_path_info_is_percent_decoded_then_latin1(dump_server, raw_path, path_info):
    data = _dump_one(dump_server, "GET", raw_path)
    assert data["str"]["PATH_INFO"] == path_info
    assert data["str"]["SCRIPT_NAME"] == ""


def test_path_info_round_trips_to_the_original_bytes(dump_server):
    """What frameworks do: PATH_INFO.encode('latin-1').decode('utf-8') gives the real path."""
    data = _dump_one(dump_server, "GET", "/%E6%97%A5%E6%9C%AC")
    assert data["str"]["PATH_INFO"].encode("latin-1").decode("utf-8") == "/日本"


def test_content_type_and_length_only_when_sent(dump_server):
    with RawConnection.to(dump_server) as conn:
        get = _dump(conn, "GET", "/")
        post = _dump(conn, "POST", "/", headers=[("Content-Type", "application/x-thing")], body=b"abc")
    assert "CONTENT_TYPE" not in get["keys"]
    assert "CONTENT_LENGTH" not in get["keys"]
    assert post["str"]["CONTENT_TYPE"] == "application/x-thing"
    assert post["str"]["CONTENT_LENGTH"] == "3"
    assert post["body"] == "abc"
    for data in (get, post):
        assert "HTTP_CONTENT_TYPE" not in data["keys"]
        assert "HTTP_CONTENT_LENGTH" not in data["keys"]


def test_request_method_passes_through(dump_server):
    with RawConnection.to(dump_server) as conn:
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            assert (
                _dump(conn, method, "/", body=b"x" if method in ("POST", "PUT", "PATCH") else b"")["str"][
                    "REQUEST_METHOD"
                ]
                == method
            )


def test_headers_become_http_keys(dump_server):
    data = _dump_one(
        dump_server,
        "GET",
        "/",
        headers=[("X-Custom-Thing", "value 1"), ("Accept", "text/html"), ("User-Agent", "raw/1.0")],
    )
    env = data["str"]
    assert env["HTTP_X_CUSTOM_THING"] == "value 1"
    assert env["HTTP_ACCEPT"] == "text/html"
    assert env["HTTP_USER_AGENT"] == "raw/1.0"


# The request headers whose environ keys amphicorn makes once (`src/interned.rs`), and one
# it makes per request: each must come out under its CGI name, with its value.
COMMON_HEADERS = [
    "User-Agent",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Connection",
    "Cookie",
    "Referer",
    "Origin",
    "Authorization",
    "Cache-Control",
    "Pragma",
    "If-None-Match",
    "If-Modified-Since",
    "Upgrade-Insecure-Requests",
    "Sec-Fetch-Dest",
    "Sec-Fetch-Mode",
    "Sec-Fetch-Site",
    "Sec-Fetch-User",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Real-IP",
    "X-Request-ID",
    "X-Requested-With",
    "X-CSRFToken",
    "Traceparent",
    "X-Not-Common",
]


def test_common_headers_become_their_http_keys(dump_server):
    headers = [(name, f"value of {name}") for name in COMMON_HEADERS]
    env = _dump_one(dump_server, "GET", "/", headers=headers)["str"]
    for name, value in headers:
        assert env["HTTP_" + name.upper().replace("-", "_")] == value, name
    assert env["HTTP_HOST"]


def test_repeated_headers_are_joined_with_comma(dump_server):
    data = _dump_one(
        dump_server,
        "GET",
        "/",
        headers=[("X-Multi", "one"), ("Accept", "a/b"), ("X-Multi", "two"), ("x-multi", "three")],
    )
    assert data["str"]["HTTP_X_MULTI"] == "one, two, three"


def test_repeated_cookie_headers_are_joined_with_semicolon(dump_server):
    data = _dump_one(dump_server, "GET", "/", headers=[("Cookie", "a=1"), ("Cookie", "b=2; c=3")])
    assert data["str"]["HTTP_COOKIE"] == "a=1; b=2; c=3"


def test_headers_with_underscores_are_dropped(dump_server):
    data = _dump_one(dump_server, "GET", "/", headers=[("X_Auth_User", "evil"), ("X-Auth-User", "good")])
    assert data["str"]["HTTP_X_AUTH_USER"] == "good"
    data = _dump_one(dump_server, "GET", "/", headers=[("X_Only_Underscore", "evil")])
    assert "HTTP_X_ONLY_UNDERSCORE" not in data["keys"]


def test_header_values_are_latin1_decoded(dump_server):
    with RawConnection.to(dump_server) as conn:
        conn.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Latin: caf\xe9\r\n\r\n")
        response = conn.read_response()
    assert response.status == 200
    assert json.loads(response.body)["str"]["HTTP_X_LATIN"] == "caf\xe9"


def test_environ_does_not_leak_between_requests_on_one_connection(dump_server):
    with RawConnection.to(dump_server) as conn:
        first = _dump(conn, "POST", "/one?x=1", headers=[("X-Once", "1"), ("Content-Type", "a/b")], body=b"z")
        second = _dump(conn, "GET", "/two")
    assert first["str"]["HTTP_X_ONCE"] == "1"
    assert "HTTP_X_ONCE" not in second["keys"]
    assert "CONTENT_TYPE" not in second["keys"]
    assert "CONTENT_LENGTH" not in second["keys"]
    assert second["str"]["PATH_INFO"] == "/two"
    assert second["str"]["QUERY_STRING"] == ""


def test_remote_port_differs_per_connection(dump_server):
    ports = {_dump_one(dump_server, "GET", "/")["str"]["REMOTE_PORT"] for _ in range(3)}
    assert len(ports) == 3


def test_wsgi_errors_goes_to_the_server_log(dump_server):
    marker = "wsgi-errors-marker-5d1c"
    _dump_one(dump_server, "GET", f"/?errors={marker}")
    assert dump_server.wait_for_stderr(marker), dump_server.stderr()


def test_httpx_sees_the_same_environ(dump_server):
    with httpx.Client() as client:
        data = client.get(dump_server.url + "/via/httpx", params={"k": "v w"}).json()
    assert data["str"]["PATH_INFO"] == "/via/httpx"
    assert data["str"]["QUERY_STRING"] == "k=v+w"


def test_validator_raised_no_warnings(dump_server):
    """wsgiref.validate warns (WSGIWarning) about environ problems it does not assert on."""
    with RawConnection.to(dump_server) as conn:
        _dump(conn, "GET", "/")
        _dump(conn, "POST", "/", body=b"abc", headers=[("Content-Type", "text/plain")])
    # Once the server has exited, everything it would ever write to stderr is there.
    assert dump_server.stop() == 0
    assert "WSGIWarning" not in dump_server.stderr()


# --- amphicorn.disconnected ------------------------------------------------------------------


def test_disconnected_turns_true_when_the_client_goes_away(serve, tmp_path):
    server = serve("apps.basic:wait_for_disconnect")
    log = tmp_path / "disconnect.log"
    with RawConnection.to(server) as conn:
        conn.send(f"GET /?record={log}&timeout=10 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert "started" in wait_for_file(log, lambda t: "started" in t)
        # The app has looked five times while the client was still there.
        text = wait_for_file(log, lambda t: t.count("still connected") >= 5)
        assert "disconnected" not in text, "reported disconnected while connected"
        assert text.count("still connected") >= 5, text
        conn.sock.shutdown(socket.SHUT_RDWR)
    started = time.monotonic()
    text = wait_for_file(log, lambda t: "disconnected" in t or "timeout" in t, timeout=12)
    assert "disconnected" in text, text
    assert time.monotonic() - started < 5
