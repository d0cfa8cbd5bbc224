"""SIGTERM under load, with workers: the supervisor drains and exits 0 in time; every request
a worker took is answered (200); the clients see only refusals once the listeners stop (and
at most one closed keep-alive connection each: a request sent as the server closes an idle
connection is the one race HTTP/1.1 leaves to the client), never a 5xx or a hang."""

from __future__ import annotations

import signal
import time

from chaos_support import SECONDS, Load, report
from support import ready_worker_pids, wait_until

#: What a client may see once the drain has begun, besides 200.
REFUSED = "ConnectError"
CLOSED = "RemoteProtocolError"


def test_sigterm_under_load_answers_what_was_taken_and_exits_in_time(serve):
    server = serve("apps.workers:pid", "-w", "2", "--timeout-graceful-shutdown", "10")
    ready_worker_pids(server, 2)
    threads = 8
    with Load(server.url, threads=threads) as load:
        wait_until(lambda: load.count() >= 100, timeout=10, message="the load never got going")
        steady_until = time.monotonic() + SECONDS
        wait_until(lambda: time.monotonic() >= steady_until, timeout=SECONDS + 1)
        before = load.failures()
        stopped_at = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(20)
        exited_in = time.monotonic() - stopped_at
        wait_until(lambda: load.count(since=time.monotonic() - 0.2) >= threads, timeout=5)
    after = load.failures(since=stopped_at)
    kinds = {outcome: after.count(outcome) for outcome in set(after)}
    report(
        "sigterm",
        requests=load.count(),
        before_failures=len(before),
        after_by_kind=kinds,
        exited_in_ms=round(exited_in * 1000),
    )
    assert before == [], before
    assert code == 0, server.stderr()
    assert exited_in < 10, exited_in
    assert set(after) <= {REFUSED, CLOSED}, kinds
    assert after.count(CLOSED) <= threads, kinds
