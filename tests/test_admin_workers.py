"""The admin listener under a supervisor (--workers, --limit-max-requests): one scrape of the
supervisor's /metrics covers every worker, and no count is lost when workers are replaced
(by their request budget, a rolling restart or a crash); counters never go backwards, in
/metrics as in /status, whose present figures (in flight, threads, the workers listed) are
the live workers' only. Parsed with the official ``prometheus_client`` parser, every figure
checked against the traffic sent."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx
import pytest
from support import wait_for_file, wait_until
from test_admin import MOUNTS, admin_url, requests, scrape
from test_metrics_figures import FALLBACK_CONFIG

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
    # Every replacement serves first: one still starting when the rolling restart stops it
    # dies of the SIGTERM instead of exiting with status 0.
    wait_until(
        lambda: (log := server.stderr()).count(" is ready") == 2 + log.count("stopped by itself"),
        message="a replacement worker never got ready",
    )
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


def test_status_keeps_what_gone_workers_counted_and_shows_only_the_live(serve, tmp_path):
    # Two workers of 3 requests each, then both killed while one holds a request.
    config = tmp_path / "amphicorn.toml"
    config.write_text(FALLBACK_CONFIG)
    budget = ("--limit-max-requests", "3", "--threads", "2", "--max-body-size", "10")
    server = serve(None, "--config", str(config), "--workers", "2", *budget, "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    wait_until(lambda: httpx.get(f"{admin}/readyz").status_code == 200, message="the supervisor never ready")
    for path, status, times in [("/", 200, 6), ("/missing", 404, 3), ("/api/x", 200, 4)]:
        for _ in range(times):
            assert httpx.get(f"{server.url}{path}").status_code == status
    for user in (1, 2):  # /api says 404: replayed on / (legacy), which answers, and counts it
        assert httpx.get(f"{server.url}/api/old/users/{user}").text == "wsgi"
    for _ in range(2):
        assert httpx.post(f"{server.url}/api/x", content=b"x" * 100).status_code == 413
    expected = {
        "/": {"total": 11, "1xx": 0, "2xx": 8, "3xx": 0, "4xx": 3, "5xx": 0},
        "/api": {"total": 6, "1xx": 0, "2xx": 4, "3xx": 0, "4xx": 2, "5xx": 0},
    }

    def check_counts(status: dict) -> None:
        assert status["requests"] == 17
        api = status["mounts"]["/api"]
        assert (api["fallback_replays"], api["refused"]["body_too_large"]) == (2, 2)
        assert [(entry["path"], entry["count"]) for entry in api["fallback_paths"]] == [("/api/old/users/{int}", 2)]

    wait_until(lambda: server.stderr().count("stopped by itself") >= 4, message="the workers were not replaced")
    status = counted_status(admin, expected)
    check_counts(status)

    # A request held in one worker: in flight, in the figures the supervisor last read.
    started, release = tmp_path / "started", tmp_path / "release"
    held = threading.Thread(target=_get_until_gone, args=(f"{server.url}/hold?record={started}&release={release}",))
    held.start()
    wait_for_file(started, lambda text: "started" in text)

    def holding() -> dict | None:
        # Both workers serve (the other one may still be replacing one whose budget was spent).
        status = httpx.get(f"{admin}/status").json()
        serving = [worker for worker in status["workers"] if worker["answered"]]
        return status if status["mounts"]["/"]["in_flight"] == 1 and len(serving) == 2 else None

    status = wait_until(holding, message="the held request and two serving workers never showed together")
    assert status["mounts"]["/"]["wsgi"]["threads"]["busy"] == 1
    killed = {worker["pid"] for worker in status["workers"]}
    for pid in killed:
        os.kill(pid, signal.SIGKILL)

    def replaced() -> dict | None:
        # Two new workers, each ready (its WSGI pool runs) before /status was read.
        log = server.stderr()
        status = httpx.get(f"{admin}/status").json()
        pids = {worker["pid"] for worker in status["workers"] if worker["answered"]}
        ready = all(f"Worker process {pid} is ready" in log for pid in pids)
        return status if len(pids) == 2 and not pids & killed and ready else None

    status = wait_until(replaced, timeout=20, message="the killed workers were not replaced")
    release.touch()
    held.join(10)
    # What the killed workers counted stays; what they were doing at the time does not.
    assert {mount: status["mounts"][mount]["requests"] for mount in expected} == expected
    check_counts(status)
    legacy = status["mounts"]["/"]
    assert (legacy["in_flight"], legacy["wsgi"]["threads"]) == (0, {"busy": 0, "idle": 4})
    assert (status["mounts"]["/api"]["in_flight"], status["mounts"]["/api"]["websockets_open"]) == (0, 0)
    # The workers listed are the live ones: the supervisor's children, new, and idle so far.
    workers = status["workers"]
    assert sorted(worker["slot"] for worker in workers) == [0, 1]
    for worker in workers:
        assert Path(f"/proc/{worker['pid']}/status").read_text().count(f"PPid:\t{server.pid}") == 1
    assert [worker["requests"] for worker in workers] == [0, 0]
    assert status["rss_bytes"] == sum(worker["rss_bytes"] for worker in workers)
    assert server.stderr().count("was killed by SIGKILL") == 2


def counted_status(admin: str, expected: dict[str, dict[str, int]]) -> dict:
    """``/status`` once its mounts' requests are ``expected`` (a request is recorded when its
    response body ends, a moment after the client has it); fails showing the last ones read."""
    last: dict = {}

    def counted() -> dict | None:
        nonlocal last
        status = httpx.get(f"{admin}/status").json()
        last = {mount: status["mounts"][mount]["requests"] for mount in expected}
        return status if last == expected else None

    try:
        return wait_until(counted, message="/status never counted every request sent")
    except AssertionError:
        assert last == expected
        raise


def _get_until_gone(url: str) -> None:
    """A request whose worker is killed while it holds it: the connection just ends."""
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=30)
