"""Memory per connection (issue 18): a connection whose request head is still dripping in
(a slowloris client) costs a few KiB, not a doubled hyper read buffer, and is still served
once its head ends (``server/framing_watch.rs`` holds an unfinished head back from hyper).

``bench/connection_memory.py`` measures the same, and idle keep-alive connections, against
granian."""

from __future__ import annotations

from support import RawConnection, settled_rss_kib

CONNECTIONS = 1000
#: KiB per slow connection allowed. Held heads cost about 3 KiB in a release build (the
#: task, hyper's write buffer's first page, tokio's registration); hyper's doubled read
#: buffer made it 16.
SLOW_LIMIT_KIB = 8


def test_slow_heads_cost_a_few_kib_each_and_are_served_when_they_end(serve):
    server = serve("apps.basic:hello", "--timeout-request-headers", "120")
    with RawConnection.to(server) as warm:
        assert warm.request("GET", "/").status == 200
    base = settled_rss_kib(server.pid)
    slow: list[RawConnection] = []
    try:
        for _ in range(CONNECTIONS):
            connection = RawConnection.to(server)
            connection.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ")
            slow.append(connection)
        for connection in slow:
            connection.send(b"a")  # the head goes on, in a read of its own
        per_connection = (settled_rss_kib(server.pid) - base) / CONNECTIONS
        assert per_connection < SLOW_LIMIT_KIB, f"{per_connection:.1f} KiB per slow connection"
        for connection in slow[:50]:
            connection.send(b"b\r\n\r\n")
            response = connection.read_response()
            assert (response.version, response.status) == ("HTTP/1.1", 200), "served once the head ended"
    finally:
        for connection in slow:
            connection.close()
