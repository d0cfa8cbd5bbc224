"""README.md's flag table is the one scripts/settings_table.py renders from amphicorn.settings.

A setting added, renamed or changed without ``make settings-table`` fails here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from amphicorn.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
# As when run from scripts/: the script imports its sibling readme_section.
sys.path.insert(0, str(ROOT / "scripts"))

import settings_table  # noqa: E402


def test_readme_table_matches_the_declarations():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stale = "README.md's flag table is stale: make settings-table"
    assert settings_table.rewrite(readme, settings_table.render()) == readme, stale


def test_every_flag_has_a_row():
    table = settings_table.render()
    for setting in SETTINGS:
        if not setting.internal:
            assert f"`{setting.option}" in table or f"`{setting.metavar}`" in table, setting.flag
            assert f"`{setting.env}`" in table


def test_check_mode_reports_a_stale_table(tmp_path: Path):
    readme = tmp_path / "README.md"
    text = f"intro\n{settings_table.START}\n| old | table |\n{settings_table.END}\nafter\n"
    readme.write_text(text, encoding="utf-8")
    assert settings_table.main(["--readme", str(readme), "--check"]) == 1
    assert readme.read_text(encoding="utf-8") == text
    assert settings_table.main(["--readme", str(readme)]) == 0
    assert settings_table.main(["--readme", str(readme), "--check"]) == 0
    updated = readme.read_text(encoding="utf-8")
    assert updated.startswith(f"intro\n{settings_table.START}\n| flag |")
    assert updated.endswith(f"{settings_table.END}\nafter\n")
    assert "`--queue-timeout SECONDS` (per mount)" in updated


def test_missing_markers_are_an_error(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="markers"):
        settings_table.main(["--readme", str(readme)])
