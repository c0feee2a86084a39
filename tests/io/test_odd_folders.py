"""Odd entries of a study data folder are read or refused with the reason, never skipped in silence.

A partitioned parquet folder (``ex.parquet/`` of part files, as Spark, polars and pyarrow write
it) is one dataset; a dangling symbolic link, a file that cannot be read, a folder named like
a CSV are errors naming the path; ``validate`` never calls a report "ready" when a dataset it
reads has an error.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import polars as pl
import pytest

from trialkit.cli import main
from trialkit.errors import MissingDatasetError, UnreadableFileError
from trialkit.io import files as files_module
from trialkit.io import read_dataset, read_study, validate_study


def _readiness(capsys) -> dict[str, str]:
    out = capsys.readouterr().out
    block = out.split("Reports:\n", 1)[1].split("\n\n", 1)[0]
    return dict(line.split(None, 1) for line in block.strip().splitlines())


def test_a_partitioned_parquet_folder_is_read_as_one_dataset(study_dir, tiny):
    folder = study_dir()
    (folder / "ex.parquet").unlink()
    # polars' hive partitioning: ex.parquet/EXTRT=CAMRELIZUMAB/00000000.parquet
    tiny["ex"].with_columns(pl.Series("SITE", ["01", "01", "02"])).write_parquet(
        folder / "ex.parquet", partition_by="SITE")
    frame = read_dataset(folder / "ex.parquet")
    expected = tiny["ex"].with_columns(pl.Series("SITE", ["01", "01", "02"]))
    assert frame.sort("USUBJID", "EXSTDTC").equals(expected.select(frame.columns).sort("USUBJID", "EXSTDTC"))
    assert frame.schema["SITE"] == pl.String          # "01" stays a site code, not the number 1
    study = read_study(folder, report="swimmer")       # and the whole folder reads and checks clean
    assert study["ex"].height == 3 and not study.errors


def test_a_spark_style_folder_skips_success_and_checksum_files(study_dir, tiny):
    folder = study_dir()
    (folder / "rs.parquet").unlink()
    (folder / "rs.parquet").mkdir()
    tiny["rs"].head(2).write_parquet(folder / "rs.parquet" / "part-00000-1a2b.snappy.parquet")
    tiny["rs"].tail(1).write_parquet(folder / "rs.parquet" / "part-00001-1a2b.snappy.parquet")
    (folder / "rs.parquet" / "_SUCCESS").write_text("")
    (folder / "rs.parquet" / ".part-00000-1a2b.snappy.parquet.crc").write_bytes(b"\x00crc")
    assert read_dataset(folder / "rs.parquet").equals(tiny["rs"])


@pytest.mark.parametrize("make, fragment", [
    (lambda f: (f / "ex.parquet").mkdir(), "is a folder with no parquet part file in it"),
    (lambda f: ((f / "ex.parquet").mkdir(), (f / "ex.parquet" / "notes.json").write_text("{}")),
     "also holds 1 file(s) that are not parquet: 'notes.json'"),
    (lambda f: ((f / "ex.parquet").mkdir(),
                pl.DataFrame({"USUBJID": ["1"], "EXDOSE": [1.0]}).write_parquet(f / "ex.parquet" / "a.parquet"),
                pl.DataFrame({"USUBJID": ["2"], "EXDOSE": ["high"]}).write_parquet(f / "ex.parquet" / "b.parquet")),
     "cannot be read as one"),
    (lambda f: (f / "ex.csv").mkdir(), "is a folder, not a file. trialkit reads a folder only as a partitioned parquet"),
])
def test_a_folder_that_is_not_a_readable_dataset_is_refused_with_the_reason(tmp_path, make, fragment):
    folder = tmp_path / "data"
    folder.mkdir()
    make(folder)
    [finding] = [f for f in validate_study(folder) if f.dataset == "ex"]
    assert finding.level == "error" and finding.kind == "UnreadableFileError"
    assert fragment in finding.message and str(folder / finding.path.rsplit("/", 1)[1]) in finding.message


def test_a_dangling_symlink_is_an_error_naming_it(study_dir, capsys):
    folder = study_dir()
    (folder / "lb.parquet").symlink_to(folder / "gone" / "lb.parquet")
    assert main(["validate", str(folder)]) == 1
    readiness = _readiness(capsys)
    assert readiness["screening"] == "cannot run: errors in lb"       # screening reads LB when present
    assert readiness["waterfall"] == "ready"                          # waterfall never reads LB
    with pytest.raises(UnreadableFileError) as error:
        read_study(folder, report="screening")
    assert f"dataset 'lb' ({folder / 'lb.parquet'}) is a symbolic link to {folder / 'gone' / 'lb.parquet'}, " \
           "which does not exist" in str(error.value)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_file_that_cannot_be_read_is_an_error_naming_it_and_the_fix(study_dir, monkeypatch, fmt):
    folder = study_dir(fmt=fmt)
    target = folder / f"ie.{fmt}"
    real_access = os.access
    # the suite runs as root, for whom chmod 000 changes nothing: the OS answer is simulated
    monkeypatch.setattr(files_module.os, "access", lambda p, mode: real_access(p, mode) and Path(p) != target)
    [finding] = [f for f in validate_study(folder) if f.level == "error"]
    assert finding.message == (
        f"trialkit: dataset 'ie' ({target}) cannot be read: Permission denied.\n"
        f"  Give the user running trialkit read permission on the file (and search permission on its "
        f"folders), e.g. chmod o+r, or copy the data to a folder it can read.")


def test_an_io_error_while_reading_is_an_unreadable_file(study_dir, monkeypatch):
    folder = study_dir(fmt="csv")

    def broken_disk(self):
        raise OSError(errno.EIO, "Input/output error", str(self))

    monkeypatch.setattr(Path, "read_bytes", broken_disk)
    with pytest.raises(UnreadableFileError, match=r"dataset 'dm' \(.*dm.csv\) cannot be read: Input/output error"):
        read_dataset(folder / "dm.csv")


def test_a_data_folder_that_cannot_be_listed_is_a_data_error_not_a_bug(study_dir, monkeypatch, capsys):
    folder = study_dir()
    real_iterdir = Path.iterdir

    def refuse(self):
        if self == folder:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(MissingDatasetError, match="cannot be listed: Permission denied"):
        read_study(folder)
    assert main(["validate", str(folder)]) == 1
    assert "internal error" not in capsys.readouterr().err


def test_validate_never_calls_a_report_ready_when_dm_is_empty(study_dir, tiny, capsys):
    folder = study_dir({**tiny, "dm": tiny["dm"].clear()})
    assert main(["validate", str(folder)]) == 1
    readiness = _readiness(capsys)
    assert readiness == {name: "cannot run: errors in dm" for name in
                         ("study_overview", "screening", "swimmer", "waterfall", "efficacy")}
