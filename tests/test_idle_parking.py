"""Idle HTTP/1.1 connections let go of hyper's buffers (``server/parking.rs``): once idle
for a second, a keep-alive connection is *parked*, and everything about it behaves as
before. It serves its next requests, its keep-alive and head timers run as they did, a head
begun before the park (even one pipelined behind a request) is never cut, and a stop closes
it at once. What it saves is measured in ``test_connection_memory.py``."""

from __future__ import annotations

import json
import time

import pytest
from support import RawConnection, build_request

HELLO = "apps.basic:hello"
#: The stimulus: idle past ``IDLE_PARK`` (1 s, ``src/timers.rs``).
PAST_THE_PARK = 1.5


def test_a_parked_connection_serves_its_next_requests(serve):
    server = serve("apps.basic:environ_dump", "--timeout-keep-alive", "30")
    with RawConnection.to(server) as conn:
        for round in range(3):
            body = f"round {round}".encode() * 1000
            response = conn.request("POST", f"/?round={round}", body=body)
            assert response.status == 200
            assert json.loads(response.body)["body"] == body.decode()
            time.sleep(PAST_THE_PARK)
        assert conn.request("GET", "/").status == 200


def test_a_parked_connection_still_closes_at_its_keep_alive_time(serve):
    server = serve(HELLO, "--timeout-keep-alive", "2")
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/").status == 200
        answered = time.monotonic()
        assert conn.is_closed(timeout=5)
        assert 1.7 < time.monotonic() - answered < 3.5
        assert conn.buffer == b""


def test_a_head_begun_on_a_parked_connection_gets_408_after_the_header_timeout(serve):
    server = serve(HELLO, "--timeout-request-headers", "1", "--timeout-keep-alive", "30")
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/").status == 200
        time.sleep(PAST_THE_PARK)
        conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # ... and never the blank line.
        began = time.monotonic()
        response = conn.read_response()
        assert response.status == 408
        assert 0.8 < time.monotonic() - began < 3
        assert conn.is_closed()


@pytest.mark.parametrize("begun", [10, 10 * 1024])
def test_a_head_pipelined_before_the_park_is_never_cut(serve, begun: int):
    """The start of the next head came with the last request, and the rest comes after the
    park's time: the head is served whole, whether its start was held back from hyper
    (up to 8 KiB, ``framing_watch.rs``) or hyper's."""
    server = serve(HELLO, "--timeout-keep-alive", "30")
    with RawConnection.to(server) as conn:
        second = build_request("GET", "/second", headers=[("X-Large", "a" * 12 * 1024)])
        conn.send(build_request("GET", "/first") + second[:begun])
        assert conn.read_response().status == 200
        time.sleep(PAST_THE_PARK)
        conn.send(second[begun:])
        assert conn.read_response().status == 200
        assert conn.request("GET", "/third").status == 200


def test_a_stop_closes_a_parked_connection_and_exits_promptly(serve):
    server = serve(HELLO, "--timeout-keep-alive", "60", "--timeout-graceful-shutdown", "30")
    with RawConnection.to(server) as conn:
        assert conn.request("GET", "/").status == 200
        time.sleep(PAST_THE_PARK)
        started = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - started < 5, "a parked connection must not hold the drain"
        assert conn.is_closed(timeout=1)
