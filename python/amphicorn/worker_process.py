"""One worker process as the supervisor sees it: starting it, reading the word it sends
when ready, asking it to stop, killing it when it is late, collecting its exit status.

When to start, stop or replace workers (crashes, recycling, rolling restarts, signals) is
:mod:`amphicorn.supervisor`'s; what runs inside the process is :mod:`amphicorn.worker`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import time
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess

from amphicorn import worker
from amphicorn.config import Config


@dataclasses.dataclass(eq=False)
class Worker:
    """One worker process, as the supervisor tracks it."""

    process: BaseProcess
    #: Read end of the pipe on which the worker says it is ready; None once it has.
    ready_pipe: Connection | None
    generation: int
    ready: bool = False
    #: When set, we asked it to stop: it must be gone by then.
    stop_deadline: float | None = None
    #: Its private admin listener's socket (with --admin-bind).
    admin_socket: str | None = None

    @classmethod
    def start(
        cls,
        context: SpawnContext,
        config: Config,
        sockets: list[socket.socket],
        max_requests: int | None,
        generation: int,
        admin_socket: str | None,
    ) -> Worker:
        """Starts a worker process serving ``sockets`` with ``config`` (:func:`amphicorn.worker.run`)."""
        read_end, write_end = context.Pipe(duplex=False)
        process = context.Process(
            target=worker.run,
            args=(config, sockets, write_end, max_requests, os.getpid()),
            name="amphicorn-worker",
        )
        process.start()
        write_end.close()
        return cls(process, read_end, generation, admin_socket=admin_socket)

    @property
    def pid(self) -> int:
        """Its process id (0 before it started)."""
        return self.process.pid or 0

    def stop(self, grace: float) -> None:
        """Asks it to stop (SIGTERM), to be gone within ``grace`` seconds; once only."""
        if self.stop_deadline is not None:
            return
        self.stop_deadline = time.monotonic() + grace
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGTERM)

    def read_ready(self) -> bool:
        """Whether it said just now that it is ready (a worker that closed its pipe without
        saying so is not); the pipe is closed once it has said anything."""
        if self.ready_pipe is None or not self.ready_pipe.poll():
            return False
        try:
            self.ready = self.ready_pipe.recv_bytes() == worker.READY
        except (EOFError, OSError):
            self.ready = False
        self.ready_pipe.close()
        self.ready_pipe = None
        return self.ready

    def reap(self) -> int:
        """Its exit status, once it has exited (negative: the signal that ended it)."""
        self.process.join()
        if self.ready_pipe is not None:
            self.ready_pipe.close()
        return self.process.exitcode or 0

    def kill_if_late(self, now: float) -> bool:
        """Kills it when it is still alive past its stop deadline; whether it did."""
        if self.stop_deadline is None or now < self.stop_deadline or not self.process.is_alive():
            return False
        with contextlib.suppress(OSError):
            self.process.kill()
        # Look again in a second rather than spin while the kernel reaps it.
        self.stop_deadline = now + 1.0
        return True
