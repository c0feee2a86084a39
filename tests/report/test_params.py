"""Params files are checked against the notebooks' parameters cells before anything runs.

Uses the tiny fixture notebooks of tests/report/notebooks (alpha declares an extra
``repeats: int``); nothing here executes a notebook.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trialkit.cli import main
from trialkit.errors import ParamsError
from trialkit.report.params import (
    check_params, collect_parameters, load_params_files, allowed_types, read_notebook_parameters,
    read_params_file,
)
from trialkit.report.runner import find_notebooks

FIXTURES = Path(__file__).parent / "notebooks"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notebooks() -> dict[str, Path]:
    return find_notebooks(FIXTURES)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "dm.csv").write_text("STUDYID,USUBJID\nST561-1,S1\n")  # matches the shipped protocol
    return folder


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(path: Path, notebooks, **kwargs) -> str:
    with pytest.raises(ParamsError) as info:
        load_params_files([path], notebooks=notebooks, **kwargs)
    return str(info.value)


def test_misspelled_key_refused_before_any_notebook_runs(tmp_path, data_dir, monkeypatch, capsys):
    good = write(tmp_path, "data_dir: data\n", "good.yaml")
    bad = write(tmp_path, "data_dir: data\ndata_cutof: 2026-10-31\n", "bad.yaml")
    monkeypatch.setenv("TRIALKIT_NOTEBOOKS_DIR", str(FIXTURES))
    out = tmp_path / "out"

    code = main(["run", str(good), str(bad), "--out", str(out)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("trialkit: params file ")
    assert str(bad) in err and "line 2" in err and "key 'data_cutof'" in err
    assert "did you mean 'data_cutoff'?" in err
    assert not out.exists()  # not even the run folder: nothing ran
    assert not list(tmp_path.rglob("*.ipynb"))


def test_every_problem_of_every_file_in_one_message(tmp_path, data_dir, notebooks):
    first = write(tmp_path, "data_dir: data\nassessor: bicrr\n", "first.yaml")
    second = write(tmp_path, "data_dir: data\nconfirmed: 'yes'\nrepeats: two\n", "second.yaml")
    with pytest.raises(ParamsError) as info:
        load_params_files([first, second], notebooks=notebooks)
    lines = [line for line in str(info.value).splitlines() if line.startswith("trialkit:")]
    assert len(lines) == 3
    assert ("first.yaml, line 2, key 'assessor': 'bicrr' is not an assessor of NCT07334483 (ST561-1): "
            "BICR | INVESTIGATOR (did you mean 'BICR'?)") in lines[0]
    assert "key 'confirmed': expected true or false, got str 'yes'" in lines[1]
    assert "key 'repeats': expected an integer, got str 'two'" in lines[2]  # type from alpha's default


@pytest.mark.parametrize("text, key, fragment", [
    ("data_cutoff: 2026-02-30\n", "data_cutoff", "'2026-02-30' is not a real date"),
    ("data_cutoff: 31/10/2026\n", "data_cutoff", "is not an ISO date; write YYYY-MM-DD"),
    ("data_cutoff: 2026-10-31T10:00:00\n", "data_cutoff", "expected a date (YYYY-MM-DD)"),
    ("criteria: iRECIST\n", "criteria", "'iRECIST' is not criteria of NCT07334483 (ST561-1): mRECIST | RECIST 1.1"),
    ("audience: public\n", "audience", "not one of investigator | analyst"),
    ("best_change_window: until_PD\n", "best_change_window", "did you mean 'until_pd'?"),
    ("arms: [A, E]\n", "arms", "arm code(s) E not in the protocol (NCT07334483 (ST561-1): A, B, C, D)"),
    ("arms: A\n", "arms", "expected a list or null, got str 'A'"),
    ("study: NCT000\n", "study", "no protocol file for study 'NCT000'"),
    ("output_dir: /tmp/x\n", "output_dir", "is reserved"),
    ("repeats: true\n", "repeats", "expected an integer, got a boolean (True)"),
    ("reports: [alpah]\n", "reports", "no report named 'alpah' (did you mean 'alpha'?)"),
    ("run_name: ../escape\n", "run_name", "must be a folder name"),
])
def test_bad_values_name_file_and_key(tmp_path, data_dir, notebooks, text, key, fragment):
    path = write(tmp_path, "data_dir: data\n" + text)
    message = load_error(path, notebooks)
    assert message.startswith(f"trialkit: params file {path}, line 2, key '{key}'")
    assert fragment in message


def test_missing_data_dir_is_resolved_against_the_params_folder(tmp_path, notebooks):
    path = write(tmp_path, "data_dir: ../nowhere\n")
    message = load_error(path, notebooks)
    assert f"key 'data_dir': folder {(tmp_path.parent / 'nowhere').resolve()} does not exist" in message
    assert "read from the params file's folder" in message


def test_malformed_yaml_names_file_and_line(tmp_path, notebooks):
    path = write(tmp_path, "study: NCT07334483\narms: [A, B\nsites: []\n")
    message = load_error(path, notebooks)
    assert message.startswith(f"trialkit: params file {path}, line ")
    assert "not valid YAML" in message


def test_a_key_given_twice_is_refused(tmp_path, notebooks):
    message = load_error(write(tmp_path, "audience: analyst\nsites: []\naudience: investigator\n"), notebooks)
    assert "line 3, key 'audience': given twice (also line 1)" in message


def test_a_params_file_that_is_not_utf8(tmp_path, notebooks):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: Hôpital\n".encode("latin-1"))
    assert "is not UTF-8 text" in load_error(path, notebooks)


def test_a_list_is_not_a_params_mapping(tmp_path, notebooks):
    message = load_error(write(tmp_path, "- study\n- arms\n"), notebooks)
    assert "line 1: expected a mapping of key: value lines, found a list" in message


def test_resolved_values_and_default_run_name(tmp_path, data_dir, notebooks):
    path = write(tmp_path, "data_dir: data\ndata_cutoff: 2026-10-31\narms: [A]\nsites: ['01']\n"
                           "title: null\nrepeats: 3\n", "site_review.yaml")
    [run] = load_params_files([path], notebooks=notebooks)
    assert run.run_name == "site_review_2026-10-31"
    assert run.data_dir == data_dir.resolve() and not run.demo
    assert run.values == {"data_dir": str(data_dir.resolve()), "data_cutoff": "2026-10-31",
                          "arms": ["A"], "sites": ["01"], "repeats": 3}  # null -> notebook default
    assert run.reports is None
    assert run.protocol.study_id == "NCT07334483"  # matched from DM's STUDYID ST561-1


def test_a_key_no_report_reads_is_refused(tmp_path, data_dir, notebooks):
    # each fixture notebook declares only what it reads; none reads adam_paramcd
    message = load_error(write(tmp_path, "data_dir: data\nadam_paramcd: {sum: SLDINV}\n"), notebooks)
    assert "key 'adam_paramcd': is not a parameter of any report" in message
    # a key one report reads is fine, and is passed only to that report
    [run] = load_params_files([write(tmp_path, "data_dir: data\nconfirmed: false\n", "c.yaml")], notebooks=notebooks)
    assert run.values["confirmed"] is False


def test_assessor_and_criteria_spellings_become_the_protocols_names(tmp_path, data_dir, notebooks):
    path = write(tmp_path, "data_dir: data\nassessor: independent assessor\ncriteria: recist v1.1\n")
    [run] = load_params_files([path], notebooks=notebooks)
    assert (run.values["assessor"], run.values["criteria"]) == ("BICR", "RECIST 1.1")


def test_a_study_without_a_protocol_file_checks_arms_against_its_data(tmp_path, notebooks):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "dm.csv").write_text("STUDYID,USUBJID,SITEID,ARMCD,ARM\nXY-9,1,101,PBO,Placebo\nXY-9,2,102,ACT,Active\n")
    [run] = load_params_files([write(tmp_path, "data_dir: other\narms: [ACT]\n")], notebooks=notebooks)
    assert run.protocol.generic and run.protocol.arm_codes == ["ACT", "PBO"]
    message = load_error(write(tmp_path, "data_dir: other\narms: [A]\n", "bad.yaml"), notebooks)
    assert "arm code(s) A not in the protocol (XY-9: ACT, PBO)" in message


def test_run_name_and_reports_keys_and_cli_override(tmp_path, data_dir, notebooks):
    path = write(tmp_path, "data_dir: data\nrun_name: weekly\nreports: [alpha]\n")
    [run] = load_params_files([path], notebooks=notebooks)
    assert (run.run_name, run.reports) == ("weekly", ["alpha"])
    assert "reports" not in run.values and "run_name" not in run.values
    [run] = load_params_files([path], notebooks=notebooks, reports=["beta"])
    assert run.reports == ["beta"]
    assert "no report named 'gamma'" in str(pytest.raises(
        ParamsError, load_params_files, [path], notebooks=notebooks, reports=["gamma"]).value)


def test_no_cutoff_and_own_data_gives_nocutoff_run_name(tmp_path, data_dir, notebooks):
    [run] = load_params_files([write(tmp_path, "data_dir: data\n")], notebooks=notebooks)
    assert run.run_name == "run_nocutoff" and "data_cutoff" not in run.values


def test_two_files_writing_one_run_folder_are_refused(tmp_path, data_dir, notebooks):
    a = write(tmp_path, "data_dir: data\nrun_name: same\n", "a.yaml")
    b = write(tmp_path, "data_dir: data\nrun_name: same\n", "b.yaml")
    assert "both write the run folder 'same'" in str(pytest.raises(
        ParamsError, load_params_files, [a, b], notebooks=notebooks).value)


def test_an_empty_notebooks_folder_is_an_error(tmp_path):
    assert "no report notebooks" in str(pytest.raises(ParamsError, find_notebooks, tmp_path).value)


def test_missing_params_file(tmp_path, notebooks):
    assert "does not exist" in load_error(tmp_path / "nope.yaml", notebooks)


def test_parameters_cell_defaults_are_read_without_running():
    declared = read_notebook_parameters(FIXTURES / "alpha.ipynb")
    assert declared["repeats"] == 2 and declared["output_dir"] == "" and declared["data_dir"] is None


def test_shipped_params_files_are_valid_for_the_project_notebooks():
    try:
        notebooks = find_notebooks(ROOT / "notebooks")
    except ParamsError:
        pytest.skip("no report notebooks in notebooks/ yet")
    types = allowed_types(collect_parameters(notebooks))
    for path in sorted((ROOT / "params").glob("*.yaml")):
        raw, lines = read_params_file(path)
        assert check_params(raw, lines, path=path, types=types, notebooks=notebooks) == [], path


@pytest.mark.parametrize(("text", "fragment"), [
    ("email:\n  to: [jane@hospital]\n", "line 2, key 'email': email.to: 'jane@hospital' is not an e-mail address"),
    ("email:\n  to: [a@b.org]\n  password: hunter2\n",
     "email.password: SMTP settings (server, user, password) never go in a params file"),
    ("email:\n  to: [a@b.org]\n  ccc: [c@d.org]\n", "email.ccc is not an e-mail setting (did you mean 'cc'?)"),
    ("email:\n  cc: [c@d.org]\n", "email.to is missing"),
    ("email:\n  to: [a@b.org]\n  max_mb: 0\n", "email.max_mb: expected a number of megabytes above 0"),
    ("email:\n  to: [a@b.org]\n  zip: yes please\n", "email.zip: expected true or false"),
    ("email:\n  to: [a@b.org]\n  subject: 'Reports {cutof}'\n", "unknown field {cutof} (did you mean 'cutoff'?)"),
    ("email:\n  to: ['a@b.org, c@d.org']\n", "holds several addresses: write one per list item"),
    ("email: jane@hospital.example\n", "expected a mapping of e-mail settings"),
    ("emial:\n  to: [a@b.org]\n", "key 'emial': is not a parameter of any report (did you mean 'email'?)"),
])
def test_email_key_is_checked_like_every_key(tmp_path, data_dir, notebooks, text, fragment):
    assert fragment in load_error(write(tmp_path, "data_dir: data\n" + text), notebooks)


def test_a_valid_email_key_is_kept_for_the_manifest(tmp_path, data_dir, notebooks):
    path = write(tmp_path, "data_dir: data\nemail:\n  to: Jane Doe <jane@hospital.example>\n  cc: []\n"
                           "  subject: '{study} {cutoff}'\n  zip: true\n  max_mb: 15\n")
    [run] = load_params_files([path], notebooks=notebooks)
    assert run.values["email"]["to"] == "Jane Doe <jane@hospital.example>" and run.values["email"]["zip"] is True


def test_adam_paramcd_keys_are_the_roles_trialkit_knows():
    from trialkit.report.params import check_key

    types = {"adam_paramcd": (dict,)}
    assert check_key("adam_paramcd", {"sum": "SLDINV", "overall": ["OVRINV"]}, types=types, notebooks={},
                     base=Path(".")) is None
    message = check_key("adam_paramcd", {"ovr": "OVRINV"}, types=types, notebooks={}, base=Path("."))
    assert message.startswith("has the key(s) ovr; the keys are sum, overall, bor, cbor")
    assert "expected a mapping" in check_key("adam_paramcd", "SLDINV", types=types, notebooks={}, base=Path("."))
