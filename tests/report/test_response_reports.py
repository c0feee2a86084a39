"""The waterfall and efficacy notebooks end to end (`trialkit run`), in one run of every folder.

Folders: the built-in demo, the pharmaverse SDTM (RECIST 1.1, two assessors, "CHECK"), the
pharmaverse ADaM (ADSL + ADRS + ADTR) and ``sdtm-recist-mini`` with ``sdtm/dm`` and ``sdtm/ds``.
Expected values are re-derived here from the written data with plain polars (never the demo's
numbers), or read from admiralonco's own ADRS.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WATERFALL_COLUMNS = ["USUBJID", "ARM", "CRITERIA", "ASSESSOR", "BASE_SUM", "BEST_SUM", "BEST_PCHG", "BOR", "PLOTTED",
                     "EXCLUSION_REASON"]
ORR_COLUMNS = ["ARM", "CRITERIA", "ASSESSOR", "CONFIRMED", "N", "RESPONDERS", "ORR_PCT", "CI_LOWER_PCT",
               "CI_UPPER_PCT"]
PFS_COLUMNS = ["USUBJID", "ARM", "CRITERIA", "ASSESSOR", "AVAL_DAYS", "EVENT", "EVENT_DESC"]
CONCORDANCE_COLUMNS = ["COMPARISON", "ARM", "BOR_1", "BOR_2", "N"]
MAX_HTML = 2.5 * 2**20


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_data_dir):
    """One `run_reports` of both notebooks on every folder (they run in parallel)."""
    from trialkit.report.runner import run_reports

    base = tmp_path_factory.mktemp("response")
    params = {"demo": f"study: NCT07334483\nreports: [waterfall, efficacy]\n"}
    if shared_data_dir is not None:
        mini = base / "mini"
        mini.mkdir()
        for name in ("tu", "tr", "rs"):
            (mini / f"{name}.parquet").symlink_to(shared_data_dir / "sdtm-recist-mini" / f"{name}.parquet")
        for name in ("dm", "ds"):
            (mini / f"{name}.parquet").symlink_to(shared_data_dir / "sdtm" / f"{name}.parquet")
        params["pv_sdtm"] = f"data_dir: {shared_data_dir / 'sdtm'}\nreports: [waterfall, efficacy]\n"
        params["pv_adam"] = f"data_dir: {shared_data_dir / 'adam'}\nreports: [waterfall, efficacy]\n"
        params["pv_mini"] = f"data_dir: {mini}\nassessor: INVESTIGATOR\nreports: [waterfall]\n"
    files = []
    for name, text in params.items():
        path = base / f"{name}.yaml"
        path.write_text(text + f"run_name: {name}\n")
        files.append(path)
    result = run_reports(files, out=base / "out", progress=False)
    return {run.name: run for run in result.runs}


def _run(runs, name):
    if name not in runs:
        pytest.skip("../shared/data/pharmaverse is absent")
    return runs[name]


def _table(run, name: str) -> pl.DataFrame:
    return pl.read_csv(run.path / "tables" / f"{name}.csv", infer_schema_length=None)


def _text(run, report: str) -> str:
    page = (run.path / f"{report}.html").read_text(encoding="utf-8")
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _randomized_from_dm(folder: Path, cutoff: str | None = None) -> pl.DataFrame:
    """Randomized subjects re-derived from DM and DS with plain polars (an arm that is not a screen failure,
    a dated DS RANDOMIZED milestone on or before the cutoff)."""
    dm = pl.read_parquet(folder / "dm.parquet")
    ds = pl.read_parquet(folder / "ds.parquet")
    rand = ds.filter(pl.col("DSDECOD").str.to_uppercase() == "RANDOMIZED").select(
        "USUBJID", pl.col("DSSTDTC").str.slice(0, 10).alias("RANDDT"))
    if cutoff:
        rand = rand.filter(pl.col("RANDDT") <= cutoff)
    return (dm.filter(pl.col("ARMCD").is_not_null() & (pl.col("ARMCD").str.to_uppercase() != "SCRNFAIL"))
            .join(rand, on="USUBJID").select("USUBJID", "ARMCD"))


@pytest.mark.parametrize("name", ["demo", "pv_sdtm", "pv_adam", "pv_mini"])
def test_the_notebooks_run_on_every_folder_and_each_html_is_small(runs, name):
    run = _run(runs, name)
    assert [(r.report, r.status, r.error) for r in run.reports if r.status != "ok"] == []
    for report in run.reports:
        page = run.path / f"{report.report}.html"
        assert page.stat().st_size <= MAX_HTML, f"{page.name}: {page.stat().st_size / 2**20:.2f} MB"
        assert "Traceback" not in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["demo", "pv_sdtm", "pv_adam"])
def test_every_randomized_subject_is_in_waterfall_csv_plotted_or_with_its_reason(runs, name, default_demo,
                                                                                 shared_data_dir):
    run = _run(runs, name)
    waterfall = _table(run, "waterfall")
    assert waterfall.columns[:10] == WATERFALL_COLUMNS
    if name == "demo":
        from trialkit.demo import DEFAULT_CUTOFF

        expected = _randomized_from_dm(default_demo, cutoff=str(DEFAULT_CUTOFF))
    elif name == "pv_sdtm":
        expected = _randomized_from_dm(shared_data_dir / "sdtm")
    else:
        adsl = pl.read_parquet(shared_data_dir / "adam" / "adsl.parquet")
        expected = adsl.filter(pl.col("RANDDT").is_not_null()).select("USUBJID", "ARMCD")
    assert sorted(waterfall["USUBJID"].to_list()) == sorted(expected["USUBJID"].to_list())
    assert waterfall["USUBJID"].n_unique() == waterfall.height
    plotted = waterfall.filter(pl.col("PLOTTED") == "Y")
    assert plotted["BEST_PCHG"].null_count() == 0 and plotted["EXCLUSION_REASON"].null_count() == plotted.height
    not_plotted = waterfall.filter(pl.col("PLOTTED") == "N")
    assert not_plotted["EXCLUSION_REASON"].null_count() == 0 and not_plotted["BEST_PCHG"].null_count() == not_plotted.height
    assert set(waterfall["BOR"]) <= {"CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING"}
    # the title counts them: "n plotted / N randomized"
    assert f"{plotted.height:,} plotted / {waterfall.height:,} randomized" in _text(run, "waterfall")
    listed = _table(run, "waterfall_not_plotted")
    assert sorted(listed["Subject"].to_list()) == sorted(not_plotted["USUBJID"].to_list())


@pytest.mark.parametrize("name", ["demo", "pv_sdtm"])
def test_orr_csv_agrees_with_waterfall_csv_and_the_exact_interval(runs, name):
    from scipy.stats import beta

    run = _run(runs, name)
    orr = _table(run, "orr")
    waterfall = _table(run, "waterfall")
    assert orr.columns[:9] == ORR_COLUMNS
    by_arm = waterfall.group_by("ARM").agg(pl.len().alias("N"), pl.col("BOR").is_in(["CR", "PR"]).sum().alias("R"))
    expected = dict((a, (n, r)) for a, n, r in by_arm.iter_rows())
    for row in orr.filter(pl.col("N") > 0).iter_rows(named=True):
        n, responders = expected[row["ARM"]]
        assert (row["N"], row["RESPONDERS"]) == (n, responders)
        lower = 0.0 if responders == 0 else 100 * beta.ppf(0.025, responders, n - responders + 1)
        upper = 100.0 if responders == n else 100 * beta.ppf(0.975, responders + 1, n - responders)
        assert row["CI_LOWER_PCT"] == pytest.approx(lower) and row["CI_UPPER_PCT"] == pytest.approx(upper)
    assert orr["N"].sum() == waterfall.height


def test_efficacy_tables_of_the_demo(runs):
    run = runs["demo"]
    pfs = _table(run, "pfs")
    assert pfs.columns[:7] == PFS_COLUMNS
    assert sorted(pfs["USUBJID"].to_list()) == sorted(_table(run, "waterfall")["USUBJID"].to_list())
    assert set(pfs["EVENT"]) <= {"Y", "N"} and pfs["AVAL_DAYS"].min() >= 1
    events = pfs.filter(pl.col("EVENT") == "Y")
    assert set(events["EVENT_DESC"]) <= {"PD", "DEATH"} and events.height > 0
    assert pfs.filter(pl.col("EVENT") == "N")["EVENT_DESC"].str.starts_with("CENSORED: ").all()
    concordance = _table(run, "concordance")
    assert concordance.columns[:5] == CONCORDANCE_COLUMNS
    assert set(concordance["COMPARISON"]) == {"BICR vs INVESTIGATOR", "MRECIST vs RECIST 1.1"}
    per_comparison = concordance.filter(pl.col("ARMCD") == "ALL").group_by("COMPARISON").agg(pl.col("N").sum())
    assert set(per_comparison["N"]) == {pfs.height}
    text = _text(run, "efficacy")
    assert "Median progression-free survival by arm" in text and "Cohen's kappa" in text


def test_the_pharmaverse_sdtm_lists_check_never_counted_and_has_no_mrecist_comparison(runs):
    run = _run(runs, "pv_sdtm")
    text = _text(run, "waterfall")
    assert "(CHECK): listed, never counted as a response" in text
    assert "INVESTIGATOR, RECIST 1.1" in text          # the generic protocol's primary: investigator, RECIST 1.1
    concordance = _table(run, "concordance")
    assert set(concordance["COMPARISON"]) == {"BICR vs INVESTIGATOR"}
    assert ("MRECIST vs RECIST 1.1 by INVESTIGATOR: not available — dataset 'rs' has no records of criteria "
            "mRECIST (RSCAT).") in _text(run, "efficacy")
    assert _table(run, "response_check").height > 0       # the synthetic RS is not consistent with its TR


def test_the_adam_folder_uses_adtr_sums_and_adrs_responses(runs):
    run = _run(runs, "pv_adam")
    text = _text(run, "waterfall")
    assert "from ADRS" in text and "the lesions assessed (LSASS) are the lesions expected (LSEXP)" in text
    waterfall = _table(run, "waterfall")
    plotted = waterfall.filter(pl.col("PLOTTED") == "Y")
    assert plotted.height == 6      # the admiralonco ADTR holds the 8 mini subjects, 6 with target lesions
    assert "Not available: the recomputation needs" in text


def test_sdtm_recist_mini_reproduces_admiralonco_confirmed_bor(runs, shared_data_dir):
    run = _run(runs, "pv_mini")
    adrs = pl.read_parquet(shared_data_dir / "adam" / "adrs.parquet")
    cbor = adrs.filter((pl.col("PARAMCD") == "CBOR") & (pl.col("AVALC") != "MISSING")).select("USUBJID", "AVALC")
    waterfall = _table(run, "waterfall").filter(pl.col("USUBJID").is_in(cbor["USUBJID"].to_list()))
    assert dict(waterfall.select("USUBJID", "BOR").iter_rows()) == dict(cbor.iter_rows())
    assert "RS does not say the criteria of its records" in _text(run, "waterfall")
