"""The boundary between the package and its compiled core, pinned from both sides.

- The Rust core reads its settings by attribute: ``#[derive(FromPyObject)]`` structs whose
  fields are ``#[pyo3(attribute)]`` (``ServerSettings``, ``SharedSettings``: from ``Config``;
  ``MountSpec``: from the loaded ``amphicorn.server.Mount``). Each such field must be a field of
  that Python class with a type (and, for ``Config``, a default) the Rust type accepts, and the
  protocols of ``_amphicorn.pyi`` must list exactly those attributes. Renaming a field on
  either side fails here, not at the first request.
- ``_amphicorn.pyi`` agrees with the built module (``mypy.stubtest``).
"""

from __future__ import annotations

import ast
import collections.abc
import dataclasses
import os
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
from amphicorn.config import Config
from amphicorn.server import Mount

ROOT = Path(__file__).resolve().parents[2]
STUB = ROOT / "python" / "amphicorn" / "_amphicorn.pyi"

#: Which Python class each attribute-reading struct reads, and the stub protocol that says so.
READERS = {
    "ServerSettings": (Config, "_ServerSettings"),
    "SharedSettings": (Config, "_ServerSettings"),
    "MountSpec": (Mount, "_MountSpec"),
}
#: Objects the core calls ``getattr`` on by name, by the Rust variable's name.
GETATTR_TARGETS = {"config": Config, "settings": Config, "mount": Mount, "spec": Mount}

_STRUCT = re.compile(r"#\[derive\([^)]*\bFromPyObject\b[^)]*\)\]\s*(?:#\[[^\]]*\]\s*)*pub\s+struct\s+(\w+)\s*\{")
_FIELD = re.compile(
    r"(?P<attributes>(?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?(?P<name>\w+)\s*:\s*(?P<type>.+?)\s*$", re.S
)
_ATTRIBUTE = re.compile(r"#\[pyo3\(attribute(?:\(\s*\"(\w+)\"\s*\))?\)\]")
_GETATTR = re.compile(r"\b(\w+)\s*\.\s*getattr\(\s*(?:(?:pyo3::)?intern!\(\s*\w+\s*,\s*)?\"(\w+)\"")

INTEGERS = {"usize", "u64", "u32", "u16", "u8", "isize", "i64", "i32", "i16", "i8"}
FLOATS = {"f64", "f32"}
STRINGS = {"String", "PathBuf"}
ANYTHING = {"Py<PyAny>", "PyObject", "Bound<'py, PyAny>", "Bound<'_, PyAny>"}


def rust_attribute_fields(src: Path) -> dict[str, dict[str, str]]:
    """Struct name -> {Python attribute it reads: Rust type}, for every FromPyObject struct
    of the crate that reads attributes."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(src.rglob("*.rs")):
        code = re.sub(r"//[^\n]*", "", path.read_text(encoding="utf-8"))
        for match in _STRUCT.finditer(code):
            body = code[match.end() : _closing_brace(code, match.end() - 1)]
            fields = {}
            for item in _split_top_level(body):
                field = _FIELD.match(item.strip())
                attribute = _ATTRIBUTE.search(field.group("attributes")) if field else None
                if field and attribute:
                    fields[attribute.group(1) or field.group("name")] = " ".join(field.group("type").split())
            if fields:
                found[match.group(1)] = fields
    return found


def rust_getattr_names(src: Path) -> list[tuple[str, str]]:
    """(variable, attribute) for each ``variable.getattr("attribute")`` in the crate."""
    return [
        (match.group(1), match.group(2))
        for path in sorted(src.rglob("*.rs"))
        for match in _GETATTR.finditer(path.read_text(encoding="utf-8"))
    ]


def _closing_brace(code: str, opening: int) -> int:
    depth = 0
    for at in range(opening, len(code)):
        depth += {"{": 1, "}": -1}.get(code[at], 0)
        if depth == 0:
            return at
    raise ValueError("unbalanced braces")


def _split_top_level(body: str) -> list[str]:
    items, depth, current = [], 0, ""
    for char in body:
        depth += {"<": 1, ">": -1, "(": 1, ")": -1, "[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    return [item for item in [*items, current] if item.strip()]


def _inner(rust: str, wrapper: str) -> str | None:
    match = re.fullmatch(rf"{wrapper}<(.+)>", rust)
    return match.group(1).strip() if match else None


def annotation_fits(rust: str, hint: object) -> bool:
    """Whether every value of the Python annotation ``hint`` converts to the Rust type."""
    if rust in ANYTHING:
        return True
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    inner = _inner(rust, "Option")
    if inner is not None:
        return all(option is type(None) or annotation_fits(inner, option) for option in options)
    return all(_single_fits(rust, option) for option in options)


def _single_fits(rust: str, hint: object) -> bool:
    if rust in INTEGERS:
        return hint is int
    if rust in FLOATS:
        return hint in (int, float)
    if rust == "bool":
        return hint is bool
    if rust in STRINGS:
        return hint is str
    element = _inner(rust, "Vec")
    if element is not None:
        origin = typing.get_origin(hint)
        sequences = (list, tuple, collections.abc.Sequence)
        return origin in sequences and all(annotation_fits(element, arg) for arg in typing.get_args(hint)[:1])
    raise AssertionError(f"add the Rust type {rust!r} to this test's table")


def value_fits(rust: str, value: object) -> bool:
    """Whether ``value`` converts to the Rust type."""
    if rust in ANYTHING:
        return True
    inner = _inner(rust, "Option")
    if inner is not None:
        return value is None or value_fits(inner, value)
    if rust in INTEGERS:
        return isinstance(value, int) and not isinstance(value, bool) and (rust.startswith("i") or value >= 0)
    if rust in FLOATS:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if rust == "bool":
        return isinstance(value, bool)
    if rust in STRINGS:
        return isinstance(value, str)
    element = _inner(rust, "Vec")
    if element is not None:
        return isinstance(value, (list, tuple)) and all(value_fits(element, item) for item in value)
    raise AssertionError(f"add the Rust type {rust!r} to this test's table")


def stub_protocol_attributes(stub: Path) -> dict[str, set[str]]:
    """Protocol class name -> the attributes it declares, from the stub."""
    protocols = {}
    for node in ast.parse(stub.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef) and any(getattr(base, "id", None) == "Protocol" for base in node.bases):
            names = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
            names |= {
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            }
            protocols[node.name] = names
    return protocols


READ = rust_attribute_fields(ROOT / "src")
CASES = [(struct, name, rust) for struct, fields in sorted(READ.items()) for name, rust in sorted(fields.items())]


def test_every_struct_that_reads_attributes_is_known():
    assert set(READERS) <= set(READ), f"not found in src/: {sorted(set(READERS) - set(READ))}"
    unknown = sorted(set(READ) - set(READERS))
    assert not unknown, f"{unknown} read attributes: say in READERS which Python class they read"


@pytest.mark.parametrize(("struct", "name", "rust"), CASES, ids=[f"{s}.{n}" for s, n, _ in CASES])
def test_the_python_class_has_each_attribute_the_core_reads(struct: str, name: str, rust: str):
    cls, _ = READERS[struct]
    fields = {field.name for field in dataclasses.fields(cls)}
    assert name in fields, f"src/ {struct} reads {name!r}, which {cls.__qualname__} has no field for"
    hint = typing.get_type_hints(cls)[name]
    assert annotation_fits(rust, hint), f"{cls.__qualname__}.{name}: {hint} does not fit Rust's {rust}"
    if cls is Config:
        default = getattr(Config(), name)
        assert value_fits(rust, default), f"Config.{name} defaults to {default!r}, which Rust's {rust} refuses"


def test_the_stub_protocols_list_exactly_what_the_core_reads():
    protocols = stub_protocol_attributes(STUB)
    expected: dict[str, set[str]] = {}
    for struct, (_, protocol) in READERS.items():
        expected.setdefault(protocol, set()).update(READ.get(struct, {}))
    for protocol, names in expected.items():
        assert protocols.get(protocol) == names, f"{protocol} in _amphicorn.pyi"


def test_names_the_core_gets_by_getattr_exist():
    for variable, name in rust_getattr_names(ROOT / "src"):
        cls = GETATTR_TARGETS.get(variable)
        if cls is not None:
            assert name in {field.name for field in dataclasses.fields(cls)}, f"{variable}.getattr({name!r})"


def test_the_reader_finds_renamed_and_typed_fields(tmp_path: Path):
    (tmp_path / "a.rs").write_text(
        "#[derive(FromPyObject)]\npub struct Spec {\n"
        "    /// Doc, with a comma.\n    #[pyo3(attribute)]\n    point: String,\n"
        '    #[pyo3(attribute("queue_size"))]\n    queue: Option<usize>,\n'
        "    #[pyo3(attribute)]\n    pub map: HashMap<String, u64>,\n"
        "    not_read: usize,\n}\n"
        "#[derive(Clone)]\npub struct Other {\n    #[pyo3(attribute)]\n    x: usize,\n}\n"
    )
    assert rust_attribute_fields(tmp_path) == {
        "Spec": {"point": "String", "queue_size": "Option<usize>", "map": "HashMap<String, u64>"}
    }


@pytest.mark.parametrize(
    ("rust", "hint", "fits"),
    [
        ("usize", int, True),
        ("usize", float, False),
        ("usize", int | None, False),
        ("Option<usize>", int | None, True),
        ("Option<f64>", float, True),
        ("f64", str, False),
        ("Vec<String>", list[str], True),
        ("Vec<String>", list[int], False),
        ("Py<PyAny>", dict[str, int] | None, True),
    ],
)
def test_annotation_fits(rust: str, hint: object, fits: bool):
    assert annotation_fits(rust, hint) is fits


def test_the_stub_matches_the_built_module(tmp_path: Path):
    """stubtest imports the installed core and compares it with the repository's stub (alone:
    mypy checks the rest of the package)."""
    stubs = tmp_path / "stubs" / "amphicorn"
    stubs.mkdir(parents=True)
    (stubs / "__init__.pyi").write_text("")
    (stubs / "_amphicorn.pyi").write_text(STUB.read_text(encoding="utf-8"))
    env = {**os.environ, "MYPYPATH": str(tmp_path / "stubs")}
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "amphicorn._amphicorn"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
