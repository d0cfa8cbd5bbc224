"""A 1 GiB static file, sparse so that it costs no disk, served in bounded memory: whole to
httpx from a cold page cache, whole to three curls at once (two over HTTP/1.1, one over
h2c), and in parts deep inside it, at once. Every byte is counted and checked without being
kept (zeros, and blocks of known bytes written at known offsets). The server's RSS grows by
less than 64 MiB for one download (``support.RSS_LIMIT_MIB``, as for the 1 GiB WSGI and ASGI
streams) and less than ``THREE_CLIENTS_LIMIT_MIB`` for three. The figures are printed
(``pytest -s``)."""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from curl_support import curl_binary
from support import GIB, RSS_LIMIT_MIB, RssSampler

MIB = 1 << 20
#: Blocks of known bytes in the zeros, by offset: the first block (so the download starts
#: with a disk read, below), one across a 256 KiB read boundary, one deep inside (for the
#: range test), and the file's end.
MARKERS = {offset: random.Random(offset).randbytes(40_000) for offset in (0, 512 * MIB - 100, 900 * MIB, GIB - 40_000)}
NONZERO = sum(len(data) - data.count(0) for data in MARKERS.values())
#: How much three fast clients at once may grow the server's RSS: as much as one (17 MiB
#: measured on a 2-core machine; with mimalloc as the Rust side's allocator it was 36 to
#: 62 MiB, freed 256 KiB read buffers not yet reused). A server holding the file, or
#: buffering without bound, grows by GiBs.
THREE_CLIENTS_LIMIT_MIB = RSS_LIMIT_MIB


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Path:
    """The directory holding ``large.bin``: 1 GiB of holes but for the blocks in ``MARKERS``."""
    root = tmp_path_factory.mktemp("large")
    with open(root / "large.bin", "wb") as file:
        file.truncate(GIB)
        for offset, data in MARKERS.items():
            file.seek(offset)
            file.write(data)
    return root


def evict(path: Path) -> None:
    """Drops ``path`` from the page cache: its written blocks are then read from the disk
    again (on tokio's blocking pool, when the event loop's read finds them missing)."""
    with open(path, "rb+") as file:
        os.fsync(file.fileno())  # written blocks are dirty until then, and stay cached
        os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


class Checked:
    """Follows one download of ``large.bin`` from ``start``, piece by piece, keeping only
    counts and the bytes that land on a marker."""

    def __init__(self, start: int = 0) -> None:
        self.at = start
        self.nonzero = 0
        self.seen = {offset: bytearray(len(data)) for offset, data in MARKERS.items()}

    def feed(self, piece: bytes) -> None:
        end = self.at + len(piece)
        self.nonzero += len(piece) - piece.count(0)
        for offset, data in MARKERS.items():
            low, high = max(offset, self.at), min(offset + len(data), end)
            if low < high:
                self.seen[offset][low - offset : high - offset] = piece[low - self.at : high - self.at]
        self.at = end

    def check_whole(self) -> None:
        assert self.at == GIB, f"{self.at} bytes of {GIB}"
        for offset, data in MARKERS.items():
            assert self.seen[offset] == data, f"the block at {offset}"
        assert self.nonzero == NONZERO, "every byte outside the blocks is zero"


def report(name: str, **figures: object) -> None:
    """One line of figures (``pytest -s`` shows them), as the chaos tests print theirs."""
    print(f"\nSTATIC {name}: " + " ".join(f"{key}={value}" for key, value in figures.items()), flush=True)


def start(serve, large: Path):
    """A server with ``large`` at ``/files``, after one small request."""
    server = serve(f"--mount=/files=static:{large}")
    # One small request first, so the first connection's set-up is not counted as growth.
    assert httpx.get(f"{server.url}/files/large.bin", headers={"Range": "bytes=0-0"}).status_code == 206
    return server


def test_1gib_downloads_whole_from_a_cold_cache_in_bounded_memory(serve, large: Path):
    server = start(serve, large)
    evict(large / "large.bin")
    checked = Checked()
    started = time.monotonic()
    url = f"{server.url}/files/large.bin"
    with RssSampler(server.pid) as rss, httpx.Client(timeout=30) as client, client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(GIB)
        for piece in response.iter_raw(MIB):
            checked.feed(piece)
    elapsed = time.monotonic() - started
    checked.check_whole()
    report(
        "1gib-httpx-cold",
        seconds=round(elapsed, 2),
        mib_per_s=round(1024 / elapsed),
        rss_growth_mib=round(rss.growth_mib, 1),
    )
    assert rss.growth_mib < RSS_LIMIT_MIB, f"RSS grew by {rss.growth_mib:.1f} MiB (from {rss.start // 1024} MiB)"


def curl_download(url: str, protocol: str) -> Checked:
    """``url`` (``large.bin``) through ``curl``, every byte checked as it arrives."""
    command = [curl_binary(), "-sS", "--fail", "--max-time", "60", protocol, "-w", "%{stderr}%{http_version}", url]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        checked = Checked()
        while piece := proc.stdout.read1(MIB):
            checked.feed(piece)
        printed = proc.stderr.read().decode()
    assert (proc.returncode, printed) == (0, "2" if protocol.startswith("--http2") else "1.1"), protocol
    checked.check_whole()
    return checked


def test_1gib_to_three_clients_at_once_in_bounded_memory(serve, large: Path):
    """Two curls over HTTP/1.1 and one over h2c, each checking every byte it gets, with the
    file in the page cache (the test above left it there, else the first reads fill it): the
    server reads faster than any client, so only backpressure bounds what it holds.

    The limit is ``THREE_CLIENTS_LIMIT_MIB``, not ``RSS_LIMIT_MIB``: see there."""
    curl_binary()
    server = start(serve, large)
    url = f"{server.url}/files/large.bin"
    protocols = ["--http1.1", "--http1.1", "--http2-prior-knowledge"]
    failures: list[BaseException] = []

    def download(protocol: str) -> None:
        try:
            curl_download(url, protocol)
        except BaseException as error:  # re-raised by the test, below
            failures.append(error)

    threads = [threading.Thread(target=download, args=(protocol,)) for protocol in protocols]
    started = time.monotonic()
    with RssSampler(server.pid) as rss:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - started
    if failures:
        raise failures[0]
    report(
        "1gib-three-curls-at-once",
        seconds=round(elapsed, 2),
        mib_per_s=round(len(protocols) * 1024 / elapsed),
        rss_growth_mib=round(rss.growth_mib, 1),
        rss_start_mib=rss.start // 1024,
    )
    assert rss.growth_mib < THREE_CLIENTS_LIMIT_MIB, (
        f"RSS grew by {rss.growth_mib:.1f} MiB (from {rss.start // 1024} MiB)"
    )


def test_ranges_deep_in_1gib_are_read_from_there(serve, large: Path):
    """Each range costs what it holds, not the bytes before it: at 900 MiB, with the file
    evicted from the page cache, well under a second (reading the 900 MiB before it would
    take seconds, even of holes: the kernel zero-fills each page it reads the first time)."""
    server = start(serve, large)
    evict(large / "large.bin")
    deep = 900 * MIB
    across = 512 * MIB - 100
    cases = [
        (f"bytes={deep}-{deep + 39_999}", deep, MARKERS[deep]),
        (f"bytes={deep + 1000}-{deep + 1009}", deep + 1000, MARKERS[deep][1000:1010]),
        (f"bytes={across - 10}-{across + 39_999}", across - 10, bytes(10) + MARKERS[across]),
        ("bytes=-40000", GIB - 40_000, MARKERS[GIB - 40_000]),
        (f"bytes={GIB - 5}-", GIB - 5, MARKERS[GIB - 40_000][-5:]),
    ]
    slowest = 0.0
    with httpx.Client(base_url=server.url, timeout=10) as client:
        head = client.head("/files/large.bin")
        assert (head.status_code, head.headers["content-length"]) == (200, str(GIB))
        for value, offset, expected in cases:
            started = time.monotonic()
            part = client.get("/files/large.bin", headers={"Range": value})
            elapsed = time.monotonic() - started
            assert part.status_code == 206, value
            assert part.headers["content-range"] == f"bytes {offset}-{offset + len(expected) - 1}/{GIB}"
            assert part.content == expected, value
            assert elapsed < 1, f"{value} took {elapsed:.2f} s"
            slowest = max(slowest, elapsed)
    report("1gib-ranges", slowest_seconds=round(slowest, 3))
