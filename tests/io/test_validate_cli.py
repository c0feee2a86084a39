"""``trialkit validate``: the printed report, exit codes, and REPORT_NEEDS."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trialkit import cli
from trialkit.io import REPORT_NEEDS, Finding, format_findings


def test_validate_pharmaverse_sdtm_reports_check_under_a_generic_protocol(pharmaverse_dir, capsys):
    code = cli.main(["validate", str(pharmaverse_dir / "sdtm")])
    out = capsys.readouterr()
    assert code == 0  # no protocol file for CDISCPILOT01: a generic one, announced
    assert "Traceback" not in out.out + out.err
    assert "(protocol CDISCPILOT01 (generic, built from the data))" in out.out
    for name in ("dm", "ds", "ex", "rs", "suppdm", "suppds", "supptr", "sv", "tr", "tu"):
        assert f"  {name} " in out.out
    assert "'CHECK' (3)" in out.out
    assert "screening       ready" in out.out  # no IE: it says the reasons are not available
    assert "study_overview  ready" in out.out
    assert "Result: OK (0 error(s), 2 warning(s))" in out.out


def test_validate_with_this_trials_protocol_enforces_its_arms(pharmaverse_dir, capsys):
    code = cli.main(["validate", str(pharmaverse_dir / "sdtm"), "--study", "ST561-1"])
    out = capsys.readouterr().out
    assert code == 1
    assert "Xan_Hi" in out and "not defined by the protocol" in out
    assert "study_overview  cannot run: errors in dm" in out


def test_validate_as_a_subprocess(pharmaverse_dir):
    result = subprocess.run([sys.executable, "-m", "trialkit", "validate", str(pharmaverse_dir / "sdtm")],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert result.returncode == 0
    assert "CHECK" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_report_option(pharmaverse_dir, capsys):
    assert cli.main(["validate", str(pharmaverse_dir / "sdtm-recist-mini"), "--report", "efficacy"]) == 1
    out = capsys.readouterr().out
    assert "the efficacy report needs dataset 'dm' or 'adsl', and none of 'dm', 'adsl' is in" in out
    assert "add dm.parquet" in out
    assert cli.main(["validate", str(pharmaverse_dir / "sdtm"), "--report", "screening"]) == 0
    assert "not read" in capsys.readouterr().out  # tu/tr are not read for screening


def test_validate_clean_study_exits_0(study_dir, capsys):
    assert cli.main(["validate", str(study_dir(fmt="csv"))]) == 0
    out = capsys.readouterr().out
    assert "Result: OK (0 error(s), 0 warning(s))" in out
    assert "No problems found." in out


def test_validate_missing_folder_exits_1_without_traceback(tmp_path, capsys):
    assert cli.main(["validate", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("trialkit: the study data folder")
    assert "Traceback" not in err


def test_report_needs_cover_design_table():
    assert set(REPORT_NEEDS) == {"study_overview", "screening", "swimmer", "waterfall", "efficacy"}
    assert REPORT_NEEDS["swimmer"].needs == ("dm|adsl", "ex|adex")
    assert REPORT_NEEDS["waterfall"].needs == ("tu+tr+rs|adtr+adrs",)
    assert REPORT_NEEDS["screening"].needs == ("dm|adsl",) and "ie" in REPORT_NEEDS["screening"].uses
    assert REPORT_NEEDS["efficacy"].uses == ("adtte", "ds", "cm", "tu", "tr")
    assert REPORT_NEEDS["study_overview"].needs == ("dm|adsl",)


@pytest.mark.parametrize("report", list(REPORT_NEEDS))
def test_each_report_validates_the_tiny_study(report, study_dir, capsys):
    assert cli.main(["validate", str(study_dir()), "--report", report]) == 0


def test_format_findings_groups_by_dataset_errors_first():
    findings = [
        Finding("warning", "rs", "RSSTRESC", "trialkit: odd\n  second line"),
        Finding("error", "dm", "AGE", "trialkit: text in AGE", path="/d/dm.csv"),
        Finding("error", "rs", "RSDTC", "trialkit: bad date"),
    ]
    assert format_findings(findings) == (
        "rs\n"
        "  ERROR    trialkit: bad date\n"
        "  WARNING  trialkit: odd\n"
        "             second line\n"
        "\n"
        "dm  (/d/dm.csv)\n"
        "  ERROR    trialkit: text in AGE")
    assert format_findings([]) == "No problems found."
