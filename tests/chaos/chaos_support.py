"""What the chaos scenarios share: how long each runs (``CHAOS_SECONDS``, a few seconds by
default so that the normal test command runs them; ``make chaos`` gives them longer), a
load generator made of real HTTP clients, and printing the figures each scenario measured.
"""

from __future__ import annotations

import os
import threading
import time

import httpx
from support import ClientThreads

#: Seconds of load per scenario: short in the test command, longer under ``make chaos``.
SECONDS = float(os.environ.get("CHAOS_SECONDS", "3"))


def report(scenario: str, **figures: object) -> None:
    """Prints one scenario's figures on one line (``pytest -s`` shows them; the lead quotes them)."""
    print(f"\nCHAOS {scenario}: " + " ".join(f"{name}={value}" for name, value in figures.items()), flush=True)


class Load(ClientThreads):
    """``threads`` keep-alive httpx clients sending GET ``path`` back to back until stopped;
    every outcome is recorded with the time it completed."""

    def __init__(self, url: str, threads: int = 4, path: str = "/") -> None:
        super().__init__(threads)
        self.url = url + path
        self.outcomes: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def _run(self, index: int) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                try:
                    outcome = str(client.get(self.url).status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self._lock:
                    self.outcomes.append((time.monotonic(), outcome))

    def failures(self, since: float = 0.0) -> list[str]:
        with self._lock:
            return [outcome for at, outcome in self.outcomes if at >= since and outcome != "200"]

    def count(self, since: float = 0.0) -> int:
        with self._lock:
            return sum(1 for at, _ in self.outcomes if at >= since)
