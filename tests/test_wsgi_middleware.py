"""``amphicorn.WSGIMiddleware``: the Rust WSGI bridge as an ASGI app, under uvicorn (a server
that is not ours) and mounted inside Starlette, served by uvicorn and by amphicorn.

uvicorn runs in a subprocess on a port picked here (it cannot report a port it chose)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import StderrCollector
from support import TESTS_DIR, RawConnection, server_env, wait_for_file
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

BLOCK = bytes(range(256)) * 256


class UvicornServer:
    def __init__(self, app: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        command = [sys.executable, "-m", "uvicorn", app, "--port", str(self.port), "--log-level", "info"]
        self.proc = subprocess.Popen(
            command, cwd=TESTS_DIR, env=server_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        self._collector = StderrCollector(self.proc.stderr)
        if not self._collector.wait_for(lambda text: "Uvicorn running on" in text, 15):
            self.stop()
            pytest.fail(f"uvicorn did not start:\n{self._collector.text()}")

    def stderr(self) -> str:
        return self._collector.text()

    def wait_for_stderr(self, needle: str, timeout: float = 5.0) -> bool:
        return self._collector.wait_for(lambda text: needle in text, timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._collector.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def uvicorn():
    servers: list[UvicornServer] = []

    def start(app: str) -> UvicornServer:
        servers.append(UvicornServer(app))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=["uvicorn", "amphicorn"])
def asgi_server(request, uvicorn, serve):
    """Starts an ASGI app spec under uvicorn or under amphicorn."""
    if request.param == "uvicorn":
        return uvicorn
    return serve


# --- the bridged WSGI app on its own, under uvicorn -------------------------------------


def test_environ_under_uvicorn(uvicorn):
    server = uvicorn("apps.bridged:app")
    response = httpx.get(
        f"{server.url}/environ?name=caf%C3%A9&x=1",
        headers={"X-Custom": "yes"},
        cookies={"a": "1"},
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["REQUEST_METHOD"] == "GET"
    assert seen["SCRIPT_NAME"] == ""
    assert seen["PATH_INFO"] == "/environ"
    assert seen["QUERY_STRING"] == "name=caf%C3%A9&x=1"
    assert seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["SERVER_NAME"] == "127.0.0.1"
    assert seen["SERVER_PORT"] == str(server.port)
    assert seen["REMOTE_ADDR"] == "127.0.0.1"
    assert seen["HTTP_X_CUSTOM"] == "yes"
    assert seen["HTTP_COOKIE"] == "a=1"
    assert seen["CONTENT_LENGTH"] is None
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["multithread"] is True
    # The app runs on the bridge's own pool, not on the event loop's thread.
    assert seen["thread"] != "MainThread"


def test_upload_streams_through_wsgi_input_under_uvicorn(uvicorn):
    server = uvicorn("apps.bridged:app")
    body = BLOCK * 64  # 4 MiB: many http.request messages, more than the feed holds at once.

    def chunks():
        for start in range(0, len(body), 100_000):
            yield body[start : start + 100_000]

    response = httpx.post(f"{server.url}/echo", content=chunks(), timeout=30)
    assert response.json() == {"size": len(body), "crc": zlib.crc32(body)}
    small = httpx.post(f"{server.url}/echo", content=b"tiny body")
    assert small.json() == {"size": 9, "crc": zlib.crc32(b"tiny body")}


def test_streamed_and_head_responses_under_uvicorn(uvicorn):
    server = uvicorn("apps.bridged:app")
    with httpx.stream("GET", f"{server.url}/stream") as response:
        data = b"".join(response.iter_bytes())
        assert response.headers.get("transfer-encoding") == "chunked"
    assert data == BLOCK * 16
    hello = httpx.get(f"{server.url}/")
    assert hello.text == "Hello, world!"
    assert hello.headers["content-length"] == "13"
    head = httpx.head(f"{server.url}/")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == "13"


def test_app_exception_is_a_500_with_a_traceback_under_uvicorn(uvicorn):
    server = uvicorn("apps.bridged:app")
    response = httpx.get(f"{server.url}/boom")
    assert response.status_code == 500
    assert server.wait_for_stderr("bridged-view-failure-marker")
    assert "Traceback" in server.stderr()
    assert httpx.get(f"{server.url}/").status_code == 200


def test_a_full_queue_answers_503_under_uvicorn(uvicorn):
    server = uvicorn("apps.bridged:small_app")
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: httpx.get(f"{server.url}/slow?seconds=1", timeout=10), range(4)))
    statuses = sorted(response.status_code for response in responses)
    # One request runs, one waits in the queue; the others wait 0.3 s for room and give up.
    assert statuses.count(200) >= 1
    assert statuses.count(503) >= 1
    overloaded = next(response for response in responses if response.status_code == 503)
    assert overloaded.headers["retry-after"] == "1"


def test_disconnect_is_visible_to_the_app_under_uvicorn(uvicorn, tmp_path):
    server = uvicorn("apps.bridged:app")
    record = tmp_path / "record.txt"
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(f"GET /wait-for-disconnect?record={record} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        # The client leaves once the request is inside the app.
        assert wait_for_file(record, lambda text: "started" in text), "the request never reached the app"
    assert wait_for_file(record, lambda text: "disconnected=" in text) == "started\ndisconnected=True\n"


def test_each_of_several_waiting_requests_sees_its_client_leave_under_uvicorn(uvicorn, tmp_path):
    # Requests that began at different times are watched by one timer per loop, each at its
    # own time: the later ones too, after the first has been watched.
    server = uvicorn("apps.bridged:app")
    records = [tmp_path / f"record-{index}.txt" for index in range(3)]
    connections = []
    try:
        for record in records:
            conn = socket.create_connection(("127.0.0.1", server.port))
            connections.append(conn)
            conn.sendall(f"GET /wait-for-disconnect?record={record} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert wait_for_file(record, lambda text: "started" in text), "the request never reached the app"
    finally:
        for conn in reversed(connections):
            conn.close()
    for record in records:
        assert wait_for_file(record, lambda text: "disconnected=" in text) == "started\ndisconnected=True\n"


# --- mounted inside Starlette, under uvicorn and under amphicorn -------------------------


def test_mounted_in_starlette_gets_the_prefix(asgi_server):
    server = asgi_server("asgi_apps.bridged_starlette:app")
    assert httpx.get(f"{server.url}/").text == "starlette home"
    seen = httpx.get(f"{server.url}/legacy/environ?q=1").json()
    assert seen["SCRIPT_NAME"] == "/legacy"
    assert seen["PATH_INFO"] == "/environ"
    assert seen["QUERY_STRING"] == "q=1"
    response = httpx.get(f"{server.url}/legacy/caf%C3%A9/x")
    assert response.text == "Hello, world!"


def test_contextvars_set_by_asgi_middleware_are_visible(asgi_server):
    server = asgi_server("asgi_apps.bridged_starlette:app")
    seen = httpx.get(f"{server.url}/legacy/environ").json()
    assert seen["request_tag"] == "tagged http /legacy/environ"


def test_flask_builds_urls_with_the_mount_prefix(asgi_server):
    server = asgi_server("asgi_apps.bridged_starlette:app")
    links = httpx.get(f"{server.url}/flask/links").json()
    assert links["relative"] == "/flask/greet?name=Ada"
    assert links["external"].endswith("/flask/greet?name=Ada")
    form = httpx.post(f"{server.url}/flask/form", data={"name": "Zoë", "colour": ["red", "blue"]})
    expected = {"name": "Zoë", "colours": ["red", "blue"], "content_type": "application/x-www-form-urlencoded"}
    assert form.json() == expected
    redirect = httpx.get(f"{server.url}/flask/go")
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "/flask/"


def test_upload_and_stream_inside_starlette(asgi_server):
    server = asgi_server("asgi_apps.bridged_starlette:app")
    body = BLOCK * 16
    echoed = httpx.post(f"{server.url}/legacy/echo", content=body, timeout=30).json()
    assert echoed == {"size": len(body), "crc": zlib.crc32(body)}
    streamed = httpx.get(f"{server.url}/legacy/stream", timeout=30)
    assert streamed.content == BLOCK * 16


def test_websocket_handshake_is_refused_under_uvicorn(uvicorn):
    """WSGI has no WebSockets: the middleware closes the handshake, which uvicorn answers 403."""
    server = uvicorn("apps.bridged:app")
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{server.port}/", open_timeout=5).close()
    assert refused.value.response.status_code == 403
    assert httpx.get(f"{server.url}/").status_code == 200


def test_bad_thread_counts_and_queue_settings_are_rejected():
    from amphicorn import WSGIMiddleware

    with pytest.raises(ValueError, match="threads must be a positive integer, not 0"):
        WSGIMiddleware(lambda environ, start_response: [], threads=0)
    with pytest.raises(ValueError, match="queue_size must be a positive integer, not 0"):
        WSGIMiddleware(lambda environ, start_response: [], queue_size=0)
    with pytest.raises(ValueError, match="queue_size must be a positive integer, not '8'"):
        WSGIMiddleware(lambda environ, start_response: [], queue_size="8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="queue_timeout must be a positive number of seconds, not -1"):
        WSGIMiddleware(lambda environ, start_response: [], queue_timeout=-1)
    # The server's own defaults: --queue-size 1024, --queue-timeout 30.
    middleware = WSGIMiddleware(lambda environ, start_response: [])
    assert (middleware.threads, middleware.queue_size, middleware.queue_timeout) == (10, 1024, 30.0)
    with pytest.raises(TypeError, match="threads or workers"):
        WSGIMiddleware(lambda environ, start_response: [], threads=1, workers=2)


def test_responses_stay_correct_under_concurrency(uvicorn):
    server = uvicorn("apps.bridged:app")
    with httpx.Client(base_url=server.url, timeout=30) as client, ThreadPoolExecutor(8) as pool:
        bodies = [BLOCK[: 1000 + index] for index in range(40)]
        results = list(pool.map(lambda body: client.post("/echo", content=body).json(), bodies))
    assert results == [{"size": len(body), "crc": zlib.crc32(body)} for body in bodies]
    assert json.loads(httpx.get(f"{server.url}/environ").text)["PATH_INFO"] == "/environ"


def test_a_full_queue_under_load_never_stalls(uvicorn):
    """64 keep-alive clients against 2 threads and 2 queue places: requests wait for room and
    all get answered. (A waker that took the GIL while async-channel held its lock deadlocked
    with the loop waiting for that lock: this answered 0 of 3,200 before the fix.)"""
    server = uvicorn("apps.bridged:tight_app")

    def client(_: int) -> int:
        answered = 0
        with RawConnection.to(server, timeout=10) as conn:
            for _ in range(50):
                if conn.request("GET", "/").body == b"Hello, world!":
                    answered += 1
        return answered

    with ThreadPoolExecutor(64) as pool:
        answered = sum(pool.map(client, range(64)))
    assert answered == 64 * 50


# --- the pool and the loop in one process ------------------------------------------------


def _drive(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "apps.middleware_driver", *args]
    return subprocess.run(command, cwd=TESTS_DIR, env=server_env(), capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CPU affinity and /proc")
def test_on_one_core_a_pool_thread_runs_the_queued_jobs_in_a_row():
    """64 concurrent hellos, the loop and the pool sharing one CPU: a pool thread runs the
    jobs queued meanwhile before it lets the woken loop have the GIL (`loop_wait` in
    `wsgi/pool.rs`). Stepping aside after every job made 2.5-4 context switches per request;
    now 0.09."""
    result = _drive("switches", "64", "6400")
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) < 1.0


def test_a_forked_child_serves_from_a_pool_of_its_own():
    """A pool started before a fork has no threads in the child: the middleware starts a new
    one there (counted with `os.register_at_fork`, not a `getpid` per request)."""
    result = _drive("fork")
    assert result.returncode == 0, result.stderr
