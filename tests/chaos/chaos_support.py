"""What the chaos scenarios share: how long each runs (``CHAOS_SECONDS``, a few seconds by
default so that the normal test command runs them; ``make chaos`` gives them longer), a
load generator made of real HTTP clients, and printing the figures each scenario measured.
"""

from __future__ import annotations

import os
import threading
import time
from array import array
from bisect import bisect_left

import httpx
from support import ClientThreads

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
