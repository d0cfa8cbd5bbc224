"""The exit statuses of ``amphicorn``, shared by the single-process path and the workers.

``0`` after a graceful stop, ``1`` when an app cannot be imported, an address cannot be
bound or the workers keep crashing, ``2`` for a bad setting or a logging configuration that
cannot be applied, ``3`` when an ASGI app's lifespan startup fails. A supervisor exits with its
worker's status when a worker cannot start, so ``--workers 4`` fails the same way as one
process. Each :class:`~amphicorn.errors.AmphicornError` carries its own status: this module
knows only that base class, and decides no status by the type of a failure.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from amphicorn.errors import FAILED, LIFESPAN_FAILED, OK, USAGE, AmphicornError

__all__ = ["FAILED", "LIFESPAN_FAILED", "OK", "STARTUP_FAILURES", "USAGE", "error", "run_reporting"]

#: The statuses with which a worker says it could not start: retrying will not help.
STARTUP_FAILURES = (FAILED, USAGE, LIFESPAN_FAILED)


def error(message: str) -> None:
    """Writes ``amphicorn: error: message`` to stderr."""
    print(f"amphicorn: error: {message}", file=sys.stderr, flush=True)


def run_reporting(function: Callable[[], object]) -> int:
    """Runs ``function`` and returns the exit status, with the failure's message on stderr."""
    try:
        result = function()
    except AmphicornError as failure:
        error(str(failure))
        return failure.exit_status
    except KeyboardInterrupt:
        return OK
    return result if isinstance(result, int) else OK
