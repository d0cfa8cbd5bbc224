"""Watching files: ``--reload`` watches directories for changed ``.py`` files, for the
supervisor to restart its workers (a rolling restart: if the new code cannot start, the old
workers keep serving and the error is logged); with TLS, each server process watches its
certificate and key files, to read them again when they are renewed.

watchfiles does the watching (inotify on Linux) in a background thread; it is an optional
dependency (``pip install 'amphicorn[reload]'``), checked when the config is validated for
``--reload``; without it, TLS files are re-read on SIGHUP only.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable

from amphicorn import log as logs


def watchfiles_installed() -> bool:
    """Whether watchfiles can be imported."""
    return importlib.util.find_spec("watchfiles") is not None


class Reloader:
    """Calls ``changed()`` from a background thread after files under ``directories`` change:
    ``.py`` files, or with ``only`` those paths."""

    def __init__(self, directories: list[str], changed: Callable[[], None], only: list[str] | None = None) -> None:
        self.directories = directories
        self.changed = changed
        self.only = None if only is None else {os.path.abspath(path) for path in only}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="amphicorn-reload", daemon=True)

    def start(self) -> None:
        """Start watching in the background (the log says when the watch is in place)."""
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import watchfiles

        if self.only is None:
            watch_filter: Callable[[watchfiles.Change, str], bool] = watchfiles.PythonFilter()
            watching_what = "Watching for changed .py files in " + ", ".join(self.directories)
        else:
            only = self.only
            watch_filter = lambda _change, path: os.path.abspath(path) in only  # noqa: E731
            watching_what = "Watching for changes to " + ", ".join(sorted(only))
        watch = watchfiles.watch(
            *self.directories,
            watch_filter=watch_filter,
            stop_event=self._stop,
            rust_timeout=500,
            # An empty set after each quiet half second: the first one (or the first change)
            # means the watches are in place, and only then does the log say it is watching,
            # so an edit made after that line is never missed.
            yield_on_timeout=True,
            raise_interrupt=False,
        )
        watching = False
        for changes in watch:
            if not watching:
                logs.logger.info("%s", watching_what)
                watching = True
            if not changes:
                continue
            paths = sorted({path for _, path in changes})
            logs.logger.info("Changed: %s", ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else ""))
            self.changed()
