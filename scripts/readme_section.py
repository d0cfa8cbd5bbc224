"""Replaces a generated section of README.md: the text between a pair of marker comments
(``<!-- NAME:start -->`` … ``<!-- NAME:end -->``). Used by the scripts that generate
README's tables (``settings_table.py``, ``compat_table.py``)."""

from __future__ import annotations


def markers(name: str) -> tuple[str, str]:
    """The start and end comments of the section ``name``."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def rewrite(readme: str, name: str, body: str) -> str:
    """``readme`` with ``body`` between the markers of section ``name``; exits naming the
    markers when they are missing."""
    start, end = markers(name)
    before, found_start, rest = readme.partition(start)
    _, found_end, after = rest.partition(end)
    if not found_start or not found_end:
        raise SystemExit(f"README.md has no {start} … {end} markers")
    return f"{before}{start}\n{body}\n{end}{after}"
