"""A mount that names another one, by name or prefix, through a group of ``[[mount]]`` keys:
the weighted canary (``canary``, ``canary-*``) and shadow traffic (``shadow``, ``shadow-*``).
What the two share: reading their keys from a table, and checking that the link names
another mount and that its other keys come with it. What each does is ``canary.py``'s and
``shadow.py``'s (and the Rust core's).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from amphicorn.errors import ConfigError

#: A group's keys: ``[[mount]]`` key → (MountConfig field, converter).
Keys = Mapping[str, tuple[str, Callable[[Any, str], Any]]]
#: The mount a name or prefix refers to (``Config.resolve``), None when none does.
Resolve = Callable[[str], Any]


def from_table(keys: Keys, entry: dict[str, Any], label: str) -> dict[str, Any]:
    """The group's fields in one ``[[mount]]`` table, converted (``label`` names the table)."""
    return {field: convert(entry[key], f"{label} {key}") for key, (field, convert) in keys.items() if key in entry}


def validate(link: str, keys: Keys, mounts: Sequence[Any], resolve: Resolve) -> None:
    """Converts each mount's fields of the group ``link`` (``canary`` or ``shadow``: the key
    and field naming the other mount) and checks that the link names another mount, and that
    the group's other keys come with one; raises ConfigError naming the key and the value."""
    for mount in mounts:
        named = getattr(mount, link)
        for key, (field, convert) in keys.items():
            value = getattr(mount, field)
            if value is None:
                continue
            setattr(mount, field, convert(value, f"{key} of mount {mount.point!r}"))
            if named is None:
                raise ConfigError(f"{key} {value!r} of mount {mount.point!r}: given, but the mount names no {link}")
        named = getattr(mount, link)
        if named is None:
            continue
        target = resolve(named)
        if target is None or target is mount:
            raise ConfigError(
                f"{link} {named!r} of mount {mount.point!r}: expected the name or prefix of another mount"
            )
