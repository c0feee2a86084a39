"""Atomic writes with the permissions of an ordinary file."""

from __future__ import annotations

import os
import stat

import pytest

from trialkit.report.files import UMASK, write_bytes, write_text


def test_write_text_creates_parents_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "tables" / "orr.csv"
    assert write_text("ARM,N\nA,30\n", target) == "orr.csv"
    assert target.read_text(encoding="utf-8") == "ARM,N\nA,30\n"
    assert [p.name for p in target.parent.iterdir()] == ["orr.csv"]


def test_written_files_are_shareable_not_private(tmp_path):
    target = tmp_path / "figure.svg"
    write_bytes(b"<svg/>", target)
    mode = stat.S_IMODE(os.stat(target).st_mode)
    assert mode == 0o666 & ~UMASK
    assert mode & stat.S_IRGRP or UMASK & 0o040, "group cannot read a report file"


def test_a_failed_write_keeps_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    write_text("old", target)

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_text("new", target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
