"""Which gateway interface an app speaks: ASGI 3 or WSGI; or whether the spec names a
directory of static files (``static:PATH``), served by the Rust core without Python.

An ``async def`` function, or an object whose ``__call__`` is one, is ASGI 3; anything
else callable is WSGI. An ``asgi:`` or ``wsgi:`` prefix on the app spec overrides the guess.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Literal

Interface = Literal["wsgi", "asgi"]
INTERFACES: tuple[Interface, ...] = ("wsgi", "asgi")
#: The app-spec prefix of a static mount: ``static:PATH``.
STATIC_PREFIX = "static:"


def static_directory(spec: object) -> str | None:
    """``'static:public'`` → ``'public'``; None for any other spec (or a callable)."""
    if isinstance(spec, str) and spec.startswith(STATIC_PREFIX):
        return spec.removeprefix(STATIC_PREFIX)
    return None


def split_prefix(spec: str) -> tuple[Interface | None, str]:
    """``'asgi:pkg.mod:app'`` → ``('asgi', 'pkg.mod:app')``; no prefix → ``(None, spec)``."""
    head, separator, rest = spec.partition(":")
    if separator and ":" in rest:
        for interface in INTERFACES:
            if head == interface:
                return interface, rest
    return None, spec


def detect(app: Any) -> Interface:
    """Guesses the interface of ``app`` from how it is defined."""
    target = app
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.iscoroutinefunction(target):
        return "asgi"
    if not inspect.isfunction(target) and not inspect.ismethod(target):
        call = getattr(target, "__call__", None)  # noqa: B004 - we want the bound method, not callable()
        if call is not None and inspect.iscoroutinefunction(call):
            return "asgi"
    return "wsgi"
