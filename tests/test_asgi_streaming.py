"""ASGI backpressure: 1 GiB each way through receive()/send() in bounded memory."""

from __future__ import annotations

import httpx
from support import check_bounded_download, check_bounded_upload


def _warm_up(server, path: str) -> None:
    """One small request first, so the loop's first allocations are not counted as growth."""
    with httpx.Client(timeout=10) as client:
        assert client.post(server.url + path, content=b"x" * 200_000).status_code == 200


def test_1gib_upload_through_receive_in_bounded_memory(serve):
    server = serve("asgi_apps.raw:checksum")
    _warm_up(server, "/")
    _, data = check_bounded_upload(server)
    assert data["messages"] > 1


def test_1gib_download_to_a_slow_reader_in_bounded_memory(serve):
    server = serve("asgi_apps.raw:download")
    with httpx.Client(timeout=10) as client:
        assert client.get(server.url + "/?chunks=4").status_code == 200
    check_bounded_download(server)
