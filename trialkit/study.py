"""One call gives a report its study: read once, checked, cut off, filtered, named (DESIGN section 1).

:func:`open_study` is what every report notebook (and an analyst in JupyterLab) calls::

    data = open_study("swimmer", study=study, data_dir=data_dir, data_cutoff=data_cutoff,
                      sites=sites, arms=arms)
    data.subjects        # one row per subject who counts: STATUS, RANDDT, SITE, ARM_LABEL, TREATED, ...
    data["ex"]           # EX cut off at the data cutoff, only the subjects who count
    data.protocol        # the rules and names of the study (a file, or generic)

It runs these steps, each a function of its own layer:

1. :func:`resolve_parameters`: the params as values (the built-in demo and its cutoff when
   no data folder is given) — the runner resolves params files with the same function;
2. :func:`trialkit.io.read_study`: the datasets the report needs, checked against the
   protocol that applies (DESIGN section 3);
3. :func:`trialkit.derive.subjects.derive_subjects`: who the subjects are (from the data as
   delivered, so a randomization after the cutoff is still seen);
4. :mod:`trialkit.derive.scope`: the subjects as they stood at the cutoff, the subjects the
   cutoff and the ``sites``/``arms`` filters leave out (each with its reason), the records
   dated after the cutoff (counted per dataset), and the records of the subjects left out.

Layers: this module sits above ``io`` and ``derive`` (and the demo it falls back to) and
below ``charts`` and ``report``.

Example:
    >>> data = open_study("study_overview")          # the built-in demo  # doctest: +SKIP
    >>> data.protocol.study_id, data.params.data_cutoff                    # doctest: +SKIP
    ('NCT07334483', datetime.date(2026, 10, 31))
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from trialkit.derive.scope import (
    as_date,
    derive_cutoff,
    derive_left_out,
    derive_status_at_cutoff,
    drop_left_out,
    filter_records,
)
from trialkit.derive.subjects import derive_subjects
from trialkit.errors import MissingDatasetError, ParamsError, clip, quote
from trialkit.io import Finding, Study, find_datasets, inspect_study, read_datasets, read_study, resolve_protocol
from trialkit.io.checks import conform_frames
from trialkit.io.findings import MAX_ROWS_SHOWN, rows_text
from trialkit.protocol import Protocol, load_protocol


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyParams:
    """The params that say which data a report reads, resolved.

    Attributes:
        study: the protocol asked for (id, sponsor code or file), or None: matched from the data.
        data_dir: the study data folder (absolute).
        demo: True when ``data_dir`` is the built-in demo study.
        data_cutoff: the data cutoff, or None (every record counts).
        sites: SITEIDs to keep (empty: every site).
        arms: arm codes to keep among randomized subjects (empty: every arm).
    """

    study: str | None
    data_dir: Path
    demo: bool
    data_cutoff: dt.date | None
    sites: tuple[str, ...] = ()
    arms: tuple[str, ...] = ()


def resolve_parameters(*, study: Any = "", data_dir: Any = "", data_cutoff: Any = "",
                       sites: Iterable[Any] | None = (), arms: Iterable[Any] | None = (),
                       base: Path | None = None) -> StudyParams:
    """The one resolution of the data params, for ``trialkit run`` and for interactive use.

    - ``data_dir`` empty: the built-in demo study (generated once, then cached); a relative
      folder is read from ``base`` (the params file's folder), else the working folder;
    - ``data_cutoff`` empty: the demo's own cutoff with the demo, else none;
    - ``study`` empty: None (the protocol is matched from the data's STUDYID); a relative
      protocol file path is read from ``base`` like ``data_dir``;
    - ``sites`` and ``arms``: text codes.

    Raises:
        ParamsError: a cutoff that is not an ISO date.

    Example:
        >>> resolve_parameters(data_dir="/data/sdtm", data_cutoff="2026-03-31", sites=[1]).sites
        ('1',)
    """
    base = Path(base) if base is not None else Path.cwd()
    demo = not str(data_dir or "").strip()
    if demo:
        from trialkit.demo import DEFAULT_CUTOFF, demo_data_dir

        folder = Path(demo_data_dir()).resolve()
        cutoff_value = data_cutoff if str(data_cutoff or "").strip() else DEFAULT_CUTOFF
    else:
        folder = Path(str(data_dir)).expanduser()
        folder = (folder if folder.is_absolute() else base / folder).resolve()
        cutoff_value = data_cutoff
    try:
        cutoff = as_date(cutoff_value)
    except ValueError:
        raise ParamsError(f"trialkit: data_cutoff {quote(cutoff_value)} is not an ISO date; write YYYY-MM-DD, "
                          f"e.g. 2026-10-31.") from None
    protocol = str(study).strip() if study is not None and str(study).strip() else None
    if protocol and Path(protocol).suffix.lower() in (".yaml", ".yml") and not Path(protocol).is_absolute():
        protocol = str((base / protocol).resolve())
    return StudyParams(study=protocol, data_dir=folder, demo=demo, data_cutoff=cutoff,
                       sites=tuple(str(s) for s in (sites or ())), arms=tuple(str(a) for a in (arms or ())))


SITES_SHOWN = 20  # sites named in a message; a generic protocol of a large study has hundreds


def match_site_codes(sites: Iterable[Any], site_ids: Sequence[str], *, study: str = "") -> tuple[str, ...]:
    """The ``sites`` filter as the protocol's site ids; refuse a site the protocol does not list.

    A site given as written in the data (``"01"``) is kept. A number, or text of digits,
    matches the one site whose id is the same number with leading zeros: YAML reads
    ``sites: [01, 03]`` as the numbers 1 and 3, and ``[1, 3]`` means sites ``01`` and
    ``03`` just as well. Under a generic protocol the site ids are the data's SITEIDs.

    Args:
        sites: the filter's values (text or numbers).
        site_ids: the protocol's site ids (``Protocol.site_ids``).
        study: how messages name the study (``Protocol.display_id``).

    Raises:
        ParamsError: a site that is not the protocol's (with a "did you mean"), or a number
            that matches no site, or several, once zero-padded (with the fix).

    Example:
        >>> match_site_codes([1, "03"], ["01", "02", "03"])
        ('01', '03')
    """
    known = [str(s) for s in site_ids]
    matched: list[str] = []
    problems: list[str] = []
    for value in sites:
        text = str(value).strip()
        if text in known:
            matched.append(text)
            continue
        same_number = [s for s in known if text.isdigit() and s.isdigit() and int(s) == int(text)]
        if len(same_number) == 1:
            matched.append(same_number[0])
        elif same_number:
            problems.append(f"site {quote(value)} is the number of several sites ({', '.join(same_number)}); "
                            f"write the one meant in quotes, e.g. sites: ['{same_number[0]}']")
        else:
            close = difflib.get_close_matches(text.lower(), [s.lower() for s in known], n=1, cutoff=0.5)
            hint = f" (did you mean '{next(s for s in known if s.lower() == close[0])}'?)" if close else ""
            problems.append(f"site {quote(value)} is not a site of {clip(study or 'the study', 80)}{hint}")
    if problems:
        shown = ", ".join(known[:SITES_SHOWN]) + (f", … ({len(known)} in all)" if len(known) > SITES_SHOWN else "")
        raise ParamsError(
            f"trialkit: {'; '.join(problems[:5])}{f' (and {len(problems) - 5} more)' if len(problems) > 5 else ''}.\n"
            f"  Sites: {shown or '(none: the data has no SITEID)'}. Write site codes in quotes as the "
            f"data writes them, e.g. sites: ['{known[0] if known else '01'}'].")
    return tuple(dict.fromkeys(matched))


# --------------------------------------------------------------------------------------------
# The study of a report
# --------------------------------------------------------------------------------------------
@dataclass
class ReportStudy:
    """A study as one report sees it: checked, cut off at the data cutoff, filtered.

    Attributes:
        params: the resolved params.
        protocol: the protocol that applies.
        files: dataset -> file, for every dataset found.
        frames: dataset -> frame, cut off and holding only the subjects who count.
        subjects: one row per subject who counts (see
            :func:`trialkit.derive.subjects.derive_subjects`), placed as at the cutoff.
        screened: every subject of DM/ADSL with ``LEFT_OUT`` (null when the subject counts).
        cutoff_summary: per dataset, the records and dates the cutoff removed
            (:func:`trialkit.derive.scope.derive_cutoff`).
        findings: the checks' warnings, and notes on what cannot be shown.
        source: "DM" or "ADSL": where the subjects come from.
    """

    params: StudyParams
    protocol: Protocol
    files: dict[str, Path]
    frames: dict[str, pl.DataFrame]
    subjects: pl.DataFrame
    screened: pl.DataFrame
    cutoff_summary: pl.DataFrame
    findings: list[Finding] = field(default_factory=list)
    source: str = "DM"

    def __getitem__(self, name: str) -> pl.DataFrame:
        key = name.lower()
        if key not in self.frames:
            where = "was not read for this report" if key in self.files else "is not in the data folder"
            raise MissingDatasetError(
                f"trialkit: dataset '{key}' {where}.\n"
                f"  Datasets read: {', '.join(sorted(self.frames)) or '(none)'}", dataset=key)
        return self.frames[key]

    def get(self, name: str, default: pl.DataFrame | None = None) -> pl.DataFrame | None:
        return self.frames.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.frames

    @property
    def rows_read(self) -> dict[str, int]:
        """Dataset -> rows in its file (before the cutoff and the filters)."""
        return dict(self.cutoff_summary.select("DATASET", "RECORDS").iter_rows())

    @property
    def randomized(self) -> pl.DataFrame:
        """The subjects who count and were randomized (by the cutoff)."""
        return self.subjects.filter(pl.col("STATUS") == "RANDOMIZED")

    @property
    def empty(self) -> bool:
        """True when no subject matches the run's cutoff and filters: none counts, or an
        ``arms`` filter is set and no randomized subject is in those arms.

        An empty selection is a result, not an error: the report says so (with what each
        filter left out) and every table and chart of it is empty.
        """
        return self.subjects.height == 0 or (bool(self.params.arms) and self.randomized.height == 0)

    def describe_selection(self) -> dict[str, Any]:
        """What the cutoff and filters select, as JSON-able values (the runner's manifest and index).

        Example:
            >>> data = open_study(data_cutoff="2020-01-01")   # before the demo's first subject  # doctest: +SKIP
            >>> data.describe_selection()["empty"], data.describe_selection()["subjects"]   # doctest: +SKIP
            (True, 0)
        """
        reasons = (self.screened.filter(pl.col("LEFT_OUT").is_not_null()).group_by("LEFT_OUT").len()
                   .sort("LEFT_OUT"))
        return {"empty": self.empty, "subjects": self.subjects.height, "randomized": self.randomized.height,
                "in_data": self.screened.height, "source": self.source,
                "left_out": {str(reason): int(n) for reason, n in reasons.iter_rows()},
                "data_cutoff": self.params.data_cutoff.isoformat() if self.params.data_cutoff else None,
                "sites": list(self.params.sites), "arms": list(self.params.arms)}

    @property
    def has_screening(self) -> bool:
        """True when screen failures can be counted: DM, or an ADSL that lists them."""
        return self.source == "DM" or bool((self.screened["STATUS"] == "SCREEN FAILURE").any())

    @property
    def screening_note(self) -> str | None:
        """Why screening counts cannot be shown, or None when they can."""
        if self.has_screening:
            return None
        return ("Screening counts are not available: this folder has no DM, and its ADSL lists "
                "only randomized subjects (no screen failures). Add DM to count who was screened.")


def open_study(report: str | None = None, *, study: Any = "", data_dir: Any = "", data_cutoff: Any = "",
               sites: Iterable[Any] | None = (), arms: Iterable[Any] | None = (),
               encoding: str | None = None) -> ReportStudy:
    """The study a report reads: resolved, read and checked, cut off and filtered (module notes).

    Args:
        report: the report (a name of :data:`trialkit.io.REPORT_NEEDS`): which datasets are
            read and needed; None reads every dataset.
        study, data_dir, data_cutoff, sites, arms: the params (see :func:`resolve_parameters`).
        encoding: the CSV/SAS text encoding when it is known not to be UTF-8.

    Raises:
        DataError: the data cannot be used (the message names dataset, column and rows).
        ProtocolError: ``study`` names no protocol.
    """
    params = resolve_parameters(study=study, data_dir=data_dir, data_cutoff=data_cutoff, sites=sites, arms=arms)
    read = read_study(params.data_dir, report=report, study=params.study, encoding=encoding)
    return prepare_study(read, params)


def prepare_study(read: Study, params: StudyParams) -> ReportStudy:
    """Steps 3 and 4 of :func:`open_study` on a study already read (pure: no file access).

    The ``sites`` filter is first matched to the protocol's site ids
    (:func:`match_site_codes`): an unknown site is an error, never a silent empty filter.
    """
    protocol = read.protocol
    if params.sites:
        params = dataclasses.replace(params, sites=match_site_codes(params.sites, protocol.site_ids,
                                                                    study=protocol.display_id))
    screened = derive_subjects(read.frames, protocol)
    screened = derive_status_at_cutoff(screened, params.data_cutoff)
    screened = derive_left_out(screened, sites=params.sites, arms=params.arms, data_cutoff=params.data_cutoff)
    subjects = drop_left_out(screened)
    frames, summary = derive_cutoff(read.frames, params.data_cutoff)
    has_subjects = "dm" in read.frames or "adsl" in read.frames
    if has_subjects:
        frames = filter_records(frames, screened)  # drops the records of the subjects left out
    source = str(screened["SOURCE"][0]) if screened.height else \
        ("DM" if "dm" in read.frames else "ADSL" if "adsl" in read.frames else "NONE")
    findings = list(read.findings) + check_subjects(screened, source=source, files=read.files)
    if not has_subjects:
        findings.append(Finding(
            "warning", "dm", None,
            "trialkit: this folder has neither DM nor ADSL: no subject is known to be screened or randomized, "
            "so there are no arms, randomization dates or denominators.\n"
            f"  Datasets read: {', '.join(sorted(read.frames)) or '(none)'}\n"
            "  Add DM (with DS for the randomization date) or ADSL to the folder.", (), None, "DataError"))
    return ReportStudy(params=params, protocol=protocol, files=read.files, frames=frames, subjects=subjects,
                       screened=screened, cutoff_summary=summary, findings=findings, source=source)


def check_subjects(subjects: pl.DataFrame, *, source: str = "DM",
                   files: Mapping[str, Path] | None = None) -> list[Finding]:
    """Checks that need the subject derivations: a randomized subject without a randomization date.

    Such a subject has an arm, but neither ADSL.RANDDT nor a dated DS ``RANDOMIZED``
    milestone: it has no study days, so every day count of the reports leaves it out.

    Example:
        >>> s = pl.DataFrame({"USUBJID": ["1", "2"], "STATUS": ["RANDOMIZED"] * 2, "ARMCD": ["A", "B"],
        ...                   "RANDDT": [None, dt.date(2025, 9, 1)]})
        >>> [f.rows for f in check_subjects(s)]
        [("USUBJID 1: 'A'",)]
    """
    if "RANDDT" not in subjects.columns or "STATUS" not in subjects.columns:
        return []
    missing = subjects.filter((pl.col("STATUS") == "RANDOMIZED") & pl.col("RANDDT").is_null())
    if not missing.height:
        return []
    dataset = source.lower()
    rows = tuple(f"USUBJID {u}: {a!r}" for u, a in missing.select("USUBJID", "ARMCD").head(MAX_ROWS_SHOWN).iter_rows())
    path = (files or {}).get(dataset)
    return [Finding(
        "warning", dataset, "RANDDT",
        f"trialkit: {missing.height} subject(s) of {source} have an arm (ARMCD) but no randomization "
        f"date from any source (ADSL.RANDDT or a dated DS RANDOMIZED milestone).\n"
        f"  Rows: {rows_text(rows, missing.height)}\n"
        f"  They have no study days: day counts, swimmer lanes and PFS leave them out and list them. "
        f"Add the DS RANDOMIZED milestone with its date (DSSTDTC), or ADSL with RANDDT. The first "
        f"dose is never used in its place.", rows, str(path) if path else None, "DataError")]


def validate_folder(data_dir: str | Path, *, report: str | None = None, study: Any = None,
                    encoding: str | None = None) -> tuple[Study, list[Finding]]:
    """Everything ``trialkit validate`` reports: the folder as read and every finding (never raises for data)."""
    read = inspect_study(data_dir, report=report, study=study, encoding=encoding)
    findings = list(read.findings)
    if read.frames.get("dm") is not None or read.frames.get("adsl") is not None:
        try:
            subjects = derive_subjects(read.frames, read.protocol)
            findings += check_subjects(subjects, source=str(subjects["SOURCE"][0]) if subjects.height else "DM",
                                       files=read.files)
        except Exception:  # the subject checks need usable DM/ADSL, whose errors are already listed
            pass
    return read, findings


def protocol_of_folder(params: StudyParams) -> Protocol:
    """The protocol of the params' study, reading only DM/ADSL when it must be matched or built.

    The runner uses it to check ``arms``, ``assessor`` and ``criteria`` and to name the
    study in page headers before any notebook runs. A DM or ADSL that cannot be read gives
    a generic protocol here; the report that reads it says what is wrong.
    """
    if params.study:
        return load_protocol(params.study)
    files = find_datasets(params.data_dir)
    frames, _ = read_datasets({k: v for k, v in files.items() if k in ("dm", "adsl")})
    frames, _ = conform_frames(frames, files)
    protocol, _ = resolve_protocol(None, frames, data_dir=params.data_dir)
    return protocol
