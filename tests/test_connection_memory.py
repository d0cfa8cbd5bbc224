"""Memory per connection (issue 18): a connection whose request head is still dripping in
(a slowloris client) costs a few KiB, not a doubled hyper read buffer, and is still served
once its head ends (``server/framing_watch.rs`` holds an unfinished head back from hyper).

``bench/connection_memory.py`` measures the same, and idle keep-alive connections, against
granian."""

from __future__ import annotations

import socket

from support import settled_rss_kib

CONNECTIONS = 1000
#: KiB per slow connection allowed. Held heads cost about 3 KiB in a release build (the
#: task, hyper's write buffer's first page, tokio's registration); hyper's doubled read
#: buffer made it 16.
SLOW_LIMIT_KIB = 8


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def test_slow_heads_cost_a_few_kib_each_and_are_served_when_they_end(serve):
    server = serve("apps.basic:hello", "--timeout-request-headers", "120")
    address = ("127.0.0.1", server.port)
    with socket.create_connection(address) as warm:
        warm.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        _read_response(warm)
    base = settled_rss_kib(server.pid)
    slow = []
    try:
        for _ in range(CONNECTIONS):
            sock = socket.create_connection(address)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ")
            slow.append(sock)
        for sock in slow:
            sock.sendall(b"a")  # the head goes on, in a read of its own
        per_connection = (settled_rss_kib(server.pid) - base) / CONNECTIONS
        assert per_connection < SLOW_LIMIT_KIB, f"{per_connection:.1f} KiB per slow connection"
        for sock in slow[:50]:
            sock.sendall(b"b\r\n\r\n")
            assert _read_response(sock).startswith(b"HTTP/1.1 200 "), "served once the head ended"
    finally:
        for sock in slow:
            sock.close()
