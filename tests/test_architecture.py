"""DESIGN section 1: imports run one way (io -> derive -> charts -> report).

``derive`` never imports altair, ``charts`` never reads or writes files, nothing upstream
imports the report layer, and only ``trialkit.report`` (and the demo writer, and io's
readers) touch the file system.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "trialkit"
LAYERS = {"io": 0, "validate": 0, "derive": 1, "charts": 2, "report": 3}
FILE_CALLS = {"open", "write_text", "write_bytes", "read_text", "read_bytes", "write_parquet", "write_csv",
              "read_parquet", "read_csv", "mkdir", "unlink"}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _layer(path: Path) -> str | None:
    part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    return part if part in LAYERS else None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", [p for p in _modules() if _layer(p)], ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path):
    own = LAYERS[_layer(path)]
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "trialkit" and len(parts) > 1 and parts[1] in LAYERS:
            assert LAYERS[parts[1]] <= own, f"{path.name} (layer {_layer(path)}) imports {name}"


@pytest.mark.parametrize("path", [p for p in _modules() if _layer(p) in ("io", "validate", "derive")],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_data_layers_never_import_altair(path):
    assert not [n for n in _imports(path) if n.split(".")[0] in ("altair", "vl_convert")], path.name


@pytest.mark.parametrize("path", [p for p in _modules() if _layer(p) in ("derive", "charts")],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_derive_and_charts_touch_no_files(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
             for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert not calls & FILE_CALLS, f"{path.name} calls {sorted(calls & FILE_CALLS)}"
