"""RSS per connection: N idle keep-alive connections (each after one answered request),
measured at once and again once idle for longer than amphicorn's ``IDLE_PARK`` (1 s: then
they have let go of hyper's buffers), and N slow ones (a request head dripping, never
finished), each kind on a fresh server, for amphicorn (``--http auto``, one process; by
default, and with one I/O thread) and, where they are there, granian (``--runtime-mode st``)
and the bare hyper hello (``bench/hyper-hello``, built by ``bench/run.sh``: what hyper's own
state costs, one worker thread). Prints KiB per connection.

    .venv/bin/python bench/connection_memory.py --connections 2000
"""

from __future__ import annotations

import argparse
import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from support import settled_rss_kib  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The bare hyper hello's binary, once built.
HYPER_HELLO = Path(__file__).resolve().parent / "hyper-hello" / "target" / "release" / "hyper-hello"

#: Longer than amphicorn's ``IDLE_PARK`` (``src/timers.rs``).
PAST_THE_PARK = 1.5


def _start(server: str, port: int) -> subprocess.Popen[bytes]:
    if server.startswith("amphicorn"):
        cmd = [sys.executable, "-m", "amphicorn", "apps.basic:hello", "-b", f"127.0.0.1:{port}", "--http", "auto"]
        cmd += ["--timeout-request-headers", "600", "--timeout-keep-alive", "600"]
        cmd += ["--io-threads", "1"] if server == "amphicorn-1-io-thread" else []
    elif server == "hyper-hello":
        cmd = [str(HYPER_HELLO), str(port), "1"]
    else:
        cmd = [sys.executable, "-m", "granian", "--interface", "wsgi", "--runtime-mode", "st"]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "apps.basic:hello"]
    proc = subprocess.Popen(cmd, cwd=TESTS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)  # polling for the port to open
    proc.kill()
    raise SystemExit(f"{server} did not start")


def _read_response(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk


def _idle(port: int) -> socket.socket:
    """A keep-alive connection that had one request answered, now idle."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    _read_response(sock)
    return sock


def _slow(port: int) -> socket.socket:
    """A connection whose request head is still dripping in."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ")
    return sock


def _per_connection(server: str, count: int, kind, later: float = 0.0) -> float:
    """RSS growth per connection for `count` connections made by `kind`, in KiB, on a fresh
    server (so that one kind does not reuse the memory another left); measured `later`
    seconds after the last was made."""
    port = _free_port()
    proc = _start(server, port)
    try:
        # Warm up: one request, so lazily built state is not counted per connection.
        _idle(port).close()
        base = settled_rss_kib(proc.pid)
        held = [kind(port) for _ in range(count)]
        if kind is _slow:
            for sock in held:
                sock.sendall(b"a")  # one more byte of the never-ending header
        time.sleep(later)  # the connections idle on
        grown = settled_rss_kib(proc.pid) - base
        for sock in held:
            sock.close()
        return grown / count
    finally:
        proc.terminate()
        proc.wait(10)


def measure(server: str, count: int) -> dict[str, float]:
    return {
        "idle_kib_per_connection": _per_connection(server, count, _idle),
        "idle_past_1s_kib_per_connection": _per_connection(server, count, _idle, PAST_THE_PARK),
        "slow_kib_per_connection": _per_connection(server, count, _slow),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=2000)
    args = parser.parse_args()
    servers = ["amphicorn", "amphicorn-1-io-thread"] + (["granian"] if importlib.util.find_spec("granian") else [])
    servers += ["hyper-hello"] if HYPER_HELLO.exists() else []
    for server in servers:
        figures = measure(server, args.connections)
        shown = " ".join(f"{name}={value:.1f}" for name, value in figures.items())
        print(f"{server} connections={args.connections} {shown}", flush=True)


if __name__ == "__main__":
    main()
