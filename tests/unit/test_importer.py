"""amphicorn.importer: app specs, and importing apps from modules written to tmp_path.

Each test writes modules with names of their own (so the import cache of one test does not
answer for another) and restores ``sys.path`` and ``sys.modules`` afterwards.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from amphicorn.errors import AppImportError, AppSpecError, ConfigError
from amphicorn.importer import import_app, parse_spec

_numbers = itertools.count()


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    """``module(source)`` writes a module of a fresh name into tmp_path and returns its name."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))

    def write(source: str) -> str:
        name = f"amphicorn_importer_case_{next(_numbers)}"
        (tmp_path / f"{name}.py").write_text(source)
        return name

    return write


HELLO = "def app(environ, start_response):\n    return [b'hi']\n"


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("pkg.mod:app", ("pkg.mod", "app", False)),
        ("pkg.mod:app.attr()", ("pkg.mod", "app.attr", True)),
        ("mysite.wsgi", ("mysite.wsgi", "application", False)),
        ("  mod:create_app()  ", ("mod", "create_app", True)),
        ("mod:", ("mod", "application", False)),  # an empty attribute means "application", as gunicorn
    ],
)
def test_parse_spec(spec: str, parsed: tuple[str, str, bool]):
    assert parse_spec(spec) == parsed


@pytest.mark.parametrize("spec", ["", ":app", "mod:app()()", "my-site:app", "mod:1app", "a..b:app"])
def test_bad_specs_are_usage_errors(spec: str):
    with pytest.raises(AppSpecError, match="expected 'module:attribute'") as caught:
        parse_spec(spec)
    assert isinstance(caught.value, ConfigError)
    assert repr(spec) in str(caught.value)


def test_imports_the_named_attribute(tmp_path: Path, module):
    name = module(HELLO + "class Holder:\n    inner = staticmethod(app)\n")
    assert import_app(f"{name}:app", str(tmp_path)).__name__ == "app"
    assert import_app(f"{name}:Holder.inner", str(tmp_path)).__name__ == "app"
    assert str(tmp_path) in sys.path


def test_application_is_the_default_attribute(tmp_path: Path, module):
    name = module("def application(environ, start_response):\n    return []\n")
    assert import_app(name, str(tmp_path)).__name__ == "application"


def test_factories(tmp_path: Path, module):
    name = module(HELLO + "def create():\n    return app\n")
    assert import_app(f"{name}:create()", str(tmp_path)).__name__ == "app"
    assert import_app(f"{name}:create", str(tmp_path), factory=True).__name__ == "app"


def test_a_missing_module_is_named(tmp_path: Path, module):
    with pytest.raises(AppImportError, match=r"^Could not import module 'amphicorn_no_such_module_x'"):
        import_app("amphicorn_no_such_module_x:app", str(tmp_path))


def test_a_missing_attribute_is_named_with_its_module(tmp_path: Path, module):
    name = module(HELLO)
    with pytest.raises(AppImportError, match=f"^Attribute 'nope.deeper' not found in module '{name}'"):
        import_app(f"{name}:nope.deeper", str(tmp_path))


def test_a_module_that_raises_shows_its_own_traceback(tmp_path: Path, module):
    name = module("def _explode():\n    raise RuntimeError('marker-31')\n\n_explode()\n")
    with pytest.raises(AppImportError) as caught:
        import_app(f"{name}:app", str(tmp_path))
    message = str(caught.value)
    assert message.startswith(f"Error while importing module {name!r}: RuntimeError('marker-31')")
    assert "Traceback" in message
    assert f"{name}.py" in message
    assert "_explode" in message
    assert "importlib" not in message


def test_a_missing_dependency_is_not_mistaken_for_the_module(tmp_path: Path, module):
    name = module("import amphicorn_missing_dependency_q7\n")
    with pytest.raises(AppImportError, match=f"^Error while importing module '{name}'") as caught:
        import_app(f"{name}:app", str(tmp_path))
    assert "amphicorn_missing_dependency_q7" in str(caught.value)


def test_a_failing_factory_is_reported(tmp_path: Path, module):
    name = module("def create():\n    raise ValueError('no config')\n")
    with pytest.raises(AppImportError, match=f"^Error while calling factory '{name}:create\\(\\)'"):
        import_app(f"{name}:create()", str(tmp_path))


def test_something_not_callable_is_refused(tmp_path: Path, module):
    name = module("app = 42\n")
    with pytest.raises(AppImportError, match=f"^'{name}:app' is not callable \\(it is int\\)"):
        import_app(f"{name}:app", str(tmp_path))


def test_system_exit_at_import_is_an_import_error(tmp_path: Path, module):
    name = module("raise SystemExit(3)\n")
    with pytest.raises(AppImportError, match="SystemExit"):
        import_app(f"{name}:app", str(tmp_path))
