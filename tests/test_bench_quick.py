"""The benchmark harness in quick mode (about a second per server and scenario), so it never
rots: ``bench/run.sh --quick`` must produce its table, and every server that runs a scenario
must serve it without a single error.

It measures the amphicorn this test suite runs (``AMPHICORN_PYTHON`` = this Python), so it
does not rebuild it; the first run creates ``bench/.venv`` with the peers and builds the hyper
ceiling server, later runs reuse both. Deselect with ``-m "not bench"``.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUN_SH = REPO / "bench" / "run.sh"

# A scenario amphicorn may not support yet: it must then exit at start-up, and the harness
# records it as "unsupported". Every other row must run.
MAY_BE_UNSUPPORTED = {("amphicorn", "mixed")}
MIDDLEWARE = "uvicorn+amphicorn.WSGIMiddleware"
METRICS = "amphicorn+metrics"
EXPECTED_SERVERS = {
    "wsgi-hello": {"amphicorn", METRICS, "granian", "uvicorn+a2wsgi", MIDDLEWARE, "gunicorn", "hyper-hello"},
    "wsgi-echo": {"amphicorn", "granian", "uvicorn+a2wsgi", MIDDLEWARE, "gunicorn"},
    "wsgi-stream": {"amphicorn", "granian", "uvicorn+a2wsgi", MIDDLEWARE, "gunicorn"},
    "asgi-hello": {"amphicorn", METRICS, "granian", "uvicorn", "hyper-hello"},
    "asgi-echo": {"amphicorn", "granian", "uvicorn"},
    "asgi-stream": {"amphicorn", "granian", "uvicorn"},
    "mixed": {"amphicorn", "granian+a2wsgi", "uvicorn+a2wsgi", MIDDLEWARE},
}


def _run_bench(*args: str) -> str:
    """``bench/run.sh ARGS`` measuring this Python's amphicorn; its output, once it exited 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["AMPHICORN_PYTHON"] = sys.executable
    proc = subprocess.run(
        ["bash", str(RUN_SH), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    log = f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
    assert proc.returncode == 0, log
    return log


@pytest.mark.bench
@pytest.mark.timeout(600)
@pytest.mark.skipif(sys.platform != "linux", reason="the harness reads /proc")
def test_bench_quick(tmp_path: Path) -> None:
    if shutil.which("wrk") is None and os.geteuid() != 0:
        pytest.skip("wrk is not installed and only root may apt-get it")
    out = tmp_path / "results"
    log = _run_bench("--quick", "--out", str(out))

    table = out / "results.md"
    assert table.is_file(), log
    assert (out / "results.png").is_file(), log
    assert "## wsgi-hello" in table.read_text()
    report = json.loads((out / "results.json").read_text())

    seen = {(row["server"], row["scenario"]) for row in report["results"]}
    expected = {(server, scenario) for scenario, servers in EXPECTED_SERVERS.items() for server in servers}
    assert seen == expected, log

    for row in report["results"]:
        key = (row["server"], row["scenario"])
        if row["status"] == "unsupported" and key in MAY_BE_UNSUPPORTED:
            assert row["error"], row  # the server's own error line is recorded
            continue
        assert row["status"] == "ok", (key, row.get("error"), log)
        assert row["peak_rss_mib"] > 0, row
        for route in row["routes"]:
            assert route["rps"] > 0, (key, route)
            assert route["errors"] == 0, (key, route["errors_by_kind"])


@pytest.mark.bench
@pytest.mark.timeout(600)
@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="pins to two cores, reads /proc")
def test_strict_bench_quick(tmp_path: Path) -> None:
    """``bench/run.sh strict --quick``: every scenario on amphicorn, granian and the hyper
    ceiling, pinned one core each, without an error, and the targets checked at the end."""
    if shutil.which("wrk") is None and os.geteuid() != 0:
        pytest.skip("wrk is not installed and only root may apt-get it")
    out = tmp_path / "strict"
    log = _run_bench("strict", "--quick", "--servers", "amphicorn,granian,hyper-hello", "--out", str(out))
    assert (out / "strict.png").stat().st_size > 0, log  # the chart (bench/strict_chart.py)
    report = json.loads((out / "strict.json").read_text())
    seen = {(row["server"], row["case"]) for row in report["rows"]}
    # granian serves no mixed process of its own (granian+a2wsgi does); the ceiling only hellos.
    mixed = {"mixed", "mixed-wsgi", "mixed-asgi", "real-mixed"}
    cases = {"wsgi-hello", "wsgi-echo", "wsgi-stream", "asgi-hello", "asgi-echo", "asgi-stream", *mixed}
    cases |= {"real-wsgi", "real-asgi"}  # Django over SQLite, FastAPI with pydantic
    expected = {("amphicorn", case) for case in cases} | {("granian", case) for case in cases - mixed}
    expected |= {("hyper-hello", "wsgi-hello"), ("hyper-hello", "asgi-hello")}
    assert seen == expected, log
    for row in report["rows"]:
        assert row["ok"], (row, log)
        assert row["errors"] == 0, row
        assert row["cpu_us"] > 0, row
        assert row["peak_rss_mib"] > 0, row
        assert row["command"][:3] == ["taskset", "-c", "0"], row
    markdown = (out / "strict.md").read_text()
    assert "## wsgi-hello, 16 connections" in markdown
    assert "| wsgi-hello ≥ 1.2× granian | " in markdown  # noqa: RUF001 -- the table's sign


@pytest.mark.bench
@pytest.mark.timeout(60)
def test_turns_lua_sends_each_request_to_the_next_route(tmp_path: Path) -> None:
    """bench/wrk/turns.lua (the mixed scenarios' load) against a server that records what
    it gets: both routes, in equal numbers (give or take the requests in flight), each
    with its method, and the POST with order.json's bytes as JSON."""
    wrk = shutil.which("wrk")
    if wrk is None:
        pytest.skip("wrk is not installed (bench/run.sh installs it: the tests above run it)")
    order = (REPO / "bench" / "wrk" / "order.json").read_bytes()
    seen: list[tuple[str, str, bytes, str]] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.command, self.path, body, self.headers.get("Content-Type", "")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        routes = ["GET /legacy/fortunes", "POST /api/items order.json"]
        script = str(REPO / "bench" / "wrk" / "turns.lua")
        command = [wrk, "-t1", "-c4", "-d1s", "-s", script, f"http://127.0.0.1:{port}/legacy/fortunes", "--", *routes]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BENCH_JSON" in proc.stdout, proc.stdout
    gets = [entry for entry in seen if entry[:2] == ("GET", "/legacy/fortunes")]
    posts = [entry for entry in seen if entry[:2] == ("POST", "/api/items")]
    assert len(gets) + len(posts) == len(seen), {entry[:2] for entry in seen}
    assert len(gets) > 10, (len(gets), len(posts))
    assert abs(len(gets) - len(posts)) <= 4, (len(gets), len(posts))
    assert all(body == b"" for _, _, body, _ in gets)
    assert all(body == order for _, _, body, _ in posts)
    assert all(kind == "application/json" for _, _, _, kind in posts)
