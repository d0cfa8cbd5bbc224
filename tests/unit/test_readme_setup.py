"""README's first set-up command is the one the example's README gives (and
tests/test_example_mixed.py runs): a fresh machine that follows README gets the same server."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _setup_command(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    commands = re.findall(r"^pip install \. .*$", text, re.MULTILINE)
    assert commands, f"{path}: no 'pip install .' set-up command"
    return commands[0]


def test_readme_and_the_examples_readme_give_the_same_setup_command():
    assert _setup_command(ROOT / "README.md") == _setup_command(ROOT / "examples" / "mixed" / "README.md")
