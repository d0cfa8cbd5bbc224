"""--health-path: the admin listener's liveness answer on the apps' own listeners, from Rust,
before routing: a WSGI app mounted at ``/`` never sees it, and no mount counts it.
"""

from __future__ import annotations

import re

import httpx
from prometheus_client import parser

ADMIN_RE = re.compile(r"Admin listener \(.*?\) on (http://\S+)")
DURATION_COUNT = "http_server_request_duration_seconds_count"


def requests_of(admin: str, mount: str) -> float:
    """The requests the mount ``mount`` took, by its duration histogram."""
    text = httpx.get(f"{admin}/metrics").text
    return sum(
        sample.value
        for family in parser.text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == DURATION_COUNT and sample.labels.get("mount") == mount
    )


def test_the_health_path_is_answered_before_the_app_at_root(serve):
    server = serve("apps.basic:hello", "--health-path", "/healthz", "--admin-bind", "127.0.0.1:0")
    admin = ADMIN_RE.search(server.stderr())
    assert admin, server.stderr()
    with httpx.Client(base_url=server.url) as client:
        for path in ("/healthz", "/healthz?probe=1"):
            answer = client.get(path)
            assert (answer.status_code, answer.text) == (200, "ok\n")
            assert answer.headers["content-type"] == "text/plain; charset=utf-8"
        head = client.head("/healthz")
        assert (head.status_code, head.content) == (200, b"")
        post = client.post("/healthz", content=b"x")
        assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")
        assert requests_of(admin.group(1), "/") == 0
        # Only that path: anything else is the app's, and counted.
        for path in ("/healthz/", "/healthz/x", "/healthzz", "/"):
            assert client.get(path).text == "Hello, world!", path
        assert requests_of(admin.group(1), "/") == 4


def test_without_a_health_path_the_app_answers_it(serve):
    server = serve("apps.basic:hello")
    assert httpx.get(f"{server.url}/healthz").text == "Hello, world!"


def test_a_health_path_under_a_mount_is_still_answered_first(serve):
    server = serve(None, "--mount", "/api=apps.basic:hello", "--health-path", "/api/health")
    assert httpx.get(f"{server.url}/api/health").text == "ok\n"
    assert httpx.get(f"{server.url}/api/other").text == "Hello, world!"


def test_a_bad_health_path_exits_2_naming_the_setting(run_cli):
    for value in ("healthz", "/health z", "/healthz?x"):
        result = run_cli("apps.basic:hello", "--health-path", value)
        assert result.returncode == 2, result.stderr
        assert f"--health-path {value!r}" in result.stderr, result.stderr
    result = run_cli("apps.basic:hello", env={"AMPHICORN_HEALTH_PATH": "nope"})
    assert result.returncode == 2
    assert "AMPHICORN_HEALTH_PATH 'nope'" in result.stderr
