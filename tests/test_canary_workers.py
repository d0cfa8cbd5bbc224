"""The weighted canary under a supervisor (``--workers 2 --admin-bind``), on real processes: the
supervisor's ``PUT /canary/<mount>`` sets the weight in every worker, workers started later
(a crash, max-requests, SIGHUP) start with the weight last set, a rollback in one worker rolls
every worker back, and the variant metrics add up over the workers.

The sites are those of tests/test_canary.py (Django at /shop, the FastAPI canary at /_next),
plus /pid, which answers the worker's process id: two requests on one connection reach the
same worker, so each connection tells which worker gave which variant.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from admin_support import admin_url, sample, scrape
from support import ready_worker_pids, wait_until
from test_canary import answered_by, canary_state, config_text, put_weight

pytestmark = pytest.mark.timeout(120)

PID_MOUNT = """
[[mount]]
prefix = "/pid"
app = "wsgi:apps.workers:pid"
"""
#: Connections each worker must have answered before a routing check concludes.
PER_WORKER = 8


@pytest.fixture
def workers_server(serve, tmp_path: Path):
    """``workers_server(*keys, args=()) -> (server, admin URL, config path)``: two workers,
    both ready."""

    def start(*keys: str, args: tuple[str, ...] = ()):
        config = tmp_path / "amphicorn.toml"
        config.write_text(config_text(*keys) + PID_MOUNT)
        server = serve(f"--config={config}", "--workers", "2", *args)
        ready_worker_pids(server, 2, timeout=30)
        return server, admin_url(server), config

    return start


def one_connection(url: str) -> tuple[int, str]:
    """On one new connection, without a cookie: the worker that took it, and the variant it
    gave (``fastapi``: the canary; ``django``: the primary)."""
    with httpx.Client(base_url=url) as client:
        pid = int(client.get("/pid/").text)
        return pid, answered_by(client.get("/shop/where/"))


def variants_by_worker(url: str, pids: list[int]) -> dict[int, set[str]]:
    """The variants each of ``pids`` gave, over new connections until each of them has
    answered ``PER_WORKER`` of them (others' answers, a worker's being replaced, are left out)."""
    seen: dict[int, list[str]] = {pid: [] for pid in pids}

    def enough() -> bool:
        pid, variant = one_connection(url)
        if pid in seen:
            seen[pid].append(variant)
        return all(len(variants) >= PER_WORKER for variants in seen.values())

    wait_until(enough, timeout=60, message=f"not every worker took connections: {seen}")
    return {pid: set(variants) for pid, variants in seen.items()}


def worker_weights(admin: str) -> list[float]:
    return [worker["weight"] for worker in canary_state(admin)["workers"]]


def test_a_put_to_the_supervisor_sets_the_weight_in_every_worker(workers_server):
    server, admin, _ = workers_server("canary-weight = 10")
    pids = ready_worker_pids(server, 2)
    changed = put_weight(admin, '{"weight": 100}')
    assert changed.status_code == 200, changed.text
    state = changed.json()
    assert (state["mount"], state["canary"], state["weight"], state["rolled_back"]) == ("/shop", "/_next", 100, False)
    assert [(worker["slot"], worker["weight"]) for worker in state["workers"]] == [(0, 100), (1, 100)]
    assert variants_by_worker(server.url, pids) == {pid: {"fastapi"} for pid in pids}
    assert put_weight(admin, "0", mount="/shop").json()["weight"] == 0
    assert variants_by_worker(server.url, pids) == {pid: {"django"} for pid in pids}
    # GET /canary lists the mount once, with each worker's state.
    listed = httpx.get(f"{admin}/canary").json()
    assert [(entry["mount"], entry["weight"]) for entry in listed] == [("/shop", 0)]
    assert sorted(worker["pid"] for worker in listed[0]["workers"]) == sorted(pids)
    # The workers' refusals come back as they gave them.
    assert put_weight(admin, "101").status_code == 400
    assert put_weight(admin, "5", mount="next").status_code == 404
    assert httpx.post(f"{admin}/canary/shop").status_code == 405
    assert worker_weights(admin) == [0, 0]


def test_a_worker_that_does_not_answer_a_put_is_named_and_catches_up(workers_server):
    server, admin, _ = workers_server("canary-weight = 0")
    paused, other = ready_worker_pids(server, 2)
    os.kill(paused, signal.SIGSTOP)
    try:
        changed = httpx.put(f"{admin}/canary/shop", content="100", timeout=15)
    finally:
        os.kill(paused, signal.SIGCONT)
    assert changed.status_code == 502, changed.text
    state = changed.json()
    assert f"(pid {paused}) did not answer" in state["error"], state
    by_pid = {worker["pid"]: worker for worker in state["workers"]}
    assert by_pid[paused]["answered"] is False
    assert (by_pid[other]["answered"], by_pid[other]["weight"]) == (True, 100)
    # Once it answers again, the supervisor sets the weight there too.
    wait_until(lambda: worker_weights(admin) == [100, 100], message=str(canary_state(admin)))
    assert variants_by_worker(server.url, [paused, other]) == {paused: {"fastapi"}, other: {"fastapi"}}


@pytest.mark.parametrize("replacement", ["crash", "max_requests"])
def test_a_worker_started_after_a_put_starts_with_its_weight(workers_server, replacement):
    args = ("--limit-max-requests", "60") if replacement == "max_requests" else ()
    server, admin, _ = workers_server("canary-weight = 0", args=args)
    first, second = ready_worker_pids(server, 2)
    assert server.wait_for_stderr("0% of the requests to /shop go to its canary /_next")
    assert put_weight(admin, "100").status_code == 200
    if replacement == "crash":
        os.kill(first, signal.SIGKILL)
    else:
        # Each connection is two requests: the workers spend their 60 and are replaced.
        wait_until(
            lambda: one_connection(server.url) and "stopped by itself" in server.stderr(),
            timeout=60,
            message="no worker spent its requests",
        )
    (new,) = ready_worker_pids(server, 1, exclude={first, second}, timeout=30)
    # It started with the weight of the PUT, not the config file's 0.
    assert server.wait_for_stderr("100% of the requests to /shop go to its canary /_next")
    assert variants_by_worker(server.url, [new]) == {new: {"fastapi"}}
    wait_until(lambda: worker_weights(admin) == [100, 100], message=str(canary_state(admin)))


def test_sighup_with_workers_reads_the_weights_of_the_config_file_anew(workers_server):
    server, admin, config = workers_server("canary-weight = 0")
    old = ready_worker_pids(server, 2)
    config.write_text(config.read_text().replace("canary-weight = 0", "canary-weight = 100"))

    def rolled(times: int, exclude: list[int]) -> list[int]:
        server.proc.send_signal(signal.SIGHUP)
        new = ready_worker_pids(server, 2, exclude=exclude, timeout=30)
        wait_until(
            lambda: server.stderr().count("exited with status 0") >= 2 * times,
            timeout=30,
            message="the old workers never exited",
        )
        return new

    new = rolled(1, old)
    assert variants_by_worker(server.url, new) == {pid: {"fastapi"} for pid in new}
    assert server.wait_for_stderr("Canary weight of mount /shop set to 100% (config file re-read on SIGHUP)")
    # A PUT holds until the next SIGHUP, which reads the file again.
    assert put_weight(admin, "0").status_code == 200
    assert variants_by_worker(server.url, new) == {pid: {"django"} for pid in new}
    newer = rolled(2, old + new)
    assert variants_by_worker(server.url, newer) == {pid: {"fastapi"} for pid in newer}
    assert canary_state(admin)["weight"] == 100


def test_a_rollback_in_one_worker_rolls_every_worker_back(workers_server):
    server, admin, _ = workers_server("canary-weight = 50", "canary-max-error-rate = 0.1", "canary-window = 30")
    pids = ready_worker_pids(server, 2)
    # The canary app fails every answer in one worker only.
    with httpx.Client(base_url=server.url) as client:
        failing = int(client.get("/pid/").text)
        assert client.put("/_next/_fail", params={"every": 1}).json() == {"every": 1}
    (healthy,) = set(pids) - {failing}

    def rolled_back() -> bool:
        one_connection(server.url)
        return canary_state(admin)["rolled_back"]

    wait_until(rolled_back, timeout=60, message="the failing worker never rolled back")
    wait_until(lambda: worker_weights(admin) == [0, 0], message=str(canary_state(admin)))
    state = canary_state(admin)
    assert state["weight"] == 0
    by_pid = {worker["pid"]: worker for worker in state["workers"]}
    assert by_pid[failing]["rolled_back"] is True
    assert "passed canary-max-error-rate 0.1" in by_pid[failing]["reason"]
    assert state["reason"].startswith(f"worker {by_pid[failing]['slot']} (pid {failing}): error rate"), state
    assert server.wait_for_stderr(f"rolled back in worker {by_pid[failing]['slot']} (pid {failing})")
    # The healthy worker follows: nobody gets the canary any more.
    assert variants_by_worker(server.url, [failing, healthy]) == {failing: {"django"}, healthy: {"django"}}
    samples = scrape(admin)
    assert sample(samples, "amphicorn_canary_rollbacks_total", mount="/shop", canary="/_next") == 1
    # A new weight clears the rollback everywhere.
    state = put_weight(admin, "5").json()
    assert (state["weight"], state["rolled_back"], state["reason"]) == (5, False, None)


def test_the_variant_metrics_add_up_over_the_workers(workers_server):
    server, admin, _ = workers_server("canary-weight = 30")
    sent = {"fastapi": 0, "django": 0}
    for _ in range(200):
        sent[one_connection(server.url)[1]] += 1
    assert all(sent.values()), sent

    def counted(variant: str) -> float:
        labels = {"mount": "/shop", "canary": "/_next", "variant": variant, "status_class": "2xx"}
        return sample(scrape(admin), "amphicorn_canary_requests_total", **labels)

    wait_until(lambda: (counted("canary"), counted("stable")) == (sent["fastapi"], sent["django"]), message=str(sent))
    # The weight is each worker's, not their sum.
    samples = scrape(admin)
    for worker in ("0", "1"):
        assert sample(samples, "amphicorn_canary_weight", mount="/shop", canary="/_next", worker=worker) == 30
    # /status shows the same counts in the mount's canary section.
    canary = httpx.get(f"{admin}/status").json()["mounts"]["/shop"]["canary"]
    assert canary["requests"]["canary"]["total"] == canary["requests"]["canary"]["2xx"] == sent["fastapi"]
    assert canary["requests"]["stable"]["total"] == canary["requests"]["stable"]["2xx"] == sent["django"]
    assert canary["weight"] == 30
    assert len(canary["workers"]) == 2
