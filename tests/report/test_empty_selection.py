"""An empty selection is a property of the report shell: any report that calls ``load_study`` and
``show_scope`` says "no subject matches these filters" and has every table and chart cope,
with no code of its own; the runner reads it from the executed notebook."""

from __future__ import annotations

import polars as pl
import pytest

from trialkit.report import notebook as shell
from trialkit.report.runner import read_selection
from trialkit.study import open_study


@pytest.fixture
def folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pl.DataFrame({"STUDYID": ["XY-1"] * 3, "USUBJID": ["1", "2", "3"], "SITEID": ["11", "11", "12"],
                  "ARMCD": ["T", "C", "SCRNFAIL"], "RFICDTC": ["2025-05-01", "2025-05-03", "2025-06-02"]}
                 ).write_parquet(data / "dm.parquet")
    return data


@pytest.fixture
def shown(monkeypatch, tmp_path):
    """What the shell displays (bundle, metadata), with ``output_dir`` set as in a run."""
    outputs: list[tuple[dict, dict]] = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display",
                        lambda data, metadata=None, raw=False: outputs.append((data, metadata or {})))
    shell.setup(audience="analyst", output_dir=tmp_path / "run", interactive=False)
    yield outputs
    shell.setup(audience="analyst", output_dir="", interactive=False)


def test_the_selection_says_what_each_filter_left_out(folder):
    data = open_study(data_dir=folder, data_cutoff="2025-05-02", sites=["11"])
    assert not data.empty
    assert data.describe_selection() == {
        "empty": False, "subjects": 1, "randomized": 1, "in_data": 3, "source": "DM",
        "left_out": {"consented after the data cutoff 2025-05-02": 2}, "data_cutoff": "2025-05-02",
        "sites": ["11"], "arms": []}
    nobody = open_study(data_dir=folder, data_cutoff="2025-04-30")
    assert nobody.empty and nobody.subjects.height == 0
    # subjects left, but none randomized to the arms asked for: empty as well
    assert open_study(data_dir=folder, sites=["12"], arms=["T"]).empty


def test_show_scope_leads_with_no_subject_matches_and_marks_the_output(folder, shown):
    shell.show_scope(open_study(data_dir=folder, data_cutoff="2025-05-02", sites=["12"]))
    scope_html, meta = shown[0][0]["text/html"], shown[0][1]
    assert scope_html.index("No subject matches these filters.") < scope_html.index("No protocol file")
    assert ("Data cutoff 2025-05-02, sites 12, every arm: of the 3 subjects in DM, 2 consented after the data "
            "cutoff 2025-05-02; 1 site not in the sites filter.") in scope_html
    assert meta["trialkit"]["selection"]["empty"] is True


def test_after_an_empty_selection_tables_and_charts_say_why_they_are_empty(folder, shown, tmp_path):
    import altair as alt

    shell.show_scope(open_study(data_dir=folder, data_cutoff="2025-04-30"))
    empty = pl.DataFrame(schema={"SITEID": pl.String, "N": pl.Int64})
    shell.show_chart(alt.Chart(empty, title="Subjects by site").mark_bar().encode(x="N:Q", y="SITEID:N"),
                     "by_site", data=empty)
    shell.show_table(empty, "by_site_table", title="Subjects by site")
    shell.show_table(pl.DataFrame(), "nothing", title="Nothing at all")
    chart, table, nothing = (out[0]["text/html"] for out in shown[-3:])
    assert chart == ('<p class="trialkit-note trialkit-empty">Subjects by site: '
                     'No subject matches these filters.</p>')
    assert "No subject matches these filters." in table and "trialkit-chart" not in chart
    assert "Nothing at all: No subject matches these filters." in nothing
    # the files a run promises are still there, with their header row
    assert (tmp_path / "run" / "tables" / "by_site.csv").read_text() == "SITEID,N\n"
    assert (tmp_path / "run" / "tables" / "by_site_table.csv").read_text() == "SITEID,N\n"


def test_a_report_with_subjects_shows_no_empty_notes(folder, shown):
    shell.show_scope(open_study(data_dir=folder))
    assert "No subject matches" not in shown[0][0]["text/html"]
    shell.show_table(pl.DataFrame(schema={"N": pl.Int64}), "zero_rows", title="Deaths")
    assert "No rows." in shown[-1][0]["text/html"]   # an empty table for its own reason says no more


def test_the_runner_reads_the_selection_from_the_executed_notebook():
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("show_scope(data)", outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": "<div/>"},
                               metadata={"trialkit": {"selection": {"empty": True, "subjects": 0}}})])])
    assert read_selection(nb) == {"empty": True, "subjects": 0}
    assert read_selection(nbformat.v4.new_notebook()) is None


def test_the_overview_tables_of_nobody_are_zeros_not_a_crash():
    from trialkit.derive.overview import summarize_site_table
    from trialkit.derive.subjects import derive_subject_status

    nobody = derive_subject_status(pl.DataFrame(schema={"USUBJID": pl.String, "SITEID": pl.String,
                                                        "ARMCD": pl.String}))
    table = summarize_site_table(nobody, arm_labels={"A": "A: drug", "B": "B: placebo"})
    assert table.rows() == [("All sites", 0, 0, 0, 0, 0, 0)]
    assert table.columns[-2:] == ["A: drug", "B: placebo"]
