"""Tumour response: sums of target diameters, % change, time-point responses, best overall response.

Frames in, frames out (DESIGN section 6, the admiral / admiralonco conventions); every
threshold comes from ``protocol.response`` (``pr_pct``, ``pd_pct``, ``pd_min_abs_mm``,
``sd_min_days``, ``confirmation_min_days``, ``confirmation_max_ne``).

Which records (DESIGN section 2):

- **Criteria**: ``RSCAT`` / ``TRCAT`` (ADaM ``PARCAT3``/``PARCAT1``), matched through
  ``protocol.criteria_key`` ("MRECIST", "RECIST 1.1", any case and spacing). A dataset
  without the column holds one criteria only, the one asked for.
- **Assessor**: ``RSEVAL`` / ``TREVAL`` (ADaM ``PARCAT2``, the words of ``PARAM``, or a
  PARAMCD convention such as admiralonco's ``OVRB``) through ``protocol.assessor_key``.
  When several readers of that assessor read one assessment (two BICR radiologists), the
  accepted read is kept (``RSACPTFL``/``TRACPTFL`` = "Y"), per subject and date, whether the
  adjudicator accepted a reader per subject or per time point.
- **Dates**: ``--DTC`` with a missing day imputed to the last day of the month (admiralonco
  ``ad_adrs.R``: ``highest_imputation = "D", date_imputation = "last"``; ``ADTF`` "D"); a
  missing month is not imputed and the record cannot be placed (it is counted in the notes).
- **Odd values**: a response that is not a CDISC term (pharmaverse's "CHECK") is kept in
  the time points with ``VALID`` false, so it is reported, and never counts (admiralonco's
  ``aval_resp`` gives it no value, so ``ANL01FL`` leaves it out).
- **ADaM**: PARAMCDs differ between sponsors (:data:`ADAM_PARAMCDS`); the params key
  ``adam_paramcd`` names others (``{sum: SLDINV, overall: OVRINV}``). Derived records
  (``DTYPE`` set, e.g. MINIMUM, LOCF) are never assessments.

The derivations:

- :func:`filter_time_point_responses`: the overall responses of one criteria and assessor,
  one per subject and date — the worst when a date has several (admiralonco ``ANL01FL``:
  NE < CR < PR < SD < NON-CR/NON-PD < PD). The public selection other reports (the swimmer)
  use for their response markers.
- :func:`derive_target_sums`: per subject, reader and assessment, the sum of the target
  diameters: ``LDIAM`` (under mRECIST the longest *viable* diameter, DESIGN section 7) of
  non-nodal targets and the short axis ``LPERP`` of nodal ones (TULOC a lymph node, or a
  lesion measured by LPERP only), as admiralonco's ADTR ``SDIAM`` adds ``LDIAMn`` and
  ``NLDIAMn``. Only the baseline target lesions count; an assessment is *complete* when
  every one was measured (ADTR ``ANL01FL``). From ADTR: the sum PARAMCD's ``AVAL``.
- :func:`derive_sum_changes`: baseline = the last assessment on or before randomization;
  ``PCHG`` = 100·(sum − baseline)/baseline; ``NADIR`` = the smallest complete sum before the
  assessment, baseline included (RECIST 1.1); ``PCHG_NADIR``, ``CHG_NADIR`` (PD: ≥ +20 % and
  ≥ +5 mm from the nadir; from a nadir of 0, any reappearance of ≥ 5 mm). Within each
  reader's own reads; then the accepted read is kept.
- :func:`derive_best_change`: the waterfall bar, admiralonco ADTR ``ANL02FL``: the first
  lowest % change over complete assessments after the baseline, up to and including the
  first PD (``best_change_window: until_pd``; ``all_post_baseline`` drops that limit) and
  before new anticancer therapy (``ADT < NACTDT``, admiralonco's ``ANL01FL`` variant) — and
  for every other subject the reason it has no bar.
- :func:`derive_best_overall_response`: admiralonco's ``derive_extreme_event`` events in
  list order (``R/response_sources.R``) over the time points on or after randomization up
  to and including the first PD (``ANL02FL``): CR, PR, SD (CR/PR/SD ≥ ``sd_min_days``
  after randomization, i.e. ``ADT >= RANDDT + 42``), NON-CR/NON-PD (likewise), PD, NE, else
  MISSING. Confirmed (``cbor_cr``/``cbor_pr``): a CR needs a CR, a PR a CR or PR, at the
  first such assessment ≥ ``confirmation_min_days`` later, with only CR/NE (PR: CR/PR/NE)
  between, at most ``confirmation_max_ne`` NE, and no PR after a CR. Every NE and MISSING
  carries its reason.
- :func:`derive_recomputed_responses`: the time-point responses again from TR/TU with the
  criteria's thresholds (RECIST 1.1 Table 1; mRECIST's IR/SD is NON-CR/NON-PD), to list
  where RS disagrees.

Example:
    >>> import datetime as dt
    >>> from trialkit.protocol import load_protocol
    >>> rs = pl.DataFrame({"USUBJID": ["1", "1"], "RSTESTCD": ["OVRLRESP"] * 2, "RSSTRESC": ["PR", "PR"],
    ...                    "RSDTC": ["2025-10-15", "2025-11-20"], "RSEVAL": ["INVESTIGATOR"] * 2})
    >>> tp = filter_time_point_responses(rs, protocol=load_protocol("NCT07334483"), criteria="mRECIST",
    ...                                  assessor="INVESTIGATOR")
    >>> subjects = pl.DataFrame({"USUBJID": ["1", "2"], "RANDDT": [dt.date(2025, 9, 1)] * 2})
    >>> derive_best_overall_response(tp, subjects, protocol=load_protocol("NCT07334483"),
    ...                              confirmed=True)["BOR"].to_list()
    ['PR', 'MISSING']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from trialkit.derive.days import compute_study_day
from trialkit.errors import DataError, ParamsError
from trialkit.io.dates import compute_date
from trialkit.io.terms import RESPONSE_TERMS, compute_term

#: Best overall responses in CDISC terms, in the order of every table and legend.
BOR_TERMS = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING")
#: Objective response (ORR numerator) and disease control (DCR numerator).
RESPONDERS = ("CR", "PR")
DISEASE_CONTROL = ("CR", "PR", "SD", "NON-CR/NON-PD")
#: ``best_change_window`` choices (DESIGN section 3).
BEST_CHANGE_WINDOWS = ("until_pd", "all_post_baseline")

#: ADaM PARAMCDs recognised per role; the value is the assessor the code itself names
#: (None: the record's own columns say). Others come from the params key ``adam_paramcd``.
ADAM_PARAMCDS: dict[str, dict[str, str | None]] = {
    "sum": {"SDIAM": None, "SUMDIAM": None, "SLD": None, "SLDINV": "INVESTIGATOR", "SLDIRC": "BICR",
            "SLDBICR": "BICR"},
    "overall": {"OVR": None, "OVRLRESP": None, "OVRINV": "INVESTIGATOR", "OVRB": "BICR", "OVRIRC": "BICR",
                "OVRBICR": "BICR"},
    "bor": {"BOR": None, "BESRSPI": "INVESTIGATOR", "BORB": "BICR", "BORIRC": "BICR"},
    "cbor": {"CBOR": None, "CBORB": "BICR", "CBORIRC": "BICR"},
}
_ROLE_NAMES = {"sum": "sum of target diameters", "overall": "overall time-point response",
               "bor": "best overall response", "cbor": "confirmed best overall response"}
# admiralonco ad_adrs.R worst_resp(): the worst response of a date is kept
_WORST = {"NE": 1, "CR": 2, "PR": 3, "SD": 4, "NON-CR/NON-PD": 5, "PD": 6}
_NODAL = r"LYMPH|NODE"
_NEW_LESION_STATES = ("UNEQUIVOCAL", "PRESENT", "Y")
TIME_POINT_SCHEMA = {"USUBJID": pl.String, "ADT": pl.Date, "ADTF": pl.String, "AVALC": pl.String,
                     "VALID": pl.Boolean, "VISIT": pl.String, "READER": pl.String, "SOURCE": pl.String}


# --------------------------------------------------------------------------------------------
# vocabularies
# --------------------------------------------------------------------------------------------
def resolve_criteria(protocol: Any, criteria: str | None) -> tuple[str, str]:
    """The criteria key and label a params value names; empty: the protocol's primary endpoint's.

    Raises:
        ParamsError: a name the protocol does not know.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> resolve_criteria(load_protocol("NCT07334483"), "recist 1.1"), resolve_criteria(load_protocol("NCT07334483"), "")
        (('RECIST11', 'RECIST 1.1'), ('MRECIST', 'mRECIST'))
    """
    key = _resolve(protocol, criteria, "criteria")
    return key, protocol.criteria[key]["label"]


def resolve_assessor(protocol: Any, assessor: str | None) -> str:
    """The assessor key a params value names; empty: the protocol's primary endpoint's.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> resolve_assessor(load_protocol("NCT07334483"), "independent assessor")
        'BICR'
    """
    return _resolve(protocol, assessor, "assessor")


def _resolve(protocol: Any, value: str | None, kind: str) -> str:
    """The key of ``kind`` ("criteria" or "assessor") a params value names; empty: the primary endpoint's."""
    known = protocol.criteria if kind == "criteria" else protocol.assessors
    if not str(value or "").strip():
        key = str((protocol.response.get("primary") or {}).get(kind) or next(iter(known)))
    else:
        key = protocol.criteria_key(value) if kind == "criteria" else protocol.assessor_key(value)
    if key is None or key not in known:
        raise ParamsError(f"trialkit: {kind} {value!r} is not known to {protocol.display_id}: "
                          f"{' | '.join(protocol.spellings(kind))}.")
    return key


def _assessor_in_text(protocol: Any, text: str) -> str | None:
    """The assessor whose name appears as words in ``text`` ("Overall Response by Investigator")."""
    words = f" {re.sub(r'[^A-Z0-9]+', ' ', str(text).upper()).strip()} "
    aliases = protocol.response.get("aliases") or {}
    for key, term in protocol.assessors.items():
        for name in (key, term, *aliases.get(key, [])):
            wanted = re.sub(r"[^A-Z0-9]+", " ", str(name).upper()).strip()
            if wanted and f" {wanted} " in words:
                return key
    return None


def _mapped(frame: pl.DataFrame, column: str, fn: Callable[[str], str | None]) -> pl.Expr:
    """``fn`` applied to each distinct value of ``column`` (a few), as an expression; null if no column."""
    if column not in frame.columns:
        return pl.lit(None, pl.String)
    values = frame.get_column(column).cast(pl.String).drop_nulls().unique().to_list()
    mapping = {v: fn(v) for v in values}
    return pl.col(column).cast(pl.String).replace_strict(mapping, default=None, return_dtype=pl.String)


def _per_value(frame: pl.DataFrame, column: str, fn: Callable[[pl.Expr], pl.Expr],
               dtype: pl.DataType = pl.String) -> pl.Expr:
    """``fn`` of ``column``, computed once per distinct value and looked up for every row.

    Terms and dates repeat: a TR of 5 million rows holds a few test codes and a few hundred
    dates, so parsing the distinct values only is what keeps the 100,000-subject study fast.
    """
    if column not in frame.columns:
        return pl.lit(None, dtype)
    values = frame.get_column(column).cast(pl.String).drop_nulls().unique()
    mapped = pl.DataFrame({"v": values}).select(fn(pl.col("v")).cast(dtype)).to_series()
    return pl.col(column).cast(pl.String).replace_strict(values, mapped, default=None, return_dtype=dtype)


def normalize_term(value: Any) -> str:
    """A term as :func:`trialkit.io.terms.compute_term` compares it, for one Python value."""
    return " ".join(str(value).split()).upper()


def _present(frame: pl.DataFrame, column: str, limit: int = 12) -> str:
    values = sorted(str(v) for v in frame.get_column(column).drop_nulls().unique().to_list()) \
        if column in frame.columns else []
    text = ", ".join(values[:limit]) + (f", … ({len(values)} in all)" if len(values) > limit else "")
    return text or "(none)"


def check_adam_paramcd(adam_paramcd: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """The params key ``adam_paramcd`` as role -> PARAMCDs; unknown roles are a params error.

    Example:
        >>> check_adam_paramcd({"sum": "SLDINV", "overall": ["OVRINV"]})
        {'sum': ['SLDINV'], 'overall': ['OVRINV']}
    """
    out: dict[str, list[str]] = {}
    for role, codes in (adam_paramcd or {}).items():
        if role not in ADAM_PARAMCDS:
            raise ParamsError(f"trialkit: adam_paramcd has the key {role!r}; the keys are "
                              f"{', '.join(ADAM_PARAMCDS)} (e.g. adam_paramcd: {{sum: SLDINV, overall: OVRINV}}).")
        values = [codes] if isinstance(codes, str) else list(codes or [])
        out[role] = [str(v).strip().upper() for v in values if str(v).strip()]
    return out


def resolve_paramcds(frame: pl.DataFrame, role: str, *, adam_paramcd: Mapping[str, Any] | None = None,
                     dataset: str = "adrs", required: bool = True) -> dict[str, str | None]:
    """The PARAMCDs of ``role`` in an ADaM dataset: params first, else :data:`ADAM_PARAMCDS`.

    Returns:
        PARAMCD -> the assessor the code names (None: from the record's columns). Empty when
        nothing matches and ``required`` is False.

    Raises:
        DataError: nothing matches (it names the PARAMCDs present and the params key).

    Example:
        >>> adrs = pl.DataFrame({"PARAMCD": ["OVRB", "BOR"]})
        >>> resolve_paramcds(adrs, "overall")
        {'OVRB': 'BICR'}
    """
    present = set(frame.get_column("PARAMCD").cast(pl.String).drop_nulls().unique().to_list())
    given = check_adam_paramcd(adam_paramcd).get(role)
    if given:
        missing = [c for c in given if c not in present]
        if missing:
            raise DataError(f"trialkit: dataset '{dataset}' has no PARAMCD {', '.join(missing)}, which the params "
                            f"key adam_paramcd names for the {_ROLE_NAMES[role]}.\n"
                            f"  PARAMCDs present: {_present(frame, 'PARAMCD', 40)}\n"
                            f"  Correct adam_paramcd.{role} to one of them.", dataset=dataset, column="PARAMCD")
        return {c: ADAM_PARAMCDS[role].get(c) for c in given}
    found = {c: a for c, a in ADAM_PARAMCDS[role].items() if c in present}
    if not found and required:
        example = "SLDINV" if role == "sum" else "OVRINV" if role == "overall" else "BESRSPI"
        raise DataError(f"trialkit: dataset '{dataset}' has none of the {_ROLE_NAMES[role]} PARAMCDs trialkit "
                        f"knows ({', '.join(ADAM_PARAMCDS[role])}).\n"
                        f"  PARAMCDs present: {_present(frame, 'PARAMCD', 40)}\n"
                        f"  Name yours with the params key adam_paramcd, e.g. adam_paramcd: {{{role}: {example}}}.",
                        dataset=dataset, column="PARAMCD")
    return found


# --------------------------------------------------------------------------------------------
# record selection shared by RS, TR, ADRS and ADTR
# --------------------------------------------------------------------------------------------
def compute_assessment_date(dtc: pl.Expr) -> pl.Expr:
    """An assessment date from ISO text: a missing day is the last of the month (admiralonco ad_adrs.R).

    Example:
        >>> pl.DataFrame({"D": ["2014-02", "2014-03-06T10:00", "2014"]}).select(compute_assessment_date(pl.col("D")))["D"].to_list()
        [datetime.date(2014, 2, 28), datetime.date(2014, 3, 6), None]
    """
    text = dtc.cast(pl.String).str.strip_chars()
    return pl.when(text.str.contains(r"^\d{4}-\d{2}$")).then(compute_date(text, impute="end")).otherwise(compute_date(text))


def _date_flag(dtc: pl.Expr) -> pl.Expr:
    return pl.when(dtc.cast(pl.String).str.strip_chars().str.contains(r"^\d{4}-\d{2}$")).then(pl.lit("D"))


def _filter_vocabulary(frame: pl.DataFrame, keys: pl.Expr, wanted: str, *, what: str, column: str,
                       dataset: str, label: str, hint: str) -> tuple[pl.DataFrame, str | None]:
    """Keep the records whose mapped ``keys`` is ``wanted``; no mapped value at all keeps every record."""
    mapped = frame.select(keys.alias("_K"))["_K"]
    if mapped.null_count() == mapped.len():
        note = (f"{dataset.upper()} does not say the {what} of its records ({column} absent or empty): every record "
                f"is taken as {label}.") if frame.height else None
        return frame, note
    kept = frame.filter(keys == wanted)
    if kept.is_empty():
        raise DataError(f"trialkit: dataset '{dataset}' has no records of {what} {label} ({column}).\n"
                        f"  {column} values present: {_present(frame, column)}\n"
                        f"  {hint}", dataset=dataset, column=column)
    return kept, None


def _keep_accepted(frame: pl.DataFrame, *, keys: Sequence[str], flag: str = "ACCEPTED") -> pl.DataFrame:
    """Within each group of ``keys``, the accepted read(s) when there is one, else every read."""
    if flag not in frame.columns or frame.is_empty():
        return frame
    accepted = pl.col(flag).fill_null(False)
    return frame.filter(accepted | ~accepted.any().over(list(keys)))


def _accepted_flag(frame: pl.DataFrame, column: str) -> pl.Expr:
    return (_per_value(frame, column, compute_term) == "Y").fill_null(False) if column in frame.columns else pl.lit(False)


# --------------------------------------------------------------------------------------------
# time-point responses
# --------------------------------------------------------------------------------------------
def filter_time_point_responses(responses: pl.DataFrame, *, protocol: Any, criteria: str = "", assessor: str = "",
                                adam_paramcd: Mapping[str, Any] | None = None, dataset: str | None = None
                                ) -> pl.DataFrame:
    """The overall time-point responses of one criteria and assessor: one row per subject and date.

    From SDTM RS (``RSTESTCD`` OVRLRESP, ``RSSTRESC``) or ADaM ADRS (the overall-response
    PARAMCD, ``AVALC``; derived records with ``DTYPE`` left out); see the module notes for
    how criteria, assessor, accepted reads, dates and odd values are handled. The public
    selection of responses: the swimmer's response markers use it too.

    Args:
        responses: RS or ADRS (ADaM when it has ``PARAMCD``).
        protocol: the study's :class:`trialkit.protocol.Protocol` (vocabularies).
        criteria, assessor: params values (any accepted spelling); empty: the protocol's
            primary endpoint's.
        adam_paramcd: the params key (``{"overall": "OVRINV"}``) for ADRS.
        dataset: the dataset name for messages (default "rs" or "adrs").

    Returns:
        ``USUBJID, ADT, ADTF, AVALC, VALID, VISIT, READER, SOURCE`` sorted by subject and
        date: the worst valid response of each date (NE < CR < PR < SD < NON-CR/NON-PD < PD);
        a date with odd values only ("CHECK") keeps one with ``VALID`` false. Records
        without a usable date are dropped (see :func:`describe_time_points`).

    Raises:
        DataError: no overall responses, or none of that criteria or assessor (the message
            names the values present and the params key to change).

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> rs = pl.DataFrame({"USUBJID": ["1"] * 3, "RSTESTCD": ["OVRLRESP"] * 3, "RSSTRESC": ["SD", "PD", "CHECK"],
        ...                    "RSDTC": ["2025-10-15", "2025-10-15", "2025-11"], "RSCAT": ["MRECIST"] * 3})
        >>> filter_time_point_responses(rs, protocol=load_protocol("NCT07334483"), criteria="mRECIST",
        ...                             assessor="BICR").select("AVALC", "VALID", "ADTF").rows()
        [('PD', True, None), ('CHECK', False, 'D')]
    """
    selected, _ = select_time_points(responses, protocol=protocol, criteria=criteria, assessor=assessor,
                                     adam_paramcd=adam_paramcd, dataset=dataset)
    return selected


def select_time_points(responses: pl.DataFrame, *, protocol: Any, criteria: str = "", assessor: str = "",
                       adam_paramcd: Mapping[str, Any] | None = None, dataset: str | None = None
                       ) -> tuple[pl.DataFrame, list[str]]:
    """:func:`filter_time_point_responses` and the notes on what it assumed or left out."""
    key, label = resolve_criteria(protocol, criteria)
    who = resolve_assessor(protocol, assessor)
    adam = "PARAMCD" in responses.columns
    dataset = dataset or ("adrs" if adam else "rs")
    notes: list[str] = []
    if adam:
        records = _adrs_overall(responses, protocol=protocol, adam_paramcd=adam_paramcd, dataset=dataset)
        crit_column = next((c for c in ("RSCAT", "PARCAT3", "PARCAT1") if c in records.columns), "RSCAT")
        crit_keys = pl.coalesce([_mapped(records, c, protocol.criteria_key) for c in ("RSCAT", "PARCAT3", "PARCAT1")])
        records, note = _filter_vocabulary(
            records, crit_keys, key, what="criteria", column=crit_column, dataset=dataset, label=label,
            hint="Set criteria to one of them in the params file (e.g. criteria: RECIST 1.1).")
        notes += [note] if note else []
        eval_keys = pl.coalesce([
            _mapped(records, "RSEVAL", protocol.assessor_key), _mapped(records, "PARCAT2", protocol.assessor_key),
            _mapped(records, "PARAM", lambda text: _assessor_in_text(protocol, text)),
            _mapped(records, "PARAMCD", lambda code: ADAM_PARAMCDS["overall"].get(code))])
        records, note = _filter_vocabulary(
            records, eval_keys, who, what="assessor", column="PARCAT2", dataset=dataset,
            label=who, hint="Set assessor to one of them in the params file (e.g. assessor: INVESTIGATOR).")
        notes += [note] if note else []
    else:
        if "RSTESTCD" not in responses.columns:
            raise DataError(f"trialkit: dataset '{dataset}' has no column RSTESTCD; the overall responses are the "
                            f"records with RSTESTCD OVRLRESP.", dataset=dataset, column="RSTESTCD")
        tests = [v for v in responses.get_column("RSTESTCD").cast(pl.String).drop_nulls().unique().to_list()
                 if normalize_term(v) == "OVRLRESP"]
        if not tests:
            raise DataError(f"trialkit: dataset '{dataset}' has no overall response (RSTESTCD OVRLRESP).\n"
                            f"  RSTESTCD values present: {_present(responses, 'RSTESTCD')}",
                            dataset=dataset, column="RSTESTCD")
        keep = pl.col("RSTESTCD").cast(pl.String).is_in(tests)
        for column, fn, wanted, what, shown, hint in (
                ("RSCAT", protocol.criteria_key, key, "criteria", label, "criteria: RECIST 1.1"),
                ("RSEVAL", protocol.assessor_key, who, "assessor", who, "assessor: INVESTIGATOR")):
            values = _matching_values(responses, column, fn, wanted, what=what, dataset=dataset, label=shown,
                                      hint=f"Set {what} to one of them in the params file (e.g. {hint}).")
            if values is None:
                notes.append(f"{dataset.upper()} does not say the {what} of its records ({column} absent or empty): "
                             f"every record is taken as {shown}.")
            else:
                keep = keep & pl.col(column).cast(pl.String).is_in(values)
        wanted_columns = [c for c in ("USUBJID", "RSSTRESC", "RSORRES", "RSDTC", "VISIT", "RSEVALID", "RSACPTFL",
                                      "RSSEQ") if c in responses.columns]
        records = responses.lazy().filter(keep).select(wanted_columns).collect()
    if adam:
        date = pl.col("ADT").cast(pl.Date) if "ADT" in records.columns else compute_assessment_date(pl.col("RSDTC"))
        flag = pl.col("ADTF").cast(pl.String) if "ADTF" in records.columns else pl.lit(None, pl.String)
        value = pl.col("AVALC")
    else:
        date = _per_value(records, "RSDTC", compute_assessment_date, pl.Date)
        flag = _per_value(records, "RSDTC", _date_flag)
        value = pl.coalesce(pl.col("RSSTRESC").cast(pl.String),
                            pl.col("RSORRES").cast(pl.String) if "RSORRES" in records.columns else pl.lit(None, pl.String))
    records = records.with_columns(value.alias("_VALUE"))
    avalc = _per_value(records, "_VALUE", compute_term)
    shaped = records.with_columns(
        pl.col("USUBJID").cast(pl.String), date.alias("ADT"), flag.alias("ADTF"), avalc.alias("AVALC"),
        avalc.is_in(list(RESPONSE_TERMS)).fill_null(False).alias("VALID"),
        (pl.col("VISIT").cast(pl.String) if "VISIT" in records.columns else
         pl.col("AVISIT").cast(pl.String) if "AVISIT" in records.columns else pl.lit(None, pl.String)).alias("VISIT"),
        (pl.col("RSEVALID").cast(pl.String) if "RSEVALID" in records.columns else pl.lit(None, pl.String)).alias("READER"),
        _accepted_flag(records, "RSACPTFL").alias("ACCEPTED"),
        pl.lit(dataset.upper()).alias("SOURCE"),
        (pl.col("RSSEQ").cast(pl.Float64) if "RSSEQ" in records.columns else pl.lit(0.0)).alias("_SEQ"))
    undated = shaped.filter(pl.col("ADT").is_null())
    if undated.height:
        notes.append(f"{undated.height} overall response record(s) of {undated['USUBJID'].n_unique()} subject(s) have "
                     f"no usable date (a missing month is not imputed) and cannot be placed.")
    shaped = _keep_accepted(shaped.filter(pl.col("ADT").is_not_null()), keys=["USUBJID", "ADT"])
    rank = pl.col("AVALC").replace_strict(_WORST, default=0, return_dtype=pl.Int8)
    worst = (shaped.with_columns(rank.alias("_RANK"))
             .sort("USUBJID", "ADT", "_RANK", "_SEQ")
             .group_by("USUBJID", "ADT", maintain_order=True).last())
    odd = shaped.filter(~pl.col("VALID") & pl.col("AVALC").is_not_null())
    if odd.height:
        notes.append(f"{odd.height} overall response(s) hold a value that is not a CDISC response term "
                     f"({', '.join(sorted(odd['AVALC'].unique().to_list()))}): listed, never counted as a response.")
    return worst.select([pl.col(c).cast(t) for c, t in TIME_POINT_SCHEMA.items()]), notes


def _adrs_overall(adrs: pl.DataFrame, *, protocol: Any, adam_paramcd: Mapping[str, Any] | None,
                  dataset: str) -> pl.DataFrame:
    codes = resolve_paramcds(adrs, "overall", adam_paramcd=adam_paramcd, dataset=dataset)
    records = adrs.filter(pl.col("PARAMCD").cast(pl.String).is_in(list(codes)))
    if "DTYPE" in records.columns:  # derived records (LOCF, MINIMUM, ...) are never assessments
        records = records.filter(pl.col("DTYPE").cast(pl.String).fill_null("").str.strip_chars() == "")
    if "AVALC" not in records.columns:
        raise DataError(f"trialkit: dataset '{dataset}' has no column AVALC (the response of each record).",
                        dataset=dataset, column="AVALC")
    return records


def describe_time_points(time_points: pl.DataFrame) -> str:
    """One line: how many responses of how many subjects, and the odd values.

    Example:
        >>> import datetime as dt
        >>> tp = pl.DataFrame({"USUBJID": ["1", "2"], "AVALC": ["PR", "CHECK"], "VALID": [True, False]})
        >>> describe_time_points(tp)
        "2 time-point responses of 2 subjects; 1 not a response term ('CHECK'), never counted."
    """
    odd = time_points.filter(~pl.col("VALID"))
    text = f"{time_points.height:,} time-point responses of {time_points['USUBJID'].n_unique():,} subjects"
    if odd.height:
        values = ", ".join(repr(v) for v in sorted(odd["AVALC"].drop_nulls().unique().to_list()))
        text += f"; {odd.height:,} not a response term ({values}), never counted"
    return text + "."


# --------------------------------------------------------------------------------------------
# target lesion sums
# --------------------------------------------------------------------------------------------
SUM_SCHEMA = {"USUBJID": pl.String, "READER": pl.String, "ADT": pl.Date, "VISIT": pl.String, "SUM": pl.Float64,
              "N_MEASURED": pl.Int64, "N_EXPECTED": pl.Int64, "COMPLETE": pl.Boolean, "TARGETS_GONE": pl.Boolean,
              "BASELINE": pl.Boolean, "ACCEPTED": pl.Boolean, "NT_RESP": pl.String, "NEW_LESION": pl.Boolean}


def derive_target_sums(tumor_results: pl.DataFrame, tumors: pl.DataFrame | None, subjects: pl.DataFrame, *,
                       protocol: Any, criteria: str = "", assessor: str = "", dataset: str = "tr"
                       ) -> pl.DataFrame:
    """Sum of the target diameters per subject, reader and assessment, from SDTM TR and TU.

    Rules (module notes): ``LDIAM`` for non-nodal targets, ``LPERP`` (short axis) for nodal
    ones; only the lesions that were targets at baseline (the last assessment on or before
    ``RANDDT``) count; a lesion ``TRSTAT`` NOT DONE is not measured. The non-target
    response (``TUMSTATE`` of the baseline non-targets: UNEQUIVOCAL progression -> PD, not
    all evaluated -> NE, all ABSENT -> CR, else NON-CR/NON-PD) and new lesions
    (``TUMSTATE`` UNEQUIVOCAL) come along for :func:`derive_recomputed_responses`.

    Args:
        tumor_results: TR (``TRLNKID``, ``TRTESTCD``, ``TRSTRESN``, ``TRDTC``; ``TRCAT``,
            ``TREVAL``, ``TREVALID``, ``TRACPTFL``, ``TRGRPID``, ``VISITNUM`` when present).
        tumors: TU (``TULNKID``, ``TUSTRESC`` TARGET/NON-TARGET/NEW, ``TULOC``), or None
            (then ``TRGRPID`` gives the role and lesions measured by LPERP only are nodal).
        subjects: ``USUBJID, RANDDT``.
        protocol, criteria, assessor: as in :func:`filter_time_point_responses`.

    Returns:
        One row per subject, reader and assessment: ``USUBJID, READER, ADT, VISIT, SUM,
        N_MEASURED, N_EXPECTED, COMPLETE, TARGETS_GONE`` (every baseline target 0 mm, or a
        node < 10 mm), ``BASELINE``, ``ACCEPTED``, ``NT_RESP``, ``NEW_LESION``. A reader's
        assessments before its baseline are left out.

    Example:
        >>> import datetime as dt
        >>> from trialkit.protocol import load_protocol
        >>> tr = pl.DataFrame({"USUBJID": ["1"] * 4, "TRLNKID": ["T01", "T02", "T01", "T02"],
        ...     "TRTESTCD": ["LDIAM", "LPERP", "LDIAM", "LPERP"], "TRSTRESN": [40.0, 20.0, 25.0, 8.0],
        ...     "TRDTC": ["2025-08-30", "2025-08-30", "2025-10-15", "2025-10-15"], "TRGRPID": ["TARGET"] * 4})
        >>> tu = pl.DataFrame({"USUBJID": ["1", "1"], "TULNKID": ["T01", "T02"], "TUSTRESC": ["TARGET"] * 2,
        ...                    "TULOC": ["LIVER", "LYMPH NODE"]})
        >>> sums = derive_target_sums(tr, tu, pl.DataFrame({"USUBJID": ["1"], "RANDDT": [dt.date(2025, 9, 1)]}),
        ...                           protocol=load_protocol("NCT07334483"), criteria="mRECIST", assessor="BICR")
        >>> sums.select("SUM", "COMPLETE", "BASELINE").rows()
        [(60.0, True, True), (33.0, True, False)]
    """
    key, label = resolve_criteria(protocol, criteria)
    who = resolve_assessor(protocol, assessor)
    tr = tumor_results
    for column in ("USUBJID", "TRLNKID", "TRTESTCD", "TRDTC"):
        if column not in tr.columns:
            raise DataError(f"trialkit: dataset '{dataset}' has no column {column}; the sums of target diameters "
                            f"need it.", dataset=dataset, column=column)
    keep = pl.lit(True)
    for column, fn, wanted, what, shown, hint in (
            ("TRCAT", protocol.criteria_key, key, "criteria", label, "criteria: RECIST 1.1"),
            ("TREVAL", protocol.assessor_key, who, "assessor", who, "assessor: INVESTIGATOR")):
        values = _matching_values(tr, column, fn, wanted, what=what, dataset=dataset, label=shown,
                                  hint=f"Set {what} to one of them in the params file (e.g. {hint}).")
        if values is not None:
            keep = keep & pl.col(column).cast(pl.String).is_in(values)
    # Subjects, readers and lesions become integer codes, terms and dates are parsed once per distinct
    # value, and only the columns used are kept: a TR of 5 million rows stays fast and small
    ids = (subjects.select(pl.col("USUBJID").cast(pl.String), pl.col("RANDDT").cast(pl.Date))
           .unique("USUBJID", keep="first").with_row_index("SID"))
    reader = pl.coalesce([pl.col(c).cast(pl.String) for c in ("TREVALID", "TREVAL") if c in tr.columns]
                         + [pl.lit("")])
    tu = _tumors_of(tumors, protocol=protocol, who=who, ids=ids)
    test = _per_value(tr, "TRTESTCD", compute_term)
    raw = (tr.lazy().filter(keep & test.is_in(["LDIAM", "LPERP", "TUMSTATE"]))
           .select(pl.col("USUBJID").cast(pl.String), reader.alias("READER"),
                   pl.col("TRLNKID").cast(pl.String).alias("LNKID"), pl.col("TRTESTCD").cast(pl.String).alias("_TEST"),
                   *[(pl.col(c).cast(t) if c in tr.columns else pl.lit(None, t)).alias(c) for c, t in (
                       ("TRSTRESN", pl.Float64), ("TRSTRESC", pl.String), ("TRSTAT", pl.String),
                       ("TRDTC", pl.String), ("VISITNUM", pl.Float64), ("VISIT", pl.String), ("TRGRPID", pl.String),
                       ("TRACPTFL", pl.String))])
           .join(ids.lazy().select("USUBJID", "SID"), on="USUBJID", how="inner").drop("USUBJID")
           .collect())
    readers = _codes(raw["READER"], tu["READER"] if tu is not None else None)
    lesion_codes = _codes(raw["LNKID"], tu["LNKID"] if tu is not None else None)
    test = _per_value(raw, "_TEST", compute_term)
    not_done = (_per_value(raw, "TRSTAT", compute_term) == "NOT DONE").fill_null(False)
    records = raw.select(
        "SID", pl.col("READER").replace_strict(readers, return_dtype=pl.UInt32).alias("RID"),
        pl.col("LNKID").replace_strict(lesion_codes, return_dtype=pl.UInt32).alias("LID"),
        test.alias("TEST"), pl.when(not_done).then(None).otherwise(pl.col("TRSTRESN")).alias("VALUE"),
        pl.when(test == "TUMSTATE").then(pl.col("TRSTRESC")).alias("STATE"),
        _per_value(raw, "TRDTC", compute_assessment_date, pl.Date).alias("ADT"),
        "VISITNUM", "VISIT", _per_value(raw, "TRGRPID", compute_term).alias("GROUP"),
        (_per_value(raw, "TRACPTFL", compute_term) == "Y").fill_null(False).alias("ACCEPTED"),
    ).filter(pl.col("ADT").is_not_null())
    del raw
    # a reader of a subject who has an accepted reader but is never accepted is never used: left out
    # before the group-bys (half of TR when two BICR radiologists read every scan)
    pair = pl.col("SID").cast(pl.UInt64) * (len(readers) + 1) + pl.col("RID").cast(pl.UInt64)
    accepted_pairs = records.filter(pl.col("ACCEPTED")).select(pair.alias("_P"), "SID").unique()
    if accepted_pairs.height:
        records = records.filter(pair.is_in(accepted_pairs["_P"].implode())
                                 | ~pl.col("SID").is_in(accepted_pairs["SID"].unique().implode()))
    # one assessment = one visit of one reader (lesions of one visit can be scanned on different days)
    records = records.with_columns(pl.coalesce(pl.col("VISITNUM"), pl.col("ADT").cast(pl.Float64) * 1e-6 + 1e6)
                                   .alias("_VGROUP"))
    if tu is not None:
        roles = tu.select("SID", pl.col("READER").replace_strict(readers, return_dtype=pl.UInt32).alias("RID"),
                          pl.col("LNKID").replace_strict(lesion_codes, return_dtype=pl.UInt32).alias("LID"),
                          "ROLE", "NODAL_LOC")
        records = records.join(roles, on=["SID", "RID", "LID"], how="left").with_columns(
            pl.coalesce(pl.col("ROLE"), pl.col("GROUP")).alias("ROLE"))
    else:
        records = records.with_columns(pl.col("GROUP").alias("ROLE"), pl.lit(None, pl.Boolean).alias("NODAL_LOC"))
    visit_keys = ["SID", "RID", "_VGROUP"]
    visits = (records.group_by(visit_keys).agg(pl.col("ADT").min(), pl.col("VISIT").first(),
                                               pl.col("ACCEPTED").any())
              .join(ids.select("SID", "RANDDT"), on="SID", how="inner"))
    baseline = (visits.filter(pl.col("ADT") <= pl.col("RANDDT"))
                .group_by("SID", "RID").agg(pl.col("_VGROUP").sort_by("ADT").last().alias("_BASEGROUP"),
                                            pl.col("ADT").max().alias("BASE_ADT")))
    visits = (visits.join(baseline, on=["SID", "RID"], how="inner").filter(pl.col("ADT") >= pl.col("BASE_ADT"))
              .with_columns((pl.col("_VGROUP") == pl.col("_BASEGROUP")).alias("BASELINE")))
    # target measurements: a nodal lesion (TULOC, or measured by LPERP only) by its short axis, else LDIAM
    targets = records.filter((pl.col("ROLE") == "TARGET") & pl.col("TEST").is_in(["LDIAM", "LPERP"]))
    kind = (targets.group_by("SID", "RID", "LID")
            .agg((pl.col("NODAL_LOC").fill_null(False).any() | (pl.col("TEST") == "LDIAM").not_().all()).alias("NODAL")))
    measures = (targets.join(kind, on=["SID", "RID", "LID"])
                .filter(pl.col("TEST") == pl.when(pl.col("NODAL")).then(pl.lit("LPERP")).otherwise(pl.lit("LDIAM")))
                .group_by(visit_keys + ["LID"]).agg(pl.col("VALUE").drop_nulls().first().alias("DIAM"),
                                                    pl.col("NODAL").first()))
    base_lesions = (measures.join(baseline, left_on=["SID", "RID", "_VGROUP"],
                                  right_on=["SID", "RID", "_BASEGROUP"], how="inner")
                    .filter(pl.col("DIAM").is_not_null()).select("SID", "RID", "LID"))
    expected = base_lesions.group_by("SID", "RID").agg(pl.len().cast(pl.Int64).alias("N_EXPECTED"))
    measured = (measures.join(base_lesions, on=["SID", "RID", "LID"], how="semi")
                .group_by(visit_keys)
                .agg(pl.col("DIAM").sum().alias("SUM"), pl.col("DIAM").is_not_null().sum().cast(pl.Int64).alias("N_MEASURED"),
                     ((pl.col("NODAL") & (pl.col("DIAM") < 10)) | (~pl.col("NODAL") & (pl.col("DIAM") == 0)))
                     .fill_null(False).all().alias("_GONE")))
    nt = _non_target_states(records)
    names = {code: name for name, code in readers.items()}
    out = (visits.join(measured, on=visit_keys, how="left").join(expected, on=["SID", "RID"], how="left")
           .join(nt, on=visit_keys, how="left")
           .with_columns(pl.col("N_MEASURED").fill_null(0), pl.col("N_EXPECTED").fill_null(0))
           .with_columns(pl.when(pl.col("N_MEASURED") > 0).then(pl.col("SUM")).alias("SUM"),
                         ((pl.col("N_MEASURED") == pl.col("N_EXPECTED")) & (pl.col("N_EXPECTED") > 0)).alias("COMPLETE"))
           .with_columns((pl.col("COMPLETE") & pl.col("_GONE").fill_null(False)).alias("TARGETS_GONE"),
                         pl.col("NEW_LESION").fill_null(False))
           .join(ids.select("SID", "USUBJID"), on="SID", how="left")
           .with_columns(pl.col("RID").replace_strict(names, return_dtype=pl.String).alias("READER")))
    return out.sort("USUBJID", "READER", "ADT").select([pl.col(c).cast(t) for c, t in SUM_SCHEMA.items()])


def _matching_values(frame: pl.DataFrame, column: str, fn: Callable[[str], str | None], wanted: str, *, what: str,
                     dataset: str, label: str, hint: str) -> list[str] | None:
    """The raw values of ``column`` that ``fn`` maps to ``wanted``; None when the column says nothing (absent
    or empty: every record is of the one asked for). Raises when it names others only."""
    if column not in frame.columns:
        return None
    values = frame.get_column(column).cast(pl.String).drop_nulls().unique().to_list()
    if not values:
        return None
    keys = {v: fn(v) for v in values}
    if all(k is None for k in keys.values()):
        return None
    kept = [v for v, k in keys.items() if k == wanted]
    if not kept:
        raise DataError(f"trialkit: dataset '{dataset}' has no records of {what} {label} ({column}).\n"
                        f"  {column} values present: {_present(frame, column)}\n"
                        f"  {hint}", dataset=dataset, column=column)
    return kept


def _codes(*columns: pl.Series | None) -> dict[str, int]:
    """Distinct text values -> small integer codes (for group-bys and joins on integers)."""
    values = sorted({v for c in columns if c is not None for v in c.drop_nulls().unique().to_list()})
    return {v: i for i, v in enumerate(values)}


def _tumors_of(tumors: pl.DataFrame | None, *, protocol: Any, who: str, ids: pl.DataFrame) -> pl.DataFrame | None:
    """TU of one assessor: ``SID, READER, LNKID`` -> ``ROLE`` (TARGET / NON-TARGET / NEW) and ``NODAL_LOC``."""
    if tumors is None or not {"USUBJID", "TULNKID"} <= set(tumors.columns):
        return None
    tu = tumors
    if "TUEVAL" in tu.columns:
        keys = _mapped(tu, "TUEVAL", protocol.assessor_key)
        if tu.select(keys.is_not_null().any()).item():
            tu = tu.filter(keys == who)
    reader = pl.coalesce([pl.col(c).cast(pl.String) for c in ("TUEVALID", "TUEVAL") if c in tu.columns] + [pl.lit("")])
    role = _per_value(tu, "TUSTRESC", compute_term)
    loc = pl.concat_str([pl.col(c).cast(pl.String) for c in ("TULOC", "TULOCDTL") if c in tu.columns]
                        + [pl.lit("")], separator=" ", ignore_nulls=True)
    return (tu.select(pl.col("USUBJID").cast(pl.String), reader.alias("READER"),
                      pl.col("TULNKID").cast(pl.String).alias("LNKID"), role.alias("ROLE"),
                      loc.str.to_uppercase().str.contains(_NODAL).alias("NODAL_LOC"))
            .join(ids.select("USUBJID", "SID"), on="USUBJID", how="inner")
            .unique(subset=["SID", "READER", "LNKID"], keep="first")
            .select("SID", "READER", "LNKID", "ROLE", "NODAL_LOC"))


def _non_target_states(records: pl.DataFrame) -> pl.DataFrame:
    """Per reader and visit: NT_RESP from the baseline non-target lesions, NEW_LESION (TUMSTATE)."""
    keys = ["SID", "RID", "_VGROUP"]
    states = records.filter(pl.col("TEST") == "TUMSTATE")
    states = states.with_columns(_per_value(states, "STATE", compute_term).alias("STATE"))
    nt = states.filter(pl.col("ROLE") == "NON-TARGET")
    # the non-target lesions of a reader's first assessment of them (the baseline)
    baseline_nt = nt.sort("ADT").group_by("SID", "RID").agg(pl.col("_VGROUP").first().alias("_FIRST"))
    expected = (nt.join(baseline_nt, on=["SID", "RID"]).filter(pl.col("_VGROUP") == pl.col("_FIRST"))
                .group_by("SID", "RID").agg(pl.col("LID").n_unique().cast(pl.Int64).alias("_NT_N")))
    # one state per lesion and visit (a record repeated keeps its worst state)
    rank = pl.col("STATE").replace_strict({"ABSENT": 1, "PRESENT": 2, "UNEQUIVOCAL": 3}, default=0,
                                          return_dtype=pl.Int8)
    lesion = nt.with_columns(rank.alias("_R")).group_by(keys + ["LID"]).agg(pl.col("_R").max())
    per_visit = (lesion.group_by(keys).agg(
        (pl.col("_R") == 3).any().alias("_NT_PD"),
        (pl.col("_R") > 0).sum().cast(pl.Int64).alias("_NT_EVAL"),
        (pl.col("_R") == 1).sum().cast(pl.Int64).alias("_NT_ABSENT"))
        .join(expected, on=["SID", "RID"], how="left"))
    per_visit = per_visit.with_columns(
        pl.when(pl.col("_NT_PD")).then(pl.lit("PD"))
        .when(pl.col("_NT_EVAL") < pl.col("_NT_N").fill_null(0)).then(pl.lit("NE"))
        .when(pl.col("_NT_ABSENT") >= pl.col("_NT_N").fill_null(0)).then(pl.lit("CR"))
        .otherwise(pl.lit("NON-CR/NON-PD")).alias("NT_RESP")).select(keys + ["NT_RESP"])
    new = (states.filter(pl.col("ROLE") == "NEW").group_by(keys)
           .agg(pl.col("STATE").is_in(list(_NEW_LESION_STATES)).any().alias("NEW_LESION")))
    return per_visit.join(new, on=keys, how="full", coalesce=True)


def derive_target_sums_adam(adtr: pl.DataFrame, subjects: pl.DataFrame, *, protocol: Any, criteria: str = "",
                            assessor: str = "", adam_paramcd: Mapping[str, Any] | None = None,
                            dataset: str = "adtr") -> tuple[pl.DataFrame, list[str]]:
    """:func:`derive_target_sums` from ADaM ADTR: the sum PARAMCD's ``AVAL`` per assessment.

    Completeness: ``LSASS`` equal to ``LSEXP`` (admiralonco's lesions assessed / expected)
    when both exist, else ``ANL01FL`` "Y" (admiralonco's "every baseline lesion assessed"),
    else every sum counts (said in the notes). Non-target and new-lesion states are not in
    ADTR (null). Derived records (``DTYPE``) are left out.

    Returns:
        The sums (as :func:`derive_target_sums`) and the notes.
    """
    key, label = resolve_criteria(protocol, criteria)
    who = resolve_assessor(protocol, assessor)
    codes = resolve_paramcds(adtr, "sum", adam_paramcd=adam_paramcd, dataset=dataset)
    records = adtr.filter(pl.col("PARAMCD").cast(pl.String).is_in(list(codes)))
    if "DTYPE" in records.columns:
        records = records.filter(pl.col("DTYPE").cast(pl.String).fill_null("").str.strip_chars() == "")
    notes = []
    crit = pl.coalesce([_mapped(records, c, protocol.criteria_key) for c in ("TRCAT", "PARCAT3", "PARCAT1")])
    records, note = _filter_vocabulary(records, crit, key, what="criteria", column="PARCAT3", dataset=dataset,
                                       label=label, hint="Set criteria to one of them in the params file.")
    notes += [note] if note else []
    who_expr = pl.coalesce([_mapped(records, "TREVAL", protocol.assessor_key),
                            _mapped(records, "PARCAT2", protocol.assessor_key),
                            _mapped(records, "PARAM", lambda text: _assessor_in_text(protocol, text)),
                            _mapped(records, "PARAMCD", lambda code: ADAM_PARAMCDS["sum"].get(code))])
    records, note = _filter_vocabulary(records, who_expr, who, what="assessor", column="PARCAT2", dataset=dataset,
                                       label=who, hint="Set assessor to one of them in the params file.")
    notes += [note] if note else []
    if {"LSEXP", "LSASS"} <= set(records.columns):
        complete = (pl.col("LSEXP").cast(pl.String) == pl.col("LSASS").cast(pl.String)).fill_null(False)
        notes.append(f"{dataset.upper()}: an assessment is complete when the lesions assessed (LSASS) are the "
                     f"lesions expected (LSEXP), admiralonco's variables.")
    elif "ANL01FL" in records.columns:
        complete = (compute_term(pl.col("ANL01FL")) == "Y").fill_null(False)
        notes.append(f"{dataset.upper()}.ANL01FL is taken as 'every baseline target lesion assessed' "
                     f"(admiralonco's convention).")
    else:
        complete = pl.lit(True)
        notes.append(f"{dataset.upper()} does not say whether every target lesion was assessed (no LSEXP/LSASS or "
                     f"ANL01FL): every sum counts as complete.")
    date = pl.col("ADT").cast(pl.Date) if "ADT" in records.columns else compute_assessment_date(pl.col("TRDTC"))
    shaped = (records.select(
        pl.col("USUBJID").cast(pl.String),
        (pl.col("TREVALID").cast(pl.String) if "TREVALID" in records.columns else pl.lit("")).fill_null("").alias("READER"),
        date.alias("ADT"),
        (pl.col("AVISIT") if "AVISIT" in records.columns else pl.lit(None)).cast(pl.String).alias("VISIT"),
        pl.col("AVAL").cast(pl.Float64).alias("SUM"), complete.alias("COMPLETE"),
        _accepted_flag(records, "TRACPTFL").alias("ACCEPTED"))
        .filter(pl.col("ADT").is_not_null())
        .join(subjects.select(pl.col("USUBJID").cast(pl.String), "RANDDT"), on="USUBJID", how="inner"))
    base = (shaped.filter((pl.col("ADT") <= pl.col("RANDDT")) & pl.col("SUM").is_not_null()).sort("ADT")
            .group_by("USUBJID", "READER").agg(pl.col("ADT").last().alias("BASE_ADT")))
    out = (shaped.join(base, on=["USUBJID", "READER"], how="inner").filter(pl.col("ADT") >= pl.col("BASE_ADT"))
           .group_by("USUBJID", "READER", "ADT").agg(pl.col("VISIT").first(), pl.col("SUM").first(),
                                                     pl.col("COMPLETE").first(), pl.col("ACCEPTED").any(),
                                                     pl.col("BASE_ADT").first())
           .with_columns((pl.col("ADT") == pl.col("BASE_ADT")).alias("BASELINE"))
           .with_columns(pl.when(pl.col("BASELINE")).then(True).otherwise(pl.col("COMPLETE")).alias("COMPLETE"),
                         pl.lit(None, pl.Int64).alias("N_MEASURED"), pl.lit(None, pl.Int64).alias("N_EXPECTED"),
                         pl.lit(None, pl.Boolean).alias("TARGETS_GONE"), pl.lit(None, pl.String).alias("NT_RESP"),
                         pl.lit(None, pl.Boolean).alias("NEW_LESION")))
    return out.sort("USUBJID", "READER", "ADT").select([pl.col(c).cast(t) for c, t in SUM_SCHEMA.items()]), notes


def compute_pct_change(value: pl.Expr, baseline: pl.Expr) -> pl.Expr:
    """100·(value − baseline)/baseline; null when the baseline is 0 or missing (admiral ``PCHG``).

    Example:
        >>> pl.select(compute_pct_change(pl.lit(42.0), pl.lit(60.0))).item()
        -30.0
    """
    return pl.when(baseline != 0).then((value - baseline) / baseline * 100)


def derive_sum_changes(sums: pl.DataFrame, *, protocol: Any) -> pl.DataFrame:
    """Add baseline, % change, nadir and the target-lesion PD test; keep the accepted read per assessment.

    Within each reader's reads (module notes): ``BASE_SUM`` (the ``BASELINE`` row's sum),
    ``PCHG``, ``CHG``, ``NADIR`` (the smallest complete sum before the row, baseline
    included), ``CHG_NADIR``, ``PCHG_NADIR`` (null from a nadir of 0, as admiral), and
    ``TARGET_PD``: ``CHG_NADIR`` ≥ ``pd_min_abs_mm`` and (``PCHG_NADIR`` ≥ ``pd_pct`` or a nadir
    of 0). Then, per subject and date, the accepted read (``ACCEPTED``) when several readers
    read it.

    Example:
        >>> import datetime as dt
        >>> from trialkit.protocol import load_protocol
        >>> sums = pl.DataFrame({"USUBJID": ["1"] * 4, "READER": [""] * 4, "ADT": [dt.date(2025, 9, d) for d in (1, 2, 3, 4)],
        ...     "SUM": [50.0, 40.0, 48.0, 49.0], "COMPLETE": [True] * 4, "BASELINE": [True, False, False, False],
        ...     "ACCEPTED": [False] * 4})
        >>> derive_sum_changes(sums, protocol=load_protocol("NCT07334483")).select("PCHG", "NADIR", "TARGET_PD").rows()
        [(0.0, None, False), (-20.0, 50.0, False), (-4.0, 40.0, True), (-2.0, 40.0, True)]
    """
    rules = protocol.response
    reader = ["USUBJID", "READER"]
    complete_sum = pl.when(pl.col("COMPLETE")).then(pl.col("SUM"))
    out = (sums.sort("USUBJID", "READER", "ADT")
           .with_columns(pl.col("SUM").filter(pl.col("BASELINE")).first().over(reader).alias("BASE_SUM"),
                         complete_sum.cum_min().forward_fill().shift(1).over(reader).alias("NADIR"))
           .with_columns(compute_pct_change(pl.col("SUM"), pl.col("BASE_SUM")).alias("PCHG"),
                         (pl.col("SUM") - pl.col("BASE_SUM")).alias("CHG"),
                         (pl.col("SUM") - pl.col("NADIR")).alias("CHG_NADIR"),
                         compute_pct_change(pl.col("SUM"), pl.col("NADIR")).alias("PCHG_NADIR"))
           # thresholds compared at 1e-6: sums of decimal diameters must not miss a boundary by a rounding error
           .with_columns(((pl.col("CHG_NADIR").round(6) >= float(rules["pd_min_abs_mm"]))
                          & ((pl.col("PCHG_NADIR").round(6) >= float(rules["pd_pct"])) | (pl.col("NADIR") == 0)))
                         .fill_null(False).alias("TARGET_PD")))
    # several readers of one assessment: the accepted read; without acceptance flags, one
    # reader throughout (the first by name), never the best of two
    return (_keep_accepted(out, keys=["USUBJID", "ADT"])
            .sort("USUBJID", "ADT", pl.col("ACCEPTED").fill_null(False), "READER", descending=[False, False, True, False])
            .unique(subset=["USUBJID", "ADT"], keep="first", maintain_order=True))


# --------------------------------------------------------------------------------------------
# best overall response
# --------------------------------------------------------------------------------------------
def derive_new_therapy(medications: pl.DataFrame | None, subjects: pl.DataFrame) -> pl.DataFrame:
    """``USUBJID, NACTDT, NACT_TRT``: the first new anticancer therapy on or after randomization (CM).

    A CM record is anticancer therapy when ``CMCAT`` or ``CMSCAT`` names it (ANTICANCER,
    ANTI-CANCER, ANTINEOPLASTIC, CHEMOTHERAPY, ...) and not as PRIOR; it is *new* when it
    starts on or after ``RANDDT`` (``CMSTDTC``, a partial date imputed to the first day of
    its period, admiral's start-date convention — the earliest the therapy can have begun).
    The study's own treatments are in EX/PR, never here (admiralonco ``nactdt.Rmd``).

    Example:
        >>> import datetime as dt
        >>> cm = pl.DataFrame({"USUBJID": ["1", "1"], "CMTRT": ["SORAFENIB", "LENVATINIB"],
        ...                    "CMCAT": ["PRIOR ANTICANCER THERAPY", "SUBSEQUENT ANTICANCER THERAPY"],
        ...                    "CMSTDTC": ["2025-01", "2026-03"]})
        >>> derive_new_therapy(cm, pl.DataFrame({"USUBJID": ["1"], "RANDDT": [dt.date(2025, 9, 1)]})).rows()
        [('1', datetime.date(2026, 3, 1), 'LENVATINIB')]
    """
    schema = {"USUBJID": pl.String, "NACTDT": pl.Date, "NACT_TRT": pl.String}
    if medications is None or not {"USUBJID", "CMSTDTC"} <= set(medications.columns):
        return pl.DataFrame(schema=schema)
    category = pl.concat_str([compute_term(pl.col(c)) for c in ("CMCAT", "CMSCAT") if c in medications.columns]
                             + [pl.lit("")], separator=" ", ignore_nulls=True)
    anticancer = category.str.contains(r"ANTI-?CANCER|ANTI-?NEOPLASTIC|CHEMOTHERAPY|ANTI-?TUMOU?R|ONCOLOG")
    prior = category.str.contains(r"\bPRIOR\b")
    trt = pl.coalesce([pl.col(c).cast(pl.String) for c in ("CMDECOD", "CMTRT") if c in medications.columns]
                      + [pl.lit(None, pl.String)])
    return (medications.filter(anticancer & ~prior)
            .select(pl.col("USUBJID").cast(pl.String), compute_date(pl.col("CMSTDTC"), impute="start").alias("NACTDT"),
                    trt.alias("NACT_TRT"))
            .join(subjects.select(pl.col("USUBJID").cast(pl.String), "RANDDT"), on="USUBJID", how="inner")
            .filter(pl.col("NACTDT") >= pl.col("RANDDT"))
            .sort("USUBJID", "NACTDT").group_by("USUBJID", maintain_order=True).first()
            .select([pl.col(c).cast(t) for c, t in schema.items()]))


def _window(time_points: pl.DataFrame, subjects: pl.DataFrame, new_therapy: pl.DataFrame | None) -> pl.DataFrame:
    """admiralonco's ANL01FL and ANL02FL: valid, on or after randomization (before NACTDT), up to the first PD."""
    tp = (time_points.filter(pl.col("VALID") & pl.col("ADT").is_not_null())
          .join(subjects.select("USUBJID", "RANDDT"), on="USUBJID", how="inner")
          .filter(pl.col("ADT") >= pl.col("RANDDT")))
    if new_therapy is not None and new_therapy.height:
        tp = (tp.join(new_therapy.select("USUBJID", "NACTDT"), on="USUBJID", how="left")
              .filter(pl.col("NACTDT").is_null() | (pl.col("ADT") < pl.col("NACTDT"))).drop("NACTDT"))
    tp = tp.sort("USUBJID", "ADT")
    after_pd = (pl.col("AVALC") == "PD").cast(pl.Int32).cum_sum().shift(1, fill_value=0).over("USUBJID") > 0
    return tp.filter(~after_pd).with_columns(pl.int_range(pl.len()).over("USUBJID").alias("IDX"))


def _confirmed(ovr: pl.DataFrame, response: str, *, min_days: int, max_ne: int) -> pl.DataFrame:
    """The records of ``response`` (CR or PR) confirmed as admiralonco's ``cbor_cr`` / ``cbor_pr`` define it.

    The confirming record is the first CR (for a PR: CR or PR) at least ``min_days`` later;
    every record after the candidate up to it must be CR or NE (PR: CR, PR or NE), with at
    most ``max_ne`` NE, and (PR) no PR after a CR. Counted with running sums per subject.
    """
    confirm = ["CR"] if response == "CR" else ["CR", "PR"]
    allowed = ["CR", "NE"] if response == "CR" else ["CR", "PR", "NE"]
    subject = "USUBJID"
    counts = ovr.with_columns(
        (~pl.col("AVALC").is_in(allowed)).cast(pl.Int32).cum_sum().over(subject).alias("_BAD"),
        (pl.col("AVALC") == "NE").cast(pl.Int32).cum_sum().over(subject).alias("_NE"),
        pl.when(pl.col("AVALC") == "CR").then(pl.col("IDX")).shift(-1).backward_fill().over(subject).alias("_NEXT_CR"),
        pl.when(pl.col("AVALC") == "PR").then(pl.col("IDX")).forward_fill().over(subject).alias("_LAST_PR"))
    candidates = (counts.filter(pl.col("AVALC") == response)
                  .with_columns((pl.col("ADT") + pl.duration(days=min_days)).alias("_TARGET")).sort("_TARGET"))
    confirmers = (counts.filter(pl.col("AVALC").is_in(confirm))
                  .select(subject, pl.col("ADT").alias("_CADT"), pl.col("IDX").alias("_J"), pl.col("_BAD").alias("_BAD_J"),
                          pl.col("_NE").alias("_NE_J"), pl.col("_LAST_PR").alias("_LAST_PR_J")).sort("_CADT"))
    pairs = candidates.join_asof(confirmers, left_on="_TARGET", right_on="_CADT", by=subject, strategy="forward",
                                 check_sortedness=False)
    ok = (pl.col("_J").is_not_null()
          & ((pl.col("_BAD_J") - pl.col("_BAD")) == 0)
          & ((pl.col("_NE_J") - pl.col("_NE")) <= max_ne))
    if response == "PR":
        ok = ok & (pl.col("_NEXT_CR").is_null() | (pl.col("_NEXT_CR") > pl.col("_J"))
                   | pl.col("_LAST_PR_J").is_null() | (pl.col("_LAST_PR_J") <= pl.col("IDX"))
                   | (pl.col("_NEXT_CR") > pl.col("_LAST_PR_J")))
    return pairs.filter(ok).select(subject, "ADT", pl.col("_CADT").alias("CONFIRM_ADT"))


BOR_SCHEMA = {"USUBJID": pl.String, "BOR": pl.String, "BOR_ADT": pl.Date, "BOR_DAY": pl.Int64,
              "BOR_REASON": pl.String, "FIRST_PD_ADT": pl.Date, "CONFIRM_ADT": pl.Date}


def derive_best_overall_response(time_points: pl.DataFrame, subjects: pl.DataFrame, *, protocol: Any,
                                 confirmed: bool = True, new_therapy: pl.DataFrame | None = None) -> pl.DataFrame:
    """Best overall response per subject of ``subjects`` (admiralonco events, module notes).

    Args:
        time_points: :func:`filter_time_point_responses` of one criteria and assessor.
        subjects: the subjects to report (``USUBJID``, ``RANDDT``): every one gets a row.
        protocol: ``response.sd_min_days``, ``confirmation_min_days``, ``confirmation_max_ne``.
        confirmed: CR and PR need confirmation (``cbor_cr``/``cbor_pr``).
        new_therapy: :func:`derive_new_therapy`, to leave out assessments on or after new
            anticancer therapy (admiralonco's ANL01FL variant); None keeps them (DESIGN
            section 6 and admiralonco's template).

    Returns:
        ``USUBJID, BOR`` (:data:`BOR_TERMS`), ``BOR_ADT`` (the first date of that response,
        admiralonco's ``ADT``), ``BOR_DAY`` (study day), ``BOR_REASON`` (why NE or MISSING;
        an unconfirmed response; or null), ``FIRST_PD_ADT``, ``CONFIRM_ADT``.

    Example:
        >>> import datetime as dt
        >>> from trialkit.protocol import load_protocol
        >>> tp = pl.DataFrame({"USUBJID": ["1"] * 2, "ADT": [dt.date(2025, 9, 20), dt.date(2025, 10, 12)],
        ...                    "AVALC": ["SD", "SD"], "VALID": [True, True]})
        >>> bor = derive_best_overall_response(tp, pl.DataFrame({"USUBJID": ["1"], "RANDDT": [dt.date(2025, 9, 1)]}),
        ...                                    protocol=load_protocol("NCT07334483"))
        >>> bor.select("BOR", "BOR_REASON").row(0)
        ('NE', 'SD or better only before day 43 (the first 42 days after randomization, too early for SD)')
    """
    rules = protocol.response
    sd_min, conf_min, max_ne = int(rules["sd_min_days"]), int(rules["confirmation_min_days"]), \
        int(rules["confirmation_max_ne"])
    # subjects as integer codes under the name USUBJID while deriving (the windows, as-of joins and
    # group-bys of 100,000 subjects run on integers), their text again at the end
    ids = (subjects.select(pl.col("USUBJID").cast(pl.String), pl.col("RANDDT").cast(pl.Date))
           .unique("USUBJID", keep="first", maintain_order=True).with_row_index("_ID"))
    subj = ids.select(pl.col("_ID").alias("USUBJID"), "RANDDT")

    def coded(frame: pl.DataFrame | None) -> pl.DataFrame | None:
        if frame is None:
            return None
        return (frame.with_columns(pl.col("USUBJID").cast(pl.String))
                .join(ids.select("USUBJID", "_ID"), on="USUBJID", how="inner")
                .with_columns(pl.col("_ID").alias("USUBJID")).drop("_ID"))

    time_points, new_therapy = coded(time_points), coded(new_therapy)
    ovr = _window(time_points, subj, new_therapy)
    late = pl.col("ADT") >= pl.col("RANDDT") + pl.duration(days=sd_min)
    first = pl.col("AVALC")
    if confirmed:
        cr = _confirmed(ovr, "CR", min_days=conf_min, max_ne=max_ne)
        pr = _confirmed(ovr, "PR", min_days=conf_min, max_ne=max_ne)
    else:
        cr = ovr.filter(first == "CR").select("USUBJID", "ADT", pl.lit(None, pl.Date).alias("CONFIRM_ADT"))
        pr = ovr.filter(first == "PR").select("USUBJID", "ADT", pl.lit(None, pl.Date).alias("CONFIRM_ADT"))
    no_confirm = pl.lit(None, pl.Date).alias("CONFIRM_ADT")
    events = [
        (1, "CR", cr), (2, "PR", pr),
        (3, "SD", ovr.filter(first.is_in(["CR", "PR", "SD"]) & late).select("USUBJID", "ADT", no_confirm)),
        (4, "NON-CR/NON-PD", ovr.filter((first == "NON-CR/NON-PD") & late).select("USUBJID", "ADT", no_confirm)),
        (5, "PD", ovr.filter(first == "PD").select("USUBJID", "ADT", no_confirm)),
        (6, "NE", ovr.filter(first.is_in(["CR", "PR", "SD", "NON-CR/NON-PD", "NE"])).select("USUBJID", "ADT", no_confirm)),
    ]
    stacked = pl.concat([frame.with_columns(pl.lit(nr, pl.Int8).alias("_NR"), pl.lit(bor).alias("BOR"))
                         .select("USUBJID", "ADT", "CONFIRM_ADT", "_NR", "BOR") for nr, bor, frame in events])
    best = (stacked.sort("USUBJID", "_NR", "ADT").group_by("USUBJID", maintain_order=True).first()
            .rename({"ADT": "BOR_ADT"}))
    first_pd = ovr.filter(first == "PD").group_by("USUBJID").agg(pl.col("ADT").min().alias("FIRST_PD_ADT"))
    out = (subj.join(best, on="USUBJID", how="left").join(first_pd, on="USUBJID", how="left")
           .with_columns(pl.col("BOR").fill_null("MISSING"),
                         compute_study_day(pl.col("BOR_ADT"), pl.col("RANDDT")).alias("BOR_DAY")))
    reasons = _bor_reasons(time_points, subj, ovr, sd_min=sd_min, conf_min=conf_min, max_ne=max_ne,
                           confirmed=confirmed, new_therapy=new_therapy)
    out = out.join(reasons, on="USUBJID", how="left").with_columns(
        pl.when(pl.col("BOR") == "MISSING").then(pl.col("_WHY_MISSING"))
        .when(pl.col("BOR") == "NE").then(pl.col("_WHY_NE"))
        .when(pl.col("BOR").is_in(["SD", "NON-CR/NON-PD", "PD"])).then(pl.col("_UNCONFIRMED"))
        .alias("BOR_REASON"))
    out = out.join(ids.select(pl.col("_ID").alias("USUBJID"), pl.col("USUBJID").alias("_NAME")), on="USUBJID",
                   how="left", maintain_order="left").with_columns(pl.col("_NAME").alias("USUBJID"))
    return out.select([pl.col(c).cast(t) for c, t in BOR_SCHEMA.items()])


def _bor_reasons(time_points: pl.DataFrame, subj: pl.DataFrame, ovr: pl.DataFrame, *, sd_min: int, conf_min: int,
                 max_ne: int, confirmed: bool, new_therapy: pl.DataFrame | None) -> pl.DataFrame:
    """Per subject: why the BOR is MISSING, why NE, and which CR/PR went unconfirmed."""
    tp = time_points.join(subj, on="USUBJID", how="inner")
    nact = new_therapy.select("USUBJID", "NACTDT") if new_therapy is not None and new_therapy.height else None
    if nact is not None:
        tp = tp.join(nact, on="USUBJID", how="left")
    else:
        tp = tp.with_columns(pl.lit(None, pl.Date).alias("NACTDT"))
    day = compute_study_day(pl.col("ADT"), pl.col("RANDDT"))
    per = tp.group_by("USUBJID").agg(
        pl.len().alias("_N"), pl.col("VALID").sum().alias("_NVALID"),
        (pl.col("VALID") & (pl.col("ADT") >= pl.col("RANDDT"))).sum().alias("_NPOST"),
        (pl.col("VALID") & (pl.col("ADT") >= pl.col("RANDDT"))
         & (pl.col("NACTDT").is_null() | (pl.col("ADT") < pl.col("NACTDT")))).sum().alias("_NUSED"),
        pl.col("AVALC").filter(~pl.col("VALID")).drop_nulls().unique().sort().str.join(", ").alias("_ODD"))
    used = ovr.group_by("USUBJID").agg(
        (pl.col("AVALC") == "NE").all().alias("_ALL_NE"),
        day.filter(pl.col("AVALC").is_in(["CR", "PR", "SD", "NON-CR/NON-PD"])).max().alias("_LAST_OK_DAY"),
        pl.col("AVALC").filter(pl.col("AVALC").is_in(["CR", "PR"])).first().alias("_RESP"),
        day.filter(pl.col("AVALC").is_in(["CR", "PR"])).first().alias("_RESP_DAY"))
    rand_missing = pl.col("RANDDT").is_null()
    why_missing = (pl.when(rand_missing).then(pl.lit("no randomization date: responses cannot be placed in time"))
                   .when(pl.col("_N").fill_null(0) == 0)
                   .then(pl.lit("no overall response assessment of this assessor and criteria"))
                   .when(pl.col("_NVALID").fill_null(0) == 0)
                   .then(pl.format("only values that are not response terms ({}), which never count", pl.col("_ODD")))
                   .when(pl.col("_NPOST").fill_null(0) == 0).then(pl.lit("only assessments before randomization"))
                   .when(pl.col("_NUSED").fill_null(0) == 0)
                   .then(pl.lit("only assessments after new anticancer therapy"))
                   .otherwise(pl.lit("no assessment in the analysis window")))
    why_ne = (pl.when(pl.col("_ALL_NE").fill_null(False)).then(pl.lit("every time-point response is NE"))
              .when(pl.col("_RESP").is_not_null() & pl.lit(confirmed)
                    & (pl.col("_LAST_OK_DAY").fill_null(0) <= sd_min))
              .then(pl.format("{} on day {} not confirmed (needs a CR{} ≥ {} days later with at most {} NE between), "
                              "and no SD on or after day {}", pl.col("_RESP"), pl.col("_RESP_DAY"),
                              pl.when(pl.col("_RESP") == "PR").then(pl.lit(" or PR")).otherwise(pl.lit("")),
                              pl.lit(conf_min), pl.lit(max_ne), pl.lit(sd_min + 1)))
              .otherwise(pl.format("SD or better only before day {} (the first {} days after randomization, "
                                   "too early for SD)", pl.lit(sd_min + 1), pl.lit(sd_min))))
    unconfirmed = (pl.when(pl.lit(confirmed) & pl.col("_RESP").is_not_null())
                   .then(pl.format("{} on day {} not confirmed", pl.col("_RESP"), pl.col("_RESP_DAY"))))
    return (subj.join(per, on="USUBJID", how="left").join(used, on="USUBJID", how="left")
            .select("USUBJID", why_missing.alias("_WHY_MISSING"), why_ne.alias("_WHY_NE"),
                    unconfirmed.alias("_UNCONFIRMED")))


# --------------------------------------------------------------------------------------------
# best % change (the waterfall bar)
# --------------------------------------------------------------------------------------------
BEST_CHANGE_SCHEMA = {"USUBJID": pl.String, "BASE_SUM": pl.Float64, "BEST_SUM": pl.Float64, "BEST_PCHG": pl.Float64,
                      "BEST_ADT": pl.Date, "BEST_DAY": pl.Int64, "N_POST": pl.Int64, "EXCLUSION_REASON": pl.String}


def derive_best_change(sums: pl.DataFrame, subjects: pl.DataFrame, *, first_pd: pl.DataFrame | None = None,
                       new_therapy: pl.DataFrame | None = None, window: str = "until_pd") -> pl.DataFrame:
    """The best (lowest) % change of each subject, or the reason there is none.

    Args:
        sums: :func:`derive_sum_changes` (the accepted read per assessment).
        subjects: ``USUBJID, RANDDT`` of every subject to report.
        first_pd: ``USUBJID, FIRST_PD_ADT`` (the first PD time-point response): with
            ``window`` "until_pd" only assessments up to and including it count.
        new_therapy: ``USUBJID, NACTDT``: only assessments before it count.
        window: ``until_pd`` or ``all_post_baseline`` (DESIGN section 3).

    Returns:
        One row per subject: ``BASE_SUM, BEST_SUM, BEST_PCHG, BEST_ADT, BEST_DAY`` (study
        day of the first lowest % change, admiral ``ANL02FL``), ``N_POST`` (complete
        assessments in the window) and ``EXCLUSION_REASON`` (null when there is a bar).

    Example:
        >>> import datetime as dt
        >>> sums = pl.DataFrame({"USUBJID": ["1"] * 3, "ADT": [dt.date(2025, 9, 1), dt.date(2025, 10, 1), dt.date(2025, 11, 1)],
        ...     "SUM": [50.0, 30.0, 20.0], "PCHG": [0.0, -40.0, -60.0], "COMPLETE": [True, True, True],
        ...     "BASELINE": [True, False, False]})
        >>> first_pd = pl.DataFrame({"USUBJID": ["1"], "FIRST_PD_ADT": [dt.date(2025, 10, 1)]})
        >>> subjects = pl.DataFrame({"USUBJID": ["1", "2"], "RANDDT": [dt.date(2025, 9, 2)] * 2})
        >>> derive_best_change(sums, subjects, first_pd=first_pd).select("BEST_PCHG", "EXCLUSION_REASON").rows()
        [(-40.0, None), (None, 'no tumour measurement at baseline (on or before randomization)')]
    """
    if window not in BEST_CHANGE_WINDOWS:
        raise ParamsError(f"trialkit: best_change_window {window!r} is not one of {' | '.join(BEST_CHANGE_WINDOWS)}.")
    subj = subjects.select(pl.col("USUBJID").cast(pl.String), pl.col("RANDDT").cast(pl.Date))
    rows = sums.join(subj, on="USUBJID", how="inner")
    limits = subj
    if first_pd is not None:
        limits = limits.join(first_pd.select("USUBJID", "FIRST_PD_ADT"), on="USUBJID", how="left")
    else:
        limits = limits.with_columns(pl.lit(None, pl.Date).alias("FIRST_PD_ADT"))
    if new_therapy is not None and new_therapy.height:
        limits = limits.join(new_therapy.select("USUBJID", "NACTDT"), on="USUBJID", how="left")
    else:
        limits = limits.with_columns(pl.lit(None, pl.Date).alias("NACTDT"))
    rows = rows.join(limits.drop("RANDDT"), on="USUBJID", how="left")
    base = rows.filter(pl.col("BASELINE")).group_by("USUBJID").agg(pl.col("SUM").first().alias("BASE_SUM"))
    post = rows.filter(~pl.col("BASELINE"))
    in_window = pl.col("NACTDT").is_null() | (pl.col("ADT") < pl.col("NACTDT"))
    if window == "until_pd":
        in_window = in_window & (pl.col("FIRST_PD_ADT").is_null() | (pl.col("ADT") <= pl.col("FIRST_PD_ADT")))
    usable = post.filter(in_window & pl.col("COMPLETE") & pl.col("PCHG").is_not_null())
    best = (usable.sort("USUBJID", "PCHG", "ADT").group_by("USUBJID", maintain_order=True)
            .agg(pl.col("SUM").first().alias("BEST_SUM"), pl.col("PCHG").first().alias("BEST_PCHG"),
                 pl.col("ADT").first().alias("BEST_ADT"), pl.len().cast(pl.Int64).alias("N_POST")))
    counts = post.group_by("USUBJID").agg(
        pl.len().alias("_NPOST_ALL"), in_window.sum().alias("_NWIN"),
        (in_window & pl.col("COMPLETE")).sum().alias("_NWIN_COMPLETE"),
        pl.col("ADT").min().alias("_FIRST_POST"))
    out = (subj.join(base, on="USUBJID", how="left").join(best, on="USUBJID", how="left")
           .join(counts, on="USUBJID", how="left").join(limits.drop("RANDDT"), on="USUBJID", how="left"))
    reason = (pl.when(pl.col("RANDDT").is_null()).then(pl.lit("no randomization date"))
              .when(pl.col("BASE_SUM").is_null()).then(pl.lit("no tumour measurement at baseline (on or before randomization)"))
              .when(pl.col("BASE_SUM") == 0).then(pl.lit("baseline sum of target diameters is 0"))
              .when(pl.col("BEST_PCHG").is_not_null()).then(None)
              .when(pl.col("_NPOST_ALL").fill_null(0) == 0).then(pl.lit("no post-baseline tumour assessment"))
              .when(pl.col("NACTDT").is_not_null() & (pl.col("_FIRST_POST") >= pl.col("NACTDT")))
              .then(pl.lit("new anticancer therapy before any post-baseline tumour assessment"))
              .when(pl.col("FIRST_PD_ADT").is_not_null() & pl.lit(window == "until_pd"))
              .then(pl.lit("no post-baseline assessment with every baseline target lesion measured up to the "
                           "first PD"))
              .otherwise(pl.lit("no post-baseline assessment with every baseline target lesion measured")))
    return (out.with_columns(reason.alias("EXCLUSION_REASON"), pl.col("N_POST").fill_null(0),
                             compute_study_day(pl.col("BEST_ADT"), pl.col("RANDDT")).alias("BEST_DAY"))
            .select([pl.col(c).cast(t) for c, t in BEST_CHANGE_SCHEMA.items()]))


# --------------------------------------------------------------------------------------------
# recomputed time-point responses (the check of RS against TR/TU)
# --------------------------------------------------------------------------------------------
def derive_recomputed_responses(sums: pl.DataFrame, *, protocol: Any) -> pl.DataFrame:
    """Add ``TARGET_RESP`` and ``RECOMPUTED`` (the overall response) to :func:`derive_sum_changes` rows.

    Target response: PD when the sum rose ≥ ``pd_pct`` and ≥ ``pd_min_abs_mm`` from the nadir
    (also from the lesions measured at an incomplete assessment: PD can be declared from
    them); otherwise NE when a baseline target was not measured; CR when every target is
    gone (nodes < 10 mm); PR at ≤ ``pr_pct`` from baseline; else SD. Overall (RECIST 1.1
    Table 1; mRECIST the same with IR/SD as NON-CR/NON-PD): PD when the target, the
    non-target response or a new lesion says so; target CR with non-targets not all gone
    (or not evaluated) -> PR; no target disease: the non-target response. Baseline rows get none.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> rows = pl.DataFrame({"BASELINE": [False] * 3, "COMPLETE": [True, True, False], "TARGETS_GONE": [False, True, False],
        ...     "PCHG": [-35.0, -100.0, -10.0], "TARGET_PD": [False, False, False], "N_EXPECTED": [2, 2, 2],
        ...     "NT_RESP": ["NON-CR/NON-PD", "NON-CR/NON-PD", None], "NEW_LESION": [False, False, True]})
        >>> derive_recomputed_responses(rows, protocol=load_protocol("NCT07334483"))["RECOMPUTED"].to_list()
        ['PR', 'PR', 'PD']
    """
    pr_pct = float(protocol.response["pr_pct"])
    has_target = pl.col("N_EXPECTED").fill_null(1) > 0
    target = (pl.when(~has_target).then(None)
              .when(pl.col("TARGET_PD")).then(pl.lit("PD"))
              .when(~pl.col("COMPLETE")).then(pl.lit("NE"))
              .when(pl.col("TARGETS_GONE").fill_null(False)).then(pl.lit("CR"))
              .when(pl.col("PCHG").round(6) <= pr_pct).then(pl.lit("PR"))
              .otherwise(pl.lit("SD")))
    nt = pl.col("NT_RESP")
    overall = (pl.when(pl.col("BASELINE")).then(None)
               .when((pl.col("TARGET_RESP") == "PD") | (nt == "PD") | pl.col("NEW_LESION").fill_null(False))
               .then(pl.lit("PD"))
               .when(pl.col("TARGET_RESP").is_null())
               .then(pl.when(nt.is_null()).then(pl.lit("NE")).otherwise(nt))
               .when(pl.col("TARGET_RESP") == "CR")
               .then(pl.when(nt.is_null() | (nt == "CR")).then(pl.lit("CR")).otherwise(pl.lit("PR")))
               .otherwise(pl.col("TARGET_RESP")))
    return sums.with_columns(target.alias("TARGET_RESP")).with_columns(overall.alias("RECOMPUTED"))


CHECK_SCHEMA = {"USUBJID": pl.String, "ADT": pl.Date, "DAY": pl.Int64, "VISIT": pl.String, "RS_RESPONSE": pl.String,
                "RECOMPUTED": pl.String, "TARGET_RESP": pl.String, "NT_RESP": pl.String, "NEW_LESION": pl.Boolean,
                "SUM": pl.Float64, "PCHG": pl.Float64, "PCHG_NADIR": pl.Float64, "NOTE": pl.String}


def summarize_response_check(analysis: ResponseAnalysis) -> pl.DataFrame:
    """The assessments where RS and the recomputation from TR/TU disagree, one row each.

    Compared by subject and date, post-baseline, for the randomized subjects; an RS response
    with no TR assessment that day, or a TR assessment with no RS response, is listed too.
    Empty when the analysis has no recomputation (ADaM, or no TR).

    Returns:
        ``USUBJID, ADT, DAY, VISIT, RS_RESPONSE, RECOMPUTED, TARGET_RESP, NT_RESP, NEW_LESION,
        SUM, PCHG, PCHG_NADIR, NOTE``.

    Example:
        >>> import datetime as dt
        >>> rec = pl.DataFrame({"USUBJID": ["1"], "ADT": [dt.date(2025, 10, 1)], "VISIT": ["WEEK 6"], "BASELINE": [False],
        ...     "RECOMPUTED": ["PR"], "TARGET_RESP": ["PR"], "NT_RESP": [None], "NEW_LESION": [False], "SUM": [30.0],
        ...     "PCHG": [-40.0], "PCHG_NADIR": [-40.0]})
        >>> tp = pl.DataFrame({"USUBJID": ["1"], "ADT": [dt.date(2025, 10, 1)], "AVALC": ["SD"], "VISIT": ["WEEK 6"]})
        >>> s = pl.DataFrame({"USUBJID": ["1"], "RANDDT": [dt.date(2025, 9, 1)]})
        >>> a = ResponseAnalysis("MRECIST", "mRECIST", "BICR", True, "until_pd", tp, None, rec, s, pl.DataFrame())
        >>> summarize_response_check(a)["NOTE"].to_list()
        ['RS says SD, the measurements say PR']
    """
    if analysis.recomputed is None:
        return pl.DataFrame(schema=CHECK_SCHEMA)
    subj = analysis.subjects.select(pl.col("USUBJID").cast(pl.String), "RANDDT")
    rec = (analysis.recomputed.filter(~pl.col("BASELINE"))
           .select("USUBJID", "ADT", pl.col("VISIT").alias("_TRVISIT"), "RECOMPUTED", "TARGET_RESP", "NT_RESP",
                   "NEW_LESION", "SUM", "PCHG", "PCHG_NADIR"))
    rs = (analysis.time_points.join(subj, on="USUBJID", how="inner").filter(pl.col("ADT") > pl.col("RANDDT"))
          .select("USUBJID", "ADT", pl.col("AVALC").alias("RS_RESPONSE"), pl.col("VISIT").alias("_RSVISIT")))
    joined = (rs.join(rec, on=["USUBJID", "ADT"], how="full", coalesce=True)
              .join(subj, on="USUBJID", how="inner"))
    note = (pl.when(pl.col("RECOMPUTED").is_null())
            .then(pl.lit("no target-lesion assessment in TR on this date"))
            .when(pl.col("RS_RESPONSE").is_null()).then(pl.lit("no overall response in RS on this date"))
            .otherwise(pl.format("RS says {}, the measurements say {}", pl.col("RS_RESPONSE"), pl.col("RECOMPUTED"))))
    differs = (pl.col("RS_RESPONSE").is_null() | pl.col("RECOMPUTED").is_null()
               | (pl.col("RS_RESPONSE") != pl.col("RECOMPUTED")))
    return (joined.filter(differs)
            .with_columns(pl.coalesce("_RSVISIT", "_TRVISIT").alias("VISIT"),
                          compute_study_day(pl.col("ADT"), pl.col("RANDDT")).alias("DAY"), note.alias("NOTE"))
            .sort("USUBJID", "ADT")
            .select([pl.col(c).cast(t) for c, t in CHECK_SCHEMA.items()]))


def describe_response_check(analysis: ResponseAnalysis, check: pl.DataFrame) -> str:
    """One sentence on the check: what was compared and how many assessments disagree.

    Example:
        >>> a = ResponseAnalysis("MRECIST", "mRECIST", "BICR", True, "until_pd", pl.DataFrame(), None, None,
        ...                      pl.DataFrame(), pl.DataFrame())
        >>> describe_response_check(a, pl.DataFrame())[:38]
        'Not available: the recomputation needs'
    """
    if analysis.recomputed is None:
        return ("Not available: the recomputation needs the lesion measurements of SDTM TR and TU "
                "(an ADaM folder holds the sums only).")
    compared = analysis.recomputed.filter(~pl.col("BASELINE")).height
    return (f"{compared:,} post-baseline assessments recomputed from TR/TU with the {analysis.criteria_label} "
            f"thresholds of the protocol; {check.height:,} disagree with RS (or have no counterpart).")


# --------------------------------------------------------------------------------------------
# the analysis of one criteria, assessor and confirmation
# --------------------------------------------------------------------------------------------
@dataclass
class ResponseAnalysis:
    """What the response reports show for one criteria, assessor and confirmation rule.

    Attributes:
        criteria: criteria key ("MRECIST"); ``criteria_label`` its label ("mRECIST").
        assessor: assessor key ("BICR").
        confirmed: whether CR/PR need confirmation.
        window: ``best_change_window``.
        time_points: :func:`filter_time_point_responses` (all subjects of the folder).
        sums: :func:`derive_sum_changes` rows (accepted reads), or None without TR/ADTR.
        recomputed: the sums with the recomputed responses (SDTM TR/TU only), or None.
        subjects: one row per randomized subject: arm, site, RANDDT, BOR and the waterfall
            bar (see :func:`derive_response_analysis`).
        new_therapy: :func:`derive_new_therapy` (empty without CM).
        notes: sentences on what was assumed or left out, for the report.
    """

    criteria: str
    criteria_label: str
    assessor: str
    confirmed: bool
    window: str
    time_points: pl.DataFrame
    sums: pl.DataFrame | None
    recomputed: pl.DataFrame | None
    subjects: pl.DataFrame
    new_therapy: pl.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """'BICR, mRECIST, confirmed': how charts and tables name this analysis."""
        return f"{self.assessor}, {self.criteria_label}, {'confirmed' if self.confirmed else 'unconfirmed'}"


def _randomized(subjects: pl.DataFrame | None) -> pl.DataFrame:
    columns = {"USUBJID": pl.String, "ARMCD": pl.String, "ARM_LABEL": pl.String, "SITE": pl.String,
               "RANDDT": pl.Date, "DTHDT": pl.Date}
    if subjects is None or subjects.is_empty():
        return pl.DataFrame(schema=columns)
    if "STATUS" in subjects.columns:
        subjects = subjects.filter(pl.col("STATUS").cast(pl.String) == "RANDOMIZED")
    return subjects.select([(pl.col(c).cast(t) if c in subjects.columns else pl.lit(None, t)).alias(c)
                            for c, t in columns.items()])


def derive_response_analysis(frames: Mapping[str, pl.DataFrame], subjects: pl.DataFrame | None, protocol: Any, *,
                             criteria: str = "", assessor: str = "", confirmed: bool = True,
                             best_change_window: str = "until_pd", adam_paramcd: Mapping[str, Any] | None = None,
                             with_sums: bool = True) -> ResponseAnalysis:
    """Every response derivation of one criteria, assessor and confirmation rule, for every randomized subject.

    SDTM (RS, TU, TR) when the folder has RS, else ADaM (ADRS, ADTR); CM for new anticancer
    therapy. ``subjects`` is the report's subjects (``ReportStudy.subjects``): the randomized
    ones are reported, each once.

    Args:
        frames: dataset -> frame (``ReportStudy.frames``).
        subjects: one row per subject with ``STATUS``, ``ARMCD``, ``ARM_LABEL``, ``SITE``,
            ``RANDDT``, ``DTHDT``; None or empty when the folder has no DM/ADSL.
        protocol: the study's protocol (thresholds, vocabularies).
        criteria, assessor: params values; empty: the protocol's primary endpoint's. When
            criteria is empty and the data hold only one other criteria, that one is used.
        confirmed, best_change_window, adam_paramcd: the params of the same names.
        with_sums: derive the sums of diameters (the waterfall); False for PFS/ORR only.

    Returns:
        A :class:`ResponseAnalysis` whose ``subjects`` has, per randomized subject:
        ``USUBJID, ARMCD, ARM_LABEL, SITE, RANDDT, DTHDT``, the BOR columns of
        :func:`derive_best_overall_response`, the bar of :func:`derive_best_change`, and
        ``PD_BY`` (TARGET LESIONS | NEW LESION | NON-TARGET LESIONS | NEW OR NON-TARGET
        LESIONS: what the first PD came from, for the waterfall marker).
    """
    notes: list[str] = []
    key, label = resolve_criteria(protocol, criteria)
    who = resolve_assessor(protocol, assessor)
    if best_change_window not in BEST_CHANGE_WINDOWS:
        raise ParamsError(f"trialkit: best_change_window {best_change_window!r} is not one of "
                          f"{' | '.join(BEST_CHANGE_WINDOWS)}.")
    responses_name = "rs" if frames.get("rs") is not None else "adrs"
    responses = frames.get(responses_name)
    if responses is None:
        raise DataError("trialkit: the folder has neither RS nor ADRS: there are no time-point responses.",
                        dataset="rs")
    if not str(criteria or "").strip():
        key, label, note = _default_criteria(responses, protocol, key, label)
        notes += [note] if note else []
    time_points, tp_notes = select_time_points(responses, protocol=protocol, criteria=key, assessor=who,
                                               adam_paramcd=adam_paramcd, dataset=responses_name)
    notes += tp_notes
    randomized = _randomized(subjects)
    if subjects is None or (subjects.is_empty() and not randomized.height):
        notes.append("No subject is known to be randomized (no DM or ADSL): nothing is counted.")
    new_therapy = derive_new_therapy(frames.get("cm"), randomized)
    if frames.get("cm") is None:
        notes.append("No CM in the folder: new anticancer therapy is unknown, so no assessment is left out for it.")
    elif new_therapy.height:
        notes.append(f"{new_therapy.height} subject(s) started new anticancer therapy (CM) after randomization: their "
                     f"assessments from that day on are left out of the best % change and PFS.")
    bor = derive_best_overall_response(time_points, randomized, protocol=protocol, confirmed=confirmed)
    sums = recomputed = None
    if with_sums:
        sums, recomputed, sum_notes = _sums(frames, randomized, protocol=protocol, criteria=key, assessor=who,
                                            adam_paramcd=adam_paramcd)
        notes += sum_notes
    out = randomized.join(bor.drop("RANDDT", strict=False), on="USUBJID", how="left")
    if sums is not None:
        best = derive_best_change(sums, randomized, first_pd=bor.select("USUBJID", "FIRST_PD_ADT"),
                                  new_therapy=new_therapy, window=best_change_window)
        out = out.join(best, on="USUBJID", how="left")
        out = out.join(_pd_source(sums, recomputed, bor), on="USUBJID", how="left")
    else:
        out = out.with_columns([pl.lit(None, t).alias(c) for c, t in BEST_CHANGE_SCHEMA.items() if c != "USUBJID"]
                               + [pl.lit(None, pl.String).alias("PD_BY")])
    out = out.with_columns(pl.col("BOR").fill_null("MISSING")).sort("ARMCD", "USUBJID")
    return ResponseAnalysis(criteria=key, criteria_label=label, assessor=who, confirmed=confirmed,
                            window=best_change_window, time_points=time_points, sums=sums, recomputed=recomputed,
                            subjects=out, new_therapy=new_therapy, notes=notes)


def _default_criteria(responses: pl.DataFrame, protocol: Any, key: str, label: str) -> tuple[str, str, str | None]:
    """The protocol's primary criteria, or the only criteria the responses hold when that is another."""
    column = next((c for c in ("RSCAT", "PARCAT3") if c in responses.columns), None)
    if column is None:
        return key, label, None
    found = {protocol.criteria_key(v) for v in responses.get_column(column).drop_nulls().unique().to_list()} - {None}
    if key in found or len(found) != 1:
        return key, label, None
    only = found.pop()
    other = protocol.criteria[only]["label"]
    return only, other, (f"The data hold {other} responses only ({column}): shown under {other} "
                         f"(the protocol's primary criteria is {label}).")


def _sums(frames: Mapping[str, pl.DataFrame], randomized: pl.DataFrame, *, protocol: Any, criteria: str,
          assessor: str, adam_paramcd: Mapping[str, Any] | None
          ) -> tuple[pl.DataFrame | None, pl.DataFrame | None, list[str]]:
    if frames.get("tr") is not None:
        raw = derive_target_sums(frames["tr"], frames.get("tu"), randomized, protocol=protocol, criteria=criteria,
                                 assessor=assessor)
        sums = derive_sum_changes(raw, protocol=protocol)
        notes = [] if frames.get("tu") is not None else \
            ["No TU: lesion roles from TRGRPID, and lesions measured by LPERP only count as nodal."]
        return sums, derive_recomputed_responses(sums, protocol=protocol), notes
    if frames.get("adtr") is not None:
        raw, notes = derive_target_sums_adam(frames["adtr"], randomized, protocol=protocol, criteria=criteria,
                                             assessor=assessor, adam_paramcd=adam_paramcd)
        return derive_sum_changes(raw, protocol=protocol), None, notes
    return None, None, ["No TR or ADTR: no sums of target diameters, so no waterfall bars."]


def _pd_source(sums: pl.DataFrame, recomputed: pl.DataFrame | None, bor: pl.DataFrame) -> pl.DataFrame:
    """``USUBJID, PD_BY``: what the first PD came from, at the assessment of that date."""
    at_pd = (bor.filter(pl.col("FIRST_PD_ADT").is_not_null()).select("USUBJID", "FIRST_PD_ADT")
             .join(sums.select("USUBJID", "ADT", "TARGET_PD", "NT_RESP", "NEW_LESION"),
                   left_on=["USUBJID", "FIRST_PD_ADT"], right_on=["USUBJID", "ADT"], how="left"))
    by = (pl.when(pl.col("TARGET_PD").fill_null(False)).then(pl.lit("TARGET LESIONS"))
          .when(pl.col("NEW_LESION").fill_null(False)).then(pl.lit("NEW LESION"))
          .when(pl.col("NT_RESP") == "PD").then(pl.lit("NON-TARGET LESIONS"))
          .otherwise(pl.lit("NEW OR NON-TARGET LESIONS")))
    return at_pd.select("USUBJID", by.alias("PD_BY"))


# --------------------------------------------------------------------------------------------
# tables and chart data of the waterfall report
# --------------------------------------------------------------------------------------------
#: Bars above this % change are clipped in the charts (their true value is written above them).
CLIP_PCT = 100.0
WATERFALL_COLUMNS = ["USUBJID", "ARM", "CRITERIA", "ASSESSOR", "BASE_SUM", "BEST_SUM", "BEST_PCHG", "BOR", "PLOTTED",
                     "EXCLUSION_REASON"]
PD_MARK = "PD from new or non-target lesions"
END_KINDS = ("PD", "Death", "No progression at last assessment")


def select_arms(arm_labels: Mapping[str, str], arms: Sequence[str] = ()) -> dict[str, str]:
    """The arms a report shows: the protocol's, in its order, or only those of the ``arms`` filter.

    Example:
        >>> select_arms({"A": "A: x", "B": "B: y", "D": "D: z"}, ["D", "A"])
        {'A': 'A: x', 'D': 'D: z'}
    """
    wanted = {str(a) for a in arms or ()}
    return {k: v for k, v in arm_labels.items() if not wanted or k in wanted}


def summarize_waterfall(analysis: ResponseAnalysis) -> pl.DataFrame:
    """``waterfall.csv`` (DESIGN section 5): one row per randomized subject, plotted or with its reason.

    Columns: ``USUBJID, ARM, CRITERIA, ASSESSOR, BASE_SUM, BEST_SUM, BEST_PCHG, BOR, PLOTTED``
    (Y/N), ``EXCLUSION_REASON`` (empty when plotted) — the contract — then ``ARMCD, SITE,
    BOR_DAY, BOR_REASON, BEST_DAY, PD_BY, CONFIRMED, BEST_CHANGE_WINDOW``.

    Example:
        >>> from trialkit.derive.response import ResponseAnalysis
        >>> s = pl.DataFrame({"USUBJID": ["1", "2"], "ARMCD": ["A", "A"], "ARM_LABEL": ["Arm A"] * 2, "SITE": ["01"] * 2,
        ...                   "BOR": ["PR", "MISSING"], "BEST_PCHG": [-40.0, None],
        ...                   "EXCLUSION_REASON": [None, "no post-baseline tumour assessment"]})
        >>> a = ResponseAnalysis("MRECIST", "mRECIST", "BICR", True, "until_pd", pl.DataFrame(), pl.DataFrame(), None, s,
        ...                      pl.DataFrame())
        >>> summarize_waterfall(a).select("PLOTTED", "EXCLUSION_REASON").rows()
        [('Y', None), ('N', 'no post-baseline tumour assessment')]
    """
    s = analysis.subjects

    def col(name: str, dtype: pl.DataType) -> pl.Expr:
        return (pl.col(name) if name in s.columns else pl.lit(None)).cast(dtype).alias(name)

    no_sums = "no sums of target diameters (the folder has no TR or ADTR)"
    plotted = pl.col("BEST_PCHG").is_not_null()
    return s.select(
        pl.col("USUBJID"), pl.col("ARM_LABEL").alias("ARM"), pl.lit(analysis.criteria_label).alias("CRITERIA"),
        pl.lit(analysis.assessor).alias("ASSESSOR"), col("BASE_SUM", pl.Float64), col("BEST_SUM", pl.Float64),
        col("BEST_PCHG", pl.Float64), pl.col("BOR"),
        pl.when(plotted).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("PLOTTED"),
        pl.when(plotted).then(None).otherwise(
            pl.coalesce(col("EXCLUSION_REASON", pl.String), pl.lit(no_sums if analysis.sums is None else
                                                                   "no complete post-baseline assessment")))
        .alias("EXCLUSION_REASON"),
        pl.col("ARMCD"), col("SITE", pl.String), col("BOR_DAY", pl.Int64), col("BOR_REASON", pl.String),
        col("BEST_DAY", pl.Int64), col("PD_BY", pl.String),
        pl.lit("Y" if analysis.confirmed else "N").alias("CONFIRMED"),
        pl.lit(analysis.window).alias("BEST_CHANGE_WINDOW"))


def compute_pct_text(value: pl.Expr) -> pl.Expr:
    """A % change as text with its sign and one decimal: "+146.0%", "−42.0%" (a true minus sign).

    Example:
        >>> pl.DataFrame({"P": [146.0, -42.04, 0.0]}).select(compute_pct_text(pl.col("P")))["P"].to_list()
        ['+146.0%', '−42.0%', '0.0%']
    """
    from trialkit.format import compute_fixed_text

    magnitude = compute_fixed_text(value.abs())
    sign = pl.when(magnitude == "0.0").then(pl.lit("")).when(value > 0).then(pl.lit("+")).otherwise(pl.lit("−"))
    return pl.when(value.is_null()).then(None).otherwise(pl.format("{}{}%", sign, magnitude)).alias(
        value.meta.output_name(raise_if_undetermined=False) or "literal")


def _when_text(day: pl.Expr) -> pl.Expr:
    """'week 12 (day 85)': weeks since randomization (day 1 = week 0)."""
    return pl.when(day.is_null()).then(None).otherwise(
        pl.format("week {} (day {})", ((day - 1) / 7).round(0).cast(pl.Int64), day))


def describe_plotted(waterfall: pl.DataFrame) -> str:
    """'104 plotted / 120 randomized': the count every waterfall title carries.

    Example:
        >>> describe_plotted(pl.DataFrame({"PLOTTED": ["Y", "N", "Y"]}))
        '2 plotted / 3 randomized'
    """
    plotted = waterfall.filter(pl.col("PLOTTED") == "Y").height
    return f"{plotted:,} plotted / {waterfall.height:,} randomized"


def summarize_panels(waterfall: pl.DataFrame, *, arms: Mapping[str, str], orr: pl.DataFrame | None = None
                     ) -> dict[str, str]:
    """Arm code -> the title of its waterfall panel: the arm, "n plotted / N randomized", the ORR.

    Args:
        waterfall: :func:`summarize_waterfall`.
        arms: arm code -> label, in panel order.
        orr: ``trialkit.derive.efficacy.summarize_orr`` (ORR n/N with its exact 95% CI); None
            leaves it out.

    Example:
        >>> w = pl.DataFrame({"ARMCD": ["A", "A"], "PLOTTED": ["Y", "N"]})
        >>> orr = pl.DataFrame({"ARMCD": ["A"], "N": [2], "RESPONDERS": [1], "ORR_PCT": [50.0], "CI_LOWER_PCT": [1.26],
        ...                     "CI_UPPER_PCT": [98.74]})
        >>> summarize_panels(w, arms={"A": "Arm A"}, orr=orr)["A"]
        'Arm A\\n1 plotted / 2 randomized · ORR 1/2 (50.0%; exact 95% CI 1.3–98.7)'
    """
    counts = {code: (n, p) for code, n, p in waterfall.group_by("ARMCD").agg(
        pl.len(), (pl.col("PLOTTED") == "Y").sum()).iter_rows()}
    orr_rows = {r["ARMCD"]: r for r in orr.iter_rows(named=True)} if orr is not None else {}
    panels = {}
    for code, label in arms.items():  # one title per arm (a handful)
        n, plotted = counts.get(code, (0, 0))
        text = f"{label}\n{plotted:,} plotted / {n:,} randomized"
        r = orr_rows.get(code)
        if r is not None and r["N"]:
            text += (f" · ORR {r['RESPONDERS']}/{r['N']} ({r['ORR_PCT']:.1f}%; exact 95% CI "
                     f"{r['CI_LOWER_PCT']:.1f}–{r['CI_UPPER_PCT']:.1f})")
        panels[code] = text
    return panels


def summarize_waterfall_chart(waterfall: pl.DataFrame) -> pl.DataFrame:
    """The bars of the waterfall: plotted subjects, clipping, marker and tooltip texts.

    Args:
        waterfall: :func:`summarize_waterfall`.

    Returns:
        ``USUBJID, ARMCD, ARM, BOR, BEST_PCHG, PLOT_PCHG`` (clipped at +100 %), ``CLIP_LABEL``
        (the true value of a clipped bar), ``BEST_TEXT, BEST_WHEN, BOR_WHEN, PD_MARK`` (set for a
        PD from new or non-target lesions), ``MARK_Y`` and ``RANK`` (1 = the bar furthest left).

    Example:
        >>> w = pl.DataFrame({"USUBJID": ["1", "2"], "ARMCD": ["A", "A"], "ARM": ["Arm A"] * 2, "BOR": ["PD", "PR"],
        ...     "BEST_PCHG": [146.0, -40.0], "PLOTTED": ["Y", "Y"], "BEST_DAY": [43, 85], "BOR_DAY": [43, 85],
        ...     "PD_BY": ["TARGET LESIONS", None]})
        >>> summarize_waterfall_chart(w).select("PLOT_PCHG", "CLIP_LABEL", "BEST_WHEN").rows()
        [(100.0, '+146.0%', 'week 6 (day 43)'), (-40.0, None, 'week 12 (day 85)')]
    """
    pd_mark = pl.col("PD_BY").is_not_null() & (pl.col("PD_BY") != "TARGET LESIONS")
    clipped = pl.col("BEST_PCHG") > CLIP_PCT
    return (waterfall.filter(pl.col("PLOTTED") == "Y")
            .with_columns(pl.min_horizontal(pl.col("BEST_PCHG"), pl.lit(CLIP_PCT)).alias("PLOT_PCHG"),
                          pl.when(clipped).then(compute_pct_text(pl.col("BEST_PCHG"))).alias("CLIP_LABEL"),
                          compute_pct_text(pl.col("BEST_PCHG")).alias("BEST_TEXT"),
                          _when_text(pl.col("BEST_DAY")).alias("BEST_WHEN"),
                          _when_text(pl.col("BOR_DAY")).alias("BOR_WHEN"),
                          pl.when(pd_mark).then(pl.lit(PD_MARK)).alias("PD_MARK"))
            .with_columns(pl.when(pl.col("PD_MARK").is_not_null())
                          .then(pl.max_horizontal(pl.col("PLOT_PCHG"), pl.lit(0.0)) + 8).alias("MARK_Y"),
                          pl.col("BEST_PCHG").rank("ordinal", descending=True).over("ARMCD").cast(pl.Int64)
                          .alias("RANK"))
            .sort("ARMCD", "RANK")
            .select("USUBJID", "ARMCD", "ARM", "BOR", "BEST_PCHG", "PLOT_PCHG", "CLIP_LABEL", "BEST_TEXT",
                    "BEST_WHEN", "BOR_WHEN", "PD_MARK", "MARK_Y", "RANK"))


def summarize_spider(analysis: ResponseAnalysis, chart_rows: pl.DataFrame) -> pl.DataFrame:
    """% change over time of the plotted subjects, and one end marker each (PD, death, or none yet).

    The complete assessments from baseline (week 0) through the analysis window (up to the
    first PD with ``until_pd``; before new anticancer therapy), clipped at +100 % like the bars.

    Args:
        analysis: the :class:`ResponseAnalysis` (its sums and subjects).
        chart_rows: :func:`summarize_waterfall_chart` (which subjects, their arm and BOR).

    Returns:
        ``USUBJID, ARMCD, BOR, KIND`` ("assessment" or one of :data:`END_KINDS`),
        ``WEEK`` (weeks since randomization), ``DAY``, ``PLOT_PCHG``, ``PCHG_TEXT``.
    """
    schema = {"USUBJID": pl.String, "ARMCD": pl.String, "BOR": pl.String, "KIND": pl.String,
              "WEEK": pl.Float64, "DAY": pl.Int64, "PLOT_PCHG": pl.Float64, "PCHG_TEXT": pl.String}
    if analysis.sums is None or chart_rows.is_empty():
        return pl.DataFrame(schema=schema)
    who = chart_rows.select("USUBJID", "ARMCD", "BOR")
    s = analysis.subjects.select("USUBJID", "RANDDT", "DTHDT", "FIRST_PD_ADT")
    nact = analysis.new_therapy.select("USUBJID", "NACTDT") if analysis.new_therapy.height else \
        pl.DataFrame(schema={"USUBJID": pl.String, "NACTDT": pl.Date})
    rows = (analysis.sums.join(who, on="USUBJID", how="inner").join(s, on="USUBJID", how="left")
            .join(nact, on="USUBJID", how="left"))
    window = pl.col("NACTDT").is_null() | (pl.col("ADT") < pl.col("NACTDT"))
    if analysis.window == "until_pd":
        window = window & (pl.col("FIRST_PD_ADT").is_null() | (pl.col("ADT") <= pl.col("FIRST_PD_ADT")))
    points = (rows.filter(pl.col("COMPLETE") & pl.col("PCHG").is_not_null() & (pl.col("BASELINE") | window))
              .with_columns(pl.when(pl.col("BASELINE")).then(0.0)
                            .otherwise((pl.col("ADT") - pl.col("RANDDT")).dt.total_days() / 7).alias("WEEK"),
                            compute_study_day(pl.col("ADT"), pl.col("RANDDT")).alias("DAY"),
                            pl.min_horizontal(pl.col("PCHG"), pl.lit(CLIP_PCT)).alias("PLOT_PCHG"),
                            compute_pct_text(pl.col("PCHG")).alias("PCHG_TEXT"), pl.lit("assessment").alias("KIND"))
              .sort("USUBJID", "WEEK"))
    last = points.group_by("USUBJID", maintain_order=True).agg(pl.col("WEEK").last().alias("_LW"),
                                                               pl.col("PLOT_PCHG").last().alias("_LY"),
                                                               pl.col("DAY").last().alias("_LD"))
    at_pd = points.join(s.select("USUBJID", "FIRST_PD_ADT"), on="USUBJID").filter(
        pl.col("ADT") == pl.col("FIRST_PD_ADT")).select("USUBJID", pl.col("PLOT_PCHG").alias("_PDY"))
    ends = (who.join(s, on="USUBJID", how="left").join(last, on="USUBJID", how="inner")
            .join(at_pd, on="USUBJID", how="left")
            .with_columns(pl.when(pl.col("FIRST_PD_ADT").is_not_null()).then(pl.lit("PD"))
                          .when(pl.col("DTHDT").is_not_null()).then(pl.lit("Death"))
                          .otherwise(pl.lit(END_KINDS[2])).alias("KIND"),
                          pl.coalesce("FIRST_PD_ADT", "DTHDT").alias("_EADT"))
            .with_columns(pl.when(pl.col("_EADT").is_not_null())
                          .then((pl.col("_EADT") - pl.col("RANDDT")).dt.total_days() / 7)
                          .otherwise(pl.col("_LW")).alias("WEEK"),
                          pl.when(pl.col("_EADT").is_not_null())
                          .then(compute_study_day(pl.col("_EADT"), pl.col("RANDDT"))).otherwise(pl.col("_LD")).alias("DAY"),
                          pl.coalesce("_PDY", "_LY").alias("PLOT_PCHG"))
            .with_columns(compute_pct_text(pl.col("PLOT_PCHG")).alias("PCHG_TEXT")))
    return pl.concat([points.select(list(schema)), ends.select(list(schema))]).select(
        [pl.col(c).cast(t) for c, t in schema.items()])


def summarize_target_sums(analysis: ResponseAnalysis) -> pl.DataFrame:
    """Every assessment of the sums for a listing: date, day, sum, % change, nadir, completeness.

    Example:
        >>> import datetime as dt
        >>> sums = pl.DataFrame({"USUBJID": ["1"], "ADT": [dt.date(2025, 10, 1)], "VISIT": ["WEEK 6"], "SUM": [30.0],
        ...     "BASE_SUM": [50.0], "PCHG": [-40.0], "NADIR": [50.0], "PCHG_NADIR": [-40.0], "COMPLETE": [True],
        ...     "BASELINE": [False], "READER": ["R1"]})
        >>> s = pl.DataFrame({"USUBJID": ["1"], "ARM_LABEL": ["A"], "RANDDT": [dt.date(2025, 9, 1)]})
        >>> a = ResponseAnalysis("MRECIST", "mRECIST", "BICR", True, "until_pd", pl.DataFrame(), sums, None, s, pl.DataFrame())
        >>> summarize_target_sums(a).row(0)
        ('1', 'A', 'WEEK 6', datetime.date(2025, 10, 1), 31, 'R1', 30.0, -40.0, 50.0, -40.0, 'Y')
    """
    if analysis.sums is None:
        return pl.DataFrame()
    s = analysis.subjects.select("USUBJID", "ARM_LABEL", "RANDDT")
    return (analysis.sums.join(s, on="USUBJID", how="inner").sort("USUBJID", "ADT")
            .select(pl.col("USUBJID"), pl.col("ARM_LABEL").alias("ARM"), "VISIT", "ADT",
                    compute_study_day(pl.col("ADT"), pl.col("RANDDT")).alias("DAY"), "READER",
                    pl.col("SUM").round(1), pl.col("PCHG").round(1), pl.col("NADIR").round(1),
                    pl.col("PCHG_NADIR").round(1),
                    pl.when(pl.col("BASELINE")).then(pl.lit("BASELINE"))
                    .when(pl.col("COMPLETE")).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("COMPLETE")))


def describe_analysis(analysis: ResponseAnalysis, protocol: Any) -> list[str]:
    """Sentences for the report: what was derived, from which records, and what was assumed.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> a = ResponseAnalysis("MRECIST", "mRECIST", "BICR", True, "until_pd",
        ...     pl.DataFrame({"USUBJID": ["1"], "AVALC": ["PR"], "VALID": [True], "SOURCE": ["RS"]}), None, None,
        ...     pl.DataFrame({"USUBJID": ["1"]}), pl.DataFrame())
        >>> describe_analysis(a, load_protocol("NCT07334483"))[0][:58]
        'Responses by BICR under mRECIST, from RS: 1 time-point res'
    """
    r = protocol.response
    source = analysis.time_points["SOURCE"][0] if analysis.time_points.height else "RS"
    lines = [f"Responses by {analysis.assessor} under {analysis.criteria_label}, from {source}: "
             f"{describe_time_points(analysis.time_points)}",
             f"Best overall response from the time-point responses on or after randomization up to and including "
             f"the first PD; SD (or NON-CR/NON-PD) counts only ≥ {r['sd_min_days']} days after randomization."
             + (f" Confirmed: a CR needs a CR, a PR a CR or PR, ≥ {r['confirmation_min_days']} days later with at "
                f"most {r['confirmation_max_ne']} NE between; otherwise it counts as SD when ≥ "
                f"{r['sd_min_days']} days, else NE." if analysis.confirmed else
                " Unconfirmed: a single CR or PR counts."),
             f"Best % change: the lowest % change in the sum of target diameters from baseline (the last "
             f"assessment on or before randomization) over post-baseline assessments with every baseline target "
             f"lesion measured"
             + (", up to and including the first PD" if analysis.window == "until_pd" else
                ", over every post-baseline assessment (best_change_window: all_post_baseline)")
             + ", before any new anticancer therapy. "
             + ("Under mRECIST the diameters are those of the viable (arterially enhancing) tumour."
                if analysis.criteria == "MRECIST" else
                "Nodal targets count by their short axis.")]
    return lines + list(analysis.notes)


def summarize_not_plotted(waterfall: pl.DataFrame) -> pl.DataFrame:
    """The randomized subjects without a bar, for the listing under the waterfall.

    Example:
        >>> w = pl.DataFrame({"USUBJID": ["1", "2"], "SITE": ["01", "02"], "ARM": ["A", "A"], "BOR": ["PR", "MISSING"],
        ...                   "PLOTTED": ["Y", "N"], "EXCLUSION_REASON": [None, "no post-baseline tumour assessment"]})
        >>> summarize_not_plotted(w).rows()
        [('2', '02', 'A', 'MISSING', 'no post-baseline tumour assessment')]
    """
    return (waterfall.filter(pl.col("PLOTTED") == "N")
            .select(pl.col("USUBJID").alias("Subject"), pl.col("SITE").alias("Site"), pl.col("ARM").alias("Arm"),
                    pl.col("BOR"), pl.col("EXCLUSION_REASON").alias("Reason not plotted")))


def summarize_response_listing(analysis: ResponseAnalysis) -> pl.DataFrame:
    """One row per randomized subject: arm, site, BOR with its day and reason, best % change.

    Example:
        >>> s = pl.DataFrame({"USUBJID": ["1"], "ARM_LABEL": ["A"], "SITE": ["01"], "BOR": ["NE"], "BOR_DAY": [None],
        ...                   "BOR_REASON": ["every time-point response is NE"], "BEST_PCHG": [None]})
        >>> a = ResponseAnalysis("MRECIST", "mRECIST", "BICR", True, "until_pd", pl.DataFrame(), None, None, s, pl.DataFrame())
        >>> summarize_response_listing(a).row(0)
        ('1', 'A', '01', 'NE', None, 'every time-point response is NE', None)
    """
    s = analysis.subjects
    best = (pl.col("BEST_PCHG") if "BEST_PCHG" in s.columns else pl.lit(None)).cast(pl.Float64).round(1)
    return s.select(pl.col("USUBJID").alias("Subject"), pl.col("ARM_LABEL").alias("Arm"), pl.col("SITE").alias("Site"),
                    pl.col("BOR"), pl.col("BOR_DAY").cast(pl.Int64).alias("BOR day"),
                    pl.col("BOR_REASON").alias("Reason / note"), best.alias("Best % change"))


def waterfall_titles(analysis: ResponseAnalysis, waterfall: pl.DataFrame) -> dict[str, Any]:
    """The title and subtitle of the waterfall + spider chart ("… — 104 plotted / 120 randomized").

    Example:
        >>> a = ResponseAnalysis("MRECIST", "mRECIST", "BICR", True, "until_pd", pl.DataFrame(), None, None,
        ...                      pl.DataFrame(), pl.DataFrame())
        >>> waterfall_titles(a, pl.DataFrame({"PLOTTED": ["Y", "N"]}))["title"]
        'Best % change in the sum of target diameters — 1 plotted / 2 randomized'
    """
    return {"title": f"Best % change in the sum of target diameters — {describe_plotted(waterfall)}",
            "subtitle": [f"{analysis.title} best overall response (colours). Bars above +{CLIP_PCT:.0f}% are "
                         f"clipped, their true value written above them; subjects without a bar are listed below.",
                         "Spider plot: % change from baseline over time; the line ends at the first PD, death or "
                         "the last assessment."]}
