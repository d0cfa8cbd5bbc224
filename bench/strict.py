#!/usr/bin/env python3
# ruff: noqa: RUF001 -- the tables print ratios with a multiplication sign on purpose
"""The strict benchmark (issue 17): every server on one core, wrk on the other.

Each server runs pinned to CPU 0 (``taskset``) in its best configuration for one core, wrk
(one thread) pinned to CPU 1, so neither takes the other's core and the server's CPU time
per request (user + system of its process tree, from /proc, over the measured window) is
what a user pays for. Every scenario runs at each ``--connections`` count (64 and 256),
in ``--rounds`` interleaved rounds (every server once per round), and the table gives the
median requests/s with the range, the median CPU µs per request, the peak RSS, and wrk's
busiest share of its core: over 95 % it was the bottleneck, and the row says ``(bound)``.

Scenarios: the hellos, echoes and 1 MiB streams of bench.py's apps (``apps/``); the mixed
process (a WSGI app at /legacy and an ASGI app at /api) loaded on one route at a time
(``mixed-wsgi``, ``mixed-asgi``: against granian's pure WSGI and ASGI figures) and on both
at once (``mixed``, ``real-mixed``: each request to the next route in turn, so every server
answers the same mix). Peers (``strict_peers.py`` has their command lines): granian
(``--runtime-mode st --runtime-threads 1``), pyvoy, uvicorn and hypercorn (uvloop),
gunicorn (gthread), uvicorn + a2wsgi and uvicorn + amphicorn.WSGIMiddleware, granian +
a2wsgi for the mixed process, and bare hyper (the ceiling: its hello, and its echo of the 64 KiB
bodies).

    bash bench/run.sh strict                          # 3 rounds of 10 s, 64 and 256 connections
    bash bench/run.sh strict --only wsgi-hello --servers amphicorn,granian --rounds 1
    bash bench/run.sh strict --quick --out /tmp/strict

Writes ``--out`` (default bench/results): strict.json, strict.md, strict.png, raw/strict/. The targets
of issue 17 are checked against the run (``strict_targets.py``) at the end of strict.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from one_core import (
    LOAD_CORE,
    SERVER_CORE,
    add_round_arguments,
    can_run,
    children_cpu,
    client_label,
    connection_counts,
    on_load_core,
    on_server_core,
)
from strict_chart import render_png
from strict_peers import PEERS, SCENARIOS, THREADS, Pythons, StrictScenario, command_for
from strict_targets import render_targets

import bench
from bench import RssSampler, Server, check_route, cpu_seconds, free_port, run_wrk, tree_pids

DEFAULT_SERVERS = ",".join(PEERS)


def run_one(
    scenario: StrictScenario,
    connections: int,
    name: str,
    args: argparse.Namespace,
    raw: Path,
    recorder: Callable[[list[int]], AbstractContextManager] | None = None,
) -> dict:
    """One server under one scenario at one connection count: a row of the table.
    ``recorder`` wraps the measured window, given the server's pids (strict_profile.py's perf)."""
    row: dict = {"case": scenario.name, "kind": str(connections), "server": name, "ok": False}
    port = free_port()
    command = command_for(name, scenario, port, args.pythons)
    if command is None:
        return {**row, "error": "not applicable"}
    label = f"{scenario.name}__{connections}__{name.replace('+', '_')}"
    command = on_server_core(command)
    server = Server(command, raw / f"{label}.log", threads=THREADS)
    try:
        problem = server.wait_ready(port)
        for route in scenario.routes:
            problem = problem or check_route(port, route)
        if problem:
            return {**row, "error": f"{problem}; server said: {bench.error_line(server.log_text())}"}
        pin = tuple(on_load_core([]))
        if args.warmup > 0:
            run_wrk(port, scenario.load, args.warmup, connections, 1, raw / f"{label}__warmup", pin)
        with RssSampler(server.proc.pid) as sampler, (recorder or _nothing)(sampler.pids):
            cpu_before = cpu_seconds(sampler.pids)
            times_before = os.times()
            routes = run_wrk(port, scenario.load, args.duration, connections, 1, raw / label, pin)
            cpu = cpu_seconds(tree_pids(server.proc.pid)) - cpu_before
            client = children_cpu(os.times(), times_before)
        broken = [f"{route['path']}: {route['error']}" for route in routes if not route["ok"]]
        requests = sum(route["requests"] for route in routes if route["ok"])
        if broken or not requests:
            return {**row, "error": "; ".join(broken) or "no request answered"}
        if server.proc.poll() is not None:
            return {**row, "error": f"died during the run: {bench.error_line(server.log_text())}"}
        seconds = max(route["seconds"] for route in routes)
        return {
            **row,
            "ok": True,
            "rps": requests / seconds,
            "requests": requests,
            "cpu_us": cpu / requests * 1e6,
            "peak_rss_mib": sampler.peak / 2**20,
            "client_busy": client / seconds,
            "errors": sum(route["errors"] for route in routes),
            "command": command,
        }
    finally:
        server.stop()


def _nothing(pids: list[int]) -> AbstractContextManager:
    return contextlib.nullcontext()


def each_server(
    args: argparse.Namespace, measure: Callable[[StrictScenario, int, str], dict], shown: Callable[[dict], str]
) -> list[dict]:
    """One run of every server of ``args`` under every scenario and connection count (the
    profiles' way: strict.py's own rounds interleave the servers): the rows, each printed as
    it ends, ``shown`` when it went well; servers a scenario does not apply to are left out."""
    rows = []
    for scenario in args.scenarios:
        for connections in args.connection_counts:
            for name in args.servers:
                row = measure(scenario, connections, name)
                if row.get("error") == "not applicable":
                    continue
                rows.append(row)
                print(f"{scenario.name} c{connections} {name}: {shown(row) if row['ok'] else row['error']}", flush=True)
    return rows


def write_results(out: Path, stem: str, rows: list[dict], markdown: str) -> None:
    """``stem``.json (the rows) and ``stem``.md in ``out``; the markdown printed too."""
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=1, default=str))
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)


# What the summary keeps of each good round, for the targets' round-by-round ratios.
ROUND_FIGURES = ("rps", "cpu_us", "peak_rss_mib")


def summarise(rows: list[dict]) -> list[dict]:
    """bench.summarise_rounds, plus each good round's figures by round (``rounds``: the
    targets compare servers round by round)."""
    rounds: dict[tuple[str, str, str], dict[int, dict]] = {}
    for row in rows:
        if row["ok"]:
            key = (row["case"], row["kind"], row["server"])
            rounds.setdefault(key, {})[row["round"]] = {"ok": True, **{field: row[field] for field in ROUND_FIGURES}}
    summary = bench.summarise_rounds(rows, medians=("cpu_us", "peak_rss_mib"))
    for row in summary:
        row["rounds"] = rounds.get((row["case"], row["kind"], row["server"]), {})
    return summary


def render(summary: list[dict], args: argparse.Namespace, versions: dict[str, str]) -> str:
    """strict.md: one table per scenario and connection count, then the targets."""
    lines = [
        "# The strict benchmark: one core each",
        "",
        f"Server on CPU {SERVER_CORE}, wrk (one thread) on CPU {LOAD_CORE} (taskset); {args.rounds} interleaved "
        f"rounds of {args.duration:g} s after {args.warmup:g} s of warm-up. WSGI apps get {THREADS} threads.",
        "`× amphicorn`: amphicorn's median requests/s over the row's; `wrk`: wrk's busiest share of its core.",
        "Scenarios with two routes send each request to the next route in turn (one wrk), so every server",
        "answers the same mix.",
        "",
        "Versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()),
        "",
    ]
    by_key = {(row["case"], row["kind"], row["server"]): row for row in summary}
    connections = [str(count) for count in args.connection_counts]
    for scenario in args.scenarios:
        for count in connections:
            rows = [by_key[key] for key in ((scenario.name, count, name) for name in args.servers) if key in by_key]
            if not rows:
                continue
            lines += [
                f"## {scenario.name}, {count} connections",
                "",
                scenario.description,
                "",
                "| server | req/s (median, min–max) | CPU µs/req | × amphicorn | peak RSS MiB | errors | wrk |",
                "|---|---|---|---|---|---|---|",
            ]
            ours = by_key.get((scenario.name, count, "amphicorn"))
            for row in rows:
                if not row["ok"]:
                    lines.append(f"| {row['server']} | — ({row['error'][:90]}) | | | | | |")
                    continue
                ratio = f"{ours['rps'] / row['rps']:.2f}×" if ours and ours["ok"] and row is not ours else ""
                low, high = row["rps_range"]
                shown = f"{row['rps']:,.0f} ({low:,.0f}–{high:,.0f})"
                lines.append(
                    f"| {row['server']} | {shown} | {row['cpu_us']:.1f} | {ratio} "
                    f"| {row['peak_rss_mib']:.1f} | {row['errors']} | {client_label(row['client_busy'])} |"
                )
            lines.append("")
    return "\n".join(lines + render_targets(by_key, connections)) + "\n"


def versions(args: argparse.Namespace) -> dict[str, str]:
    """What ran: amphicorn (and the bench checkout's commit: with ``--amphicorn-python``, the
    build measured may be another's), and each peer's version."""
    amphicorn = bench._cmd_version([args.pythons.amphicorn, "-m", "amphicorn", "--version"])
    commit = bench._cmd_version(["git", "-C", str(bench.BENCH_DIR.parent), "describe", "--always", "--dirty"])
    found = {"amphicorn": f"{amphicorn.removeprefix('amphicorn ')} (bench checkout {commit})"}
    for peer in ("granian", "pyvoy", "uvicorn", "uvloop", "hypercorn", "gunicorn", "a2wsgi"):
        found[peer] = bench._dist_version(peer)
    found["wrk"] = bench._cmd_version(["wrk", "--version"]).split(" Copyright")[0].removeprefix("wrk ")
    return found


def parse_args(
    argv: list[str] | None, default_servers: str = DEFAULT_SERVERS, description: str | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description or __doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="runs the peers (the bench venv)")
    parser.add_argument("--amphicorn-python", default=None, help="runs amphicorn (default: --python)")
    parser.add_argument("--servers", default=default_servers)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, e.g. wsgi-hello,mixed")
    parser.add_argument("--connections", default="64,256", help="connection counts, e.g. 64,256")
    add_round_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s at 16 connections: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup, args.connections = 1, 1.0, 0.2, "16"
    unknown = [name for name in args.servers.split(",") if name not in PEERS]
    unknown += [name for name in args.only.split(",") if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown server or scenario: {', '.join(unknown)}")
    args.connection_counts = connection_counts(parser, args.connections)
    if args.rounds < 1 or args.duration <= 0 or args.warmup < 0 or min(args.connection_counts) < 1:
        parser.error("--rounds, --duration and --connections must be positive, --warmup not negative")
    args.servers = args.servers.split(",")
    args.scenarios = [SCENARIOS[name] for name in args.only.split(",")]
    args.pythons = Pythons(peers=args.python, amphicorn=args.amphicorn_python or args.python)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not can_run("strict"):
        return 2
    raw = args.out / "raw" / "strict"
    raw.mkdir(parents=True, exist_ok=True)
    rows = []
    for round_number in range(args.rounds):
        for scenario in args.scenarios:
            for connections in args.connection_counts:
                for name in args.servers:
                    row = run_one(scenario, connections, name, args, raw)
                    if row.get("error") == "not applicable":
                        continue
                    row["round"] = round_number
                    rows.append(row)
                    shown = f"{row['rps']:,.0f} req/s, {row['cpu_us']:.1f} µs" if row["ok"] else row["error"]
                    step = f"[{round_number + 1}/{args.rounds}] {scenario.name} c{connections} {name}"
                    print(f"{step}: {shown}", flush=True)
    summary = summarise(rows)
    found = versions(args)
    report = {"versions": found, "rows": rows, "summary": summary}
    (args.out / "strict.json").write_text(json.dumps(report, indent=1, default=str))
    markdown = render(summary, args, found)
    (args.out / "strict.md").write_text(markdown)
    print(markdown)
    connections = [str(count) for count in args.connection_counts]
    problem = render_png(summary, [scenario.name for scenario in args.scenarios], connections, args.out / "strict.png")
    if problem is not None:
        print(f"strict: no strict.png ({problem})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
