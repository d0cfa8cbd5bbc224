"""--shutdown-delay: on SIGTERM readiness turns 503 at once while the server goes on serving
as usual (new connections, keep-alive) for the delay, then drains as before; a second signal
cuts the delay short. In one process (readiness read from the admin listener) and under a
supervisor (whose listening sockets stay open for the delay).
"""

from __future__ import annotations

import re
import signal
import time

import httpx
from support import wait_until

ADMIN_RE = re.compile(r"Admin listener \(.*?\) on (http://\S+)")
DELAY = 4.0
NOT_READY = "not ready from now on"


def ready_admin(server) -> str:
    """The admin listener's URL, once it says ready (a signal before that stops at once: a
    server not serving yet has nobody to warn)."""
    match = ADMIN_RE.search(server.stderr())
    assert match, server.stderr()
    admin = match.group(1)
    wait_until(lambda: httpx.get(f"{admin}/readyz").status_code == 200, message="never ready")
    return admin


def test_readiness_turns_503_at_once_and_requests_are_served_for_the_delay(serve):
    server = serve("apps.basic:hello", "--admin-bind", "127.0.0.1:0", "--shutdown-delay", str(DELAY))
    admin = ready_admin(server)
    with httpx.Client(base_url=server.url) as kept_alive:
        assert kept_alive.get("/").status_code == 200
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: httpx.get(f"{admin}/readyz").status_code == 503, message="still ready after SIGTERM")
        assert httpx.get(f"{admin}/readyz").text == "stopping\n"
        assert httpx.get(f"{admin}/healthz").status_code == 200
        # New connections (httpx.get opens one each time) and the kept-alive one are served.
        for _ in range(3):
            answer = httpx.get(server.url)
            assert (answer.status_code, answer.text) == (200, "Hello, world!")
        assert kept_alive.get("/").status_code == 200
        assert time.monotonic() - signalled < DELAY, "too slow to show anything about the delay"
        assert server.proc.poll() is None
    assert server.proc.wait(DELAY + 10) == 0
    assert time.monotonic() - signalled >= DELAY
    assert NOT_READY in server.stderr()


def test_a_second_signal_cuts_the_delay_short(serve):
    server = serve("apps.basic:hello", "--admin-bind", "127.0.0.1:0", "--shutdown-delay", "60")
    admin = ready_admin(server)
    server.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: httpx.get(f"{admin}/readyz").status_code == 503, message="still ready after SIGTERM")
    assert httpx.get(server.url).status_code == 200
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0


def test_without_a_delay_sigterm_stops_serving_at_once(serve):
    server = serve("apps.basic:hello", "--admin-bind", "127.0.0.1:0")
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0
    assert NOT_READY not in server.stderr()


def test_workers_serve_new_connections_for_the_delay_then_drain(serve):
    server = serve("apps.basic:hello", "--workers", "2", "--shutdown-delay", str(DELAY))
    assert server.wait_for(lambda text: text.count("is ready") >= 2, timeout=15), server.stderr()
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait_for_stderr(NOT_READY), server.stderr()
    for _ in range(3):
        assert httpx.get(server.url).status_code == 200
    assert time.monotonic() - signalled < DELAY, "too slow to show anything about the delay"
    assert server.proc.wait(DELAY + 15) == 0
    assert time.monotonic() - signalled >= DELAY
    assert "Worker process" in server.stderr()


def test_workers_a_second_signal_cuts_the_delay_short(serve):
    server = serve("apps.basic:hello", "--workers", "2", "--shutdown-delay", "60")
    assert server.wait_for(lambda text: text.count("is ready") >= 2, timeout=15), server.stderr()
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait_for_stderr(NOT_READY), server.stderr()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0
    assert "stopping the workers gracefully now" in server.stderr()
    assert "killing" not in server.stderr()
