"""The ASGI lifespan protocol: startup before the port accepts, state, shutdown on stop, failures
and ``--lifespan auto|on|off``."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from support import LISTENING_RE, TESTS_DIR, RawConnection, server_env


def get_json(server, path: str = "/"):
    with RawConnection.to(server) as conn:
        response = conn.request("GET", path)
    assert response.status == 200, response
    return json.loads(response.body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_startup_completes_before_the_port_accepts_connections(serve, tmp_path):
    """The app's startup sleeps 1 s; nothing may connect before it has completed."""
    marker = tmp_path / "events.jsonl"
    port = free_port()
    connected_at: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                time.sleep(0.02)  # the probe's polling interval: try again until the port accepts
                continue
            connected_at.append(time.time())
            return

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        server = serve("asgi_apps.lifespan:timing", bind=f"127.0.0.1:{port}", env={"ASGI_TEST_MARKER": str(marker)})
    finally:
        thread.join(5)
        stop.set()
    assert time.monotonic() - started >= 1.0
    events = [json.loads(line) for line in marker.read_text().splitlines()]
    assert events[0]["event"] == "startup-complete"
    assert connected_at, "could not connect at all"
    assert connected_at[0] >= events[0]["at"], "the port accepted a connection before startup completed"
    get_json(server)
    log = server.stderr()
    assert log.index("lifespan-startup-done") < LISTENING_RE.search(log).start()


def test_state_from_startup_is_in_every_request_scope(serve):
    server = serve("asgi_apps.lifespan:stateful")
    for _ in range(2):
        seen = get_json(server)
        assert seen["greeting"] == "hello from startup"
        assert seen["keys"] == ["greeting", "shared"]


def test_state_is_a_shallow_copy_per_request(serve):
    server = serve("asgi_apps.lifespan:stateful")
    # A request that sets a top-level key must not affect the next request's scope ...
    assert get_json(server, "/?set=leaked")["keys"] == ["greeting", "shared"]
    assert get_json(server, "/?set=leaked2")["keys"] == ["greeting", "shared"], "a request's state key leaked"
    # ... while the objects in it are shared (a shallow copy, as the ASGI spec says).
    get_json(server, "/?append=one")
    assert get_json(server)["shared"] == ["one"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_runs_on_stop(serve, tmp_path, sig):
    marker = tmp_path / "events.txt"
    server = serve("asgi_apps.lifespan:stateful", env={"ASGI_TEST_MARKER": str(marker)})
    get_json(server)
    assert marker.read_text() == "startup\n"
    code = server.stop(sig)
    assert code == 0, server.stderr()
    assert marker.read_text() == "startup\nshutdown\n"


def test_sigterm_right_after_listening_still_runs_shutdown(tmp_path):
    """A balancer may stop an instance as soon as it is up: once the port is announced, SIGTERM
    must mean a graceful stop (lifespan shutdown, exit 0), never the default kill."""
    outcomes = []
    for attempt in range(5):
        marker = tmp_path / f"events-{attempt}.txt"
        proc = subprocess.Popen(
            [sys.executable, "-m", "amphicorn", "asgi_apps.lifespan:stateful", "-b", "127.0.0.1:0"],
            cwd=TESTS_DIR,
            env=server_env({"ASGI_TEST_MARKER": str(marker)}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            for line in proc.stderr:
                if LISTENING_RE.search(line.decode()):
                    proc.send_signal(signal.SIGTERM)
                    break
            proc.stderr.read()
            code = proc.wait(10)
        finally:
            proc.kill()
            proc.wait()
            proc.stderr.close()
        outcomes.append((code, marker.read_text() if marker.exists() else ""))
    assert outcomes == [(0, "startup\nshutdown\n")] * 5, outcomes


def test_startup_failed_message_exits_3_before_binding(run_cli):
    result = run_cli("asgi_apps.lifespan:startup_failed", "-b", "127.0.0.1:0", timeout=20)
    assert result.returncode == 3, result.stderr
    assert "database unreachable: startup-failed-7731" in result.stderr
    assert "Listening on" not in result.stderr


def test_lifespan_on_and_an_exception_in_startup_exits_3(run_cli):
    result = run_cli("asgi_apps.lifespan:raises_in_startup", "-b", "127.0.0.1:0", "--lifespan", "on", timeout=20)
    assert result.returncode == 3, result.stderr
    assert "startup-exploded-4242" in result.stderr
    assert "Listening on" not in result.stderr


def test_lifespan_on_with_an_app_without_lifespan_support_exits_3(run_cli):
    result = run_cli("asgi_apps.lifespan:http_only", "-b", "127.0.0.1:0", "--lifespan", "on", timeout=20)
    assert result.returncode == 3, result.stderr
    assert "http-only-app-9137" in result.stderr
    assert "Listening on" not in result.stderr


def test_lifespan_auto_serves_an_app_that_rejects_the_lifespan_scope(serve, tmp_path):
    marker = tmp_path / "events.txt"
    server = serve("asgi_apps.lifespan:http_only", env={"ASGI_TEST_MARKER": str(marker)})
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/")
    assert response.status == 200
    assert response.body == b"http only"
    log = server.stderr()
    assert "lifespan" in log
    assert "unsupported" in log
    assert "Traceback" not in log
    assert marker.read_text() == "called with lifespan\ncalled with http\n"
    assert server.stop() == 0


def test_lifespan_auto_with_startup_failed_still_exits_3(run_cli):
    result = run_cli("asgi_apps.lifespan:startup_failed", "-b", "127.0.0.1:0", "--lifespan", "auto", timeout=20)
    assert result.returncode == 3, result.stderr
    assert "startup-failed-7731" in result.stderr


@pytest.mark.parametrize("app", ["http_only", "startup_failed", "raises_in_startup"])
def test_lifespan_off_never_sends_a_lifespan_scope(serve, tmp_path, app):
    marker = tmp_path / "events.txt"
    server = serve(f"asgi_apps.lifespan:{app}", "--lifespan", "off", env={"ASGI_TEST_MARKER": str(marker)})
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/")
    assert response.status == 200
    assert server.stop() == 0
    if app == "http_only":
        assert marker.read_text() == "called with http\n"
    assert "unsupported" not in server.stderr()
    assert "Traceback" not in server.stderr()


def test_lifespan_off_still_gives_requests_a_state_dict(serve):
    server = serve("asgi_apps.raw:scope_echo", "--lifespan", "off")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/")
    scope = json.loads(response.body)["scope"]
    keys = [pair[0] for pair in scope["__dict__"]]
    assert "type" in keys
    # 'state' is optional without lifespan; if present it must be a dict.
    state = dict(scope["__dict__"]).get("state")
    assert state is None or "__dict__" in state


def test_shutdown_failed_is_logged(serve, tmp_path):
    marker = tmp_path / "events.txt"
    server = serve("asgi_apps.lifespan:shutdown_failed", env={"ASGI_TEST_MARKER": str(marker)})
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/").status == 200
    server.stop()
    assert marker.read_text() == "shutdown\n"
    assert "could-not-flush-5150" in server.stderr()
