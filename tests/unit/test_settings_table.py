"""README.md's flag table is the one scripts/settings_table.py renders from amphicorn.settings.

A setting added, renamed or changed without ``make settings-table`` fails here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from amphicorn.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    # The script imports its sibling readme_section, as it does when run from scripts/.
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_matches_the_declarations():
    script = _script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.rewrite(readme, script.render()) == readme, "README.md's flag table is stale: make settings-table"


def test_every_flag_has_a_row():
    table = _script().render()
    for setting in SETTINGS:
        if not setting.internal:
            assert f"`{setting.option}" in table or f"`{setting.metavar}`" in table, setting.flag
            assert f"`{setting.env}`" in table


def test_check_mode_reports_a_stale_table(tmp_path: Path):
    script = _script()
    readme = tmp_path / "README.md"
    text = f"intro\n{script.START}\n| old | table |\n{script.END}\nafter\n"
    readme.write_text(text, encoding="utf-8")
    assert script.main(["--readme", str(readme), "--check"]) == 1
    assert readme.read_text(encoding="utf-8") == text
    assert script.main(["--readme", str(readme)]) == 0
    assert script.main(["--readme", str(readme), "--check"]) == 0
    updated = readme.read_text(encoding="utf-8")
    assert updated.startswith(f"intro\n{script.START}\n| flag |")
    assert updated.endswith(f"{script.END}\nafter\n")
    assert "`--queue-timeout SECONDS` (per mount)" in updated


def test_missing_markers_are_an_error(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="markers"):
        _script().main(["--readme", str(readme)])
