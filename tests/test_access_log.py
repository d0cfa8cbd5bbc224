"""The access log, written by Rust to stdout: every atom, JSON lines, mounts, 499 for clients
that leave early; and the Python-side log options (--log-format json, --log-config)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from admin_support import admin_url, sample, scrape
from support import RawConnection, build_request, wait_for_file

CLF = re.compile(
    r'^(?P<client>\S+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000)\] "(?P<request>[^"]*)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)" (?P<seconds>\d+\.\d{6})$'
)


@pytest.mark.parametrize("app", ["apps.basic:hello", "asgi:asgi_apps.raw:response"])
def test_default_format_is_gunicorns_with_the_duration(serve, app):
    server = serve(app, "--access-log", capture_stdout=True)
    headers = {"User-Agent": "access-test/1.0", "Referer": "http://example.com/from"}
    response = httpx.get(f"{server.url}/some/path?x=1&y=%C3%A9", headers=headers)
    assert response.status_code == 200
    [line] = server.stdout_lines(1)
    match = CLF.match(line)
    assert match, line
    assert match["client"] == "127.0.0.1"
    assert match["request"] == "GET /some/path?x=1&y=%C3%A9 HTTP/1.1"
    assert match["status"] == "200"
    assert int(match["bytes"]) == len(response.content)
    assert match["referer"] == "http://example.com/from"
    assert match["agent"] == "access-test/1.0"
    assert float(match["seconds"]) < 5


def test_custom_atoms_and_mounts(serve):
    fmt = "%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|%(mount)s|%({X-Request-Id}i)s|%(p)s|%(D)s|%(M)s|%(T)s"
    server = serve(
        "apps.basic:hello",
        "--mount",
        "/api=asgi:asgi_apps.raw:response",
        "--access-log",
        "--access-log-format",
        fmt,
        capture_stdout=True,
    )
    httpx.get(f"{server.url}/page?a=b", headers={"X-Request-Id": "req-42"})
    httpx.head(f"{server.url}/api/x")
    first, second = server.stdout_lines(2)
    method, path, query, protocol, status, body, dash, mount, request_id, pid, micros, millis, seconds = first.split(
        "|"
    )
    assert (method, path, query, protocol, status, body, dash) == ("GET", "/page", "a=b", "HTTP/1.1", "200", "13", "13")
    assert (mount, request_id, pid) == ("/", "req-42", str(server.pid))
    assert int(micros) >= int(millis) >= int(seconds) >= 0
    fields = second.split("|")
    assert (fields[0], fields[5], fields[6], fields[7], fields[8]) == ("HEAD", "0", "-", "/api", "-")


def test_json_lines(serve):
    server = serve("apps.basic:hello", "--access-log", "--log-format", "json", capture_stdout=True)
    httpx.post(f"{server.url}/form?q=1", content=b"x" * 10, headers={"User-Agent": 'quote"agent'})
    [line] = server.stdout_lines(1)
    entry = json.loads(line)
    assert entry["method"] == "POST"
    assert entry["path"] == "/form"
    assert entry["query"] == "q=1"
    assert entry["status"] == 200
    assert entry["bytes"] == 13
    assert entry["user_agent"] == 'quote"agent'
    assert entry["mount"] == "/"
    assert entry["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    # The error log is JSON too, one object per line on stderr.
    startup = [json.loads(text) for text in server.stderr().splitlines() if text.startswith("{")]
    assert any("Listening on" in record["message"] for record in startup)
    assert all(record["logger"] == "amphicorn.error" for record in startup)


def test_json_lines_have_the_fields_the_format_asks_for(serve):
    fmt = "%(h)s %(l)s %(s)s %(b)s %({X-Request-Id}i)s %(M)s %(mount)s"
    server = serve(
        "apps.basic:hello", "--access-log", "--log-format", "json", "--access-log-format", fmt, capture_stdout=True
    )
    httpx.get(f"{server.url}/page", headers={"X-Request-Id": "req-7"})
    [line] = server.stdout_lines(1)
    entry = json.loads(line)
    assert list(entry) == ["client", "status", "bytes", "request_header.x-request-id", "duration_ms", "mount"]
    assert entry["client"] == "127.0.0.1"
    assert (entry["status"], entry["bytes"], entry["mount"]) == (200, 13, "/")
    assert entry["request_header.x-request-id"] == "req-7"
    assert isinstance(entry["duration_ms"], int)


def test_lines_dropped_when_stdout_stalls_are_reported(serve):
    # Nobody reads the server's stdout: once the pipe and the writer's queue (16,384 lines)
    # are full, lines are dropped, and the server says how many on stderr and in its metrics.
    server = serve("apps.basic:hello", "--access-log", "--admin-bind", "127.0.0.1:0", stdout_unread=True)
    requests, sent = 5000, 0
    while not server.wait_for_stderr("lines were dropped", timeout=0.01):
        assert sent < 40_000, f"no report of dropped lines after {sent} requests:\n{server.stderr()}"
        with RawConnection.to(server) as conn:
            conn.send(build_request("GET", "/") * requests)
            for _ in range(requests):
                assert conn.read_response().status == 200
        sent += requests
    reported = re.search(r"(\d+) lines were dropped \((\d+) since start\)", server.stderr())
    assert reported, server.stderr()
    assert 0 < int(reported[1]) <= int(reported[2]) <= sent
    counted = sample(scrape(admin_url(server)), "amphicorn_access_log_dropped_lines_total")
    assert server.stop() == 0
    total = re.search(r"Access log: (\d+) lines in all were dropped", server.stderr())
    assert total, server.stderr()
    assert int(reported[2]) <= counted <= int(total[1]) <= sent


def test_statuses_404_and_client_gone_499(serve, tmp_path: Path):
    server = serve("--mount=/slow=asgi:asgi_apps.raw:sleepy", "--access-log", capture_stdout=True)
    assert httpx.get(f"{server.url}/nowhere").status_code == 404
    marker = tmp_path / "started"
    target = f"/slow?seconds=2&record={marker}"
    with RawConnection.to(server) as conn:
        conn.send(build_request("GET", target))
        # The client leaves once the request is inside the app (a 499, not a refused request).
        assert wait_for_file(marker, lambda text: "started" in text), "the request never reached the app"
    first, second = server.stdout_lines(2, timeout=10)
    assert '"GET /nowhere HTTP/1.1" 404 ' in first
    assert f'"GET {target} HTTP/1.1" 499 - ' in second


def test_no_access_log_by_default(serve):
    server = serve("apps.basic:hello", capture_stdout=True)
    assert httpx.get(f"{server.url}/").status_code == 200
    # Once the server has exited, everything it would ever write to stdout is there.
    assert server.stop() == 0
    assert server.stdout_lines(1, timeout=0.5) == []


def test_a_log_config_file_takes_over(serve, tmp_path: Path):
    log_file = tmp_path / "amphicorn.log"
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "CUSTOM %(levelname)s %(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "plain"},
            "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "plain"},
        },
        "loggers": {"amphicorn": {"handlers": ["file", "stderr"], "level": "INFO", "propagate": False}},
    }
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    server = serve("apps.basic:hello", "--log-config", str(path))
    assert "CUSTOM INFO Listening on http://127.0.0.1:" in server.stderr()
    assert "[INFO]" not in server.stderr()  # Not amphicorn's own format.
    assert f"CUSTOM INFO Listening on {server.url}" in log_file.read_text()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--access-log-format", "%(nope)s"], "%(nope)s"),
        (["--log-format", "xml"], "--log-format"),
        (["--log-config", "/no/such/logging.json"], "/no/such/logging.json"),
    ],
)
def test_bad_log_settings_exit_2(run_cli, args, needle):
    result = run_cli("apps.basic:hello", *args)
    assert result.returncode == 2, result
    assert needle in result.stderr
    assert "Listening on" not in result.stderr


def test_a_broken_log_config_exits_2_naming_it(run_cli, tmp_path: Path):
    path = tmp_path / "broken.json"
    path.write_text('{"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}')
    result = run_cli("apps.basic:hello", "--log-config", str(path))
    assert result.returncode == 2, result
    assert str(path) in result.stderr


def test_access_log_from_the_environment_and_the_config_file(serve, tmp_path: Path):
    config = tmp_path / "amphicorn.toml"
    config.write_text("app = 'apps.basic:hello'\naccess-log-format = '%(m)s %(U)s %(s)s'\n")
    server = serve(f"--config={config}", env={"AMPHICORN_ACCESS_LOG": "true"}, capture_stdout=True)
    httpx.get(f"{server.url}/from-env")
    assert server.stdout_lines(1) == ["GET /from-env 200"]
