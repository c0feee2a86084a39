"""Params files are untrusted input: bounded in size, in each value and in what a message quotes.

A study team edits these files by hand and a scheduler mails whatever the run prints, so a
bad file must end quickly with a short message naming the file, line and key, and exit 2.
Uses the tiny fixture notebooks of tests/report/notebooks; nothing here executes a notebook.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from trialkit.cli import main
from trialkit.errors import ParamsError
from trialkit.report import params as params_module
from trialkit.report.params import load_params_files
from trialkit.report.runner import find_notebooks

FIXTURES = Path(__file__).parent / "notebooks"

BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
sites: [*g, *g, *g, *g, *g, *g, *g, *g, *g]
"""


@pytest.fixture
def notebooks() -> dict[str, Path]:
    return find_notebooks(FIXTURES)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "dm.csv").write_text("STUDYID,USUBJID,SITEID\nST561-1,S1,01\n")  # the shipped protocol: sites 01-03
    return folder


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path, notebooks) -> str:
    with pytest.raises(ParamsError) as info:
        load_params_files([path], notebooks=notebooks)
    return str(info.value)


def run_cli(args, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setenv("TRIALKIT_NOTEBOOKS_DIR", str(FIXTURES))
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def test_a_yaml_alias_bomb_ends_in_under_a_second_with_a_short_message(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, BILLION_LAUGHS)
    started = time.perf_counter()
    code, message = run_cli(["run", str(path), "--out", str(tmp_path / "out")], monkeypatch, capsys)
    seconds = time.perf_counter() - started
    assert code == 2 and seconds < 1.0
    assert len(message.encode("utf-8")) < 2048
    assert f"params file {path}, line 2: the YAML alias *a is not accepted" in message
    assert "lol" not in message and not (tmp_path / "out").exists()


def test_an_alias_is_refused_even_when_small(tmp_path, notebooks, data_dir):
    message = load_error(write(tmp_path, "data_dir: data\narms: &x [A]\nsites: *x\n"), notebooks)
    assert "line 3: the YAML alias *x is not accepted" in message


def test_a_huge_params_file_is_refused_before_it_is_parsed(tmp_path, notebooks):
    path = write(tmp_path, "title: '" + "x" * 20_000_000 + "'\n")   # the 20 MB title of the issue
    started = time.perf_counter()
    message = load_error(path, notebooks)
    assert time.perf_counter() - started < 1.0
    assert "is larger than 64 KB" in message and len(message) < 400


@pytest.mark.parametrize("text, fragment", [
    ("title: '" + "T" * 201 + "'\n", "is 201 characters long; at most 200 are accepted"),
    ("data_cutoff: '" + "9" * 5000 + "'\n", "is 5,000 characters long; at most 1000 are accepted"),
    ("sites: [" + ", ".join(["'01'"] * 1001) + "]\n", "has 1,001 items; at most 1000 are accepted"),
    ("title: \"Interim\\x00review\"\n", "holds a control character ('\\x00' at position 8)"),
    ("arms: [[[[A]]]]\n", "nested more than three levels deep"),
])
def test_values_too_big_or_unsafe_are_refused(tmp_path, notebooks, data_dir, text, fragment):
    message = load_error(write(tmp_path, "data_dir: data\n" + text), notebooks)
    assert message.startswith(f"trialkit: params file {tmp_path / 'run.yaml'}, line 2, key '")
    assert fragment in message


def test_deeply_nested_yaml_is_a_params_error_not_a_crash(tmp_path, notebooks):
    message = load_error(write(tmp_path, "arms: " + "[" * 5000 + "]" * 5000 + "\n"), notebooks)
    assert "nested too deeply" in message


LONG = "x" * 900  # within the size limits, so each key's own check quotes it


@pytest.mark.parametrize("text", [
    f"data_cutoff: '{LONG}'\n",
    f"assessor: '{LONG}'\n",
    f"criteria: '{LONG}'\n",
    f"audience: '{LONG}'\n",
    f"best_change_window: '{LONG}'\n",
    f"arms: ['{LONG}']\n",
    f"sites: ['{LONG}']\n",
    f"study: '{LONG}'\n",
    f"data_dir: '{LONG}'\n",
    f"reports: ['{LONG}']\n",
    f"confirmed: '{LONG}'\n",
    f"repeats: '{LONG}'\n",
    f"{LONG}: 1\n",
    f"run_name: '{LONG}'\n",
    f"email: {{to: ['{LONG}']}}\n",
    f"email: {{to: [a@b.org], cc: '{LONG} <x>'}}\n",
])
def test_every_message_quotes_at_most_200_characters_of_a_value(tmp_path, notebooks, data_dir, text):
    message = load_error(write(tmp_path, "data_dir: data\n" + text), notebooks)
    longest = max((len(m) for m in re.findall("x+", message)), default=0)
    assert longest <= 200, f"{longest} characters of the value quoted:\n{message[:500]}"
    assert len(message) < 2048 and "line 2" in message


def test_problems_of_one_file_are_listed_up_to_a_limit(tmp_path, notebooks):
    text = "".join(f"unknown_{i}: 1\n" for i in range(500))
    message = load_error(write(tmp_path, text), notebooks)
    assert message.count("is not a parameter of any report") == params_module.MAX_PROBLEMS
    assert f"{500 - params_module.MAX_PROBLEMS} more problem(s) not listed" in message


def test_an_unknown_key_with_no_close_match_is_refused(tmp_path, data_dir, monkeypatch, capsys):
    path = write(tmp_path, "data_dir: data\nzqxwv_lorem: 3\n")
    code, message = run_cli(["run", str(path), "--out", str(tmp_path / "out")], monkeypatch, capsys)
    assert code == 2
    assert f"params file {path}, line 2, key 'zqxwv_lorem': is not a parameter of any report." in message
    assert "did you mean" not in message and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# sites: checked against the protocol (or the data, under a generic protocol); numbers zero-padded
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("written, expected", [
    ("['01', '03']", ["01", "03"]),
    ("[01, 03]", ["01", "03"]),      # YAML reads these as the numbers 1 and 3
    ("[1, 3]", ["01", "03"]),        # a number matches its zero-padded site
    ("[3, '03']", ["03"]),           # one site, once
])
def test_site_codes_written_as_numbers_match_the_protocols_sites(tmp_path, notebooks, data_dir, written, expected):
    [run] = load_params_files([write(tmp_path, f"data_dir: data\nsites: {written}\n")], notebooks=notebooks)
    assert run.values["sites"] == expected


@pytest.mark.parametrize("written, fragment", [
    ("['09']", "site '09' is not a site of NCT07334483 (ST561-1) (did you mean '03'?)"),
    ("[7]", "site '7' is not a site of NCT07334483 (ST561-1)"),
    ("['01', '04']", "site '04' is not a site of NCT07334483 (ST561-1)"),   # one unknown site among good ones
    ("[010]", "site '010' is not a site"),   # YAML's octal 8: read as written
])
def test_a_site_the_protocol_does_not_list_is_refused(tmp_path, notebooks, data_dir, written, fragment):
    message = load_error(write(tmp_path, f"data_dir: data\nsites: {written}\n"), notebooks)
    assert "line 2, key 'sites': " + fragment in message
    assert "Sites: 01, 02, 03. Write site codes in quotes as the data writes them" in message


def test_sites_under_a_generic_protocol_are_the_datas(tmp_path, notebooks):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "dm.csv").write_text("STUDYID,USUBJID,SITEID,ARMCD\nXY-9,1,0101,P\nXY-9,2,0102,P\n")
    [run] = load_params_files([write(tmp_path, "data_dir: other\nsites: [101]\n")], notebooks=notebooks)
    assert run.protocol.generic and run.values["sites"] == ["0101"]
    message = load_error(write(tmp_path, "data_dir: other\nsites: ['0103']\n", "bad.yaml"), notebooks)
    assert "site '0103' is not a site of XY-9 (did you mean" in message and "Sites: 0101, 0102." in message


def test_an_unknown_site_is_refused_in_interactive_use_too(tmp_path):
    from trialkit.study import open_study

    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "dm.csv").write_text("STUDYID,USUBJID,SITEID,ARMCD\nXY-9,1,101,P\nXY-9,2,102,P\n")
    with pytest.raises(ParamsError, match="site '103' is not a site of XY-9"):
        open_study(data_dir=folder, sites=["101", "103"])
    assert open_study(data_dir=folder, sites=[101]).subjects["USUBJID"].to_list() == ["1"]


# ---------------------------------------------------------------------------------------------
# null takes the default; files that cannot be read are params errors, not bugs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["study", "data_cutoff", "sites", "arms", "assessor", "criteria", "confirmed",
                                 "best_change_window", "audience", "title", "repeats", "reports", "run_name"])
def test_null_takes_the_default_for_every_key(tmp_path, notebooks, data_dir, key):
    [run] = load_params_files([write(tmp_path, f"data_dir: data\n{key}: null\n")], notebooks=notebooks)
    assert key not in run.values
    assert run.reports is None and run.run_name == "run_nocutoff"


def test_a_params_file_that_is_a_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "weekly.yaml").mkdir()
    code, message = run_cli(["run", str(tmp_path / "weekly.yaml")], monkeypatch, capsys)
    assert code == 2 and f"params file {tmp_path / 'weekly.yaml'} is a folder" in message
    assert "internal error" not in message


def test_a_params_file_that_cannot_be_read(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, "audience: analyst\n")

    def refuse(*args, **kwargs):  # the tests run as root, for whom chmod 000 changes nothing
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(params_module, "open", refuse, raising=False)
    code, message = run_cli(["run", str(path)], monkeypatch, capsys)
    assert code == 2
    assert message.strip() == (f"trialkit: cannot read the params file {path}: Permission denied; give the "
                               f"user running trialkit access to it (chmod/chown), or use another path.")
