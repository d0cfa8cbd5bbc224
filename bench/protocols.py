#!/usr/bin/env python3
# ruff: noqa: RUF001 -- the tables print ratios with a multiplication sign on purpose
"""TLS and HTTP/2, server by server, one core each (issue 13's benchmark).

Each server runs pinned to one core (``taskset -c 0``), in its best configuration for one
core, and the load generator to the other (``taskset -c 1``): wrk for HTTP/1.1 over TLS,
h2load (Debian's nghttp2-client) for HTTP/2. Scenarios, each for the WSGI and the ASGI
app of ``apps/`` (hello: 13 bytes; echo: a 64 KiB POST sent back):

- ``https``: HTTP/1.1 over TLS, keep-alive connections (wrk);
- ``h2``: HTTP/2 over TLS by ALPN, ``--streams`` concurrent streams per connection (h2load);
- ``h2c``: HTTP/2 in cleartext with prior knowledge (h2load; hello only);
- ``tls-handshake``: a new TLS connection for every request (wrk with ``Connection:
  close``; hello only), which measures the handshake.

For every run: requests/s, the server's CPU time per request (µs, from /proc: user +
system of its whole process tree, over the measured window), and the load generator's CPU
use, so a run where the client was the bottleneck (its core near 100 %) says so. Rounds are
interleaved (every server once per round, then the next round), and the table gives the
median and the range.

    bench/.venv/bin/python bench/protocols.py                      # 3 rounds of 10 s
    bench/.venv/bin/python bench/protocols.py --rounds 1 --duration 3 --only h2-hello

Writes ``--out`` (default bench/results): protocols.json, protocols.md, raw/protocols/.
Servers: amphicorn; granian (``--runtime-mode st --runtime-threads 1 --blocking-threads 4``,
``--ssl-certificate``/``--ssl-keyfile``, ``--http auto``); hypercorn (``--certfile``/
``--keyfile``, asyncio worker); pyvoy (Envoy; ``--tls-cert``/``--tls-key``, HTTP/3 off). A
server that cannot run a scenario (hypercorn's HTTP/2 in cleartext is fine; pyvoy has no
h2c on a TLS port) is left out of it and says why.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from one_core import (
    LOAD_CORE,
    SERVER_CORE,
    add_round_arguments,
    children_cpu,
    client_label,
    on_load_core,
    on_server_core,
)

import bench
from bench import ECHO_LEN, HELLO_LEN, HOST, WRK_DIR, Route, Server, cpu_seconds, free_port


@dataclass(frozen=True)
class Case:
    name: str  # e.g. "h2-hello"
    protocol: str  # https | h2 | h2c | tls-handshake
    path: str
    method: str
    expect_len: int


CASES = {
    case.name: case
    for case in [
        Case("https-hello", "https", "/hello", "GET", HELLO_LEN),
        Case("https-echo", "https", "/echo", "POST", ECHO_LEN),
        Case("h2-hello", "h2", "/hello", "GET", HELLO_LEN),
        Case("h2-echo", "h2", "/echo", "POST", ECHO_LEN),
        Case("h2c-hello", "h2c", "/hello", "GET", HELLO_LEN),
        Case("tls-handshake", "tls-handshake", "/hello", "GET", HELLO_LEN),
    ]
}
KINDS = ("wsgi", "asgi")


def server_command(name: str, kind: str, case: Case, port: int, cert: Path, key: str, python: str) -> list[str] | None:
    """The pinned command line of server ``name`` for ``kind``, or None if it cannot."""
    tls = case.protocol != "h2c"
    app = "wsgi_app:app" if kind == "wsgi" else "asgi_app:app"
    if name == "amphicorn":
        command = [python, "-m", "amphicorn", f"{kind}:{app}", "-b", f"{HOST}:{port}", "--io-threads", "1"]
        command += ["--threads", "4"] if kind == "wsgi" else []
        command += ["--ssl-certfile", str(cert), "--ssl-keyfile", key] if tls else []
    elif name == "granian":
        command = [python, "-m", "granian", "--interface", kind, "--host", HOST, "--port", str(port)]
        command += ["--workers", "1", "--runtime-mode", "st", "--runtime-threads", "1"]
        # granian runs ASGI apps on its one event loop: only WSGI takes blocking threads.
        command += ["--blocking-threads", "4"] if kind == "wsgi" else []
        command += ["--http", "auto" if tls else "2"]
        command += ["--ssl-certificate", str(cert), "--ssl-keyfile", key] if tls else []
        command.append(app)
    elif name == "hypercorn":
        command = [python, "-m", "hypercorn", "-b", f"{HOST}:{port}", "--workers", "1", "-k", "uvloop"]
        command += ["--certfile", str(cert), "--keyfile", key] if tls else []
        command.append(app)
    elif name == "pyvoy":
        pyvoy = str(Path(python).with_name("pyvoy"))
        if not tls or not Path(pyvoy).exists():
            return None
        command = [pyvoy, "--interface", kind, "--address", HOST, "--port", str(port), "--tls-disable-http3"]
        command += ["--tls-cert", str(cert), "--tls-key", key, "--worker-threads", "4" if kind == "wsgi" else "1"]
        command.append(app)
    else:
        raise ValueError(name)
    return on_server_core(command)


def load_command(case: Case, port: int, duration: float, connections: int, streams: int, body: Path) -> list[str]:
    scheme = "http" if case.protocol == "h2c" else "https"
    url = f"{scheme}://{HOST}:{port}{case.path}"
    if case.protocol in ("https", "tls-handshake"):
        script = WRK_DIR / ("post.lua" if case.method == "POST" else "get.lua")
        command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{round(duration)}s", "-s", str(script)]
        if case.protocol == "tls-handshake":
            command += ["-H", "Connection: close"]
        return on_load_core([*command, url])
    command = ["h2load", "-t", "1", "-c", str(connections), "-m", str(streams), "-D", str(round(duration))]
    command += ["-d", str(body)] if case.method == "POST" else []
    return on_load_core([*command, url])


def parse_load(case: Case, text: str) -> dict:
    """requests, seconds and errors from wrk's report line or h2load's summary."""
    if case.protocol in ("https", "tls-handshake"):
        parsed = bench.parse_wrk(text, Route("", case.path, case.method, "", case.expect_len))
        if not parsed["ok"]:
            return {"ok": False, "error": parsed["error"]}
        return {"ok": True, "requests": parsed["requests"], "seconds": parsed["seconds"], "errors": parsed["errors"]}
    finished = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    counts = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", text)
    statuses = re.search(r"status codes: (\d+) 2xx", text)
    if not (finished and counts and statuses):
        return {"ok": False, "error": "no h2load summary: " + " | ".join(text.strip().splitlines()[-3:])}
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    succeeded, failed = int(counts.group(2)), int(counts.group(3))
    # Answered requests that were not 2xx count as errors too.
    non_2xx = max(0, succeeded - int(statuses.group(1)))
    return {"ok": True, "requests": int(statuses.group(1)), "seconds": seconds, "errors": failed + non_2xx}


def run_one(name: str, kind: str, case: Case, args: argparse.Namespace, files: dict, raw: Path) -> dict:
    port = free_port()
    command = server_command(name, kind, case, port, files["cert"], files["key"], args.python)
    label = f"{case.name}/{kind}/{name}"
    if command is None:
        return {"server": name, "kind": kind, "case": case.name, "ok": False, "error": "not supported"}
    if name == "amphicorn":
        command[command.index(args.python)] = args.amphicorn_python
    server = Server(command, raw / f"{label.replace('/', '__')}.log")
    try:
        problem = server.wait_ready(port)
        if problem:
            return {"server": name, "kind": kind, "case": case.name, "ok": False, "error": problem}
        if args.warmup:
            warm = load_command(case, port, args.warmup, args.connections, args.streams, files["body"])
            subprocess.run(warm, capture_output=True, timeout=args.warmup + 60, check=False)
        pids = bench.tree_pids(server.proc.pid)
        cpu_before = cpu_seconds(pids)
        times_before = os.times()
        load = load_command(case, port, args.duration, args.connections, args.streams, files["body"])
        done = subprocess.run(load, capture_output=True, timeout=args.duration + 60, check=False)
        cpu = cpu_seconds(bench.tree_pids(server.proc.pid)) - cpu_before
        client = children_cpu(os.times(), times_before)
        text = (done.stdout + done.stderr).decode("utf-8", "replace")
        (raw / f"{label.replace('/', '__')}.txt").write_text(" ".join(load) + "\n" + text)
        parsed = parse_load(case, text)
        if not parsed["ok"] or not parsed["requests"]:
            return {
                "server": name,
                "kind": kind,
                "case": case.name,
                "ok": False,
                "error": parsed.get("error", "0 requests"),
            }
        rps = parsed["requests"] / parsed["seconds"]
        return {
            "server": name,
            "kind": kind,
            "case": case.name,
            "ok": True,
            "rps": rps,
            "cpu_us": cpu / parsed["requests"] * 1e6,
            "client_busy": client / parsed["seconds"],
            "errors": parsed["errors"],
        }
    finally:
        server.stop()


def make_files(directory: Path, python: str) -> dict:
    """A certificate and key made with trustme (the key PKCS#8, as granian needs), and the
    64 KiB body h2load posts."""
    script = (
        "import sys, trustme; ca = trustme.CA(); leaf = ca.issue_cert('127.0.0.1', 'localhost');"
        "open(sys.argv[1], 'wb').write(b''.join(b.bytes() for b in leaf.cert_chain_pems));"
        "leaf.private_key_pem.write_to_path(sys.argv[2])"
    )
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([python, "-c", script, str(cert), str(key)], check=True)
    body = directory / "body.bin"
    body.write_bytes(b"x" * ECHO_LEN)
    return {"cert": cert, "key": str(key), "body": body}


def render(summary: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "# TLS and HTTP/2, one core each",
        "",
        f"Server on CPU {SERVER_CORE}, load generator on CPU {LOAD_CORE} (taskset); {args.rounds} interleaved "
        f"rounds of {args.duration:g} s; {args.connections} connections, {args.streams} streams each on h2.",
        "Ratios: amphicorn's requests/s over each peer's (medians); `client` is the load generator's busiest run.",
        "",
        "| scenario | app | server | req/s (median, min–max) | CPU µs/req | × amphicorn | errors | client |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_key = {(row["case"], row["kind"], row["server"]): row for row in summary}
    for row in sorted(summary, key=lambda r: (list(CASES).index(r["case"]), r["kind"], r["server"] != "amphicorn")):
        if not row["ok"]:
            lines.append(f"| {row['case']} | {row['kind']} | {row['server']} | — ({row['error'][:60]}) | | | | |")
            continue
        ours = by_key.get((row["case"], row["kind"], "amphicorn"))
        ratio = f"{ours['rps'] / row['rps']:.2f}×" if ours and ours["ok"] and row["server"] != "amphicorn" else ""
        low, high = row["rps_range"]
        busy = client_label(row["client_busy"])
        lines.append(
            f"| {row['case']} | {row['kind']} | {row['server']} | {row['rps']:,.0f} ({low:,.0f}–{high:,.0f}) "
            f"| {row['cpu_us']:.1f} | {ratio} | {row['errors']} | {busy} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="runs the peers (the bench venv)")
    parser.add_argument("--amphicorn-python", default=None, help="runs amphicorn (default: --python)")
    parser.add_argument("--servers", default="amphicorn,granian,hypercorn,pyvoy")
    parser.add_argument("--only", default=",".join(CASES), help="scenarios, e.g. h2-hello,https-echo")
    parser.add_argument("--kinds", default="wsgi,asgi")
    add_round_arguments(parser)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--streams", type=int, default=10)
    args = parser.parse_args(argv)
    args.amphicorn_python = args.amphicorn_python or args.python
    missing = [tool for tool in ("taskset", "wrk", "h2load") if shutil.which(tool) is None]
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install util-linux wrk nghttp2-client)", file=sys.stderr)
        return 2
    raw = args.out / "raw" / "protocols"
    raw.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        files = make_files(Path(directory), args.python)
        for round_number in range(args.rounds):
            for case_name in args.only.split(","):
                for kind in args.kinds.split(","):
                    for name in args.servers.split(","):
                        row = run_one(name, kind, CASES[case_name], args, files, raw)
                        row["round"] = round_number
                        rows.append(row)
                        shown = f"{row['rps']:,.0f} req/s, {row['cpu_us']:.1f} µs" if row["ok"] else row["error"]
                        print(f"[{round_number + 1}/{args.rounds}] {case_name} {kind} {name}: {shown}", flush=True)
    summary = bench.summarise_rounds(rows)
    (args.out / "protocols.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    markdown = render(summary, args)
    (args.out / "protocols.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
