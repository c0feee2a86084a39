"""One call gives a report its study (trialkit.study), and the overview on every kind of folder.

End to end: the demo with an early cutoff, an ADaM-only folder, the pharmaverse SDTM and
ADaM folders with no protocol file, and a second trial's protocol file that drives the
overview and the checks with no code change.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from trialkit.errors import RunLockedError, UnknownArmError
from trialkit.io import compute_date, read_study
from trialkit.study import open_study, resolve_parameters

FIXTURES = Path(__file__).parent / "fixtures"
OTHER_TRIAL = FIXTURES / "protocols" / "other_trial.yaml"
EARLY = dt.date(2026, 3, 31)


def _dates_after(frame: pl.DataFrame, cutoff: dt.date) -> int:
    """Date values after the cutoff, counted by their first possible day (partial dates too)."""
    late = 0
    for column, dtype in frame.schema.items():
        if column.endswith("DTC") and dtype == pl.String:
            late += frame.filter(compute_date(pl.col(column), impute="start") > cutoff).height
        elif dtype == pl.Date:
            late += frame.filter(pl.col(column) > cutoff).height
    return late


def test_an_early_cutoff_leaves_no_date_after_it_in_any_frame(default_demo):
    data = open_study(data_dir=default_demo, data_cutoff=EARLY)
    for name, frame in data.frames.items():
        assert _dates_after(frame, EARLY) == 0, name
    assert _dates_after(data.subjects, EARLY) == 0
    # counted the same way, independently, from the files
    raw = read_study(default_demo)
    for name in ("ex", "rs", "tr", "pr"):
        date = "PRSTDTC" if name == "pr" else f"{name.upper()}STDTC" if name == "ex" else f"{name.upper()}DTC"
        expected = raw[name].filter(compute_date(pl.col(date), impute="start") > EARLY).height
        got = data.cutoff_summary.filter(pl.col("DATASET") == name)["RECORDS_AFTER_CUTOFF"].item()
        assert got == expected > 0, name
    # subjects consented after the cutoff are left out with that reason, the others stay
    consent = compute_date(pl.col("RFICDTC"))
    late = raw["dm"].filter(consent > EARLY)["USUBJID"].sort().to_list()
    out = data.screened.filter(pl.col("LEFT_OUT").is_not_null())
    assert out["USUBJID"].sort().to_list() == late
    assert set(out["LEFT_OUT"]) == {f"consented after the data cutoff {EARLY}"}
    assert data.screened.height == raw["dm"].height == data.subjects.height + len(late)


def test_randomized_after_the_cutoff_counts_as_in_screening(default_demo):
    raw = read_study(default_demo)
    rand = (raw["ds"].filter(pl.col("DSDECOD") == "RANDOMIZED")
            .select("USUBJID", compute_date(pl.col("DSSTDTC")).alias("RANDDT")))
    consent = raw["dm"].select("USUBJID", compute_date(pl.col("RFICDTC")).alias("CONSENT"))
    pending = rand.join(consent, on="USUBJID").filter((pl.col("RANDDT") > EARLY) & (pl.col("CONSENT") <= EARLY))
    assert pending.height > 0
    data = open_study(data_dir=default_demo, data_cutoff=EARLY)
    placed = data.subjects.join(pending.select("USUBJID"), on="USUBJID")
    assert placed["STATUS"].cast(pl.String).unique().to_list() == ["OTHER"]
    assert placed["ARMCD"].null_count() == placed.height
    assert data.randomized.height == rand.filter(pl.col("RANDDT") <= EARLY).height


def test_interactive_use_resolves_params_as_a_run_does(default_demo, monkeypatch):
    from trialkit import demo

    monkeypatch.setattr(demo, "demo_data_dir", lambda **_: default_demo)
    params = resolve_parameters()
    assert params.demo and params.data_dir == default_demo.resolve()
    assert params.data_cutoff == dt.date(2026, 10, 31)  # the demo's own cutoff (README, params/demo.yaml)
    assert resolve_parameters(data_dir=default_demo).data_cutoff is None     # a real folder: none


def _write(folder: Path, frames: dict[str, pl.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.write_parquet(folder / f"{name}.parquet")
    return folder


def _adam_only(folder: Path) -> Path:
    ids = ["AD-1", "AD-2", "AD-3"]
    adsl = pl.DataFrame({"STUDYID": ["XY-ADAM"] * 3, "USUBJID": ids, "SITEID": ["11", "11", "12"],
                         "ARMCD": ["T", "C", "T"], "ARM": ["Treatment", "Control", "Treatment"],
                         "RANDDT": [dt.date(2025, 1, 5), dt.date(2025, 1, 9), dt.date(2025, 2, 1)]})
    adrs = pl.DataFrame({"USUBJID": ids, "PARAMCD": ["OVR"] * 3, "AVALC": ["PR", "SD", "PD"],
                         "ADT": [dt.date(2025, 3, 1)] * 3})
    adtr = pl.DataFrame({"USUBJID": ids, "PARAMCD": ["SDIAM"] * 3, "AVAL": [40.0, 55.0, 61.0],
                         "ADT": [dt.date(2025, 3, 1)] * 3})
    adex = pl.DataFrame({"USUBJID": ids, "PARAMCD": ["DOSE"] * 3, "AVAL": [100.0] * 3})
    adtte = pl.DataFrame({"USUBJID": ids, "PARAMCD": ["PFS"] * 3, "AVAL": [120.0, 80.0, 56.0], "CNSR": [1.0, 0.0, 0.0]})
    return _write(folder, {"adsl": adsl, "adrs": adrs, "adtr": adtr, "adex": adex, "adtte": adtte})


def _other_trial(folder: Path, *, arms=("ACT", "PBO", "SCRNFAIL", "ACT")) -> Path:
    ids = [f"OTH-2-{i}" for i in range(1, len(arms) + 1)]
    dm = pl.DataFrame({"STUDYID": ["OTH-2"] * len(ids), "USUBJID": ids, "SITEID": ["101", "102", "101", "102"][:len(ids)],
                       "ARMCD": list(arms), "RFICDTC": ["2025-05-01"] * len(ids)})
    ds = pl.DataFrame({"USUBJID": [i for i, a in zip(ids, arms) if a != "SCRNFAIL"],
                       "DSDECOD": ["RANDOMIZED"] * sum(a != "SCRNFAIL" for a in arms),
                       "DSSTDTC": ["2025-05-20"] * sum(a != "SCRNFAIL" for a in arms)})
    return _write(folder, {"dm": dm, "ds": ds})


def test_an_adam_only_folder_gives_subjects_from_adsl_and_says_screening_is_unavailable(tmp_path):
    data = open_study("study_overview", data_dir=_adam_only(tmp_path / "adam"))
    assert data.source == "ADSL" and not data.has_screening
    assert "no DM" in data.screening_note
    assert data.randomized.select("USUBJID", "RANDDT_SOURCE").rows()[0] == ("AD-1", "ADSL.RANDDT")
    assert data.protocol.generic and data.protocol.arm_labels == {"C": "Control", "T": "Treatment"}


def test_a_folder_of_tumour_datasets_alone_opens_with_no_subjects_and_says_so(tmp_path):
    tr = pl.DataFrame({"STUDYID": ["T-1"], "USUBJID": ["T-1-001"], "TRLNKID": ["T01"], "TRTESTCD": ["LDIAM"],
                       "TRSTRESN": [30.0], "TRDTC": ["2025-01-03"]})
    tu = pl.DataFrame({"STUDYID": ["T-1"], "USUBJID": ["T-1-001"], "TULNKID": ["T01"], "TUSTRESC": ["TARGET"]})
    rs = pl.DataFrame({"STUDYID": ["T-1"], "USUBJID": ["T-1-001"], "RSTESTCD": ["OVRLRESP"], "RSSTRESC": ["SD"],
                       "RSDTC": ["2025-03-01"]})
    data = open_study("waterfall", data_dir=_write(tmp_path / "tumours", {"tr": tr, "tu": tu, "rs": rs}))
    assert data.subjects.is_empty() and data.source == "NONE"
    assert data["rs"].height == 1                     # the records are kept, not filtered to no subject
    assert any("neither DM nor ADSL" in f.message for f in data.findings)


def test_a_second_protocol_file_drives_the_checks(tmp_path):
    folder = _other_trial(tmp_path / "other", arms=("ACT", "PBO", "SCRNFAIL", "A"))
    with pytest.raises(UnknownArmError) as error:
        read_study(folder, study=str(OTHER_TRIAL))
    assert "'A': 1 subject(s)" in str(error.value) and "Arms defined: ACT, PBO" in str(error.value)
    data = open_study(study=str(OTHER_TRIAL), data_dir=_other_trial(tmp_path / "ok"))
    assert data.protocol.display_id == "NCT09999999 (OTH-2)"
    assert data.subjects["SITE"].unique().sort().to_list() == ["101 Riverside Cancer Centre",
                                                               "102 Hilltop University Hospital"]
    assert data.randomized["ARM_LABEL"].sort().to_list() == ["ACT: drug X", "ACT: drug X", "PBO: placebo"]
    assert data.protocol.assessors == {"INVESTIGATOR": "INVESTIGATOR"}


# ---------------------------------------------------------------------------------------------
# `trialkit run` of the overview on every kind of folder, in one run (the notebooks run in parallel)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def overview_runs(tmp_path_factory, shared_data_dir):
    from trialkit.report.runner import run_reports

    base = tmp_path_factory.mktemp("folders")
    params = {
        "early_cutoff": "data_cutoff: 2026-03-31\nsites: ['01', '03']\n",
        "adam_only": f"data_dir: {_adam_only(base / 'adam')}\n",
        "other_trial": f"study: {OTHER_TRIAL}\ndata_dir: {_other_trial(base / 'other')}\n",
    }
    if shared_data_dir is not None:
        params["pharmaverse_sdtm"] = f"data_dir: {shared_data_dir / 'sdtm'}\n"
        params["pharmaverse_adam"] = f"data_dir: {shared_data_dir / 'adam'}\n"
    files = []
    for name, text in params.items():
        path = base / f"{name}.yaml"
        path.write_text(text + f"run_name: {name}\nreports: [study_overview]\n")
        files.append(path)
    result = run_reports(files, out=base / "out", progress=False)
    return {run.name: run for run in result.runs}


def _page(run) -> str:
    return (run.path / "study_overview.html").read_text(encoding="utf-8")


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["early_cutoff", "adam_only", "other_trial", "pharmaverse_sdtm", "pharmaverse_adam"])
def test_the_overview_runs_on_every_kind_of_folder(overview_runs, name):
    if name not in overview_runs:
        pytest.skip("../shared/data/pharmaverse is absent")
    run = overview_runs[name]
    assert [(r.report, r.status, r.error) for r in run.reports] == [("study_overview", "ok", None)]
    assert "Traceback" not in _page(run)


@pytest.mark.slow
def test_the_overview_says_what_the_cutoff_and_filters_left_out(overview_runs):
    run = overview_runs["early_cutoff"]
    text = " ".join(_text(_page(run)).split())
    assert re.search(r"The data cutoff 2026-03-31 leaves out [1-9][\d,]* record\(s\) dated after it \(", text)
    left_out = pl.read_csv(run.path / "tables" / "left_out.csv", infer_schema=False)
    reasons = set(left_out["Reason"])
    assert reasons == {"consented after the data cutoff 2026-03-31", "site not in the sites filter"}
    cutoff = pl.read_csv(run.path / "tables" / "cutoff.csv")
    assert cutoff.filter(pl.col("Dataset") == "EX")["Records after the cutoff"].item() > 0
    sites = pl.read_csv(run.path / "tables" / "subjects_by_site.csv", infer_schema=False)["Site"].to_list()
    assert [s[:2] for s in sites] == ["01", "03", "Al"]


@pytest.mark.slow
def test_the_overview_of_an_adam_folder_says_screening_is_not_available(overview_runs):
    run = overview_runs["adam_only"]
    text = " ".join(_text(_page(run)).split())
    assert "Screening counts are not available" in text and "Subjects from ADSL" in text
    table = pl.read_csv(run.path / "tables" / "subjects_by_site.csv", infer_schema=False)
    assert table.columns == ["Site", "Randomized", "Control", "Treatment"]
    assert table.rows()[-1] == ("All sites", "3", "1", "2")


@pytest.mark.slow
def test_another_trials_protocol_names_its_study_arms_sites_and_confidentiality(overview_runs):
    run = overview_runs["other_trial"]
    page = _page(run)
    text = " ".join(_text(page).split())
    assert "Study NCT09999999 (OTH-2)" in text
    assert "Strictly confidential: OTH-2 study data; internal use only" in text
    assert "NCT07334483" not in page and "ST561-1" not in page
    table = pl.read_csv(run.path / "tables" / "subjects_by_site.csv", infer_schema=False)
    assert table.columns[-2:] == ["ACT: drug X", "PBO: placebo"]
    assert table["Site"].to_list() == ["101 Riverside Cancer Centre", "102 Hilltop University Hospital", "All sites"]
    index = (run.path / "index.html").read_text(encoding="utf-8")
    assert "NCT09999999 (OTH-2)" in index and "Strictly confidential" in index


@pytest.mark.slow
def test_pharmaverse_runs_under_a_generic_protocol_announced_in_the_report(overview_runs):
    if "pharmaverse_sdtm" not in overview_runs:
        pytest.skip("../shared/data/pharmaverse is absent")
    text = " ".join(_text(_page(overview_runs["pharmaverse_sdtm"])).split())
    assert "No protocol file for this study" in text and "CDISCPILOT01" in text


def test_a_second_run_of_the_same_folder_waits_then_gives_up_clearly(tmp_path):
    from trialkit.report.runner import run_folder_lock

    held, release = threading.Event(), threading.Event()

    def first():
        with run_folder_lock(tmp_path, "weekly"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(5)
    started = time.monotonic()
    with pytest.raises(RunLockedError, match="another trialkit run is still writing") as error:
        with run_folder_lock(tmp_path, "weekly", timeout=0.3):
            pass
    assert time.monotonic() - started >= 0.3 and error.value.exit_code == 75
    waited = []

    def second():
        with run_folder_lock(tmp_path, "weekly", timeout=5):
            waited.append(time.monotonic())

    other = threading.Thread(target=second)
    other.start()
    time.sleep(0.3)
    assert waited == []          # still waiting for the first
    release.set()
    thread.join(5)
    other.join(5)
    assert len(waited) == 1      # then it ran
    assert list(tmp_path.iterdir()) == []  # no lock file left behind
