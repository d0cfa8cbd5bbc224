"""SIGHUP rolling restarts with clients that keep their connections alive and pause between
requests, as browsers and connection pools do: not one request may fail. A stopping worker
must never close a kept-alive connection at the moment a client sends on it (gunicorn drops
none here). Raw sockets, so that no client library retries behind the test's back."""

from __future__ import annotations

import random
import re
import signal
import threading

from conftest import Server
from support import ClientThreads, ConnectionClosed, RawConnection, build_request, wait_until

PID_APP = "apps.workers:pid"
READY_RE = re.compile(r"Worker process (\d+) is ready")
RESTARTS = 5


class _PausingClients(ClientThreads):
    """Threads that each keep one connection alive, pausing 50 to 200 ms between requests;
    a connection the server closes *after* answering with ``Connection: close`` is replaced.
    Anything else (a close or reset instead of an answer, another status) is a failure."""

    def __init__(self, server: Server, threads: int = 8) -> None:
        super().__init__(threads)
        self.server = server
        self.answered = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def _run(self, seed: int) -> None:
        pauses = random.Random(seed)
        conn: RawConnection | None = None
        while not self._stop.is_set():
            if conn is None:
                conn = RawConnection.to(self.server, timeout=10)
            try:
                conn.send(build_request("GET", "/"))
                response = conn.read_response()
            except (ConnectionClosed, OSError) as exc:
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = None
                continue
            with self._lock:
                if response.status == 200:
                    self.answered += 1
                else:
                    self.failures.append(f"status {response.status}")
            if (response.header("connection") or "").lower() == "close":
                conn.close()
                conn = None
            # The stimulus: an idle kept-alive connection, as between a browser's clicks.
            self._stop.wait(pauses.uniform(0.05, 0.2))
        if conn is not None:
            conn.close()

    def wait_answered(self, count: int) -> None:
        target = self.answered + count
        wait_until(lambda: self.answered >= target, timeout=15, message=f"{count} more answers never came")


def _ready_pids(server: Server, exclude: set[int]) -> list[int]:
    def found(text: str) -> list[int]:
        return [pid for pid in map(int, READY_RE.findall(text)) if pid not in exclude]

    assert server.wait_for(lambda text: len(found(text)) >= 2, 15), server.stderr()
    return found(server.stderr())[:2]


def _gone(pids: list[int]) -> bool:
    return not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def test_rolling_restarts_drop_no_request_from_pausing_keep_alive_clients(serve):
    server = serve(PID_APP, "-w", "2")
    seen = set(_ready_pids(server, exclude=set()))
    with _PausingClients(server) as clients:
        for _ in range(RESTARTS):
            clients.wait_answered(40)
            old = sorted(seen)
            server.proc.send_signal(signal.SIGHUP)
            seen |= set(_ready_pids(server, exclude=seen))
            wait_until(lambda old=old: _gone(old), timeout=15, message=f"old workers {old} did not exit")
        clients.wait_answered(40)
    assert clients.failures == [], (len(clients.failures), clients.answered, clients.failures[:5])
    assert server.stderr().count("Received SIGHUP") == RESTARTS
