"""``index.html`` of a run folder: every report, its status, a link, its size.

Built from the run's manifest so the page and ``manifest.json`` can never disagree. The
page is self-contained (no external URL) and every text is escaped: report names, error
messages and the study come from files a user controls.

Example:
    >>> from trialkit.report.index import render_index
    >>> manifest = {"params": {"data_cutoff": "2026-10-31"}, "study": {"display_id": "TRIAL-1"},
    ...             "run_start": "2026-11-25T08:00:00+00:00", "run_name": "demo_2026-10-31",
    ...             "reports": [{"report": "swimmer", "status": "ok", "html": "swimmer.html",
    ...                          "html_bytes": 2400000, "error": None}]}
    >>> "swimmer.html" in render_index(manifest)
    True
"""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path
from typing import Any, Mapping

from trialkit.report.html import page


def write_index(path: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``index.html`` for a run's manifest (atomically)."""
    from trialkit.report.files import write_text

    write_text(render_index(manifest), path)


def render_index(manifest: Mapping[str, Any]) -> str:
    """The whole index page for a run's manifest (see :func:`trialkit.report.runner.build_manifest`)."""
    params = manifest.get("params", {})
    study = manifest.get("study") or {}
    cutoff = params.get("data_cutoff")
    run_time = format_run_time(manifest.get("run_start"))
    body = summary_html(manifest) + pack_link_html(manifest) + reports_table_html(manifest.get("reports", []))
    return page(f"Reports: {manifest.get('run_name', '')}", body,
                study=str(study.get("display_id") or params.get("study") or "(study not named)"),
                data_cutoff=cutoff, run_time=run_time, confidentiality=study.get("confidentiality"))


def summary_html(manifest: Mapping[str, Any]) -> str:
    """One paragraph: how many reports are ready, which data they read."""
    reports = manifest.get("reports", [])
    failed = [r for r in reports if r.get("status") != "ok"]
    params = manifest.get("params", {})
    # the folder's name, not its path: the page is e-mailed, the server's layout stays home
    data = "the built-in demo study (simulated data)" if manifest.get("demo_data") else \
        f"the study data folder {Path(str(params.get('data_dir') or '')).name or '(not set)'}"
    noun = "report" if len(reports) == 1 else "reports"
    status = (f"{len(reports) - len(failed)} of {len(reports)} {noun} ready; "
              f"{len(failed)} failed (see below)." if failed else f"{len(reports)} {noun} ready.")
    if manifest.get("interrupted"):  # a signal stopped the run: what finished is kept
        status = (f"Partial run: stopped by {manifest['interrupted']}. {len(reports) - len(failed)} of "
                  f"{len(reports)} {noun} finished and ready; the others were stopped or not started.")
    return (f'<p class="trialkit-index-summary">{escape(status)} Data: {escape(data)}; '
            f'data cutoff {escape(str(params.get("data_cutoff") or "none"))}.</p>\n')


def pack_link_html(manifest: Mapping[str, Any]) -> str:
    """A line linking ``pack.html`` (every report in one page) when the run has one."""
    pack = manifest.get("pack") or {}
    if not pack.get("html"):
        return ""
    return (f'<p class="trialkit-index-pack">All reports in one page: <a href="{escape(str(pack["html"]), quote=True)}">'
            f'{escape(str(pack["html"]))}</a> ({escape(format_size(pack.get("html_bytes")))}).</p>\n')


def reports_table_html(reports: list[Mapping[str, Any]]) -> str:
    """A table with one row per report: name (linked when it has HTML), status, size."""
    rows = "\n".join(report_row_html(r) for r in reports)
    return ('<h2>Reports</h2>\n<table class="trialkit-index">\n<thead><tr><th>Report</th><th>Title</th>'
            '<th>Status</th><th>Size</th></tr></thead>\n<tbody>\n' + rows + '\n</tbody>\n</table>\n')


def report_row_html(report: Mapping[str, Any]) -> str:
    """One row; a failed report shows the reason and links its executed notebook instead."""
    name = escape(str(report.get("report", "")))
    if report.get("status") == "ok" and report.get("html"):
        link = f'<a href="{escape(str(report["html"]), quote=True)}">{name}</a>'
        status = '<span class="trialkit-status-ok">ok</span>'
        if (report.get("selection") or {}).get("empty"):
            status += " — no subject matches these filters"
    else:
        link = name
        notebook = report.get("ipynb")
        kept = (f' — executed notebook: <a href="{escape(str(notebook), quote=True)}">'
                f'{escape(str(notebook))}</a>') if notebook else ""
        word = "failed" if report.get("status") in (None, "failed") else str(report["status"])
        status = (f'<span class="trialkit-status-failed">{escape(word)}</span>: '
                  f'{escape(describe_error(report.get("error")))}{kept}')
    title = escape(str(report.get("title") or ""))
    return f"<tr><td>{link}</td><td>{title}</td><td>{status}</td><td>{escape(format_size(report.get('html_bytes')))}</td></tr>"


def describe_error(error: Mapping[str, Any] | None) -> str:
    """'cell 4: ValueError: planted failure' — the one line the index and log show."""
    if not error:
        return ""
    where = f"cell {error['cell']}: " if error.get("cell") is not None else f"{error.get('stage', '')}: "
    return f"{where}{error.get('exception', 'Error')}: {error.get('message', '')}"


def format_size(size: int | None) -> str:
    """'2.3 MB' / '845 KB' / '—'."""
    if not size:
        return "—"
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(1, round(size / 1000))} KB"


def format_run_time(iso: str | None) -> str:
    """'2026-11-25 08:00 UTC' from the manifest's ISO timestamp."""
    if not iso:
        return ""
    when = dt.datetime.fromisoformat(iso).astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC")
