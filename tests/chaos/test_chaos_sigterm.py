"""SIGTERM under load, to one process and to a supervisor of 2 workers, with two kinds of
clients at once: busy ones (httpx on kept-alive connections, requests back to back) and idle
ones (raw sockets on kept-alive connections, pausing between requests as browsers and
connection pools do). The server drains and exits 0 in time, and refuses nothing a client
sent: every request is either answered (200) or was never sent, because the new connection
it needed was refused (the listeners stop at once, so that a balancer's next try goes to
another instance). No request that went out meets a close, a reset or a 5xx.
(Why the idle clients pause 0.1 to 0.8 s: ``chaos_support.IDLE_PAUSES``.)"""

from __future__ import annotations

import signal
import time

import pytest
from chaos_support import BUSY_CLIENTS, IDLE_CLIENTS, SECONDS, busy_and_idle_clients, report
from support import ready_worker_pids, wait_until

#: What a busy (httpx) client may see once the stop has begun, besides 200: its new
#: connection refused, so the request never left it.
REFUSED = "ConnectError"
GRACEFUL_TIMEOUT = 20
#: The drain ends once each idle client has sent its last request (within 1 s) and each busy
#: one has had its Connection: close; a drain held to the graceful timeout takes 20 s.
EXIT_LIMIT = 10


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "2-workers"])
def test_sigterm_under_load_with_idle_keep_alive_clients_refuses_nothing_sent(serve, workers):
    server = serve("apps.workers:pid", "-w", str(workers), "--timeout-graceful-shutdown", str(GRACEFUL_TIMEOUT))
    if workers > 1:
        ready_worker_pids(server, workers)
    with busy_and_idle_clients(server) as (load, idle):
        steady_until = time.monotonic() + SECONDS
        wait_until(lambda: time.monotonic() >= steady_until, timeout=SECONDS + 1)
        busy_before = load.failures()
        idle_before = (list(idle.failures), len(idle.refused), len(idle.idle_closes))
        stopped_at = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(GRACEFUL_TIMEOUT + 10)
        exited_in = time.monotonic() - stopped_at
        # Every client has met the end: a busy request and each idle client's next try after the exit.
        exited_at = time.monotonic()
        wait_until(lambda: load.count(since=exited_at) >= BUSY_CLIENTS, timeout=5)
        wait_until(lambda: len([at for at in idle.refused if at >= exited_at]) >= IDLE_CLIENTS, timeout=5)
    busy_after = load.failures(since=stopped_at)
    busy_kinds = {outcome: busy_after.count(outcome) for outcome in set(busy_after)}
    idle_answered_in_drain = sum(1 for at in idle.answers if at >= stopped_at)
    report(
        f"sigterm-{'one-process' if workers == 1 else f'{workers}-workers'}",
        busy_answered=load.count() - len(load.failures()),
        idle_answered=idle.answered,
        busy_after_stop_by_kind=busy_kinds,
        idle_answered_in_drain=idle_answered_in_drain,
        idle_refused=len(idle.refused),
        idle_failures=len(idle.failures),
        idle_closes=len(idle.idle_closes),
        exited_in_ms=round(exited_in * 1000),
    )
    assert busy_before == [], busy_before
    assert idle_before == ([], 0, 0), idle_before
    assert code == 0, server.stderr()
    assert exited_in < EXIT_LIMIT, exited_in
    assert set(busy_after) <= {REFUSED}, busy_kinds
    assert idle.failures == [], idle.failures[:5]
    assert idle.idle_closes == [], "the server closed a kept-alive connection under a client within the grace"
    # Each idle client's request after the stop was answered, before it was refused.
    assert idle_answered_in_drain >= IDLE_CLIENTS, idle_answered_in_drain
