"""Fixtures that drive a real amphicorn server process.

Every test here is black-box: it starts ``python -m amphicorn APP ...`` in a subprocess with
``cwd=tests/`` (so ``apps.basic:hello`` and ``django_project.wsgi:application`` import), waits
for the ``Listening on http://HOST:PORT`` line on stderr, and talks to it over real sockets.

- ``serve(app, *args, env=None, bind="127.0.0.1:0", listeners=1, capture_stdout=False)`` starts a
  server and returns a :class:`Server` (``.url``, ``.urls``, ``.port``, ``.pid``, ``.proc``,
  ``.stderr()``, ``.stdout_lines(n)``); it can be
  called several times per test, and every server is stopped at teardown (SIGTERM, then SIGKILL
  after 5 s).
- ``run_cli(*args, timeout=30, env=None)`` runs the CLI to completion (for ``--help``,
  ``--version`` and the error exits) and returns a :class:`CliResult`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from support import LISTENING_RE, TESTS_DIR, server_env

pytest_plugins = ["framework_results"]

STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


class StderrCollector:
    """Reads a pipe line by line in a background thread so it never fills up."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="stderr-collector", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for raw in iter(self._stream.readline, b""):
                with self._cond:
                    self._lines.append(raw.decode("utf-8", "replace"))
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def text(self) -> str:
        with self._cond:
            return "".join(self._lines)

    @property
    def done(self) -> bool:
        with self._cond:
            return self._done

    def wait_for(self, predicate, timeout: float) -> bool:
        """Wait until ``predicate(text)`` is true or the stream ends or the time is up."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if predicate("".join(self._lines)):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._done:
                    return predicate("".join(self._lines))
                self._cond.wait(remaining)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class Server:
    """One running amphicorn process."""

    def __init__(
        self,
        proc: subprocess.Popen,
        collector: StderrCollector,
        urls: list[str],
        stdout: StderrCollector | None = None,
    ):
        self.proc = proc
        self._collector = collector
        self._stdout = stdout
        self.urls = urls
        self.url = urls[0]
        self.port = int(urls[0].rsplit(":", 1)[1])
        self.host = urls[0].split("//", 1)[1].rsplit(":", 1)[0]
        self.pid = proc.pid

    def stderr(self) -> str:
        """Everything the server wrote to stderr so far."""
        return self._collector.text()

    def stdout_lines(self, count: int, timeout: float = 5.0) -> list[str]:
        """The first ``count`` lines of stdout (needs ``capture_stdout=True``), waiting for them."""
        assert self._stdout is not None, "start the server with capture_stdout=True"
        self._stdout.wait_for(lambda text: text.count("\n") >= count, timeout)
        return self._stdout.text().splitlines()[:count]

    def wait_for_stderr(self, needle: str, timeout: float = 5.0) -> bool:
        """Wait until ``needle`` appears in stderr (log lines may trail the response)."""
        return self._collector.wait_for(lambda text: needle in text, timeout)

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        """Wait until ``predicate(stderr so far)`` is true."""
        return self._collector.wait_for(predicate, timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send ``sig``, wait up to ``timeout`` seconds, then SIGKILL; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._collector.join(5)
        if self._stdout is not None:
            self._stdout.join(5)  # stdout is complete once the process is gone: read it all
        for stream in (self.proc.stderr, self.proc.stdout):
            if stream is not None:
                stream.close()
        return self.proc.returncode


def start_server(
    app: str | None,
    *args: str,
    env: dict[str, str] | None = None,
    bind: str | None = "127.0.0.1:0",
    listeners: int = 1,
    capture_stdout: bool = False,
    stdout_unread: bool = False,
    cwd: Path = TESTS_DIR,
    preexec_fn=None,
) -> Server:
    """Start ``python -m amphicorn [app] [-b bind] *args`` in ``cwd`` and wait for
    ``listeners`` sockets (``app`` None: the app comes from the args or a config file).
    With ``stdout_unread``, stdout is a pipe nobody reads: a writer to it soon blocks.
    ``preexec_fn`` runs in the child before amphicorn starts (to lower a resource limit)."""
    cmd = [sys.executable, "-m", "amphicorn", *([app] if app is not None else [])]
    if bind is not None:
        cmd += ["-b", bind]
    cmd += list(args)
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=server_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture_stdout or stdout_unread else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=preexec_fn,
    )
    collector = StderrCollector(proc.stderr)
    stdout = StderrCollector(proc.stdout) if capture_stdout else None
    ok = collector.wait_for(lambda text: len(LISTENING_RE.findall(text)) >= listeners, STARTUP_TIMEOUT)
    if not ok:
        server = Server(proc, collector, ["http://127.0.0.1:0"])
        code = server.stop(signal.SIGKILL)
        pytest.fail(
            f"server {cmd[3:]} did not log {listeners} 'Listening on' line(s) within "
            f"{STARTUP_TIMEOUT}s (exit code {code}); stderr:\n{collector.text()}"
        )
    urls = [m[0] for m in LISTENING_RE.findall(collector.text())]
    return Server(proc, collector, urls, stdout)


@pytest.fixture
def serve():
    """Factory: ``serve(app, *extra_args, env=None, bind=..., listeners=1) -> Server``."""
    servers: list[Server] = []

    def factory(app: str, *args: str, **kwargs) -> Server:
        server = start_server(app, *args, **kwargs)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


def launch_process(
    args: list[str],
    *,
    cwd: Path = TESTS_DIR,
    env: dict[str, str] | None = None,
    pass_fds=(),
    ready: str,
) -> Server:
    """Starts any command (a supervisor, a server on an inherited socket) and waits for
    ``ready`` on its stderr; ``Server.url`` is not known here."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=server_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        pass_fds=pass_fds,
    )
    collector = StderrCollector(proc.stderr)
    server = Server(proc, collector, ["http://127.0.0.1:0"])
    if not collector.wait_for(lambda text: ready in text, STARTUP_TIMEOUT):
        server.stop(signal.SIGKILL)
        pytest.fail(f"{args} did not log {ready!r}:\n{collector.text()}")
    return server


@pytest.fixture
def launched():
    """Factory: ``launched(args, *, cwd=..., env=None, pass_fds=(), ready=...) -> Server``,
    stopped at teardown."""
    servers: list[Server] = []

    def launch(*args, **kwargs) -> Server:
        server = launch_process(*args, **kwargs)
        servers.append(server)
        return server

    yield launch
    for server in servers:
        server.stop()


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def _run_cli(*args: str, timeout: float = 30, env: dict[str, str] | None = None) -> CliResult:
    proc = subprocess.run(
        [sys.executable, "-m", "amphicorn", *args],
        cwd=TESTS_DIR,
        env=server_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


@pytest.fixture
def run_cli():
    """``run_cli(*args, timeout=30, env=None) -> CliResult`` runs the CLI to completion."""
    return _run_cli


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The CA the TLS tests' server certificates come from (clients trust it)."""
    return trustme.CA()


@pytest.fixture(scope="session")
def client_ca() -> trustme.CA:
    """The CA whose client certificates an mTLS server trusts (another one than ``ca``)."""
    return trustme.CA()
