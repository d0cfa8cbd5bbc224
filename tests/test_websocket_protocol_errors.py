"""A client's WebSocket protocol error, in raw frames (no client library would send them):
the echo of the message sent just before still arrives, then the server fails the
connection with the close code RFC 6455 names — 1002 for a protocol violation, 1007 for a
text message that is not UTF-8 — every time, and the app hears that code too.

The valid message and the bad frame go out in one write, so the server reads both before
the app has answered the first: an order that used to lose the echo and close with 1000 or
1011, depending on who won the race. Each case runs several times to catch it."""

from __future__ import annotations

import base64
import os
import socket
import struct
from pathlib import Path

import pytest
from conftest import start_server
from support import wait_for_file

APP = "asgi_apps.websocket:app"
ROUNDS = 8


@pytest.fixture(scope="module")
def server():
    server = start_server(APP)
    yield server
    server.stop()


def _frame(opcode: int, payload: bytes, *, masked: bool = True, rsv: int = 0) -> bytes:
    """One final frame; ``rsv`` goes in bits 4-6 of the first byte."""
    head = bytes([0x80 | rsv << 4 | opcode])
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    else:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


class _Client:
    def __init__(self, server, path: str) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed with {self.buffer!r} unread")
        self.buffer += data

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _exact(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_frame(self) -> tuple[int, bytes]:
        first, second = self._exact(2)
        assert not second & 0x80, "a server frame must not be masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._exact(8))
        return first & 0x0F, self._exact(length)

    def close(self) -> None:
        self.sock.close()


BAD_FRAMES = {
    "reserved-bits": (_frame(0x1, b"rsv", rsv=0b010), 1002),
    "unmasked": (_frame(0x1, b"unmasked", masked=False), 1002),
    "unknown-opcode": (_frame(0x3, b"what"), 1002),
    "invalid-utf8": (_frame(0x1, b"\xff\xfe\xfd"), 1007),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_the_echo_comes_first_then_the_close_code_names_the_error(server, tmp_path: Path, name):
    bad, code = BAD_FRAMES[name]
    for round_ in range(ROUNDS):
        record = tmp_path / f"record{round_}.txt"
        client = _Client(server, f"/echo?record={record}")
        try:
            client.sock.sendall(_frame(0x1, f"hello {round_}".encode()) + bad)
            assert client.read_frame() == (0x1, f"echo:hello {round_}".encode()), f"round {round_}"
            opcode, payload = client.read_frame()
            assert opcode == 0x8, f"round {round_}: {opcode=} {payload=}"
            assert struct.unpack("!H", payload[:2])[0] == code, f"round {round_}: {payload!r}"
        finally:
            client.close()
        text = wait_for_file(record, lambda text: "disconnect" in text)
        assert text.startswith(f"disconnect {code}"), text
