"""Renders README.md's flag table from the declarations in ``amphicorn.settings``.

One row per declared setting (internal ones excepted), in declaration order: the flag (short
form, metavar, and notes: repeatable, per mount), its environment variables, its default.
The table goes between the ``settings-table`` marker comments; ``make settings-table`` runs
this script, and ``tests/unit/test_settings_table.py`` fails when README.md is out of date.

Usage: python scripts/settings_table.py [--readme FILE] [--check]
(``--check`` exits 1 if the README's table differs from the declarations, and writes nothing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import readme_section
from amphicorn.settings import SETTINGS, Setting

ROOT = Path(__file__).resolve().parent.parent
START, END = readme_section.markers("settings-table")


def _code(text: str) -> str:
    """Inline code in a table cell: pipes escaped, so they do not split the cell."""
    return "`" + text.replace("|", "\\|") + "`"


def flag_cell(setting: Setting) -> str:
    """``--bind/-b HOST:PORT`` (repeatable), ``--proxy-headers/--no-proxy-headers``, ``APP``."""
    if setting.style == "positional":
        text = setting.metavar or setting.flag.upper()
    elif setting.style == "switch":
        text = f"--{setting.flag}/--no-{setting.flag}"
    else:
        text = setting.option + (f"/-{setting.short}" if setting.short else "")
        if setting.style in ("value", "repeat") and setting.metavar:
            text += f" {setting.metavar}"
    notes = [setting.note] if setting.note else []
    if setting.style == "repeat":
        notes.append("repeatable")
    if setting.mount:
        notes.append("per mount")
    return _code(text) + (f" ({', '.join(notes)})" if notes else "")


def env_cell(setting: Setting) -> str:
    """``AMPHICORN_X`` (how a list is written) (or ``ALIAS``)."""
    cell = _code(setting.env)
    if setting.env_note:
        cell += f" ({setting.env_note})"
    if setting.aliases:
        cell += " (or " + ", ".join(_code(alias) for alias in setting.aliases) + ")"
    return cell


def render() -> str:
    """The markdown table of every setting that has a flag."""
    lines = ["| flag | environment variable | default |", "| --- | --- | --- |"]
    for setting in SETTINGS:
        if not setting.internal:
            default = setting.default.replace("|", "\\|") or "—"
            lines.append(f"| {flag_cell(setting)} | {env_cell(setting)} | {default} |")
    lines.append("| `--version`, `--help` | | |")
    return "\n".join(lines)


def rewrite(readme: str, table: str) -> str:
    """README's text with ``table`` between the ``settings-table`` markers."""
    return readme_section.rewrite(readme, "settings-table", table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true", help="fail if the README's table is not up to date")
    args = parser.parse_args(argv)
    readme = args.readme.read_text(encoding="utf-8")
    updated = rewrite(readme, render())
    if args.check:
        return 0 if updated == readme else 1
    args.readme.write_text(updated, encoding="utf-8")
    print(f"{args.readme}: table of {len(SETTINGS)} settings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
