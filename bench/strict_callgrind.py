#!/usr/bin/env python3
"""What one request costs each server in instructions and cache misses: the strict
scenarios under valgrind's callgrind.

The timings of this kind of host move by up to half between runs, more than the margins of
the strict targets: other tenants share its caches and memory. Counts do not move with them.
callgrind counts the instructions a request executes in user space (the kernel is not
counted) and, with ``--cache-sim``, the misses a simulated core takes: a 32 KiB L1 data cache
and a last level of 1 MiB (one core's L2 here, where a server's per-connection state stops
fitting somewhere between 64 and 256 connections). They depend on the code and on how the
server's threads take turns, not on the neighbours.

Each server runs twice: warm-up only, then the same warm-up followed by ``--duration``
seconds of wrk. The difference of the two runs' totals (every process of the server writes
its own file when it exits), divided by the difference of the requests they answered, is
one request's cost: start-up and shutdown cancel out. Under valgrind a server runs about a hundred times slower,
so each connection always has a request waiting: the largest batches the server makes, as
at full load.

    bash bench/run.sh callgrind --only asgi-hello,wsgi-hello --servers amphicorn,granian

Writes ``--out`` (default bench/results): callgrind.md and callgrind.json; the callgrind
files and wrk's output stay in raw/callgrind/.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import strict
from one_core import LOAD_CORE, SERVER_CORE, on_load_core, on_server_core
from strict_peers import THREADS, command_for
from strict_profile import dso_name

from bench import Server, check_route, free_port, run_wrk

# The simulated caches: size, ways, line (valgrind's --D1 and --LL).
L1_DATA = "32768,8,64"
LAST_LEVEL = "1048576,16,64"
# valgrind starts a Python server in seconds, and writes a big profile at exit in more.
STARTUP_SECONDS = 180.0
EXIT_SECONDS = 180.0
# Under valgrind, seconds of wrk (the strict defaults would give a few hundred requests).
DURATION = 10.0
WARMUP = 5.0
# How many shared objects each server's line lists.
TOP_OBJECTS = 6
# callgrind_annotate's per-function line: the counts, then "file:function [object]".
LINE = re.compile(r"^\s*(?P<counts>[\d,]+(?:\s+[\d,.]+)*)\s+(?P<where>\S.*?)\s*(?:\[(?P<object>[^\]]*)\])?\s*$")


def valgrind(command: list[str], out: Path) -> list[str]:
    """``command`` under callgrind with the cache simulation, one file per process."""
    return [
        "valgrind",
        "--tool=callgrind",
        "--cache-sim=yes",
        f"--D1={L1_DATA}",
        f"--LL={LAST_LEVEL}",
        f"--callgrind-out-file={out}.%p.out",
        *command,
    ]


def totals(path: Path) -> Counter:
    """A callgrind file's events and their totals (its ``events:`` and ``summary:`` lines)."""
    names: list[str] = []
    values: list[int] = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("events:"):
            names = line.split()[1:]
        elif line.startswith(("summary:", "totals:")):
            values = [int(value) for value in line.split()[1:]]
    # A cost line may leave out trailing zeros.
    return Counter(dict(zip(names, values, strict=False)))


def by_object(path: Path) -> Counter:
    """Instructions by shared object, from callgrind_annotate's exclusive per-function costs."""
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", "--show=Ir", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        check=True,
    )
    return objects_in(annotated.stdout)


def objects_in(annotation: str) -> Counter:
    """callgrind_annotate's lines (``1,234 (0.5%)  file:function [object]``) summed by the
    object's file name; a function without one (inlined, or from no known file) counts as ``?``."""
    objects: Counter = Counter()
    for line in annotation.splitlines():
        match = LINE.match(re.sub(r"\(\s*[\d.]+%\)", "", line))
        if not match or "PROGRAM TOTALS" in line:
            continue
        objects[dso_name(match["object"] or "?")] += int(match["counts"].split()[0].replace(",", ""))
    return objects


def per_request(loaded: Counter, idle: Counter, requests: int) -> dict[str, float]:
    """The loaded run's counts less the idle run's, per request."""
    return {key: (loaded[key] - idle[key]) / requests for key in loaded}


def run_server(
    scenario: strict.StrictScenario, connections: int, name: str, args: argparse.Namespace, load: bool
) -> dict:
    """``name`` under callgrind: started, warmed up, loaded for ``--duration`` when ``load``,
    stopped; its files' totals summed (every process's), with the requests it answered."""
    phase = "loaded" if load else "idle"
    label = f"{scenario.name}__{connections}__{name.replace('+', '_')}__{phase}"
    for old in args.raw.glob(f"{label}.*.out"):
        old.unlink()
    port = free_port()
    command = command_for(name, scenario, port, args.pythons)
    if command is None:
        return {"ok": False, "error": "not applicable"}
    server = Server(on_server_core(valgrind(command, args.raw / label)), args.raw / f"{label}.log", threads=THREADS)
    routes: list[dict] = []
    try:
        problem = server.wait_ready(port, timeout=STARTUP_SECONDS)
        for route in scenario.routes:
            problem = problem or check_route(port, route)
        if problem:
            return {"ok": False, "error": problem}
        pin = tuple(on_load_core([]))
        routes = run_wrk(port, scenario.load, args.warmup, connections, 1, args.raw / f"{label}__warmup", pin)
        if load:
            routes += run_wrk(port, scenario.load, args.duration, connections, 1, args.raw / label, pin)
        broken = [f"{route['path']}: {route['error']}" for route in routes if not route["ok"]]
        if broken:
            return {"ok": False, "error": "; ".join(broken)}
        # Each process writes its file as it exits: a graceful stop, waited for.
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"did not exit within {EXIT_SECONDS:.0f} s of SIGTERM"}
    finally:
        server.stop()
    files = sorted(args.raw.glob(f"{label}.*.out"))
    if not files:
        return {"ok": False, "error": "callgrind wrote no file"}
    summed: Counter = Counter()
    objects: Counter = Counter()
    for path in files:
        summed.update(totals(path))
        objects.update(by_object(path))
    return {"ok": True, "totals": summed, "objects": objects, "requests": sum(route["requests"] for route in routes)}


def measure(scenario: strict.StrictScenario, connections: int, name: str, args: argparse.Namespace) -> dict:
    """One server's costs per request under one scenario at one connection count."""
    row: dict = {"case": scenario.name, "kind": str(connections), "server": name, "ok": False}
    idle = run_server(scenario, connections, name, args, load=False)
    if not idle["ok"]:
        return {**row, "error": idle["error"]}
    loaded = run_server(scenario, connections, name, args, load=True)
    if not loaded["ok"]:
        return {**row, "error": loaded["error"]}
    # The warm-ups are timed, not counted: the loaded run's may have answered a few more.
    requests = loaded["requests"] - idle["requests"]
    if requests <= 0:
        return {**row, "error": "no request answered under callgrind"}
    counts = per_request(loaded["totals"], idle["totals"], requests)
    objects = per_request(loaded["objects"], idle["objects"], requests)
    return {
        **row,
        "ok": True,
        "requests": requests,
        "instructions": counts.get("Ir", 0.0),
        "l1_misses": counts.get("D1mr", 0.0) + counts.get("D1mw", 0.0),
        "last_level_misses": counts.get("DLmr", 0.0) + counts.get("DLmw", 0.0),
        "events": counts,
        "objects": sorted(objects.items(), key=lambda item: -item[1]),
    }


def render(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "# What a request costs: the strict scenarios under callgrind",
        "",
        f"valgrind's callgrind with its cache simulation (L1 data {L1_DATA.split(',')[0]} bytes, last level "
        f"{LAST_LEVEL.split(',')[0]} bytes); the server on CPU {SERVER_CORE}, wrk on CPU {LOAD_CORE}, each "
        f"server as in strict.md. Per request: a run of {args.warmup:g} s of warm-up and {args.duration:g} s of "
        "load less a run of the warm-up alone, over the difference of their requests. User space only: the kernel's "
        "share (the sockets, about 7 µs of a hello) is not counted. Data-cache misses: reads and writes.",
        "",
        "| scenario | conns | server | requests | instructions/req | L1 misses/req | last-level misses/req |"
        " instructions by object |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        if not row["ok"]:
            lines.append(f"| {row['case']} | {row['kind']} | {row['server']} | {row['error'][:120]} | | | | |")
            continue
        objects = "; ".join(f"{name} {value:,.0f}" for name, value in row["objects"][:TOP_OBJECTS] if value >= 1)
        lines.append(
            f"| {row['case']} | {row['kind']} | {row['server']} | {row['requests']:,} | {row['instructions']:,.0f} "
            f"| {row['l1_misses']:,.0f} | {row['last_level_misses']:,.1f} | {objects} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    given = argv if argv is not None else sys.argv[1:]
    if any(arg.startswith("--rounds") for arg in given):
        print("strict_callgrind: --rounds: one run per server here (counts do not need rounds)", file=sys.stderr)
        return 2
    args = strict.parse_args(argv, default_servers="amphicorn,granian", description=__doc__.split("\n\n")[0])
    # The strict defaults are for full speed; under valgrind the same seconds give a
    # hundredth of the requests.
    if not any(arg.startswith("--duration") for arg in given):
        args.duration = DURATION
    if not any(arg.startswith("--warmup") for arg in given):
        args.warmup = WARMUP
    missing = [tool for tool in ("taskset", "wrk", "valgrind", "callgrind_annotate") if shutil.which(tool) is None]
    if missing:
        print(f"strict_callgrind: missing {', '.join(missing)} (apt-get install valgrind)", file=sys.stderr)
        return 2
    args.raw = args.out / "raw" / "callgrind"
    args.raw.mkdir(parents=True, exist_ok=True)
    rows = strict.each_server(
        args,
        lambda scenario, connections, name: measure(scenario, connections, name, args),
        lambda row: f"{row['instructions']:,.0f} instructions/req",
    )
    strict.write_results(args.out, "callgrind", rows, render(rows, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
