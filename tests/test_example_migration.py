"""The migration walkthrough of examples/mixed/README.md (fallback, shadow, canary, done), step
by step, with the files in examples/mixed/migration/: each step's server started as the README says (from
examples/mixed, ``amphicorn --config migration/N-....toml``, here with ``--bind`` and
``--admin-bind`` on free ports), and what the README says it shows checked: who answers
``/api/reports/3``, and what ``/status`` and ``--migration-report`` say."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import httpx
import pytest
from admin_support import admin_url
from conftest import Server, start_server
from support import wait_until
from test_example_mixed import EXAMPLE_DIR, collect_static

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """The example's environment (a never-migrated sqlite path), its static files collected."""
    env = {"MIXED_EXAMPLE_DB": str(tmp_path_factory.mktemp("migration") / "db.sqlite3")}
    collect_static(env)
    return env


def start_step(name: str, env: dict[str, str]) -> Server:
    return start_server(None, "--config", f"migration/{name}", "--admin-bind", "127.0.0.1:0", env=env, cwd=EXAMPLE_DIR)


def implementation(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.json() == {"id": 3, "title": "Report 3", "total": 30}
    return response.headers["x-implementation"]


def test_step_1_django_answers_what_fastapi_does_not_have(env):
    server = start_step("1-fallback.toml", env)
    try:
        admin = admin_url(server)
        for report in (3, 3, 7):
            response = httpx.get(f"{server.url}/api/reports/{report}")
            assert response.status_code == 200
            assert response.headers["x-implementation"] == "django"
        assert implementation(httpx.get(f"{server.url}/api/reports/3")) == "django"
        assert httpx.get(f"{server.url}/api/items/3").json()["name"] == "toaster"  # FastAPI's own
        api = httpx.get(f"{admin}/status").json()["mounts"]["/api"]
        assert api["fallback_replays"] == 4
        assert [(entry["path"], entry["count"]) for entry in api["fallback_paths"]] == [("/api/reports/{int}", 4)]
        report = subprocess.run(
            [sys.executable, "-m", "amphicorn", "--migration-report", admin],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert report.returncode == 0, report.stderr
        assert report.stdout.splitlines()[2].split()[:2] == ["/api/reports/{int}", "4"]
    finally:
        assert server.stop() == 0, server.stderr()


def test_step_2_the_next_release_answers_in_the_background_and_is_compared(env):
    server = start_step("2-shadow.toml", env)
    try:
        admin = admin_url(server)
        for report in (3, 7):
            response = httpx.get(f"{server.url}/api/reports/{report}")
            assert response.status_code == 200
            assert response.headers["x-implementation"] == "django"  # the client's answer is unchanged
        assert httpx.get(f"{server.url}/api/items/3").status_code == 200
        assert httpx.get(f"{server.url}/api/reports/5000").status_code == 404  # Django's HTML page

        def compared() -> dict | None:
            shadow = httpx.get(f"{admin}/status").json()["mounts"]["/api"]["shadow"]
            return shadow if shadow["match"] + shadow["differ"] == 4 else None

        shadow = wait_until(compared, message="the shadow comparisons never finished")
        assert (shadow["mount"], shadow["match"], shadow["differ"], shadow["shadow_error"]) == ("/_next", 3, 1, 0)
        (difference,) = shadow["recent_differences"]
        assert difference["path"] == "/api/reports/5000"
        assert (difference["status"], difference["shadow_status"]) == (404, 404)
        assert difference["differences"][0].startswith("header content-type")
    finally:
        assert server.stop() == 0, server.stderr()


def test_step_3_the_next_release_takes_a_sticky_share_then_all(env):
    server = start_step("3-canary.toml", env)
    try:
        admin = admin_url(server)
        # New clients (no cookie): about 10% get the next release, which has the route.
        sent = 400
        answers = [implementation(httpx.get(f"{server.url}/api/reports/3")) for _ in range(sent)]
        share = answers.count("fastapi")
        sigma = math.sqrt(sent * 0.1 * 0.9)
        assert abs(share - sent * 0.1) <= 5 * sigma, share
        # A client keeps its variant: the cookie amphicorn set pins it.
        with httpx.Client() as client:
            first = implementation(client.get(f"{server.url}/api/reports/3"))
            assert {implementation(client.get(f"{server.url}/api/reports/3")) for _ in range(10)} == {first}
        canary = httpx.get(f"{admin}/status").json()["mounts"]["/api"]["canary"]
        assert canary["weight"] == 10
        # Everyone, live: the admin listener sets the weight.
        put = httpx.put(f"{admin}/canary/api", content=json.dumps({"weight": 100}))
        assert put.status_code == 200, put.text
        assert {implementation(httpx.get(f"{server.url}/api/reports/3")) for _ in range(20)} == {"fastapi"}
    finally:
        assert server.stop() == 0, server.stderr()


def test_step_4_fastapi_alone_and_no_fallback(env):
    server = start_step("4-done.toml", env)
    try:
        admin = admin_url(server)
        assert implementation(httpx.get(f"{server.url}/api/reports/3")) == "fastapi"
        assert httpx.get(f"{server.url}/api/reports/5000").status_code == 404  # FastAPI's own 404
        api = httpx.get(f"{admin}/status").json()["mounts"]["/api"]
        assert "fallback_replays" not in api
        assert "canary" not in api
    finally:
        assert server.stop() == 0, server.stderr()
