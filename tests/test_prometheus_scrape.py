"""A real Prometheus server (Debian's ``prometheus`` package, which scripts/test.sh installs
when missing) scrapes the admin listener, and PromQL queries over its HTTP API return the
figures of the traffic the test sent: the per-mount request counts, the WSGI pool's threads
and a p95 latency per mount, as the README's Grafana example computes it.

Skipped only outside CI when no ``prometheus`` binary is found; in CI it must run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from admin_support import admin_url
from support import wait_until

MOUNTS = ("--mount", "/legacy=wsgi:apps.admin:wsgi_app", "--mount", "/api=asgi:apps.admin:asgi_app")


def prometheus_binary() -> str:
    """The ``prometheus`` executable; a skip outside CI when there is none."""
    found = shutil.which("prometheus") or shutil.which("prometheus", path="/usr/bin:/usr/sbin")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Prometheus is not installed: scripts/test.sh installs Debian's prometheus package")
        pytest.skip("needs Prometheus (Debian's prometheus package; scripts/test.sh installs it as root)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_real_prometheus_scrapes_the_admin_listener(serve, tmp_path: Path):
    binary = prometheus_binary()
    server = serve(None, *MOUNTS, "--threads", "2", "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    with httpx.Client(base_url=server.url) as client:
        for _ in range(3):
            assert client.get("/legacy/missing").status_code == 404
        for _ in range(4):
            assert client.get("/legacy/").status_code == 200
        assert client.get("/api/x").status_code == 200
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: amphicorn\n    static_configs:\n"
        f"      - targets: ['{admin.removeprefix('http://')}']\n"
    )
    port = free_port()
    prometheus = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def query(promql: str) -> list[dict] | None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": promql}).json()
        except (httpx.HTTPError, ValueError):
            return None
        return answer["data"]["result"] or None

    def values(promql: str) -> list[tuple[dict, str]]:
        result = wait_until(lambda: query(promql), timeout=30, message=f"Prometheus never answered {promql}")
        return sorted(((series["metric"], series["value"][1]) for series in result), key=str)

    try:
        by_status = (
            'sum by (mount, http_response_status_code) (http_server_request_duration_seconds_count{mount="/legacy"})'
        )
        assert values(by_status) == [
            ({"mount": "/legacy", "http_response_status_code": "200"}, "4"),
            ({"mount": "/legacy", "http_response_status_code": "404"}, "3"),
        ]
        assert values('sum(http_server_request_duration_seconds_count{mount="/api"})') == [({}, "1")]
        assert values('amphicorn_wsgi_threads{mount="/legacy", state="idle"}') == [
            (
                {
                    "__name__": "amphicorn_wsgi_threads",
                    "instance": admin.removeprefix("http://"),
                    "job": "amphicorn",
                    "mount": "/legacy",
                    "state": "idle",
                },
                "2",
            )
        ]
        # The README's Grafana query: p95 latency by mount. A rate needs traffic between two
        # scrapes: more requests now that Prometheus has scraped once. They are all fast, so
        # the quantile falls in the first bucket, under 5 ms.
        with httpx.Client(base_url=server.url) as client:
            for _ in range(5):
                assert client.get("/legacy/").status_code == 200
                assert client.get("/api/x").status_code == 200
        p95 = "histogram_quantile(0.95, sum by (mount, le) (rate(http_server_request_duration_seconds_bucket[1m])))"

        def measured() -> list[tuple[dict, str]] | None:
            result = query(p95) or []
            found = sorted(((series["metric"], series["value"][1]) for series in result), key=str)
            return found if len(found) == 2 and all(value != "NaN" for _, value in found) else None

        latencies = wait_until(measured, timeout=30, message="Prometheus never had a p95 per mount")
        assert [labels["mount"] for labels, _ in latencies] == ["/api", "/legacy"]
        assert all(float(value) <= 0.005 for _, value in latencies), latencies
    finally:
        prometheus.terminate()
        prometheus.wait(10)
