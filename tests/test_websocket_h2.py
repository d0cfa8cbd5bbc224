"""WebSockets over HTTP/2 (RFC 8441) end to end.

No WebSocket client library speaks HTTP/2, so the client here is built from two sans-I/O
halves: ``h2`` (through ``h2_client.RawH2``) sends the extended CONNECT (``:protocol
websocket``) and carries bytes in DATA frames, and ``wsproto``'s client-side connection,
with no handshake of its own, makes and reads the WebSocket frames inside them (masked, as
a client must). The server is the same ASGI echo app as over HTTP/1.1
(``asgi_apps.websocket``): the scope, frames both ways, close codes both ways, denials, and
what is not a WebSocket (a plain CONNECT, a WSGI mount) answered ``501``.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import h2.events
import h2.exceptions
import h2.settings
import pytest
import trustme
from conftest import start_server
from h2_client import RawH2
from hyperframe.frame import DataFrame
from support import wait_for_file
from tls_support import client_context, tls_args, write_pair
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Message, Ping, Pong, TextMessage

pytestmark = pytest.mark.timeout(60)

APP = "asgi_apps.websocket:app"
ENABLE_CONNECT_PROTOCOL = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL


class H2WebSocket:
    """A WebSocket on one stream of ``raw``: the extended CONNECT is sent at once; the
    server's answer is ``response()``, the frames it sends ``next_event()``."""

    def __init__(
        self,
        raw: RawH2,
        path: str,
        *,
        subprotocols: tuple[str, ...] = (),
        scheme: str = "http",
        version: str | None = "13",
    ) -> None:
        self.raw = raw
        self.stream = raw.conn.get_next_available_stream_id()
        headers = [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", scheme),
            (":path", path),
            (":authority", "localhost"),
        ]
        if version is not None:
            headers.append(("sec-websocket-version", version))
        if subprotocols:
            headers.append(("sec-websocket-protocol", ", ".join(subprotocols)))
        raw.conn.send_headers(self.stream, headers)
        raw.flush()
        self.ws = Connection(ConnectionType.CLIENT)
        self.events: list[Event] = []
        self._read = 0  # how many of raw.seen have been looked at

    def response(self) -> tuple[int, dict[str, str]]:
        """The status and headers the server answered the CONNECT with."""
        self.raw.events_until(lambda: self._head() is not None)
        head = self._head()
        assert head is not None, f"no answer on stream {self.stream}: {self.raw.seen}"
        headers = dict(head.headers)
        return int(headers[":status"]), headers

    def _head(self) -> h2.events.ResponseReceived | None:
        found = [e for e in self.raw.seen if isinstance(e, h2.events.ResponseReceived) and e.stream_id == self.stream]
        return found[0] if found else None

    def send(self, event: Event) -> None:
        data = self.ws.send(event)
        try:
            self.raw.conn.send_data(self.stream, data)
        except h2.exceptions.ProtocolError:
            # ``h2`` takes a GOAWAY for the connection's end; the stream is still open.
            self.raw.send_raw(DataFrame(self.stream, data).serialize())
            return
        self.raw.flush()

    def _feed(self) -> bool:
        """Hands the stream's new DATA to wsproto; True once an event is waiting."""
        for event in self.raw.seen[self._read :]:
            if getattr(event, "stream_id", None) != self.stream:
                continue
            if isinstance(event, h2.events.DataReceived) and event.data:
                self.ws.receive_data(event.data)
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                if self.ws.state is ConnectionState.CLOSED:
                    continue
                # The stream ended without a close frame (wsproto calls it 1006).
                self.ws.receive_data(None)
            # Frame by frame: wsproto parses the bytes only when asked for events.
            self.events.extend(self.ws.events())
        self._read = len(self.raw.seen)
        return bool(self.events)

    def next_event(self, timeout: float = 10.0) -> Event:
        """The next WebSocket event from the server."""
        self.raw.events_until(self._feed, timeout)
        assert self.events, f"nothing arrived on stream {self.stream}"
        return self.events.pop(0)

    def ended(self) -> bool:
        """The server ended its side of the stream."""
        return any(
            isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == self.stream
            for e in self.raw.seen
        )


def opened(raw: RawH2, path: str, **options) -> H2WebSocket:
    """A WebSocket the server accepted (answered 200)."""
    ws = H2WebSocket(raw, path, **options)
    status, _ = ws.response()
    assert status == 200
    return ws


@pytest.fixture(scope="module")
def server():
    server = start_server(APP, "--ws-max-size=4096", "--mount", "/legacy=wsgi:apps.basic:hello")
    yield server
    server.stop()


# -- the handshake ----------------------------------------------------------------------------
def test_the_server_advertises_the_extended_connect_when_a_mount_serves_websockets(server, serve):
    with RawH2.to(server) as raw:
        assert raw.server_setting(ENABLE_CONNECT_PROTOCOL) == 1
    # Nothing would take it: not offered (a browser would not fall back to HTTP/1.1).
    for app, *args in (("apps.basic:hello",), (APP, "--ws", "none")):
        with RawH2.to(serve(app, *args)) as raw:
            assert raw.server_setting(ENABLE_CONNECT_PROTOCOL) in (None, 0)


def test_accept_with_subprotocol_and_headers_and_the_scope(server):
    with RawH2.to(server) as raw:
        ws = H2WebSocket(raw, "/scope?a=1", subprotocols=("chat", "v2"))
        status, headers = ws.response()
        assert status == 200
        assert headers["sec-websocket-protocol"] == "chat"
        assert headers["x-accepted-by"] == "amphicorn-test"
        # No HTTP/1.1 handshake fields on HTTP/2.
        assert "sec-websocket-accept" not in headers
        assert "upgrade" not in headers
        event = ws.next_event()
    assert isinstance(event, TextMessage)
    assert json.loads(event.data) == {
        "scheme": "ws",
        "path": "/scope",
        "root_path": "",
        "query_string": "a=1",
        "subprotocols": ["chat", "v2"],
        "http_version": "2",
        "extensions": ["websocket.http.response"],
        "has_client": True,
        # The :authority, as the first header named host (as in the HTTP scope).
        "first_header": ["host", "localhost"],
    }


def test_text_and_binary_frames_and_ping(server):
    with RawH2.to(server) as raw:
        ws = opened(raw, "/echo")
        ws.send(Message(data="héllo"))
        assert ws.next_event() == TextMessage(data="echo:héllo")
        ws.send(Message(data=b"\x00\x01\x02"))
        assert ws.next_event() == BytesMessage(data=b"\x02\x01\x00")
        ws.send(Ping(payload=b"are you there"))
        assert ws.next_event() == Pong(payload=b"are you there")
        for index in range(50):
            ws.send(Message(data=f"m{index}"))
        assert [ws.next_event().data for _ in range(50)] == [f"echo:m{index}" for index in range(50)]


def test_other_streams_are_answered_while_a_websocket_is_open(server):
    with RawH2.to(server) as raw:
        ws = opened(raw, "/echo")
        plain = raw.request("/anything")
        assert raw.response(plain)[::2] == (200, b"plain http")
        second = opened(raw, "/echo")
        second.send(Message(data="two"))
        ws.send(Message(data="one"))
        assert ws.next_event().data == "echo:one"
        assert second.next_event().data == "echo:two"


# -- closing ------------------------------------------------------------------------------------
def test_app_close_code_and_reason_reach_the_client_and_the_stream_ends(server):
    with RawH2.to(server) as raw:
        ws = opened(raw, "/echo")
        ws.send(Message(data="close:4001:going away now"))
        close = ws.next_event()
        assert isinstance(close, CloseConnection)
        assert (close.code, close.reason) == (4001, "going away now")
        ws.send(close.response())
        assert raw.events_until(ws.ended)


def test_client_close_code_and_reason_reach_the_app(server, tmp_path: Path):
    record = tmp_path / "record.txt"
    with RawH2.to(server) as raw:
        ws = opened(raw, f"/echo?record={record}&again=1")
        ws.send(Message(data="x"))
        assert ws.next_event().data == "echo:x"
        ws.send(CloseConnection(code=4321, reason="client done"))
        answer = ws.next_event()
        assert isinstance(answer, CloseConnection)
        assert answer.code == 4321
    assert wait_for_file(record, lambda text: "disconnect" in text) == (
        "disconnect 4321 client done | disconnect 4321 client done\n"
    )


def test_an_unmasked_frame_fails_the_connection_with_1002(server):
    with RawH2.to(server) as raw:
        ws = opened(raw, "/echo")
        # A text frame "hi" without the mask bit: only a server may send that.
        raw.conn.send_data(ws.stream, b"\x81\x02hi")
        raw.flush()
        close = ws.next_event()
    assert isinstance(close, CloseConnection)
    assert close.code == 1002


# -- what is refused ----------------------------------------------------------------------------
def test_close_before_accept_is_403(server):
    with RawH2.to(server) as raw:
        ws = H2WebSocket(raw, "/deny")
        assert raw.response(ws.stream)[0] == 403


def test_denial_response_extension(server):
    with RawH2.to(server) as raw:
        ws = H2WebSocket(raw, "/denial")
        status, headers, body = raw.response(ws.stream)
    assert status == 401
    assert headers["x-reason"] == "no-token"
    assert body == b"need a token"


def test_a_2xx_denial_response_is_refused_over_h2(server):
    """Over HTTP/2 a 2xx answer to the CONNECT opens the stream as a tunnel: not a denial."""
    with RawH2.to(server) as raw:
        assert raw.response(H2WebSocket(raw, "/denial-200").stream)[0] == 500
    assert server.wait_for_stderr("denial response over HTTP/2 cannot be 2xx")


def test_a_request_without_the_websocket_version_is_400(server):
    with RawH2.to(server) as raw:
        assert raw.response(H2WebSocket(raw, "/echo", version=None).stream)[0] == 400
        assert raw.response(H2WebSocket(raw, "/echo", version="8").stream)[0] == 400


def test_a_plain_connect_and_a_websocket_to_a_wsgi_mount_are_501(server):
    with RawH2.to(server) as raw:
        tunnel = raw.conn.get_next_available_stream_id()
        raw.conn.send_headers(tunnel, [(":method", "CONNECT"), (":authority", "example.com:443")])
        raw.flush()
        assert raw.response(tunnel)[0] == 501
        # A WSGI app has no WebSockets; over HTTP/1.1 it sees the upgrade as a plain GET, but
        # a CONNECT means nothing to it.
        assert raw.response(H2WebSocket(raw, "/legacy/chat").stream)[0] == 501
        # The connection is still good.
        assert raw.response(raw.request("/anything"))[0] == 200


# -- the connection around it -------------------------------------------------------------------
def test_an_open_websocket_keeps_its_connection_from_idling_out(serve):
    server = serve(APP, "--timeout-keep-alive", "0.5")
    with RawH2.to(server) as raw:
        ws = opened(raw, "/echo")
        # Well past the keep-alive timeout and the GOAWAY's grace: no GOAWAY comes.
        assert not raw.events_until(lambda: raw.goaway() is not None or raw.closed, timeout=2.5)
        ws.send(Message(data="still here"))
        assert ws.next_event().data == "echo:still here"
        ws.send(CloseConnection(code=1000))
        assert isinstance(ws.next_event(), CloseConnection)
        # Once it has closed, the connection is idle again: the GOAWAY follows.
        assert raw.events_until(lambda: raw.goaway() is not None, timeout=5)


def test_over_tls_with_alpn_h2_the_scheme_is_wss(serve, ca: trustme.CA, tmp_path: Path):
    pair = write_pair(tmp_path, ca.issue_cert("127.0.0.1", "localhost"), "server")
    server = serve(APP, *tls_args(pair))
    with RawH2.to(server, tls=client_context(ca)) as raw:
        assert raw.server_setting(ENABLE_CONNECT_PROTOCOL) == 1
        ws = opened(raw, "/scope", scheme="https")
        info = json.loads(ws.next_event().data)
        assert (info["scheme"], info["http_version"]) == ("wss", "2")
        ws.send(Message(data="secure"))
        assert ws.next_event().data == "echo:secure"


def test_a_stop_closes_an_open_websocket_with_1001_without_waiting_out_the_drain(serve, tmp_path: Path):
    """The drain waits for an HTTP/2 connection's streams; an open WebSocket is asked to
    close instead of holding the stop for the whole graceful timeout."""
    server = serve(APP, "--timeout-graceful-shutdown", "30")
    record = tmp_path / "record.txt"
    with RawH2.to(server) as raw:
        ws = opened(raw, f"/echo?record={record}")
        ws.send(Message(data="x"))
        assert ws.next_event().data == "echo:x"
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        close = ws.next_event()
        assert isinstance(close, CloseConnection)
        assert (close.code, close.reason) == (1001, "server shutting down")
        ws.send(close.response())
        assert server.proc.wait(timeout=15) == 0
        # What the server sent last (its GOAWAY may follow the close frame) is read now.
        assert raw.events_until(lambda: raw.goaway() is not None or raw.closed, timeout=5)
    assert time.monotonic() - started < 10
    assert raw.goaway() is not None
    assert wait_for_file(record, lambda text: "disconnect" in text).startswith("disconnect 1001")
