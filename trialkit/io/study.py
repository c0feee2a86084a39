"""A study data folder as read and checked, with the protocol that applies to it.

:func:`read_study` finds the dataset files, reads the ones a report needs, casts them to one
set of types (:func:`~trialkit.io.checks.conform_frames`), decides which protocol applies
(DESIGN section 3, :func:`resolve_protocol`) and checks them against it
(:func:`~trialkit.io.checks.check_frames`); it raises one error listing everything that is
wrong, and keeps the warnings in ``study.findings``. :func:`inspect_study` does the same
without raising (``trialkit validate``).

Example:
    >>> study = read_study("data/", report="swimmer")   # doctest: +SKIP
    >>> study.protocol.study_id, study["ex"].height      # doctest: +SKIP
    ('NCT07334483', 2410)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from trialkit.errors import MissingDatasetError
from trialkit.io.checks import check_frames, conform_frames, datasets_read_for, unread_files_finding
from trialkit.io.files import find_datasets, find_unread_files, read_datasets
from trialkit.io.findings import Finding, downgrade, raise_on_errors
from trialkit.io.terms import NON_ARM_CODES, compute_term
from trialkit.protocol import Protocol, find_protocol, generic_protocol, load_protocol, shipped_ids


@dataclass
class Study:
    """A study data folder as read and checked.

    Attributes:
        data_dir: the folder.
        files: dataset name -> file, for every dataset found (read or not).
        frames: dataset name -> frame, for the datasets read (conformed: one set of types).
        protocol: the protocol that applies (a shipped file, a given file, or generic).
        findings: warnings (and errors, when built by :func:`inspect_study`).

    Example:
        >>> study = read_study("data/", report="screening")   # doctest: +SKIP
        >>> "ie" in study, study["dm"].height                 # doctest: +SKIP
        (True, 200)
    """

    data_dir: Path
    files: dict[str, Path]
    frames: dict[str, pl.DataFrame]
    protocol: Protocol
    findings: list[Finding] = field(default_factory=list)

    def __getitem__(self, name: str) -> pl.DataFrame:
        key = name.lower()
        if key in self.frames:
            return self.frames[key]
        if key in self.files:
            reason = (f"was found ({self.files[key].name}) but not read: the report this study "
                      f"was read for does not use it; call read_study without report=")
        else:
            reason = "is not in the folder; add it (e.g. " + key + ".parquet or " + key.upper() + ".xpt)"
        raise MissingDatasetError(
            f"trialkit: dataset '{key}' {reason}.\n"
            f"  Datasets read from {self.data_dir}: {', '.join(sorted(self.frames)) or '(none)'}",
            dataset=key, path=str(self.data_dir))

    def get(self, name: str, default: pl.DataFrame | None = None) -> pl.DataFrame | None:
        """The frame of a dataset, or ``default`` when it was not read."""
        return self.frames.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.frames

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The warning-level findings (shown in reports, never stop a run)."""
        return [f for f in self.findings if f.level == "warning"]


def read_study(data_dir: str | Path, *, report: str | None = None, study: Any = None,
               encoding: str | None = None, warn_only: Iterable[str] = (),
               today: dt.date | None = None) -> Study:
    """Read and check a study data folder; raise when anything is wrong.

    Reads every dataset found, or with ``report`` only the datasets that report needs or uses
    (plus DM/ADSL, the subject reference). Numeric and date columns are cast by the check
    spec, so every frame has the same types whatever the file format.

    Args:
        data_dir: the study data folder.
        report: a report name of :data:`trialkit.io.checks.REPORT_NEEDS` (``screening``,
            ``swimmer``, ...), or None for every dataset and the overview's needs.
        study: a registry id or sponsor code of a shipped protocol, a protocol YAML path,
            or a ``Protocol``; None takes the protocol matching the data's STUDYID, else a
            generic one built from the data (see :func:`resolve_protocol`).
        encoding: the text encoding of the CSV and SAS files when it is known not to be
            UTF-8 (e.g. ``"gbk"``); by default CSV must be UTF-8.
        warn_only: finding kinds (exception class names, e.g. ``"UnknownArmError"``) to keep
            as warnings instead of errors.
        today: the date after which nothing can have happened (default: today).

    Returns:
        The :class:`Study`; its ``findings`` hold the warnings.

    Raises:
        MissingDatasetError: the folder does not exist.
        DataError: two files hold one dataset.
        ProtocolError: ``study`` names no protocol.
        ValidationFailed: several errors; the message lists every one, grouped by dataset,
            and ``.findings`` holds them. A single error is raised as its own class
            (``MissingColumnError``, ``UnreadableFileError``, ...) with ``.findings`` set too.
    """
    found = inspect_study(data_dir, report=report, study=study, encoding=encoding, today=today)
    found.findings = downgrade(found.findings, warn_only)
    raise_on_errors(found.findings, data_dir=found.data_dir)
    return found


def inspect_study(data_dir: str | Path, *, report: str | None = None, study: Any = None,
                  encoding: str | None = None, today: dt.date | None = None) -> Study:
    """Like :func:`read_study`, but data problems stay findings (errors included); never raises for them.

    Unreadable files become error findings and every other dataset is still checked, so one
    bad file does not hide the state of the others (``trialkit validate``).
    """
    folder = Path(data_dir)
    files = find_datasets(folder)
    wanted = datasets_read_for(report, files)
    frames, read_findings = read_datasets({k: v for k, v in files.items() if k in wanted}, encoding=encoding)
    frames, cast_findings = conform_frames(frames, files, report=report)
    protocol, protocol_findings = resolve_protocol(study, frames, data_dir=folder)
    findings = read_findings + cast_findings + protocol_findings
    findings += check_frames(frames, files, data_dir=folder, protocol=protocol, report=report,
                             unreadable={f.dataset for f in read_findings}, today=today)
    findings += unread_files_finding(find_unread_files(folder), folder)
    return Study(data_dir=folder, files=files, frames=frames, protocol=protocol, findings=findings)


def validate_study(data_dir: str | Path, *, report: str | None = None, study: Any = None,
                   encoding: str | None = None) -> list[Finding]:
    """Every finding (errors and warnings) for a study folder; see :func:`inspect_study`.

    Example:
        >>> [f.level for f in validate_study("data/")]   # doctest: +SKIP
        ['warning']
    """
    return inspect_study(data_dir, report=report, study=study, encoding=encoding).findings


# --------------------------------------------------------------------------------------------
# Which protocol applies (DESIGN section 3)
# --------------------------------------------------------------------------------------------
def study_ids(frames: Mapping[str, pl.DataFrame]) -> list[str]:
    """The STUDYID values of DM, else ADSL, else any dataset (sorted, distinct)."""
    for name in ("dm", "adsl", *sorted(frames)):
        frame = frames.get(name)
        if frame is not None and "STUDYID" in frame.columns:
            ids = frame["STUDYID"].cast(pl.String).drop_nulls().unique().sort().to_list()
            if ids:
                return ids
    return []


def resolve_protocol(study: Any, frames: Mapping[str, pl.DataFrame], *, data_dir: Path | None = None
                     ) -> tuple[Protocol, list[Finding]]:
    """The protocol of a study (DESIGN section 3), and a warning when it is generic.

    ``study`` given (id, sponsor code, file or Protocol): that protocol, enforced (arms
    outside it are errors). Otherwise the shipped protocol whose id or sponsor code is the
    data's STUDYID. Otherwise a generic protocol: arms and labels from DM (or ADSL), sites
    from the data, the response conventions of ``protocols/_generic.yaml``; every report
    then says so, and each check needing a protocol rule says it was skipped.

    Example:
        >>> dm = pl.DataFrame({"STUDYID": ["X1"], "USUBJID": ["1"], "SITEID": ["9"], "ARMCD": ["P"], "ARM": ["Placebo"]})
        >>> protocol, findings = resolve_protocol(None, {"dm": dm})
        >>> protocol.generic, protocol.arm_labels, findings[0].level
        (True, {'P': 'Placebo'}, 'warning')
    """
    if study is not None and str(study).strip():
        return load_protocol(study), []
    ids = study_ids(frames)
    matched = find_protocol(ids)
    if matched is not None:
        return matched, []
    study_id = ids[0] if len(ids) == 1 else (", ".join(ids) if ids else (data_dir.name if data_dir else "unknown"))
    subjects = frames.get("dm") if frames.get("dm") is not None else frames.get("adsl")
    arms, sites = _arms_and_sites(subjects)
    protocol = generic_protocol(study_id, arms=arms, sites=sites)
    which = f"STUDYID {', '.join(repr(i) for i in ids)}" if ids else "a data folder without STUDYID"
    message = (
        f"trialkit: no protocol file for {which}: using a generic protocol built from the data "
        f"(arms {', '.join(protocol.arm_codes) or '(none)'}; criteria from --CAT; no dosing "
        f"windows, no eligibility catalog).\n"
        f"  Checks that need a protocol rule (dosing windows, eligibility re-check, missed "
        f"assessments) are skipped and say so.\n"
        f"  Protocols shipped: {', '.join(shipped_ids()) or '(none)'}; give this study's "
        f"protocol file with the study key (study: path/to/protocol.yaml) if there is one.")
    return protocol, [Finding("warning", "", None, message, (), str(data_dir) if data_dir else None, "DataError")]


def _arms_and_sites(subjects: pl.DataFrame | None) -> tuple[dict[str, str], list[str]]:
    """Arm code -> label and the site ids of a DM/ADSL frame (arm conventions left out)."""
    if subjects is None or subjects.is_empty():
        return {}, []
    code_col = next((c for c in ("ARMCD", "ARM", "TRT01P") if c in subjects.columns), None)
    label_col = next((c for c in ("ARM", "TRT01P", "ARMCD") if c in subjects.columns), None)
    arms: dict[str, str] = {}
    if code_col:
        pairs = (subjects.select(pl.col(code_col).cast(pl.String).alias("CODE"),
                                 pl.col(label_col).cast(pl.String).alias("LABEL"))
                 .filter(pl.col("CODE").is_not_null()
                         & ~compute_term(pl.col("CODE")).is_in(list(NON_ARM_CODES))
                         & ~compute_term(pl.col("LABEL")).is_in(list(NON_ARM_CODES.values())).fill_null(False))
                 .unique("CODE").sort("CODE"))
        arms = {c: (lbl or c) for c, lbl in pairs.iter_rows()}
    sites = (subjects["SITEID"].cast(pl.String).drop_nulls().unique().sort().to_list()
             if "SITEID" in subjects.columns else [])
    return arms, sites
