"""The compatibility table's unavailable rows (``tests/frameworks/catalog.py``) stay true.

A row of evidence goes stale when its framework becomes importable here: then this fails, so
somebody writes the framework's app and moves it to ``FRAMEWORKS``. Each import runs in a
child process (the framework's import-time warnings are not ours).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from frameworks.catalog import FRAMEWORKS, UNAVAILABLE


def test_unavailable_frameworks_still_do_not_import():
    importable = []
    for framework in UNAVAILABLE:
        if importlib.util.find_spec(framework.module.split(".")[0]) is None:
            continue
        proc = subprocess.run(
            [sys.executable, "-c", f"import {framework.module}"], capture_output=True, timeout=60, check=False
        )
        if proc.returncode == 0:
            importable.append(framework.name)
    assert not importable, f"{importable} import now: their rows need an app instead of evidence"


def test_every_framework_is_listed_once():
    """The table has one line per name: a name listed twice would merge two rows into one."""
    names = [framework.name for framework in FRAMEWORKS + UNAVAILABLE]
    assert len(names) == len(set(names))
