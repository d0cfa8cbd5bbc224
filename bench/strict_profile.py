#!/usr/bin/env python3
"""Where each server's CPU goes, per request: the strict benchmark's runs under ``perf``.

A target strict.md marks as missed is explained by a profile, not a guess. This runs
scenarios the way strict.py does (the same command lines, the server on CPU 0 and wrk on
CPU 1, a warm-up first), records the server's process tree with ``perf record -e cpu-clock``
during the measured window, and turns the samples into CPU µs per request: by thread, by
shared object (the kernel, libpython, the server's own extension, libc, ...) and by symbol,
each server of a scenario beside the others. Sampling costs the server a little, so the
requests/s here are not strict.md's and are printed only to say how many requests the
samples are divided by.

    bash bench/run.sh profile --only wsgi-echo --connections 256 --servers amphicorn,granian
    bench/.venv/bin/python bench/strict_profile.py --amphicorn-python PY --only wsgi-hello,asgi-hello

Writes ``--out`` (default bench/results): profile.md and profile.json; the perf data and
wrk's output stay in raw/profile/.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import strict
from one_core import LOAD_CORE, SERVER_CORE

# Samples per second of CPU time: thousands per run, and little added to what is measured
# (at 4999 Hz the bare hyper hello took 8.8 µs per request instead of 6).
FREQUENCY = 999
# How many shared objects and symbols each server's section lists.
TOP_DSOS = 8
TOP_SYMBOLS = 25
# How many symbols profile.json keeps per server (the rest are a long tail of crumbs).
KEPT_SYMBOLS = 60
# `perf script -F comm,tid,ip,sym,dso`: "<comm> <tid> <ip> <symbol> (<dso>)"; a thread's
# name and a Rust symbol may both hold spaces.
SAMPLE = re.compile(r"^\s*(?P<comm>.*?)\s+(?P<tid>\d+)\s+(?P<ip>[0-9a-f]+)\s+(?P<sym>.*?)\s+\((?P<dso>[^()]*)\)\s*$")


@contextlib.contextmanager
def perf_record(pids: list[int], data: Path) -> Iterator[None]:
    """``perf record`` of ``pids`` (their threads, and threads they start) for the block's time."""
    command = ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(FREQUENCY)]
    command += ["-p", ",".join(map(str, pids)), "-o", str(data)]
    log = data.with_suffix(".perf.log")
    with open(log, "wb") as out:
        perf = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield
    finally:
        perf.send_signal(signal.SIGINT)
        try:
            perf.wait(60)
        except subprocess.TimeoutExpired:
            perf.kill()
            perf.wait()
    if perf.returncode not in (0, -signal.SIGINT):
        raise RuntimeError(f"perf record exited with {perf.returncode}: {log.read_text(errors='replace')[-300:]}")


def thread_group(comm: str) -> str:
    """A thread's name with its number dropped: a pool's threads count as one line."""
    return re.sub(r"[-_]\d*$", "-N", comm)


def dso_name(dso: str) -> str:
    """A shared object's file name, without the version suffixes of libraries."""
    name = dso.rsplit("/", 1)[-1]
    return re.sub(r"\.cpython-[^.]+\.so$", ".so", name)


def count_samples(script_output: str) -> dict[str, Counter]:
    """Samples by thread group, shared object and symbol (with its object), from perf script."""
    counts: dict[str, Counter] = {"thread": Counter(), "dso": Counter(), "symbol": Counter()}
    for line in script_output.splitlines():
        match = SAMPLE.match(line)
        if not match:
            continue
        dso = dso_name(match["dso"])
        counts["thread"][thread_group(match["comm"])] += 1
        counts["dso"][dso] += 1
        counts["symbol"][f"{match['sym'][:90]} ({dso})"] += 1
    return counts


def read_samples(data: Path) -> dict[str, Counter]:
    script = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "comm,tid,ip,sym,dso"],
        capture_output=True,
        text=True,
        errors="replace",
        check=True,
    )
    return count_samples(script.stdout)


def per_request(counts: Counter, requests: int) -> list[tuple[str, float]]:
    """Each key's CPU µs per request, most first: samples / FREQUENCY seconds / requests."""
    return [(key, samples / FREQUENCY / requests * 1e6) for key, samples in counts.most_common()]


def profile_one(
    scenario: strict.StrictScenario, connections: int, name: str, args: argparse.Namespace, raw: Path
) -> dict:
    label = f"{scenario.name}__{connections}__{name.replace('+', '_')}"
    data = raw / f"{label}.data"
    row = strict.run_one(scenario, connections, name, args, raw, recorder=lambda pids: perf_record(pids, data))
    if not row["ok"]:
        return row
    requests = row["requests"]
    counts = read_samples(data)
    return {
        **row,
        "requests": requests,
        "sampled_us": sum(counts["dso"].values()) / FREQUENCY / requests * 1e6,
        "thread_us": per_request(counts["thread"], requests),
        "dso_us": per_request(counts["dso"], requests),
        "symbol_us": per_request(counts["symbol"], requests)[:KEPT_SYMBOLS],
    }


def _cell(values: dict[str, float], key: str) -> str:
    return f"{values[key]:.2f}" if key in values else "—"


def render_group(rows: list[dict]) -> list[str]:
    """One scenario at one connection count: the servers side by side by shared object and
    by thread, then each server's symbols."""
    lines = []
    ok = [row for row in rows if row["ok"]]
    for row in rows:
        if not row["ok"]:
            lines += [f"- {row['server']}: {row['error'][:200]}", ""]
    if not ok:
        return lines
    header = "| | " + " | ".join(row["server"] for row in ok) + " |"
    rule = "|---|" + "---:|" * len(ok)
    lines += [header, rule]
    lines.append("| req/s under perf | " + " | ".join(f"{row['rps']:,.0f}" for row in ok) + " |")
    lines.append("| CPU µs/req (/proc) | " + " | ".join(f"{row['cpu_us']:.2f}" for row in ok) + " |")
    lines.append("| CPU µs/req (samples) | " + " | ".join(f"{row['sampled_us']:.2f}" for row in ok) + " |")
    for kind in ("dso", "thread"):
        tables = [dict(row[f"{kind}_us"]) for row in ok]
        keys = []
        for row in ok:
            keys += [key for key, _ in row[f"{kind}_us"][:TOP_DSOS] if key not in keys]
        for key in keys:
            lines.append(f"| {kind} `{key}` | " + " | ".join(_cell(table, key) for table in tables) + " |")
    lines.append("")
    for row in ok:
        lines += [
            f"{row['server']}, the top {TOP_SYMBOLS} symbols (CPU µs per request):",
            "",
            "| µs/req | symbol (object) |",
            "|---:|---|",
        ]
        lines += [f"| {us:.2f} | `{symbol}` |" for symbol, us in row["symbol_us"][:TOP_SYMBOLS]]
        lines.append("")
    return lines


def render(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "# Where the CPU goes: the strict benchmark under perf",
        "",
        f"`perf record -e cpu-clock -F {FREQUENCY}` of the server's process tree for {args.duration:g} s of wrk "
        f"(after {args.warmup:g} s of warm-up); the server on CPU {SERVER_CORE}, wrk on CPU {LOAD_CORE}, "
        "each server as in strict.md. Every figure is CPU µs per request: samples / "
        f"{FREQUENCY} Hz / requests. Sampling slows the server a little: the requests/s are not strict.md's.",
        "",
    ]
    for scenario in args.scenarios:
        for count in args.connection_counts:
            group = [row for row in rows if row["case"] == scenario.name and row["kind"] == str(count)]
            if group:
                lines += [f"## {scenario.name}, {count} connections", "", scenario.description, ""]
                lines += render_group(group)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    if any(arg.startswith("--rounds") for arg in argv or sys.argv[1:]):
        print("strict_profile: --rounds: one run per server here (strict.py takes rounds)", file=sys.stderr)
        return 2
    args = strict.parse_args(argv, default_servers="amphicorn,granian", description=__doc__.split("\n\n")[0])
    missing = [tool for tool in ("taskset", "wrk", "perf") if shutil.which(tool) is None]
    if missing:
        print(f"strict_profile: missing {', '.join(missing)} (perf: apt-get install linux-perf)", file=sys.stderr)
        return 2
    raw = args.out / "raw" / "profile"
    raw.mkdir(parents=True, exist_ok=True)
    rows = strict.each_server(
        args,
        lambda scenario, connections, name: profile_one(scenario, connections, name, args, raw),
        lambda row: f"{row['cpu_us']:.1f} µs/req, {row['sampled_us']:.1f} sampled",
    )
    strict.write_results(args.out, "profile", rows, render(rows, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
