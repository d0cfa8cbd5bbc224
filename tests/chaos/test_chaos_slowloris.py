"""Slow clients (slowloris: request heads that drip a byte at a time and never end) do not
slow the others: normal requests' p99 with them connected stays within 2x of idle (plus
10 ms, for a shared machine's scheduling noise). 300 slow clients in the test command,
2,000 under ``make chaos`` (``CHAOS_SLOW_CLIENTS``)."""

from __future__ import annotations

import os
import socket
import time

import httpx
from chaos_support import report

SLOW_CLIENTS = int(os.environ.get("CHAOS_SLOW_CLIENTS", "300"))
SAMPLES = 300


def _p99(url: str) -> float:
    times = []
    with httpx.Client(timeout=10) as client:
        for _ in range(SAMPLES):
            started = time.perf_counter()
            assert client.get(url).status_code == 200
            times.append(time.perf_counter() - started)
    times.sort()
    return times[int(len(times) * 0.99) - 1] * 1000


def test_slow_clients_leave_normal_requests_p99_within_2x(serve):
    server = serve("apps.basic:hello", "--timeout-request-headers", "60")
    idle = _p99(server.url + "/")
    slow = []
    try:
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection((server.host, server.port), timeout=10)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ")
            slow.append(sock)
        for sock in slow:
            sock.sendall(b"a")  # the drip: one more byte each
        loaded = _p99(server.url + "/")
    finally:
        for sock in slow:
            sock.close()
    report("slowloris", slow_clients=SLOW_CLIENTS, p99_idle_ms=round(idle, 2), p99_loaded_ms=round(loaded, 2))
    assert loaded <= 2 * idle + 10, (idle, loaded)
