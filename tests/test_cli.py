"""The command line: flags, environment variables, binds, import errors, signals."""

from __future__ import annotations

import importlib.metadata
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from support import LISTENING_RE, TESTS_DIR, server_env, wait_until

HELLO = "apps.basic:hello"
SLEEPY = "apps.streaming:concurrency"


def _get(url: str, path: str = "/", timeout: float = 10.0) -> httpx.Response:
    with httpx.Client(timeout=timeout) as client:
        return client.get(url + path)


def _ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(port: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _max_concurrency(url: str, requests: int = 2, seconds: float = 1.0) -> int:
    """Fire ``requests`` sleeping requests at once; the app reports how many overlapped."""
    results: list[int] = []

    def one() -> None:
        response = _get(url, f"/sleep?seconds={seconds}", timeout=30)
        results.append(response.status_code)

    threads = [threading.Thread(target=one) for _ in range(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * requests
    return _get(url, "/stats").json()["max"]


# --- informational flags ---------------------------------------------------------------------


def test_version_prints_the_installed_version(run_cli):
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert importlib.metadata.version("amphicorn") in result.stdout + result.stderr


def test_help_lists_the_flags(run_cli):
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    for flag in ("--bind", "--host", "--port", "--threads", "--log-level", "--version"):
        assert flag in result.stdout, f"{flag} missing from --help:\n{result.stdout}"


def test_console_script_matches_python_dash_m():
    script = shutil.which("amphicorn")
    if script is None:
        pytest.skip("the amphicorn console script is not installed on PATH")
    proc = subprocess.run([script, "--version"], cwd=TESTS_DIR, env=server_env(), capture_output=True, check=False)
    assert proc.returncode == 0
    assert importlib.metadata.version("amphicorn").encode() in proc.stdout + proc.stderr


# --- usage errors: exit 2 naming the flag ----------------------------------------------------


def test_unknown_flag_exits_2_naming_it(run_cli):
    result = run_cli(HELLO, "--no-such-flag-xyz")
    assert result.returncode == 2, result
    assert "--no-such-flag-xyz" in result.stderr


def test_missing_app_argument_exits_2(run_cli):
    result = run_cli()
    assert result.returncode == 2, result
    assert "usage" in result.stderr.lower()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--threads", "abc"], "--threads"),
        (["--threads", "0"], "--threads"),
        (["--threads", "-3"], "--threads"),
        (["--io-threads", "0"], "--io-threads"),
        (["--io-threads", "two"], "--io-threads"),
        (["--log-level", "loud"], "--log-level"),
        (["--port", "http"], "--port"),
        (["--port", "70000"], "--port"),
        (["--bind", "127.0.0.1:notaport"], "--bind"),
        (["--bind", "127.0.0.1:99999"], "--bind"),
    ],
)
def test_bad_flag_value_exits_2_naming_the_flag(run_cli, args, flag):
    result = run_cli(HELLO, *args)
    assert result.returncode == 2, result
    assert flag in result.stderr, result.stderr
    assert "Listening on" not in result.stderr


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--timeout-keep-alive", "1e300"),
        ("--timeout-request-headers", "inf"),
        ("--timeout-request-body", "31536001"),
        ("--queue-timeout", "nan"),
        ("--timeout-graceful-shutdown", "1e12"),
    ],
)
def test_seconds_above_a_year_exit_2_naming_the_flag(run_cli, flag, value):
    """Huge timeouts overflow the core's timers: refused before anything binds."""
    result = run_cli("apps.basic:hello", flag, value, "-b", "127.0.0.1:0", timeout=20)
    assert result.returncode == 2, result
    assert f"{flag} '{value}'" in result.stderr, result.stderr
    assert "Listening on" not in result.stderr


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--max-body-size", str(10**30)), ("--limit-max-requests", str(2**64)), ("--backlog", str(2**31))],
)
def test_whole_numbers_too_large_for_the_core_exit_2_naming_the_flag(run_cli, flag, value):
    """A number the Rust core cannot hold was a traceback when the server started."""
    result = run_cli("apps.basic:hello", flag, value, "-b", "127.0.0.1:0", timeout=20)
    assert result.returncode == 2, result
    assert f"{flag} '{value}'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_new_flags_reach_the_server(serve, tmp_path):
    """--app-dir puts a directory on sys.path; --queue-size/--queue-timeout/--preread-limit parse."""
    (tmp_path / "elsewhere_app.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'from elsewhere']\n"
    )
    server = serve(
        "elsewhere_app:app",
        "--app-dir",
        str(tmp_path),
        "--queue-size",
        "8",
        "--queue-timeout",
        "2.5",
        "--preread-limit",
        "0",
    )
    assert _get(server.url).text == "from elsewhere"


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--queue-size", "1", "--queue-timeout", "0.3"], {}),
        ([], {"AMPHICORN_QUEUE_SIZE": "1", "AMPHICORN_QUEUE_TIMEOUT": "0.3"}),
    ],
    ids=["flag", "env"],
)
def test_queue_size_and_timeout_reach_the_server(serve, args, env):
    """One thread busy for 1.5 s and one request queued: a third waits 0.3 s for room, then 503."""
    server = serve(SLEEPY, "--threads", "1", *args, env=env)
    started = time.monotonic()
    assert sorted(_three_at_once(server, "/sleep?seconds=1.5")) == [200, 200, 503]
    assert time.monotonic() - started < 5


def test_a_request_that_finds_the_queue_full_waits_for_room_and_is_served(serve):
    """One thread busy for 1 s and one request queued: a third waits for room, then runs."""
    server = serve(SLEEPY, "--threads", "1", "--queue-size", "1", "--queue-timeout", "10")
    assert _three_at_once(server, "/sleep?seconds=1") == [200, 200, 200]


def _three_at_once(server, path: str) -> list[int]:
    """The statuses of three GETs of ``path`` sent at once, in the order they finished."""
    statuses: list[int] = []

    def one() -> None:
        statuses.append(_get(server.url, path, timeout=30).status_code)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AMPHICORN_THREADS", "many"),
        ("AMPHICORN_LOG_LEVEL", "loud"),
        ("AMPHICORN_PORT", "x"),
        ("AMPHICORN_QUEUE_SIZE", "0"),
        ("AMPHICORN_TIMEOUT_KEEP_ALIVE", "1e300"),
    ],
)
def test_bad_environment_value_exits_2_naming_the_variable_or_flag(run_cli, variable, value):
    result = run_cli(HELLO, env={variable: value})
    assert result.returncode == 2, result
    flag = "--" + variable.removeprefix("AMPHICORN_").lower().replace("_", "-")
    assert variable in result.stderr or flag in result.stderr, result.stderr


# --- import errors: exit 1 before binding ----------------------------------------------------


def test_missing_module_exits_1_naming_it(run_cli):
    result = run_cli("amphicorn_tests_no_such_module:app", "-b", "127.0.0.1:0", timeout=20)
    assert result.returncode == 1, result
    assert "amphicorn_tests_no_such_module" in result.stderr
    assert "Listening on" not in result.stderr


def test_missing_attribute_exits_1_naming_module_and_attribute(run_cli):
    result = run_cli("apps.basic:no_such_attribute", "-b", "127.0.0.1:0", timeout=20)
    assert result.returncode == 1, result
    assert "no_such_attribute" in result.stderr
    assert "apps.basic" in result.stderr
    assert "Listening on" not in result.stderr


def test_missing_dotted_attribute_exits_1(run_cli):
    result = run_cli("apps.basic:nested.app.missing_leaf", "-b", "127.0.0.1:0", timeout=20)
    assert result.returncode == 1, result
    assert "missing_leaf" in result.stderr
    assert "Listening on" not in result.stderr


def test_module_raising_at_import_exits_1_with_its_traceback(run_cli):
    result = run_cli("apps.broken:app", "-b", "127.0.0.1:0", timeout=20)
    assert result.returncode == 1, result
    assert "apps.broken" in result.stderr
    assert "RuntimeError" in result.stderr
    assert "broken-at-import-marker 7f3a" in result.stderr
    # The app's own traceback: the file and the function that raised.
    assert "Traceback" in result.stderr
    assert "broken.py" in result.stderr
    assert "_explode" in result.stderr
    assert "Listening on" not in result.stderr


def test_missing_dependency_inside_the_module_is_reported_as_such(run_cli):
    """The module exists; what is missing is what it imports, and the message must say so."""
    result = run_cli("apps.broken_dep:app", "-b", "127.0.0.1:0", timeout=20)
    assert result.returncode == 1, result
    assert "amphicorn_tests_missing_dependency_q9" in result.stderr
    assert "broken_dep.py" in result.stderr
    assert "Listening on" not in result.stderr


# --- binds -----------------------------------------------------------------------------------


def test_bind_port_zero_logs_the_real_port_and_serves(serve):
    server = serve(HELLO)
    assert server.port != 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert _get(server.url).text == "Hello, world!"


def test_dotted_attribute_app_spec(serve):
    server = serve("apps.basic:nested.app.inner")
    assert _get(server.url).text == "Hello, world!"


def test_host_and_port_flags(serve):
    server = serve(HELLO, "--host", "127.0.0.1", "--port", "0", bind=None)
    assert server.host == "127.0.0.1"
    assert _get(server.url).status_code == 200


def test_explicit_port(serve):
    port = _free_port()
    server = serve(HELLO, bind=f"127.0.0.1:{port}")
    assert server.port == port
    assert _get(server.url).text == "Hello, world!"


def test_two_binds_serve_on_both(serve):
    server = serve(HELLO, "-b", "127.0.0.1:0", listeners=2)
    assert len(server.urls) == 2
    assert server.urls[0] != server.urls[1]
    for url in server.urls:
        assert _get(url).text == "Hello, world!"


@pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
def test_ipv6_bind(serve):
    server = serve(HELLO, bind="[::1]:0")
    assert server.url.startswith("http://[::1]:")
    assert _get(server.url).text == "Hello, world!"


@pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
def test_ipv4_and_ipv6_binds_together(serve):
    server = serve(HELLO, "-b", "[::1]:0", listeners=2)
    assert any(url.startswith("http://[::1]:") for url in server.urls)
    assert any(url.startswith("http://127.0.0.1:") for url in server.urls)
    for url in server.urls:
        assert _get(url).status_code == 200


def test_hostname_bind(serve):
    server = serve(HELLO, bind="localhost:0")
    # localhost may resolve to 127.0.0.1 and ::1; every socket it logged must serve. The
    # sockets are all logged before the app is.
    assert server.wait_for_stderr("Serving WSGI app"), server.stderr()
    urls = sorted({m[0] for m in LISTENING_RE.findall(server.stderr())})
    assert urls
    for url in urls:
        assert _get(url).text == "Hello, world!"


def test_bind_to_a_port_in_use_fails_instead_of_hanging(run_cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(HELLO, "-b", f"127.0.0.1:{port}", timeout=20)
    assert result.returncode != 0
    assert str(port) in result.stderr
    assert "Listening on" not in result.stderr


# --- environment variables -------------------------------------------------------------------


def test_bind_from_environment(serve):
    server = serve(HELLO, bind=None, env={"AMPHICORN_BIND": "127.0.0.1:0"})
    assert _get(server.url).status_code == 200


def test_host_and_port_from_environment(serve):
    port = _free_port()
    server = serve(HELLO, bind=None, env={"AMPHICORN_HOST": "127.0.0.1", "AMPHICORN_PORT": str(port)})
    assert server.port == port
    assert _get(server.url).status_code == 200


def test_flag_wins_over_environment_for_bind(serve):
    port = _free_port()
    server = serve(HELLO, bind=f"127.0.0.1:{port}", env={"AMPHICORN_BIND": "127.0.0.1:1"})
    assert server.port == port
    assert server.wait_for_stderr("Serving WSGI app"), server.stderr()  # every socket is logged by then
    assert len(LISTENING_RE.findall(server.stderr())) == 1, server.stderr()
    assert _get(server.url).status_code == 200


def test_threads_from_environment(serve):
    server = serve(SLEEPY, env={"AMPHICORN_THREADS": "1"})
    assert _max_concurrency(server.url, requests=2, seconds=0.5) == 1


def test_threads_flag_wins_over_environment(serve):
    server = serve(SLEEPY, "--threads", "2", env={"AMPHICORN_THREADS": "1"})
    assert _max_concurrency(server.url, requests=2, seconds=1.0) == 2


def _io_threads(pid: int) -> int:
    tasks = pathlib.Path(f"/proc/{pid}/task")
    return sum((task / "comm").read_text().strip() == "amphicorn-io" for task in tasks.iterdir())


@pytest.mark.skipif(not pathlib.Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize(
    ("args", "env", "expected"), [(["--io-threads", "3"], {}, 3), ([], {"AMPHICORN_IO_THREADS": "1"}, 1)]
)
def test_io_threads_sets_the_number_of_tokio_threads(serve, args, env, expected):
    server = serve(HELLO, *args, env=env)
    assert _get(server.url).status_code == 200
    assert _io_threads(server.pid) == expected


@pytest.mark.parametrize(("args", "frozen"), [([], True), (["--no-gc-freeze"], False)])
def test_gc_freeze_sets_what_startup_made_aside_before_serving(serve, args, frozen):
    server = serve("apps.basic:gc_frozen", *args)
    response = _get(server.url)
    assert response.status_code == 200
    assert (int(response.text) > 0) is frozen


def _start_quiet(serve_env: dict[str, str], *args: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "amphicorn", HELLO, "-b", f"127.0.0.1:{port}", *args],
        cwd=TESTS_DIR,
        env=server_env(serve_env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc, port


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--log-level", "error"], {}), ([], {"AMPHICORN_LOG_LEVEL": "error"})],
    ids=["flag", "env"],
)
def test_log_level_error_silences_info_lines(args, env):
    proc, port = _start_quiet(env, *args)
    try:
        assert _wait_until_serving(port), "server never accepted a connection"
        assert _get(f"http://127.0.0.1:{port}").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert "Listening on" not in stderr.decode()


def test_log_level_flag_wins_over_environment(serve):
    server = serve(HELLO, "--log-level", "info", env={"AMPHICORN_LOG_LEVEL": "error"})
    assert "Listening on" in server.stderr()


@pytest.mark.parametrize("level", ["critical", "error", "warning", "info", "debug", "trace"])
def test_every_log_level_is_accepted(level):
    proc, port = _start_quiet({}, "--log-level", level)
    try:
        assert _wait_until_serving(port), f"--log-level {level}: server never came up"
        assert _get(f"http://127.0.0.1:{port}").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


# --- signals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_gracefully_with_exit_0(serve, sig):
    server = serve(HELLO)
    assert _get(server.url).status_code == 200
    code = server.stop(sig, timeout=10)
    assert code == 0, server.stderr()
    with pytest.raises(httpx.ConnectError):
        _get(server.url, timeout=2)


def test_sigterm_lets_an_in_flight_request_finish(serve):
    server = serve(SLEEPY)
    outcome: dict[str, object] = {}

    def slow_request() -> None:
        try:
            outcome["status"] = _get(server.url, "/sleep?seconds=1.5", timeout=20).status_code
        except httpx.HTTPError as exc:
            outcome["error"] = repr(exc)

    thread = threading.Thread(target=slow_request)
    thread.start()
    wait_until(lambda: _get(server.url, "/stats").json()["now"] == 1, message="the request never reached the app")
    code = server.stop(signal.SIGTERM, timeout=15)
    thread.join()
    assert outcome.get("status") == 200, outcome
    assert code == 0, server.stderr()


def test_listening_line_format(serve):
    server = serve(HELLO)
    assert re.search(rf"Listening on http://127\.0\.0\.1:{server.port}\b", server.stderr())
