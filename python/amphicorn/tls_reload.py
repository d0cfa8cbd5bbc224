"""SIGHUP in a single process: the TLS certificate and key read again, the weighted canaries'
weights read again from the config file, a gunicorn file's ``on_reload`` hook; and, with
watchfiles, a watch that re-reads the TLS files when they change (workers too).

What the server serves, and when it starts and stops, are server.py's; reading the files is
the Rust core's (``Server.reload_tls``); reading canary weights is canary.py's.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator

from amphicorn import _amphicorn
from amphicorn import canary as canaries
from amphicorn import log as logs
from amphicorn.config import Config
from amphicorn.reload import Reloader, watchfiles_installed


class TlsReloader:
    """SIGHUP in a single process with TLS: the server reads its certificate and key files
    again, for new handshakes (open connections keep theirs); files that cannot serve are
    logged and the previous pair stays. Installed with the stop signals, before the port is
    bound, so that an early SIGHUP does not end the process (its default action); before the
    server has loaded the files there is nothing to reload. With weighted canaries, SIGHUP
    also sets their weights from the config file anew (amphicorn/canary.py)."""

    def __init__(self, *, enabled: bool, config_file: str | None = None) -> None:
        self._enabled = enabled
        self._server: _amphicorn.Server | None = None
        #: With canaries, SIGHUP also re-reads their weights from ``config_file`` (None:
        #: pyproject.toml), in a single process (amphicorn/canary.py).
        self.canaries = False
        self.config_file = config_file
        #: A gunicorn file's ``on_reload`` hook, called on each SIGHUP once serving.
        self.on_reload: Callable[[], None] | None = None
        self._early = False

    def attach(self, server: _amphicorn.Server) -> None:
        """The server now serves: a SIGHUP from here on reloads it (one during the start
        reads the canary weights now)."""
        self._server = server
        if self._early and self.canaries:
            # The file may have changed after the config was read: read the weights now.
            canaries.reload_weights(self.config_file, server.set_canary_weight)

    def _handle(self, _signum: int, _frame: object) -> None:
        if self._server is None:
            self._early = True
            reloaded = (("TLS files", self._enabled), ("canary weights", self.canaries))
            what = " and ".join(name for name, on in reloaded if on)
            logs.logger.info("Received SIGHUP while starting: the %s are being read now", what)
            return
        if self.on_reload is not None:
            logs.logger.info("Received SIGHUP")
            self.on_reload()
        if self.canaries:
            canaries.reload_weights(self.config_file, self._server.set_canary_weight)
        if self._enabled:
            logs.logger.info("Received SIGHUP, reloading the TLS certificate and key")
            self.reload()

    def reload(self) -> None:
        """Reads the certificate and key again (on SIGHUP, or when the files changed)."""
        if self._server is None:
            return
        try:
            certfile = self._server.reload_tls()
        except ValueError as error:
            logs.logger.error("TLS reload failed, still serving the previous certificate: %s", error)
        else:
            logs.logger.info("TLS certificate reloaded from %s", certfile)

    @contextlib.contextmanager
    def handling_signal(self) -> Iterator[None]:
        """SIGHUP handled by this reloader within the block (when it has anything to do)."""
        if not self._enabled and not self.canaries and self.on_reload is None:
            yield
            return
        previous = signal.signal(signal.SIGHUP, self._handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGHUP, previous)


def tls_watcher(config: Config, reloader: TlsReloader) -> Reloader | None:
    """With TLS and watchfiles, a watch on the certificate and key files that reloads them
    when they change (every process: workers too). Renewal tools replace the files (certbot
    swaps symlinks), so the watch is on their directories, filtered to the two paths."""
    if config.ssl_certfile is None or config.ssl_keyfile is None:
        return None
    if not watchfiles_installed():
        logs.logger.info("TLS files are re-read on SIGHUP; pip install watchfiles to re-read them when they change")
        return None
    files = [config.ssl_certfile, config.ssl_keyfile]
    directories = sorted({os.path.dirname(os.path.abspath(path)) for path in files})
    return Reloader(directories, reloader.reload, only=files)
