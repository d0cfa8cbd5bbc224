"""kill -9 of one worker under load: only the requests that worker had in flight (or on its
kept-alive connections) fail, the supervisor starts another, and from then on every request
succeeds."""

from __future__ import annotations

import os
import signal
import time

from chaos_support import SECONDS, Load, report
from support import ready_worker_pids, wait_until


def test_kill_9_of_a_worker_loses_only_its_in_flight_requests(serve):
    server = serve("apps.workers:pid", "-w", "2")
    workers = ready_worker_pids(server, 2)
    victim = workers[0]
    threads = 4
    with Load(server.url, threads=threads) as load:
        wait_until(lambda: load.count() >= 50, timeout=10, message="the load never got going")
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        ready_worker_pids(server, 1, exclude=workers)
        replaced_at = time.monotonic()
        wait_until(lambda: time.monotonic() - replaced_at >= SECONDS, timeout=SECONDS + 1)
    lost = load.failures()
    after = load.failures(since=replaced_at)
    report(
        "kill-9",
        requests=load.count(),
        failed=len(lost),
        failed_after_replacement=len(after),
        replaced_in_ms=round((replaced_at - killed_at) * 1000),
    )
    # At most one request per client connection can have been with the victim.
    assert len(lost) <= threads, lost
    assert after == [], after
    assert server.proc.poll() is None
