"""The admin listener under a supervisor (--workers, --limit-max-requests): one scrape of the
supervisor's /metrics covers every worker, and no count is lost when workers are replaced
(by their request budget or a rolling restart); counters never go backwards. Parsed with the
official ``prometheus_client`` parser, every figure checked against the traffic sent."""

from __future__ import annotations

import signal
import threading

import httpx
import pytest
from support import wait_for_file, wait_until
from test_admin import MOUNTS, admin_url, requests, scrape

pytestmark = pytest.mark.timeout(90)

PID_MOUNT = ("--mount", "/pid=wsgi:apps.workers:pid")


def legacy_ok(admin: str) -> float:
    return requests(scrape(admin), "/legacy", "wsgi", "GET", 200)


def test_one_scrape_sums_every_worker(serve, tmp_path):
    server = serve(None, *MOUNTS, *PID_MOUNT, "--workers", "2", "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    wait_until(lambda: httpx.get(f"{admin}/readyz").status_code == 200, message="the supervisor never ready")
    # Each request on a new connection, until both workers have answered some.
    pids: set[str] = set()
    sent = 0

    def both_answered() -> bool:
        nonlocal sent
        assert httpx.get(f"{server.url}/legacy/").status_code == 200
        sent += 1
        pids.add(httpx.get(f"{server.url}/pid/").text)
        return len(pids) == 2

    wait_until(both_answered, timeout=30, message="one worker took every connection")
    for _ in range(3):
        assert httpx.get(f"{server.url}/legacy/missing").status_code == 404
    samples = scrape(admin)
    assert requests(samples, "/legacy", "wsgi", "GET", 200) == sent
    assert requests(samples, "/legacy", "wsgi", "GET", 404) == 3
    assert requests(samples, "/pid", "wsgi", "GET", 200) == sent
    # One process's own figures are not summed: each worker's under its slot, the supervisor's apart.
    workers = {dict(labels).get("worker") for (name, labels) in samples if name == "process_resident_memory_bytes"}
    assert workers == {"0", "1", "supervisor"}
    assert samples[("amphicorn_build_info", frozenset({("version", _version())}))] == 1
    assert httpx.get(f"{admin}/healthz").status_code == 200

    # A stop makes the supervisor unready at once, while a held request still finishes.
    started, release = tmp_path / "started", tmp_path / "release"
    answers: list[int] = []
    held = threading.Thread(
        target=lambda: answers.append(
            httpx.get(f"{server.url}/legacy/hold?record={started}&release={release}", timeout=30).status_code
        )
    )
    held.start()
    wait_for_file(started, lambda text: "started" in text)
    server.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: httpx.get(f"{admin}/readyz").status_code == 503, message="still ready after SIGTERM")
    release.touch()
    held.join(10)
    assert answers == [200]
    assert server.proc.wait(20) == 0


def _version() -> str:
    from amphicorn import __version__

    return __version__


def test_no_count_is_lost_when_workers_are_replaced(serve):
    # Two workers of 4 requests each: 25 requests replace the workers six times.
    server = serve(None, *MOUNTS, "--workers", "2", "--limit-max-requests", "4", "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    seen: list[float] = []

    def counted(expected: int):
        def check() -> bool:
            seen.append(legacy_ok(admin))
            return seen[-1] == expected

        wait_until(check, timeout=20, message=f"the supervisor's count never reached {expected}: {seen}")

    for _ in range(25):
        assert httpx.get(f"{server.url}/legacy/").status_code == 200
    wait_until(lambda: server.stderr().count("stopped by itself") >= 5, message="the workers were not replaced")
    counted(25)
    # A rolling restart replaces every worker, and the counts stay.
    server.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "New workers ready" in server.stderr(), timeout=30, message="no rolling restart")
    wait_until(lambda: server.stderr().count("exited with status 0") >= 2, message="the old workers never exited")
    counted(25)
    for _ in range(3):
        assert httpx.get(f"{server.url}/legacy/").status_code == 200
    counted(28)
    assert seen == sorted(seen), f"a counter went backwards: {seen}"
    # The supervisor counts the replacements by cause, and shows its own process figures.
    samples = scrape(admin)
    restarts = "amphicorn_worker_restarts_total"
    replaced = server.stderr().count("stopped by itself")
    assert samples[(restarts, frozenset({("cause", "max_requests")}))] == replaced
    assert samples[(restarts, frozenset({("cause", "reload")}))] == 2
    assert (restarts, frozenset({("cause", "crash")})) not in samples
    assert samples[("process_resident_memory_bytes", frozenset({("worker", "supervisor")}))] > 0
