"""Helpers shared by the test files: a raw HTTP/1.x client, clients that pause on kept-alive
connections, worker pids, RSS sampling, file polling.

The raw client exists because httpx hides the wire: chunk framing, ``100 Continue``,
pipelining, HTTP/1.0 close-delimited bodies, malformed input and half-finished responses.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import select
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent

# `Listening on http://127.0.0.1:8000`, `Listening on http://[::1]:8000`, `https://` with TLS
LISTENING_RE = re.compile(r"Listening on (https?://(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):(\d+))")
#: What the supervisor logs once a worker (``-w N``) serves.
WORKER_READY_RE = re.compile(r"Worker process (\d+) is ready")


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a server or CLI process: ours, minus any AMPHICORN_* setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPHICORN_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONWARNINGS", None)
    if extra:
        env.update(extra)
    return env


class ConnectionClosed(Exception):
    """The peer closed the connection before a full response head arrived."""


@dataclass
class RawResponse:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunked: bool = False
    chunk_sizes: list[int] = field(default_factory=list)
    complete: bool = True
    #: The trailer section of a chunked body, as (name, value) pairs.
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of ``name`` (case-insensitive), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def build_request(
    method: str = "GET",
    path: str = "/",
    *,
    host: str = "127.0.0.1",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    version: str = "HTTP/1.1",
    content_length: bool | None = None,
) -> bytes:
    """Bytes of one request; adds ``Host`` and (for a non-empty body) ``Content-Length``."""
    headers = list(headers or [])
    names = {name.lower() for name, _ in headers}
    lines = [f"{method} {path} {version}"]
    if "host" not in names:
        lines.append(f"Host: {host}")
    if content_length is None:
        content_length = bool(body) and "transfer-encoding" not in names
    if content_length and "content-length" not in names:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*parts: bytes) -> bytes:
    """A chunked-encoded body made of ``parts`` (empty parts are skipped) plus the last chunk."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p)
    return out + b"0\r\n\r\n"


class RawConnection:
    """A TCP connection with a small HTTP/1.x response parser on top."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buffer = b""
        self.eof = False

    @classmethod
    def to(cls, server, timeout: float = 10.0) -> RawConnection:
        return cls(server.host.strip("[]"), server.port, timeout)

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, *args, **kwargs) -> RawResponse:
        """Send one request built by :func:`build_request` and read its response."""
        head = kwargs.get("method", args[0] if args else "GET") == "HEAD"
        self.send(build_request(*args, **kwargs))
        return self.read_response(head=head)

    def _fill(self, timeout: float | None = None) -> bool:
        """Read more bytes into the buffer; False at EOF (or a reset)."""
        if self.eof:
            return False
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def recv_some(self, timeout: float) -> bytes | None:
        """Whatever arrives within ``timeout`` (b"" at EOF), or None if nothing did."""
        if self.buffer:
            data, self.buffer = self.buffer, b""
            return data
        try:
            if not self._fill(timeout):
                return b""
        except TimeoutError:
            return None
        data, self.buffer = self.buffer, b""
        return data

    def _read_until(self, marker: bytes) -> bytes | None:
        while marker not in self.buffer:
            if not self._fill():
                return None
        index = self.buffer.index(marker) + len(marker)
        data, self.buffer = self.buffer[:index], self.buffer[index:]
        return data

    def _read_exact(self, n: int) -> bytes | None:
        while len(self.buffer) < n:
            if not self._fill():
                return None
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_head(self) -> RawResponse:
        raw = self._read_until(b"\r\n\r\n")
        if raw is None:
            raise ConnectionClosed(f"connection closed before a response head: {self.buffer!r}")
        lines = raw[:-4].decode("latin-1").split("\r\n")
        match = re.match(r"(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not match:
            raise AssertionError(f"bad status line {lines[0]!r}")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name, value.strip()))
        return RawResponse(match.group(1), int(match.group(2)), match.group(3) or "", headers)

    def read_response(self, head: bool = False, skip_interim: bool = True) -> RawResponse:
        """Read one response; a body cut short comes back with ``complete=False``."""
        response = self.read_head()
        while skip_interim and 100 <= response.status < 200:
            response = self.read_head()
        if head or response.status in (204, 304) or 100 <= response.status < 200:
            return response
        encoding = (response.header("transfer-encoding") or "").lower()
        length = response.header("content-length")
        if "chunked" in encoding:
            response.chunked = True
            parts = []
            while True:
                size_line = self._read_until(b"\r\n")
                if size_line is None:
                    response.complete = False
                    break
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    trailer_end = self._read_until(b"\r\n")
                    while trailer_end not in (None, b"\r\n"):
                        name, _, value = trailer_end.decode("latin-1").partition(":")
                        response.trailers.append((name, value.strip()))
                        trailer_end = self._read_until(b"\r\n")
                    response.complete = trailer_end is not None
                    break
                data = self._read_exact(size + 2)
                if data is None:
                    parts.append(self.buffer)
                    self.buffer = b""
                    response.complete = False
                    break
                response.chunk_sizes.append(size)
                parts.append(data[:-2])
            response.body = b"".join(parts)
        elif length is not None:
            data = self._read_exact(int(length))
            if data is None:
                data, self.buffer = self.buffer, b""
                response.complete = False
            response.body = data
        else:
            while self._fill():
                pass
            response.body, self.buffer = self.buffer, b""
        return response

    def is_closed(self, timeout: float = 3.0) -> bool:
        """True if the peer closes (EOF or reset) within ``timeout`` with no more data sent."""
        if self.buffer:
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not self._fill(max(0.01, deadline - time.monotonic())):
                    return True
            except TimeoutError:
                return False
            if self.buffer:
                return False
        return False

    def peer_closed(self) -> bool:
        """True if the peer has already closed the connection (its FIN or a reset arrived),
        without waiting: what a client looks at before it reuses a kept-alive connection, as
        urllib3 and httpcore do."""
        if self.buffer:
            return False
        if self.eof:
            return True
        readable, _, _ = select.select([self.sock], [], [], 0)
        if not readable:
            return False
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class ClientThreads:
    """Client threads that run ``self._run(index)`` until the ``with`` block ends; a
    subclass says what each does (``self._stop`` is set when it should return)."""

    def __init__(self, threads: int) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, index: int) -> None:
        raise NotImplementedError

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


class PausingClients(ClientThreads):
    """Threads that each keep one connection alive and pause between GETs of ``/`` (``pauses``:
    the range, in seconds, each pause is drawn from), as browsers and connection pools do. Raw
    sockets, so that no client library retries behind the test's back. Each request ends one
    of three ways:

    - answered (``answers``, the times): a 200; a connection answered with
      ``Connection: close`` is closed, and the next request opens a new one;
    - ``refused``: a new connection was refused, so the request was never sent (the time of
      each refusal is recorded);
    - ``failures``: it was sent and got no answer (a close, a reset or a timeout instead), or
      another status than 200.

    Before reusing its connection a client looks whether the server closed it while the client
    paused; if so (``idle_closes``, the times it happened) it sends on a new connection."""

    def __init__(self, server, threads: int = 8, pauses: tuple[float, float] = (0.05, 0.2)) -> None:
        super().__init__(threads)
        self.server = server
        self.pauses = pauses
        self.answers: list[float] = []
        self.failures: list[str] = []
        self.refused: list[float] = []
        self.idle_closes: list[float] = []
        self._lock = threading.Lock()

    def _run(self, seed: int) -> None:
        pauses = random.Random(seed)
        conn: RawConnection | None = None
        while not self._stop.is_set():
            if conn is not None and conn.peer_closed():
                with self._lock:
                    self.idle_closes.append(time.monotonic())
                conn.close()
                conn = None
            try:
                conn = conn or RawConnection.to(self.server, timeout=10)
            except ConnectionRefusedError:
                with self._lock:
                    self.refused.append(time.monotonic())
                self._stop.wait(pauses.uniform(*self.pauses))  # the pause before trying again
                continue
            try:
                conn.send(build_request("GET", "/"))
                response = conn.read_response()
            except (ConnectionClosed, OSError) as exc:
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = None
                continue
            with self._lock:
                if response.status == 200:
                    self.answers.append(time.monotonic())
                else:
                    self.failures.append(f"status {response.status}")
            if (response.header("connection") or "").lower() == "close":
                conn.close()
                conn = None
            # The stimulus: an idle kept-alive connection, as between a browser's clicks.
            self._stop.wait(pauses.uniform(*self.pauses))
        if conn is not None:
            conn.close()

    @property
    def answered(self) -> int:
        return len(self.answers)

    def wait_answered(self, count: int, timeout: float = 15.0) -> None:
        """Waits until ``count`` more requests have been answered."""
        target = self.answered + count
        wait_until(lambda: self.answered >= target, timeout=timeout, message=f"{count} more answers never came")


def ready_worker_pids(server, count: int, exclude: Collection[int] = (), timeout: float = 15.0) -> list[int]:
    """Waits until ``count`` workers not in ``exclude`` have logged that they are ready
    (``-w N``), failing the test after ``timeout`` s; returns their pids in that order."""

    def found(text: str) -> list[int]:
        return [pid for pid in map(int, WORKER_READY_RE.findall(text)) if pid not in exclude]

    assert server.wait_for(lambda text: len(found(text)) >= count, timeout), server.stderr()
    return found(server.stderr())[:count]


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs; an exited process not yet reaped (a zombie) is not alive."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


#: A server's descriptor limit under ``low_descriptor_limit``: enough for the interpreter, the
#: runtime and a few connections, few enough to run out fast.
DESCRIPTOR_LIMIT = 64
#: What the server logs when accept() fails for want of descriptors.
OUT_OF_DESCRIPTORS = "Out of file descriptors"


def low_descriptor_limit() -> None:
    """A server's ``preexec_fn``: its descriptor limit lowered to ``DESCRIPTOR_LIMIT``."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTOR_LIMIT, DESCRIPTOR_LIMIT))


def exhaust_descriptors(server) -> list[RawConnection]:
    """Opens connections to ``server`` (started with ``low_descriptor_limit``) until it logs
    that it ran out of descriptors, and returns them for the caller to close. Each connection
    the server accepts holds one of its descriptors; those past the limit wait in the listen
    backlog."""
    held: list[RawConnection] = []
    try:
        while not server.wait_for_stderr(OUT_OF_DESCRIPTORS, timeout=0.05):
            assert len(held) < 4 * DESCRIPTOR_LIMIT, f"no warning after {len(held)} connections"
            held.append(RawConnection.to(server))
    except BaseException:
        for conn in held:
            conn.close()
        raise
    return held


def leave_no_descriptors(pid: int) -> tuple[int, int]:
    """Lowers ``pid``'s soft descriptor limit to its lowest free descriptor, so that its next
    ``accept()`` fails with EMFILE and a new connection stays in the listen backlog: for a
    test that needs a client queued, not accepted, at a given moment. Returns the limits to
    give back with ``resource.prlimit``."""
    limits = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    used = {int(name) for name in os.listdir(f"/proc/{pid}/fd")}
    lowest_free = next(fd for fd in range(len(used) + 1) if fd not in used)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, limits[1]))
    return limits


def descriptor_warning(server) -> str:
    """The server's first out-of-descriptors line, checked to name the error, the limit it
    reached and how to raise it."""
    line = next(line for line in server.stderr().splitlines() if OUT_OF_DESCRIPTORS in line)
    assert "EMFILE" in line, line
    assert f"used all {DESCRIPTOR_LIMIT} descriptors" in line, line
    assert "ulimit -n" in line, line
    return line


def wait_until(condition, timeout: float = 10.0, message: str = "the condition never held"):
    """Poll ``condition()`` until it returns something truthy, and return that; fail the test
    with ``message`` if ``timeout`` seconds pass first. For a state that nothing announces
    (a worker's pid answering, a thread having started, a counter reaching a value)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout} s)")
        time.sleep(0.02)  # the polling interval, not a wait for something


def wait_for_file(path: Path, predicate, timeout: float = 10.0) -> str:
    """Poll ``path`` until ``predicate(text)``; returns the text (possibly failing the predicate)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text()
            if predicate(text):
                return text
        time.sleep(0.02)  # the polling interval
    return path.read_text() if path.exists() else ""


def settled_rss_kib(pid: int) -> int:
    """``rss_kib`` once it stops moving (three equal samples 100 ms apart, for 5 s at most)."""
    samples = [rss_kib(pid)]
    while len(samples) < 3 or len(set(samples[-3:])) > 1:
        time.sleep(0.1)  # sampling interval
        samples.append(rss_kib(pid))
        if len(samples) > 50:
            break
    return samples[-1]


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` plus all its descendants, in KiB (0 once the process is gone)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            total += int(match.group(1))
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
                pending.extend(int(c) for c in children)
        except OSError:
            pass
    return total


class RssSampler:
    """Samples a process tree's RSS in a thread every ``interval`` seconds; ``peak`` is the
    highest seen and ``samples`` every one with its time (``time.monotonic()``), in KiB."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.start = rss_kib(pid)
        self.peak = self.start
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = rss_kib(self.pid)
            self.samples.append((time.monotonic(), rss))
            self.peak = max(self.peak, rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kib(self.pid))

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 1024


def read_chunked_crc(conn: RawConnection) -> tuple[int, int]:
    """Reads a chunked body off ``conn`` (after its head) without holding it in memory;
    returns (bytes received, CRC-32 of them). Fails if the framing is wrong."""
    stream = conn.sock.makefile("rb", buffering=1 << 20)
    pending = conn.buffer
    conn.buffer = b""

    def read_exact(n: int) -> bytes:
        nonlocal pending
        if pending:
            take, pending = pending[:n], pending[n:]
            return take if len(take) == n else take + stream.read(n - len(take))
        return stream.read(n)

    def read_line() -> bytes:
        nonlocal pending
        if pending:
            index = pending.find(b"\n")
            if index >= 0:
                line, pending = pending[: index + 1], pending[index + 1 :]
                return line
            line, pending = pending, b""
            return line + stream.readline()
        return stream.readline()

    received = 0
    crc = 0
    while True:
        size = int(read_line().split(b";")[0], 16)
        if size == 0:
            assert read_line() == b"\r\n"
            break
        data = read_exact(size)
        assert len(data) == size, "stream ended early"
        crc = zlib.crc32(data, crc)
        received += size
        assert read_exact(2) == b"\r\n"
    stream.close()
    return received, crc


def manage_django(env: dict[str, str], *args: str) -> None:
    """Runs ``tests/django_project/manage.py *args`` with ``env``; fails the test if it fails."""
    proc = subprocess.run(
        [sys.executable, "django_project/manage.py", *args],
        cwd=TESTS_DIR,
        env=server_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"manage.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"


GIB = 1024 * 1024 * 1024
#: 64 KiB; the pattern the streaming test apps (apps.streaming, asgi_apps.raw) send.
BLOCK = bytes(range(256)) * 256
#: How much a 1 GiB transfer may grow the server's RSS.
RSS_LIMIT_MIB = 64


@dataclass
class Transfer:
    """What one 1 GiB transfer measured."""

    seconds: float
    #: How far the server's RSS rose above where it was when the transfer began.
    growth_mib: float

    @property
    def mib_per_s(self) -> float:
        return GIB / (1 << 20) / self.seconds


def check_bounded_upload(server, path: str = "/") -> tuple[Transfer, dict]:
    """POSTs 1 GiB of ``BLOCK``s (with a Content-Length) to ``path`` on an app that answers the
    body's size and CRC-32 as JSON (``apps.input:checksum``, ``asgi_apps.raw:checksum``):
    checks both, and that the server's RSS stays bounded; returns the figures and the app's
    answer (its other keys are for the caller to check)."""
    send_block = BLOCK * 16  # 1 MiB per sendall, never the whole GiB in memory
    total_crc = 0
    for _ in range(GIB // len(send_block)):
        total_crc = zlib.crc32(send_block, total_crc)
    started = time.monotonic()
    with RssSampler(server.pid) as rss, RawConnection.to(server, timeout=60) as conn:
        conn.send(build_request("POST", path, headers=[("Content-Length", str(GIB))]))
        for _ in range(GIB // len(send_block)):
            conn.send(send_block)
        response = conn.read_response()
    elapsed = time.monotonic() - started
    assert response.status == 200, response.body
    data = json.loads(response.body)
    assert data["bytes"] == GIB
    assert data["crc32"] == total_crc
    assert rss.growth_mib < RSS_LIMIT_MIB, (
        f"RSS grew by {rss.growth_mib:.1f} MiB (from {rss.start // 1024} MiB) during a 1 GiB upload"
    )
    assert elapsed < 20, f"1 GiB upload took {elapsed:.1f}s"
    return Transfer(elapsed, rss.growth_mib), data


def check_bounded_download(server, path: str = "/") -> Transfer:
    """GETs ``path?chunks=N`` (1 GiB of ``BLOCK``s, chunked) from an app that streams it
    (``apps.streaming:download``, ``asgi_apps.raw:download``), as a client that first stalls
    for 1.5 s: checks every byte and that RSS stays bounded; returns the figures."""
    chunks = GIB // len(BLOCK)
    started = time.monotonic()
    with RssSampler(server.pid) as rss, RawConnection.to(server, timeout=60) as conn:
        conn.send(build_request("GET", f"{path}?chunks={chunks}"))
        head = conn.read_head()
        assert head.status == 200
        assert "chunked" in (head.header("transfer-encoding") or "")
        # A slow client: read nothing for 1.5 s (the stall is the stimulus, not a wait for
        # something). Without backpressure the app would have produced (and the server
        # buffered) far more than the limit by now.
        time.sleep(1.5)
        stalled_growth = rss.growth_mib
        received, crc = read_chunked_crc(conn)
    elapsed = time.monotonic() - started
    expected = 0
    for _ in range(chunks):
        expected = zlib.crc32(BLOCK, expected)
    assert received == GIB
    assert crc == expected
    assert stalled_growth < RSS_LIMIT_MIB, f"RSS grew {stalled_growth:.1f} MiB while the client stalled"
    assert rss.growth_mib < RSS_LIMIT_MIB, f"RSS grew by {rss.growth_mib:.1f} MiB during a 1 GiB download"
    assert elapsed < 25, f"1 GiB download took {elapsed:.1f}s"
    return Transfer(elapsed, rss.growth_mib)
