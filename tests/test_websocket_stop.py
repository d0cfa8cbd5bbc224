"""A graceful stop and the HTTP/1.1 WebSockets that are open at that moment.

SIGTERM or SIGINT (to one process, or to the supervisor of workers), a worker retired by a
rolling restart (SIGHUP) or because it spent its ``--limit-max-requests``: each open WebSocket gets a close frame
``1001`` ("server shutting down"), the app's ``receive()`` a ``websocket.disconnect`` with
the code the client answered (``1006`` when it never answers within the close timeout), and
the stop does not wait out ``--timeout-graceful-shutdown`` for them. The HTTP/2 version is
in ``test_websocket_h2.py``. The app is ``asgi_apps.websocket``'s echo, which writes each
disconnect it sees to the file named by ``?record=``.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
from support import wait_for_file
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

pytestmark = pytest.mark.timeout(60)

APP = "asgi_apps.websocket:app"
# Far longer than any of these stops may take: a stop that waits it out fails the test.
GRACEFUL = ("--timeout-graceful-shutdown", "30")
# The server's wait for the client's answer to its close frame (`WEBSOCKET_CLOSE_TIMEOUT`).
CLOSE_TIMEOUT = 5.0


def _ws_url(server, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


def _closed_by_server(ws) -> tuple[int, str]:
    """The code and reason of the close frame the server sends next (the client answers it)."""
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=15)
    received = closed.value.rcvd
    assert received is not None, "the connection was cut without a close frame"
    return received.code, received.reason


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["single-process", "workers"])
def test_a_stop_closes_an_open_websocket_with_1001_without_waiting_out_the_drain(serve, tmp_path: Path, sig, workers):
    server = serve(APP, *GRACEFUL, *workers)
    record = tmp_path / "record.txt"
    with connect(_ws_url(server, f"/echo?record={record}")) as ws:
        ws.send("x")
        assert ws.recv(timeout=10) == "echo:x"
        started = time.monotonic()
        server.proc.send_signal(sig)
        assert _closed_by_server(ws) == (1001, "server shutting down")
    assert wait_for_file(record, lambda text: "disconnect" in text).startswith("disconnect 1001")
    assert server.proc.wait(timeout=15) == 0
    assert time.monotonic() - started < 10


def test_a_worker_that_spent_its_max_requests_closes_its_websocket_with_1001(serve, tmp_path: Path):
    # The handshake is the worker's one request: its budget is spent as the WebSocket opens.
    server = serve(APP, *GRACEFUL, "--limit-max-requests", "1")
    record = tmp_path / "record.txt"
    started = time.monotonic()
    with connect(_ws_url(server, f"/echo?record={record}")) as ws:
        assert _closed_by_server(ws) == (1001, "server shutting down")
    assert time.monotonic() - started < 10
    assert wait_for_file(record, lambda text: "disconnect" in text).startswith("disconnect 1001")
    # A fresh worker took the retired one's place.
    with connect(_ws_url(server, "/echo")) as ws:
        assert _closed_by_server(ws) == (1001, "server shutting down")


def test_a_rolling_restart_closes_the_retired_workers_websocket_with_1001(serve, tmp_path: Path):
    server = serve(APP, *GRACEFUL, "--workers", "2")
    record = tmp_path / "record.txt"
    with connect(_ws_url(server, f"/echo?record={record}")) as ws:
        ws.send("x")
        assert ws.recv(timeout=10) == "echo:x"
        started = time.monotonic()
        server.proc.send_signal(signal.SIGHUP)
        assert _closed_by_server(ws) == (1001, "server shutting down")
    assert time.monotonic() - started < 10
    assert wait_for_file(record, lambda text: "disconnect" in text).startswith("disconnect 1001")
    # The new workers serve WebSockets. (Once both old ones are gone: the other one, told to
    # stop at the same moment, may still accept a connection before it sees the signal, and
    # would then close it with 1001 too.)
    assert server.wait_for(lambda text: text.count(" exited with status 0") >= 2, timeout=10)
    with connect(_ws_url(server, "/echo")) as ws:
        ws.send("y")
        assert ws.recv(timeout=10) == "echo:y"


def test_a_client_that_never_answers_the_close_is_1006_after_the_close_timeout(serve, tmp_path: Path):
    server = serve(APP, *GRACEFUL)
    record = tmp_path / "record.txt"
    with socket.create_connection((server.host, server.port), timeout=15) as sock:
        sock.sendall(
            f"GET /echo?record={record} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(4096)
            assert chunk, "closed before the handshake's answer"
            received += chunk
        head, _, frames = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        # The server's close frame: FIN + close opcode, unmasked, then the code and reason.
        reason = b"server shutting down"
        expected = bytes([0x88, 2 + len(reason)]) + (1001).to_bytes(2, "big") + reason
        while len(frames) < len(expected):
            chunk = sock.recv(4096)
            assert chunk, f"cut without a close frame (got {frames!r})"
            frames += chunk
        assert frames == expected
        # No answer: the server gives up after its close timeout, and tells the app 1006.
        assert wait_for_file(record, lambda text: "disconnect" in text, timeout=15).startswith("disconnect 1006")
        assert time.monotonic() - started >= CLOSE_TIMEOUT - 0.5
    assert server.proc.wait(timeout=15) == 0
    assert time.monotonic() - started < CLOSE_TIMEOUT + 10
