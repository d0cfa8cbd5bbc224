"""Streaming with backpressure (1 GiB each way in bounded memory) and the bounded thread pool."""

from __future__ import annotations

import threading
import time

import httpx
from support import (
    RawConnection,
    build_request,
    check_bounded_download,
    check_bounded_upload,
)


def _warm_up(server, path: str) -> None:
    """One small request first, so the pool's threads and imports are not counted as growth."""
    with httpx.Client(timeout=10) as client:
        assert client.get(server.url + path).status_code == 200


def test_1gib_upload_streams_in_bounded_memory(serve):
    server = serve("apps.input:checksum")
    _warm_up(server, "/")
    _, data = check_bounded_upload(server)
    assert data["max_piece"] <= 65536


def test_1gib_download_streams_in_bounded_memory(serve):
    server = serve("apps.streaming:download")
    _warm_up(server, "/?chunks=1")
    check_bounded_download(server)


def test_chunks_are_sent_as_produced(serve):
    server = serve("apps.streaming:slow_chunks")
    with RawConnection.to(server) as conn:
        started = time.monotonic()
        conn.send(build_request("GET", "/?delay=1.5"))
        head = conn.read_head()
        assert head.status == 200
        first = b""
        while b"first;" not in first:
            data = conn.recv_some(timeout=5)
            assert data, "no data"
            first += data
        first_at = time.monotonic() - started
    assert first_at < 1.0, f"the first chunk waited {first_at:.2f}s for the second"


# --- the thread pool -------------------------------------------------------------------------


def test_thread_pool_bounds_concurrency_and_queues_the_rest(serve):
    server = serve("apps.streaming:concurrency", "--threads", "2")
    _warm_up(server, "/reset")
    finished: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    started = time.monotonic()

    def one() -> None:
        with httpx.Client(timeout=30) as client:
            response = client.get(server.url + "/sleep?seconds=1")
        with lock:
            statuses.append(response.status_code)
            finished.append(time.monotonic() - started)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    finished.sort()
    assert statuses == [200, 200, 200]
    # Two ran at once and finished after ~1 s; the third waited in the queue for a free thread.
    assert finished[1] < 1.8, finished
    assert finished[2] >= 1.9, f"the third request did not wait for a thread: {finished}"
    with httpx.Client(timeout=10) as client:
        assert client.get(server.url + "/stats").json()["max"] == 2


def test_thread_pool_of_one_serialises_requests(serve):
    server = serve("apps.streaming:concurrency", "--threads", "1")
    _warm_up(server, "/reset")
    results: list[int] = []

    def one() -> None:
        with httpx.Client(timeout=30) as client:
            results.append(client.get(server.url + "/sleep?seconds=0.5").status_code)

    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200, 200]
    assert time.monotonic() - started >= 1.45
    with httpx.Client(timeout=10) as client:
        assert client.get(server.url + "/stats").json()["max"] == 1


def test_many_threads_run_concurrently(serve):
    server = serve("apps.streaming:concurrency", "--threads", "8")
    _warm_up(server, "/reset")
    results: list[int] = []

    def one() -> None:
        with httpx.Client(timeout=30) as client:
            results.append(client.get(server.url + "/sleep?seconds=1").status_code)

    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert results == [200] * 8
    assert elapsed < 1.9, f"8 one-second requests on 8 threads took {elapsed:.2f}s"
    with httpx.Client(timeout=10) as client:
        assert client.get(server.url + "/stats").json()["max"] == 8
