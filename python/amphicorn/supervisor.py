"""The supervisor: binds the sockets once and keeps ``workers`` worker processes serving them.

- **Start**: bind (or take systemd's sockets), write the pid file, start the workers
  (:mod:`amphicorn.worker`), each of which imports the apps and says when it is ready. A
  worker that cannot start (exit status 1: import; 2: a setting; 3: lifespan) stops
  everything with that status, as the single-process server would. A logging configuration
  that cannot be applied fails here already, with status 2, before anything binds.
- **Crashes**: a worker that dies (a signal, a non-zero status) is replaced after an
  exponential back-off (0.1 s, 0.2 s, ... up to 10 s); after :data:`CRASH_LIMIT` crashes
  within :data:`CRASH_WINDOW` seconds the supervisor gives up and exits with status 1.
- **Recycling**: a worker that spent its ``max_requests`` exits with status 0 and is
  replaced at once (each worker's budget is ``limit_max_requests`` plus a random jitter, so
  they do not all restart together).
- **SIGTERM/SIGINT**: every worker is told to stop, drains for up to ``graceful_timeout``
  (and exits even if WSGI threads are stuck); past that, plus a margin for lifespan
  shutdown, it is killed. A second signal kills at once. The listening sockets stop
  listening at once, so that a client connecting during the drain is refused there and then
  (and can try another instance) instead of waiting in the backlog for the whole drain, and
  one already queued there is reset (on a Unix socket, once the workers have stopped
  accepting: :meth:`amphicorn.sockets.Listeners.refuse_new`).
  With ``shutdown_delay``, all that starts only that many seconds after the signal: until
  then the workers serve as usual (and are not replaced if they die); a second signal
  during the delay starts the drain at once. The supervisor times the delay: workers get a
  config without one, so that a worker told to stop (at the end of the delay, in a rolling
  restart, by a terminal's Ctrl-C) drains at once.
- **SIGHUP** (and ``--reload`` on a change): a rolling restart. New workers start on the
  same sockets; once all of them are ready the old ones drain and exit. The listening
  sockets never close, so no connection is refused. If a new worker cannot start, the old
  ones keep serving. SIGHUP also reads the weighted canaries' weights from the config file
  again, for the new workers (:mod:`amphicorn.canary`).
- **Canary weights**: a worker starts with those set last through the admin listener
  (``PUT /canary/<mount>``, or a rollback spread to every worker), else the config's.

Each process's mechanics (starting it, its ready word, SIGTERM, the kill when late) are
:mod:`amphicorn.worker_process`'s; this module decides when. uvicorn's ``supervisors/`` and
gunicorn's arbiter are the models.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from types import FrameType
from typing import Any

from amphicorn import canary as canaries
from amphicorn import exits
from amphicorn import log as logs
from amphicorn.admin import WorkerAdmins, admin_listener
from amphicorn.config import Config
from amphicorn.gunicorn_hooks import ExitedWorker
from amphicorn.sockets import Listeners, describe, listen_all, pid_file
from amphicorn.worker_process import Worker

#: What ``signal.signal`` takes and returns.
SignalHandler = Callable[[int, FrameType | None], Any] | int | None

#: Crashes within CRASH_WINDOW seconds after which the supervisor gives up.
CRASH_LIMIT = 5
CRASH_WINDOW = 60.0
#: The first restart delay after a crash; it doubles with each crash in the window.
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 10.0
#: Time a stopping worker gets beyond the graceful timeout (lifespan shutdown, exit).
STOP_MARGIN = 5.0
#: Longest the main loop sleeps when nothing happens (it wakes on signals and exits).
TICK = 0.5


class Supervisor:
    """Runs the worker processes of one validated config; :meth:`run` returns the exit status."""

    def __init__(
        self,
        config: Config,
        on_ready: Callable[[], None] | None = None,
        hook: Callable[..., None] | None = None,
    ) -> None:
        self.config = config
        #: Called once the listening sockets are bound (gunicorn's ``when_ready``).
        self.on_ready = on_ready
        #: ``hook(name, *args)`` calls a gunicorn file's server hook: ``on_reload`` when a
        #: rolling restart begins, ``child_exit`` when a worker has exited.
        self.hook = hook or (lambda *_: None)
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[Worker] = []
        self.generation = 0
        self.crashes: list[float] = []
        #: Times at which to start a replacement worker.
        self.pending_starts: list[float] = []
        self.stopping = False
        #: When the delayed drain starts (``shutdown_delay`` after a stop signal); None otherwise.
        self.drain_at: float | None = None
        self.worker_config = dataclasses.replace(config, shutdown_delay=0.0)
        self.status = exits.OK
        self.listeners: Listeners | None = None
        #: With --admin-bind: the workers' admin listeners, summed by ours.
        self.admins: WorkerAdmins | None = None
        self._events: list[str] = []
        self._events_lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        os.set_blocking(self._wake_read, False)

    # -- the main loop ---------------------------------------------------------------------

    def run(self) -> int:
        """Supervises the workers until stopped; returns the exit status. A failure before the
        workers start (a logging configuration that cannot be applied, an address that cannot
        be bound) is reported on stderr with its own status, as the single-process path does."""
        return exits.run_reporting(self._supervise)

    def _supervise(self) -> int:
        previous: dict[signal.Signals, SignalHandler] = {}
        reloader = None
        stack = contextlib.ExitStack()
        try:
            # Logging first: a log config that cannot be applied fails before anything binds.
            logs.configure(self.config.log_level, self.config.log_format, self.config.log_config)
            previous = self._install_signal_handlers()
            admin = stack.enter_context(admin_listener(self.config, "supervisor"))
            if admin is not None:
                self.admins = WorkerAdmins(admin)
                stack.callback(self.admins.close)
            self.listeners = listen_all(self.config.binds, self.config.backlog)
            if self.listeners.activated:
                logs.logger.info("Using %d socket(s) from systemd socket activation", len(self.listeners.sockets))
            with pid_file(self.config.pid_file):
                for sock in self.listeners.sockets:
                    logs.logger.info("Listening on %s", describe(sock, tls=self.config.ssl_certfile is not None))
                if self.on_ready is not None:
                    self.on_ready()
                logs.logger.info("Supervisor (pid %d) starting %d worker(s)", os.getpid(), self.config.workers)
                for _ in range(self.config.workers):
                    self._start_worker()
                if self.config.reload:
                    from amphicorn.reload import Reloader

                    reloader = Reloader(self.config.reload_dirs or [os.getcwd()], lambda: self._post("reload"))
                    reloader.start()
                while self.workers or not self.stopping:
                    self._step()
        finally:
            if reloader is not None:
                reloader.stop()
            for process in (w.process for w in self.workers):
                with contextlib.suppress(OSError):
                    process.kill()
                process.join(5)
            if self.listeners is not None:
                self.listeners.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(self._wake_read)
            os.close(self._wake_write)
            stack.close()
        logs.logger.info("Stopped")
        return self.status

    def _step(self) -> None:
        now = time.monotonic()
        deadlines = [w.stop_deadline for w in self.workers if w.stop_deadline is not None]
        deadlines += self.pending_starts
        if self.drain_at is not None:
            deadlines.append(self.drain_at)
        timeout = max(0.0, min([TICK, *(deadline - now for deadline in deadlines)]))
        watched: list[object] = [self._wake_read]
        watched += [w.process.sentinel for w in self.workers]
        watched += [w.ready_pipe for w in self.workers if w.ready_pipe is not None]
        wait(watched, timeout)  # type: ignore[arg-type]
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_read, 4096)
        with self._events_lock:
            events, self._events = self._events, []
        for event in events:
            self._handle_event(event)
        if self.drain_at is not None and now >= self.drain_at:
            self._drain()
        self._collect_ready()
        self._reap()
        self._start_due()
        self._enforce_deadlines()
        self._finish_rollover()

    # -- events: signals and reloads -------------------------------------------------------

    def _install_signal_handlers(self) -> dict[signal.Signals, SignalHandler]:
        names = {signal.SIGTERM: "stop", signal.SIGINT: "stop", signal.SIGHUP: "restart"}

        def handle(signum: int, _frame: object) -> None:
            self._post(names[signal.Signals(signum)] + f":{signal.Signals(signum).name}")

        return {signum: signal.signal(signum, handle) for signum in names}

    def _post(self, event: str) -> None:
        """Queues an event for the main loop and wakes it (from signal handlers and threads)."""
        with self._events_lock:
            self._events.append(event)
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"!")

    def _handle_event(self, event: str) -> None:
        kind, _, detail = event.partition(":")
        if kind == "stop":
            if self.drain_at is not None:
                self._drain()
                logs.logger.info("Received %s again: stopping the workers gracefully now", detail)
                return
            if self.stopping:
                logs.logger.warning("Received %s again: killing the workers", detail)
                for w in self.workers:
                    w.stop_deadline = 0.0
                return
            if self.config.shutdown_delay > 0 and self.workers:
                logs.logger.info(
                    "Received %s: not ready from now on; serving for %gs more (shutdown-delay), then stopping the "
                    "workers gracefully",
                    detail,
                    self.config.shutdown_delay,
                )
                self.stopping = True
                if self.admins is not None:
                    self.admins.admin.set_ready(False)
                self.pending_starts.clear()
                self.drain_at = time.monotonic() + self.config.shutdown_delay
                return
            # Logged once done: by then new connections are refused (`_stop_all`).
            self._stop_all()
            logs.logger.info("Received %s, stopping the workers gracefully", detail)
        elif kind == "restart" and not self.stopping:
            logs.logger.info("Received %s: rolling restart of the workers", detail)
            forget = self.admins.admin.forget_canary_weights if self.admins is not None else lambda _: None
            self.worker_config = canaries.reload_for_workers(self.worker_config, forget)
            self._begin_rollover()
        elif kind == "reload" and not self.stopping:
            logs.logger.info("Python files changed: restarting the workers")
            self._begin_rollover()

    def _drain(self) -> None:
        """The end of the shutdown delay: the workers drain."""
        self.drain_at = None
        self._stop_all()

    def _stop_all(self) -> None:
        self.stopping = True
        # No worker will accept again: without this, the kernel would go on queueing new
        # connections on our copies of the sockets until the drain ends, then reset them.
        # First, so that no client connects in between.
        if self.listeners is not None:
            self.listeners.refuse_new()
        if self.admins is not None:
            self.admins.admin.set_ready(False)
        self.pending_starts.clear()
        for w in self.workers:
            self._stop_worker(w)

    # -- workers ---------------------------------------------------------------------------

    def _start_worker(self) -> None:
        assert self.listeners is not None
        limit = self.config.limit_max_requests
        max_requests = None if limit is None else limit + random.randint(0, self.config.limit_max_requests_jitter)
        config, admin_socket = self.worker_config, None
        if self.admins is not None:
            config = canaries.with_weights(config, self.admins.admin.canary_weights())
            config, admin_socket = self.admins.config_for(config)
        w = Worker.start(self.context, config, self.listeners.sockets, max_requests, self.generation, admin_socket)
        self.workers.append(w)
        if self.admins is not None and admin_socket is not None:
            self.admins.started(w.pid, admin_socket)
        logs.logger.debug("Started worker process %d", w.pid)

    def _stop_worker(self, w: Worker) -> None:
        if self.admins is not None:
            self.admins.ready(w.pid, False)
        w.stop(self.config.graceful_timeout + STOP_MARGIN)

    def _collect_ready(self) -> None:
        for w in self.workers:
            if w.read_ready():
                if self.admins is not None:
                    self.admins.ready(w.pid, w.stop_deadline is None)
                    if not self.stopping:
                        self.admins.admin.set_ready(True)
                logs.logger.info("Worker process %d is ready", w.pid)

    def _reap(self) -> None:
        for w in [w for w in self.workers if not w.process.is_alive()]:
            code = w.reap()
            self.workers.remove(w)
            if self.admins is not None:
                self.admins.gone(w.pid)
            self.hook("child_exit", ExitedWorker(w.pid, code))
            self._exited(w, code)

    def _exited(self, w: Worker, code: int) -> None:
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        if w.stop_deadline is not None or self.stopping:
            logs.logger.info("Worker process %d %s", w.pid, how)
            return
        if not w.ready and code in exits.STARTUP_FAILURES:
            if self._old_workers():
                logs.logger.error(
                    "A new worker process could not start (status %d): the old workers keep serving", code
                )
                self._abort_rollover()
                return
            exits.error(f"worker process {w.pid} could not start (status {code}); stopping")
            self.status = code
            self._stop_all()
            return
        if code == 0 and w.ready:
            # It stopped by itself: its max-requests were spent (or someone else stopped it).
            logs.logger.info("Worker process %d stopped by itself: starting another", w.pid)
            self._count_restart("max_requests")
            self._start_worker()
            return
        now = time.monotonic()
        self.crashes = [t for t in self.crashes if now - t < CRASH_WINDOW] + [now]
        if len(self.crashes) >= CRASH_LIMIT:
            exits.error(
                f"worker process {w.pid} {how}: {len(self.crashes)} worker crashes within "
                f"{CRASH_WINDOW:g} seconds; giving up"
            )
            self.status = exits.FAILED
            self._stop_all()
            return
        self._count_restart("crash")
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (len(self.crashes) - 1))
        logs.logger.error("Worker process %d %s; starting another in %.1f s", w.pid, how, delay)
        self.pending_starts.append(now + delay)

    def _start_due(self) -> None:
        now = time.monotonic()
        due = [t for t in self.pending_starts if t <= now]
        self.pending_starts = [t for t in self.pending_starts if t > now]
        for _ in due:
            if not self.stopping:
                self._start_worker()

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for w in self.workers:
            if w.kill_if_late(now):
                logs.logger.warning("Worker process %d did not stop in time: killing it", w.pid)

    # -- rolling restarts ------------------------------------------------------------------

    def _old_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.generation < self.generation and w.stop_deadline is None]

    def _begin_rollover(self) -> None:
        """Starts a new generation of workers; the old one stops once all of it is ready."""
        self.hook("on_reload")
        self.generation += 1
        self.pending_starts.clear()
        for _ in range(self.config.workers):
            self._start_worker()

    def _finish_rollover(self) -> None:
        old = self._old_workers()
        if not old or self.stopping:
            return
        current = [w for w in self.workers if w.generation == self.generation and w.stop_deadline is None]
        if sum(w.ready for w in current) >= self.config.workers:
            logs.logger.info("New workers ready: stopping %d old worker(s)", len(old))
            for w in old:
                self._stop_worker(w)
                self._count_restart("reload")

    def _count_restart(self, cause: str) -> None:
        """``amphicorn_worker_restarts_total{cause}`` on the admin listener, when there is one."""
        if self.admins is not None:
            self.admins.admin.worker_restarted(cause)

    def _abort_rollover(self) -> None:
        """A new worker could not start: stop the new generation and keep the old one."""
        for w in self.workers:
            if w.generation == self.generation:
                self._stop_worker(w)
        for w in self._old_workers():
            w.generation = self.generation
