"""SIGHUP rolling restarts with clients that keep their connections alive and pause between
requests, as browsers and connection pools do: not one request may fail. A stopping worker
must never close a kept-alive connection at the moment a client sends on it (gunicorn drops
none here). Raw sockets, so that no client library retries behind the test's back."""

from __future__ import annotations

import signal

from support import PausingClients, process_alive, ready_worker_pids, wait_until

PID_APP = "apps.workers:pid"
RESTARTS = 5


def test_rolling_restarts_drop_no_request_from_pausing_keep_alive_clients(serve):
    server = serve(PID_APP, "-w", "2")
    seen = set(ready_worker_pids(server, 2))
    with PausingClients(server) as clients:
        for _ in range(RESTARTS):
            clients.wait_answered(40)
            old = sorted(seen)
            server.proc.send_signal(signal.SIGHUP)
            seen |= set(ready_worker_pids(server, 2, exclude=seen))
            wait_until(
                lambda old=old: not any(map(process_alive, old)),
                timeout=15,
                message=f"old workers {old} did not exit",
            )
        clients.wait_answered(40)
    assert clients.failures == [], (len(clients.failures), clients.answered, clients.failures[:5])
    # No connection was closed under a pausing client (each got `Connection: close` with an
    # answer), and the listening sockets never stopped listening.
    assert clients.idle_closes == [], len(clients.idle_closes)
    assert clients.refused == [], len(clients.refused)
    assert server.stderr().count("Received SIGHUP") == RESTARTS
