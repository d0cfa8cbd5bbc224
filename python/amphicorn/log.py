"""Logging set-up: amphicorn's loggers write to stderr at the chosen level.

``amphicorn.error`` carries server events and app tracebacks (as gunicorn's error log);
``trace`` is a level below ``debug`` for wire-level detail, as in uvicorn.
"""

from __future__ import annotations

import logging
import sys

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}

FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"

logger = logging.getLogger("amphicorn.error")


def configure(level: str) -> None:
    """Sends the ``amphicorn`` loggers to stderr at ``level``."""
    root = logging.getLogger("amphicorn")
    root.setLevel(LEVELS[level])
    if not any(getattr(handler, "_amphicorn", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S %z"))
        handler._amphicorn = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.propagate = False
