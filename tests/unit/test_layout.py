"""No import cycles between files, in the Python package and in the Rust crate.

A file that imports another which (through any chain) imports it back makes the two one unit
in all but name: neither can be read, tested or moved without the other. These tests build
the graph of which file refers to which, find its strongly connected components (Tarjan) and
print each cycle with the references that make it (``python tests/unit/test_layout.py`` prints them
without pytest).

- **Python** (``python/amphicorn``): ``import amphicorn.x``, ``from amphicorn import x``,
  ``from amphicorn.x import y`` and relative imports, anywhere in the file (inside functions
  too). ``from P import n`` points at ``P.n`` when that is a module, else at ``P``; importing
  a submodule is not counted as importing its package's ``__init__``, and a compiled module
  without a ``.pyi`` stub is outside the graph.
- **Rust** (``src/``): ``use crate::…``, ``use super::…``, ``use self::…``, brace groups
  (``use super::{call, Job}``, ``use crate::http::{a::X, b}``), paths written inline in code
  (``crate::wake::x()``, ``super::Foo``), and paths that start with a child module's name
  (``child::item`` in a ``mod.rs``). A path points at the longest module it names: an item of a
  module points at that module's file. A ``mod child;`` declaration alone is no edge, and
  ``#[cfg(test)]`` items (test modules) are left out.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: module -> {module it refers to: the first reference found, as evidence}
Graph = dict[str, dict[str, str]]


# -- Python --------------------------------------------------------------------------------


def python_graph(package_dir: Path) -> Graph:
    """The import graph of the package in ``package_dir``: its ``.py`` files, and its ``.pyi``
    stubs of compiled modules (importing one is importing that module, not the package)."""
    base = package_dir.name
    modules: dict[str, Path] = {}
    sources = sorted(package_dir.rglob("*.py"))
    sources += [stub for stub in sorted(package_dir.rglob("*.pyi")) if stub.with_suffix(".py") not in sources]
    for path in sources:
        parts = [base, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    graph: Graph = {name: {} for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target, text in _python_targets(node, name, is_package, modules):
                    if target != name:
                        graph[name].setdefault(target, f"line {node.lineno}: {text}")
    return graph


def _python_targets(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict[str, Path]
) -> Iterable[tuple[str, str]]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in modules:
                yield alias.name, f"import {alias.name}"
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            origin = ".".join(package + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        for alias in node.names:
            text = f"from {'.' * node.level}{node.module or ''} import {alias.name}"
            submodule = f"{origin}.{alias.name}"
            if submodule in modules:
                yield submodule, text
            elif origin in modules:
                yield origin, text


# -- Rust ----------------------------------------------------------------------------------

_NOISE = re.compile(
    r"""/\*.*?\*/                       # block comment (not nested: none in this crate)
      | //[^\n]*                        # line, doc and module-doc comments
      | r(?P<hashes>\#*)".*?"(?P=hashes) # raw string
      | b?"(?:\\.|[^"\\])*"             # string
      | b?'(?:\\.|[^'\\])'              # char (a lifetime 'a has no closing quote)
    """,
    re.S | re.X,
)
_CFG_TEST = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*")
_USE = re.compile(r"(?<![\w$])use\s+([^;]+);")
_PATH = re.compile(r"(?<![\w$:.])([A-Za-z_]\w*)((?:::[A-Za-z_]\w*)+)")
_CHILD_DECLARATION = re.compile(r"(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")


def rust_graph(src: Path) -> Graph:
    """The graph of which module file of the crate in ``src`` refers to which."""
    modules: dict[tuple[str, ...], Path] = {}
    for path in sorted(src.rglob("*.rs")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] in ("mod", "lib", "main") and (len(parts) > 1 or parts[-1] != "mod"):
            parts = parts[:-1]
        modules[parts] = path
    texts = {module: _rust_code(path.read_text(encoding="utf-8")) for module, path in modules.items()}
    # `#[cfg(test)] mod tests;` in its parent: the child file is test code.
    for module, (_, test_children) in list(texts.items()):
        for child in test_children:
            modules.pop((*module, child), None)
    graph: Graph = {_rust_name(module): {} for module in modules}
    for module in modules:
        code = texts[module][0]
        references: list[list[str]] = []
        for statement in _USE.finditer(code):
            references += _expand_use(statement.group(1))
        rest = _USE.sub(" ", code)
        references += [[match.group(1), *match.group(2).split("::")[1:]] for match in _PATH.finditer(rest)]
        for path in references:
            target = _resolve(module, path, modules)
            if target is not None and target != module:
                graph[_rust_name(module)].setdefault(_rust_name(target), "::".join(path))
    return graph


def _rust_code(text: str) -> tuple[str, list[str]]:
    """The code without comments, strings and ``#[cfg(test)]`` items; and the names of the
    child modules declared ``#[cfg(test)] mod name;``."""
    code = _NOISE.sub(lambda match: " " if "\n" not in match.group(0) else "\n", text)
    test_children = []
    while (match := _CFG_TEST.search(code)) is not None:
        start, at = match.start(), match.end()
        brace, semicolon = code.find("{", at), code.find(";", at)
        if semicolon != -1 and (brace == -1 or semicolon < brace):
            declared = _CHILD_DECLARATION.match(code, at)
            if declared:
                test_children.append(declared.group(1))
            end = semicolon + 1
        else:
            depth, end = 0, brace
            while end < len(code):
                depth += {"{": 1, "}": -1}.get(code[end], 0)
                end += 1
                if depth == 0:
                    break
        code = code[:start] + " " + code[end:]
    return code, test_children


def _expand_use(tree: str) -> list[list[str]]:
    """``a::{b, c::{d, e}}`` → ``[[a, b], [a, c, d], [a, c, e]]`` (renames and globs dropped)."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+\w+", "", tree))
    tree = tree.removeprefix("::")
    if "{" not in tree:
        return [[part for part in tree.split("::") if part not in ("", "*")]]
    head, _, group = tree.partition("{")
    prefix = [part for part in head.split("::") if part]
    paths = []
    for item in _split_top_level(group[: group.rindex("}")]):
        for path in _expand_use(item):
            paths.append(prefix + [part for part in path if part != "self"])
    return paths


def _split_top_level(group: str) -> list[str]:
    items, depth, current = [], 0, ""
    for char in group:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    return [item for item in [*items, current] if item]


def _resolve(module: tuple[str, ...], path: list[str], modules: dict[tuple[str, ...], Path]) -> tuple[str, ...] | None:
    """The longest module ``path`` names, seen from ``module``; None outside the crate."""
    first, rest = path[0], path[1:]
    if first == "crate":
        base: tuple[str, ...] = ()
    elif first == "super":
        base = module[:-1]
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif first == "self":
        base = module
    elif (*module, first) in modules:
        base, rest = (*module, first), rest
    else:
        return None  # another crate, std, a type's associated item
    target = base
    for end in range(1, len(rest) + 1):
        if (*base, *rest[:end]) in modules:
            target = (*base, *rest[:end])
    return target if target in modules else None


def _rust_name(module: tuple[str, ...]) -> str:
    return "/".join(module) or "lib"


# -- cycles --------------------------------------------------------------------------------


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted, in order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def describe(graph: Graph, found: list[list[str]]) -> str:
    """Each cycle, then the references between its members."""
    lines = []
    for component in found:
        lines.append("cycle: " + " <-> ".join(component))
        for source in component:
            for target, evidence in sorted(graph[source].items()):
                if target in component:
                    lines.append(f"    {source} -> {target}   ({evidence})")
    return "\n".join(lines)


# -- the repository ------------------------------------------------------------------------


def test_the_python_package_has_no_import_cycle():
    graph = python_graph(ROOT / "python" / "amphicorn")
    assert "amphicorn.server" in graph, "the package was not found"
    found = cycles(graph)
    assert not found, "import cycles between files:\n" + describe(graph, found)


def test_the_rust_crate_has_no_import_cycle():
    graph = rust_graph(ROOT / "src")
    assert "server/mounts" in graph, "the crate was not found"
    found = cycles(graph)
    assert not found, "import cycles between files:\n" + describe(graph, found)


# -- the checker itself, on small trees ----------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_python_checker_finds_each_form_of_import(tmp_path: Path):
    package = tmp_path / "pkg"
    _write(
        package,
        {
            "__init__.py": "from pkg.api import run\n",
            "api.py": "def run():\n    from pkg import server\n",
            "server.py": "import pkg.worker\n",
            "worker.py": "from pkg.server import serve\nfrom . import errors\n",
            "errors.py": "import os\nfrom pkg import _native\nfrom pkg._compiled import f\n",
            "_native.pyi": "def f() -> None: ...\n",
            "sub/__init__.py": "from .leaf import x\n",
            "sub/leaf.py": "from .. import errors\nfrom pkg.sub import other\n",
            "sub/other.py": "import pkg.sub.leaf as leaf\n",
        },
    )
    graph = python_graph(package)
    assert graph["pkg"] == {"pkg.api": "line 1: from pkg.api import run"}
    assert graph["pkg.api"] == {"pkg.server": "line 2: from pkg import server"}
    assert set(graph["pkg.worker"]) == {"pkg.server", "pkg.errors"}
    assert set(graph["pkg.errors"]) == {"pkg._native"}  # a compiled module, not the package
    assert set(graph["pkg.sub"]) == {"pkg.sub.leaf"}
    assert set(graph["pkg.sub.leaf"]) == {"pkg.errors", "pkg.sub.other"}
    assert cycles(graph) == [["pkg.server", "pkg.worker"], ["pkg.sub.leaf", "pkg.sub.other"]]
    report = describe(graph, cycles(graph))
    assert "cycle: pkg.server <-> pkg.worker" in report
    assert "pkg.worker -> pkg.server   (line 1: from pkg.server import serve)" in report


def test_python_checker_passes_a_tree_without_cycles(tmp_path: Path):
    _write(tmp_path / "pkg", {"__init__.py": "from pkg.a import x\n", "a.py": "from pkg import b\n", "b.py": ""})
    assert cycles(python_graph(tmp_path / "pkg")) == []


RUST_TREE = {
    "lib.rs": "pub mod asgi;\npub mod http;\npub mod wake;\n",
    "wake.rs": "//! Uses crate::asgi::bridge in a comment only.\npub fn x() {}\n",
    "asgi/mod.rs": (
        "pub mod bridge;\nmod call;\nmod scope;\n"
        "use bridge::LoopBridge;\n"
        'const TEXT: &str = "crate::http::framing";\n'
        "pub struct Job;\n"
    ),
    "asgi/bridge.rs": "use super::{call, Job};\nfn f<'a>(x: &'a str) { crate::wake::x(); }\n",
    "asgi/call.rs": "pub fn run() { super::scope::build(); }\n",
    "asgi/scope.rs": (
        "pub fn build() {}\n"
        "#[cfg(test)]\nmod tests {\n    use super::super::bridge::LoopBridge;\n    fn t() { if true { } }\n}\n"
    ),
    "http/mod.rs": "pub mod connection;\npub mod framing;\n#[cfg(test)]\nmod proptests;\n",
    "http/connection.rs": "use crate::http::{framing::Frame, self};\n",
    "http/framing.rs": "use self::inner::X;\nmod inner { pub struct X; }\npub struct Frame;\n",
    "http/proptests.rs": "use crate::http::connection;\nuse crate::http;\n",
}


def test_rust_checker_finds_each_form_of_reference(tmp_path: Path):
    _write(tmp_path, RUST_TREE)
    graph = rust_graph(tmp_path)
    assert "http/proptests" not in graph  # #[cfg(test)] mod proptests;
    assert graph["lib"] == {}  # `mod child;` alone is no edge
    assert graph["wake"] == {}  # comments are not code
    assert graph["asgi"] == {"asgi/bridge": "bridge::LoopBridge"}  # child::item; strings are not code
    assert graph["asgi/bridge"] == {"asgi/call": "super::call", "asgi": "super::Job", "wake": "crate::wake::x"}
    assert graph["asgi/call"] == {"asgi/scope": "super::scope::build"}
    assert graph["asgi/scope"] == {}  # the test module is left out
    assert graph["http/connection"] == {"http/framing": "crate::http::framing::Frame", "http": "crate::http"}
    assert graph["http/framing"] == {}  # self:: into an inline module stays in the file
    assert cycles(graph) == [["asgi", "asgi/bridge"]]
    assert "    asgi/bridge -> asgi   (super::Job)" in describe(graph, cycles(graph))


def test_rust_checker_passes_a_tree_without_cycles(tmp_path: Path):
    _write(tmp_path, {name: text for name, text in RUST_TREE.items() if name != "asgi/bridge.rs"})
    (tmp_path / "asgi" / "bridge.rs").write_text("use super::call;\n")
    assert cycles(rust_graph(tmp_path)) == []


if __name__ == "__main__":
    # `python tests/unit/test_layout.py`: the cycles of both trees, without pytest.
    for label, tree in (("python", python_graph(ROOT / "python" / "amphicorn")), ("rust", rust_graph(ROOT / "src"))):
        print(f"{label}: " + (describe(tree, cycles(tree)) or "no import cycle"))
