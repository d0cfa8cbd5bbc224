"""Request targets and methods that are not a path on a resource: `OPTIONS *` (the server as a
whole, RFC 9110 §9.3.7, RFC 9112 §3.2.4) and `CONNECT` (we are not a proxy), and a request
line too long for the head buffer (414, not 431). Raw sockets: httpx cannot send these."""

from __future__ import annotations

import json

import pytest
from support import RawConnection, build_request

LEGACY = "apps.mounts:legacy"
API = "asgi:apps.mounts:api"


def _mount(point: str, app: str) -> str:
    return f"--mount={point}={app}"


# --- OPTIONS * ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        (LEGACY, {"app": "legacy", "script_name": "", "path_info": "*", "body_length": 0}),
        (API, {"app": "api", "root_path": "", "path": "*", "body_length": 0}),
    ],
    ids=["wsgi", "asgi"],
)
def test_options_asterisk_reaches_the_root_mount_with_path_asterisk(serve, app, expected):
    server = serve(_mount("/", app), _mount("/other", LEGACY))
    with RawConnection.to(server) as conn:
        response = conn.request("OPTIONS", "*")
        assert response.status == 200, response
        assert json.loads(response.body) == expected
        # The connection stays usable.
        assert conn.request("GET", "/other/x").status == 200


def test_options_asterisk_without_a_root_mount_lists_the_methods(serve):
    server = serve(_mount("/api", API))
    with RawConnection.to(server) as conn:
        response = conn.request("OPTIONS", "*")
        assert response.status == 200
        assert response.header("content-length") == "0"
        assert response.body == b""
        allowed = {method.strip() for method in (response.header("allow") or "").split(",")}
        assert {"GET", "HEAD", "POST", "OPTIONS"} <= allowed
        assert "CONNECT" not in allowed
        assert conn.request("GET", "/api/x").status == 200


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_other_methods_with_an_asterisk_get_400(serve, method):
    server = serve(_mount("/", LEGACY))
    with RawConnection.to(server) as conn:
        assert conn.request(method, "*").status == 400


# --- CONNECT -----------------------------------------------------------------------------------


@pytest.mark.parametrize("app", [LEGACY, API], ids=["wsgi", "asgi"])
def test_connect_gets_501_and_close_before_any_app(serve, app):
    # Both apps would answer any request with 200 and a JSON body.
    server = serve(_mount("/", app))
    with RawConnection.to(server) as conn:
        conn.send(build_request("CONNECT", "example.com:443", host="example.com:443"))
        response = conn.read_response()
        assert response.status == 501
        assert (response.header("connection") or "").lower() == "close"
        assert b"app" not in response.body
        assert conn.is_closed()
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/x").status == 200


# --- 414 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [20_000, 200 * 1024])
def test_a_uri_too_long_for_the_head_buffer_gets_414(serve, size):
    server = serve(LEGACY, "--max-header-size", "16384")
    with RawConnection.to(server) as conn:
        conn.send(b"GET /" + b"a" * size + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        response = conn.read_head()
        assert response.status == 414
        assert response.reason == "URI Too Long"
    # A later request on a kept-alive connection too.
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/x").status == 200
        conn.send(b"GET /" + b"a" * size + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.read_head().status == 414


@pytest.mark.parametrize("size", [20_000, 200 * 1024])
def test_a_header_too_long_for_the_head_buffer_still_gets_431(serve, size):
    server = serve(LEGACY, "--max-header-size", "16384")
    with RawConnection.to(server) as conn:
        conn.send(build_request("GET", "/x", headers=[("X-Big", "b" * size)]))
        assert conn.read_head().status == 431
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/x").status == 200
        conn.send(build_request("GET", "/x", headers=[("X-Big", "b" * size)]))
        assert conn.read_head().status == 431
