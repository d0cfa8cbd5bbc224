"""SIGINT/SIGTERM in a serving process (one process, or a worker): a graceful stop of its
:class:`~amphicorn._amphicorn.Server`, after the ``--shutdown-delay`` if there is one.

:mod:`amphicorn.server` installs it; the supervisor times its own delay
(:mod:`amphicorn.supervisor`) and gives its workers none.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

from amphicorn import _amphicorn
from amphicorn import log as logs


class Stopper:
    """SIGINT/SIGTERM handling, installed before the port is bound: a signal that arrives
    between "Listening on" and the start of serving still stops the server gracefully.

    With a ``delay`` (``--shutdown-delay``), the first signal to a serving server only
    withdraws it (``/readyz`` says 503) and the drain starts that many seconds later; a second
    signal starts it at once. A server that was not serving yet has nobody to warn: it stops
    at once."""

    def __init__(self, delay: float = 0.0, on_interrupt: Callable[[], None] | None = None) -> None:
        self._server: _amphicorn.Server | None = None
        #: Called on SIGINT (a gunicorn file's ``worker_int`` hook).
        self._on_interrupt = on_interrupt
        self._requested = False
        self._delay = delay
        self._timer: threading.Timer | None = None

    @property
    def requested(self) -> bool:
        """Whether a stop signal arrived."""
        return self._requested

    def _handle(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGINT and self._on_interrupt is not None:
            self._on_interrupt()
        again, self._requested = self._requested, True
        if self._server is None:
            logs.logger.info("Received %s, shutting down gracefully", name)
            return
        if again or self._delay <= 0:
            logs.logger.info("Received %s, shutting down gracefully", name)
            self._stop_now()
            return
        logs.logger.info(
            "Received %s: not ready from now on; serving for %gs more (shutdown-delay), then shutting down gracefully",
            name,
            self._delay,
        )
        self._server.withdraw()
        self._timer = threading.Timer(self._delay, self._server.stop)
        self._timer.daemon = True
        self._timer.start()

    def _stop_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._server is not None:
            self._server.stop()

    def attach(self, server: _amphicorn.Server) -> None:
        """The server to stop, now that it serves (stopped at once if a signal came first)."""
        self._server = server
        if self._requested:
            server.stop()

    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM handled by this stopper for the duration (a pending delay's
        timer is cancelled on the way out)."""
        previous = {signum: signal.signal(signum, self._handle) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            if self._timer is not None:
                self._timer.cancel()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
