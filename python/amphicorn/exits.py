"""The exit statuses of ``amphicorn``, shared by the single-process path and the workers.

``0`` after a graceful stop, ``1`` when an app cannot be imported, an address cannot be
bound or the workers keep crashing, ``2`` for a bad setting (see :mod:`amphicorn.cli`), ``3``
when an ASGI app's lifespan startup fails. A supervisor exits with its worker's status when
a worker cannot start, so ``--workers 4`` fails the same way as one process.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from amphicorn.asgi import LifespanFailure
from amphicorn.importer import AppImportError
from amphicorn.log import LogConfigError
from amphicorn.sockets import BindError

OK = 0
FAILED = 1
USAGE = 2
LIFESPAN_FAILED = 3

#: The statuses with which a worker says it could not start: retrying will not help.
STARTUP_FAILURES = (FAILED, LIFESPAN_FAILED)


def error(message: str) -> None:
    """Writes ``amphicorn: error: message`` to stderr."""
    print(f"amphicorn: error: {message}", file=sys.stderr, flush=True)


def run_reporting(function: Callable[[], object]) -> int:
    """Runs ``function`` and returns the exit status, with the failure's message on stderr."""
    try:
        result = function()
    except AppImportError as failure:
        error(str(failure))
        return FAILED
    except LifespanFailure as failure:
        error(f"ASGI lifespan startup failed: {failure}")
        return LIFESPAN_FAILED
    except BindError as failure:
        error(str(failure))
        return FAILED
    except LogConfigError as failure:
        error(str(failure))
        return USAGE
    except KeyboardInterrupt:
        return OK
    return result if isinstance(result, int) else OK
