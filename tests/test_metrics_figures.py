"""The admin listener's figures beyond requests and refusals (tests/test_admin.py): each WSGI
mount's pool and queue, fallback replays, open WebSockets, body bytes, connections by
protocol, dropped access-log lines, and ``GET /status``, each checked against the exact
traffic the test sent, the exposition parsed by the official ``prometheus_client`` parser."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from admin_support import admin_url, sample, scrape
from amphicorn import __version__
from support import wait_for_file, wait_until
from tls_support import client_context, tls_args, write_pair
from websockets.sync.client import connect

FALLBACK_CONFIG = """
[[mount]]
prefix = "/"
app = "wsgi:apps.admin:wsgi_app"
name = "legacy"

[[mount]]
prefix = "/api"
app = "asgi:apps.admin:asgi_app"
fallback = "legacy"
"""


def test_a_wsgi_pool_shows_its_busy_thread_and_the_request_queued_behind_it(serve, tmp_path: Path):
    server = serve(None, "--mount", "/legacy=wsgi:apps.admin:wsgi_app", "--threads", "1", "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    samples = scrape(admin)
    assert sample(samples, "amphicorn_wsgi_threads", mount="/legacy", state="busy") == 0
    assert sample(samples, "amphicorn_wsgi_threads", mount="/legacy", state="idle") == 1
    assert sample(samples, "amphicorn_wsgi_queue_depth", mount="/legacy") == 0
    assert sample(samples, "amphicorn_wsgi_queue_wait_seconds_count", mount="/legacy") == 0

    started, release = tmp_path / "started", tmp_path / "release"
    answers: list[int] = []

    def get(path: str) -> None:
        answers.append(httpx.get(f"{server.url}{path}", timeout=30).status_code)

    held = threading.Thread(target=get, args=(f"/legacy/hold?record={started}&release={release}",))
    held.start()
    wait_for_file(started, lambda text: "started" in text)
    waiting = threading.Thread(target=get, args=("/legacy/",))
    waiting.start()

    def queued() -> dict | None:
        samples = scrape(admin)
        return samples if sample(samples, "amphicorn_wsgi_queue_depth", mount="/legacy") == 1 else None

    try:
        samples = wait_until(queued, message="the second request never showed in the queue")
        assert sample(samples, "amphicorn_wsgi_threads", mount="/legacy", state="busy") == 1
        assert sample(samples, "amphicorn_wsgi_threads", mount="/legacy", state="idle") == 0
        status = httpx.get(f"{admin}/status").json()
        assert status["mounts"]["/legacy"]["wsgi"] == {"threads": {"busy": 1, "idle": 0}, "queue_depth": 1}
        assert status["mounts"]["/legacy"]["in_flight"] == 2
    finally:  # the held request ends in every case, so no client thread outlives the test
        release.touch()
        held.join(10)
        waiting.join(10)
    assert answers == [200, 200]

    def drained() -> dict | None:
        samples = scrape(admin)
        done = sample(samples, "amphicorn_wsgi_threads", mount="/legacy", state="busy") == 0
        return samples if done and sample(samples, "amphicorn_wsgi_queue_depth", mount="/legacy") == 0 else None

    samples = wait_until(drained, message="the pool never went idle")
    assert sample(samples, "amphicorn_wsgi_threads", mount="/legacy", state="idle") == 1
    # Both requests went through the queue; the second waited for the first to finish.
    assert sample(samples, "amphicorn_wsgi_queue_wait_seconds_count", mount="/legacy") == 2
    assert sample(samples, "amphicorn_wsgi_queue_wait_seconds_sum", mount="/legacy") > 0
    assert httpx.get(f"{admin}/status").json()["mounts"]["/legacy"]["wsgi"]["threads"] == {"busy": 0, "idle": 1}


def test_replays_websockets_bytes_and_connections_are_counted_as_sent(serve, tmp_path: Path):
    config = tmp_path / "amphicorn.toml"
    config.write_text(FALLBACK_CONFIG)
    server = serve(f"--config={config}", "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    big = b"b" * (200 * 1024)  # past the 64 KiB pre-read: streamed to the app
    with httpx.Client(base_url=server.url) as client:
        for _ in range(2):  # /api says 404: replayed on / (legacy), which answers "wsgi"
            answer = client.get("/api/old")
            assert (answer.status_code, answer.text) == (200, "wsgi")
        assert client.get("/api/x").text == "asgi"  # no replay
        assert client.post("/echo", content=b"e" * 1000).content == b"e" * 1000
        assert client.post("/echo", content=big).content == big
        # One HTTP/1.1 connection is open while this client keeps it.
        samples = scrape(admin)
        assert sample(samples, "amphicorn_connections_open", protocol="http1", tls="false") == 1
    with httpx.Client(base_url=server.url, http1=False, http2=True) as h2:
        for _ in range(2):
            assert h2.get("/api/x").text == "asgi"
        samples = scrape(admin)
        assert sample(samples, "amphicorn_connections_open", protocol="http2", tls="false") == 1

    host = server.url.removeprefix("http://")
    with connect(f"ws://{host}/api/ws") as websocket:
        websocket.send("hello")
        assert websocket.recv(timeout=10) == "hello"
        samples = scrape(admin)
        assert sample(samples, "amphicorn_websockets_open", mount="/api") == 1
        assert sample(samples, "amphicorn_websockets_open", mount="/") == 0

    def settled() -> dict | None:
        samples = scrape(admin)
        quiet = sample(samples, "amphicorn_websockets_open", mount="/api") == 0
        quiet &= all(
            sample(samples, "amphicorn_connections_open", protocol=protocol, tls="false") == 0
            for protocol in ("http1", "http2")
        )
        streamed = sample(samples, "amphicorn_request_body_bytes_total", mount="/") == 1000 + len(big)
        return samples if quiet and streamed else None

    samples = wait_until(settled, message="the WebSocket, connections or streamed body were never settled")
    assert sample(samples, "amphicorn_fallback_replays_total", mount="/api", fallback="/") == 2
    assert not [labels for name, labels in samples if name == "amphicorn_fallback_replays_total" and len(labels) != 2]
    assert [dict(labels) for name, labels in samples if name == "amphicorn_fallback_replays_total"] == [
        {"mount": "/api", "fallback": "/"}
    ]  # no series for a mount without a fallback
    assert sample(samples, "amphicorn_request_body_bytes_total", mount="/api") == 0
    # The replays' answers ("wsgi" twice) count under the mount that answered them.
    assert sample(samples, "amphicorn_response_body_bytes_total", mount="/") == 8 + 1000 + len(big)
    assert sample(samples, "amphicorn_response_body_bytes_total", mount="/api") == 3 * len("asgi")
    # The HTTP/1.1 client's connection and the WebSocket's; the HTTP/2 client's one.
    assert sample(samples, "amphicorn_connections_accepted_total", protocol="http1", tls="false") == 2
    assert sample(samples, "amphicorn_connections_accepted_total", protocol="http2", tls="false") == 1
    assert sample(samples, "amphicorn_connections_accepted_total", protocol="http1", tls="true") == 0
    assert sample(samples, "amphicorn_access_log_dropped_lines_total") == 0
    duration = "http_server_request_duration_seconds_count"
    labels = {"interface": "wsgi", "http_response_status_code": "200"}
    assert sample(samples, duration, mount="/", http_request_method="GET", **labels) == 2
    assert sample(samples, duration, mount="/", http_request_method="POST", **labels) == 2

    status = httpx.get(f"{admin}/status").json()
    legacy, api = status["mounts"]["/"], status["mounts"]["/api"]
    assert legacy["interface"] == "wsgi"
    assert legacy["requests"] == {"total": 4, "1xx": 0, "2xx": 4, "3xx": 0, "4xx": 0, "5xx": 0}
    assert "fallback_replays" not in legacy
    assert (legacy["request_body_bytes"], legacy["response_body_bytes"]) == (1000 + len(big), 8 + 1000 + len(big))
    assert legacy["wsgi"]["queue_depth"] == 0
    assert api["interface"] == "asgi"
    # Three plain GETs, two over HTTP/2, and the WebSocket's handshake (101).
    assert api["requests"] == {"total": 4, "1xx": 1, "2xx": 3, "3xx": 0, "4xx": 0, "5xx": 0}
    assert (api["fallback_replays"], api["websockets_open"], api["in_flight"]) == (2, 0, 0)
    assert api["refused"] == {"concurrency_limit": 0, "body_too_large": 0, "body_timeout": 0, "bad_body": 0}
    assert "wsgi" not in api
    assert status["requests"] == 8
    assert status["refused"]["no_mount"] == 0


def test_tls_connections_are_counted_by_the_protocol_alpn_chose(serve, ca, tmp_path: Path):
    pair = write_pair(tmp_path, ca.issue_cert("127.0.0.1"), "server")
    server = serve("apps.admin:wsgi_app", *tls_args(pair), "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    for http2, requests in ((False, 3), (True, 2)):
        with httpx.Client(verify=client_context(ca), http1=not http2, http2=http2) as client:
            for _ in range(requests):
                assert client.get(f"{server.url}/").http_version == ("HTTP/2" if http2 else "HTTP/1.1")

    def closed() -> dict | None:
        samples = scrape(admin)
        open_connections = [value for (name, _), value in samples.items() if name == "amphicorn_connections_open"]
        return samples if not any(open_connections) else None

    samples = wait_until(closed, message="the TLS connections never closed")
    accepted = "amphicorn_connections_accepted_total"
    assert sample(samples, accepted, protocol="http1", tls="true") == 1
    assert sample(samples, accepted, protocol="http2", tls="true") == 1
    assert sample(samples, accepted, protocol="http1", tls="false") == 0
    assert sample(samples, accepted, protocol="http2", tls="false") == 0


def test_status_reports_the_process(serve):
    server = serve("apps.admin:wsgi_app", "--admin-bind", "127.0.0.1:0")
    admin = admin_url(server)
    with httpx.Client(base_url=server.url) as client:
        for _ in range(3):
            assert client.get("/").status_code == 200
        assert client.get("/missing").status_code == 404
    answer = httpx.get(f"{admin}/status")
    assert answer.headers["content-type"] == "application/json"
    status = answer.json()
    assert status["version"] == __version__
    assert status["pid"] == server.proc.pid
    assert status["uptime_seconds"] > 0
    assert status["rss_bytes"] > 1024 * 1024
    # A request is recorded when its response body ends, a moment after the client has it.
    wait_until(lambda: httpx.get(f"{admin}/status").json()["requests"] == 4, message="never 4 requests")
    mount = httpx.get(f"{admin}/status").json()["mounts"]["/"]
    assert (mount["requests"]["2xx"], mount["requests"]["4xx"]) == (3, 1)
    assert httpx.post(f"{admin}/status").status_code == 405
