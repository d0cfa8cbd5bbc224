"""Shadow traffic's configuration: the ``[[mount]]`` keys that mirror a mount's requests to
another mount in the background and compare the answers, their checks, and what the Rust
core reads of them.

A mount names its shadow by name or prefix, as it names its fallback or canary::

    [[mount]]
    prefix = "/"
    app = "legacy.wsgi:application"
    shadow = "next"                      # the mount below gets a copy of each request
    shadow-sample = 0.25                 # a quarter of them (default: all)
    shadow-methods = ["GET", "HEAD"]     # the default; unsafe methods only when listed
    shadow-ignore-headers = ["X-Request-Id"]
    shadow-max-concurrency = 8           # comparisons at once; more are skipped

    [[mount]]
    prefix = "/_next"
    name = "next"
    app = "api.main:app"

Drawing, teeing, running the copy, comparing and reporting are the Rust core's
(src/server/shadow.rs, shadow_route.rs, shadow_run.rs, shadow_compare.rs, src/http/tee.rs;
src/metrics/shadow.rs). These keys exist only in
``[[mount]]`` tables (and :class:`~amphicorn.config.MountConfig`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from amphicorn.errors import ConfigError
from amphicorn.settings import SHADOW_KEYS

#: The methods shadowed unless ``shadow-methods`` says otherwise: the safe ones.
DEFAULT_METHODS = ("GET", "HEAD")
#: Comparisons of one mount pair at once, by default; more are skipped (and counted).
DEFAULT_MAX_CONCURRENCY = 8


class Fields(Protocol):
    """The shadow fields of :class:`~amphicorn.config.MountConfig` (and its point)."""

    point: str
    shadow: str | None
    shadow_sample: float | None
    shadow_methods: list[str] | None
    shadow_ignore_headers: list[str] | None
    shadow_max_concurrency: int | None


#: The mount a name or prefix refers to (``Config.resolve``), None when none does.
Resolve = Callable[[str], Any]


def from_table(entry: dict[str, Any], label: str) -> dict[str, Any]:
    """The shadow fields of one ``[[mount]]`` table, converted (``label`` names the table)."""
    return {
        field: convert_value(entry[key], f"{label} {key}")
        for key, (field, convert_value) in SHADOW_KEYS.items()
        if key in entry
    }


def validate(mounts: Sequence[Fields], resolve: Resolve) -> None:
    """Converts each mount's shadow fields and checks that ``shadow`` names another mount,
    and that the other ``shadow-*`` keys come with one; raises ConfigError naming the key
    and the value."""
    for mount in mounts:
        for key, (field, convert_value) in SHADOW_KEYS.items():
            value = getattr(mount, field)
            if value is None:
                continue
            setattr(mount, field, convert_value(value, f"{key} of mount {mount.point!r}"))
            if mount.shadow is None:
                raise ConfigError(f"{key} {value!r} of mount {mount.point!r}: given, but the mount names no shadow")
        if mount.shadow is None:
            continue
        target = resolve(mount.shadow)
        if target is None or target is mount:
            raise ConfigError(
                f"shadow {mount.shadow!r} of mount {mount.point!r}: expected the name or prefix of another mount"
            )


def settings_for(mount: Fields, resolve: Resolve) -> dict[str, Any]:
    """What the Rust core reads of a mount's shadow (``amphicorn.server.Mount`` fields)."""
    target = resolve(mount.shadow) if mount.shadow is not None else None
    return {
        "shadow": target.point if target is not None else None,
        "shadow_sample": 1.0 if mount.shadow_sample is None else mount.shadow_sample,
        "shadow_methods": list(mount.shadow_methods or DEFAULT_METHODS),
        "shadow_ignore_headers": list(mount.shadow_ignore_headers or ()),
        "shadow_max_concurrency": mount.shadow_max_concurrency or DEFAULT_MAX_CONCURRENCY,
    }
