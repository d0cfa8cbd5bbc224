"""Memory per connection (issue 18): a connection whose request head is still dripping in
(a slowloris client) costs a few KiB, not a doubled hyper read buffer, and is still served
once its head ends (``server/framing_watch.rs`` holds an unfinished head back from hyper);
a keep-alive connection idle for a second lets go of hyper's buffers
(``server/parking.rs``), and is still served.

``bench/connection_memory.py`` measures the same against granian."""

from __future__ import annotations

import contextlib
import time

import pytest
from support import RawConnection, rss_kib, settled_rss_kib

CONNECTIONS = 1000
#: KiB per slow connection allowed. Held heads cost about 3 KiB in a release build (the
#: task, hyper's write buffer's first page, tokio's registration); hyper's doubled read
#: buffer made it 16.
SLOW_LIMIT_KIB = 8
#: KiB per idle keep-alive connection allowed once parked. About 5 in a release build (the
#: task, tokio's registration, the parked read's buffer); 13.5 while hyper keeps its buffers.
IDLE_LIMIT_KIB = 8
#: How long parking (1 s after the response) and the allocator's release may take.
PARKED_WITHIN = 10


def _base_rss_kib(server) -> int:
    """The server's RSS once settled after one request (so that what is built lazily is not
    counted per connection)."""
    with RawConnection.to(server) as warm:
        assert warm.request("GET", "/").status == 200
    return settled_rss_kib(server.pid)


def test_slow_heads_cost_a_few_kib_each_and_are_served_when_they_end(serve):
    server = serve("apps.basic:hello", "--timeout-request-headers", "120")
    base = _base_rss_kib(server)
    with contextlib.ExitStack() as stack:
        slow = [stack.enter_context(RawConnection.to(server)) for _ in range(CONNECTIONS)]
        for connection in slow:
            connection.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ")
        for connection in slow:
            connection.send(b"a")  # the head goes on, in a read of its own
        per_connection = (settled_rss_kib(server.pid) - base) / CONNECTIONS
        assert per_connection < SLOW_LIMIT_KIB, f"{per_connection:.1f} KiB per slow connection"
        for connection in slow[:50]:
            connection.send(b"b\r\n\r\n")
            response = connection.read_response()
            assert (response.version, response.status) == ("HTTP/1.1", 200), "served once the head ended"


@pytest.mark.parametrize("io_threads", ["1", "2"])
def test_idle_connections_let_go_of_hyper_s_buffers_and_are_served_again(serve, io_threads):
    # With two I/O threads, a connection's buffers may belong to the heap of a thread other
    # than the one that frees them, and each heap is trimmed only by its own thread, which a
    # quiet server does not wake (``server/parking.rs``, ``server/allocator.rs``).
    server = serve("apps.basic:hello", "--timeout-keep-alive", "120", "--io-threads", io_threads)
    base = _base_rss_kib(server)
    with contextlib.ExitStack() as stack:
        idle = [stack.enter_context(RawConnection.to(server)) for _ in range(CONNECTIONS)]
        for connection in idle:
            assert connection.request("GET", "/").status == 200
        answered = time.monotonic()
        while (per_connection := (rss_kib(server.pid) - base) / CONNECTIONS) >= IDLE_LIMIT_KIB:
            assert time.monotonic() - answered < PARKED_WITHIN, f"{per_connection:.1f} KiB per idle connection"
            time.sleep(0.1)  # polling the RSS
        for connection in idle[:50]:
            response = connection.request("GET", "/")
            assert (response.status, response.body) == (200, b"Hello, world!"), "served after the park"
