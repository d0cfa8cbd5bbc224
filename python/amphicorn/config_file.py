"""Reads settings from a TOML file: ``--config amphicorn.toml``, or ``[tool.amphicorn]`` in
the ``pyproject.toml`` of the working directory when no ``--config`` is given.

Keys are the long flag names (``log-level`` or ``log_level``); each ``[[mount]]`` table
describes one app::

    bind = ["0.0.0.0:8000"]
    threads = 16

    [[mount]]
    prefix = "/"
    app = "mysite.wsgi:application"
    threads = 32

    [[mount]]
    prefix = "/api"
    app = "api.main:app"
    fallback = "/"          # what FastAPI answers with 404, Django gets to answer

Unknown keys are errors that name the file and the key; which keys exist, and which a
``[[mount]]`` table may override, comes from :mod:`amphicorn.settings`. Values are checked
by the CLI, with the setting's converter.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from amphicorn import settings
from amphicorn.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    # mypy checks as Python 3.10 (pyproject.toml), where tomli may not be installed.
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

#: Settings a file may hold, by flag name (declared in :mod:`amphicorn.settings`).
KEYS = settings.FILE_KEYS
#: Keys of a ``[[mount]]`` table.
MOUNT_KEYS = settings.MOUNT_KEYS


class FileSettings:
    """The settings of one file, with their origin for error messages."""

    def __init__(self, values: dict[str, Any], origin: str) -> None:
        self.values = values
        self.origin = origin

    def label(self, key: str) -> str:
        return f"{self.origin}: {key}"

    def get(self, key: str) -> Any:
        return self.values.get(key)


def load(path: str | None, directory: Path | None = None) -> FileSettings | None:
    """The settings of ``path``, or of ``[tool.amphicorn]`` in ``pyproject.toml``; None if neither."""
    if path is None:
        pyproject = (directory or Path.cwd()) / "pyproject.toml"
        if not pyproject.is_file():
            return None
        document = _read(pyproject)
        section = document.get("tool", {}).get("amphicorn")
        if section is None:
            return None
        return _checked(section, f"{pyproject.name} [tool.amphicorn]")
    file = Path(path)
    document = _read(file)
    if file.name == "pyproject.toml":
        document = document.get("tool", {}).get("amphicorn", {})
    return _checked(document, str(path))


def _read(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as stream:
            document: dict[str, Any] = tomllib.load(stream)
            return document
    except OSError as error:
        raise ConfigError(f"--config {str(file)!r}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"--config {str(file)!r}: not valid TOML: {error}") from None


def _checked(table: Any, origin: str) -> FileSettings:
    if not isinstance(table, dict):
        raise ConfigError(f"{origin}: expected a table of settings")
    values = {key.replace("_", "-"): value for key, value in table.items()}
    for key in values:
        if key not in KEYS:
            raise ConfigError(f"{origin}: unknown key {key!r} (known: {', '.join(sorted(KEYS))})")
    mounts = values.get("mount", [])
    if not isinstance(mounts, list) or not all(isinstance(mount, dict) for mount in mounts):
        raise ConfigError(f"{origin}: mount: expected [[mount]] tables")
    normalized = []
    for index, mount in enumerate(mounts, 1):
        entry = {key.replace("_", "-"): value for key, value in mount.items()}
        for key in entry:
            if key not in MOUNT_KEYS:
                known = ", ".join(sorted(MOUNT_KEYS))
                raise ConfigError(f"{origin}: mount #{index}: unknown key {key!r} (known: {known})")
        for required in ("prefix", "app"):
            if not isinstance(entry.get(required), str) or not entry[required]:
                raise ConfigError(f"{origin}: mount #{index}: {required!r} must be a non-empty string")
        normalized.append(entry)
    values["mount"] = normalized
    return FileSettings(values, origin)
