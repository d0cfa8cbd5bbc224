"""Worker processes under the supervisor: start, crash and replacement, crash loops, graceful
stop (including stuck WSGI threads), SIGHUP rolling restarts under load, max-requests
recycling, --reload, the pid file, and the process flags' validation.

Every test drives a real ``python -m amphicorn`` process tree; worker pids come from the
supervisor's ``Worker process N is ready`` lines and from an app that answers its own pid.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import Server, StderrCollector
from support import (
    OUT_OF_DESCRIPTORS,
    TESTS_DIR,
    ClientThreads,
    leave_no_descriptors,
    process_alive,
    ready_worker_pids,
    server_env,
    wait_until,
)

PID_APP = "apps.workers:pid"


def _get(url: str, path: str = "/", timeout: float = 10.0) -> httpx.Response:
    # A fresh connection per request: no keep-alive connection for a stopping worker to close.
    with httpx.Client(timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        return client.get(url + path)


def _get_ignoring_errors(url: str, path: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        _get(url, path, timeout=30)


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(process_alive(pid) for pid in pids):
            return True
        time.sleep(0.05)  # the polling interval
    return False


def _wait_exit(server: Server, timeout: float) -> int | None:
    try:
        return server.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


# --- several workers ---------------------------------------------------------------------


def test_workers_are_separate_processes_that_serve(serve):
    server = serve(PID_APP, "--workers", "2")
    workers = ready_worker_pids(server, 2)
    assert len(set(workers)) == 2
    assert server.pid not in workers
    for pid in workers:
        assert Path(f"/proc/{pid}/status").read_text().count(f"PPid:\t{server.pid}") == 1
    answered = {int(_get(server.url).text) for _ in range(20)}
    assert answered <= set(workers), (answered, workers)


def test_workers_from_environment_run_asgi_lifespan_in_each(serve, tmp_path):
    marker = tmp_path / "lifespan.log"
    server = serve("asgi_apps.fastapi_app:app", env={"AMPHICORN_WORKERS": "2", "ASGI_TEST_MARKER": str(marker)})
    ready_worker_pids(server, 2)
    assert _get(server.url, "/state").json()["greeting"] == "state yielded by lifespan"
    assert server.stop() == 0
    events = marker.read_text().split()
    assert events.count("startup") == 2, events
    assert events.count("shutdown") == 2, events


def test_killed_worker_is_replaced_while_the_others_serve(serve):
    server = serve(PID_APP, "-w", "2")
    first, second = ready_worker_pids(server, 2)
    os.kill(first, signal.SIGKILL)
    # The other worker (and the shared listening socket) keep answering meanwhile.
    statuses = [_get(server.url).status_code for _ in range(30)]
    assert statuses == [200] * 30
    (replacement,) = ready_worker_pids(server, 1, exclude={first, second})
    assert server.wait_for_stderr(f"Worker process {first} was killed by SIGKILL")
    assert process_alive(second)
    assert process_alive(replacement)
    answered = {int(_get(server.url).text) for _ in range(20)}
    assert first not in answered
    assert answered <= {second, replacement}
    assert server.proc.poll() is None


def test_crash_loop_gives_up_with_a_clear_message(serve):
    server = serve(PID_APP, "-w", "2", env={"CRASH_AFTER": "0.2"})
    code = _wait_exit(server, 40)
    assert code == 1, server.stderr()
    assert "worker crashes within 60 seconds; giving up" in server.stderr()
    # It backed off between restarts, and said so.
    assert "starting another in 0.1 s" in server.stderr()
    assert "starting another in 0.8 s" in server.stderr()


def test_workers_stop_when_the_supervisor_is_killed(serve):
    server = serve(PID_APP, "-w", "2")
    workers = ready_worker_pids(server, 2)
    os.kill(server.pid, signal.SIGKILL)
    server.proc.wait(5)
    # Orphans would go on serving the port with nobody to stop them.
    assert _wait_gone(workers, 10)


@pytest.mark.parametrize(
    ("app", "status", "message"),
    [
        ("apps.broken:app", 1, "broken-at-import-marker 7f3a"),
        ("asgi_apps.lifespan:startup_failed", 3, "startup-failed-7731"),
    ],
    ids=["import", "lifespan"],
)
def test_a_worker_that_cannot_start_stops_the_supervisor_with_its_status(run_cli, app, status, message):
    result = run_cli(app, "-b", "127.0.0.1:0", "-w", "2", timeout=40)
    assert result.returncode == status, result.stderr
    assert message in result.stderr
    assert "could not start" in result.stderr
    assert "starting another" not in result.stderr


# --- graceful stop -----------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_lets_a_two_second_request_finish(serve, sig):
    server = serve(PID_APP, "-w", "2")
    workers = ready_worker_pids(server, 2)
    outcome: dict[str, object] = {}

    def slow_request() -> None:
        try:
            response = _get(server.url, "/sleep?seconds=2", timeout=20)
            outcome["status"], outcome["pid"] = response.status_code, int(response.text)
        except httpx.HTTPError as exc:
            outcome["error"] = repr(exc)

    thread = threading.Thread(target=slow_request)
    thread.start()
    assert server.wait_for_stderr("request /sleep started", timeout=10)
    started = time.monotonic()
    server.proc.send_signal(sig)
    code = _wait_exit(server, 15)
    thread.join(10)
    assert outcome.get("status") == 200, (outcome, server.stderr())
    assert outcome["pid"] in workers
    assert code == 0, server.stderr()
    assert time.monotonic() - started >= 1.0  # it waited for the request
    assert _wait_gone(workers, 5)


def _outcome_within(server: Server, seconds: float) -> str:
    """Connects and sends a request: what happened within ``seconds`` ("refused", "reset",
    "closed", "answered <status>"), or "hanging" if nothing did."""
    try:
        sock = socket.create_connection((server.host, server.port), timeout=seconds)
    except ConnectionRefusedError:
        return "refused"
    with sock:
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = sock.recv(64)
        except ConnectionResetError:
            return "reset"
        except TimeoutError:
            return "hanging"
        return f"answered {data.split(b' ')[1].decode()}" if data else "closed"


def test_a_client_connecting_during_the_drain_is_not_left_waiting_for_it(serve):
    """SIGTERM with a slow request in flight: a new client is refused (or served) at once,
    rather than queued in the backlog until the drain ends and then reset."""
    server = serve(PID_APP, "-w", "2")
    ready_worker_pids(server, 2)
    thread = threading.Thread(target=_get_ignoring_errors, args=(server.url, "/sleep?seconds=4"))
    thread.start()
    assert server.wait_for_stderr("request /sleep started", timeout=10)
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait_for_stderr("stopping the workers gracefully", timeout=5)
    # Several clients, a moment apart (the stimulus), while the slow request drains.
    outcomes = []
    for _ in range(4):
        outcomes.append(_outcome_within(server, 1.0))
        time.sleep(0.2)
    thread.join(20)
    assert "hanging" not in outcomes, outcomes
    assert _wait_exit(server, 15) == 0, server.stderr()


def test_a_unix_socket_client_during_the_drain_is_not_left_waiting(launched, tmp_path):
    """The same on a Unix socket: its file goes when the drain starts, so a new client
    fails at once instead of waiting in the backlog to be reset."""
    path = tmp_path / "s.sock"
    server = launched(
        [sys.executable, "-m", "amphicorn", PID_APP, "-w", "2", "-b", f"unix:{path}"], ready="starting 2 worker"
    )
    ready_worker_pids(server, 2)

    def slow_request() -> None:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=20) as client:
            client.get("http://x/sleep?seconds=4")

    slow = threading.Thread(target=slow_request)
    slow.start()
    assert server.wait_for_stderr("request /sleep started", timeout=10)
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait_for_stderr("stopping the workers gracefully", timeout=5)
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(1.0)
        with pytest.raises((FileNotFoundError, ConnectionRefusedError)):
            client.connect(str(path))
    slow.join(20)
    assert _wait_exit(server, 15) == 0, server.stderr()


@pytest.mark.parametrize("workers", [["-w", "2"], []], ids=["workers", "single-process"])
def test_a_client_queued_on_a_unix_socket_when_the_stop_begins_is_reset_at_once(launched, tmp_path, workers):
    """A client already in a Unix socket's backlog when SIGTERM arrives (connected, its request
    sent, not accepted) is reset within a moment, not when the drain ends (10 s here, for the
    slow request in flight, which still finishes). No serving process has a descriptor left
    for it (``leave_no_descriptors``), so none can accept it before the stop."""
    path = tmp_path / "s.sock"
    args = [sys.executable, "-m", "amphicorn", PID_APP, *workers, "-b", f"unix:{path}"]
    server = launched([*args, "--timeout-graceful-shutdown", "30"], ready=f"Listening on unix:{path}")
    pids = ready_worker_pids(server, 2) if workers else [server.pid]
    slow: dict[str, object] = {}

    def slow_request() -> None:
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=30) as client:
                slow["status"] = client.get("http://x/sleep?seconds=10").status_code
        except httpx.HTTPError as exc:
            slow["error"] = repr(exc)

    thread = threading.Thread(target=slow_request)
    thread.start()
    assert server.wait_for_stderr("request /sleep started", timeout=10)
    limits = {pid: leave_no_descriptors(pid) for pid in pids}
    try:
        with socket.socket(socket.AF_UNIX) as queued:
            queued.connect(str(path))
            queued.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            # Every serving process tried to accept it, and could not: it is in the backlog.
            warned = re.compile(rf"\[(\d+)\] \[WARNING\] {OUT_OF_DESCRIPTORS}")
            assert server.wait_for(lambda text: set(pids) <= set(map(int, warned.findall(text))), 10), server.stderr()
            server.proc.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            queued.settimeout(5.0)
            try:
                fate = "answered" if queued.recv(64) else "closed"
            except ConnectionResetError:
                fate = "reset"
            except TimeoutError:
                fate = "still waiting"
            waited = time.monotonic() - stopped
    finally:
        for pid, limit in limits.items():
            with contextlib.suppress(ProcessLookupError):
                resource.prlimit(pid, resource.RLIMIT_NOFILE, limit)
    assert fate in ("reset", "closed"), (fate, waited)
    assert waited < 2.0, (fate, waited)
    thread.join(30)
    assert slow.get("status") == 200, (slow, server.stderr())
    assert _wait_exit(server, 15) == 0, server.stderr()


@pytest.mark.parametrize("path", ["/stuck", "/stuck-in-executor"])
@pytest.mark.parametrize("workers", [["-w", "2"], []], ids=["workers", "single-process"])
def test_stuck_wsgi_thread_does_not_keep_the_process_alive(serve, workers, path):
    server = serve(PID_APP, *workers, "--timeout-graceful-shutdown", "1")
    pids = ready_worker_pids(server, 2) if workers else [server.pid]
    errors: list[str] = []

    def stuck_request() -> None:
        try:
            _get(server.url, path, timeout=30)
        except httpx.HTTPError as exc:
            errors.append(repr(exc))

    thread = threading.Thread(target=stuck_request, daemon=True)
    thread.start()
    assert server.wait_for_stderr(f"request {path} started", timeout=10)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = _wait_exit(server, 10)
    elapsed = time.monotonic() - started
    assert code == 0, server.stderr()
    # One graceful timeout (1 s) and some start-up slack, well under the supervisor's kill margin.
    assert elapsed < 4.0, (elapsed, server.stderr())
    assert "WSGI threads were still busy after the graceful timeout" in server.stderr()
    assert "did not stop in time" not in server.stderr()
    assert _wait_gone(pids, 5)
    thread.join(5)
    assert errors, "the stuck request should have been cut off"


def test_a_worker_that_does_not_stop_in_time_is_killed(serve):
    server = serve("apps.workers:slow_shutdown", "-w", "2", "--timeout-graceful-shutdown", "0.5")
    workers = ready_worker_pids(server, 2)
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = _wait_exit(server, 20)
    elapsed = time.monotonic() - started
    assert code == 0, server.stderr()
    assert 5.0 <= elapsed < 10.0, elapsed  # the timeout, plus the 5 s margin for lifespan shutdown
    for pid in workers:
        assert f"Worker process {pid} did not stop in time: killing it" in server.stderr()
    assert _wait_gone(workers, 5)


def test_timeout_graceful_shutdown_from_the_config_file(serve, tmp_path):
    config = tmp_path / "amphicorn.toml"
    config.write_text('timeout-graceful-shutdown = 1\nworkers = 2\napp = "apps.workers:pid"\n')
    server = serve(f"--config={config}")
    ready_worker_pids(server, 2)
    thread = threading.Thread(target=_get_ignoring_errors, args=(server.url, "/stuck"), daemon=True)
    thread.start()
    assert server.wait_for_stderr("request /stuck started", timeout=10)
    server.proc.send_signal(signal.SIGTERM)
    assert _wait_exit(server, 10) == 0
    assert "graceful timeout (1s)" in server.stderr()


# --- rolling restart ---------------------------------------------------------------------


class _Load(ClientThreads):
    """Threads issuing requests in a loop until stopped, on fresh or kept-alive connections."""

    def __init__(self, url: str, threads: int = 4, keep_alive: bool = False) -> None:
        super().__init__(threads)
        self.url = url
        self.keep_alive = keep_alive
        self.pids: list[tuple[float, int]] = []
        self.failures: list[str] = []

    def _run(self, index: int) -> None:
        limits = httpx.Limits(max_keepalive_connections=1 if self.keep_alive else 0)
        with httpx.Client(timeout=10, limits=limits) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(self.url)
                    if response.status_code != 200:
                        self.failures.append(f"status {response.status_code}")
                    else:
                        self.pids.append((time.monotonic(), int(response.text)))
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))

    def wait_answered_by(self, pids: list[int], count: int = 100) -> None:
        """Wait until ``count`` requests have been answered by the workers ``pids``."""
        wait_until(
            lambda: sum(pid in pids for _, pid in list(self.pids)) >= count,
            timeout=15,
            message=f"the workers {pids} did not answer {count} requests ({len(self.failures)} failed)",
        )


@pytest.mark.parametrize("keep_alive", [False, True], ids=["new-connections", "keep-alive"])
def test_sighup_rolling_restart_under_load_refuses_nothing(serve, keep_alive):
    """Two rolling restarts under constant load: not one request fails, and after each
    restart only the new workers answer. Kept-alive connections are closed only after one
    more request, answered with ``Connection: close``, so clients never reuse a closing one."""
    server = serve(PID_APP, "-w", "2")
    generations = [ready_worker_pids(server, 2)]
    switched: list[float] = []
    with _Load(server.url, keep_alive=keep_alive) as load:
        for _ in range(2):
            load.wait_answered_by(generations[-1])
            server.proc.send_signal(signal.SIGHUP)
            seen = {pid for generation in generations for pid in generation}
            generations.append(ready_worker_pids(server, 2, exclude=seen))
            assert _wait_gone(generations[-2], 15), server.stderr()
            switched.append(time.monotonic())
        load.wait_answered_by(generations[-1])
    assert load.failures == [], load.failures[:5]
    assert len(load.pids) > 200, len(load.pids)
    bounds = zip([0.0, *switched], [*switched, float("inf")], strict=True)
    answered = [{pid for at, pid in load.pids if start < at <= end} for start, end in bounds]
    assert answered[0] & set(generations[0]), "no request was answered before the first restart"
    # Once a generation is gone, answers come from the next one (or, during the second
    # restart, from the one after it as soon as it is ready).
    assert answered[1], "no request was answered after the first restart"
    assert answered[1] <= set(generations[1]) | set(generations[2]), (answered[1], generations)
    assert answered[2], "no request was answered after the second restart"
    assert answered[2] <= set(generations[2]), (answered[2], generations)
    assert server.proc.poll() is None
    assert server.stderr().count("Received SIGHUP") == 2


# --- max-requests ------------------------------------------------------------------------


def test_max_requests_recycles_the_worker(serve):
    server = serve(PID_APP, "--limit-max-requests", "5")
    (first,) = ready_worker_pids(server, 1)
    answered = [int(_get(server.url).text) for _ in range(12)]
    assert answered[:5] == [first] * 5
    assert answered[5] != first
    assert len(set(answered)) == 3, answered
    assert server.wait_for_stderr(f"[{first}] [INFO] Served its 5 requests (max-requests)")
    assert server.wait_for_stderr(f"Worker process {first} stopped by itself: starting another")
    assert _wait_gone([first], 5)


def test_max_requests_jitter_varies_the_budget_within_bounds(serve):
    server = serve(PID_APP, "--limit-max-requests", "3", "--limit-max-requests-jitter", "3")
    answered = [int(_get(server.url).text) for _ in range(40)]
    runs: list[int] = []
    for index, pid in enumerate(answered):
        if index == 0 or pid != answered[index - 1]:
            runs.append(0)
        runs[-1] += 1
    complete = runs[:-1]  # the last worker has not spent its budget yet
    assert len(complete) >= 5, runs
    assert all(3 <= run <= 6 for run in complete), runs


# --- --reload ----------------------------------------------------------------------------

RELOAD_APP = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"{version}"]
"""


def test_reload_restarts_the_worker_when_a_python_file_changes(launched, tmp_path):
    source = tmp_path / "reloadable.py"
    source.write_text(RELOAD_APP.format(version="version-1"))
    port = _free_port()
    server = launched(
        [sys.executable, "-m", "amphicorn", "reloadable:app", "-b", f"127.0.0.1:{port}", "--reload"],
        cwd=tmp_path,
        ready="is ready",
    )
    url = f"http://127.0.0.1:{port}"
    assert _get(url).text == "version-1"
    assert server.wait_for_stderr("Watching for changed .py files", timeout=10), server.stderr()
    source.write_text(RELOAD_APP.format(version="version-2"))
    wait_until(lambda: _get(url).text == "version-2", timeout=15, message=f"never reloaded: {server.stderr()}")
    assert "Python files changed" in server.stderr()


def test_reload_dir_limits_what_is_watched(launched, tmp_path):
    source = tmp_path / "reloadable.py"
    source.write_text(RELOAD_APP.format(version="version-1"))
    watched = tmp_path / "watched"
    watched.mkdir()
    port = _free_port()
    server = launched(
        [sys.executable, "-m", "amphicorn", "reloadable:app", "-b", f"127.0.0.1:{port}", "--reload"],
        cwd=tmp_path,
        env={"AMPHICORN_RELOAD_DIR": str(watched)},
        ready="is ready",
    )
    url = f"http://127.0.0.1:{port}"
    assert server.wait_for_stderr("Watching for changed .py files", timeout=10), server.stderr()
    source.write_text(RELOAD_APP.format(version="version-2"))  # not under the watched directory
    # Then a change under it: the watcher reports changes in order, so had it seen the first
    # edit, it would have reported it by the time it reports this one.
    (watched / "touched.py").write_text("# a change the watcher sees\n")
    assert server.wait_for(lambda text: re.search(r"Changed: .*touched\.py", text), timeout=10), server.stderr()
    changed = [line for line in server.stderr().splitlines() if "Changed: " in line]
    assert not any("reloadable.py" in line for line in changed), changed
    assert server.wait_for_stderr("Python files changed"), server.stderr()
    wait_until(lambda: _get(url).text == "version-2", timeout=15, message=f"never reloaded: {server.stderr()}")


def test_reload_keeps_the_old_worker_when_the_new_code_is_broken(launched, tmp_path):
    source = tmp_path / "reloadable.py"
    source.write_text(RELOAD_APP.format(version="good"))
    port = _free_port()
    server = launched(
        [sys.executable, "-m", "amphicorn", "reloadable:app", "-b", f"127.0.0.1:{port}", "--reload"],
        cwd=tmp_path,
        ready="is ready",
    )
    url = f"http://127.0.0.1:{port}"
    source.write_text("raise RuntimeError('broken-on-reload')\n")
    assert server.wait_for_stderr("the old workers keep serving", timeout=15), server.stderr()
    assert _get(url).text == "good"
    assert server.proc.poll() is None


def test_reload_without_watchfiles_is_a_usage_error():
    code = (
        "import sys; sys.modules['watchfiles'] = None; from amphicorn.cli import main; "
        "main(['apps.workers:pid', '--reload', '-b', '127.0.0.1:0'])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=TESTS_DIR, env=server_env(), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2, proc.stderr
    assert "reload" in proc.stderr
    assert "watchfiles" in proc.stderr
    assert "Listening on" not in proc.stderr


# --- the pid file ------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [["-w", "2"], []], ids=["workers", "single-process"])
def test_pid_file_is_written_after_bind_and_removed_on_exit(serve, tmp_path, workers):
    pid_file = tmp_path / "amphicorn.pid"
    server = serve(PID_APP, *workers, "--pid", str(pid_file))
    assert pid_file.read_text().strip() == str(server.pid)
    assert server.stop() == 0
    assert not pid_file.exists()


def test_pid_file_from_environment(serve, tmp_path):
    pid_file = tmp_path / "env.pid"
    server = serve(PID_APP, env={"AMPHICORN_PID": str(pid_file)})
    assert pid_file.read_text().strip() == str(server.pid)


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--workers", "0"], {}, "--workers"),
        (["-w", "many"], {}, "--workers"),
        ([], {"AMPHICORN_WORKERS": "-1"}, "AMPHICORN_WORKERS"),
        (["--limit-max-requests", "0"], {}, "--limit-max-requests"),
        (["--limit-max-requests-jitter", "-1"], {}, "--limit-max-requests-jitter"),
        ([], {"AMPHICORN_LIMIT_MAX_REQUESTS": "x"}, "AMPHICORN_LIMIT_MAX_REQUESTS"),
        (["--timeout-graceful-shutdown", "soon"], {}, "--timeout-graceful-shutdown"),
        ([], {"AMPHICORN_TIMEOUT_GRACEFUL_SHUTDOWN": "-2"}, "AMPHICORN_TIMEOUT_GRACEFUL_SHUTDOWN"),
        (["--reload", "--reload-dir", "/nonexistent-amphicorn-dir"], {}, "--reload-dir"),
        ([], {"AMPHICORN_RELOAD_DIR": "/nonexistent-amphicorn-dir"}, "AMPHICORN_RELOAD_DIR"),
        ([], {"AMPHICORN_RELOAD": "maybe"}, "AMPHICORN_RELOAD"),
        (["--pid", "/nonexistent-amphicorn-dir/x.pid"], {}, "--pid"),
        (["-b", "unix:"], {}, "--bind"),
        (["-b", "unix:/nonexistent-amphicorn-dir/s.sock"], {}, "--bind"),
        (["-b", "fd://three"], {}, "--bind"),
    ],
)
def test_bad_process_settings_exit_2_naming_the_setting(run_cli, args, env, named):
    bind = [] if "-b" in args else ["-b", "127.0.0.1:0"]
    result = run_cli(PID_APP, *bind, *args, env=env)
    assert result.returncode == 2, result
    assert named in result.stderr, result.stderr
    assert "Listening on" not in result.stderr


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("workers = 0", "workers"),
        ('limit-max-requests = "x"', "limit-max-requests"),
        ("limit-max-requests-jitter = -3", "limit-max-requests-jitter"),
        ("timeout-graceful-shutdown = true", "timeout-graceful-shutdown"),
        ('reload-dir = ["/nonexistent-amphicorn-dir"]', "reload-dir"),
        ('pid = "/nonexistent-amphicorn-dir/x.pid"', "pid"),
    ],
)
def test_bad_process_keys_in_the_config_file_exit_2_naming_them(run_cli, tmp_path, line, key):
    config = tmp_path / "amphicorn.toml"
    config.write_text(f'app = "{PID_APP}"\nbind = ["127.0.0.1:0"]\n{line}\n')
    result = run_cli("--config", str(config))
    assert result.returncode == 2, result
    assert f"{config}: {key}" in result.stderr, result.stderr


def test_help_lists_the_process_flags(run_cli):
    result = run_cli("--help")
    assert result.returncode == 0
    for flag in ("--workers", "--limit-max-requests", "--limit-max-requests-jitter", "--timeout-graceful-shutdown"):
        assert flag in result.stdout
    for flag in ("--reload", "--reload-dir", "--pid", "unix:PATH", "fd://N"):
        assert flag in result.stdout


def test_run_from_python_with_workers(tmp_path):
    script = tmp_path / "serve_workers.py"
    port = _free_port()
    script.write_text(
        "import amphicorn\n"
        "if __name__ == '__main__':\n"
        f"    amphicorn.run('apps.workers:pid', workers=2, bind='127.0.0.1:{port}', app_dir={str(TESTS_DIR)!r})\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, env=server_env(), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    server = Server(proc, StderrCollector(proc.stderr), [f"http://127.0.0.1:{port}"])
    try:
        workers = ready_worker_pids(server, 2)
        assert int(_get(server.url).text) in workers
    finally:
        assert server.stop() == 0, server.stderr()


def test_workers_need_an_import_string_from_python():
    code = (
        "import amphicorn\n"
        "def app(environ, start_response):\n"
        "    return []\n"
        "amphicorn.run(app, workers=2, bind='127.0.0.1:0')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=server_env(), capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "import string" in proc.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
