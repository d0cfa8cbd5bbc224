# ruff: noqa: RUF001 -- the table prints ratios with a multiplication sign
"""README.md's performance table is the one scripts/strict_table.py renders from the
committed strict run (bench/results/strict.json): results committed without
``make strict-table``, or a table edited by hand, fail here."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# As when run from scripts/: the script imports its sibling readme_section.
sys.path.insert(0, str(ROOT / "scripts"))

import strict_table  # noqa: E402


def test_readme_table_is_the_committed_runs() -> None:
    assert strict_table.main(["--check"]) == 0, "README.md's strict table is stale: make strict-table"


def _row(case: str, kind: str, server: str, rps: float, cpu_us: float) -> dict:
    return {"case": case, "kind": kind, "server": server, "ok": True, "rps": rps, "cpu_us": cpu_us}


def test_mixed_rows_compare_with_granian_behind_a2wsgi_and_failed_peers_show_a_dash() -> None:
    summary = [
        _row("wsgi-hello", "64", "amphicorn", 120_000, 9.0),
        _row("wsgi-hello", "64", "granian", 100_000, 10.0),
        _row("wsgi-hello", "64", "hyper-hello", 160_000, 6.0),
        {"case": "wsgi-hello", "kind": "64", "server": "pyvoy", "ok": False, "error": "died"},
        _row("mixed", "256", "amphicorn", 90_000, 11.0),
        _row("mixed", "256", "granian", 1.0, 1.0),  # not the mixed peer: ignored
        _row("mixed", "256", "granian+a2wsgi", 45_000, 21.0),
    ]
    lines = strict_table.render(summary).splitlines()
    assert lines[2] == (
        "| wsgi-hello | 64 | 120,000 | 9.0 | 100,000 | 10.0 | 1.20× | — | — | hyper-hello 160,000 (6 µs) |"
    )
    assert lines[3] == "| mixed | 256 | 90,000 | 11.0 | 45,000 (+a2wsgi) | 21.0 | 2.00× | — | — |  |"
