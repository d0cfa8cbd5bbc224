"""What still runs on the old app: after a mixed run through a mount with a fallback, the
admin listener's ``/status`` lists the paths the fallback answered (normalised, most frequent
first), the metrics count its answers by status, and ``amphicorn --migration-report`` prints
them as a table; with workers, the supervisor's ``/status`` adds the workers' lists up."""

from __future__ import annotations

import socket

import httpx
import pytest
from admin_support import admin_url, sample, scrape
from support import wait_until
from test_metrics_figures import FALLBACK_CONFIG

pytestmark = pytest.mark.timeout(60)

UUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
#: Each path the test asks for, how often, and whether the new app (ASGI) answers it itself.
TRAFFIC = [
    *[(f"/api/old/users/{n}", 1) for n in range(1, 6)],
    ("/api/old/report", 2),
    (f"/api/old/files/{UUID}", 1),
    ("/api/new", 3),
]
EXPECTED_PATHS = [
    {"path": "/api/old/users/{int}", "count": 5},
    {"path": "/api/old/report", "count": 2},
    {"path": "/api/old/files/{uuid}", "count": 1},
]


def unused_port() -> int:
    """A port nothing listens on (bound for a moment, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def send_traffic(url: str) -> None:
    for path, times in TRAFFIC:
        for _ in range(times):
            assert httpx.get(f"{url}{path}").status_code == 200


def listed(status: dict) -> list[dict]:
    return [{"path": entry["path"], "count": entry["count"]} for entry in status["mounts"]["/api"]["fallback_paths"]]


def test_status_metrics_and_the_report_show_what_the_old_app_still_answers(serve, run_cli, tmp_path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(FALLBACK_CONFIG)
    server = serve(None, "--config", str(config), "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    send_traffic(server.url)

    status = httpx.get(f"{admin}/status").json()
    api = status["mounts"]["/api"]
    assert api["fallback_replays"] == 8
    assert listed(status) == EXPECTED_PATHS
    users = api["fallback_paths"][0]
    assert (users["2xx"], users["4xx"], users["error"]) == (5, 0, 0)
    assert "fallback_paths" not in status["mounts"]["/"]
    samples = scrape(admin)
    answers = "amphicorn_fallback_answers_total"
    assert sample(samples, answers, mount="/api", fallback="/", http_response_status_code="200") == 8

    report = run_cli("--migration-report", admin)
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert lines[0].startswith("Mount /api: 8 request(s) answered by its fallback (72.7% of its requests)")
    rows = [line.split() for line in lines[2:5]]
    assert [(row[0], row[1]) for row in rows] == [(entry["path"], str(entry["count"])) for entry in EXPECTED_PATHS]


def test_the_report_names_a_bad_or_unreachable_url(run_cli):
    bad = run_cli("--migration-report", "localhost:9000")
    assert bad.returncode == 2
    assert "migration-report 'localhost:9000': expected an http:// or https:// URL" in bad.stderr
    port = unused_port()
    gone = run_cli("--migration-report", f"http://127.0.0.1:{port}")
    assert gone.returncode == 1
    assert f"--migration-report 'http://127.0.0.1:{port}/status': cannot read it" in gone.stderr


def test_with_workers_the_supervisor_adds_up_their_paths(serve, tmp_path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(FALLBACK_CONFIG)
    server = serve(None, "--config", str(config), "--workers", "2", "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    wait_until(lambda: httpx.get(f"{admin}/readyz").status_code == 200, message="the supervisor never ready")
    send_traffic(server.url)
    status = httpx.get(f"{admin}/status").json()
    assert listed(status) == EXPECTED_PATHS
    assert status["mounts"]["/api"]["requests"]["total"] == 3
    assert status["requests"] == 3 + 8
    assert sorted(worker["slot"] for worker in status["workers"]) == [0, 1]
    assert all(worker["answered"] and worker["pid"] != status["pid"] for worker in status["workers"])
    assert sum(worker["requests"] for worker in status["workers"]) == 11
