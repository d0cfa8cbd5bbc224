"""What the chaos scenarios share: how long each runs (``CHAOS_SECONDS``, a few seconds by
default so that the normal test command runs them; ``make chaos`` gives them longer), a
load generator made of real HTTP clients, garbage input, and printing the figures each
scenario measured.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterator

import httpx
from support import ClientThreads, PausingClients, wait_until

#: Seconds of load per scenario: short in the test command, longer under ``make chaos``.
SECONDS = float(os.environ.get("CHAOS_SECONDS", "3"))


#: The SIGTERM and SIGHUP scenarios' clients: busy ones (``Load``) and idle ones
#: (``support.PausingClients``), each pausing 0.1 to 0.8 s between requests. After a stop
#: the server gives an idle kept-alive connection a grace of 1 s (``LAST_REQUEST_GRACE``
#: in ``src/timers.rs``) to send one more request, which it answers with ``Connection:
#: close``; pauses shorter than that, with room for a loaded machine's scheduling, mean
#: each idle client's next request always falls within the grace, so the server must
#: answer it rather than close the connection under the client.
BUSY_CLIENTS = 8
IDLE_CLIENTS = 8
IDLE_PAUSES = (0.1, 0.8)


def report(scenario: str, **figures: object) -> None:
    """Prints one scenario's figures on one line (``pytest -s`` shows them; the lead quotes them)."""
    print(f"\nCHAOS {scenario}: " + " ".join(f"{name}={value}" for name, value in figures.items()), flush=True)


class Load(ClientThreads):
    """``threads`` httpx clients sending requests to ``path`` back to back until stopped: GETs,
    or POSTs of ``body``; on kept-alive connections, or (``keep_alive=False``) on a new one
    each time. Every outcome is recorded with the time it completed: the status code, or the
    name of the httpx exception."""

    def __init__(
        self,
        url: str,
        threads: int = 4,
        path: str = "/",
        *,
        keep_alive: bool = True,
        body: bytes | None = None,
    ) -> None:
        super().__init__(threads)
        self.url = url + path
        self.keep_alive = keep_alive
        self.body = body
        # When each request completed, in order (8 bytes each: a soak makes millions), and
        # the outcomes other than 200 with theirs.
        self._times = array("d")
        self._failures: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def _run(self, index: int) -> None:
        limits = httpx.Limits(max_keepalive_connections=1 if self.keep_alive else 0)
        with httpx.Client(timeout=10, limits=limits) as client:
            while not self._stop.is_set():
                try:
                    if self.body is None:
                        outcome = str(client.get(self.url).status_code)
                    else:
                        outcome = str(client.post(self.url, content=self.body).status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self._lock:
                    now = time.monotonic()
                    self._times.append(now)
                    if outcome != "200":
                        self._failures.append((now, outcome))

    def failures(self, since: float = 0.0) -> list[str]:
        """The outcomes other than 200 from ``since`` on (a ``time.monotonic()``)."""
        with self._lock:
            return [outcome for at, outcome in self._failures if at >= since]

    def count(self, since: float = 0.0) -> int:
        """How many requests completed from ``since`` on, whatever their outcome."""
        with self._lock:
            return len(self._times) - bisect_left(self._times, since)


#: What garbage is made from (``garbage``): valid requests, mutated.
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


def garbage(rng: random.Random) -> bytes:
    """One connection's worth of garbage: random bytes (30 %) or a mutated valid request."""
    if rng.random() < 0.3:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 512)))
    return _mutate(rng.choice(VALID), rng)


def is_server_failure(answer: bytes) -> bool:
    """Whether ``answer``'s status line says the server failed (500, 502, 503, 504)."""
    return any(marker in answer.split(b"\r\n", 1)[0] + b" " for marker in SERVER_FAILURES)


def send_raw(host: str, port: int, payload: bytes) -> bytes:
    """Sends ``payload`` on a new connection, ends its sending side, and returns what came
    back (up to 4 KiB; empty if the server closed or reset it without a word)."""
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


@contextlib.contextmanager
def busy_and_idle_clients(server) -> Iterator[tuple[Load, PausingClients]]:
    """The SIGTERM and SIGHUP scenarios' clients (see ``BUSY_CLIENTS``), under way: the busy
    ones past their first 100 answers, each idle one past its first two."""
    with (
        Load(server.url, threads=BUSY_CLIENTS) as load,
        PausingClients(server, threads=IDLE_CLIENTS, pauses=IDLE_PAUSES) as idle,
    ):
        wait_until(lambda: load.count() >= 100, timeout=10, message="the load never got going")
        idle.wait_answered(2 * IDLE_CLIENTS)
        yield load, idle
