"""Tiny study frames and writers for the io and validation tests.

``tiny_study()`` is a valid, hand-made study of four screened subjects (two randomized to
arms A and B, two screen failures in both SDTMIG conventions); every bad-input case starts
from it and breaks one thing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl
import pytest

STUDYID = "NCT07334483"


def tiny_study() -> dict[str, pl.DataFrame]:
    """A valid four-subject study: no error and no warning for any report."""
    ids = ["01-001", "01-002", "02-003", "03-004"]
    dm = pl.DataFrame({
        "STUDYID": [STUDYID] * 4,
        "USUBJID": ids,
        "SITEID": ["01", "01", "02", "03"],
        "AGE": [54.0, 61.0, 47.0, 70.0],
        "SEX": ["M", "F", "M", "M"],
        "ARMCD": ["A", "B", "SCRNFAIL", None],
        "ACTARMCD": ["A", "B", "SCRNFAIL", None],
        "ARMNRS": [None, None, None, "SCREEN FAILURE"],
        "RFICDTC": ["2025-09-01", "2025-09-02", "2025-09-03", "2025-09"],
    })
    ie = pl.DataFrame({
        "STUDYID": [STUDYID] * 2, "USUBJID": ["02-003", "03-004"],
        "IECAT": ["INCLUSION", "EXCLUSION"], "IETESTCD": ["INCL03", "EXCL17"],
        "IETEST": ["Child-Pugh A or B7", "Prior TACE"], "IESTRESC": ["N", "Y"],
    })
    ds = pl.DataFrame({
        "STUDYID": [STUDYID] * 4, "USUBJID": ["01-001", "01-002", "02-003", "03-004"],
        "DSCAT": ["PROTOCOL MILESTONE", "PROTOCOL MILESTONE", "DISPOSITION EVENT", "DISPOSITION EVENT"],
        "DSDECOD": ["RANDOMIZED", "RANDOMIZED", "SCREEN FAILURE", "SCREEN FAILURE"],
        "DSSTDTC": ["2025-09-10", "2025-09-11", "2025-09-12", "2025-09-13"],
    })
    ex = pl.DataFrame({
        "STUDYID": [STUDYID] * 3, "USUBJID": ["01-001", "01-001", "01-002"],
        "EXTRT": ["CAMRELIZUMAB", "CAMRELIZUMAB", "CAMRELIZUMAB"], "EXDOSE": [200.0, 200.0, 200.0],
        "EXSTDTC": ["2025-09-11", "2025-10-02T09:30", "2025-09-12"],
        "EXENDTC": ["2025-09-11", "2025-10-02", "2025-09-12"],
    })
    rs = pl.DataFrame({
        "STUDYID": [STUDYID] * 3, "USUBJID": ["01-001", "01-001", "01-002"],
        "RSTESTCD": ["OVRLRESP"] * 3, "RSCAT": ["MRECIST"] * 3,
        "RSEVAL": ["INDEPENDENT ASSESSOR"] * 3, "RSSTRESC": ["PR", "CR", "SD"],
        "RSDTC": ["2025-10-22", "2025-12-03", "2025-10-23"],
    })
    tu = pl.DataFrame({
        "STUDYID": [STUDYID] * 2, "USUBJID": ["01-001", "01-002"], "TULNKID": ["T01", "T01"],
        "TUTESTCD": ["TUMIDENT"] * 2, "TUSTRESC": ["TARGET", "TARGET"],
    })
    tr = pl.DataFrame({
        "STUDYID": [STUDYID] * 4, "USUBJID": ["01-001", "01-001", "01-002", "01-002"],
        "TRLNKID": ["T01"] * 4, "TRTESTCD": ["LDIAM"] * 4, "TRSTRESN": [50.0, 30.0, 40.0, 41.0],
        "TRDTC": ["2025-09-05", "2025-10-22", "2025-09-06", "2025-10-23"],
    })
    return {"dm": dm, "ie": ie, "ds": ds, "ex": ex, "rs": rs, "tu": tu, "tr": tr}


def write_frame(frame: pl.DataFrame, path: Path) -> Path:
    """Write a frame in the format its suffix names (xpt through pyreadstat)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.write_parquet(path)
    elif suffix == ".csv":
        frame.write_csv(path)
    elif suffix == ".xpt":
        import pyreadstat

        pyreadstat.write_xport(frame.to_pandas(), str(path), table_name=path.stem.upper()[:8])
    else:
        raise ValueError(f"cannot write {path.suffix}")
    return path


def write_study_files(folder: Path, frames: Mapping[str, pl.DataFrame], fmt: str = "parquet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        write_frame(frame, folder / f"{name}.{fmt}")
    return folder


@pytest.fixture
def study_dir(tmp_path) -> Callable[..., Path]:
    """``study_dir(frames=None, fmt="parquet", name="study")`` writes a study folder."""

    def _write(frames: Mapping[str, pl.DataFrame] | None = None, fmt: str = "parquet",
               name: str = "study") -> Path:
        return write_study_files(tmp_path / name, tiny_study() if frames is None else frames, fmt)

    return _write


@pytest.fixture
def tiny() -> dict[str, pl.DataFrame]:
    """A fresh copy of :func:`tiny_study` (a dict of frames) for a test to break."""
    return tiny_study()


@pytest.fixture
def writer() -> Callable[[pl.DataFrame, Path], Path]:
    """:func:`write_frame`, for tests that write one file."""
    return write_frame
