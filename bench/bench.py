#!/usr/bin/env python3
# ruff: noqa: RUF001 -- the tables print ratios with a multiplication sign on purpose
"""amphicorn's benchmark: every server in turn, one worker process each, loaded by wrk.

Run through ``bench/run.sh`` (which makes the virtualenv with the peers, builds the hyper
ceiling and checks for wrk), or directly with the bench venv's Python:

    bench/.venv/bin/python bench/bench.py --quick
    bench/.venv/bin/python bench/bench.py --duration 10 --warmup 2 --connections 64
    bench/.venv/bin/python bench/bench.py --only wsgi-hello,mixed --servers amphicorn,granian

For each scenario and each server that applies to it: start the server on 127.0.0.1 (a free
port, one worker process), wait until the port answers, check one request of each route
(status 200 and the expected body length), warm up with wrk, then run wrk for the bounded
duration with ``--latency`` while sampling the server's process tree RSS from /proc, then
stop the server (SIGTERM, SIGKILL after a grace period).

Same settings for every server: one worker process; WSGI apps get 8 threads (amphicorn
``--threads 8``, granian ``--blocking-threads 8``, gunicorn gthread ``--threads 8``, a2wsgi
``workers=8``); ASGI apps run on each server's one event loop; the number of I/O (Rust
runtime) threads is each server's default (amphicorn and hyper-hello: one per core; granian:
its default runtime threads). No access logs. Each server is otherwise run with its defaults.

A server that exits at start-up (amphicorn before it supports ASGI or ``--mount``) is
recorded as ``unsupported`` with its error line; one that starts but answers the check
request wrongly is recorded as ``failed``.

Writes to ``--out`` (default bench/results): results.json, results.md, results.png, and raw/
(every wrk output and server log).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
APPS_DIR = BENCH_DIR / "apps"
WRK_DIR = BENCH_DIR / "wrk"
HYPER_HELLO = BENCH_DIR / "hyper-hello" / "target" / "release" / "hyper-hello"
BRIDGE_DIR = BENCH_DIR / "bridge-pyo3-async-runtimes"
BRIDGE_MODULE = "pyo3_async_runtimes_server"
HOST = "127.0.0.1"

WSGI_THREADS = 8
STARTUP_TIMEOUT = 30.0
STOP_GRACE = 5.0
WRK_TIMEOUT = "5s"

HELLO_LEN = 13
ECHO_LEN = 64 * 1024
STREAM_LEN = 1024 * 1024


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Route:
    name: str  # "" for single-route scenarios, "/legacy" or "/api" in the mixed one
    path: str
    method: str
    script: str  # wrk Lua script in bench/wrk/
    expect_len: int
    # A POST's body, a file in bench/wrk/ sent as JSON (the script sends the same); none: 64 KiB of x.
    body_file: str = ""
    # Given to the script after wrk's ``--`` (turns.lua: the routes it takes in turn).
    script_args: tuple[str, ...] = ()


def request_body(route: Route) -> tuple[bytes, str]:
    """What a request to ``route`` carries, and its Content-Type: the body file as JSON, 64
    KiB of x for another POST (what the route's wrk script sends); no body for a GET."""
    if route.body_file:
        return (WRK_DIR / route.body_file).read_bytes(), "application/json"
    if route.method == "POST":
        return b"x" * ECHO_LEN, "application/octet-stream"
    return b"", ""


def in_turns(routes: tuple[Route, ...]) -> Route:
    """One load for several routes: each request to the next route in turn (turns.lua), so
    each route gets its share of the requests whatever the server does."""
    described = []
    for route in routes:
        body = route.body_file or ("x64k" if route.method == "POST" else "")
        described.append(f"{route.method} {route.path} {body}".rstrip())
    return Route("", routes[0].path, "GET", "turns.lua", 0, script_args=tuple(described))


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # wsgi | asgi | mixed
    routes: tuple[Route, ...]
    description: str


def _single(path: str, method: str, script: str, expect_len: int) -> tuple[Route, ...]:
    return (Route("", path, method, script, expect_len),)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("wsgi-hello", "wsgi", _single("/hello", "GET", "get.lua", HELLO_LEN), "WSGI, 13-byte body"),
        Scenario(
            "wsgi-echo", "wsgi", _single("/echo", "POST", "post.lua", ECHO_LEN), "WSGI, 64 KiB POST read via wsgi.input"
        ),
        Scenario(
            "wsgi-stream", "wsgi", _single("/stream", "GET", "get.lua", STREAM_LEN), "WSGI, 1 MiB in 64 KiB chunks"
        ),
        Scenario("asgi-hello", "asgi", _single("/hello", "GET", "get.lua", HELLO_LEN), "ASGI, 13-byte body"),
        Scenario("asgi-echo", "asgi", _single("/echo", "POST", "post.lua", ECHO_LEN), "ASGI, 64 KiB POST echoed"),
        Scenario(
            "asgi-stream", "asgi", _single("/stream", "GET", "get.lua", STREAM_LEN), "ASGI, 1 MiB in 64 KiB chunks"
        ),
        Scenario(
            "mixed",
            "mixed",
            (
                Route("/legacy", "/legacy/hello", "GET", "get.lua", HELLO_LEN),
                Route("/api", "/api/hello", "GET", "get.lua", HELLO_LEN),
            ),
            "WSGI app at /legacy + ASGI app at /api in one process, both loaded at once (hello on each)",
        ),
    ]
}


# --------------------------------------------------------------------------- servers


@dataclass
class Ctx:
    port: int
    python: str  # the bench venv's Python: runs the peers
    amphicorn_python: str  # runs amphicorn (the bench venv's, or another build's)
    io_threads: int


def _amphicorn(scenario: Scenario, c: Ctx) -> list[list[str]]:
    base = [c.amphicorn_python, "-m", "amphicorn"]
    tail = ["--bind", f"{HOST}:{c.port}", "--threads", str(WSGI_THREADS)]
    if scenario.kind == "wsgi":
        return [[*base, "wsgi_app:app", *tail]]
    if scenario.kind == "asgi":
        # Forced ASGI by prefix (the spec's `asgi:` form); the mount form as a second try.
        return [
            [*base, "asgi:asgi_app:app", *tail],
            [*base, "--mount", "/=asgi:asgi_app:app", *tail],
        ]
    return [[*base, "--mount", "/legacy=wsgi:wsgi_app:app", "--mount", "/api=asgi:asgi_app:app", *tail]]


def _amphicorn_metrics(scenario: Scenario, c: Ctx) -> list[list[str]] | None:
    """amphicorn recording its metrics (``--admin-bind``), on the hellos: against plain
    amphicorn in the same run, the cost of metrics on (issue 14: at most 3%)."""
    if scenario.name not in ("wsgi-hello", "asgi-hello"):
        return None
    admin = ["--admin-bind", f"{HOST}:{free_port()}"]
    return [[*command, *admin] for command in _amphicorn(scenario, c)]


def _granian(scenario: Scenario, c: Ctx) -> list[list[str]] | None:
    base = [c.python, "-m", "granian", "--host", HOST, "--port", str(c.port), "--workers", "1"]
    if scenario.kind == "wsgi":
        return [[*base, "--interface", "wsgi", "--blocking-threads", str(WSGI_THREADS), "wsgi_app:app"]]
    if scenario.kind == "asgi":
        return [[*base, "--interface", "asgi", "asgi_app:app"]]
    return None


def _granian_a2wsgi(scenario: Scenario, c: Ctx) -> list[list[str]] | None:
    if scenario.kind != "mixed":
        return None
    return [
        [
            c.python,
            "-m",
            "granian",
            "--host",
            HOST,
            "--port",
            str(c.port),
            "--workers",
            "1",
            "--interface",
            "asgi",
            "starlette_app:mixed",
        ]
    ]


def _uvicorn_cmd(app: str, c: Ctx, python: str | None = None) -> list[str]:
    return [
        python or c.python,
        "-m",
        "uvicorn",
        app,
        "--host",
        HOST,
        "--port",
        str(c.port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
    ]


def _uvicorn(scenario: Scenario, c: Ctx) -> list[list[str]] | None:
    return [_uvicorn_cmd("asgi_app:app", c)] if scenario.kind == "asgi" else None


def _uvicorn_a2wsgi(scenario: Scenario, c: Ctx) -> list[list[str]] | None:
    if scenario.kind == "wsgi":
        return [_uvicorn_cmd("starlette_app:wsgi", c)]
    if scenario.kind == "mixed":
        return [_uvicorn_cmd("starlette_app:mixed", c)]
    return None


def _uvicorn_amphicorn_middleware(scenario: Scenario, c: Ctx) -> list[list[str]] | None:
    """uvicorn serving the same Starlette app with amphicorn.WSGIMiddleware instead of a2wsgi
    (run by the Python that has the amphicorn being measured)."""
    if scenario.kind == "wsgi":
        return [_uvicorn_cmd("starlette_amphicorn:wsgi", c, c.amphicorn_python)]
    if scenario.kind == "mixed":
        return [_uvicorn_cmd("starlette_amphicorn:mixed", c, c.amphicorn_python)]
    return None


def _gunicorn(scenario: Scenario, c: Ctx) -> list[list[str]] | None:
    if scenario.kind != "wsgi":
        return None
    return [
        [
            c.python,
            "-m",
            "gunicorn",
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            str(WSGI_THREADS),
            "--bind",
            f"{HOST}:{c.port}",
            "wsgi_app:app",
        ]
    ]


def _pyo3_async_runtimes(scenario: Scenario, c: Ctx) -> list[list[str]] | None:
    """amphicorn's stack with pyo3-async-runtimes as the asyncio bridge (bench/bridge-pyo3-async-runtimes)."""
    if scenario.kind != "asgi":
        return None
    port = ["--host", HOST, "--port", str(c.port), "--io-threads", str(c.io_threads)]
    return [[c.python, "-m", BRIDGE_MODULE, "asgi_app:app", *port]]


def _hyper(scenario: Scenario, c: Ctx) -> list[list[str]] | None:
    if scenario.name not in ("wsgi-hello", "asgi-hello"):
        return None
    return [[str(HYPER_HELLO), str(c.port), str(c.io_threads)]]


# Table order. The baseline of every ratio is granian (granian+a2wsgi for the mixed scenario).
SERVERS = {
    "amphicorn": _amphicorn,
    "amphicorn+metrics": _amphicorn_metrics,
    "pyo3-async-runtimes": _pyo3_async_runtimes,
    "granian": _granian,
    "granian+a2wsgi": _granian_a2wsgi,
    "uvicorn": _uvicorn,
    "uvicorn+a2wsgi": _uvicorn_a2wsgi,
    "uvicorn+amphicorn.WSGIMiddleware": _uvicorn_amphicorn_middleware,
    "gunicorn": _gunicorn,
    "hyper-hello": _hyper,
}
BASELINE = {"mixed": "granian+a2wsgi"}
MIXED_SECOND_BASELINE = "uvicorn+a2wsgi"
# Left out of --quick unless --servers names them: the pyo3-async-runtimes peer is a crate of
# its own, and compiling it from cold (pyo3, tokio, hyper, fat LTO: 1.5-3 min on 2 shared
# cores) would double what tests/test_bench_quick.py takes in CI; run.sh builds it only when
# it will run (see there).
NOT_IN_QUICK = ("pyo3-async-runtimes",)


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def error_line(log_text: str) -> str:
    """The line that says why a server stopped: the last one naming an error, else the last."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"error|exception|unrecognized|invalid|no such", line, re.IGNORECASE):
            return line
    return lines[-1] if lines else "(no output)"


def tree_pids(root: int) -> list[int]:
    """root and its descendants, from the parent pid field of every /proc/N/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return total / TICKS


def pss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            pass
    return total


class RssSampler:
    """Peak of the summed RSS of a process tree, sampled every 50 ms (tree re-read every 1 s)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = 0
        self.pids = tree_pids(root)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last_tree = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - last_tree >= 1.0:
                self.pids = tree_pids(self.root)
                last_tree = time.monotonic()
            self.peak = max(self.peak, sum(rss_bytes(p) for p in self.pids))
            self._stop.wait(0.05)

    def __enter__(self) -> RssSampler:
        self.peak = sum(rss_bytes(p) for p in self.pids)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, sum(rss_bytes(p) for p in tree_pids(self.root)))


class Server:
    def __init__(self, command: list[str], log_path: Path, threads: int = WSGI_THREADS) -> None:
        self.command = command
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AMPHICORN_", "GRANIAN_", "UVICORN_"))}
        env["PYTHONPATH"] = str(APPS_DIR)
        env["PYTHONUNBUFFERED"] = "1"
        env["A2WSGI_WORKERS"] = str(threads)
        env.pop("PYTHONWARNINGS", None)
        env.pop("GUNICORN_CMD_ARGS", None)
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            command,
            cwd=APPS_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, port: int, timeout: float = STARTUP_TIMEOUT) -> str | None:
        """None once the port answers; otherwise why not (the server's error line)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                time.sleep(0.1)
                return f"exited with status {self.proc.returncode} at start-up: {error_line(self.log_text())}"
            if port_answers(port):
                return None
            time.sleep(0.05)
        return f"port {port} did not answer within {timeout:.0f} s"

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(STOP_GRACE)
        # Whatever is left of the tree (workers of a master that died first, say) is killed.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(STOP_GRACE)
        self._log.close()


def check_route(port: int, route: Route) -> str | None:
    """One request; None when the status is 200 and the body has the expected length."""
    body, kind = request_body(route)
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        headers = {"Content-Type": kind} if body else {}
        conn.request(route.method, route.path, body=body or None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
    except (OSError, http.client.HTTPException) as error:
        return f"{route.method} {route.path}: {error!r}"
    if response.status != 200:
        return f"{route.method} {route.path}: HTTP {response.status} {data[:200]!r}"
    if len(data) != route.expect_len:
        return f"{route.method} {route.path}: body of {len(data)} bytes, expected {route.expect_len}"
    return None


# --------------------------------------------------------------------------- wrk


@dataclass
class WrkRun:
    route: Route
    proc: subprocess.Popen
    out_path: Path
    out_file: object = None


def start_wrk(
    port: int, route: Route, duration: float, connections: int, threads: int, out_path: Path, pin: tuple[str, ...] = ()
) -> WrkRun:
    command = [
        *pin,
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(max(connections, threads)),
        "-d",
        f"{max(1, math.ceil(duration))}s",
        "--latency",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(WRK_DIR / route.script),
        f"http://{HOST}:{port}{route.path}",
        *(("--", *route.script_args) if route.script_args else ()),
    ]
    out = open(out_path, "wb")  # noqa: SIM115 - closed in finish_wrk()
    out.write((" ".join(command) + "\n").encode())
    out.flush()
    proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return WrkRun(route, proc, out_path, out)


def run_wrk(
    port: int,
    routes: tuple[Route, ...],
    duration: float,
    connections: int,
    threads: int,
    out_prefix: Path,
    pin: tuple[str, ...] = (),
) -> list[dict]:
    """wrk on every route at once for `duration` seconds (wrk's -d takes whole seconds, so a
    fractional duration is ended by SIGINT, on which wrk stops and reports). Connections are
    split between the routes; ``pin`` prefixes each wrk command (``taskset -c N``)."""
    per_route = max(threads, connections // len(routes))
    runs = []
    for route in routes:
        suffix = route.name.strip("/").replace("/", "-")
        path = out_prefix.with_name(out_prefix.name + (f"__{suffix}" if suffix else "") + ".txt")
        runs.append(start_wrk(port, route, duration, per_route, threads, path, pin))
    if duration != math.ceil(duration) or duration < 1:
        time.sleep(duration)
        for run in runs:
            with contextlib.suppress(ProcessLookupError):
                run.proc.send_signal(signal.SIGINT)
    results = []
    for run in runs:
        try:
            run.proc.wait(max(duration, 1) + 30)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait()
        run.out_file.close()
        results.append(parse_wrk(run.out_path.read_text(errors="replace"), run.route))
    return results


def parse_wrk(text: str, route: Route) -> dict:
    match = re.search(r"^BENCH_JSON (.*)$", text, re.MULTILINE)
    if not match:
        tail = "\n".join(text.strip().splitlines()[-3:])
        return {"route": route.name, "path": route.path, "ok": False, "error": f"no wrk report: {tail}"}
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    errors = data["errors"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    return {
        "route": route.name,
        "path": route.path,
        "ok": True,
        "requests": data["requests"],
        "seconds": seconds,
        "rps": data["requests"] / seconds if seconds else 0.0,
        "bytes_per_request": data["bytes"] / data["requests"] if data["requests"] else 0,
        "latency_ms": {k: v / 1000 for k, v in data["latency_us"].items()},
        "non2xx": errors["status"],
        "socket_errors": socket_errors,
        "errors_by_kind": errors,
        "errors": errors["status"] + socket_errors,
    }


# --------------------------------------------------------------------------- one run


def _app_args(command: list[str]) -> str:
    """The part of a server command that names the app: what differs between two tries."""
    start = command.index("amphicorn") + 1 if "amphicorn" in command else 0
    end = command.index("--bind") if "--bind" in command else len(command)
    return " ".join(command[start:end])


def bench_one(scenario: Scenario, server_name: str, commands: list[list[str]], args, ctx: Ctx, raw: Path) -> dict:
    base = raw / f"{scenario.name}__{server_name.replace('+', '_')}"
    row: dict = {"scenario": scenario.name, "server": server_name, "status": "unsupported", "attempts": []}
    for command in commands:
        log_path = base.with_suffix(".log")
        server = Server(command, log_path)
        try:
            why = server.wait_ready(ctx.port)
            row["attempts"].append({"command": command, "error": why})
            if why is not None and server.proc.poll() is None:  # running, yet not answering
                row.update(status="failed", error=why)
                return row
            if why is not None:
                if len(commands) > 1:  # say which form of the command said what
                    errors = [f"`{_app_args(a['command'])}` {a['error']}" for a in row["attempts"]]
                    row["error"] = "; ".join(errors)
                else:
                    row["error"] = why
                continue
            row["command"] = command
            for route in scenario.routes:
                why = check_route(ctx.port, route)
                if why:
                    row["status"] = "failed"
                    row["error"] = f"check request failed: {why}; server said: {error_line(server.log_text())}"
                    return row
            tree = tree_pids(server.proc.pid)
            with RssSampler(server.proc.pid) as sampler:
                if args.warmup > 0:
                    run_wrk(
                        ctx.port,
                        scenario.routes,
                        args.warmup,
                        args.connections,
                        args.wrk_threads,
                        base.with_name(base.name + "__warmup"),
                    )
                tree = sampler.pids
                cpu_before = cpu_seconds(tree)
                started = time.monotonic()
                routes = run_wrk(ctx.port, scenario.routes, args.duration, args.connections, args.wrk_threads, base)
                wall = time.monotonic() - started
                cpu_used = cpu_seconds(sampler.pids) - cpu_before
            row["pss_end_mib"] = pss_bytes(tree_pids(server.proc.pid)) / 2**20
            alive = server.proc.poll() is None
            row.update(
                status="ok",
                error=None,
                routes=routes,
                peak_rss_mib=sampler.peak / 2**20,
                processes=len(sampler.pids),
                cpu_percent=100 * cpu_used / wall if wall else 0.0,
            )
            problems = [f"{r['path']}: {r['error']}" for r in routes if not r["ok"]]
            problems += [
                f"{r['path']}: no response in the {r['seconds']:.1f} s run (the server stalled)"
                for r in routes
                if r["ok"] and r["requests"] == 0
            ]
            if not alive:
                problems.append(f"server died during the run: {error_line(server.log_text())}")
            if problems:
                row.update(status="failed", error="; ".join(problems))
            return row
        finally:
            server.stop()
    return row


# --------------------------------------------------------------------------- report


def summarise_rounds(rows: list[dict], medians: tuple[str, ...] = ("cpu_us",)) -> list[dict]:
    """The one-core benches' summary (protocols.py, static_files.py): for each (case, kind,
    server), the median and range of requests/s over its good rounds, the median of each
    field in ``medians``, the client's busiest round and the errors summed; a server that
    never ran well keeps its first error."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["case"], row["kind"], row["server"]), []).append(row)
    summary = []
    for (case, kind, server), runs in groups.items():
        good = [run for run in runs if run["ok"]]
        if not good:
            summary.append({"case": case, "kind": kind, "server": server, "ok": False, "error": runs[0]["error"]})
            continue
        rps = [run["rps"] for run in good]
        summary.append(
            {
                "case": case,
                "kind": kind,
                "server": server,
                "ok": True,
                "rps": statistics.median(rps),
                "rps_range": (min(rps), max(rps)),
                **{field: statistics.median(run[field] for run in good) for field in medians},
                "client_busy": max(run["client_busy"] for run in good),
                "errors": sum(run["errors"] for run in good),
            }
        )
    return summary


def _cmd_version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=APPS_DIR)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _lock_version(lock: Path, crate: str) -> str:
    """The version of `crate` in a Cargo.lock, or "unknown"."""
    if not lock.exists():
        return "unknown"
    found = re.search(rf'name = "{re.escape(crate)}"\nversion = "([^"]+)"', lock.read_text())
    return found.group(1) if found else "unknown"


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def cpu_busy(seconds: float = 1.0) -> float:
    """Percent of all cores busy over the next `seconds` (from /proc/stat): what else runs."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return -1.0
    return 100.0 * (1 - (idle1 - idle0) / max(1, total1 - total0))


def machine_info(args, ctx: Ctx) -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    hyper_version = _lock_version(BENCH_DIR / "hyper-hello" / "Cargo.lock", "hyper")
    amphicorn_version = _cmd_version([ctx.amphicorn_python, "-m", "amphicorn", "--version"])
    source = _cmd_version(["git", "-C", str(BENCH_DIR.parent), "describe", "--always", "--dirty"])
    amphicorn_version = f"{amphicorn_version.removeprefix('amphicorn ')} from commit {source}"
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "loadavg_before": _loadavg(),
        "python": platform.python_version() + f" ({platform.python_implementation()})",
        "versions": {
            "amphicorn": amphicorn_version,
            "granian": _dist_version("granian"),
            "uvicorn": _dist_version("uvicorn"),
            "uvloop": _dist_version("uvloop"),
            "httptools": _dist_version("httptools"),
            "gunicorn": _dist_version("gunicorn"),
            "a2wsgi": _dist_version("a2wsgi"),
            "starlette": _dist_version("starlette"),
            "hyper-hello": f"hyper {hyper_version}, " + _cmd_version(["rustc", "--version"]),
            "pyo3-async-runtimes": _lock_version(BRIDGE_DIR / "Cargo.lock", "pyo3-async-runtimes"),
            "wrk": _cmd_version(["wrk", "--version"]).split(" Copyright")[0].removeprefix("wrk "),
        },
    }


def _fmt_rps(value: float) -> str:
    return f"{value:,.0f}"


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "—"
    return f"{value / base:.2f}×"


def _route_label(server: str, route: dict) -> str:
    return f"{server} {route['route']}" if route["route"] else server


def _baseline_row(rows: list[dict], scenario: str, name: str) -> dict | None:
    for row in rows:
        if row["scenario"] == scenario and row["server"] == name and row["status"] == "ok":
            return row
    return None


def _route_of(row: dict | None, route_name: str) -> dict | None:
    if row is None:
        return None
    for route in row["routes"]:
        if route["route"] == route_name:
            return route
    return None


def render_markdown(report: dict) -> str:
    meta, settings, rows = report["machine"], report["settings"], report["results"]
    lines = [
        "# amphicorn benchmark results",
        "",
        f"- Date: {meta['date']}",
        f"- Machine: {meta['cpu']}, {meta['cores']} cores, {meta['memory']} RAM, Linux {meta['kernel']}; "
        f"CPU {meta.get('cpu_busy_before', '?')}% busy just before the runs; load average "
        f"{meta['loadavg_before']} before, {meta.get('loadavg_after', '?')} after",
        f"- Python: {meta['python']}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        f"- Load: wrk, {settings['wrk_threads']} thread(s) per wrk process, {settings['connections']} connections, "
        f"{settings['warmup']} s warm-up then {settings['duration']} s measured per run, HTTP/1.1 keep-alive, "
        "loopback; the mixed scenario runs two wrk processes at once, one per route, with half the connections each.",
        f"- Servers: one worker process each, WSGI thread pool {settings['wsgi_threads']} (amphicorn `--threads`, "
        "granian `--blocking-threads`, gunicorn gthread `--threads`, a2wsgi `workers`); I/O threads at each "
        f"server's default (amphicorn and hyper-hello: {settings['io_threads']}, one per core; granian: its default "
        "runtime threads); uvicorn with uvloop + httptools; no access logs. wrk and the server share the "
        f"{meta['cores']} cores.",
        "- Errors = non-2xx responses + socket errors (connect, read, write, timeout) reported by wrk. Peak RSS = "
        "highest sum of RSS over the server's process tree (master + worker where there are two), sampled every "
        "50 ms during warm-up and run. Ratios are to granian in the same run (to granian serving the same "
        "Starlette + a2wsgi app for the mixed scenario).",
        "",
    ]
    for name, scenario in SCENARIOS.items():
        scenario_rows = [r for r in rows if r["scenario"] == name]
        if not scenario_rows:
            continue
        baseline_name = BASELINE.get(name, "granian")
        baseline = _baseline_row(rows, name, baseline_name)
        second = _baseline_row(rows, name, MIXED_SECOND_BASELINE) if scenario.kind == "mixed" else None
        lines += [f"## {name}", "", f"{scenario.description}.", ""]
        header = [
            "server",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "peak RSS MiB",
            f"req/s vs {baseline_name}",
            f"RSS vs {baseline_name}",
        ]
        if scenario.kind == "mixed":
            header.append(f"req/s vs {MIXED_SECOND_BASELINE}")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for row in scenario_rows:
            if row["status"] != "ok" and not row.get("routes"):
                word = "unsupported" if row["status"] == "unsupported" else "**FAILED**"
                cells = [row["server"], f"{word}: {_md_escape(row.get('error') or '')}"] + [""] * (len(header) - 2)
                lines.append("| " + " | ".join(cells) + " |")
                continue
            base_rss = baseline["peak_rss_mib"] if baseline else None
            for route in row["routes"]:
                if not route["ok"]:
                    lines.append(f"| {_route_label(row['server'], route)} | **FAILED**: {_md_escape(route['error'])} |")
                    continue
                base_route = _route_of(baseline, route["route"])
                cells = [
                    _route_label(row["server"], route) + (" (**FAILED**)" if row["status"] == "failed" else ""),
                    _fmt_rps(route["rps"]),
                    f"{route['latency_ms']['p50']:.2f}",
                    f"{route['latency_ms']['p99']:.2f}",
                    f"{route['errors']:,}",
                    f"{row['peak_rss_mib']:.1f}",
                    _ratio(route["rps"], base_route["rps"] if base_route else None),
                    _ratio(row["peak_rss_mib"], base_rss),
                ]
                if scenario.kind == "mixed":
                    second_route = _route_of(second, route["route"])
                    cells.append(_ratio(route["rps"], second_route["rps"] if second_route else None))
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += render_bridges(rows)
    lines += render_targets(rows)
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        lines += ["## Failures", ""]
        lines += [f"- {r['scenario']} / {r['server']}: {_md_escape(r.get('error') or '')}" for r in failed]
        lines.append("")
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def render_bridges(rows: list[dict]) -> list[str]:
    """amphicorn's hand-written asyncio bridge against pyo3-async-runtimes (issue 3), where
    both ran: same server stack, same app, same run."""
    lines = []
    for name, scenario in SCENARIOS.items():
        ours = _route_of(_baseline_row(rows, name, "amphicorn"), "")
        theirs = _route_of(_baseline_row(rows, name, "pyo3-async-runtimes"), "")
        if scenario.kind != "asgi" or ours is None or theirs is None:
            continue
        lines.append(
            f"| {name} | {_fmt_rps(ours['rps'])} | {ours['latency_ms']['p50']:.2f} / {ours['latency_ms']['p99']:.2f} "
            f"| {_fmt_rps(theirs['rps'])} | {theirs['latency_ms']['p50']:.2f} / {theirs['latency_ms']['p99']:.2f} "
            f"| {_ratio(ours['rps'], theirs['rps'])} |"
        )
    if not lines:
        return []
    return [
        "## ASGI bridges (issue 3)",
        "",
        "amphicorn (hand-written bridge) against the same stack with pyo3-async-runtimes as the bridge "
        "(bench/bridge-pyo3-async-runtimes).",
        "",
        "| scenario | amphicorn req/s | p50 / p99 ms | pyo3-async-runtimes req/s | p50 / p99 ms | amphicorn ÷ it |",
        "|---|---:|---:|---:|---:|---:|",
        *lines,
        "",
    ]


def render_targets(rows: list[dict]) -> list[str]:
    """The targets of the benchmark issue, each a ratio measured in this run."""

    def rps(scenario: str, server: str, route: str = "") -> float | None:
        found = _route_of(_baseline_row(rows, scenario, server), route)
        return found["rps"] if found else None

    def rss(scenario: str, server: str) -> float | None:
        row = _baseline_row(rows, scenario, server)
        return row["peak_rss_mib"] if row else None

    checks = [
        (f"{s} req/s ≥ {goal}× granian", rps(s, "amphicorn"), rps(s, "granian"), goal)
        for s, goal in [
            ("wsgi-hello", 1.2),
            ("wsgi-echo", 1.2),
            ("asgi-hello", 1.0),
            ("asgi-echo", 1.0),
            ("wsgi-stream", 1.0),
            ("asgi-stream", 1.0),
        ]
    ]
    checks += [
        (f"{s} peak RSS ≤ 1.0× granian's", rss(s, "amphicorn"), rss(s, "granian"), -1.0)  # negative: at most
        for s in ("wsgi-hello", "wsgi-echo", "wsgi-stream", "asgi-hello", "asgi-echo", "asgi-stream")
    ]
    legacy, api = rps("mixed", "amphicorn", "/legacy"), rps("mixed", "amphicorn", "/api")
    checks += [
        ("mixed /legacy (WSGI) req/s ≥ 3× uvicorn+a2wsgi's", legacy, rps("mixed", "uvicorn+a2wsgi", "/legacy"), 3.0),
        (
            "mixed /api (ASGI) req/s ≥ 1.0× uvicorn's /api in the same set-up",
            api,
            rps("mixed", "uvicorn+a2wsgi", "/api"),
            1.0,
        ),
        ("(stricter) mixed /api req/s ≥ 1.0× uvicorn alone in asgi-hello", api, rps("asgi-hello", "uvicorn"), 1.0),
    ]
    checks += [
        (f"{s} req/s with metrics on ≥ 0.97× metrics off", rps(s, "amphicorn+metrics"), rps(s, "amphicorn"), 0.97)
        for s in ("wsgi-hello", "asgi-hello")
    ]
    lines = ["## Targets (issues 5 and 14)", "", "| target | ratio | met |", "|---|---:|---|"]
    for label, value, base, goal in checks:
        if value is None or not base:
            lines.append(f"| {label} | — | not measured |")
        else:
            ratio = value / base
            met = ratio <= -goal if goal < 0 else ratio >= goal
            lines.append(f"| {label} | {ratio:.2f}× | {'yes' if met else '**no**'} |")
    lines.append("")
    return lines


def label_bar(ax: Any, x: float, height: float, text: str) -> None:
    """Writes ``text`` upwards just above a bar of a chart."""
    ax.annotate(
        text, (x, height), ha="center", va="bottom", fontsize=7, rotation=90, xytext=(0, 2), textcoords="offset points"
    )


def render_png(report: dict, path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        return f"matplotlib missing: {error}"
    rows = report["results"]
    groups: list[tuple[str, str, str]] = []  # (label, scenario, route)
    for name, scenario in SCENARIOS.items():
        for route in scenario.routes:
            if any(r["scenario"] == name for r in rows):
                groups.append((f"{name} {route.name}".strip(), name, route.name))
    servers = [s for s in SERVERS if any(r["server"] == s and r["status"] == "ok" for r in rows)]
    if not groups or not servers:
        return "nothing to plot"
    colors = {
        "amphicorn": "#d62728",
        "granian": "#1f77b4",
        "granian+a2wsgi": "#aec7e8",
        "uvicorn": "#2ca02c",
        "uvicorn+a2wsgi": "#98df8a",
        "gunicorn": "#9467bd",
        "hyper-hello": "#7f7f7f",
        "pyo3-async-runtimes": "#ff7f0e",
    }
    fig, ax = plt.subplots(figsize=(15, 6.5))
    width = 0.8 / max(
        1, max(sum(1 for s in servers if _route_of(_baseline_row(rows, sc, s), rn)) for _, sc, rn in groups)
    )
    labelled: set[str] = set()
    for g, (_label, scenario, route_name) in enumerate(groups):
        present = [(s, _route_of(_baseline_row(rows, scenario, s), route_name)) for s in servers]
        present = [(s, r) for s, r in present if r is not None and r.get("ok")]
        base = _route_of(_baseline_row(rows, scenario, BASELINE.get(scenario, "granian")), route_name)
        for i, (server, route) in enumerate(present):
            x = g + (i - (len(present) - 1) / 2) * width
            label = server if server not in labelled else None
            labelled.add(server)
            ax.bar([x], [route["rps"]], width, label=label, color=colors.get(server))
            if base and base["rps"]:
                label_bar(ax, x, route["rps"], f"{route['rps'] / base['rps']:.2f}×")
    ax.set_xticks(range(len(groups)))
    tick_labels = []
    for label, scenario, _route in groups:
        amphicorn = [r for r in rows if r["scenario"] == scenario and r["server"] == "amphicorn"]
        if amphicorn and amphicorn[0]["status"] != "ok":
            label += f"\n(amphicorn: {amphicorn[0]['status']})"
        tick_labels.append(label)
    ax.set_xticklabels(tick_labels, fontsize=9)
    ax.set_yscale("log")
    ax.set_ylabel("requests/s (log scale)")
    meta, settings = report["machine"], report["settings"]
    ax.set_title(
        f"amphicorn vs peers, one worker, {settings['connections']} connections, {settings['duration']} s per run — "
        f"{meta['cores']} cores, {meta['date']}\nlabels: req/s ratio to granian (granian+a2wsgi for mixed)",
        fontsize=10,
    )
    handles, names = ax.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda i: list(SERVERS).index(names[i]))
    ax.legend(
        [handles[i] for i in order],
        [names[i] for i in order],
        ncol=len(servers),
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
    )
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="~1 s per scenario: 1 s runs, 0.2 s warm-up, 16 connections"
    )
    parser.add_argument("--duration", type=float, help="measured seconds per run (default 10; quick: 1)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per run (default 2; quick: 0.2)")
    parser.add_argument("--connections", type=int, help="wrk connections (default 64; quick: 16)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="threads per wrk process (default 1)")
    parser.add_argument("--only", help=f"comma-separated scenarios, of: {','.join(SCENARIOS)}")
    parser.add_argument("--servers", help=f"comma-separated servers, of: {','.join(SERVERS)}")
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR / "results", help="output directory (default bench/results)"
    )
    parser.add_argument(
        "--amphicorn-python",
        default=os.environ.get("AMPHICORN_PYTHON") or sys.executable,
        help="the Python whose amphicorn is measured (default $AMPHICORN_PYTHON, else this Python)",
    )
    args = parser.parse_args(argv)
    quick = {"duration": 1.0, "warmup": 0.2, "connections": 16}
    full = {"duration": 10.0, "warmup": 2.0, "connections": 64}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for option, known in (("only", SCENARIOS), ("servers", SERVERS)):
        value = getattr(args, option)
        if value:
            names = [n.strip() for n in value.split(",") if n.strip()]
            unknown = [n for n in names if n not in known]
            if unknown:
                parser.error(f"--{option}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
            setattr(args, option, names)
    if args.duration <= 0 or args.warmup < 0 or args.connections < 1:
        parser.error("--duration must be > 0, --warmup ≥ 0, --connections ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk not found on PATH (bench/run.sh installs it: apt-get install wrk)", file=sys.stderr)
        return 2
    if "amphicorn" in (args.servers or SERVERS):
        check = subprocess.run([args.amphicorn_python, "-c", "import amphicorn"], capture_output=True, text=True)
        if check.returncode != 0:
            print(
                f"bench: {args.amphicorn_python} cannot import amphicorn (bench/run.sh installs it): "
                f"{error_line(check.stderr)}",
                file=sys.stderr,
            )
            return 2
    out: Path = args.out.resolve()
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    io_threads = os.cpu_count() or 1
    scenarios = [SCENARIOS[n] for n in (args.only or SCENARIOS)]
    servers = args.servers or [s for s in SERVERS if not (args.quick and s in NOT_IN_QUICK)]
    rows: list[dict] = []
    ctx = Ctx(port=0, python=sys.executable, amphicorn_python=args.amphicorn_python, io_threads=io_threads)
    machine = machine_info(args, ctx)  # before the runs: the load average says what else ran
    machine["cpu_busy_before"] = round(cpu_busy(), 1)
    if machine["cpu_busy_before"] > 10:
        print(
            f"bench: warning: {machine['cpu_busy_before']}% of the CPU was busy before the runs: something "
            "else is running, and the figures will show it",
            file=sys.stderr,
        )
    started = time.monotonic()
    for scenario in scenarios:
        for server_name in [s for s in SERVERS if s in servers]:
            ctx.port = free_port()
            commands = SERVERS[server_name](scenario, ctx)
            if not commands:
                continue
            missing = None
            if server_name == "hyper-hello" and not HYPER_HELLO.exists():
                missing = f"{HYPER_HELLO} not built (bench/run.sh builds it)"
            if server_name == "pyo3-async-runtimes" and importlib.util.find_spec(BRIDGE_MODULE) is None:
                missing = f"{BRIDGE_MODULE} not installed in {sys.prefix} (bench/run.sh builds it)"
            if missing:
                rows.append(
                    {
                        "scenario": scenario.name,
                        "server": server_name,
                        "status": "unsupported",
                        "error": missing,
                        "attempts": [],
                    }
                )
                continue
            print(f"[{time.monotonic() - started:6.1f}s] {scenario.name:<12} {server_name:<15}", end=" ", flush=True)
            row = bench_one(scenario, server_name, commands, args, ctx, raw)
            rows.append(row)
            if row["status"] == "ok":
                summary = ", ".join(
                    f"{r['route'] or 'rps'} {r['rps']:,.0f} req/s p99 {r['latency_ms']['p99']:.2f} ms "
                    f"errors {r['errors']}"
                    for r in row["routes"]
                )
                print(f"{summary}; peak RSS {row['peak_rss_mib']:.1f} MiB")
            else:
                print(f"{row['status'].upper()}: {row.get('error')}")
    settings = {
        "duration": args.duration,
        "warmup": args.warmup,
        "connections": args.connections,
        "wrk_threads": args.wrk_threads,
        "wsgi_threads": WSGI_THREADS,
        "io_threads": io_threads,
        "quick": args.quick,
        "amphicorn_python": args.amphicorn_python,
    }
    report = {"machine": {**machine, "loadavg_after": _loadavg()}, "settings": settings, "results": rows}
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "results.md").write_text(render_markdown(report))
    problem = render_png(report, out / "results.png")
    if problem:
        print(f"bench: no chart: {problem}", file=sys.stderr)
    print(
        f"bench: {len(rows)} runs in {time.monotonic() - started:.0f} s; wrote {out}/results.md, results.json, "
        f"results.png"
    )
    failed = [r for r in rows if r["status"] == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
