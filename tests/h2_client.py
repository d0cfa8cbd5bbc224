"""A raw HTTP/2 client for the tests that need to see frames: the ``h2`` package's state
machine over a plain socket, and ``hyperframe`` for frames no well-behaved client sends
(CONTINUATION floods).

``h2`` takes a server's first GOAWAY as the end of the connection and refuses every frame
after it, though a graceful shutdown (RFC 9113 §6.8) sends GOAWAY first and then finishes
the streams in flight. From the first frame ``h2`` refuses, this client reads frames
itself (``hyperframe``) and turns them into the same events, and answers the server's PINGs
as any client would (the server's final GOAWAY waits for that answer).

``events()`` reads until a condition holds, with a deadline; it never waits with a bare sleep.
With an ``ssl.SSLContext`` the connection is TLS, offering only ``h2`` by ALPN.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame


class RawH2:
    """One HTTP/2 connection with its preface sent and the server's SETTINGS read."""

    def __init__(self, host: str, port: int, timeout: float = 10.0, tls: ssl.SSLContext | None = None) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            tls.set_alpn_protocols(["h2"])
            self.sock = tls.wrap_socket(self.sock, server_hostname=host)
            assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.seen: list[h2.events.Event] = []
        self.closed = False
        #: Unparsed bytes, once ``h2`` refused a frame (see the module's docstring).
        self.lenient: bytearray | None = None
        self.events_until(lambda: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in self.seen))

    @classmethod
    def to(cls, server, timeout: float = 10.0, tls: ssl.SSLContext | None = None) -> RawH2:
        return cls(server.host, server.port, timeout, tls)

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data: bytes) -> None:
        """Bytes straight onto the socket, past ``h2``'s state machine."""
        self.sock.sendall(data)

    def request(self, path: str, authority: str = "localhost", method: str = "GET", body: bytes = b"") -> int:
        stream = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":scheme", "http"), (":authority", authority), (":path", path)]
        self.conn.send_headers(stream, headers, end_stream=not body)
        if body:
            self.conn.send_data(stream, body, end_stream=True)
        self.flush()
        return stream

    def read_once(self, timeout: float) -> bool:
        """Reads what arrives within ``timeout``; False once the server closed the socket."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return False
        if self.lenient is None:
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                # That call's events are lost with the error: read its bytes again ourselves.
                self.lenient = bytearray()
        if self.lenient is not None:
            self.lenient += data
            self.seen.extend(self._parse_frames())
            return True
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        self.seen.extend(events)
        self.flush()
        return True

    def _parse_frames(self) -> list[h2.events.Event]:
        """The events of the whole frames in ``lenient``, consumed."""
        assert self.lenient is not None
        events: list[h2.events.Event] = []
        while len(self.lenient) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(bytes(self.lenient[:9])))
            if len(self.lenient) < 9 + length:
                break
            frame.parse_body(memoryview(bytes(self.lenient[9 : 9 + length])))
            del self.lenient[: 9 + length]
            ended = "END_STREAM" in frame.flags
            if isinstance(frame, HeadersFrame):
                headers = [
                    (name.decode(), value.decode()) for name, value in self.conn.decoder.decode(frame.data, raw=True)
                ]
                events.append(h2.events.ResponseReceived(stream_id=frame.stream_id, headers=headers))
            elif isinstance(frame, DataFrame):
                events.append(
                    h2.events.DataReceived(stream_id=frame.stream_id, data=frame.data, flow_controlled_length=length)
                )
            elif isinstance(frame, RstStreamFrame):
                events.append(h2.events.StreamReset(stream_id=frame.stream_id, error_code=frame.error_code))
            elif isinstance(frame, GoAwayFrame):
                terminated = h2.events.ConnectionTerminated()
                known = frame.error_code in {code.value for code in h2.errors.ErrorCodes}
                terminated.error_code = h2.errors.ErrorCodes(frame.error_code) if known else frame.error_code
                terminated.last_stream_id = frame.last_stream_id
                events.append(terminated)
            elif isinstance(frame, PingFrame) and "ACK" not in frame.flags:
                self.send_raw(PingFrame(0, frame.opaque_data, flags=["ACK"]).serialize())
            if ended:
                events.append(h2.events.StreamEnded(stream_id=frame.stream_id))
        return events

    def events_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Reads until ``condition()`` holds, the server closes, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.read_once(min(remaining, 0.5)):
                return condition()
        return True

    def response(self, stream: int, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        """The status, headers and body of ``stream``, once it has ended."""
        self.events_until(lambda: self._ended(stream), timeout)
        assert self._ended(stream), f"stream {stream} did not end: {self.seen}"
        headers: dict[str, str] = {}
        body = b""
        for event in self.seen:
            if getattr(event, "stream_id", None) != stream:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                headers = dict(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
        return int(headers[":status"]), headers, body

    def _ended(self, stream: int) -> bool:
        return any(
            isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == stream for e in self.seen
        )

    def goaway(self) -> h2.events.ConnectionTerminated | None:
        """The server's last GOAWAY, if one arrived."""
        found = [e for e in self.seen if isinstance(e, h2.events.ConnectionTerminated)]
        return found[-1] if found else None

    def server_setting(self, code: h2.settings.SettingCodes) -> int | None:
        """A setting from the server's SETTINGS frame."""
        for event in self.seen:
            if isinstance(event, h2.events.RemoteSettingsChanged) and code in event.changed_settings:
                return event.changed_settings[code].new_value
        return None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawH2:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
