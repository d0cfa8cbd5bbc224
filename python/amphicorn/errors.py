"""The errors amphicorn reports to the person running it, each with its exit status.

Every failure that ends the server before or while it starts is an :class:`AmphicornError`;
its ``exit_status`` is what the ``amphicorn`` command exits with, so :mod:`amphicorn.exits`
needs to know only this base class, not every module that raises one. This module imports
nothing of amphicorn's: any module may raise these without an import cycle.

Errors a running app sees (``ClientDisconnected``) come from the Rust core instead.
"""

from __future__ import annotations

#: The exit statuses of ``amphicorn``.
OK = 0
FAILED = 1
USAGE = 2
LIFESPAN_FAILED = 3


class AmphicornError(Exception):
    """A failure that stops amphicorn; the message says what and names the setting or file."""

    exit_status: int = FAILED


class ConfigError(AmphicornError, ValueError):
    """A setting has a value amphicorn cannot use; the message names both."""

    exit_status = USAGE


class AppSpecError(ConfigError):
    """The app spec itself is malformed (a usage error, not an import failure)."""


class LogConfigError(ConfigError):
    """The logging configuration file cannot be applied; the message names it."""


class AppImportError(AmphicornError):
    """The app could not be loaded; the message says what and why."""


class BindError(AmphicornError, OSError):
    """An address could not be bound; the message names it."""


class LifespanFailure(AmphicornError):
    """The app's lifespan startup (or shutdown) failed; the message is the app's."""

    exit_status = LIFESPAN_FAILED
