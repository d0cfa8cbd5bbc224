# ruff: noqa: RUF001 -- the table prints ratios with a multiplication sign on purpose
"""Renders README.md's performance table from the strict run's results (bench/results/strict.json).

One row per scenario and connection count: amphicorn's median requests/s and CPU µs per
request, granian's (granian + a2wsgi where the scenario mounts both kinds of app, granian
having no other way to), pyvoy's, the ratios, and the other peers that matter for the row
(the bare hyper hello on hellos and its echo on echoes, gunicorn and uvicorn + a2wsgi on
WSGI, uvicorn on ASGI).
The table goes between the ``strict-table`` marker comments; ``make strict-table`` runs this
script after ``make bench-strict``, and ``tests/unit/test_strict_table.py`` fails when
README.md's table is not the committed results'.

Usage: python scripts/strict_table.py [--results FILE] [--readme FILE] [--check]
(``--check`` exits 1 if the README's table differs from the results, and writes nothing).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import readme_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "strict-table"

# The peers each kind of scenario lists in its last column, in order.
ALSO = {
    "wsgi-hello": ("hyper-hello", "gunicorn"),
    "wsgi-echo": ("hyper-echo", "gunicorn", "uvicorn+a2wsgi"),
    "wsgi": ("gunicorn", "uvicorn+a2wsgi"),
    "asgi-hello": ("hyper-hello", "uvicorn"),
    "asgi-echo": ("hyper-echo", "uvicorn"),
    "asgi": ("uvicorn",),
    "mixed": ("uvicorn+a2wsgi",),
}


def _also(scenario: str) -> tuple[str, ...]:
    if scenario in ALSO:
        return ALSO[scenario]
    if scenario.startswith(("mixed", "real-mixed")):
        return ALSO["mixed"]
    return ALSO["wsgi" if "wsgi" in scenario else "asgi"]


def _ratio(ours: dict | None, theirs: dict | None) -> str:
    if not (ours and theirs and ours["ok"] and theirs["ok"]):
        return "—"
    return f"{ours['rps'] / theirs['rps']:.2f}×"


def _rps(row: dict | None, suffix: str = "") -> str:
    return f"{row['rps']:,.0f}{suffix}" if row and row["ok"] else "—"


def _cpu(row: dict | None) -> str:
    return f"{row['cpu_us']:.1f}" if row and row["ok"] else "—"


def render(summary: list[dict]) -> str:
    """The markdown table of the run's summary rows (strict.json's ``summary``)."""
    rows = {(row["case"], row["kind"], row["server"]): row for row in summary}
    keys = list(dict.fromkeys((row["case"], row["kind"]) for row in summary))
    lines = [
        "| scenario | conns | amphicorn req/s | CPU µs/req | granian req/s | CPU µs/req | × granian "
        "| pyvoy req/s | × pyvoy | also |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for scenario, conns in keys:
        ours = rows.get((scenario, conns, "amphicorn"))
        mixed = scenario.startswith(("mixed", "real-mixed"))
        granian = rows.get((scenario, conns, "granian+a2wsgi" if mixed else "granian"))
        pyvoy = rows.get((scenario, conns, "pyvoy"))
        also = []
        for name in _also(scenario):
            row = rows.get((scenario, conns, name))
            if row and row["ok"]:
                also.append(f"{name} {row['rps']:,.0f} ({row['cpu_us']:.0f} µs)")
        lines.append(
            f"| {scenario} | {conns} | {_rps(ours)} | {_cpu(ours)} | {_rps(granian, ' (+a2wsgi)' if mixed else '')} "
            f"| {_cpu(granian)} | {_ratio(ours, granian)} | {_rps(pyvoy)} | {_ratio(ours, pyvoy)} | {'; '.join(also)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "strict.json")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    args = parser.parse_args(argv)
    summary = json.loads(args.results.read_text())["summary"]
    readme = args.readme.read_text()
    updated = readme_section.rewrite(readme, SECTION, render(summary))
    if args.check:
        if updated != readme:
            print(f"{args.readme}: its strict table is not {args.results}'s: make strict-table", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
