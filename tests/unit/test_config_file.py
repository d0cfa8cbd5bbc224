"""amphicorn.config_file on real TOML files in tmp_path, and the packaging it needs.

No server starts: load() reads and checks keys; the values are the CLI's business
(tests/unit/test_cli_parse.py).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from amphicorn import config_file
from amphicorn.errors import ConfigError
from packaging.markers import Marker
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str, name: str = "amphicorn.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_keys_are_flag_names_with_either_separator(tmp_path: Path):
    path = _write(tmp_path, "log_level = 'debug'\nqueue-size = 8\nqueue_timeout = 2.5\napp_dir = '.'\n")
    file = config_file.load(str(path))
    assert file is not None
    assert file.get("log-level") == "debug"
    assert file.get("queue-size") == 8
    assert file.get("queue-timeout") == 2.5
    assert file.get("app-dir") == "."
    assert file.get("preread-limit") is None
    assert file.label("threads") == f"{path}: threads"


def test_unknown_key_names_file_and_key(tmp_path: Path):
    path = _write(tmp_path, "colour = 'blue'\n")
    with pytest.raises(ConfigError, match=rf"^{path}: unknown key 'colour' \(known: .*queue-timeout"):
        config_file.load(str(path))


def test_config_is_not_a_key(tmp_path: Path):
    path = _write(tmp_path, "config = 'other.toml'\n")
    with pytest.raises(ConfigError, match="unknown key 'config'"):
        config_file.load(str(path))


def test_mount_tables(tmp_path: Path):
    path = _write(
        tmp_path,
        "[[mount]]\nprefix = '/'\napp = 'a:app'\nqueue_size = 4\nqueue-timeout = 1\n"
        "[[mount]]\nprefix = '/api'\napp = 'b:app'\nfallback = '/'\n",
    )
    file = config_file.load(str(path))
    assert file is not None
    assert file.get("mount") == [
        {"prefix": "/", "app": "a:app", "queue-size": 4, "queue-timeout": 1},
        {"prefix": "/api", "app": "b:app", "fallback": "/"},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[mount]]\nprefix = '/x'\napp = 'a:app'\nsize = 3\n", "mount #1: unknown key 'size'"),
        ("[[mount]]\nprefix = '/x'\napp = 'a:app'\nworkers = 3\n", "mount #1: unknown key 'workers'"),
        ("[[mount]]\napp = 'a:app'\n", "mount #1: 'prefix' must be a non-empty string"),
        ("[[mount]]\nprefix = '/x'\napp = ''\n", "mount #1: 'app' must be a non-empty string"),
        ("mount = 'x'\n", "mount: expected [[mount]] tables"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_file.load(str(path))


def test_a_missing_file_is_named(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"--config '.*nowhere.toml': No such file"):
        config_file.load(str(tmp_path / "nowhere.toml"))


def test_pyproject_section_is_read_from_the_directory(tmp_path: Path):
    assert config_file.load(None, tmp_path) is None
    _write(tmp_path, "[tool.other]\nthreads = 1\n", "pyproject.toml")
    assert config_file.load(None, tmp_path) is None
    _write(tmp_path, "[tool.amphicorn]\nthreads = 3\n", "pyproject.toml")
    file = config_file.load(None, tmp_path)
    assert file is not None
    assert file.get("threads") == 3
    assert file.label("threads") == "pyproject.toml [tool.amphicorn]: threads"


def test_an_explicit_pyproject_reads_its_section(tmp_path: Path):
    path = _write(tmp_path, "[tool.amphicorn]\nworkers = 2\n", "pyproject.toml")
    file = config_file.load(str(path))
    assert file is not None
    assert file.get("workers") == 2


def test_tomli_is_a_dependency_before_python_3_11():
    """config_file.py imports tomli on Python 3.10: the package must depend on it there."""
    with (ROOT / "pyproject.toml").open("rb") as stream:
        project = tomllib.load(stream)["project"]
    requirements = [Requirement(text) for text in project.get("dependencies", [])]
    tomli = [requirement for requirement in requirements if requirement.name == "tomli"]
    assert tomli, "pyproject.toml [project] dependencies does not declare tomli"
    marker = tomli[0].marker or Marker("python_version >= '0'")
    assert marker.evaluate({"python_version": "3.10"})
    assert not marker.evaluate({"python_version": "3.11"})
    assert project["requires-python"] == ">=3.10"
