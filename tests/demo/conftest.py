"""Fixtures of the demo tests."""

from __future__ import annotations

import polars as pl
import pytest


@pytest.fixture(scope="module")
def default_study(demo_dir) -> dict[str, pl.DataFrame]:
    """The built-in demo study's datasets, by lower-case name."""
    return {p.stem: pl.read_parquet(p) for p in demo_dir.glob("*.parquet")}
