"""The admin listener (``--admin-bind``) from the Python side: binding it, and, under a
supervisor, the private admin listeners of the workers whose figures it sums.

A single process serves ``/healthz``, ``/readyz`` and ``/metrics`` on the configured address
(src/server/admin.rs). With ``--workers`` (or ``--reload``, ``--limit-max-requests``) the
supervisor serves that address, and each worker serves its own admin listener on a Unix
socket in a private directory of the supervisor's (``WorkerAdmins``). The supervisor's
``/metrics`` and ``/status`` add up its workers' (src/server/admin_workers.rs); a worker
leaves its final figures next to its socket as it exits, so a restart loses no count. Its
``/canary`` sets and shows the weighted canaries of the workers that serve
(src/server/canary_workers.rs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Literal

from amphicorn import _amphicorn
from amphicorn import log as logs
from amphicorn.config import Config
from amphicorn.errors import BindError
from amphicorn.sockets import Listeners, describe, listen

#: Whose admin listener: a single serving process's, a supervisor's (it answers for its
#: workers), or a worker's (private, on the supervisor's socket; it leaves its final figures).
Role = Literal["single", "supervisor", "worker"]


@contextlib.contextmanager
def admin_listener(config: Config, role: Role = "single") -> Iterator[_amphicorn.Admin | None]:
    """The admin listener of ``config.admin_bind``, bound and answering for the duration
    (None without one); a bind failure names the setting."""
    address = config.admin_address()
    if address is None:
        yield None
        return
    try:
        bound = Listeners(listen(address, config.backlog), unix_paths=[address.path] if address.path else [])
    except BindError as error:
        raise BindError(f"admin-bind: {error}") from None
    try:
        admin = _amphicorn.Admin(bound.fds(), workers=role == "supervisor")
        try:
            if role != "worker":
                for sock in bound.sockets:
                    logs.logger.info("Admin listener (/healthz, /readyz, /metrics) on %s", describe(sock))
            yield admin
            if role == "worker" and address.path is not None:
                # Its final figures, for the supervisor to read once it is gone.
                with contextlib.suppress(OSError):
                    admin.leave_final_figures(address.path)
        finally:
            admin.close()
    finally:
        bound.close()


class WorkerAdmins:
    """The supervisor's side: a private directory of worker admin sockets, each worker's
    config pointing at its own, and the supervisor's admin listener told who is live."""

    def __init__(self, admin: _amphicorn.Admin) -> None:
        self.admin = admin
        self.directory = tempfile.mkdtemp(prefix="amphicorn-admin-")
        self._started = 0
        #: The socket of each live worker, by its pid.
        self._sockets: dict[int, tuple[int, str]] = {}

    def config_for(self, config: Config) -> tuple[Config, str]:
        """The config a new worker runs with (its own admin socket), and that socket."""
        self._started += 1
        socket = os.path.join(self.directory, f"worker-{self._started}.sock")
        return dataclasses.replace(config, admin_bind=f"unix:{socket}"), socket

    def started(self, pid: int, socket: str) -> None:
        """The worker ``pid`` runs; it takes the lowest slot no live worker holds."""
        taken = {slot for slot, _ in self._sockets.values()}
        slot = next(slot for slot in range(len(taken) + 1) if slot not in taken)
        self._sockets[pid] = (slot, socket)
        self.admin.worker_started(slot, pid, socket)

    def ready(self, pid: int, ready: bool) -> None:
        """The worker ``pid`` serves (``ready``), or was asked to stop."""
        entry = self._sockets.get(pid)
        if entry is not None:
            self.admin.worker_ready(entry[1], ready)

    def gone(self, pid: int) -> None:
        """The worker ``pid`` exited; its counts are kept."""
        entry = self._sockets.pop(pid, None)
        if entry is not None:
            self.admin.worker_gone(entry[1])

    def close(self) -> None:
        """Removes the directory (the workers are gone)."""
        shutil.rmtree(self.directory, ignore_errors=True)
