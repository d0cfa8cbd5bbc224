"""ASGI's ``http.response.zerocopysend`` end to end: Rust reads the part of the app's open
file that the message names (``offset`` and ``count``, or from the file's position, which
then moves on as ``sendfile(2)`` moves it) and streams it in bounded pieces; a file shorter
than the promised count aborts the response."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support import RawConnection, build_request

pytestmark = pytest.mark.timeout(30)

APP = "asgi:asgi_apps.raw:zerocopy"
DATA = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return path


def test_a_range_with_offset_and_count_is_the_body_with_its_length(serve, data_file):
    server = serve(APP)
    response = httpx.get(server.url + "/", params={"path": str(data_file), "offset": 1000, "count": 300_000})
    assert response.headers["x-offered"] == "1"
    assert response.headers["content-length"] == "300000"
    assert response.content == DATA[1000:301_000]


def test_without_a_count_the_rest_of_the_file_from_the_offset(serve, data_file):
    server = serve(APP)
    response = httpx.get(server.url + "/", params={"path": str(data_file), "offset": 10})
    assert response.content == DATA[10:]


def test_without_an_offset_the_files_position_is_used_and_moved_on(serve, data_file):
    server = serve(APP)
    response = httpx.get(server.url + "/", params={"path": str(data_file), "mode": "position", "start": 7})
    assert response.content == DATA[7:15] + b"|position=15"
    # An offset leaves the position alone.
    ranged = httpx.get(server.url + "/", params={"path": str(data_file), "offset": 0, "count": 5})
    assert ranged.content == DATA[:5]


def test_a_file_shorter_than_the_count_aborts_the_response(serve, data_file):
    server = serve(APP)
    with RawConnection.to(server) as conn:
        conn.send(build_request("GET", f"/?path={data_file}&offset={len(DATA) - 10}&count=100"))
        response = conn.read_response()
    assert response.header("content-length") == "100"
    assert not response.complete
    assert server.proc.poll() is None
