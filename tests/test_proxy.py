"""Proxy headers (X-Forwarded-*, RFC 7239 Forwarded) and the PROXY protocol, trusted and not,
for WSGI (environ) and ASGI (scope) apps."""

from __future__ import annotations

import json
import struct

import httpx
import pytest
from asgi_apps._util import decode
from support import RawConnection, build_request

WSGI = "apps.basic:environ_dump"
ASGI = "asgi:asgi_apps.raw:scope_echo"


def seen(server, headers: dict[str, str] | None = None) -> dict:
    """What the app saw of the client: address, scheme and host, for either interface."""
    response = httpx.get(f"{server.url}/where", headers=headers or {})
    assert response.status_code == 200, response.text
    return _facts(response.json())


def _facts(payload: dict) -> dict:
    if "str" in payload:  # WSGI environ dump
        environ = payload["str"]
        return {"client": environ["REMOTE_ADDR"], "scheme": environ["wsgi.url_scheme"], "host": environ["HTTP_HOST"]}
    scope = dict(decode(payload["scope"]))
    headers = dict(scope["headers"])
    return {"client": scope["client"][0], "scheme": scope["scheme"], "host": headers[b"host"].decode()}


@pytest.mark.parametrize("app", [WSGI, ASGI])
def test_a_trusted_proxy_sets_client_scheme_and_host(serve, app):
    server = serve(app)  # 127.0.0.1 is trusted by default, as under uvicorn.
    facts = seen(
        server,
        {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example"},
    )
    assert facts == {"client": "203.0.113.7", "scheme": "https", "host": "shop.example"}
    # Without the headers, the socket's own view.
    assert seen(server)["client"] == "127.0.0.1"
    assert seen(server)["scheme"] == "http"


@pytest.mark.parametrize("app", [WSGI, ASGI])
def test_an_untrusted_peer_changes_nothing(serve, app):
    server = serve(app, "--forwarded-allow-ips", "10.0.0.1")
    facts = seen(server, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert facts["client"] == "127.0.0.1"
    assert facts["scheme"] == "http"


def test_proxy_headers_can_be_turned_off(serve):
    server = serve(WSGI, "--no-proxy-headers")
    assert seen(server, {"X-Forwarded-For": "203.0.113.7"})["client"] == "127.0.0.1"


def test_a_spoofed_entry_in_front_of_the_chain_is_skipped(serve):
    """The client wrote 6.6.6.6 itself; the trusted proxy appended the address it saw."""
    server = serve(WSGI, "--forwarded-allow-ips", "127.0.0.1,10.0.0.0/8")
    facts = seen(server, {"X-Forwarded-For": "6.6.6.6, 203.0.113.7, 10.0.0.2"})
    assert facts["client"] == "203.0.113.7"


@pytest.mark.parametrize("app", [WSGI, ASGI])
def test_rfc_7239_forwarded_wins_over_x_forwarded(serve, app):
    server = serve(app, "--forwarded-allow-ips", "127.0.0.1, 10.0.0.0/8")
    forwarded = 'for=198.51.100.17;proto=https;host="api.example", for=10.0.0.2;proto=http'
    facts = seen(server, {"Forwarded": forwarded, "X-Forwarded-For": "192.0.2.1"})
    assert facts == {"client": "198.51.100.17", "scheme": "https", "host": "api.example"}


def test_trust_from_the_environment_like_uvicorn(serve):
    server = serve(WSGI, env={"FORWARDED_ALLOW_IPS": "10.0.0.1"})
    assert seen(server, {"X-Forwarded-For": "203.0.113.7"})["client"] == "127.0.0.1"
    everyone = serve(WSGI, env={"AMPHICORN_FORWARDED_ALLOW_IPS": "*"})
    assert seen(everyone, {"X-Forwarded-For": "203.0.113.7"})["client"] == "203.0.113.7"


def _proxy_v2(client: tuple[str, int], server: tuple[str, int]) -> bytes:
    addresses = bytes(map(int, client[0].split("."))) + bytes(map(int, server[0].split(".")))
    payload = addresses + struct.pack("!HH", client[1], server[1])
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(payload)) + payload


@pytest.mark.parametrize("app", [WSGI, ASGI])
@pytest.mark.parametrize("version", [1, 2])
def test_proxy_protocol_gives_the_client_address(serve, app, version):
    server = serve(app, "--proxy-protocol")
    if version == 1:
        header = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n"
    else:
        header = _proxy_v2(("203.0.113.7", 51234), ("10.0.0.1", 443))
    with RawConnection.to(server) as conn:
        conn.send(header + build_request("GET", "/where"))
        first = conn.read_response()
        # Keep-alive: the next request on the connection has the same client.
        second = conn.request("GET", "/where")
    for response in (first, second):
        assert response.status == 200
        assert _facts(json.loads(response.body))["client"] == "203.0.113.7"


def test_a_trusted_peer_without_a_proxy_header_is_closed(serve):
    server = serve(WSGI, "--proxy-protocol")
    with RawConnection.to(server) as conn:
        conn.send(build_request("GET", "/where"))
        assert conn.is_closed()
    # An untrusted peer is not expected to send one, and is served as it is.
    plain = serve(WSGI, "--proxy-protocol", "--forwarded-allow-ips", "10.0.0.1")
    assert seen(plain)["client"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--forwarded-allow-ips", "10.0.0.0/33"], "--forwarded-allow-ips"),
        (["--forwarded-allow-ips", "proxy.local"], "--forwarded-allow-ips"),
    ],
)
def test_bad_trust_lists_exit_2(run_cli, args, flag):
    result = run_cli(WSGI, *args)
    assert result.returncode == 2, result
    assert flag in result.stderr
    assert args[1] in result.stderr
