"""ASGI websockets end to end, with the `websockets` client: handshake answers, frames both
ways, close codes and reasons in both directions, limits and errors."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from conftest import start_server
from support import wait_for_file
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

APP = "asgi_apps.websocket:app"


@pytest.fixture(scope="module")
def server():
    server = start_server(APP, "--ws-max-size=4096")
    yield server
    server.stop()


def _ws_url(server, path: str) -> str:
    return server.url.replace("http://", "ws://") + path


def test_accept_with_subprotocol_and_headers_and_the_scope(server):
    with connect(_ws_url(server, "/scope?a=1"), subprotocols=["chat", "v2"]) as ws:
        assert ws.subprotocol == "chat"
        assert ws.response.headers["x-accepted-by"] == "amphicorn-test"
        info = json.loads(ws.recv())
    assert info == {
        "scheme": "ws",
        "path": "/scope",
        "root_path": "",
        "query_string": "a=1",
        "subprotocols": ["chat", "v2"],
        "http_version": "1.1",
        "extensions": ["websocket.http.response"],
        "has_client": True,
        "first_header": ["host", server.url.removeprefix("http://")],
    }


def test_text_and_binary_frames_and_ping(server):
    with connect(_ws_url(server, "/echo")) as ws:
        ws.send("héllo")
        assert ws.recv() == "echo:héllo"
        ws.send(b"\x00\x01\x02")
        assert ws.recv() == b"\x02\x01\x00"
        ws.ping(b"are you there").wait(5)
        for index in range(50):
            ws.send(f"m{index}")
        assert [ws.recv() for _ in range(50)] == [f"echo:m{index}" for index in range(50)]


def test_app_close_code_and_reason_reach_the_client(server):
    with connect(_ws_url(server, "/echo")) as ws:
        ws.send("close:4001:going away now")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd.code == 4001
    assert closed.value.rcvd.reason == "going away now"


def test_client_close_code_and_reason_reach_the_app(server, tmp_path: Path):
    # The app is awaiting receive() when the close arrives; that call and the later ones all
    # give the client's code and reason (later ones used to say 1006, as if it had dropped).
    record = tmp_path / "record.txt"
    with connect(_ws_url(server, f"/echo?record={record}&again=2")) as ws:
        ws.send("x")
        ws.recv()
        ws.close(code=4321, reason="client done")
    expected = " | ".join(["disconnect 4321 client done"] * 3) + "\n"
    assert wait_for_file(record, lambda text: "disconnect" in text) == expected


def test_abrupt_client_disconnect_is_1006(server, tmp_path: Path):
    record = tmp_path / "record.txt"
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"GET /echo?record={record} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 101")
        assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in answer
    assert wait_for_file(record, lambda text: "disconnect" in text).startswith("disconnect 1006")


def test_close_before_accept_is_403(server):
    with pytest.raises(InvalidStatus) as denied:
        connect(_ws_url(server, "/deny"))
    assert denied.value.response.status_code == 403


def test_denial_response_extension(server):
    with pytest.raises(InvalidStatus) as denied:
        connect(_ws_url(server, "/denial"))
    assert denied.value.response.status_code == 401
    assert denied.value.response.headers["x-reason"] == "no-token"
    assert denied.value.response.body == b"need a token"


def test_exception_before_accept_is_500_and_logged(server):
    with pytest.raises(InvalidStatus) as failed:
        connect(_ws_url(server, "/fail"))
    assert failed.value.response.status_code == 500
    assert server.wait_for_stderr("websocket app failed before accepting")


def test_exception_after_accept_closes_with_1011(server):
    with connect(_ws_url(server, "/fail-open")) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv()
    assert closed.value.rcvd.code == 1011
    assert server.wait_for_stderr("websocket app failed after accepting")


def test_message_over_the_limit_closes_with_1009(server, tmp_path: Path):
    record = tmp_path / "record.txt"
    with connect(_ws_url(server, f"/echo?record={record}"), max_size=None) as ws:
        ws.send("x" * 4096)
        assert ws.recv() == "echo:" + "x" * 4096
        ws.send("x" * 4097)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd.code == 1009
    assert wait_for_file(record, lambda text: "disconnect" in text).startswith("disconnect 1009")


def test_handshake_without_a_valid_key_is_400(server):
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 400")


def test_plain_http_still_works_beside_websockets(server):
    import httpx

    assert httpx.get(server.url + "/anything").text == "plain http"


def test_ws_none_sends_upgrades_to_the_app_as_http():
    server = start_server(APP, "--ws=none")
    try:
        with pytest.raises(InvalidStatus) as refused:
            connect(_ws_url(server, "/echo"))
        # The app answered the upgrade request as plain HTTP: 200, not 101.
        assert refused.value.response.status_code == 200
        assert refused.value.response.body == b"plain http"
    finally:
        server.stop()
