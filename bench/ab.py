#!/usr/bin/env python3
# ruff: noqa: RUF001 -- the table prints ranges with an en dash on purpose
"""A/B of two amphicorn builds: which one costs less CPU per request, under strict.py's
scenarios and rules (the server pinned to one core, wrk to the other).

A change worth a few percent is within one run's noise on a shared host: a neighbour moves a
run by more than that. So the builds take turns, round by round (A then B, then B then A, so
a drift over the run weighs on both alike), and each round's B is compared with that round's
A: a change is only called cheaper (or dearer) when B is below (or above) A in every round.

    bash bench/run.sh ab --a /tmp/before/bin/python --b .venv/bin/python --only wsgi-hello \\
        --connections 64,256 --rounds 5 --duration 5

``--a`` and ``--b`` are Pythons that have the amphicorn to measure (one venv per build,
each with the bench's requirements: ``bench/requirements.txt``). Writes ``--out`` (default
/tmp/amphicorn-ab): ab.md, ab.json, and each run's server log and wrk output in raw/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import strict
from one_core import add_round_arguments, can_run, connection_counts
from strict_peers import SCENARIOS, Pythons, StrictScenario

BUILDS = ("a", "b")


def order(round_number: int) -> tuple[str, ...]:
    """Which build runs first in a round: A in odd rounds, B in even ones."""
    return BUILDS if round_number % 2 else BUILDS[::-1]


def measure(scenario: StrictScenario, connections: int, build: str, args: argparse.Namespace) -> dict:
    """One run of ``build`` (a strict.py row, with the build's name)."""
    run_args = argparse.Namespace(**vars(args))
    run_args.pythons = Pythons(peers=args.python, amphicorn=getattr(args, build))
    raw = args.out / "raw" / build
    raw.mkdir(parents=True, exist_ok=True)
    return {**strict.run_one(scenario, connections, "amphicorn", run_args, raw), "build": build}


def compare(rows: list[dict]) -> list[dict]:
    """Per scenario and connection count: each build's median CPU µs per request and
    requests/s with their ranges, B's CPU per request over A's round by round, and the
    verdict (``cheaper``, ``dearer``, or ``within the noise`` when the rounds disagree).
    Rounds where either build failed are left out of the ratios."""
    cases: dict[tuple[str, str], dict[str, dict[int, dict]]] = {}
    for row in rows:
        cases.setdefault((row["case"], row["kind"]), {}).setdefault(row["build"], {})[row["round"]] = row
    compared = []
    for (case, kind), builds in cases.items():
        entry: dict = {"case": case, "kind": kind}
        for build in BUILDS:
            good = [row for row in builds.get(build, {}).values() if row["ok"]]
            if good:
                cpu = [row["cpu_us"] for row in good]
                rps = [row["rps"] for row in good]
                entry[build] = {
                    "cpu_us": statistics.median(cpu),
                    "cpu_range": (min(cpu), max(cpu)),
                    "rps": statistics.median(rps),
                    "rounds": len(good),
                }
        paired = sorted(set(builds.get("a", {})) & set(builds.get("b", {})))
        ratios = [
            builds["b"][number]["cpu_us"] / builds["a"][number]["cpu_us"]
            for number in paired
            if builds["a"][number]["ok"] and builds["b"][number]["ok"]
        ]
        entry["ratios"] = ratios
        if not ratios:
            entry["verdict"] = "no round to compare"
        elif all(ratio < 1 for ratio in ratios):
            entry["verdict"] = "cheaper"
        elif all(ratio > 1 for ratio in ratios):
            entry["verdict"] = "dearer"
        else:
            entry["verdict"] = "within the noise"
        compared.append(entry)
    return compared


def render(compared: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "# A/B: CPU per request of two amphicorn builds",
        "",
        f"A: `{args.a}`; B: `{args.b}`. {args.rounds} rounds of {args.duration:g} s (after {args.warmup:g} s "
        "of warm-up), the builds in turns (A first in odd rounds, B first in even ones), each as strict.py "
        "runs amphicorn: pinned to one core, wrk on the other. B/A is B's CPU per request over A's in the "
        "same round; B is cheaper (or dearer) only when every round says so.",
        "",
        "| scenario | conns | A CPU µs/req | A req/s | B CPU µs/req | B req/s | B/A by round | verdict |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for entry in compared:
        cells = []
        for build in BUILDS:
            figures = entry.get(build)
            if figures is None:
                cells += ["failed", "–"]
            else:
                low, high = figures["cpu_range"]
                cells += [f"{figures['cpu_us']:.1f} ({low:.1f}–{high:.1f})", f"{figures['rps']:,.0f}"]
        ratios = ", ".join(f"{ratio:.3f}" for ratio in entry["ratios"]) or "–"
        lines.append(f"| {entry['case']} | {entry['kind']} | {' | '.join(cells)} | {ratios} | {entry['verdict']} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="a Python with build A of amphicorn")
    parser.add_argument("--b", required=True, help="a Python with build B of amphicorn")
    parser.add_argument("--python", default=sys.executable, help="the bench venv's Python (its apps' imports)")
    parser.add_argument("--only", default="wsgi-hello", help="scenarios, e.g. wsgi-hello,asgi-echo")
    parser.add_argument("--connections", default="64,256", help="connection counts, e.g. 64,256")
    add_round_arguments(parser)
    parser.set_defaults(rounds=5, duration=5.0, out=Path("/tmp/amphicorn-ab"))
    args = parser.parse_args(argv)
    missing = [f"--{build} {getattr(args, build)}" for build in BUILDS if not Path(getattr(args, build)).is_file()]
    if missing:
        parser.error(f"no such Python: {', '.join(missing)}")
    unknown = [name for name in args.only.split(",") if name not in SCENARIOS]
    if unknown:
        parser.error(f"--only: unknown scenario: {', '.join(unknown)} (known: {', '.join(SCENARIOS)})")
    args.connection_counts = connection_counts(parser, args.connections)
    if args.rounds < 2 or args.duration <= 0 or args.warmup < 0 or min(args.connection_counts) < 1:
        parser.error("--rounds must be at least 2, --duration and --connections positive, --warmup not negative")
    args.scenarios = [SCENARIOS[name] for name in args.only.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not can_run("ab"):
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for number in range(1, args.rounds + 1):
        for scenario in args.scenarios:
            for connections in args.connection_counts:
                for build in order(number):
                    row = {**measure(scenario, connections, build, args), "round": number}
                    rows.append(row)
                    shown = f"{row['cpu_us']:.1f} µs/req, {row['rps']:,.0f} req/s" if row["ok"] else row["error"]
                    print(f"round {number} {scenario.name} c{connections} {build.upper()}: {shown}", flush=True)
    compared = compare(rows)
    (args.out / "ab.json").write_text(json.dumps({"rows": rows, "compared": compared}, indent=1, default=str))
    markdown = render(compared, args)
    (args.out / "ab.md").write_text(markdown)
    print(markdown)
    return 0 if all(entry["verdict"] != "no round to compare" for entry in compared) else 1


if __name__ == "__main__":
    sys.exit(main())
