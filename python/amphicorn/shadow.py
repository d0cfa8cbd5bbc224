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

from typing import Any, Protocol

from amphicorn.mount_links import Resolve

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
