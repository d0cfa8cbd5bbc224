"""The weighted canary's configuration: the ``[[mount]]`` keys that send a share of a mount's
requests to another mount, their checks, what the Rust core reads of them, and the weights
re-read from the config file on SIGHUP.

A mount names its canary by name or prefix, as it names its fallback::

    [[mount]]
    prefix = "/api"
    app = "legacy.wsgi:application"
    canary = "next"                 # the mount below takes a share of /api
    canary-weight = 10              # percent
    canary-key-header = "X-User-Id" # sticky by this header (else by a cookie amphicorn sets)
    canary-max-error-rate = 0.05    # roll back to 0% past 5% of 5xx over canary-window seconds

    [[mount]]
    prefix = "/_next"
    name = "next"
    app = "api.main:app"

Which request goes where, the rollback and ``PUT /canary/<mount>`` are the Rust core's
(src/server/canary.rs, canary_window.rs, canary_admin.rs; with workers, the supervisor's
canary_workers.rs). These keys exist only in ``[[mount]]`` tables (and
:class:`~amphicorn.config.MountConfig`): ``--mount`` text has no per-mount options.

With workers, the weight a worker starts with is, of these, the one set last: the config
file's at start, a ``PUT`` to the supervisor's admin listener (or a rollback, which it spreads
to every worker), the config file's again on SIGHUP. The supervisor keeps the weights it set
(``Admin.canary_weights``) and starts each worker with them (:func:`with_weights`); SIGHUP
reads the file's into the config new workers get and forgets those (:func:`reload_for_workers`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from amphicorn import config_file, convert
from amphicorn import log as logs
from amphicorn.config import Config, mount_address
from amphicorn.errors import ConfigError
from amphicorn.mount_links import Resolve

DEFAULT_COOKIE = "amphicorn-canary"
#: Seconds of canary answers the rollback looks at.
DEFAULT_WINDOW = 60.0


class Fields(Protocol):
    """The canary fields of :class:`~amphicorn.config.MountConfig` (and its point and name)."""

    point: str
    name: str | None
    canary: str | None
    canary_weight: float | None
    canary_cookie: str | None
    canary_key_header: str | None
    canary_max_error_rate: float | None
    canary_window: float | None


def settings_for(mount: Fields, resolve: Resolve) -> dict[str, Any]:
    """What the Rust core reads of a mount's canary (``amphicorn.server.Mount`` fields)."""
    target = resolve(mount.canary) if mount.canary is not None else None
    return {
        "name": mount.name,
        "canary": target.point if target is not None else None,
        "canary_weight": mount.canary_weight or 0.0,
        "canary_cookie": mount.canary_cookie or DEFAULT_COOKIE,
        "canary_key_header": mount.canary_key_header,
        "canary_max_error_rate": mount.canary_max_error_rate,
        "canary_window": mount.canary_window or DEFAULT_WINDOW,
    }


def reload_weights(path: str | None, set_weight: Callable[[str, float], bool]) -> None:
    """SIGHUP: sets each canary's weight to what the config file at ``path`` (None: the
    ``pyproject.toml`` here) says now, and logs it; a bad file is logged and changes nothing."""
    try:
        weights = file_weights(path)
    except ConfigError as error:
        logs.logger.error("Canary weights not reloaded: %s", error)
        return
    for point, weight in weights.items():
        if set_weight(point, weight):
            logs.logger.info("Canary weight of mount %s set to %g%% (config file re-read on SIGHUP)", point, weight)


def file_weights(path: str | None) -> dict[str, float]:
    """The ``canary-weight`` of each ``[[mount]]`` of the config file that has a canary, by
    prefix (a mount without the key: 0), for SIGHUP; raises ConfigError for a bad file."""
    file = config_file.load(path)
    if file is None:
        return {}
    weights = {}
    for index, entry in enumerate(file.get("mount") or [], 1):
        if "canary" in entry:
            weight = entry.get("canary-weight", 0)
            weights[entry["prefix"]] = convert.percent(weight, file.label(f"mount #{index} canary-weight"))
    return weights


def with_weights(config: Config, weights: Mapping[str, float]) -> Config:
    """``config`` with its canaries at ``weights`` (percent, by mount address: ``/shop``) in
    place of their own, for a worker to start with; an address of no mount with a canary is
    passed over."""
    if not weights:
        return config
    mounts = []
    for mount in config.mounts:
        weight = weights.get(mount_address(mount.point) or "") if mount.canary is not None else None
        mounts.append(mount if weight is None else dataclasses.replace(mount, canary_weight=weight))
    return dataclasses.replace(config, mounts=mounts)


def reload_for_workers(config: Config, forget: Callable[[list[str]], None]) -> Config:
    """SIGHUP under a supervisor: ``config`` with the weights the config file gives now, for
    the workers of the rolling restart, logged as a single process logs them; ``forget``
    drops the weights the supervisor set for those mounts (``PUT``, rollback), so the file
    wins. A bad file is logged and changes nothing; without canaries nothing is read."""
    canaries = {mount_address(mount.point) for mount in config.mounts if mount.canary is not None}
    if not canaries:
        return config
    read: dict[str, float] = {}

    def set_weight(point: str, weight: float) -> bool:
        address = mount_address(point)
        if address is None or address not in canaries:
            return False
        read[address] = weight
        return True

    reload_weights(config.config_file, set_weight)
    if read:
        forget(list(read))
    return with_weights(config, read)
