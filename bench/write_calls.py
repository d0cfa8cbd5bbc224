#!/usr/bin/env python3
"""What a small response costs the kernel as one `writev` of head and body, or as one `write`.

`src/server/joined_writes.rs` copies a small head and body together and writes them with one
`write`, where hyper asks for a `writev`. This measures the two system calls alone: a
socket on loopback, the writer pinned to CPU 0 and a reader draining it on CPU 1, the
writer's CPU time per call (user + system) over ``--calls`` calls, in ``--rounds``
interleaved rounds. Python's own cost per call is in both figures alike.

    bench/.venv/bin/python bench/write_calls.py              # a hello's head and 13-byte body
    bench/.venv/bin/python bench/write_calls.py --body 3000
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time

HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\ndate: Sun, 06 Dec 2026 16:39:55 GMT\r\n\r\n"
)


def drain(port: int) -> None:
    os.sched_setaffinity(0, {1})
    with socket.create_connection(("127.0.0.1", port)) as reader:
        while reader.recv(1 << 20):
            pass


def per_call(fd: int, calls: int, parts: list[bytes], vectored: bool) -> float:
    joined = b"".join(parts)
    started = time.process_time()
    if vectored:
        for _ in range(calls):
            os.writev(fd, parts)
    else:
        for _ in range(calls):
            os.write(fd, joined)
    return (time.process_time() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--body", type=int, default=13, help="body bytes (default: a hello's 13)")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    parts = [HEAD, b"x" * args.body]
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        child = os.fork()
        if child == 0:
            try:
                drain(port)
            finally:
                os._exit(0)
        os.sched_setaffinity(0, {0})
        writer, _ = server.accept()
    writer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    figures: dict[str, list[float]] = {"writev": [], "write": []}
    with writer:
        for _ in range(args.rounds):
            figures["writev"].append(per_call(writer.fileno(), args.calls, parts, vectored=True))
            figures["write"].append(per_call(writer.fileno(), args.calls, parts, vectored=False))
    os.waitpid(child, 0)
    size = len(HEAD) + args.body
    for name, values in figures.items():
        spread = ", ".join(f"{value:.3f}" for value in values)
        print(f"{name:6} {size} bytes: median {statistics.median(values):.3f} µs per call ({spread})")


if __name__ == "__main__":
    main()
