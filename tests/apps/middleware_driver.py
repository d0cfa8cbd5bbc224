"""Runs ``WSGIMiddleware`` without a server, for the tests that need a process of their own.

``python -m apps.middleware_driver switches CONCURRENCY REQUESTS``: serves a hello to that many
concurrent ASGI calls on this process's first CPU alone, and prints the context switches the
process made per request (every thread's, from ``/proc``).

``python -m apps.middleware_driver fork``: serves one request, forks, and serves one in the
child; exits 0 when the child got its answer from its own pool.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from amphicorn import WSGIMiddleware


def hello(environ, start_response):
    start_response("200 OK", [("content-type", "text/plain")])
    return [f"hello from {os.getpid()}".encode()]


SCOPE = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
    "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "", "headers": [(b"host", b"driver")],
    "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
}  # fmt: skip


async def call(app) -> bytes:
    """One request as uvicorn makes it: ``receive`` answers the body, then waits until the
    response is complete; returns the response body."""
    complete = asyncio.Event()
    messages = [{"type": "http.request", "body": b"", "more_body": False}]
    body = []

    async def receive():
        if messages:
            return messages.pop()
        await complete.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))
            if not message.get("more_body"):
                complete.set()

    await app(dict(SCOPE), receive, send)
    return b"".join(body)


def switches() -> int:
    total = 0
    for task in Path("/proc/self/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if "ctxt_switches:" in line:
                total += int(line.split()[1])
    return total


async def load(app, concurrency: int, requests: int) -> float:
    async def client(count: int) -> None:
        for _ in range(count):
            assert (await call(app)).startswith(b"hello")

    each = requests // concurrency
    await asyncio.gather(*(client(each) for _ in range(concurrency)))  # The pool starts; caches warm.
    before = switches()
    await asyncio.gather(*(client(each) for _ in range(concurrency)))
    return (switches() - before) / (each * concurrency)


def main() -> int:
    app = WSGIMiddleware(hello, threads=10)
    if sys.argv[1] == "switches":
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # Threads started later inherit it.
        print(f"{asyncio.run(load(app, int(sys.argv[2]), int(sys.argv[3]))):.3f}")
        return 0
    expected = f"hello from {os.getpid()}".encode()
    assert asyncio.run(asyncio.wait_for(call(app), 10)) == expected
    child = os.fork()
    if child == 0:
        try:
            answer = asyncio.run(asyncio.wait_for(call(app), 10))
        except BaseException as error:  # The child reports through its exit status.
            print(f"the child got no answer: {error!r}", file=sys.stderr)
            os._exit(1)
        os._exit(0 if answer == f"hello from {os.getpid()}".encode() else 1)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
