"""DESIGN section 1: imports run one way, with no import circle anywhere.

Every module of the package belongs to a layer; a module imports only from its own layer or
lower ones, and the import graph of all modules has no circle. Every import counts, also
one inside a function or under ``TYPE_CHECKING`` (that is where circles hide). ``derive``
never imports altair, ``derive`` and ``charts`` never read or write files.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "trialkit"

#: Lowest first. A module's layer is its longest matching prefix.
LAYERS = {
    "trialkit": 0, "trialkit.errors": 0, "trialkit.cache": 0,
    "trialkit.protocol": 1, "trialkit.protocols": 1,
    "trialkit.io": 2,
    "trialkit.derive": 3,
    "trialkit.demo": 4,
    "trialkit.study": 5,
    "trialkit.charts": 6,
    "trialkit.report": 7,
    "trialkit.cli": 8, "trialkit.__main__": 8,
}
FILE_CALLS = {"open", "write_text", "write_bytes", "read_text", "read_bytes", "write_parquet", "write_csv",
              "read_parquet", "read_csv", "mkdir", "unlink"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(name: str) -> int:
    best = max((prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")), key=len)
    return LAYERS[best]


def _imports(name: str) -> set[str]:
    """The trialkit modules ``name`` imports, resolved to modules (``from x import module`` too)."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # "trialkit.io.checks.X" -> the module
                target = target.rpartition(".")[0]
            if target.startswith("trialkit") and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def test_every_module_has_a_layer():
    assert "trialkit.io.study" in MODULES and "trialkit.demo" in MODULES and "trialkit.cache" in MODULES
    for name in MODULES:
        assert _layer(name) >= 0


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_never_run_up(name):
    own = _layer(name)
    upward = sorted(t for t in GRAPH[name] if _layer(t) > own)
    assert not upward, f"{name} (layer {own}) imports from higher layers: {upward}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each a circle."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_anywhere():
    assert _cycles(GRAPH) == []


def test_the_circle_check_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_layer_check_sees_lazy_imports():
    # io.study imports the protocol (lower): allowed; a function-level import counts too
    assert "trialkit.protocol" in GRAPH["trialkit.io.study"]
    assert "trialkit.study" in GRAPH["trialkit.report.params"]  # imported inside functions


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith(("trialkit.io", "trialkit.derive"))])
def test_data_layers_never_import_altair(name):
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not [n for n in names if n.split(".")[0] in ("altair", "vl_convert")], name


@pytest.mark.parametrize("name", [n for n in MODULES if n.startswith(("trialkit.derive", "trialkit.charts"))])
def test_derive_and_charts_touch_no_files(name):
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    calls = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
             for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert not calls & FILE_CALLS, f"{name} calls {sorted(calls & FILE_CALLS)}"
