"""A pytest plugin that writes the outcome of ``test_frameworks.py`` to
``tests/.results/frameworks.json``, for ``scripts/compat_table.py``.

Each test there is tagged with its row (``framework``, ``placement``, ``version``…, as
``user_properties`` from the test module's ``framework_row(item)``); this plugin gathers the
outcome of every check per row and writes the file once the session ends, with the rows of
the frameworks that cannot run here (the module's ``unavailable_rows()``: their evidence, no
checks) under ``"unavailable"``. Runs that include no such test leave the file alone.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from support import TESTS_DIR

RESULTS_FILE = TESTS_DIR / ".results" / "frameworks.json"
ROW_KEYS = ("framework", "interface", "version", "placement", "prefix", "notes", "order")

_rows: dict[tuple[str, str], dict] = {}
_unavailable: dict[str, dict] = {}


def pytest_itemcollected(item) -> None:
    row = getattr(item.module, "framework_row", None)
    if row is not None:
        item.user_properties += row(item)
    unavailable = getattr(item.module, "unavailable_rows", None)
    if unavailable is not None and not _unavailable:
        _unavailable.update((entry["framework"], entry) for entry in unavailable())


def pytest_runtest_logreport(report) -> None:
    properties = dict(report.user_properties)
    if "framework" not in properties:
        return
    # The call phase decides; a setup that skipped or failed (and a failing teardown) too.
    if report.when != "call" and report.passed:
        return
    row = _rows.setdefault(
        (properties["framework"], properties["placement"]),
        {**{key: properties[key] for key in ROW_KEYS}, "checks": {}},
    )
    check = report.nodeid.split("::")[-1].split("[")[0]
    if hasattr(report, "wasxfail"):
        outcome, reason = "xfailed", report.wasxfail
    elif report.skipped:
        outcome = "skipped"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
    elif report.failed:
        outcome = "failed"
        reason = report.longrepr.reprcrash.message if hasattr(report.longrepr, "reprcrash") else str(report.longrepr)
    else:
        outcome, reason = "passed", ""
    previous = row["checks"].get(check)
    if previous is None or previous["outcome"] == "passed":
        row["checks"][check] = {"outcome": outcome, "reason": reason.splitlines()[0] if reason else ""}


def pytest_sessionfinish(session) -> None:
    if not _rows:
        return
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    rows = sorted(_rows.values(), key=lambda row: (row["order"], row["placement"] != "root"))
    document = {
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": rows,
        "unavailable": sorted(_unavailable.values(), key=lambda row: row["order"]),
    }
    RESULTS_FILE.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
