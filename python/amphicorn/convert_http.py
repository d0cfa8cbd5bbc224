"""Converters of HTTP words: header names and values, methods, tokens, media types, content
codings, request paths and URLs, and the access log format. Each works as the converters of
:mod:`amphicorn.convert` do (the value as given and where it came from in, the typed value
or a ConfigError naming both out); which setting uses which is :mod:`amphicorn.settings`'.
"""

from __future__ import annotations

import re

from amphicorn._amphicorn import check_access_log_format
from amphicorn.convert import split_list, text
from amphicorn.errors import ConfigError

#: The codings ``--compress`` may name.
CODINGS = ("br", "gzip", "zstd")
#: A ``--compress-types`` entry: ``type/subtype``, ``type/*`` or ``type/*+suffix``.
_MEDIA_TOKEN = r"[!#$%&'+.^_`|~0-9A-Za-z-]+"
_MEDIA_PATTERN = re.compile(rf"{_MEDIA_TOKEN}/(\*|\*\+{_MEDIA_TOKEN}|{_MEDIA_TOKEN})")


def codings(value: object, source: str) -> list[str]:
    """Content codings among br, gzip and zstd, in order of preference: a list or one
    comma-separated string (``br,gzip``); empty means none."""
    entries = split_list(value, ",")
    if entries is None or not all(isinstance(entry, str) for entry in entries):
        raise ConfigError(f"{source} {value!r}: expected codings among {', '.join(CODINGS)} (e.g. br,gzip)")
    checked: list[str] = []
    for entry in entries:
        coding = str(entry).strip().lower()
        if coding not in CODINGS:
            raise ConfigError(f"{source} {value!r}: {entry!r} is not one of {', '.join(CODINGS)}")
        if coding in checked:
            raise ConfigError(f"{source} {value!r}: {coding} is named twice")
        checked.append(coding)
    return checked


def media_types(value: object, source: str) -> list[str]:
    """At least one MIME type, ``type/*`` or ``type/*+suffix``: a list or one comma-separated
    string (``text/*, application/json``)."""
    entries = split_list(value, ",")
    if not entries or not all(isinstance(entry, str) for entry in entries):
        raise ConfigError(f"{source} {value!r}: expected MIME types like text/*, application/json")
    checked = []
    for entry in entries:
        pattern = str(entry).strip().lower()
        if not _MEDIA_PATTERN.fullmatch(pattern):
            raise ConfigError(f"{source} {value!r}: {entry!r} is not type/subtype, type/* or type/*+suffix")
        checked.append(pattern)
    return checked


def header_value(value: object, source: str) -> str:
    """Text fit for an HTTP header value: visible ASCII and spaces (e.g. ``public, max-age=3600``)."""
    header = text(value, source).strip()
    if not all(" " <= character <= "~" for character in header):
        raise ConfigError(f"{source} {value!r}: expected visible ASCII characters and spaces (an HTTP header value)")
    return header


def url_path(value: object, source: str) -> str:
    """A request path as clients send it: starts with ``/``, visible ASCII, no query or
    fragment (``/healthz``)."""
    path = text(value, source).strip()
    if (
        not path.startswith("/")
        or not all("!" <= character <= "~" for character in path)
        or any(character in path for character in "?#")
    ):
        raise ConfigError(f"{source} {value!r}: expected a path starting with '/' (visible ASCII, no '?' or '#')")
    return path


def http_url(value: object, source: str) -> str:
    """An ``http://`` or ``https://`` URL with a host."""
    url = text(value, source)
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
        raise ConfigError(f"{source} {url!r}: expected an http:// or https:// URL with a host")
    return url


def access_log_format(value: object, source: str) -> str:
    """A gunicorn-style access log format whose atoms the Rust core knows."""
    format_text = text(value, source)
    try:
        check_access_log_format(format_text)
    except ValueError as error:
        raise ConfigError(f"{source} {value!r}: {error}") from None
    return format_text


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def token(value: object, source: str) -> str:
    """An HTTP token (RFC 9110 §5.6.2): a header or cookie name such as ``X-User-Id``."""
    name = text(value, source).strip()
    if not _TOKEN.fullmatch(name):
        raise ConfigError(f"{source} {value!r}: expected a header or cookie name (letters, digits, -_.!#$%&'*+^`|~)")
    return name


def header_names(value: object, source: str) -> list[str]:
    """Header names: a list, or one comma-separated string (``Date, X-Request-Id``), each an
    HTTP token, lower-cased; empty means none."""
    entries = split_list(value, ",")
    if entries is None or not all(isinstance(entry, str) for entry in entries):
        raise ConfigError(f"{source} {value!r}: expected a list of header names")
    return [token(entry, source).lower() for entry in entries if str(entry).strip()]


def methods(value: object, source: str) -> list[str]:
    """HTTP methods: a list, or one comma-separated string (``GET, HEAD``), each an HTTP token,
    upper-cased; at least one."""
    entries = split_list(value, ",")
    if not entries or not all(isinstance(entry, str) for entry in entries):
        raise ConfigError(f'{source} {value!r}: expected a list of HTTP methods, e.g. ["GET", "HEAD"]')
    named = []
    for entry in entries:
        method = str(entry).strip().upper()
        if not _TOKEN.fullmatch(method):
            raise ConfigError(f"{source} {entry!r}: expected an HTTP method such as GET")
        if method not in named:
            named.append(method)
    return named
