"""Fixtures shared by the whole suite.

- ``demo_dir``: the built-in demo study written once per test session (parquet).
- ``default_demo``: the cached demo folder a run without ``data_dir`` reads.
- ``pharmaverse_dir``: ../shared/data/pharmaverse, or a skip with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PHARMAVERSE = ROOT.parent / "shared" / "data" / "pharmaverse"


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from trialkit.demo import write_demo

    out = tmp_path_factory.mktemp("demo")
    write_demo(out)
    return out


@pytest.fixture(scope="session")
def default_demo() -> Path:
    """The cached built-in demo (what a run without data_dir reads)."""
    from trialkit.demo import demo_data_dir

    return demo_data_dir()


@pytest.fixture(scope="session")
def shared_data_dir() -> Path | None:
    """../shared/data/pharmaverse, or None when absent (for fixtures that run several folders at once)."""
    return PHARMAVERSE if PHARMAVERSE.is_dir() else None


@pytest.fixture(scope="session")
def pharmaverse_dir() -> Path:
    if not PHARMAVERSE.is_dir():
        pytest.skip(f"pharmaverse reference data not found at {PHARMAVERSE} (shared/ is not beside this checkout)")
    return PHARMAVERSE


@pytest.fixture(autouse=True, scope="session")
def _isolated_jupyter(tmp_path_factory):
    """Keep Jupyter's config/data/runtime out of the user's home during tests."""
    base = tmp_path_factory.mktemp("jupyter")
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        os.environ.setdefault(var, str(base / sub))
    os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
    yield
