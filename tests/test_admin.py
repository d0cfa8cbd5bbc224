"""The admin listener (--admin-bind): /healthz, /readyz and /metrics, on real processes.

The exposition is parsed with the official ``prometheus_client`` parsers (the Prometheus text
format 0.0.4, and OpenMetrics when asked by ``Accept``), and every figure is checked against
the traffic the test sent. The figures added for pools, fallbacks, WebSockets, bytes and
connections, and ``/status``, are tests/test_metrics_figures.py's; a real Prometheus server
scraping it is tests/test_prometheus_scrape.py's.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading

import httpx
from admin_support import Samples, admin_url, scrape
from support import wait_for_file, wait_until

MOUNTS = ("--mount", "/legacy=wsgi:apps.admin:wsgi_app", "--mount", "/api=asgi:apps.admin:asgi_app")
DURATION = "http_server_request_duration_seconds"


def requests(samples: Samples, mount: str, interface: str, method: str, status: int) -> float:
    labels = {
        ("mount", mount),
        ("interface", interface),
        ("http_request_method", method),
        ("http_response_status_code", str(status)),
    }
    return samples.get((f"{DURATION}_count", frozenset(labels)), 0.0)


def refused(samples: Samples, mount: str, reason: str) -> float:
    return samples[("amphicorn_requests_refused_total", frozenset({("mount", mount), ("reason", reason)}))]


def active(samples: Samples, mount: str, interface: str, method: str) -> float:
    labels = {("mount", mount), ("interface", interface), ("http_request_method", method)}
    return samples[("http_server_active_requests", frozenset(labels))]


def test_metrics_count_each_mounts_requests_by_status_and_refusals_by_reason(serve, tmp_path):
    server = serve(None, *MOUNTS, "--admin-bind", "127.0.0.1:0", "--limit-concurrency", "1", "--max-body-size", "10")
    admin = admin_url(server)
    started, release = tmp_path / "started", tmp_path / "release"
    with httpx.Client(base_url=server.url) as client:
        for _ in range(4):
            assert client.get("/legacy/").status_code == 200
        for _ in range(3):
            assert client.get("/legacy/missing").status_code == 404
        for _ in range(2):
            assert client.get("/api/x").status_code == 200
        assert client.post("/api/teapot", content=b"tea").status_code == 418
        assert client.request("PROPFIND", "/api/x").status_code == 200
        assert client.post("/api/x", content=b"x" * 100).status_code == 413
        assert client.get("/nowhere").status_code == 404

        # One request held in /legacy's only slot: the next one is refused with 503.
        held = threading.Thread(target=client.get, args=(f"/legacy/hold?record={started}&release={release}",))
        held.start()
        wait_for_file(started, lambda text: "started" in text)
        with httpx.Client(base_url=server.url) as other:
            assert other.get("/legacy/").status_code == 503
        samples = scrape(admin)
        assert active(samples, "/legacy", "wsgi", "GET") == 1
        release.touch()
        held.join(10)

    def settled() -> Samples | None:
        # A request is recorded when its response body ends, a moment after the client has it.
        samples = scrape(admin)
        return samples if requests(samples, "/legacy", "wsgi", "GET", 200) == 5 else None

    samples = wait_until(settled, message="the held request was never recorded")
    for openmetrics in (False, True):
        if openmetrics:
            samples = scrape(admin, openmetrics=True)
        assert requests(samples, "/legacy", "wsgi", "GET", 200) == 5  # 4, and the held one
        assert requests(samples, "/legacy", "wsgi", "GET", 404) == 3
        assert requests(samples, "/legacy", "wsgi", "GET", 503) == 1
        assert requests(samples, "/api", "asgi", "GET", 200) == 2
        assert requests(samples, "/api", "asgi", "POST", 418) == 1
        assert requests(samples, "/api", "asgi", "_OTHER", 200) == 1
        assert requests(samples, "/api", "asgi", "POST", 413) == 1
        durations = [name for name, _ in samples if name.startswith(DURATION)]
        counts = [labels for name, labels in samples if name == f"{DURATION}_count"]
        assert len(counts) == 7, counts  # no series for the requests no mount took
        assert f"{DURATION}_bucket" in durations
        infinite = {("le", "+Inf"), ("mount", "/legacy"), ("interface", "wsgi")}
        infinite |= {("http_request_method", "GET"), ("http_response_status_code", "404")}
        assert samples[(f"{DURATION}_bucket", frozenset(infinite))] == 3
        assert refused(samples, "/legacy", "concurrency_limit") == 1
        assert refused(samples, "/api", "body_too_large") == 1
        assert refused(samples, "", "no_mount") == 1
        assert refused(samples, "/api", "concurrency_limit") == 0
        assert active(samples, "/legacy", "wsgi", "GET") == 0
        # No label holds a path, and the admin's own requests are counted nowhere.
        mounts = {value for _, labels in samples for key, value in labels if key == "mount"}
        assert mounts == {"/legacy", "/api", ""}
        assert samples[("amphicorn_build_info", frozenset({("version", _version())}))] == 1
        assert samples[("process_resident_memory_bytes", frozenset())] > 0
        assert samples[("process_open_fds", frozenset())] > 0


def _version() -> str:
    from amphicorn import __version__

    return __version__


def test_admin_paths_and_methods(serve):
    server = serve("apps.admin:wsgi_app", "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    health = httpx.get(f"{admin}/healthz")
    assert (health.status_code, health.text) == (200, "ok\n")
    assert httpx.get(f"{admin}/readyz").status_code == 200
    assert httpx.get(f"{admin}/").status_code == 404
    assert httpx.get(f"{admin}/legacy/").status_code == 404  # never an app's
    refused_method = httpx.post(f"{admin}/metrics")
    assert refused_method.status_code == 405
    assert refused_method.headers["allow"] == "GET, HEAD"
    # The apps' listener does not answer the admin paths.
    assert httpx.get(f"{server.url}/metrics").text == "wsgi"


def test_readiness_waits_for_every_lifespan_startup(launched, tmp_path):
    gate = tmp_path / "gate"
    command = [sys.executable, "-m", "amphicorn", *MOUNTS, "-b", "127.0.0.1:0", "--admin-bind", "127.0.0.1:0"]
    server = launched(command, env={"ADMIN_TEST_GATE": str(gate)}, ready="Admin listener")
    admin = admin_url(server)
    assert httpx.get(f"{admin}/healthz").status_code == 200
    not_ready = httpx.get(f"{admin}/readyz")
    assert (not_ready.status_code, not_ready.text) == (503, "starting\n")
    assert "Listening on" not in server.stderr()  # the lifespan startup is still waiting
    gate.touch()
    wait_until(lambda: httpx.get(f"{admin}/readyz").status_code == 200, message="never ready")
    assert "Listening on" in server.stderr()


def test_readiness_turns_503_on_sigterm_while_requests_finish(serve, tmp_path):
    server = serve(None, *MOUNTS, "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    assert httpx.get(f"{admin}/readyz").status_code == 200
    started, release = tmp_path / "started", tmp_path / "release"
    answers: list[httpx.Response] = []
    held = threading.Thread(
        target=lambda: answers.append(httpx.get(f"{server.url}/legacy/hold?record={started}&release={release}"))
    )
    held.start()
    wait_for_file(started, lambda text: "started" in text)
    server.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: httpx.get(f"{admin}/readyz").status_code == 503, message="still ready after SIGTERM")
    assert httpx.get(f"{admin}/readyz").text == "stopping\n"
    assert httpx.get(f"{admin}/healthz").status_code == 200  # alive while it drains
    release.touch()
    held.join(10)
    assert [answer.status_code for answer in answers] == [200]
    assert server.proc.wait(10) == 0


def test_a_bad_admin_address_exits_2_naming_it(run_cli):
    result = run_cli("apps.admin:wsgi_app", "--admin-bind", "localhost:http")
    assert result.returncode == 2
    assert "admin-bind 'localhost:http'" in result.stderr


def test_a_busy_admin_address_exits_1_naming_it(run_cli):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("apps.admin:wsgi_app", "-b", "127.0.0.1:0", "--admin-bind", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"admin-bind: cannot bind 127.0.0.1:{port}" in result.stderr
    assert "Listening on" not in result.stderr  # nothing served


def test_admin_on_a_unix_socket(serve, tmp_path):
    path = tmp_path / "admin.sock"
    server = serve("apps.admin:wsgi_app", "--admin-bind", f"unix:{path}")
    transport = httpx.HTTPTransport(uds=str(path))
    with httpx.Client(transport=transport, base_url="http://admin") as client:
        assert client.get("/healthz").text == "ok\n"
    assert server.stop() == 0
    assert not path.exists()  # removed with the listener


def test_without_admin_bind_nothing_listens(serve):
    server = serve("apps.admin:wsgi_app")
    assert "Admin listener" not in server.stderr()
    assert httpx.get(f"{server.url}/metrics").text == "wsgi"
