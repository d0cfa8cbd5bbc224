"""SIGHUP (a rolling restart) of 2 workers under load, with busy and idle keep-alive clients
(as in ``test_chaos_sigterm.py``), again and again for the scenario's time, and at least
``MIN_RESTARTS`` times however short it is: not one request fails, none is refused (the
listening sockets never stop listening), and no kept-alive connection is closed under a
client (a stopping worker answers each connection's next request with ``Connection:
close``, and the client reconnects to the new workers)."""

from __future__ import annotations

import signal
import statistics
import time

from chaos_support import IDLE_CLIENTS, SECONDS, busy_and_idle_clients, report
from support import process_alive, ready_worker_pids, wait_until

MIN_RESTARTS = 3


def test_sighup_rolling_restarts_under_load_with_idle_keep_alive_clients_refuse_nothing(serve):
    server = serve("apps.workers:pid", "-w", "2")
    generation = ready_worker_pids(server, 2)
    seen = set(generation)
    restarts: list[float] = []  # how long each took, from SIGHUP to the old workers' exit
    with busy_and_idle_clients(server) as (load, idle):
        until = time.monotonic() + SECONDS
        while len(restarts) < MIN_RESTARTS or time.monotonic() < until:
            old = generation
            started = time.monotonic()
            server.proc.send_signal(signal.SIGHUP)
            generation = ready_worker_pids(server, 2, exclude=seen)
            seen |= set(generation)
            wait_until(
                lambda old=old: not any(map(process_alive, old)),
                timeout=15,
                message=f"old workers {old} did not exit",
            )
            restarts.append(time.monotonic() - started)
            # The new workers serve both kinds of client before the next restart.
            done = time.monotonic()
            wait_until(lambda done=done: load.count(since=done) >= 50, timeout=10, message="the load stalled")
            idle.wait_answered(IDLE_CLIENTS)
    report(
        "sighup",
        restarts=len(restarts),
        restart_s_median=round(statistics.median(restarts), 2),
        restart_s_max=round(max(restarts), 2),
        busy_answered=load.count() - len(load.failures()),
        busy_failures=len(load.failures()),
        idle_answered=idle.answered,
        idle_failures=len(idle.failures),
        idle_refused=len(idle.refused),
        idle_closes=len(idle.idle_closes),
    )
    assert load.failures() == [], load.failures()[:5]
    assert idle.failures == [], idle.failures[:5]
    assert idle.refused == [], len(idle.refused)
    assert idle.idle_closes == [], "a stopping worker closed a kept-alive connection under a client"
    assert server.stderr().count("Received SIGHUP") == len(restarts)
    assert server.proc.poll() is None
