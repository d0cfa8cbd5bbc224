"""Garbage input over many connections: random bytes and mutated valid requests. Nothing
gets a 5xx that says the server failed (500, 502, 503, 504), and the server still answers
a normal request afterwards."""

from __future__ import annotations

import random
import socket
import time

import httpx
from chaos_support import SECONDS, report

VALID = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /submit HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET /a?b=c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
]
SERVER_FAILURES = (b" 500 ", b" 502 ", b" 503 ", b" 504 ")


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        kind = rng.randrange(4)
        at = rng.randrange(len(out)) if out else 0
        if kind == 0 and out:
            out[at] = rng.randrange(256)
        elif kind == 1:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif kind == 2 and out:
            del out[at : at + rng.randint(1, 8)]
        else:
            out[at:at] = out[at : at + rng.randint(1, 32)] * rng.randint(2, 20)
    return bytes(out)


def _send(host: str, port: int, payload: bytes) -> bytes:
    answer = b""
    with socket.create_connection((host, port), timeout=2) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            while len(answer) < 4096:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        except OSError:
            pass  # silence or a reset is an acceptable answer to garbage
        return answer


def test_garbage_gets_no_server_failure_and_no_crash(serve):
    server = serve("apps.basic:hello", "-w", "2", "--timeout-request-headers", "1")
    rng = random.Random(18)
    deadline = time.monotonic() + SECONDS
    sent, answered, failures = 0, 0, []
    while time.monotonic() < deadline:
        if rng.random() < 0.3:
            payload = bytes(rng.randrange(256) for _ in range(rng.randint(1, 512)))
        else:
            payload = _mutate(rng.choice(VALID), rng)
        answer = _send(server.host, server.port, payload)
        sent += 1
        answered += bool(answer)
        if any(marker in answer.split(b"\r\n", 1)[0] + b" " for marker in SERVER_FAILURES):
            failures.append((payload, answer[:200]))
    assert server.proc.poll() is None, server.stderr()
    normal = httpx.get(server.url + "/", timeout=5)
    report("garbage", connections=sent, answered=answered, server_failures=len(failures), alive=True)
    assert failures == [], failures[:3]
    assert normal.status_code == 200
    assert "panicked" not in server.stderr()
