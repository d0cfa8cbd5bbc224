"""A soak: one process under mixed load for ``CHAOS_SOAK_SECONDS`` (``make soak``: 600; by
default twice ``CHAOS_SECONDS``, so 6 s in the test command and 60 s under ``make chaos``).
WSGI and ASGI mounts get GETs and 256 KiB POSTs on kept-alive connections, GETs on a new
connection each, and 1 MiB streamed downloads, while slow clients drip request heads until
the server times them out and others send garbage. The server's RSS, sampled every few
seconds, stays flat (``FLAT_MIB``, ``FLAT_FRACTION``); every valid request is answered 200,
no slow client or garbage gets a 5xx, and once the clients are gone the server holds no
more descriptors than before.

What "flat" means, and why these numbers: the samples after a warm-up (``WARM_UP_FRACTION``
of the run, at most ``WARM_UP_MAX`` s, in which the allocator's arenas, the thread pool and
the interpreter's caches reach their working size) are cut into thirds by time, and the last
third's median may exceed the first third's by at most ``FLAT_MIB`` (16 MiB) or
``FLAT_FRACTION`` (10 %) of it, whichever is more. 16 MiB because the server lets each glibc
malloc arena keep that much free memory at its top before trimming it
(``src/server/allocator.rs``): a thread whose arena reaches a new high-water mark late in the
run (a burst of uploads landing on it) raises RSS by up to that much without any leak; 10 %
for apps whose working set is larger than these test apps'. Medians, so that samples taken
while downloads and uploads were in flight do not decide it. Measured without a leak on a
shared 2-core machine: 0.6 MiB of growth in 3 minutes (at 42 MiB), 0.2 to 1.3 MiB in 6 s.

What it catches: over 10 minutes the thirds' middles are 6 minutes of load apart (~600,000
requests at the ~1,700 a second this mix makes there), so a leak of a few dozen bytes per
request fails it; a test app made to keep 2 KiB per hello request failed it in 60 s (36 MiB),
one keeping each upload's body in 6 s (123 MiB). The short run's thirds are under 3 s apart:
it catches only gross leaks like the latter, besides the failures and the descriptors, which
it checks as strictly as the long run.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import socket
import statistics
import time
from collections import Counter

import httpx
import pytest
from chaos_support import SECONDS, Load, garbage, is_server_failure, report, send_raw
from support import ClientThreads, RssSampler, wait_until

SOAK_SECONDS = float(os.environ.get("CHAOS_SOAK_SECONDS", str(2 * SECONDS)))
#: RSS samples: every 5 s over 10 minutes (120), more often in a short run.
SAMPLE_INTERVAL = min(5.0, max(0.2, SOAK_SECONDS / 120))
WARM_UP_FRACTION = 1 / 3
WARM_UP_MAX = 60.0
FLAT_MIB = 16.0
FLAT_FRACTION = 0.10
#: Descriptors the server may hold beyond its count before the load, once every client is gone.
DESCRIPTOR_SLACK = 4
#: The mixed load's mounts: WSGI and ASGI, small answers, request bodies and streamed bodies.
MOUNTS = [
    "/=apps.basic:hello",
    "/wsgi/upload=apps.input:checksum",
    "/wsgi/download=apps.streaming:download",
    "/asgi=asgi_apps.raw:checksum",
    "/asgi/download=asgi_apps.raw:download",
]
UPLOAD = bytes(range(256)) * 1024  # 256 KiB, past the 64 KiB the server reads before the app
HEAD_TIMEOUT = 2  # --timeout-request-headers: how long a slow client lasts


class SlowClients(ClientThreads):
    """One thread keeping ``count`` slowloris connections open: each sends the start of a
    request head, then one more byte every ``drip`` seconds, never ending it, until the
    server gives up on it (``--timeout-request-headers``: a 408 and a close); a new one then
    takes its place. ``answers`` counts the status codes they got (``b""``: closed silently)."""

    def __init__(self, host: str, port: int, count: int = 50, drip: float = 0.5) -> None:
        super().__init__(1)
        self.address = (host, port)
        self.count = count
        self.drip = drip
        self.answers: Counter[bytes] = Counter()

    def _run(self, index: int) -> None:
        answers: dict[socket.socket, bytes] = {}
        next_drip = time.monotonic() + self.drip
        try:
            while not self._stop.is_set():
                while len(answers) < self.count:
                    sock = socket.create_connection(self.address, timeout=5)
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ")
                    answers[sock] = b""
                # Waits for the server to answer or close one, at most until the next drip.
                readable, _, _ = select.select(list(answers), [], [], max(0.0, next_drip - time.monotonic()))
                for sock in readable:
                    try:
                        data = sock.recv(4096)
                    except OSError:
                        data = b""
                    if data:
                        answers[sock] += data
                        continue
                    self.answers[answers.pop(sock)[9:12]] += 1
                    sock.close()
                if time.monotonic() >= next_drip:
                    next_drip += self.drip
                    for sock in answers:
                        # Closed by the server, it fails: the next select() sees the close.
                        with contextlib.suppress(OSError):
                            sock.send(b"a")  # the drip: one more byte of a head that never ends
        finally:
            for sock in answers:
                sock.close()


class GarbageClients(ClientThreads):
    """Threads sending garbage (``chaos_support.garbage``), one new connection each time;
    ``server_failures`` keeps each payload answered with a 5xx that says the server failed."""

    def __init__(self, host: str, port: int, threads: int = 1) -> None:
        super().__init__(threads)
        self.address = (host, port)
        self.sent = 0
        self.server_failures: list[tuple[bytes, bytes]] = []

    def _run(self, index: int) -> None:
        rng = random.Random(index)
        while not self._stop.is_set():
            payload = garbage(rng)
            answer = send_raw(*self.address, payload)
            self.sent += 1
            if is_server_failure(answer):
                self.server_failures.append((payload, answer[:200]))


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _median_mib(samples: list[tuple[float, int]]) -> float:
    return statistics.median(kib for _, kib in samples) / 1024


def _flatness(samples: list[tuple[float, int]], started: float, ended: float) -> dict[str, float]:
    """The first and last thirds' medians after the warm-up, in MiB (see the module's doc)."""
    warm = started + min(WARM_UP_MAX, WARM_UP_FRACTION * (ended - started))
    third = (ended - warm) / 3
    first = [sample for sample in samples if warm <= sample[0] < warm + third]
    last = [sample for sample in samples if sample[0] >= ended - third]
    assert len(first) >= 3, f"too few RSS samples in the first third: {len(first)}"
    assert len(last) >= 3, f"too few RSS samples in the last third: {len(last)}"
    return {"first": _median_mib(first), "last": _median_mib(last)}


def _medians_by_tenth(samples: list[tuple[float, int]], started: float, ended: float) -> list[int]:
    """The RSS median of each tenth of the run, in MiB: the curve, for the report."""
    tenth = (ended - started) / 10
    parts = [[s for s in samples if started + n * tenth <= s[0] < started + (n + 1) * tenth] for n in range(10)]
    return [round(_median_mib(part)) for part in parts if part]


@pytest.mark.timeout(SOAK_SECONDS + 120)
def test_soak_under_mixed_load_keeps_rss_flat_and_fails_nothing(serve):
    args = [arg for mount in MOUNTS for arg in ("--mount", mount)]
    server = serve(None, *args, "--timeout-request-headers", str(HEAD_TIMEOUT))
    # One request to each mount first: the ASGI loop, the thread pool and the imports make
    # their descriptors now, and the count to come back to is the one after that.
    with httpx.Client(timeout=10) as client:
        for path in ("/", "/asgi/", "/wsgi/download/?chunks=1", "/asgi/download/?chunks=1"):
            assert client.get(server.url + path).status_code == 200, path
        for path in ("/wsgi/upload/", "/asgi/"):
            assert client.post(server.url + path, content=UPLOAD).status_code == 200, path
    descriptors_before = _descriptors(server.pid)
    loads = [
        Load(server.url, 2, "/"),
        Load(server.url, 2, "/asgi/"),
        Load(server.url, 1, "/", keep_alive=False),
        Load(server.url, 1, "/asgi/", keep_alive=False),
        Load(server.url, 1, "/wsgi/upload/", body=UPLOAD),
        Load(server.url, 1, "/asgi/", body=UPLOAD),
        Load(server.url, 1, "/wsgi/download/?chunks=16"),
        Load(server.url, 1, "/asgi/download/?chunks=16"),
    ]
    slow = SlowClients(server.host, server.port)
    junk = GarbageClients(server.host, server.port)
    with RssSampler(server.pid, interval=SAMPLE_INTERVAL) as rss, contextlib.ExitStack() as clients:
        started = time.monotonic()
        for load in [*loads, slow, junk]:
            clients.enter_context(load)
        until = started + SOAK_SECONDS
        wait_until(lambda: time.monotonic() >= until or server.proc.poll() is not None, timeout=SOAK_SECONDS + 5)
        ended = time.monotonic()
        alive = server.proc.poll() is None
    assert alive, server.stderr()
    flat = _flatness(rss.samples, started, ended)
    growth = flat["last"] - flat["first"]
    limit = max(FLAT_MIB, FLAT_FRACTION * flat["first"])
    # Once every client has closed, the server closes its ends too.
    wait_until(
        lambda: _descriptors(server.pid) <= descriptors_before + DESCRIPTOR_SLACK,
        timeout=10,
        message=f"the server holds {_descriptors(server.pid)} descriptors, {descriptors_before} before the load",
    )
    requests = sum(load.count() for load in loads)
    failures = [failure for load in loads for failure in load.failures()]
    tenths = _medians_by_tenth(rss.samples, started, ended)
    report(
        "soak",
        seconds=round(ended - started),
        requests=requests,
        requests_per_s=round(requests / (ended - started)),
        failures=len(failures),
        slow_clients_answered=dict(sorted((code.decode() or "closed", n) for code, n in slow.answers.items())),
        garbage_connections=junk.sent,
        garbage_server_failures=len(junk.server_failures),
        rss_samples=len(rss.samples),
        rss_first_third_mib=round(flat["first"], 1),
        rss_last_third_mib=round(flat["last"], 1),
        rss_growth_mib=round(growth, 1),
        rss_limit_mib=round(limit, 1),
        rss_peak_mib=round(rss.peak / 1024, 1),
        rss_mib_by_tenth=tenths,
        descriptors_before=descriptors_before,
        descriptors_after=_descriptors(server.pid),
    )
    assert failures == [], Counter(failures)
    assert junk.server_failures == [], junk.server_failures[:3]
    assert not any(code.startswith(b"5") for code in slow.answers), slow.answers
    assert growth <= limit, f"RSS grew {growth:.1f} MiB (limit {limit:.1f}): {tenths}"
