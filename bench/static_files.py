#!/usr/bin/env python3
# ruff: noqa: RUF001 -- the tables print ratios with a multiplication sign on purpose
"""Static files and compressed answers, server by server, one core each (issue 16's benchmark).

Each server runs pinned to one core (``taskset -c 0``) in its best configuration for one
core (bench/static_peers.py says which), and wrk to the other (``taskset -c 1``), with
keep-alive connections. Scenarios:

- ``static-4k``, ``static-1m``: a 4 KiB and a 1 MiB file, plain ``GET`` (200);
- ``…-304``: the same with ``If-None-Match`` carrying the ETag that server gave (fetched
  first), answered ``304``;
- ``…-range``: ``Range: bytes=0-1023``, answered ``206`` with 1 KiB;
- ``json``, ``json-gzip``, ``json-br``: a 64 KiB JSON answer (apps/json_app.py) from the
  WSGI and from the ASGI app, without ``Accept-Encoding`` and with ``gzip`` or ``br``.

Peers: amphicorn, nginx (static files only), granian (no response compression: it is left
out of ``json-gzip``/``json-br``, and ``json`` is the comparable row), pyvoy.

Before measuring, each server answers the scenario's request once through curl, and the
answer is checked: status, body (the file's bytes, the range's, or the JSON decoded by
curl), ``Content-Encoding``, ``Content-Range``. A peer that answers wrongly is reported
with what was wrong, not measured. For every run: requests/s, the server's CPU µs per
request (user + system of its whole process tree, from /proc, over the measured window),
wrk's CPU use (a run where it was over 95 % busy is marked ``bound``: the client set the
pace), and bytes per answer on the wire. Rounds are interleaved (every server once per
round, then the next round); the table gives the median and the range.

    bench/.venv/bin/python bench/static_files.py                     # 3 rounds of 10 s
    bench/.venv/bin/python bench/static_files.py --rounds 1 --duration 2 --only static-4k

Writes ``--out`` (default bench/results): static.json, static.md, raw/static/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent / "apps"))

import json_app
import static_peers
from one_core import LOAD_CORE, SERVER_CORE, add_round_arguments, children_cpu, client_label, on_load_core
from static_peers import PEERS

import bench
from bench import HOST, WRK_DIR, Route, Server, cpu_seconds, free_port

SMALL, LARGE = 4 * 1024, 1024 * 1024
RANGE = (0, 1023)


@dataclass(frozen=True)
class Case:
    name: str
    path: str  # under the server's root
    status: int
    headers: tuple[str, ...] = ()  # "Name: value"; {etag} is the ETag the server gave
    encoding: str = ""  # the Content-Encoding the answer must have ("" for none)
    ranged: bool = False

    @property
    def static(self) -> bool:
        return self.path.startswith("/static/")


def _file_cases(label: str, path: str) -> list[Case]:
    return [
        Case(f"static-{label}", path, 200),
        Case(f"static-{label}-304", path, 304, ("If-None-Match: {etag}",)),
        Case(f"static-{label}-range", path, 206, (f"Range: bytes={RANGE[0]}-{RANGE[1]}",), ranged=True),
    ]


CASES = {
    case.name: case
    for case in [
        *_file_cases("4k", "/static/4k.bin"),
        *_file_cases("1m", "/static/1m.bin"),
        Case("json", "/json", 200),
        Case("json-gzip", "/json", 200, ("Accept-Encoding: gzip",), "gzip"),
        Case("json-br", "/json", 200, ("Accept-Encoding: br",), "br"),
    ]
}
KINDS = ("wsgi", "asgi")


def make_files(root: Path) -> dict[str, bytes]:
    """The two files: seeded random bytes, the same on every run, that do not compress."""
    root.mkdir(parents=True, exist_ok=True)
    root.parent.chmod(0o755)  # nginx's worker runs as nobody: it must reach the files
    root.chmod(0o755)
    rng = random.Random(16)
    files = {}
    for name, size in (("4k.bin", SMALL), ("1m.bin", LARGE)):
        data = rng.randbytes(size)
        (root / name).write_bytes(data)
        (root / name).chmod(0o644)
        files[f"/static/{name}"] = data
    return files


def curl(port: int, path: str, headers: list[str], work: Path) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and decoded body of one GET."""
    head, body = work / "check.head", work / "check.body"
    # curl writes no file for an empty body: a previous answer's must not stand in for it.
    head.unlink(missing_ok=True)
    body.unlink(missing_ok=True)
    command = ["curl", "-sS", "-D", str(head), "-o", str(body), "-w", "%{http_code}"]
    # --compressed decodes the answer (curl has gzip, br and zstd), but without an
    # Accept-Encoding of ours it would send curl's own: only with one.
    if any(header.lower().startswith("accept-encoding:") for header in headers):
        command.append("--compressed")
    for header in headers:
        command += ["-H", header]
    done = subprocess.run(
        [*command, f"http://{HOST}:{port}{path}"], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise OSError(f"curl: {done.stderr.strip() or done.returncode}")
    status = int(done.stdout)
    fields = {}
    for line in head.read_text(errors="replace").splitlines()[1:]:
        name, _, value = line.partition(":")
        if value:
            fields[name.strip().lower()] = value.strip()
    return status, fields, body.read_bytes() if body.exists() else b""


def check(port: int, case: Case, files: dict[str, bytes], work: Path) -> tuple[list[str], str | None]:
    """The headers wrk sends for ``case`` on this server, and None or what was wrong with its answer."""
    headers = list(case.headers)
    try:
        if any("{etag}" in header for header in headers):
            _, first, _ = curl(port, case.path, [], work)
            if "etag" not in first:
                return headers, "no ETag on the plain GET"
            headers = [header.replace("{etag}", first["etag"]) for header in headers]
        status, fields, body = curl(port, case.path, headers, work)
    except (OSError, ValueError, subprocess.TimeoutExpired) as error:
        return headers, f"no answer: {error}"
    if status != case.status:
        return headers, f"HTTP {status}, expected {case.status}"
    whole = files.get(case.path, json_app.BODY)
    expected = b"" if case.status == 304 else whole[RANGE[0] : RANGE[1] + 1] if case.ranged else whole
    if body != expected:
        return headers, f"body of {len(body)} bytes, not the {len(expected)} expected"
    encoding = fields.get("content-encoding", "")
    if encoding != case.encoding:
        return headers, f"Content-Encoding {encoding or 'none'!r}, expected {case.encoding or 'none'!r}"
    content_range = f"bytes {RANGE[0]}-{RANGE[1]}/{len(whole)}"
    if case.ranged and fields.get("content-range") != content_range:
        return headers, f"Content-Range {fields.get('content-range')!r}, expected {content_range!r}"
    return headers, None


def load_command(case: Case, port: int, duration: float, connections: int, headers: list[str]) -> list[str]:
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{max(1, round(duration))}s"]
    command += ["-s", str(WRK_DIR / "get.lua")]
    for header in headers:
        command += ["-H", header]
    return on_load_core([*command, f"http://{HOST}:{port}{case.path}"])


def run_one(name: str, kind: str, case: Case, args: argparse.Namespace, files: dict[str, bytes], work: Path) -> dict:
    row: dict = {"server": name, "kind": kind, "case": case.name, "ok": False}
    port = free_port()
    command = static_peers.server_command(
        name, kind, case.encoding, port, work / "root", work, args.python, args.amphicorn_python
    )
    if isinstance(command, str):
        return {**row, "error": f"n/a: {command}"}
    label = f"{case.name}__{kind}__{name}"
    server = Server(command, args.raw / f"{label}.log")
    try:
        problem = server.wait_ready(port)
        if problem:
            return {**row, "error": problem}
        headers, wrong = check(port, case, files, work)
        if wrong:
            return {**row, "error": f"wrong answer: {wrong}", "wrong": True}
        if args.warmup:
            warm = load_command(case, port, args.warmup, args.connections, headers)
            subprocess.run(warm, capture_output=True, timeout=args.warmup + 60, check=False)
        cpu_before = cpu_seconds(bench.tree_pids(server.proc.pid))
        times_before = os.times()
        load = load_command(case, port, args.duration, args.connections, headers)
        done = subprocess.run(load, capture_output=True, timeout=args.duration + 60, check=False)
        cpu = cpu_seconds(bench.tree_pids(server.proc.pid)) - cpu_before
        client = children_cpu(os.times(), times_before)
        text = (done.stdout + done.stderr).decode("utf-8", "replace")
        (args.raw / f"{label}.txt").write_text(" ".join(load) + "\n" + text)
        parsed = bench.parse_wrk(text, Route("", case.path, "GET", "get.lua", 0))
        if not parsed["ok"] or not parsed["requests"]:
            return {**row, "error": parsed.get("error", "0 requests")}
        return {
            **row,
            "ok": True,
            "rps": parsed["rps"],
            "cpu_us": cpu / parsed["requests"] * 1e6,
            "client_busy": client / parsed["seconds"],
            "bytes": parsed["bytes_per_request"],
            "errors": parsed["errors"],
            "command": command,
        }
    finally:
        server.stop()


# Issue 16's targets for amphicorn on every static scenario: its req/s over the peer's.
TARGETS = {"granian": 1.0, "pyvoy": 1.0, "nginx": 0.8}


def render(summary: list[dict], meta: dict) -> str:
    args = meta["args"]
    lines = [
        "# Static files and compressed JSON, one core each",
        "",
        *([f"**{meta['note']}**", ""] if meta["note"] else []),
        f"Server on CPU {SERVER_CORE}, wrk on CPU {LOAD_CORE} (taskset); {args['rounds']} interleaved rounds of "
        f"{args['duration']:g} s, {args['connections']} keep-alive connections; load average "
        f"{meta['load_before']} before, {meta['load_after']} after. {meta['versions']}.",
        "`× amphicorn`: amphicorn's requests/s over that server's (medians); `bytes`: per answer on the wire, "
        "headers included; `client`: wrk's busiest run (`bound` over 95 %: the client set the pace).",
        "granian has no response compression: `json` (no Accept-Encoding) is its comparable row; "
        "amphicorn and pyvoy compress with br,gzip configured in every `json` run.",
        "",
        "| scenario | app | server | req/s (median, min–max) | CPU µs/req | × amphicorn | bytes | errors | client |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by_key = {(row["case"], row["kind"], row["server"]): row for row in summary}
    order, kinds = list(CASES), ["static", *KINDS]
    not_run: dict[str, list[str]] = {}

    def place(row: dict) -> tuple[int, int, int]:
        return order.index(row["case"]), kinds.index(row["kind"]), PEERS.index(row["server"])

    for row in sorted(summary, key=place):
        head = f"| {row['case']} | {row['kind']} | {row['server']} |"
        if not row["ok"] and row["error"].startswith("n/a: "):
            not_run.setdefault(f"{row['server']} ({row['error'][5:]})", []).append(f"{row['case']}/{row['kind']}")
            continue
        if not row["ok"]:
            lines.append(f"{head} — ({row['error'][:90]}) | | | | | |")
            continue
        ours = by_key.get((row["case"], row["kind"], "amphicorn"))
        ratio = f"{ours['rps'] / row['rps']:.2f}×" if ours and ours["ok"] and row["server"] != "amphicorn" else ""
        low, high = row["rps_range"]
        busy = client_label(row["client_busy"])
        lines.append(
            f"{head} {row['rps']:,.0f} ({low:,.0f}–{high:,.0f}) | {row['cpu_us']:.1f} | {ratio} "
            f"| {row['bytes']:,.0f} | {row['errors']} | {busy} |"
        )
    if not_run:
        lines += ["", "Not run: " + "; ".join(f"{peer}: {', '.join(runs)}" for peer, runs in not_run.items()) + "."]
    wanted = ", ".join(f"≥ {target:.1f}× {peer}" for peer, target in TARGETS.items())
    lines += ["", "## Targets", "", f"Issue 16: on every static scenario, amphicorn {wanted}.", ""]
    lines += ["| scenario | " + " | ".join(TARGETS) + " |", "|---" * (len(TARGETS) + 1) + "|"]
    for case in (name for name in CASES if CASES[name].static):
        ours = by_key.get((case, "static", "amphicorn"))
        if not ours:
            continue
        cells = []
        for peer, target in TARGETS.items():
            theirs = by_key.get((case, "static", peer))
            if not (ours["ok"] and theirs and theirs["ok"]):
                failed = theirs if ours["ok"] else ours
                why = "not run" if not failed else failed["error"].partition(":")[0]
                cells.append(f"— ({why})")
                continue
            ratio = ours["rps"] / theirs["rps"]
            cells.append(f"{ratio:.2f}× {'met' if ratio >= target else 'NOT met'}")
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def versions(args: argparse.Namespace) -> str:
    def first_line(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        except OSError:
            return "not installed"
        text = (done.stdout + done.stderr).strip()
        return text.splitlines()[-1] if text else "unknown"

    def version(python: str, name: str) -> str:
        return first_line([python, "-c", f"from importlib.metadata import version; print(version({name!r}))"])

    nginx = first_line(["nginx", "-v"]).rpartition(" ")[2] if shutil.which("nginx") else "nginx not installed"
    return (
        f"amphicorn {version(args.amphicorn_python, 'amphicorn')}, {nginx}, granian {version(args.python, 'granian')}, "
        f"pyvoy {version(args.python, 'pyvoy')}, Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="runs the peers (the bench venv)")
    parser.add_argument("--amphicorn-python", default=None, help="runs amphicorn (default: --python)")
    parser.add_argument("--servers", default=",".join(PEERS))
    parser.add_argument("--only", default=",".join(CASES), help="scenarios, e.g. static-4k,json-gzip")
    parser.add_argument("--kinds", default=",".join(KINDS), help="the apps of the json scenarios")
    add_round_arguments(parser)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--note", default="", help="a line at the top of static.md (e.g. 'smoke run')")
    args = parser.parse_args(argv)
    args.amphicorn_python = args.amphicorn_python or args.python
    unknown = [name for name in args.only.split(",") if name not in CASES]
    unknown += [name for name in args.servers.split(",") if name not in PEERS]
    if unknown:
        parser.error(f"unknown scenario or server: {', '.join(unknown)}")
    missing = [tool for tool in ("taskset", "wrk", "curl") if shutil.which(tool) is None]
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install util-linux wrk curl)", file=sys.stderr)
        return 2
    args.raw = args.out / "raw" / "static"
    args.raw.mkdir(parents=True, exist_ok=True)
    meta = {"note": args.note, "load_before": bench._loadavg(), "versions": versions(args)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="amphicorn-static-") as directory:
        work = Path(directory)
        files = make_files(work / "root")
        for round_number in range(args.rounds):
            for case_name in args.only.split(","):
                case = CASES[case_name]
                for kind in ["static"] if case.static else args.kinds.split(","):
                    for name in args.servers.split(","):
                        row = run_one(name, kind, case, args, files, work)
                        row["round"] = round_number
                        rows.append(row)
                        shown = f"{row['rps']:,.0f} req/s, {row['cpu_us']:.1f} µs" if row["ok"] else row["error"]
                        print(f"[{round_number + 1}/{args.rounds}] {case_name} {kind} {name}: {shown}", flush=True)
    meta["load_after"] = bench._loadavg()
    meta["args"] = {key: value for key, value in vars(args).items() if key not in ("out", "raw")}
    summary = bench.summarise_rounds(rows, medians=("cpu_us", "bytes"))
    report = {"meta": meta, "rows": rows, "summary": summary}
    (args.out / "static.json").write_text(json.dumps(report, indent=1))
    markdown = render(summary, meta)
    (args.out / "static.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
