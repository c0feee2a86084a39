"""The conda environment and pyproject.toml name the same dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """'great-tables>=0.15' -> 'great-tables'; conda's '_' and pip's '-' are the same name."""
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    wanted |= {_name(r) for r in project["optional-dependencies"]["test"]}

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert conda == wanted, f"only in environment.yml: {conda - wanted}; only in pyproject: {wanted - conda}"


def test_environment_yml_is_python_311_and_installs_the_package():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert "conda-forge" in env["channels"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def _spec(requirement: str) -> str:
    """'great_tables >= 0.15' -> '>=0.15' (the version part, spaces removed)."""
    return re.sub(r"\s", "", requirement.strip()[len(_name(requirement)):])


def _pins() -> tuple[dict[str, str], dict[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["test"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    return ({_name(r): _spec(r) for r in reqs},
            {_name(d): _spec(d) for d in env["dependencies"] if isinstance(d, str)})


def test_version_pins_agree():
    pyproject, conda = _pins()
    differ = {n: (conda[n], pyproject[n]) for n in pyproject if n in conda and conda[n] != pyproject[n]}
    assert not differ, f"environment.yml vs pyproject.toml version specs differ: {differ}"
