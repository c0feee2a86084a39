"""The command line: help for every command, the console script, errors without traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trialkit.cli import build_parser, main

BIN = Path(sys.executable).parent


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("validate", "demo", "run"):
        assert command in out


@pytest.mark.parametrize("command, words", [
    ("validate", ["DATA_DIR", "--report", "warnings"]),
    ("demo", ["--out", "--seed", "--subjects", "--cutoff", "--format", "demo_truth.json"]),
    ("run", ["PARAMS.yaml", "--out", "--reports", "--jobs", "index.html"]),
])
def test_each_command_explains_itself(command, words, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for word in words:
        assert word in out, f"'trialkit {command} --help' does not mention {word}"


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "validate" in capsys.readouterr().out


def test_python_dash_m_and_console_script_agree():
    module = subprocess.run([sys.executable, "-m", "trialkit", "--help"], capture_output=True, text=True)
    script = subprocess.run([str(BIN / "trialkit"), "--help"], capture_output=True, text=True)
    assert module.returncode == script.returncode == 0
    assert module.stdout == script.stdout


def test_a_trialkit_error_is_printed_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "trialkit", "validate", str(tmp_path / "nowhere")],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert "trialkit:" in result.stderr
    assert "nowhere" in result.stderr


def test_parser_defaults():
    args = build_parser().parse_args(["demo", "--out", "x"])
    assert (args.format, args.seed, args.subjects) == ("parquet", None, None)


def test_validate_reads_a_gbk_csv_with_encoding_option(tmp_path, capsys):
    """Site names written by a Chinese-locale export: refused as UTF-8, read with --encoding."""
    (tmp_path / "dm.csv").write_bytes(
        "STUDYID,USUBJID,SITEID,ARMCD,ARM,INVNAM\nNCT07334483,S-01,01,A,Arm A,中山医院\n".encode("gbk"))
    assert main(["validate", str(tmp_path)]) == 1
    assert "not UTF-8" in capsys.readouterr().out
    assert main(["validate", str(tmp_path), "--encoding", "gbk"]) == 0
    out = capsys.readouterr().out
    assert "not UTF-8" not in out and "unreadable" not in out
    assert "  dm             1     6  dm.csv" in out and "Result: OK (0 error(s)" in out
