"""Garbage input over many connections: random bytes and mutated valid requests. Nothing
gets a 5xx that says the server failed (500, 502, 503, 504), and the server still answers
a normal request afterwards."""

from __future__ import annotations

import random
import time

import httpx
from chaos_support import SECONDS, garbage, is_server_failure, report, send_raw


def test_garbage_gets_no_server_failure_and_no_crash(serve):
    server = serve("apps.basic:hello", "-w", "2", "--timeout-request-headers", "1")
    rng = random.Random(18)
    deadline = time.monotonic() + SECONDS
    sent, answered, failures = 0, 0, []
    while time.monotonic() < deadline:
        payload = garbage(rng)
        answer = send_raw(server.host, server.port, payload)
        sent += 1
        answered += bool(answer)
        if is_server_failure(answer):
            failures.append((payload, answer[:200]))
    assert server.proc.poll() is None, server.stderr()
    normal = httpx.get(server.url + "/", timeout=5)
    report("garbage", connections=sent, answered=answered, server_failures=len(failures), alive=True)
    assert failures == [], failures[:3]
    assert normal.status_code == 200
    assert "panicked" not in server.stderr()
