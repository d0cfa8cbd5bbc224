"""A Starlette app under amphicorn (asgi_apps.starlette_app)."""

from __future__ import annotations

import hashlib
import os
import time

import httpx
import pytest
from conftest import start_server
from support import RawConnection, build_request

APP = "asgi_apps.starlette_app:app"
FILE_SIZE = 3 * 1024 * 1024 + 17


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("starlette") / "data.bin"
    path.write_bytes(os.urandom(FILE_SIZE))
    return path


@pytest.fixture(scope="module")
def server(data_file):
    server = start_server(APP, env={"ASGI_TEST_FILE": str(data_file)})
    yield server
    server.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_route(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.text == "starlette home"
    assert client.get("/nope").status_code == 404
    assert client.get("/users/not-an-int").status_code == 404


def test_url_for_builds_absolute_urls(client, server):
    data = client.get("/users/42?x=1&y=caf%C3%A9").json()
    assert data["user_id"] == 42
    assert data["self"] == f"{server.url}/users/42"
    assert data["home"] == f"{server.url}/"
    assert data["url"] == f"{server.url}/users/42?x=1&y=caf%C3%A9"
    assert data["query"] == {"x": "1", "y": "caf\xe9"}


def test_url_for_uses_the_host_header(server):
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/users/7", host="api.example.test:8443")
    assert response.status == 200
    assert b'"self":"http://api.example.test:8443/users/7"' in response.body


@pytest.mark.parametrize("size", [0, 10, 1024 * 1024 + 1])
def test_request_body(client, size):
    body = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    response = client.post("/echo", content=body)
    assert response.status_code == 200
    assert response.json() == {"length": size, "head": body[:32].decode("latin-1"), "type": "POST"}


def test_chunked_request_body(client):
    def parts():
        yield b"first,"
        yield b"second," * 20000

    response = client.put("/echo", content=parts())
    assert response.json()["length"] == len(b"first,") + len(b"second,") * 20000


def test_method_not_allowed(client):
    assert client.get("/echo").status_code == 405


def test_streaming_response_is_chunked_and_incremental(server):
    with RawConnection.to(server) as conn:
        started = time.monotonic()
        conn.send(build_request("GET", "/stream?count=3&delay=1.0"))
        head = conn.read_head()
        assert head.status == 200
        assert head.header("transfer-encoding") == "chunked"
        first = b""
        while b"chunk 0;" not in first:
            data = conn.recv_some(timeout=5)
            assert data, "no data"
            first += data
        assert time.monotonic() - started < 0.9, "the first chunk waited for the others"
        while not first.endswith(b"0\r\n\r\n"):
            data = conn.recv_some(timeout=5)
            assert data, f"the stream did not end: {first!r}"
            first += data
    assert first == b"".join(b"8\r\nchunk %d;\r\n" % i for i in range(3)) + b"0\r\n\r\n"


def test_file_response(client, data_file):
    expected = data_file.read_bytes()
    response = client.get("/file")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(FILE_SIZE)
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="data.bin"'
    assert "etag" in response.headers
    assert "last-modified" in response.headers
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(expected).digest()


def test_file_response_keep_alive_and_head(server):
    with RawConnection.to(server) as conn:
        head = conn.request("HEAD", "/file")
        assert head.status == 200
        assert head.header("content-length") == str(FILE_SIZE)
        first = conn.request("GET", "/file")
        second = conn.request("GET", "/")
    assert len(first.body) == FILE_SIZE
    assert second.body == b"starlette home"


def test_file_response_range(client, data_file):
    expected = data_file.read_bytes()
    response = client.get("/file", headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.content == expected[100:200]
    assert response.headers["content-range"] == f"bytes 100-199/{FILE_SIZE}"


def test_file_response_to_a_client_that_leaves(server):
    with RawConnection.to(server) as conn:
        conn.send(build_request("GET", "/file"))
        assert conn.read_head().status == 200
    with httpx.Client(timeout=10) as client:
        assert client.get(server.url + "/").text == "starlette home"
