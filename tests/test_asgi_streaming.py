"""ASGI backpressure: 1 GiB each way through receive()/send() in bounded memory."""

from __future__ import annotations

import json
import time
import zlib

import httpx
from support import RawConnection, RssSampler, build_request, read_chunked_crc

GIB = 1024 * 1024 * 1024
BLOCK = bytes(range(256)) * 256  # 64 KiB; the same pattern asgi_apps.raw.BLOCK is
RSS_LIMIT_MIB = 64


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
    chunks = GIB // len(BLOCK)
    started = time.monotonic()
    with RssSampler(server.pid) as rss, RawConnection.to(server, timeout=60) as conn:
        conn.send(build_request("GET", f"/?chunks={chunks}"))
        head = conn.read_head()
        assert head.status == 200
        assert "chunked" in (head.header("transfer-encoding") or "")
        # A slow client: read nothing for 1.5 s. Without backpressure the app would have
        # produced (and the server buffered) far more than the limit by now.
        time.sleep(1.5)
        stalled_growth = rss.growth_mib
        received, crc = read_chunked_crc(conn)
    elapsed = time.monotonic() - started
    expected = 0
    for _ in range(chunks):
        expected = zlib.crc32(BLOCK, expected)
    assert received == GIB
    assert crc == expected
    assert stalled_growth < RSS_LIMIT_MIB, f"RSS grew {stalled_growth:.1f} MiB while the client stalled"
    assert rss.growth_mib < RSS_LIMIT_MIB, f"RSS grew by {rss.growth_mib:.1f} MiB during a 1 GiB download"
    assert elapsed < 25, f"1 GiB download took {elapsed:.1f}s"
