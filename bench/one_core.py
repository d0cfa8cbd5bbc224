"""What the one-core benchmarks share (strict.py, protocols.py, static_files.py): the server
pinned to one core and the load generator to the other, and how to tell a run whose load
generator, not the server, decided the figure.

Pinning with ``taskset`` keeps the two from competing for a core (a server free to use
both would take the load generator's core and flatter itself), and makes the server's CPU
time per request (from /proc) the figure a user pays for.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

SERVER_CORE = "0"
LOAD_CORE = "1"
# A load generator busier than this (share of its one core) was the bottleneck: its run
# says more about the client than about the server.
CLIENT_BOUND = 0.95


def on_server_core(command: list[str]) -> list[str]:
    """``command`` pinned to the server's core."""
    return ["taskset", "-c", SERVER_CORE, *command]


def on_load_core(command: list[str]) -> list[str]:
    """``command`` pinned to the load generator's core."""
    return ["taskset", "-c", LOAD_CORE, *command]


def children_cpu(after: os.times_result, before: os.times_result) -> float:
    """CPU seconds the child processes that finished in between (the load generator) used."""
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def client_label(busy: float) -> str:
    """The load generator's busiest share of its core, marked when it was the bottleneck."""
    return f"{busy:.0%}" + (" (bound)" if busy > CLIENT_BOUND else "")


def add_round_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every one-core benchmark takes: its rounds, each run's measured and
    warm-up seconds, and where the results go (bench/results)."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")


def connection_counts(parser: argparse.ArgumentParser, text: str) -> list[int]:
    """``--connections`` (``64,256``) as numbers; anything else is the parser's error (exit 2)."""
    try:
        return [int(count) for count in text.split(",")]
    except ValueError:
        parser.error(f"--connections {text!r}: a comma-separated list of numbers")


def can_run(name: str) -> bool:
    """Whether this machine has what a one-core run needs (two cores, taskset and wrk); if
    not, ``name`` says what is missing on stderr."""
    missing = [tool for tool in ("taskset", "wrk") if shutil.which(tool) is None]
    if missing or (os.cpu_count() or 1) < 2:
        print(f"{name}: needs two cores, taskset and wrk (missing: {', '.join(missing) or 'a core'})", file=sys.stderr)
        return False
    return True
