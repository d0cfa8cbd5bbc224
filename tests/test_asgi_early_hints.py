"""ASGI's ``http.response.early_hint`` extension end to end: offered on HTTP/1.1 and HTTP/2; an
app's hints reach a raw HTTP/1.1 client, a raw HTTP/2 client (and curl, over both) as ``103
Early Hints`` responses, each with its ``link`` fields, while the app is still working (before
the final answer is made), on a connection that carries on; dropped on HTTP/1.0, where the
extension is not offered; an error after the response has started, or for a link that is not a
field value."""

from __future__ import annotations

import subprocess

import h2.events
import pytest
import trustme
from admin_support import admin_url, scrape
from curl_support import curl_binary
from h2_client import RawH2
from support import RawConnection, build_request, wait_until
from tls_support import client_context, tls_args, write_pair

pytestmark = pytest.mark.timeout(30)

APP = "asgi:asgi_apps.raw:early_hints"
FIRST = [("link", "</style.css>; rel=preload; as=style")]
SECOND = [("link", "</app.js>; rel=preload"), ("link", "</font.woff2>")]


def _read_hints(conn: RawConnection) -> list[list[tuple[str, str]]]:
    """The two 103s the app sends first."""
    hints = []
    for _ in range(2):
        head = conn.read_head()
        assert (head.version, head.status, head.reason) == ("HTTP/1.1", 103, "Early Hints")
        hints.append(head.headers)
    return hints


def test_hints_reach_an_http11_client_while_the_app_still_works(serve):
    server = serve(APP)
    with RawConnection.to(server) as conn, RawConnection.to(server) as other:
        conn.send(build_request("GET", "/hint"))
        # The app now waits for /release: the 103s can only have been sent before the answer.
        assert _read_hints(conn) == [FIRST, SECOND]
        assert other.request("GET", "/release").body == b"released"
        response = conn.read_response(skip_interim=False)
        assert (response.status, response.body, response.header("x-hints-offered")) == (200, b"final", "yes")
        # The connection carries on, and the next request's hints come with it.
        conn.send(build_request("POST", "/hint", body=b""))
        assert _read_hints(conn) == [FIRST, SECOND]
        assert conn.read_response(skip_interim=False).body == b"final"


def test_pipelined_requests_get_their_hints_after_the_answer_before(serve):
    server = serve(APP)
    with RawConnection.to(server) as conn, RawConnection.to(server) as other:
        # Both heads in one write: hyper holds the second while it answers the first.
        conn.send(build_request("GET", "/offered") + build_request("GET", "/hint"))
        first = conn.read_response(skip_interim=False)
        assert (first.status, first.header("x-hints-offered")) == (200, "yes")
        assert _read_hints(conn) == [FIRST, SECOND]
        assert other.request("GET", "/release").body == b"released"
        assert conn.read_response(skip_interim=False).body == b"final"


def test_hints_reach_an_https_client_at_once(serve, ca: trustme.CA, tmp_path):
    # Through rustls too, and out before the answer is made.
    pair = write_pair(tmp_path, ca.issue_cert("127.0.0.1"), "server")
    server = serve(APP, *tls_args(pair))
    context = client_context(ca)
    context.set_alpn_protocols(["http/1.1"])
    with RawConnection.to(server) as conn, RawConnection.to(server) as other:
        conn.sock = context.wrap_socket(conn.sock, server_hostname="127.0.0.1")
        other.sock = context.wrap_socket(other.sock, server_hostname="127.0.0.1")
        conn.send(build_request("GET", "/hint"))
        assert _read_hints(conn) == [FIRST, SECOND]
        assert other.request("GET", "/release").body == b"released"
        assert conn.read_response(skip_interim=False).body == b"final"


def test_hints_reach_a_client_behind_a_trusted_proxy(serve):
    # The request sees the proxy's view of the connection (a new one per request): the hints
    # still go out on the socket it came by.
    server = serve(APP, "--forwarded-allow-ips", "127.0.0.1")
    with RawConnection.to(server) as conn:
        conn.send(build_request("POST", "/hint", headers=[("X-Forwarded-For", "203.0.113.7")], body=b""))
        assert _read_hints(conn) == [FIRST, SECOND]
        assert conn.read_response(skip_interim=False).body == b"final"


def test_hints_go_out_while_the_app_waits_for_the_request_body(serve):
    # Only the first piece pre-read: the app runs on it, and the rest streams.
    server = serve(APP, "--preread-limit", "0")
    with RawConnection.to(server) as conn:
        conn.send(b"POST /hint HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbo")
        assert _read_hints(conn) == [FIRST, SECOND]
        conn.send(b"dy")
        response = conn.read_response(skip_interim=False)
        assert (response.status, response.body) == (200, b"final")


@pytest.mark.parametrize(("option", "version"), [("--http1.1", "HTTP/1.1"), ("--http2-prior-knowledge", "HTTP/2")])
def test_curl_shows_the_103s_before_the_answer(serve, tmp_path, option, version):
    server = serve(APP)
    dump = tmp_path / "headers.txt"
    command = [curl_binary(), "-sS", option, "--max-time", "20", "-X", "POST", "-D", str(dump), server.url + "/hint"]
    done = subprocess.run(command, capture_output=True, timeout=30, check=False)
    assert (done.returncode, done.stdout) == (0, b"final"), done.stderr
    blocks = dump.read_bytes().decode("latin-1").rstrip("\r\n").split("\r\n\r\n")
    statuses = [block.split("\r\n")[0].rstrip() for block in blocks]
    if version == "HTTP/1.1":
        assert statuses == ["HTTP/1.1 103 Early Hints", "HTTP/1.1 103 Early Hints", "HTTP/1.1 200 OK"]
    else:
        assert statuses == ["HTTP/2 103", "HTTP/2 103", "HTTP/2 200"]
    assert blocks[1].split("\r\n")[1:] == ["link: </app.js>; rel=preload", "link: </font.woff2>"]


def test_http10_is_not_offered_the_extension_and_its_hints_are_dropped(serve):
    server = serve(APP)
    with RawConnection.to(server) as conn, RawConnection.to(server) as other:
        conn.send(build_request("POST", "/hint", body=b"", version="HTTP/1.0"))
        response = conn.read_response(skip_interim=False)
        assert (response.version, response.status, response.body) == ("HTTP/1.0", 200, b"final")
        assert response.header("x-hints-offered") == "no"
        assert other.request("GET", "/offered").header("x-hints-offered") == "yes"


def _h2_hints(raw: RawH2, stream: int) -> list[list[tuple[str, str]]]:
    """The 103s seen so far on `stream`, each its fields but the status."""
    return [
        [
            (name.decode() if isinstance(name, bytes) else name, value.decode() if isinstance(value, bytes) else value)
            for name, value in event.headers
            if name not in (b":status", ":status")
        ]
        for event in raw.seen
        if isinstance(event, h2.events.InformationalResponseReceived) and event.stream_id == stream
    ]


def test_hints_reach_an_http2_client_while_the_app_still_works(serve):
    server = serve(APP)
    with RawH2.to(server) as raw:
        stream = raw.request("/hint")
        # The app now waits for /release: the 103s can only have been sent before the answer.
        assert raw.events_until(lambda: len(_h2_hints(raw, stream)) == 2), raw.seen
        assert _h2_hints(raw, stream) == [FIRST, SECOND]
        released = raw.request("/release")
        assert raw.response(released)[2] == b"released"
        status, headers, body = raw.response(stream)
        assert (status, headers["x-hints-offered"], body) == (200, "yes", b"final")
        # Each stream has its own: the next request's hints come with it.
        again = raw.request("/hint", method="POST")
        assert raw.response(again)[::2] == (200, b"final")
        assert _h2_hints(raw, again) == [FIRST, SECOND]


def test_a_hint_after_the_response_started_is_an_error(serve):
    server = serve(APP)
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/late")
    assert response.status == 200
    assert b"unexpected ASGI message 'http.response.early_hint'" in response.body, response.body


def test_a_link_that_is_not_a_field_value_is_refused_and_nothing_is_sent(serve):
    server = serve(APP)
    with RawConnection.to(server) as conn:
        conn.send(build_request("GET", "/bad"))
        response = conn.read_response(skip_interim=False)
    assert response.status == 200
    assert b"invalid value for header b'link'" in response.body, response.body


def test_a_shadow_s_hints_never_reach_the_client(serve, tmp_path):
    # The shadow runs apart from the client, and may send hints while (or after) the primary
    # answers: they must not land on the client's socket, in the middle of its answer.
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        'admin-bind = "127.0.0.1:0"\n\n'
        '[[mount]]\nprefix = "/shop"\nname = "shop"\napp = "apps.basic:hello"\nshadow = "next"\n\n'
        f'[[mount]]\nprefix = "/_next"\nname = "next"\napp = "{APP}"\n'
    )
    server = serve(f"--config={config}")
    admin = admin_url(server)

    def compared() -> float:
        samples = scrape(admin)
        return sum(value for (name, _), value in samples.items() if name == "amphicorn_shadow_comparisons_total")

    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/shop/hint?now=1").status == 200
        wait_until(lambda: compared() >= 1, message="the shadow never ran")
        # Whatever the shadow sent would be read before this answer.
        conn.send(build_request("GET", "/shop/"))
        response = conn.read_response(skip_interim=False)
        assert response.status == 200, response
