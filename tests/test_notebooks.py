"""The report notebooks are thin templates, kept diffable (STYLE section 6).

Every notebook: outputs stripped, a cell tagged ``parameters`` whose every assignment has a
trailing comment (papermill shows it with --help-notebook), no ``def``/``class``, the keys of
the report shell (``audience``, ``title``, ``output_dir``) among its parameters, and no
parameter it does not read (the params checker takes each notebook's own keys, so a key no
report reads is an error). Execution of every notebook with every params file happens in the
runner and browser tests (``run_reports``).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# read by the runner and the page shell rather than by the notebook's code
SHELL_KEYS = {"audience", "title", "output_dir"}


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def test_there_are_report_notebooks():
    assert [p.stem for p in NOTEBOOKS][:1], "notebooks/ holds no notebook"
    assert "study_overview" in [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_are_stripped(path):
    dirty = [i for i, c in enumerate(_cells(path)) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; strip them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_commented_parameters_cell_declaring_only_what_the_notebook_reads(path):
    tagged = [c for c in _cells(path) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters'"
    source = "".join(tagged[0]["source"])
    names = set()
    for node in ast.parse(source).body:
        assert isinstance(node, (ast.Assign, ast.AnnAssign)), f"{path.name}: parameters cell holds {ast.dump(node)[:60]}"
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        names.add(target.id)
        line = source.splitlines()[node.lineno - 1]
        assert "#" in line, f"{path.name}: parameter {target.id!r} has no trailing comment"
    assert SHELL_KEYS <= names, f"{path.name}: parameters lack {sorted(SHELL_KEYS - names)}"
    code = "\n".join("".join(c["source"]) for c in _cells(path)
                     if c["cell_type"] == "code" and c is not tagged[0])
    read = {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    unread = sorted(names - SHELL_KEYS - read)
    assert not unread, f"{path.name}: declares parameters it never reads: {unread}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_hold_no_logic(path):
    for cell in (c for c in _cells(path) if c["cell_type"] == "code"):
        tree = ast.parse("".join(cell["source"]))
        defined = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))]
        assert not defined, f"{path.name}: a cell defines code; move it to trialkit/"
        loops = [n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While))]
        assert not loops, f"{path.name}: a cell loops; move the logic to trialkit/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_a_unique_id(path):
    """nbformat 4.5 cell ids: without them papermill and nbformat warn, and later fail."""
    ids = [c.get("id") for c in _cells(path)]
    assert None not in ids, f"{path.name}: cells {[i for i, x in enumerate(ids) if x is None]} have no id"
    assert len(set(ids)) == len(ids), f"{path.name}: duplicate cell ids"
