"""Reading a finished run folder: its manifest, its study, its reports (for the pack and e-mail).

A run folder (DESIGN section 4) is only ever read through its ``manifest.json``: report
names, titles, statuses and file names come from there, never from a fixed list, so a run
of any set of notebooks is packed and sent the same way.

Example:
    >>> read_study_info({"params": {"study": "NCT07334483"}})["id"]
    'NCT07334483'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trialkit.errors import TrialkitError

MANIFEST = "manifest.json"


class RunFolderError(TrialkitError):
    """RUN_DIR is not a finished run folder (no or unreadable manifest.json)."""

    exit_code = 66  # EX_NOINPUT (sysexits.h)


class RunNotSendable(TrialkitError):
    """The run has a failed report, or its files differ from what its manifest says."""

    exit_code = 65  # EX_DATAERR


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``manifest.json`` as a mapping.

    Raises:
        RunFolderError: the folder or its manifest is missing, or the manifest is not a
            run's JSON mapping; the message says what to pass instead.
    """
    folder = Path(run_dir)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise RunFolderError(f"trialkit: run folder {folder} does not exist; give the folder that "
                             "`trialkit run` printed, e.g. outputs/demo_2026-10-31.")
    if not path.is_file():
        raise RunFolderError(f"trialkit: {folder} is not a finished run folder (no {MANIFEST}); give the "
                             "folder that `trialkit run` printed, e.g. outputs/demo_2026-10-31.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"trialkit: {path} cannot be read ({exc}); run the reports again.") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("reports"), list):
        raise RunFolderError(f"trialkit: {path} is not a trialkit run manifest (no list of reports); "
                             "run the reports again.")
    return manifest


def read_study_info(manifest: Mapping[str, Any]) -> dict[str, str | None]:
    """``{"id", "title", "confidentiality"}`` of the run's study.

    ``manifest["study"]`` (id, title and confidentiality line of the protocol) when the run
    recorded it, else the params' ``study`` and the reports' confidentiality line.

    Example:
        >>> read_study_info({"study": {"id": "ST561-1", "title": "SIRT in HCC",
        ...                            "confidentiality": "Confidential"}})["title"]
        'SIRT in HCC'
    """
    from trialkit.report.html import CONFIDENTIALITY

    recorded = manifest.get("study") if isinstance(manifest.get("study"), Mapping) else {}
    params = manifest.get("params") if isinstance(manifest.get("params"), Mapping) else {}
    study_id = recorded.get("id") or params.get("study") or "NCT07334483"  # the runner's default
    return {"id": str(study_id), "title": recorded.get("title") or None,
            "confidentiality": recorded.get("confidentiality") or CONFIDENTIALITY}


def report_entries(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's reports, in run order, each a mapping (name, title, status, html, ...)."""
    return [dict(r) for r in manifest.get("reports", []) if isinstance(r, Mapping) and r.get("report")]


def ok_reports(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The reports that ran to the end and have an HTML page."""
    return [r for r in report_entries(manifest) if r.get("status") == "ok" and r.get("html")]


def failed_reports(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [r for r in report_entries(manifest) if r.get("status") != "ok"]


def report_label(report: Mapping[str, Any]) -> str:
    """A report's title, else its name made readable."""
    return str(report.get("title") or str(report.get("report", "")).replace("_", " ").capitalize())
