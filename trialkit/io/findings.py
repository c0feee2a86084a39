"""Findings: what the checks at the edge report, and how they are shown and raised.

Every message follows STYLE.md section 4: it starts with ``trialkit:``, names the file,
dataset and column, shows a few offending rows (USUBJID and value) and what is present, and
says what would fix it. ``Finding.kind`` is the :mod:`trialkit.errors` class the problem
raises as when it is the only error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import polars as pl

from trialkit import errors as _errors
from trialkit.errors import DataError, ValidationFailed

MAX_ROWS_SHOWN = 5


@dataclass(frozen=True)
class Finding:
    """One problem found in a study data folder.

    Attributes:
        level: "error" (the report cannot be trusted) or "warning" (shown, never stops a run).
        dataset: lower-case dataset name ("" for the folder itself).
        column: the column concerned, if any.
        message: the full user-facing text (starts with "trialkit:").
        rows: a few offending rows, e.g. ``("USUBJID 01-001: '2025-02-30'",)``.
        path: the file concerned, if any.
        kind: the :mod:`trialkit.errors` class name this finding raises as.

    Example:
        >>> Finding("warning", "rs", "RSSTRESC", "trialkit: ...").level
        'warning'
    """

    level: Literal["error", "warning"]
    dataset: str
    column: str | None
    message: str
    rows: tuple[str, ...] = ()
    path: str | None = None
    kind: str = "DataError"


# --------------------------------------------------------------------------------------------
# Message helpers
# --------------------------------------------------------------------------------------------
def describe_dataset(dataset: str, path: Path | str | None) -> str:
    return f"dataset '{dataset}' ({path})" if path else f"dataset '{dataset}'"


def join_limited(values: Iterable[str], limit: int = 25) -> str:
    values = list(values)
    text = ", ".join(values[:limit])
    return text + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def example_rows(frame: pl.DataFrame, column: str) -> tuple[str, ...]:
    """A few offending rows as 'USUBJID x: value' (or 'row n: value')."""
    shown = frame.head(MAX_ROWS_SHOWN)
    values = shown[column].cast(pl.String).to_list()
    ids = (shown["USUBJID"].cast(pl.String).to_list() if "USUBJID" in shown.columns
           else [f"row {i}" for i in shown["_ROW"].to_list()] if "_ROW" in shown.columns
           else ["?"] * shown.height)
    prefix = "USUBJID " if "USUBJID" in shown.columns else ""
    return tuple(f"{prefix}{i}: {v!r}" for i, v in zip(ids, values))


def rows_text(rows: tuple[str, ...], total: int) -> str:
    more = f" ... ({total} in all)" if total > len(rows) else ""
    return "; ".join(rows) + more


def downgrade(findings: Iterable[Finding], kinds: Iterable[str]) -> list[Finding]:
    """Turn error findings of the given kinds (e.g. ``"UnknownArmError"``) into warnings."""
    kinds = set(kinds)
    return [replace(f, level="warning") if f.level == "error" and f.kind in kinds else f
            for f in findings]


def raise_on_errors(findings: Iterable[Finding], *, data_dir: Path | str | None = None) -> None:
    """Raise when there are error findings: one error as its own class, several as ValidationFailed.

    Either way the exception's ``findings`` holds every finding (warnings included).
    """
    findings = list(findings)
    errors = [f for f in findings if f.level == "error"]
    if not errors:
        return
    if len(errors) == 1:
        only = errors[0]
        cls = getattr(_errors, only.kind, DataError)
        if not (isinstance(cls, type) and issubclass(cls, DataError)) or cls is ValidationFailed:
            cls = DataError
        exc = cls(only.message, dataset=only.dataset or None, column=only.column, path=only.path)
        exc.findings = findings
        raise exc
    warnings = len(findings) - len(errors)
    where = f" in {data_dir}" if data_dir else ""
    tail = (f"\n\n({warnings} warning(s) not shown: run `trialkit validate {data_dir}` to see them)"
            if warnings else "")
    raise ValidationFailed(
        f"trialkit: {len(errors)} errors in the study data{where}; fix them and run again.\n\n"
        + format_findings(errors) + tail, findings)



def format_findings(findings: Iterable[Finding]) -> str:
    """A readable report of findings, grouped by dataset, errors before warnings.

    Example:
        >>> print(format_findings([Finding("warning", "rs", "RSSTRESC", "trialkit: odd value")]))
        rs
          WARNING  trialkit: odd value
    """
    findings = list(findings)
    if not findings:
        return "No problems found."
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.dataset or "(folder)", []).append(f)
    lines: list[str] = []
    for dataset, items in groups.items():
        paths = {f.path for f in items if f.path and not Path(f.path).is_dir()}
        lines.append(dataset + (f"  ({sorted(paths)[0]})" if len(paths) == 1 else ""))
        for f in sorted(items, key=lambda f: f.level != "error"):
            label = "ERROR   " if f.level == "error" else "WARNING "
            body = f.message.splitlines() or [""]
            lines.append(f"  {label} {body[0]}")
            lines += [f"           {line}" for line in body[1:]]
        lines.append("")
    return "\n".join(lines).rstrip()

