"""One worker process under the supervisor: the single-process serve path, on the sockets
the supervisor bound, reporting to it when ready.

The supervisor starts it with multiprocessing's ``spawn`` (a fresh interpreter, so nothing
the supervisor imported or started leaks in), passing the config, the listening sockets
(inherited descriptors) and the write end of a pipe. The worker imports the apps, runs
lifespan startup, says ``ready`` on the pipe, and serves until SIGTERM/SIGINT or until its
``max_requests`` are spent. Its exit status is the CLI's (1: import failure, 2: a setting,
3: lifespan failure), which is how the supervisor tells a worker that cannot start from one
that crashed.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import Connection

from amphicorn import exits
from amphicorn.config import Config
from amphicorn.server import serve
from amphicorn.sockets import Listeners

#: How often a worker checks that its supervisor is still there.
PARENT_POLL = 1.0
READY = b"ready"


def run(config: Config, sockets: list[socket.socket], ready: Connection, max_requests: int | None, parent: int) -> None:
    """The worker's entry point (the target of its ``multiprocessing`` process)."""
    # SIGHUP asks the supervisor for a rolling restart; the supervisor stops us with SIGTERM.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _watch_parent(parent)

    def report_ready() -> None:
        try:
            ready.send_bytes(READY)
        finally:
            ready.close()

    status = exits.run_reporting(
        lambda: serve(
            config,
            Listeners(sockets),
            on_ready=report_ready,
            max_requests=max_requests,
            exit_when_stuck=True,
            private_admin=True,
        )
    )
    sys.exit(status)


def _watch_parent(parent: int) -> None:
    """Stops this worker gracefully if its supervisor dies (say, of SIGKILL): an orphan would
    go on serving with nobody to stop or replace it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="amphicorn-parent-watch", daemon=True).start()
