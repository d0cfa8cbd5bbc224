"""Converters: one function per kind of setting value, shared by every source.

Each takes the value as it arrives (a command-line or environment string, a TOML value, or
a Python value given to :func:`amphicorn.run` or already in a :class:`~amphicorn.Config`) and
the name of where it came from (``--threads``, ``AMPHICORN_THREADS``, ``amphicorn.toml:
threads``, ``threads``), and returns the typed value or raises :class:`ConfigError` naming
both. Converting a value a converter returned gives it back unchanged, so
:meth:`Config.validate` checks typed values with the same functions the CLI parses with.
Which setting uses which converter is :mod:`amphicorn.settings`' business. The converters
of HTTP words (header names and values, methods, media types, codings, URLs) are in
:mod:`amphicorn.convert_http`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import math
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from amphicorn.errors import ConfigError

T = TypeVar("T")
#: ``convert(value, source)``: the typed value, or ConfigError naming ``source`` and ``value``.
Converter = Callable[[object, str], T]

#: The longest time any seconds setting may hold: a year. Longer values are mistakes (and
#: overflow the Rust core's timers), as are inf and nan.
MAX_SECONDS = 31_536_000
#: The largest whole number a setting takes: what the Rust core's 64-bit sizes and counters
#: hold (a larger one would fail there, after validation).
MAX_WHOLE = 2**63 - 1
#: ``listen()`` takes the backlog as a C int (and the kernel caps it at somaxconn anyway);
#: HTTP/2's settings are 31-bit too.
MAX_INT31 = 2**31 - 1


def text(value: object, source: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{source} {value!r}: expected a non-empty string")
    return value


def secret(value: object, source: str) -> str:
    """A non-empty string that no message shows (a password)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: expected a non-empty string (the value is not shown)")
    return value


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _whole_in_range(value: object, source: str, minimum: int, maximum: int, expected: str) -> int:
    """``value`` as a whole number from ``minimum`` (else "expected ``expected``") to ``maximum``."""
    number = _whole_number(value)
    if number is None or number < minimum:
        raise ConfigError(f"{source} {value!r}: expected {expected}")
    if number > maximum:
        raise ConfigError(f"{source} {value!r}: expected a whole number of at most {maximum}")
    return number


def positive_int(value: object, source: str) -> int:
    """A whole number from 1 to :data:`MAX_WHOLE` (``"4"`` or ``4``)."""
    return _whole_in_range(value, source, 1, MAX_WHOLE, "a whole number of at least 1")


def non_negative_int(value: object, source: str) -> int:
    """A whole number from 0 to :data:`MAX_WHOLE`."""
    return _whole_in_range(value, source, 0, MAX_WHOLE, "a whole number of at least 0")


def positive_int31(value: object, source: str) -> int:
    """A whole number from 1 to :data:`MAX_INT31` (a listen backlog, an HTTP/2 setting)."""
    return _whole_in_range(value, source, 1, MAX_INT31, "a whole number of at least 1")


def bytes_at_least(minimum: int) -> Converter[int]:
    """A number of bytes, at least ``minimum``."""

    def convert(value: object, source: str) -> int:
        return _whole_in_range(value, source, minimum, MAX_WHOLE, f"a number of bytes, at least {minimum}")

    return convert


def port(value: object, source: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    number = _whole_number(value)
    if number is None or not 0 <= number <= 65535:
        raise ConfigError(f"{source} {value!r}: port must be a number from 0 to 65535")
    return number


def _seconds(value: object, source: str, lowest: str) -> float:
    seconds = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            seconds = float(value.strip())
    if math.isnan(seconds) or seconds < 0 or (seconds == 0 and lowest == "more than 0"):
        raise ConfigError(f"{source} {value!r}: expected a number of seconds, {lowest}")
    if seconds > MAX_SECONDS:
        raise ConfigError(f"{source} {value!r}: expected a number of seconds, at most {MAX_SECONDS} (a year)")
    return seconds


def seconds(value: object, source: str) -> float:
    """Seconds from 0 to :data:`MAX_SECONDS`."""
    return _seconds(value, source, "at least 0")


def positive_seconds(value: object, source: str) -> float:
    """Seconds, more than 0 and at most :data:`MAX_SECONDS`."""
    return _seconds(value, source, "more than 0")


def boolean(value: object, source: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off; an empty string is false)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)):
        word = str(value).strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off", ""):
            return False
    raise ConfigError(f"{source} {value!r}: expected true or false")


def choice(choices: Sequence[str]) -> Converter[str]:
    """One of ``choices``, in any case."""

    def convert(value: object, source: str) -> str:
        # A config file may write a numbered choice as a number (``http = 2``).
        number = isinstance(value, int) and not isinstance(value, bool)
        word = value.lower() if isinstance(value, str) else str(value) if number else None
        if word is None or word not in choices:
            raise ConfigError(f"{source} {value!r}: expected one of {', '.join(choices)}")
        return word

    return convert


def aliased(choices: Sequence[str], aliases: dict[str, str]) -> Converter[str]:
    """One of ``choices``, in any case, or an alias of one (``2`` for ``required``; a number
    may be given as one)."""
    pick = choice(choices)

    def convert(value: object, source: str) -> str:
        word = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else value
        if isinstance(word, str) and word in aliases:
            return aliases[word]
        try:
            return pick(value, source)
        except ConfigError:
            names = ", ".join((*choices, *aliases))
            raise ConfigError(f"{source} {value!r}: expected one of {names}") from None

    return convert


def installed(convert: Converter[str], packages: dict[str, str]) -> Converter[str]:
    """``convert``, then: a value that names a package of ``packages`` needs it installed
    (``{"uvloop": "pip install uvloop"}``)."""

    def check(value: object, source: str) -> str:
        word = convert(value, source)
        if word in packages and importlib.util.find_spec(word) is None:
            raise ConfigError(f"{source} {word!r}: {word} is not installed ({packages[word]})")
        return word

    return check


def split_list(value: object, separators: str) -> list[object] | None:
    """A list as given, or a string split at any of ``separators`` (empty parts dropped);
    None for anything else."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        for separator in separators[1:]:
            value = value.replace(separator, separators[0])
        return [part for part in value.split(separators[0]) if part.strip()]
    return None


def address_list(value: object, source: str) -> list[str]:
    """``10.0.0.1, 10.1.0.0/16`` (or a list) → addresses, networks or ``*``, each checked."""
    entries = split_list(value, ",")
    if entries is None or not all(isinstance(entry, str) for entry in entries):
        raise ConfigError(f"{source} {value!r}: expected IP addresses, networks like 10.0.0.0/8, or *")
    checked = []
    for entry in entries:
        address = str(entry).strip()
        if not address:
            continue
        if address != "*":
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                raise ConfigError(
                    f"{source} {address!r}: expected an IP address, a network like 10.0.0.0/8, or *"
                ) from None
        checked.append(address)
    return checked


def bind_texts(value: object, source: str) -> list[str]:
    """``HOST:PORT`` addresses: a list, or one string separated by spaces or commas. Each is
    parsed by :meth:`amphicorn.binds.Bind.parse`."""
    texts = split_list(value, " ,")
    if not texts or not all(isinstance(entry, str) for entry in texts):
        raise ConfigError(f"{source} {value!r}: expected HOST:PORT")
    return [str(entry).strip() for entry in texts]


def mount_texts(value: object, source: str) -> list[str]:
    """``PREFIX=APP`` mounts: a list, or one string separated by spaces. Each is parsed by
    :meth:`amphicorn.config.MountConfig.parse`."""
    texts = split_list(value, " ")
    if texts is None or not all(isinstance(entry, str) for entry in texts):
        raise ConfigError(f"{source} {value!r}: expected PREFIX=APP, e.g. /api=myapi.main:app")
    return [str(entry).strip() for entry in texts]


def directory(value: object, source: str) -> str:
    """An existing directory, made absolute."""
    if not isinstance(value, str) or not value or not os.path.isdir(value):
        raise ConfigError(f"{source} {value!r}: not a directory")
    return os.path.abspath(value)


def directories(value: object, source: str) -> list[str]:
    """Existing directories: a list, or one string separated by ``os.pathsep``."""
    texts = split_list(value, os.pathsep)
    if texts is None:
        raise ConfigError(f"{source} {value!r}: expected a directory or a list of them")
    return [directory(entry, source) for entry in texts]


def new_file(value: object, source: str) -> str:
    """A file path in an existing directory (the file itself may not exist yet), made absolute."""
    path = text(value, source)
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))) or os.path.isdir(path):
        raise ConfigError(f"{source} {value!r}: expected a file in an existing directory")
    return os.path.abspath(path)


def existing_file(value: object, source: str) -> str:
    """A file that exists."""
    path = text(value, source)
    if not os.path.isfile(path):
        raise ConfigError(f"{source} {value!r}: no such file")
    return path


def file_name(value: object, source: str) -> str:
    """The name of a file in a directory: no ``/`` or ``\\``, not hidden (``index.html``)."""
    name = text(value, source).strip()
    if "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        raise ConfigError(f"{source} {value!r}: expected a file name without '/', not starting with '.'")
    return name


def _number(value: object) -> float:
    """``value`` as a float (a number or its text), NaN when it is neither."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value.strip())
    return math.nan


def percent(value: object, source: str) -> float:
    """A share in percent, from 0 to 100 (``10``, ``2.5``)."""
    number = _number(value)
    if not 0 <= number <= 100:
        raise ConfigError(f"{source} {value!r}: expected a percentage from 0 to 100")
    return number


def fraction(value: object, source: str) -> float:
    """A rate from 0 to 1 (``0.05`` for 5%)."""
    number = _number(value)
    if not 0 <= number <= 1:
        raise ConfigError(f"{source} {value!r}: expected a rate from 0 to 1, e.g. 0.05")
    return number
