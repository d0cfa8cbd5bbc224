"""--check-config: settings checked and every app imported as a start would, what would be
served printed, and the exit status a start would have, with nothing bound and no lifespan
run.
"""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def taken_port():
    """A port something else listens on: a start would fail to bind it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_good_config_prints_what_would_be_served_and_binds_nothing(run_cli, taken_port, tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    result = run_cli(
        "--check-config",
        "--mount", "/=wsgi:apps.basic:hello",
        "--mount", "/api=asgi_apps.lifespan:startup_failed",
        "--mount", f"/static=static:{static}",
        "--threads", "7",
        "--limit-concurrency", "50",
        "--max-body-size", "1000",
        "-b", f"127.0.0.1:{taken_port}",
        "-b", f"unix:{tmp_path}/amphicorn.sock",
        "--admin-bind", f"127.0.0.1:{taken_port}",
        "--health-path", "/healthz",
        "--shutdown-delay", "5",
        "--timeout-graceful-shutdown", "20",
    )  # fmt: skip
    # A start would fail to bind the port (exit 1) and the lifespan startup (exit 3).
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("the configuration is valid and every app imports")
    assert f"binds: http://127.0.0.1:{taken_port}, unix:{tmp_path}/amphicorn.sock" in lines
    assert "tls: off" in lines
    assert "workers: 1 (one process, no supervisor)" in lines
    assert f"admin: http://127.0.0.1:{taken_port} (/healthz, /readyz, /metrics)" in lines
    assert "health path: /healthz" in lines
    assert "shutdown: delay 5s, then a graceful drain of up to 20s" in lines
    assert (
        "mount /: WSGI app wsgi:apps.basic:hello, 7 threads, queue 1024 (waits up to 30s); concurrency 50; "
        "body 1000 bytes; fallback none"
    ) in lines
    assert (
        "mount /api: ASGI app asgi_apps.lifespan:startup_failed, on the event loop; concurrency 50; "
        "body 1000 bytes; fallback none"
    ) in lines
    assert (
        f"mount /static: static files from {static}, by Rust; concurrency 50; body 1000 bytes; fallback none" in lines
    )
    assert "Listening on" not in result.stderr
    assert not (tmp_path / "amphicorn.sock").exists()


def test_workers_and_a_fallback_are_described(run_cli):
    result = run_cli(
        "--check-config", "-w", "3", "--mount", "/=apps.basic:hello", "--mount", "/new=apps.basic:hello",
        "--limit-max-requests", "100",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "workers: 3 under a supervisor, max-requests 100" in result.stdout.splitlines()
    assert "Supervisor" not in result.stderr


def test_a_canary_and_a_shadow_are_described(run_cli, tmp_path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        """
[[mount]]
prefix = "/"
app = "wsgi:apps.basic:hello"
canary = "next"
canary-weight = 10
canary-max-error-rate = 0.05
shadow = "next"
shadow-sample = 0.5

[[mount]]
prefix = "/_next"
name = "next"
app = "wsgi:apps.basic:hello"
"""
    )
    result = run_cli("--check-config", "--config", str(config))
    assert result.returncode == 0, result.stderr
    (root,) = [line for line in result.stdout.splitlines() if line.startswith("mount /: ")]
    assert "canary /_next at 10% (sticky by cookie amphicorn-canary, rollback past 0.05 5xx over 60s)" in root
    assert "shadow /_next (0.5 of GET,HEAD, at most 8 at once)" in root


def test_an_app_that_cannot_be_imported_exits_1_as_a_start_would(run_cli):
    checked = run_cli("--check-config", "apps.broken:app")
    started = run_cli("apps.broken:app", "-b", "127.0.0.1:0", timeout=20)
    assert checked.returncode == started.returncode == 1
    assert "broken-at-import-marker 7f3a" in checked.stderr
    assert checked.stdout == ""


def test_a_missing_attribute_exits_1(run_cli):
    result = run_cli("--check-config", "apps.basic:nope")
    assert result.returncode == 1
    assert "Attribute 'nope' not found in module 'apps.basic'" in result.stderr


def test_a_bad_setting_exits_2_naming_it(run_cli):
    result = run_cli("--check-config", "apps.basic:hello", "--threads", "0")
    assert result.returncode == 2
    assert "--threads '0'" in result.stderr
    assert result.stdout == ""
