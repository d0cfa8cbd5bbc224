"""A ``--log-config`` file that cannot be applied: one message naming the file, status 2,
before anything binds, however the server runs (one process, several workers, ``--reload``,
``--limit-max-requests``)."""

from __future__ import annotations

from pathlib import Path

import pytest

MODES = {
    "one process": [],
    "workers": ["-w", "2"],
    "reload": ["--reload"],
    "max requests": ["--limit-max-requests", "10"],
}

BROKEN_FILES = {
    # dictConfig refuses a handler class that does not exist.
    "broken.json": '{"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}',
    # fileConfig refuses a file without its [formatters] and [handlers] sections.
    "broken.ini": "[loggers]\nkeys=root\n",
}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(BROKEN_FILES))
def test_a_log_config_that_cannot_be_applied_exits_2_naming_it(run_cli, tmp_path: Path, mode: str, name: str):
    path = tmp_path / name
    path.write_text(BROKEN_FILES[name])
    result = run_cli("apps.basic:hello", "--bind", "127.0.0.1:0", "--log-config", str(path), *MODES[mode])
    assert result.returncode == 2, result
    assert f"amphicorn: error: log_config {str(path)!r}: " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "Listening on" not in result.stderr, result.stderr
