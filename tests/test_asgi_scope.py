"""The ASGI ``http`` scope, field by field, as a raw ASGI app sees it (asgi_apps.raw:scope_echo)."""

from __future__ import annotations

import json

import pytest
from asgi_apps._util import decode
from conftest import start_server
from support import RawConnection, build_request


@pytest.fixture(scope="module")
def echo_server():
    server = start_server("asgi_apps.raw:scope_echo")
    yield server
    server.stop()


def get_scope(server, method: str = "GET", path: str = "/", **kwargs):
    """(scope, the app's whole report, our socket's local address) for one request."""
    with RawConnection.to(server) as conn:
        response = conn.request(method, path, **kwargs)
        local = conn.sock.getsockname()
    assert response.status == 200, response
    report = json.loads(response.body)
    return decode(report["scope"]), report, local


def test_scope_type_versions_and_scheme(echo_server):
    scope, report, _ = get_scope(echo_server)
    assert report["scope_type"] == "dict"
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "http"
    assert scope["root_path"] == ""


def test_scope_has_the_spec_s_keys_each_set(echo_server):
    scope, _, _ = get_scope(echo_server)
    spec = {"type", "asgi", "http_version", "method", "scheme", "path", "raw_path", "query_string", "root_path"}
    spec |= {"headers", "client", "server", "extensions", "state"}
    assert set(scope) == spec
    assert [key for key, value in scope.items() if value is None] == []


def test_http_1_0_version(echo_server):
    scope, _, _ = get_scope(echo_server, version="HTTP/1.0")
    assert scope["http_version"] == "1.0"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"])
def test_method_is_upper_case_string_as_sent(echo_server, method):
    scope, report, _ = get_scope(echo_server, method, "/m", body=b"x" if method in ("POST", "PUT", "PATCH") else b"")
    assert scope["method"] == method
    assert report["body"] == ("x" if method in ("POST", "PUT", "PATCH") else "")


def test_path_is_percent_decoded_utf8_and_raw_path_is_as_sent(echo_server):
    target = "/caf%C3%A9/a%2Fb/%20x%25/a+b//end"
    scope, _, _ = get_scope(echo_server, "GET", target + "?a=%20b&c=d+e&%C3%A9=&flag")
    assert scope["path"] == "/café/a/b/ x%/a+b//end"
    assert scope["raw_path"] == target.encode()
    assert scope["query_string"] == b"a=%20b&c=d+e&%C3%A9=&flag"


def test_empty_query_string_and_root(echo_server):
    scope, _, _ = get_scope(echo_server, "GET", "/")
    assert scope["path"] == "/"
    assert scope["raw_path"] == b"/"
    assert scope["query_string"] == b""


def test_empty_query_after_question_mark(echo_server):
    scope, _, _ = get_scope(echo_server, "GET", "/p?")
    assert scope["path"] == "/p"
    assert scope["raw_path"] == b"/p"
    assert scope["query_string"] == b""


def test_headers_are_lowercase_byte_pairs_with_repeats_in_order(echo_server):
    headers = [
        ("X-Custom", "One"),
        ("Accept", "text/html"),
        ("x-custom", "two"),
        ("X-UPPER-Name", "Value With CAPS"),
        ("Cookie", "a=1"),
        ("Cookie", "b=2"),
        ("X-Empty", ""),
    ]
    scope, _, _ = get_scope(echo_server, "GET", "/", headers=headers, host="example.test:8080")
    # ASGI: "Order of header values must be preserved from the original HTTP request; order
    # of header names is not important." hyper groups a repeated name's values at its first
    # occurrence, which keeps every value's order within its name.
    pairs = [tuple(pair) for pair in scope["headers"]]
    assert sorted(pairs) == sorted(
        [
            (b"host", b"example.test:8080"),
            (b"x-custom", b"One"),
            (b"accept", b"text/html"),
            (b"x-custom", b"two"),
            (b"x-upper-name", b"Value With CAPS"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"x-empty", b""),
        ]
    )
    assert [value for name, value in pairs if name == b"x-custom"] == [b"One", b"two"]
    assert [value for name, value in pairs if name == b"cookie"] == [b"a=1", b"b=2"]
    for name, value in scope["headers"]:
        assert type(name) is bytes
        assert type(value) is bytes


def test_repeated_headers_are_kept_in_their_relative_order(echo_server):
    headers = [("Cookie", "a=1"), ("X-Multi", "first"), ("Cookie", "b=2"), ("X-Multi", "second")]
    scope, _, _ = get_scope(echo_server, "GET", "/", headers=headers)
    pairs = [tuple(pair) for pair in scope["headers"]]
    assert [value for name, value in pairs if name == b"cookie"] == [b"a=1", b"b=2"]
    assert [value for name, value in pairs if name == b"x-multi"] == [b"first", b"second"]


def test_header_values_keep_non_ascii_bytes(echo_server):
    scope, _, _ = get_scope(echo_server, "GET", "/", headers=[("X-Latin", "caf\xe9 \xff")])
    assert (b"x-latin", b"caf\xe9 \xff") in [tuple(pair) for pair in scope["headers"]]


def test_body_headers_are_in_scope(echo_server):
    scope, report, _ = get_scope(echo_server, "POST", "/", body=b"abc", headers=[("Content-Type", "text/plain")])
    headers = [tuple(pair) for pair in scope["headers"]]
    assert (b"content-length", b"3") in headers
    assert (b"content-type", b"text/plain") in headers
    assert report["body"] == "abc"


def test_client_and_server_addresses(echo_server):
    scope, _, local = get_scope(echo_server)
    assert tuple(scope["client"]) == ("127.0.0.1", local[1])
    assert tuple(scope["server"]) == ("127.0.0.1", echo_server.port)
    assert type(scope["client"][1]) is int
    assert type(scope["server"][1]) is int


def test_ipv6_client_and_server_addresses(serve):
    server = serve("asgi_apps.raw:scope_echo", bind="[::1]:0")
    scope, _, local = get_scope(server)
    assert tuple(scope["client"]) == ("::1", local[1])
    assert tuple(scope["server"]) == ("::1", server.port)


def test_state_is_an_empty_dict_when_lifespan_sets_nothing(echo_server):
    scope, _, _ = get_scope(echo_server)
    assert scope["state"] == {}


def test_each_request_gets_its_own_scope_on_a_kept_alive_connection(echo_server):
    with RawConnection.to(echo_server) as conn:
        first = conn.request("GET", "/first?n=1")
        conn.send(build_request("POST", "/second", body=b"2nd"))
        second = conn.read_response()
        local = conn.sock.getsockname()
    one, two = (decode(json.loads(r.body)["scope"]) for r in (first, second))
    assert (one["method"], one["path"], one["query_string"]) == ("GET", "/first", b"n=1")
    assert (two["method"], two["path"], two["query_string"]) == ("POST", "/second", b"")
    assert tuple(one["client"]) == tuple(two["client"]) == ("127.0.0.1", local[1])


def test_app_runs_in_a_loop_thread_not_the_main_thread(echo_server):
    _, report, _ = get_scope(echo_server)
    assert report["main_thread"] is False
