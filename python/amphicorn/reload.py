"""``--reload``: watches directories for changed ``.py`` files, for the supervisor to
restart its workers (a rolling restart: if the new code cannot start, the old workers keep
serving and the error is logged).

watchfiles does the watching (inotify on Linux) in a background thread; it is an optional
dependency (``pip install 'amphicorn[reload]'``), checked when the config is validated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from amphicorn import log as logs


class Reloader:
    """Calls ``changed()`` from a background thread after ``.py`` files under ``directories`` change."""

    def __init__(self, directories: list[str], changed: Callable[[], None]) -> None:
        self.directories = directories
        self.changed = changed
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

        watch = watchfiles.watch(
            *self.directories,
            watch_filter=watchfiles.PythonFilter(),
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
                logs.logger.info("Watching for changed .py files in %s", ", ".join(self.directories))
                watching = True
            if not changes:
                continue
            paths = sorted({path for _, path in changes})
            logs.logger.info("Changed: %s", ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else ""))
            self.changed()
