"""Connection and body timeouts, and the request head size limit, against a real server:
slow heads get 408 and are closed (a slowloris crowd never holds up other clients), idle
keep-alive connections close, a stalled body gets 408, a head over the limit gets 431."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from support import RawConnection, build_request, wait_until
from websockets.sync.client import connect

HELLO = "apps.basic:hello"
FAST = ("--timeout-request-headers", "1", "--timeout-keep-alive", "1", "--timeout-request-body", "1")


def test_a_slow_head_gets_408_and_is_closed(serve):
    server = serve(HELLO, *FAST)
    with RawConnection.to(server) as conn:
        conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # ... and never the blank line.
        started = time.monotonic()
        response = conn.read_response()
        waited = time.monotonic() - started
        assert response.status == 408
        assert response.body == b"Request Timeout\n"
        assert 0.8 < waited < 3
        assert conn.is_closed()


def test_slowloris_clients_are_cut_off_while_others_are_served(serve):
    """50 connections each drip a header line every 0.2 s; every one gets 408 about a
    second after it started, and meanwhile normal requests answer promptly."""
    server = serve(HELLO, *FAST)
    outcomes: list[tuple[int | None, float]] = []
    dripping: list[int] = []
    lock = threading.Lock()

    def drip() -> None:
        started = time.monotonic()
        status = None
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            try:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                with lock:
                    dripping.append(1)
                for index in range(40):
                    sock.sendall(b"X-Drip-%d: y\r\n" % index)
                    time.sleep(0.2)  # the stimulus: a client that drips its head slowly
            except OSError:
                pass  # Closed by the server: read what it said.
            try:
                data = sock.recv(200)
                status = int(data.split()[1]) if data else None
            except (OSError, IndexError, ValueError):
                status = None
        with lock:
            outcomes.append((status, time.monotonic() - started))

    threads = [threading.Thread(target=drip) for _ in range(50)]
    for thread in threads:
        thread.start()
    # Every slow client is connected and dripping before the normal requests go.
    wait_until(lambda: len(dripping) == len(threads), message="the dripping clients did not all connect")
    latencies = []
    with httpx.Client(base_url=server.url, timeout=5) as client:
        for _ in range(20):
            started = time.monotonic()
            assert client.get("/").status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.03)  # pacing: the 20 requests are spread over the dripping time
    for thread in threads:
        thread.join(15)
    assert max(latencies) < 0.5, latencies
    assert len(outcomes) == 50
    assert all(status == 408 for status, _ in outcomes), outcomes
    assert all(elapsed < 4 for _, elapsed in outcomes), outcomes


def test_an_idle_keep_alive_connection_closes_after_the_timeout(serve):
    server = serve(HELLO, *FAST)
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/").status == 200
        time.sleep(0.5)  # the stimulus: the connection idles for half the keep-alive timeout
        # Still open within the timeout: a second request on it works.
        assert conn.request("GET", "/").status == 200
        started = time.monotonic()
        assert conn.is_closed(timeout=3)
        assert 0.8 < time.monotonic() - started < 2.5


def test_a_connection_that_never_speaks_is_closed_quietly(serve):
    server = serve(HELLO, *FAST)
    with RawConnection.to(server) as conn:
        started = time.monotonic()
        assert conn.is_closed(timeout=3)
        assert conn.buffer == b""
        assert 0.8 < time.monotonic() - started < 2.5


def test_keep_alive_default_keeps_connections_open_for_a_while(serve):
    server = serve(HELLO)
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/").status == 200
        assert not conn.is_closed(timeout=2)
        assert conn.request("GET", "/").status == 200


def test_a_websocket_is_not_closed_by_the_http_timeouts(serve):
    server = serve("asgi_apps.websocket:app", *FAST)
    with connect(f"ws://{server.host}:{server.port}/echo", open_timeout=5) as websocket:
        time.sleep(2.5)  # the stimulus: idle for longer than every HTTP timeout
        websocket.send("still here")
        assert websocket.recv(timeout=5) == "echo:still here"


def test_a_head_over_the_size_limit_gets_431(serve):
    server = serve(HELLO, "--max-header-size", "8192")
    with RawConnection.to(server) as conn:
        response = conn.request("GET", "/", headers=[("X-Big", "a" * 9000)])
        assert response.status == 431
    with RawConnection.to(server) as conn:
        # Within the limit: served.
        assert conn.request("GET", "/", headers=[("X-Big", "a" * 7000)]).status == 200


@pytest.mark.parametrize("app", ["apps.mounts:legacy", "asgi:apps.mounts:api"])
@pytest.mark.parametrize("sent", [10, 200_000], ids=["during-pre-read", "while-the-app-reads"])
def test_a_stalled_body_gets_408(serve, app, sent):
    server = serve(app, *FAST)
    with RawConnection.to(server) as conn:
        conn.send(build_request("POST", "/x", headers=[("Content-Length", "300000")]) + b"y" * sent)
        started = time.monotonic()
        response = conn.read_response()
        assert response.status == 408
        assert 0.8 < time.monotonic() - started < 4
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/x", content=b"z" * 1000).json()["body_length"] == 1000


def test_the_body_timeout_can_be_set_per_mount(serve, tmp_path: Path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(
        "[[mount]]\nprefix = '/quick'\napp = 'apps.mounts:legacy'\ntimeout-request-body = 1\n"
        "[[mount]]\nprefix = '/patient'\napp = 'apps.mounts:other_legacy'\n"
    )
    server = serve("--config", str(config), bind=None, env={"AMPHICORN_BIND": "127.0.0.1:0"})
    with RawConnection.to(server) as quick, RawConnection.to(server) as patient:
        for conn, path in ((quick, "/quick/x"), (patient, "/patient/x")):
            conn.send(build_request("POST", path, headers=[("Content-Length", "100")]) + b"y" * 10)
        assert quick.read_response().status == 408
        # The other mount keeps the default (60 s): still waiting for the body.
        assert patient.recv_some(timeout=1.0) is None


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--timeout-keep-alive", "0"),
        ("--timeout-request-headers", "soon"),
        ("--timeout-request-body", "-1"),
        ("--max-header-size", "100"),
        ("--backlog", "0"),
    ],
)
def test_bad_limit_values_exit_2_naming_the_flag(run_cli, flag, value):
    result = run_cli(HELLO, flag, value)
    assert result.returncode == 2, result
    assert flag in result.stderr or flag.lstrip("-").replace("-", "_") in result.stderr, result.stderr
    assert value in result.stderr
    assert "Listening on" not in result.stderr


def test_timeouts_from_the_config_file_and_the_environment(serve, tmp_path: Path):
    config = tmp_path / "amphicorn.toml"
    config.write_text("app = 'apps.basic:hello'\ntimeout-request-headers = 1\nmax-header-size = 8192\n")
    server = serve(f"--config={config}", env={"AMPHICORN_TIMEOUT_KEEP_ALIVE": "1"})
    with RawConnection.to(server) as conn:
        conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        assert conn.read_response().status == 408
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/", headers=[("X-Big", "a" * 9000)]).status == 431
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/").status == 200
        assert conn.is_closed(timeout=3)
