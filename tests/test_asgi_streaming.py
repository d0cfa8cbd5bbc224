"""ASGI backpressure: 1 GiB each way through receive()/send() in bounded memory."""

from __future__ import annotations

import json
import time
import zlib

import httpx
from support import (
    BLOCK,
    GIB,
    RSS_LIMIT_MIB,
    RawConnection,
    RssSampler,
    build_request,
    check_bounded_download,
)


def _warm_up(server, path: str) -> None:
    """One small request first, so the loop's first allocations are not counted as growth."""
    with httpx.Client(timeout=10) as client:
        assert client.post(server.url + path, content=b"x" * 200_000).status_code == 200


def test_1gib_upload_through_receive_in_bounded_memory(serve):
    server = serve("asgi_apps.raw:checksum")
    _warm_up(server, "/")
    send_block = BLOCK * 16  # 1 MiB per sendall
    total_crc = 0
    for _ in range(GIB // len(send_block)):
        total_crc = zlib.crc32(send_block, total_crc)

    started = time.monotonic()
    with RssSampler(server.pid) as rss, RawConnection.to(server, timeout=60) as conn:
        conn.send(build_request("POST", "/", headers=[("Content-Length", str(GIB))]))
        for _ in range(GIB // len(send_block)):
            conn.send(send_block)
        response = conn.read_response()
    elapsed = time.monotonic() - started
    assert response.status == 200, response.body
    data = json.loads(response.body)
    assert data["bytes"] == GIB
    assert data["crc32"] == total_crc
    assert data["messages"] > 1
    assert rss.growth_mib < RSS_LIMIT_MIB, (
        f"RSS grew by {rss.growth_mib:.1f} MiB (from {rss.start // 1024} MiB) during a 1 GiB upload"
    )
    assert elapsed < 20, f"1 GiB upload took {elapsed:.1f}s"


def test_1gib_download_to_a_slow_reader_in_bounded_memory(serve):
    server = serve("asgi_apps.raw:download")
    with httpx.Client(timeout=10) as client:
        assert client.get(server.url + "/?chunks=4").status_code == 200
    check_bounded_download(server)
