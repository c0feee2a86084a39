"""Each subject's course on study: treatment given, responses, death, discontinuation (DESIGN sections 5, 6).

From SDTM EX/PR/DS/RS/AE/CM (or ADaM ADSL/ADEX/ADRS), pure polars, frames in and frames out:

- :func:`derive_treatment_records`: one row per study-treatment record, matched to the
  protocol's treatments by name (``EX.EXTRT`` / ``PR.PRTRT`` against
  ``protocol.treatment(key)["name"]``, any case), with study days. A drug given in single
  administrations (``frequency`` not daily, e.g. camrelizumab Q3W) gives one ``DOSE`` per
  record; a daily drug (apatinib QD) one ``INTERVAL`` per record, an interval without an
  end date being ongoing at the cutoff; procedures (PR) are ``SESSION`` s, a planning
  procedure (the 99mTc-MAA mapping, ``planning: true``) a ``PLANNING`` session. Without a
  protocol file every EX treatment is shown as recorded (its ``EXDOSFRQ`` decides dose or
  interval) and PR records are not study treatment.
- :func:`derive_cycles`: cycle k day 1 = the k-th dose of a drug (DESIGN section 6), with
  the days since the previous dose; :func:`compute_interval_class` names the interval
  against the protocol's schedule; :func:`derive_toxicity_holds` finds the AE behind a
  dose held for toxicity.
- :func:`derive_dosing_intervals` and :func:`derive_interruptions`: daily-drug intervals
  (contiguous records of one dose merged), dose changes, reduced doses and the gaps between.
- :func:`select_overall_responses` (overall time-point responses under the params'
  criteria and assessor) and :func:`summarize_response_course` (first CR/PR, first PD,
  duration of response, an unconfirmed BOR for sorting).
- :func:`derive_disposition` (end of treatment, end of study, death) and
  :func:`derive_subsequent_therapy` (CM).
- :func:`derive_swimmer` puts it together: ``swimmer_subjects`` and ``swimmer_events`` of
  DESIGN section 5, plus notes on what cannot be shown.

Conventions (admiral's where the protocol is silent):

- study day from the randomization date, no day 0 (:func:`trialkit.derive.days.compute_study_day`);
- a record without a complete start date cannot be placed: it is left out and counted
  (DESIGN section 2: impute only where a rule needs a date);
- an interval end (``EXENDTC``) that is partial is imputed to the last day of its period
  (admiral's end-date convention); an interval without an end is ongoing and runs to the
  data cutoff (or, without a cutoff, to the last date in the data);
- a death known to the month only is imputed to the first day of the month, but never
  before the subject's last other record (admiral's ``derive_vars_dt`` start convention
  with the last record as minimum), and says so.

Example:
    >>> import datetime as dt
    >>> from trialkit.protocol import load_protocol
    >>> subjects = pl.DataFrame({"USUBJID": ["1"], "ARMCD": ["B"], "ARM_LABEL": ["B: SIRT + camrelizumab"],
    ...                          "RANDDT": [dt.date(2025, 9, 1)]})
    >>> ex = pl.DataFrame({"USUBJID": ["1", "1"], "EXTRT": ["camrelizumab"] * 2, "EXDOSE": [200.0] * 2,
    ...                    "EXSTDTC": ["2025-09-03", "2025-09-24"], "EXENDTC": ["2025-09-03", "2025-09-24"]})
    >>> records = derive_treatment_records({"ex": ex}, subjects, protocol=load_protocol("NCT07334483"))
    >>> derive_cycles(records).select("KEY", "CYCLE", "START_DAY", "GAP_DAYS").rows()
    [('CAMRELIZUMAB', 1, 3, None), ('CAMRELIZUMAB', 2, 24, 21)]
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from trialkit.derive.days import compute_days_between, compute_study_day
from trialkit.format import MISSING, compute_count_text, compute_fixed_text, compute_n_pct_text
from trialkit.io.dates import compute_date
from trialkit.io.terms import RESPONSE_TERMS, col_or_null, compute_normalized_name, compute_term

#: EXDOSFRQ / protocol frequencies of a drug taken every day (or several times a day): its
#: records are intervals, not single administrations.
CONTINUOUS_FREQUENCIES = frozenset({"QD", "BID", "TID", "QID", "QOD", "Q12H", "Q8H", "Q6H", "Q4H", "QAM", "QPM",
                                    "QHS", "CONTINUOUS", "EVERY DAY", "DAILY", "ONCE DAILY", "TWICE DAILY"})
KINDS = ("DOSE", "INTERVAL", "SESSION", "PLANNING")
#: ADaM PARAMCDs of overall time-point responses (admiralonco OVR/OVRB, SDTM's OVRLRESP, ...).
OVERALL_PARAMCDS = ("OVR", "OVRB", "OVRLRESP", "OVRINV", "OVRBICR", "OVRALL")
#: admiral's worst-response order per date (ANL01FL): a higher number is worse.
_WORST = {"NE": 1, "CR": 2, "PR": 3, "SD": 4, "NON-CR/NON-PD": 5, "PD": 6}
#: BOR order, best first (CDISC terms; MISSING = no assessment).
BOR_ORDER = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING")
#: DS terms that are milestones, not a discontinuation.
_NOT_ENDINGS = ("RANDOMIZED", "INFORMED CONSENT OBTAINED", "SCREEN FAILURE", "ELIGIBILITY CRITERIA NOT MET")
_CM_ANTICANCER = r"ANTI-?CANCER|ANTINEOPLASTIC|ANTI-?TUMOU?R|ONCOLOG"

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "USUBJID": pl.String, "DOMAIN": pl.String, "SEQ": pl.Int64, "NAME": pl.String, "START_DTC": pl.String,
    "START": pl.Date, "END": pl.Date, "END_RECORDED": pl.Boolean, "DOSE": pl.Float64, "DOSU": pl.String,
    "FREQ": pl.String, "OCCUR": pl.String, "ADJ": pl.String, "LAT": pl.String,
}


# --------------------------------------------------------------------------------------------
# The protocol's treatments
# --------------------------------------------------------------------------------------------
def treatment_label(protocol, key: str) -> str:
    """How reports name a treatment: its ``label`` in the protocol file, else its name in sentence case.

    Acronyms and codes (short all-capital words, words with digits or brackets) keep their case.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> treatment_label(load_protocol("NCT07334483"), "CTACE")
        'cTACE'
    """
    spec = protocol.treatments.get(key) or {}
    if spec.get("label"):
        return str(spec["label"])
    return sentence_case(str(spec.get("name") or key).replace("_", " "))


def capitalize_label(text: str) -> str:
    """A label at the start of a sentence or legend entry: "camrelizumab" -> "Camrelizumab"; "cTACE" stays.

    Example:
        >>> capitalize_label("camrelizumab"), capitalize_label("cTACE"), capitalize_label("99mTc-MAA mapping")
        ('Camrelizumab', 'cTACE', '99mTc-MAA mapping')
    """
    if len(text) > 1 and text[0].islower() and text[1].islower():
        return text[0].upper() + text[1:]
    return text


def treatment_title(protocol, key: str) -> str:
    """:func:`treatment_label` as the first word of a sentence or legend entry."""
    return capitalize_label(treatment_label(protocol, key))


def sentence_case(text: str) -> str:
    """``"CONVENTIONAL TACE"`` -> ``"Conventional TACE"``: long plain words lower case, codes kept.

    Example:
        >>> sentence_case("YTTRIUM [90Y] MICROSPHERE SIRT"), sentence_case("XANOMELINE")
        ('Yttrium [90Y] microsphere SIRT', 'Xanomeline')
    """
    words = []
    for i, word in enumerate(text.split()):
        plain = word.isalpha() and len(word) > 4
        if plain:
            word = word.lower()
            if i == 0:
                word = word.capitalize()
        words.append(word)
    return " ".join(words)


def treatment_kind(protocol, key: str, *, frequency: str | None = None) -> str:
    """DOSE, INTERVAL, SESSION or PLANNING for a treatment of the protocol (see the module notes).

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> p = load_protocol("NCT07334483")
        >>> [treatment_kind(p, k) for k in ("CAMRELIZUMAB", "APATINIB", "MAA_MAPPING", "SIRT")]
        ['DOSE', 'INTERVAL', 'PLANNING', 'SESSION']
    """
    spec = protocol.treatments.get(key) or {}
    if str(spec.get("domain", "")).upper() == "PR":
        return "PLANNING" if spec.get("planning") else "SESSION"
    freq = str(spec.get("frequency") or frequency or "").strip().upper()
    return "INTERVAL" if freq in CONTINUOUS_FREQUENCIES else "DOSE"


def _names_to_keys(protocol) -> dict[str, str]:
    """Upper-case treatment name (and key) -> protocol key."""
    table: dict[str, str] = {}
    for key, spec in protocol.treatments.items():
        for name in (spec.get("name"), key):
            if name:
                table.setdefault(re.sub(r"\s+", " ", str(name).strip().upper()), str(key))
    return table


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------
def _date_expr(frame: pl.DataFrame, column: str | None, *, impute: str | None = None) -> pl.Expr:
    if column is None or column not in frame.columns:
        return pl.lit(None, pl.Date)
    dtype = frame.schema[column]
    if dtype == pl.Date:
        return pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    if impute is None:
        # a complete date or datetime: its first 10 characters (what compute_date does, without regexes)
        return pl.col(column).cast(pl.String).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    # imputed: compute_date once per distinct text (a few thousand dates in millions of rows)
    mapping = _distinct_map(frame, column, lambda e: compute_date(e, impute=impute))
    return pl.col(column).cast(pl.String).replace_strict(mapping, default=None, return_dtype=pl.Date)


def _text(frame: pl.DataFrame, column: str) -> pl.Expr:
    return col_or_null(frame, column)


def _distinct_map(frame: pl.DataFrame, column: str, expr) -> dict:
    """``expr`` (a ``pl.Expr`` -> ``pl.Expr`` function) of every distinct value of a column, as a dict.

    SDTM text columns hold few distinct values in millions of rows (RSTESTCD, EXTRT): the
    regular expressions of :func:`compute_term` run once per value, not once per row.
    """
    values = frame.get_column(column).cast(pl.String).unique().drop_nulls()
    mapped = pl.DataFrame({"V": values}).select(expr(pl.col("V")).alias("M"))["M"]
    return dict(zip(values.to_list(), mapped.to_list(), strict=True))


def _run_id(*columns: str) -> pl.Expr:
    """An integer id of each run of equal ``columns`` values: on a frame sorted by them, a group id.

    Windows over an integer (``.over(_run_id(...))``) are much faster than over several text
    columns on the 100,000-subject demo.
    """
    return pl.struct(columns).rle_id()


def _term(frame: pl.DataFrame, column: str) -> pl.Expr:
    """:func:`compute_term` of a column, computed per distinct value (null when the column is absent)."""
    if column not in frame.columns:
        return pl.lit(None, pl.String)
    return pl.col(column).cast(pl.String).replace_strict(_distinct_map(frame, column, compute_term), default=None,
                                                         return_dtype=pl.String)


def _vocabulary_key(frame: pl.DataFrame, column: str, vocabulary: Mapping[str, str]) -> pl.Expr:
    """The protocol key an --EVAL/--CAT value names (any accepted spelling), or null."""
    names = _distinct_map(frame, column, compute_normalized_name)
    return pl.col(column).cast(pl.String).replace_strict(
        {raw: vocabulary.get(norm) for raw, norm in names.items()}, default=None, return_dtype=pl.String)


def _exposure_records(ex: pl.DataFrame, domain: str) -> pl.DataFrame:
    """EX (or ADEX interval records) in the common record shape."""
    if domain == "ADEX":
        start_col = "ASTDT" if "ASTDT" in ex.columns else "EXSTDTC"
        end_col = "AENDT" if "AENDT" in ex.columns else "EXENDTC"
        keep = pl.col("EXTRT").is_not_null() if "EXTRT" in ex.columns else pl.lit(False)
        if "PARCAT1" in ex.columns:
            keep = keep & (_term(ex, "PARCAT1").fill_null("") != "OVERALL")
        ex = (ex.filter(keep)
              .unique(subset=[c for c in ("USUBJID", "EXTRT", start_col, end_col, "EXDOSE") if c in ex.columns],
                      keep="first", maintain_order=True))
    else:
        start_col, end_col = "EXSTDTC", "EXENDTC"
    start_text = (pl.col(start_col).cast(pl.String).str.slice(0, 10) if start_col in ex.columns
                  else pl.lit(None, pl.String))
    return ex.select(
        pl.col("USUBJID").cast(pl.String),
        pl.lit(domain).alias("DOMAIN"),
        col_or_null(ex, "EXSEQ", pl.Int64).alias("SEQ"),
        _term(ex, "EXTRT").alias("NAME"),
        start_text.alias("START_DTC"),
        _date_expr(ex, start_col).alias("START"),
        _date_expr(ex, end_col, impute="end").alias("END"),
        (col_or_null(ex, end_col).is_not_null() if end_col in ex.columns else pl.lit(False)).alias("END_RECORDED"),
        col_or_null(ex, "EXDOSE", pl.Float64).alias("DOSE"),
        _text(ex, "EXDOSU").alias("DOSU"),
        _term(ex, "EXDOSFRQ").alias("FREQ"),
        _term(ex, "EXOCCUR").alias("OCCUR"),
        _term(ex, "EXADJ").alias("ADJ"),
        pl.lit(None, pl.String).alias("LAT"),
    ).cast(RECORD_SCHEMA)


def _procedure_records(pr: pl.DataFrame) -> pl.DataFrame:
    start = "PRSTDTC" if "PRSTDTC" in pr.columns else "PRDTC"
    return pr.select(
        pl.col("USUBJID").cast(pl.String),
        pl.lit("PR").alias("DOMAIN"),
        col_or_null(pr, "PRSEQ", pl.Int64).alias("SEQ"),
        _term(pr, "PRTRT").alias("NAME"),
        col_or_null(pr, start).str.slice(0, 10).alias("START_DTC"),
        _date_expr(pr, start).alias("START"),
        _date_expr(pr, start).alias("END"),
        pl.lit(True).alias("END_RECORDED"),
        col_or_null(pr, "PRDOSE", pl.Float64).alias("DOSE"),
        _text(pr, "PRDOSU").alias("DOSU"),
        pl.lit(None, pl.String).alias("FREQ"),
        _term(pr, "PROCCUR").alias("OCCUR"),
        pl.lit(None, pl.String).alias("ADJ"),
        _term(pr, "PRLAT").alias("LAT"),
    ).cast(RECORD_SCHEMA)


def derive_treatment_records(frames: Mapping[str, pl.DataFrame], subjects: pl.DataFrame, *, protocol,
                             data_cutoff: dt.date | None = None) -> pl.DataFrame:
    """One row per study-treatment record of the subjects, matched to the protocol (module notes).

    Args:
        frames: dataset -> frame, already cut at the data cutoff (``ex`` or ``adex``; ``pr``).
        subjects: one row per subject: ``USUBJID, ARMCD, ARM_LABEL, RANDDT``.
        protocol: the study's protocol (its treatments' names, kinds and doses).
        data_cutoff: where an ongoing interval ends; None: at the subject's last dose date (and it
            is not called ongoing).

    Returns:
        ``USUBJID, ARMCD, ARM, DOMAIN, SEQ, NAME`` (as recorded, upper case), ``KEY`` (the
        protocol's key, or the name for an EX treatment of a study without a protocol file),
        ``LABEL, KIND`` (DOSE | INTERVAL | SESSION | PLANNING), ``START, END`` (an interval's
        effective end: the data cutoff when ongoing), ``ONGOING`` (bool), ``DOSE, DOSU, FREQ,
        ADJ, LAT, PLANNED_DOSE, RANDDT, START_DAY, END_DAY, PLACED`` (a complete start date
        and a randomization date: the record can be drawn and checked). Records that were not
        given (``EXOCCUR`` "N", or a dose of 0 of a drug whose protocol dose is not 0) and PR
        records of no protocol treatment are left out.
    """
    parts = []
    if frames.get("ex") is not None and "USUBJID" in frames["ex"].columns:
        parts.append(_exposure_records(frames["ex"], "EX"))
    elif frames.get("adex") is not None and "USUBJID" in frames["adex"].columns:
        parts.append(_exposure_records(frames["adex"], "ADEX"))
    if frames.get("pr") is not None and "USUBJID" in frames["pr"].columns and not protocol.generic:
        parts.append(_procedure_records(frames["pr"]))
    records = pl.concat(parts) if parts else pl.DataFrame(schema=RECORD_SCHEMA)
    names = _names_to_keys(protocol)
    key = pl.col("NAME").replace_strict(names, default=None, return_dtype=pl.String)
    if protocol.generic:
        # no protocol file: every EX treatment is shown as recorded
        key = pl.when(pl.col("DOMAIN") != "PR").then(pl.coalesce(key, pl.col("NAME")))
    records = records.with_columns(key.alias("KEY")).filter(pl.col("KEY").is_not_null())
    keys = records["KEY"].unique().to_list()
    planned = {k: float((protocol.treatments.get(k) or {}).get("dose")) for k in keys
               if (protocol.treatments.get(k) or {}).get("dose") is not None}
    labels = {k: treatment_label(protocol, k) for k in keys}
    kinds = {k: treatment_kind(protocol, k) for k in keys if k in protocol.treatments}
    kind = pl.col("KEY").replace_strict(kinds, default=None, return_dtype=pl.String)
    # a drug without a protocol entry: its EXDOSFRQ, else an end after the start, says interval
    generic_kind = (pl.when(pl.col("FREQ").is_in(list(CONTINUOUS_FREQUENCIES))
                            | (pl.col("END").is_not_null() & (pl.col("END") > pl.col("START")))
                            | (pl.col("END").is_null() & ~pl.col("END_RECORDED")))
                    .then(pl.lit("INTERVAL")).otherwise(pl.lit("DOSE")))
    planned_dose = pl.col("KEY").replace_strict(planned, default=None, return_dtype=pl.Float64)
    given = (pl.col("OCCUR").fill_null("Y") != "N") & ~(
        (pl.col("DOSE") == 0).fill_null(False) & (planned_dose.fill_null(0) > 0))
    records = records.with_columns(
        pl.col("KEY").replace_strict(labels, default=None, return_dtype=pl.String).alias("LABEL"),
        pl.coalesce(kind, generic_kind).alias("KIND"),
        planned_dose.alias("PLANNED_DOSE"),
    ).filter(given)
    # an interval without an end runs to the cutoff; without a cutoff, to the subject's last dose date
    open_end = (pl.lit(data_cutoff, pl.Date) if data_cutoff is not None
                else pl.max_horizontal(pl.col("START"), pl.col("END")).max().over("USUBJID"))
    interval = pl.col("KIND") == "INTERVAL"
    ongoing = interval & pl.col("END").is_null() & pl.col("START").is_not_null()
    if data_cutoff is None:
        ongoing = pl.lit(False)   # no cutoff: an interval without an end is not known to go on
    end = (pl.when(interval).then(pl.coalesce(pl.col("END"), open_end))
           .otherwise(pl.col("START")))
    end = pl.max_horizontal(end, pl.col("START"))   # an end before the start is read as the start day
    base = subjects.select(pl.col("USUBJID").cast(pl.String), pl.col("ARMCD").cast(pl.String),
                           col_or_null(subjects, "ARM_LABEL").alias("ARM"), pl.col("RANDDT").cast(pl.Date))
    out = (records.join(base, on="USUBJID", how="inner")
           .with_columns(ongoing.alias("ONGOING"), end.alias("END"))
           .with_columns(compute_study_day(pl.col("START"), pl.col("RANDDT")).alias("START_DAY"),
                         compute_study_day(pl.col("END"), pl.col("RANDDT")).alias("END_DAY"),
                         (pl.col("START").is_not_null() & pl.col("RANDDT").is_not_null()).alias("PLACED")))
    order = {k: i for i, k in enumerate(protocol.treatments)}
    return (out.with_columns(pl.col("KEY").replace_strict(order, default=len(order), return_dtype=pl.Int64)
                             .alias("_ORDER"))
            .sort("USUBJID", "_ORDER", "START", "SEQ", nulls_last=True)
            .select("USUBJID", "ARMCD", "ARM", "DOMAIN", "SEQ", "NAME", "KEY", "LABEL", "KIND", "START", "END",
                    "ONGOING", "DOSE", "DOSU", "FREQ", "ADJ", "LAT", "PLANNED_DOSE", "RANDDT", "START_DAY",
                    "END_DAY", "PLACED"))


def derive_cycles(records: pl.DataFrame) -> pl.DataFrame:
    """Add ``CYCLE`` (k = the k-th dose of its drug), ``PREV_START`` and ``GAP_DAYS`` to DOSE records.

    DESIGN section 6: cycle k day 1 = the k-th dose. ``GAP_DAYS`` is the number of days
    from the previous dose of the same drug (date difference: 21 for two Mondays three weeks
    apart); null for the first. Other records get nulls. Records that cannot be placed (no
    complete start date) take no cycle number.

    Example:
        >>> import datetime as dt
        >>> doses = pl.DataFrame({"USUBJID": ["1", "1", "1"], "KEY": ["C"] * 3, "KIND": ["DOSE"] * 3,
        ...                       "START": [dt.date(2025, 9, 1), dt.date(2025, 9, 22), dt.date(2025, 10, 20)],
        ...                       "PLACED": [True] * 3})
        >>> derive_cycles(doses).select("CYCLE", "GAP_DAYS").rows()
        [(1, None), (2, 21), (3, 28)]
    """
    is_dose = (pl.col("KIND") == "DOSE") & pl.col("PLACED")
    ranked = (records.with_row_index("_ROW")
              .with_columns(pl.when(is_dose).then(pl.col("START")).alias("_DOSE_START")))
    doses = (ranked.filter(is_dose).select("_ROW", "USUBJID", "KEY", "START").sort("USUBJID", "KEY", "START", "_ROW")
             .with_columns(_run_id("USUBJID", "KEY").alias("_G"))
             .with_columns((pl.int_range(pl.len()).over("_G") + 1).cast(pl.Int64).alias("CYCLE"),
                           pl.col("START").shift(1).over("_G").alias("PREV_START"))
             .with_columns((pl.col("START") - pl.col("PREV_START")).dt.total_days().cast(pl.Int64).alias("GAP_DAYS"))
             .select("_ROW", "CYCLE", "PREV_START", "GAP_DAYS"))
    return ranked.join(doses, on="_ROW", how="left").drop("_ROW", "_DOSE_START")


def compute_interval_class(gap_days: pl.Expr, treatment: Mapping[str, Any]) -> pl.Expr:
    """The days since the previous dose against a treatment's schedule (DESIGN section 6).

    With ``interval_days`` d, ``window_days`` w and ``permitted_delay_days`` p of the protocol:
    ``"EARLY"`` below d - w, ``"ON SCHEDULE"`` from d - w to d + w, ``"PERMITTED DELAY"`` above
    d + w up to d + p, ``"LATE"`` above d + p; ``"FIRST"`` for the first dose (no gap); null
    when the protocol gives no interval.

    Example:
        >>> cam = {"interval_days": 21, "window_days": 3, "permitted_delay_days": 7}
        >>> pl.DataFrame({"G": [None, 17, 18, 24, 25, 28, 29]}).select(
        ...     compute_interval_class(pl.col("G"), cam)).to_series().to_list()
        ['FIRST', 'EARLY', 'ON SCHEDULE', 'ON SCHEDULE', 'PERMITTED DELAY', 'PERMITTED DELAY', 'LATE']
    """
    if treatment.get("interval_days") is None:
        return pl.lit(None, pl.String)
    interval = int(treatment["interval_days"])
    window = int(treatment.get("window_days") or 0)
    delay = int(treatment.get("permitted_delay_days") or window)
    return (pl.when(gap_days.is_null()).then(pl.lit("FIRST"))
            .when(gap_days < interval - window).then(pl.lit("EARLY"))
            .when(gap_days <= interval + window).then(pl.lit("ON SCHEDULE"))
            .when(gap_days <= interval + delay).then(pl.lit("PERMITTED DELAY"))
            .otherwise(pl.lit("LATE")))


def _interruptions_from_ae(adverse_events: pl.DataFrame | None) -> pl.DataFrame:
    """AEs whose action on a study drug was DRUG INTERRUPTED: USUBJID, AE_START, AE_TERM, AE_DRUG."""
    schema = {"USUBJID": pl.String, "AE_START": pl.Date, "AE_TERM": pl.String, "AE_DRUG": pl.String}
    if adverse_events is None or not {"USUBJID", "AEACN"} <= set(adverse_events.columns):
        return pl.DataFrame(schema=schema)
    start = "AESTDTC" if "AESTDTC" in adverse_events.columns else "ASTDT"
    return (adverse_events
            .filter(_term(adverse_events, "AEACN") == "DRUG INTERRUPTED")
            .select(pl.col("USUBJID").cast(pl.String),
                    _date_expr(adverse_events, start).alias("AE_START"),
                    pl.coalesce(col_or_null(adverse_events, "AEDECOD"), col_or_null(adverse_events, "AETERM"))
                    .alias("AE_TERM"),
                    _term(adverse_events, "AEACNTRT").alias("AE_DRUG"))
            .filter(pl.col("AE_START").is_not_null())
            .cast(schema))


def derive_toxicity_holds(doses: pl.DataFrame, adverse_events: pl.DataFrame | None) -> pl.DataFrame:
    """Add ``HOLD_AE`` (the AE term) and ``HOLD_AE_DATE`` to doses held for toxicity.

    DESIGN section 6: a dose was held for toxicity when an AE with ``AEACN`` "DRUG
    INTERRUPTED" started on or after the previous dose and before this one. When the AE
    names the drug it acted on (``AEACNTRT``, a sponsor variable; SDTMIG puts it in SUPPAE
    when a subject takes several drugs), it must name this drug; an AE that names none counts
    for any drug. The first such AE is given. Needs :func:`derive_cycles` (``PREV_START``).

    Example:
        >>> import datetime as dt
        >>> doses = pl.DataFrame({"USUBJID": ["1", "1"], "NAME": ["CAM", "CAM"],
        ...                       "START": [dt.date(2025, 9, 1), dt.date(2025, 10, 6)],
        ...                       "PREV_START": [None, dt.date(2025, 9, 1)]})
        >>> ae = pl.DataFrame({"USUBJID": ["1"], "AEACN": ["DRUG INTERRUPTED"], "AEDECOD": ["Colitis"],
        ...                    "AESTDTC": ["2025-09-15"]})
        >>> derive_toxicity_holds(doses, ae)["HOLD_AE"].to_list()
        [None, 'Colitis']
    """
    holds = _interruptions_from_ae(adverse_events)
    keyed = doses.with_row_index("_ROW")
    found = (keyed.filter(pl.col("PREV_START").is_not_null())
             .select("_ROW", "USUBJID", "NAME", "START", "PREV_START")
             .join(holds, on="USUBJID", how="inner")
             .filter((pl.col("AE_START") >= pl.col("PREV_START")) & (pl.col("AE_START") < pl.col("START"))
                     & (pl.col("AE_DRUG").is_null() | (pl.col("AE_DRUG") == pl.col("NAME"))))
             .sort("_ROW", "AE_START")
             .group_by("_ROW", maintain_order=True)
             .agg(pl.col("AE_TERM").first().alias("HOLD_AE"), pl.col("AE_START").first().alias("HOLD_AE_DATE")))
    return keyed.join(found, on="_ROW", how="left").drop("_ROW")


def derive_dosing_intervals(records: pl.DataFrame) -> pl.DataFrame:
    """Daily-drug intervals for display: contiguous records of one dose merged, dose changes named.

    Records of a drug whose next record starts the day after (or before) this one ends, at
    the same dose, are one interval (sponsors split intervals at visits). Adds ``REDUCED``
    (a dose below the protocol's planned dose), ``DOSE_CHANGE`` ("REDUCED" | "INCREASED" |
    null, against the previous interval) and ``PREV_END``.

    Example:
        >>> import datetime as dt
        >>> d = lambda m, day: dt.date(2025, m, day)
        >>> recs = pl.DataFrame({"USUBJID": ["1"] * 3, "KEY": ["APA"] * 3, "KIND": ["INTERVAL"] * 3,
        ...     "START": [d(9, 1), d(9, 11), d(10, 1)], "END": [d(9, 10), d(9, 20), d(10, 9)],
        ...     "ONGOING": [False] * 3, "DOSE": [250.0, 250.0, 125.0], "PLANNED_DOSE": [250.0] * 3,
        ...     "PLACED": [True] * 3})
        >>> derive_dosing_intervals(recs).select("START", "END", "DOSE_CHANGE").rows()
        [(datetime.date(2025, 9, 1), datetime.date(2025, 9, 20), None), (datetime.date(2025, 10, 1), datetime.date(2025, 10, 9), 'REDUCED')]
    """
    cols = [c for c in records.columns]
    intervals = (records.filter((pl.col("KIND") == "INTERVAL") & pl.col("PLACED")).sort("USUBJID", "KEY", "START")
                 .with_columns(_run_id("USUBJID", "KEY").alias("_G")))
    prev_end = pl.col("END").shift(1).over("_G")
    prev_dose = pl.col("DOSE").shift(1).over("_G")
    starts_new = (prev_end.is_null() | (pl.col("START") > prev_end + pl.duration(days=1))
                  | (pl.col("DOSE").fill_null(-1) != prev_dose.fill_null(-1)))
    grouped = intervals.with_columns(starts_new.cast(pl.Int64).cum_sum().over("_G").alias("_RUN"))
    last = [c for c in ("END", "END_DAY") if c in cols]
    merged = (grouped.group_by("_G", "_RUN", maintain_order=True)
              .agg(pl.all().exclude(*last, "ONGOING", "_G", "_RUN").first(), *[pl.col(c).max() for c in last],
                   pl.col("ONGOING").any())
              .select(*cols, "_G"))
    return merged.with_columns(
        (pl.col("DOSE") < pl.col("PLANNED_DOSE")).fill_null(False).alias("REDUCED"),
        pl.when(pl.col("DOSE") < prev_dose).then(pl.lit("REDUCED"))
        .when(pl.col("DOSE") > prev_dose).then(pl.lit("INCREASED")).alias("DOSE_CHANGE"),
        prev_end.alias("PREV_END")).drop("_G")


def derive_interruptions(intervals: pl.DataFrame, adverse_events: pl.DataFrame | None = None,
                         sessions: pl.DataFrame | None = None, *, washout_days: int | None = None) -> pl.DataFrame:
    """The gaps between a daily drug's intervals: ``USUBJID, KEY, START, END`` (the days off), ``REASON``.

    The reason is the AE with action DRUG INTERRUPTED (on this drug when ``AEACNTRT`` says)
    that started during the previous interval or on the first day off; else "SIRT washout"
    style text when a ``sessions`` date (e.g. a SIRT) falls within ``washout_days`` of the
    gap; else "not recorded".

    Example:
        >>> import datetime as dt
        >>> iv = pl.DataFrame({"USUBJID": ["1", "1"], "KEY": ["APA"] * 2, "NAME": ["APATINIB"] * 2,
        ...     "START": [dt.date(2025, 9, 1), dt.date(2025, 9, 20)], "END": [dt.date(2025, 9, 10), dt.date(2025, 9, 30)],
        ...     "PREV_END": [None, dt.date(2025, 9, 10)]})
        >>> derive_interruptions(iv).select("START", "END", "REASON").rows()
        [(datetime.date(2025, 9, 11), datetime.date(2025, 9, 19), 'not recorded')]
    """
    schema = {"USUBJID": pl.String, "KEY": pl.String, "START": pl.Date, "END": pl.Date, "REASON": pl.String}
    gaps = (intervals.sort("USUBJID", "KEY", "START")
            .with_columns(pl.col("START").shift(1).over("USUBJID", "KEY").alias("_PREV_START"))
            .filter(pl.col("PREV_END").is_not_null() & (pl.col("START") > pl.col("PREV_END") + pl.duration(days=1)))
            .select("USUBJID", "KEY", col_or_null(intervals, "NAME").alias("NAME"), "_PREV_START",
                    (pl.col("PREV_END") + pl.duration(days=1)).alias("START"),
                    (pl.col("START") - pl.duration(days=1)).alias("END"))
            .with_row_index("_ROW"))
    holds = _interruptions_from_ae(adverse_events)
    by_ae = (gaps.join(holds, on="USUBJID", how="inner")
             .filter((pl.col("AE_START") >= pl.col("_PREV_START")) & (pl.col("AE_START") <= pl.col("START"))
                     & (pl.col("AE_DRUG").is_null() | (pl.col("AE_DRUG") == pl.col("NAME"))))
             .sort("_ROW", "AE_START").group_by("_ROW").agg(pl.col("AE_TERM").last().alias("_AE")))
    gaps = gaps.join(by_ae, on="_ROW", how="left")
    if sessions is not None and washout_days is not None and sessions.height:
        near = (gaps.join(sessions.select("USUBJID", pl.col("START").alias("_S"), pl.col("LABEL").alias("_SL")),
                          on="USUBJID", how="inner")
                .filter((pl.col("_S") >= pl.col("START") - pl.duration(days=washout_days))
                        & (pl.col("_S") <= pl.col("END") + pl.duration(days=washout_days)))
                .group_by("_ROW").agg(pl.col("_SL").first().alias("_SESSION")))
        gaps = gaps.join(near, on="_ROW", how="left")
    else:
        gaps = gaps.with_columns(pl.lit(None, pl.String).alias("_SESSION"))
    reason = (pl.when(pl.col("_AE").is_not_null()).then(pl.format("AE: {}", pl.col("_AE")))
              .when(pl.col("_SESSION").is_not_null()).then(pl.format("{} washout", pl.col("_SESSION")))
              .otherwise(pl.lit("not recorded")))
    return gaps.sort("_ROW").select("USUBJID", "KEY", "START", "END", reason.alias("REASON")).cast(schema)


# --------------------------------------------------------------------------------------------
# Responses (small on purpose: the waterfall's trialkit.derive.response may replace it)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResponseChoice:
    """The criteria and assessor whose responses are shown, and where they come from."""

    criteria: str | None
    assessor: str | None
    source: str
    note: str


def _choices(protocol, criteria: str, assessor: str) -> list[tuple[str | None, str | None]]:
    primary = protocol.response.get("primary") or {}
    crit = protocol.criteria_key(criteria) if criteria else None
    assr = protocol.assessor_key(assessor) if assessor else None
    if criteria and crit is None:
        crit = str(criteria)
    if assessor and assr is None:
        assr = str(assessor)
    crits = [crit] if crit else [primary.get("criteria")] + [k for k in protocol.criteria if k != primary.get("criteria")]
    assrs = [assr] if assr else [primary.get("assessor")] + [k for k in protocol.assessors if k != primary.get("assessor")]
    return [(c, a) for c in crits for a in assrs if c or a] or [(None, None)]


def _rs_responses(rs: pl.DataFrame, protocol) -> pl.DataFrame:
    """RS overall responses with CRITERIA/ASSESSOR keys and ACCEPTED (RSACPTFL = Y)."""
    crit_vocab = protocol.vocabulary("criteria")
    assr_vocab = protocol.vocabulary("assessor")
    date_col = "RSDTC" if "RSDTC" in rs.columns else "RSSTDTC"
    if "RSTESTCD" not in rs.columns:
        rs = rs.clear()
    else:   # the overall responses first (a third of RS), only the columns needed (RS is the largest dataset)
        wanted = [c for c in ("USUBJID", date_col, "RSSTRESC", "RSCAT", "RSEVAL", "RSACPTFL") if c in rs.columns]
        spellings = [raw for raw, term in _distinct_map(rs, "RSTESTCD", compute_term).items() if term == "OVRLRESP"]
        rs = (rs.lazy().select(*wanted, "RSTESTCD").filter(pl.col("RSTESTCD").cast(pl.String).is_in(spellings))
              .select(wanted).collect())
    frame = rs.select(
        pl.col("USUBJID").cast(pl.String),
        _date_expr(rs, date_col).alias("DATE"),
        _term(rs, "RSSTRESC").alias("RESPONSE"),
        _vocabulary_key(rs, "RSCAT", crit_vocab).alias("CRITERIA") if "RSCAT" in rs.columns
        else pl.lit("*").alias("CRITERIA"),
        _vocabulary_key(rs, "RSEVAL", assr_vocab).alias("ASSESSOR") if "RSEVAL" in rs.columns
        else pl.lit("*").alias("ASSESSOR"),
        (_term(rs, "RSACPTFL") == "Y").fill_null(False).alias("ACCEPTED"),
    )
    return frame


def _adrs_responses(adrs: pl.DataFrame, protocol, adam_paramcd: Mapping[str, str] | None) -> pl.DataFrame:
    codes = list(OVERALL_PARAMCDS)
    if adam_paramcd and adam_paramcd.get("overall"):
        codes = [str(adam_paramcd["overall"]).upper()]
    keep = _term(adrs, "PARAMCD").is_in(codes)
    if "DTYPE" in adrs.columns:
        keep = keep & col_or_null(adrs, "DTYPE").is_null()    # derived records are never assessments
    crit_vocab = protocol.vocabulary("criteria")
    assr_vocab = protocol.vocabulary("assessor")
    crit_col = next((c for c in ("RSCAT", "PARCAT3", "PARCAT2") if c in adrs.columns), None)
    assr_col = next((c for c in ("RSEVAL", "PARCAT2") if c in adrs.columns), None)

    def vocab(column: str | None, table: dict) -> pl.Expr:
        if column is None:
            return pl.lit("*")
        mapped = _vocabulary_key(adrs, column, table)
        return pl.coalesce(mapped, pl.lit("*")) if column == "PARCAT2" else mapped

    accepted = (_term(adrs, "RSACPTFL") == "Y").fill_null(False)
    frame = adrs.filter(keep).select(
        pl.col("USUBJID").cast(pl.String),
        _date_expr(adrs, "ADT" if "ADT" in adrs.columns else "RSDTC").alias("DATE"),
        compute_term(pl.coalesce(col_or_null(adrs, "AVALC"), col_or_null(adrs, "RSSTRESC"))).alias("RESPONSE"),
        vocab(crit_col, crit_vocab).alias("CRITERIA"),
        vocab(assr_col, assr_vocab).alias("ASSESSOR"),
        accepted.alias("ACCEPTED"))
    return frame


def select_overall_responses(frames: Mapping[str, pl.DataFrame], subjects: pl.DataFrame, *, protocol,
                             criteria: str = "", assessor: str = "",
                             adam_paramcd: Mapping[str, str] | None = None) -> tuple[pl.DataFrame, ResponseChoice]:
    """Overall time-point responses under one criteria and assessor (DESIGN section 6).

    RS ``OVRLRESP`` records (else ADRS overall-response PARAMCDs: OVR, OVRB, OVRLRESP, ...,
    or ``adam_paramcd["overall"]``; derived ``DTYPE`` records left out) whose ``RSCAT`` names
    the criteria and ``RSEVAL`` the assessor (any accepted spelling); when several readers
    scored an assessment, the accepted read (``RSACPTFL`` = "Y"). A dataset without
    ``RSCAT``/``RSEVAL`` holds one criteria/assessor only. One row per subject and date on
    or after randomization: the worst response of the date (admiral's ANL01FL order NE <
    CR < PR < SD < NON-CR/NON-PD < PD). Terms that are not responses (e.g. "CHECK") are
    never counted; they are counted in the note.

    Empty ``criteria``/``assessor`` mean the protocol's primary endpoint's, and when no such
    record exists, the first choice of the protocol that has records (the note says so).

    Returns:
        ``USUBJID, DATE, RESPONSE, RANDDT, DAY`` and the :class:`ResponseChoice`.

    Example:
        >>> import datetime as dt
        >>> from trialkit.protocol import load_protocol
        >>> rs = pl.DataFrame({"USUBJID": ["1"] * 3, "RSTESTCD": ["OVRLRESP"] * 3, "RSCAT": ["MRECIST"] * 3,
        ...     "RSEVAL": ["INDEPENDENT ASSESSOR"] * 3, "RSACPTFL": ["Y", None, "Y"],
        ...     "RSSTRESC": ["PR", "PD", "SD"], "RSDTC": ["2025-10-13", "2025-10-13", "2025-11-24"]})
        >>> subjects = pl.DataFrame({"USUBJID": ["1"], "RANDDT": [dt.date(2025, 9, 1)]})
        >>> frame, choice = select_overall_responses({"rs": rs}, subjects, protocol=load_protocol("NCT07334483"))
        >>> frame.select("RESPONSE", "DAY").rows(), choice.criteria, choice.assessor
        ([('PR', 43), ('SD', 85)], 'MRECIST', 'BICR')
    """
    schema = {"USUBJID": pl.String, "DATE": pl.Date, "RESPONSE": pl.String, "RANDDT": pl.Date, "DAY": pl.Int64}
    empty = pl.DataFrame(schema=schema)
    if frames.get("rs") is not None and "USUBJID" in frames["rs"].columns:
        pool, source = _rs_responses(frames["rs"], protocol), "RS (RSTESTCD OVRLRESP)"
    elif frames.get("adrs") is not None and "USUBJID" in frames["adrs"].columns:
        pool, source = _adrs_responses(frames["adrs"], protocol, adam_paramcd), "ADRS (overall response PARAMCD)"
    else:
        return empty, ResponseChoice(None, None, "", "No RS or ADRS dataset: responses cannot be shown.")
    base = subjects.select(pl.col("USUBJID").cast(pl.String), pl.col("RANDDT").cast(pl.Date))
    chosen = None
    for crit, assr in _choices(protocol, criteria, assessor):
        hit = pool.filter(((pl.col("CRITERIA") == crit) | (pl.col("CRITERIA") == "*"))
                          & ((pl.col("ASSESSOR") == assr) | (pl.col("ASSESSOR") == "*")))
        hit = hit.join(base, on="USUBJID", how="inner") if hit.height else hit
        if hit.height:
            # several readers of one assessment (two BICR radiologists): the accepted read (--ACPTFL = Y)
            accepted = hit.filter(pl.col("ACCEPTED"))
            others = hit.filter(~pl.col("ACCEPTED")).join(accepted.select("USUBJID", "DATE").unique(),
                                                          on=["USUBJID", "DATE"], how="anti")
            chosen = (crit, assr, pl.concat([accepted, others]).drop("ACCEPTED"))
            break
    asked = _choices(protocol, criteria, assessor)[0]
    crit_label = lambda k: protocol.criteria.get(k, {}).get("label", k) if k else "any criteria"  # noqa: E731
    if chosen is None:
        return empty, ResponseChoice(asked[0], asked[1], source,
                                     f"No overall response by {asked[1] or 'any assessor'} under "
                                     f"{crit_label(asked[0])} in {source}: responses cannot be shown.")
    crit, assr, hit = chosen
    odd = hit.filter(~pl.col("RESPONSE").is_in(list(RESPONSE_TERMS)) | pl.col("DATE").is_null())
    placed = (hit.filter(pl.col("RESPONSE").is_in(list(RESPONSE_TERMS)) & pl.col("DATE").is_not_null()
                         & (pl.col("DATE") >= pl.col("RANDDT")))
              .with_columns(pl.col("RESPONSE").replace_strict(_WORST, default=0, return_dtype=pl.Int64).alias("_W"))
              .sort("USUBJID", "DATE", "_W")
              .group_by("USUBJID", "DATE", maintain_order=True).last()
              .with_columns(compute_study_day(pl.col("DATE"), pl.col("RANDDT")).alias("DAY"))
              .select(list(schema)))
    note = f"Overall responses: {crit_label(crit)} by {assr or 'the one assessor of the data'}, from {source}"
    if (crit, assr) != asked and not (criteria and assessor):
        note += (f" ({crit_label(asked[0])} by {asked[1]}, the protocol's primary choice, has no record in this "
                 f"folder)")
    note += "."
    if odd.height:
        values = ", ".join(sorted({str(v) for v in odd["RESPONSE"].to_list() if v is not None})) or "no date"
        note += f" {odd.height} record(s) that are no response or have no complete date ({values}) are not counted."
    return placed, ResponseChoice(crit, assr, source, note)


def summarize_response_course(responses: pl.DataFrame, subjects: pl.DataFrame, *, protocol,
                              deaths: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per subject: first CR/PR, first PD, duration of response and an unconfirmed BOR.

    From :func:`select_overall_responses` (on or after randomization). Up to and including
    the first PD (admiral's ANL02FL):

    - ``FIRST_RESPONSE_DATE``: the first CR or PR (unconfirmed; the waterfall report gives the
      confirmed BOR);
    - ``FIRST_PD_DATE``: the first PD;
    - the duration of response runs from the first CR/PR to the first PD or death after it
      (``RESPONSE_END`` "PD" | "DEATH"), else to the last assessment (``"ONGOING"``, censored);
      ``RESPONSE_DAYS`` counts both ends (admiral's ``add_one``);
    - ``BOR`` for sorting: CR, PR, SD (only on or after randomization + the protocol's
      ``sd_min_days``), NON-CR/NON-PD (likewise), PD, NE, MISSING (no assessment).

    Example:
        >>> import datetime as dt
        >>> from trialkit.protocol import load_protocol
        >>> d = lambda m, day: dt.date(2025, m, day)
        >>> resp = pl.DataFrame({"USUBJID": ["1", "1", "1"], "DATE": [d(10, 13), d(11, 24), d(12, 29)],
        ...                      "RESPONSE": ["SD", "PR", "PD"]})
        >>> subjects = pl.DataFrame({"USUBJID": ["1", "2"], "RANDDT": [d(9, 1), d(9, 1)]})
        >>> summarize_response_course(resp, subjects, protocol=load_protocol("NCT07334483")).select(
        ...     "USUBJID", "BOR", "RESPONSE_DAYS", "RESPONSE_END").rows()
        [('1', 'PR', 36, 'PD'), ('2', 'MISSING', None, None)]
    """
    sd_min = int(protocol.response.get("sd_min_days") or 0)
    base = subjects.select(pl.col("USUBJID").cast(pl.String), pl.col("RANDDT").cast(pl.Date))
    resp = responses.select("USUBJID", "DATE", "RESPONSE").join(base, on="USUBJID", how="inner")
    first_pd = resp.filter(pl.col("RESPONSE") == "PD").group_by("USUBJID").agg(pl.col("DATE").min().alias("FIRST_PD_DATE"))
    upto = (resp.join(first_pd, on="USUBJID", how="left")
            .filter(pl.col("FIRST_PD_DATE").is_null() | (pl.col("DATE") <= pl.col("FIRST_PD_DATE"))))
    late = pl.col("DATE") >= pl.col("RANDDT") + pl.duration(days=sd_min)
    rank = (pl.when(pl.col("RESPONSE") == "CR").then(0)
            .when(pl.col("RESPONSE") == "PR").then(1)
            .when(pl.col("RESPONSE").is_in(["CR", "PR", "SD"]) & late).then(2)
            .when((pl.col("RESPONSE") == "NON-CR/NON-PD") & late).then(3)
            .when(pl.col("RESPONSE") == "PD").then(4)
            .otherwise(5))
    per = (upto.with_columns(rank.alias("_R"))
           .group_by("USUBJID")
           .agg(pl.col("_R").min().alias("_BEST"),
                pl.col("DATE").filter(pl.col("RESPONSE").is_in(["CR", "PR"])).min().alias("FIRST_RESPONSE_DATE"),
                pl.col("DATE").max().alias("LAST_ASSESSMENT_DATE")))
    death = (deaths.select(pl.col("USUBJID").cast(pl.String), pl.col("DEATH_DATE").cast(pl.Date))
             if deaths is not None else pl.DataFrame(schema={"USUBJID": pl.String, "DEATH_DATE": pl.Date}))
    out = (base.join(per, on="USUBJID", how="left").join(first_pd, on="USUBJID", how="left")
           .join(death, on="USUBJID", how="left"))
    responded = pl.col("FIRST_RESPONSE_DATE").is_not_null()
    pd_after = pl.col("FIRST_PD_DATE").is_not_null() & (pl.col("FIRST_PD_DATE") >= pl.col("FIRST_RESPONSE_DATE"))
    death_after = pl.col("DEATH_DATE").is_not_null() & (pl.col("DEATH_DATE") >= pl.col("FIRST_RESPONSE_DATE"))
    end_kind = (pl.when(~responded).then(None)
                .when(pd_after & (~death_after | (pl.col("FIRST_PD_DATE") <= pl.col("DEATH_DATE")))).then(pl.lit("PD"))
                .when(death_after).then(pl.lit("DEATH"))
                .otherwise(pl.lit("ONGOING")))
    end_date = (pl.when(pl.col("RESPONSE_END") == "PD").then(pl.col("FIRST_PD_DATE"))
                .when(pl.col("RESPONSE_END") == "DEATH").then(pl.col("DEATH_DATE"))
                .when(pl.col("RESPONSE_END") == "ONGOING").then(pl.col("LAST_ASSESSMENT_DATE")))
    bor = pl.col("_BEST").replace_strict({0: "CR", 1: "PR", 2: "SD", 3: "NON-CR/NON-PD", 4: "PD", 5: "NE"},
                                         default=None, return_dtype=pl.String)
    return (out.with_columns(end_kind.alias("RESPONSE_END"), pl.coalesce(bor, pl.lit("MISSING")).alias("BOR"))
            .with_columns(end_date.alias("RESPONSE_END_DATE"))
            .with_columns(compute_days_between(pl.col("FIRST_RESPONSE_DATE"), pl.col("RESPONSE_END_DATE"))
                          .alias("RESPONSE_DAYS"))
            .select("USUBJID", "BOR", "FIRST_RESPONSE_DATE", "FIRST_PD_DATE", "RESPONSE_END_DATE", "RESPONSE_END",
                    "RESPONSE_DAYS", "LAST_ASSESSMENT_DATE"))


# --------------------------------------------------------------------------------------------
# Death, discontinuation, subsequent therapy
# --------------------------------------------------------------------------------------------
def derive_disposition(frames: Mapping[str, pl.DataFrame], subjects: pl.DataFrame, *,
                       last_dates: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per subject: death, end of treatment and end of study, with reasons.

    - ``DEATH_DATE``: DM ``DTHDTC`` (ADSL ``DTHDT``), else a DS ``DEATH`` record; a date
      known to the month (or year) only is imputed to the first day of the period, never
      before the subject's last other record (``last_dates``: USUBJID, LAST_DATE), with
      ``DEATH_IMPUTED`` true.
    - DS disposition events (``DSCAT`` "DISPOSITION EVENT" when DSCAT exists) on or after
      randomization, milestones (RANDOMIZED, consent, screen failure) aside: in EPOCH
      "TREATMENT" (or with "TREATMENT" in DSSCAT) they end treatment; others end the study
      (and treatment with it). ``EOT_DATE, EOT_REASON`` (DSDECOD), ``EOS_DATE, EOS_REASON``.
      ADSL without DS: ``EOSSTT``/``EOSDT`` and ``DCSREAS`` (``TRTEDT`` ends treatment).

    Example:
        >>> import datetime as dt
        >>> subjects = pl.DataFrame({"USUBJID": ["1", "2"], "RANDDT": [dt.date(2025, 9, 1)] * 2,
        ...                          "DTHDTC": [None, "2026-04"]})
        >>> ds = pl.DataFrame({"USUBJID": ["1", "2"], "DSCAT": ["DISPOSITION EVENT"] * 2,
        ...     "DSDECOD": ["ADVERSE EVENT", "PROGRESSIVE DISEASE"], "EPOCH": ["TREATMENT"] * 2,
        ...     "DSSTDTC": ["2025-12-01", "2026-01-10"]})
        >>> derive_disposition({"ds": ds}, subjects).select("EOT_REASON", "DEATH_DATE", "DEATH_IMPUTED").rows()
        [('ADVERSE EVENT', None, False), ('PROGRESSIVE DISEASE', datetime.date(2026, 4, 1), True)]
    """
    base = subjects.select(pl.col("USUBJID").cast(pl.String), pl.col("RANDDT").cast(pl.Date))
    dthdt = _date_expr(subjects, "DTHDT") if "DTHDT" in subjects.columns else pl.lit(None, pl.Date)
    dthdtc = col_or_null(subjects, "DTHDTC")
    death = subjects.select(
        pl.col("USUBJID").cast(pl.String),
        pl.coalesce(compute_date(dthdtc), dthdt).alias("_DTH_FULL"),
        compute_date(dthdtc, impute="start").alias("_DTH_START"))
    ds = frames.get("ds")
    schema = {"USUBJID": pl.String, "DATE": pl.Date, "REASON": pl.String, "LEVEL": pl.String, "PARTIAL": pl.Boolean}
    events = pl.DataFrame(schema=schema)
    ds_death = pl.DataFrame(schema={"USUBJID": pl.String, "_DS_DEATH": pl.Date, "_DS_DEATH_START": pl.Date})
    if ds is not None and {"USUBJID", "DSDECOD"} <= set(ds.columns):
        disp = (ds.filter(_term(ds, "DSCAT").fill_null("DISPOSITION EVENT") == "DISPOSITION EVENT")
                .with_columns(pl.coalesce(col_or_null(ds, "DSSTDTC"), col_or_null(ds, "DSDTC")).alias("_DSDTC")))
        level = (pl.when((_term(disp, "EPOCH") == "TREATMENT")
                         | _term(disp, "DSSCAT").str.contains("TREATMENT").fill_null(False))
                 .then(pl.lit("TREATMENT")).otherwise(pl.lit("STUDY")))
        events = (disp.select(pl.col("USUBJID").cast(pl.String), _date_expr(disp, "_DSDTC", impute="start").alias("DATE"),
                              _term(disp, "DSDECOD").alias("REASON"), level.alias("LEVEL"),
                              _date_expr(disp, "_DSDTC").is_null().alias("PARTIAL"))
                  .filter(~pl.col("REASON").is_in(list(_NOT_ENDINGS)) & pl.col("DATE").is_not_null())
                  .join(base, on="USUBJID", how="inner")
                  .filter(pl.col("DATE") >= pl.col("RANDDT")).drop("RANDDT").cast(schema))
        ds_death = (events.filter(pl.col("REASON") == "DEATH").group_by("USUBJID")
                    .agg(pl.col("DATE").filter(~pl.col("PARTIAL")).min().alias("_DS_DEATH"),
                         pl.col("DATE").min().alias("_DS_DEATH_START")))
    elif {"EOSSTT", "EOSDT"} <= set(subjects.columns):
        status = compute_term(pl.col("EOSSTT"))
        reason = pl.coalesce(compute_term(col_or_null(subjects, "DCSREAS")), status)
        events = (subjects.filter(status.is_in(["DISCONTINUED", "COMPLETED"]))
                  .select(pl.col("USUBJID").cast(pl.String), _date_expr(subjects, "EOSDT").alias("DATE"),
                          reason.alias("REASON"), pl.lit("STUDY").alias("LEVEL"), pl.lit(False).alias("PARTIAL"))
                  .filter(pl.col("DATE").is_not_null()).cast(schema))
    last = (last_dates.select(pl.col("USUBJID").cast(pl.String), pl.col("LAST_DATE").cast(pl.Date))
            if last_dates is not None else pl.DataFrame(schema={"USUBJID": pl.String, "LAST_DATE": pl.Date}))
    first = lambda lvl: (events.filter(pl.col("LEVEL").is_in(lvl)).sort("USUBJID", "DATE")  # noqa: E731
                         .group_by("USUBJID", maintain_order=True).first())
    eot = first(["TREATMENT", "STUDY"]).select("USUBJID", pl.col("DATE").alias("EOT_DATE"),
                                               pl.col("REASON").alias("EOT_REASON"))
    eos = first(["STUDY"]).select("USUBJID", pl.col("DATE").alias("EOS_DATE"), pl.col("REASON").alias("EOS_REASON"))
    out = (base.join(death, on="USUBJID", how="left").join(ds_death, on="USUBJID", how="left")
           .join(last, on="USUBJID", how="left").join(eot, on="USUBJID", how="left")
           .join(eos, on="USUBJID", how="left"))
    full = pl.coalesce(pl.col("_DTH_FULL"), pl.col("_DS_DEATH"))
    partial = pl.coalesce(pl.col("_DTH_START"), pl.col("_DS_DEATH_START"))
    imputed = pl.when(partial.is_not_null()).then(pl.max_horizontal(partial, pl.col("LAST_DATE")))
    if "TRTEDT" in subjects.columns and (ds is None or "DSDECOD" not in ds.columns):
        out = out.join(subjects.select(pl.col("USUBJID").cast(pl.String), _date_expr(subjects, "TRTEDT").alias("_TRTEDT")),
                       on="USUBJID", how="left").with_columns(
            pl.coalesce(pl.col("_TRTEDT"), pl.col("EOT_DATE")).alias("EOT_DATE"),
            pl.when(pl.col("_TRTEDT").is_not_null() & pl.col("EOT_REASON").is_null())
            .then(pl.lit("TREATMENT ENDED")).otherwise(pl.col("EOT_REASON")).alias("EOT_REASON")).drop("_TRTEDT")
    return out.select(
        "USUBJID",
        pl.coalesce(full, imputed).alias("DEATH_DATE"),
        (full.is_null() & partial.is_not_null()).alias("DEATH_IMPUTED"),
        "EOT_DATE", "EOT_REASON", "EOS_DATE", "EOS_REASON")


def derive_subsequent_therapy(frames: Mapping[str, pl.DataFrame], subjects: pl.DataFrame) -> pl.DataFrame:
    """Subsequent anticancer therapy from CM: ``USUBJID, DATE, NAME`` (one row per therapy).

    A CM record whose ``CMCAT`` (or ``CMSCAT``) names anticancer therapy (ANTICANCER,
    ANTINEOPLASTIC, ANTITUMOR, ONCOLOGY) and not PRIOR, starting on or after randomization
    (admiralonco's new-anticancer-therapy convention); a partial start date is imputed to
    the first day of its period, and not before randomization.

    Example:
        >>> import datetime as dt
        >>> cm = pl.DataFrame({"USUBJID": ["1", "1"], "CMTRT": ["TACE", "LENVATINIB"],
        ...     "CMCAT": ["PRIOR ANTICANCER THERAPY", "SUBSEQUENT ANTICANCER THERAPY"],
        ...     "CMSTDTC": ["2024-03", "2026-02-11"]})
        >>> subjects = pl.DataFrame({"USUBJID": ["1"], "RANDDT": [dt.date(2025, 9, 1)]})
        >>> derive_subsequent_therapy({"cm": cm}, subjects).rows()
        [('1', datetime.date(2026, 2, 11), 'LENVATINIB')]
    """
    schema = {"USUBJID": pl.String, "DATE": pl.Date, "NAME": pl.String}
    cm = frames.get("cm")
    if cm is None or "USUBJID" not in cm.columns:
        return pl.DataFrame(schema=schema)
    category = pl.concat_str([_term(cm, "CMCAT").fill_null(""), _term(cm, "CMSCAT").fill_null("")], separator=" ")
    keep = category.str.contains(_CM_ANTICANCER) & ~category.str.contains("PRIOR")
    base = subjects.select(pl.col("USUBJID").cast(pl.String), pl.col("RANDDT").cast(pl.Date))
    return (cm.filter(keep)
            .select(pl.col("USUBJID").cast(pl.String), _date_expr(cm, "CMSTDTC", impute="start").alias("DATE"),
                    pl.coalesce(col_or_null(cm, "CMDECOD"), col_or_null(cm, "CMTRT")).alias("NAME"))
            .join(base, on="USUBJID", how="inner")
            .filter(pl.col("DATE") >= pl.col("RANDDT"))
            .sort("USUBJID", "DATE").select(list(schema)).cast(schema))


# --------------------------------------------------------------------------------------------
# The swimmer: subjects and events (DESIGN section 5)
# --------------------------------------------------------------------------------------------
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "USUBJID": pl.String, "ARM": pl.String, "EVENT": pl.String, "START_DAY": pl.Int64, "END_DAY": pl.Int64,
    "DETAIL": pl.String, "ARMCD": pl.String, "START_DATE": pl.Date, "END_DATE": pl.Date, "ONGOING": pl.Boolean,
    "CYCLE": pl.Int64, "DOSE": pl.Float64, "DOSU": pl.String, "CLASS": pl.String, "KIND": pl.String,
}
#: KIND of a swimmer event: how it is drawn.
EVENT_KINDS = ("DOSE", "HOLD", "INTERVAL", "INTERRUPTION", "SESSION", "PLANNING", "RESPONSE", "DURATION", "DEATH",
               "DISCONTINUATION", "SUBSEQUENT")
SUBJECT_COLUMNS = ("USUBJID", "ARM", "RANDDT", "LAST_DAY", "END_STATUS", "ONGOING")


@dataclass
class Swimmer:
    """Everything the swimmer report shows, derived once (:func:`derive_swimmer`).

    Attributes:
        subjects: ``swimmer_subjects`` (DESIGN section 5): one row per randomized subject
            with a randomization date, ``USUBJID, ARM, RANDDT, LAST_DAY, END_STATUS,
            ONGOING`` (Y/N) and more (see :func:`derive_swimmer`).
        events: ``swimmer_events``: ``USUBJID, ARM, EVENT, START_DAY, END_DAY, DETAIL`` and more.
        records: the study-treatment records (:func:`derive_treatment_records`) with cycles,
            interval classes and toxicity holds: what the deviation checks read.
        responses: the overall responses shown (:func:`select_overall_responses`).
        response_choice: their criteria, assessor and source.
        not_shown: randomized subjects that cannot be placed on a time axis, with the reason.
        notes: what cannot be shown, one sentence each.
        data_cutoff: the cutoff (None: every record).
    """

    subjects: pl.DataFrame
    events: pl.DataFrame
    records: pl.DataFrame
    responses: pl.DataFrame
    response_choice: ResponseChoice
    not_shown: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    data_cutoff: dt.date | None = None


def compute_dose_text(dose: pl.Expr, unit: pl.Expr) -> pl.Expr:
    """A dose as text: ``200 mg``, ``1.91 GBq`` (no decimals for whole numbers); null without a dose.

    Example:
        >>> pl.DataFrame({"D": [200.0, 1.914], "U": ["mg", "GBq"]}).select(
        ...     compute_dose_text(pl.col("D"), pl.col("U"))).to_series().to_list()
        ['200 mg', '1.91 GBq']
    """
    value = (pl.when(dose == dose.round(0)).then(dose.cast(pl.Int64).cast(pl.String))
             .otherwise(dose.round(2).cast(pl.String)))
    return pl.when(dose.is_not_null()).then(pl.concat_str([value, unit.fill_null("")], separator=" ").str.strip_chars())


def _event_frame(frame: pl.DataFrame, **columns: pl.Expr) -> pl.DataFrame:
    """Select the event columns (missing ones null), in EVENT_SCHEMA order and types."""
    exprs = []
    for name, dtype in EVENT_SCHEMA.items():
        expr = columns.get(name)
        if expr is None:
            expr = pl.col(name) if name in frame.columns else pl.lit(None, dtype)
        exprs.append(expr.cast(dtype).alias(name))
    return frame.select(exprs)


def _with_days(frame: pl.DataFrame, subjects: pl.DataFrame, *dates: str) -> pl.DataFrame:
    base = subjects.select("USUBJID", "ARMCD", "ARM", "RANDDT")
    out = frame.join(base, on="USUBJID", how="inner")
    return out.with_columns([compute_study_day(pl.col(d), pl.col("RANDDT")).alias(f"{d}_DAY") for d in dates])


def derive_swimmer(frames: Mapping[str, pl.DataFrame], subjects: pl.DataFrame, *, protocol,
                   data_cutoff: dt.date | None = None, criteria: str = "", assessor: str = "",
                   adam_paramcd: Mapping[str, str] | None = None) -> Swimmer:
    """The swimmer's subjects and events, from the frames of a report's study (module notes).

    Args:
        frames: dataset -> frame, cut at the data cutoff and holding only the subjects who count.
        subjects: the randomized subjects (``ReportStudy.randomized``): ``USUBJID, ARMCD,
            ARM_LABEL, SITE, RANDDT`` (and DM's ``DTHDTC`` or ADSL's ``DTHDT``, ``EOSSTT``, ...).
        protocol: the study's protocol.
        data_cutoff: the data cutoff (None: the data end where nothing is cut).
        criteria, assessor: the responses shown (empty: the protocol's primary choice).
        adam_paramcd: ADaM PARAMCDs of the sponsor (``{"overall": "OVRINV"}``).

    Returns:
        A :class:`Swimmer`. ``subjects`` columns: ``USUBJID, ARM, RANDDT, LAST_DAY`` (the
        lane's end: death, end of study, else the data cutoff, else the last record),
        ``END_STATUS`` (DEATH | COMPLETED | STUDY DISCONTINUED | ON TREATMENT | TREATMENT
        ENDED | NOT TREATED), ``ONGOING`` (Y: on study treatment at the cutoff), then
        ``ARMCD, SITE, END_REASON, TREATED, FIRST_TREATMENT_DAY, LAST_TREATMENT_DAY,
        EOT_DAY, EOT_REASON, BOR, FIRST_RESPONSE_DAY, FIRST_PD_DAY, RESPONSE_DAYS,
        RESPONSE_END, DEATH_DAY, CUTOFF_DAY``. ``events``: one row per dose, interval,
        session, hold, interruption, time-point response (up to the first PD), response
        duration, death, discontinuation and subsequent therapy; ``EVENT`` is the protocol's
        treatment key (CAMRELIZUMAB, APATINIB, MAA_MAPPING, SIRT, CTACE), ``<KEY>_HOLD``,
        ``<KEY>_INTERRUPTION``, a response (CR, PR, SD, NON-CR/NON-PD, PD, NE),
        RESPONSE_DURATION, DEATH, DISCONTINUATION or SUBSEQUENT_THERAPY; END_DAY is null
        for a point event.
    """
    notes: list[str] = []
    randomized = subjects.filter(pl.col("STATUS") == "RANDOMIZED") if "STATUS" in subjects.columns else subjects
    randomized = randomized.with_columns(pl.col("USUBJID").cast(pl.String), pl.col("ARMCD").cast(pl.String),
                                         col_or_null(randomized, "ARM_LABEL").alias("ARM"),
                                         col_or_null(randomized, "SITE").alias("SITE"))
    not_shown = (randomized.filter(pl.col("RANDDT").is_null())
                 .select("USUBJID", "ARM", pl.lit("no randomization date (neither ADSL.RANDDT nor a dated DS "
                                                  "RANDOMIZED milestone): no study days").alias("REASON")))
    placed = randomized.filter(pl.col("RANDDT").is_not_null())

    # ---- treatment records
    records = derive_cycles(derive_treatment_records(frames, placed, protocol=protocol, data_cutoff=data_cutoff))
    unplaced = records.filter(~pl.col("PLACED"))
    if unplaced.height:
        notes.append(f"{unplaced.height} treatment record(s) without a complete start date cannot be placed on "
                     f"the time axis or checked (partial dates are not imputed for doses).")
        records = records.filter(pl.col("PLACED"))
    class_expr = pl.lit(None, pl.String)
    for key in protocol.treatments:
        class_expr = pl.when(pl.col("KEY") == key).then(
            compute_interval_class(pl.col("GAP_DAYS"), protocol.treatments[key])).otherwise(class_expr)
    records = derive_toxicity_holds(records.with_columns(
        pl.when(pl.col("KIND") == "DOSE").then(class_expr).alias("INTERVAL_CLASS")), frames.get("ae"))
    if frames.get("ae") is None and (records["INTERVAL_CLASS"] == "LATE").any():
        notes.append("No AE dataset: a late dose held for toxicity (an AE with action DRUG INTERRUPTED) cannot "
                     "be told from a late dose; every late dose is shown as late.")
    treatment = records.filter(pl.col("KIND") != "PLANNING")
    if not records.height:
        notes.append("No study treatment record (EX, ADEX or PR) of a randomized subject: the lanes show "
                     "time on study and responses only.")
    if frames.get("pr") is None and not protocol.generic and any(
            str(t.get("domain", "")).upper() == "PR" for t in protocol.treatments.values()):
        notes.append("No PR dataset: procedures (mapping, SIRT, cTACE) cannot be shown or checked.")
    if protocol.generic and frames.get("pr") is not None:
        notes.append("No protocol file: PR records are not known to be study treatment and are not shown.")

    # ---- responses, death, disposition
    responses, choice = select_overall_responses(frames, placed, protocol=protocol, criteria=criteria,
                                                 assessor=assessor, adam_paramcd=adam_paramcd)
    notes.append(choice.note)
    subsequent = derive_subsequent_therapy(frames, placed)
    last_dates = (pl.concat([records.select("USUBJID", pl.col("END").alias("LAST_DATE")),
                             responses.select("USUBJID", pl.col("DATE").alias("LAST_DATE")),
                             subsequent.select("USUBJID", pl.col("DATE").alias("LAST_DATE"))])
                  .group_by("USUBJID").agg(pl.col("LAST_DATE").max()))
    disposition = derive_disposition(frames, placed, last_dates=last_dates)
    course = summarize_response_course(responses, placed, protocol=protocol,
                                       deaths=disposition.select("USUBJID", "DEATH_DATE"))
    if frames.get("ds") is None and not {"EOSSTT", "EOSDT"} <= set(placed.columns):
        notes.append("No DS dataset: discontinuations and their reasons cannot be shown; who is still on "
                     "treatment at the cutoff is not known.")
    if frames.get("cm") is None:
        notes.append("No CM dataset: subsequent anticancer therapy cannot be shown.")

    # ---- subjects
    tx = (treatment.group_by("USUBJID")
          .agg(pl.col("START").min().alias("FIRST_TREATMENT_DATE"), pl.col("END").max().alias("LAST_TREATMENT_DATE")))
    data_end = data_cutoff if data_cutoff is not None else last_dates["LAST_DATE"].max()
    cutoff = pl.lit(data_cutoff, pl.Date) if data_cutoff is not None else pl.lit(None, pl.Date)
    out = (placed.select("USUBJID", "ARM", "ARMCD", "SITE", "RANDDT")
           .join(tx, on="USUBJID", how="left").join(disposition, on="USUBJID", how="left")
           .join(course, on="USUBJID", how="left").join(last_dates, on="USUBJID", how="left"))
    treated = pl.col("FIRST_TREATMENT_DATE").is_not_null()
    ongoing = treated & pl.col("EOT_DATE").is_null() & pl.col("EOS_DATE").is_null() & pl.col("DEATH_DATE").is_null()
    status = (pl.when(pl.col("DEATH_DATE").is_not_null()).then(pl.lit("DEATH"))
              .when(pl.col("EOS_REASON") == "COMPLETED").then(pl.lit("COMPLETED"))
              .when(pl.col("EOS_DATE").is_not_null()).then(pl.lit("STUDY DISCONTINUED"))
              .when(ongoing).then(pl.lit("ON TREATMENT"))
              .when(treated).then(pl.lit("TREATMENT ENDED"))
              .otherwise(pl.lit("NOT TREATED")))
    reason = (pl.when(pl.col("DEATH_DATE").is_not_null()).then(pl.lit("DEATH"))
              .when(pl.col("EOS_DATE").is_not_null()).then(pl.col("EOS_REASON"))
              .when(ongoing).then(None)
              .otherwise(pl.col("EOT_REASON")))
    last = (pl.when(pl.col("DEATH_DATE").is_not_null()).then(pl.col("DEATH_DATE"))
            .when(pl.col("EOS_DATE").is_not_null()).then(pl.col("EOS_DATE"))
            .otherwise(pl.lit(data_end, pl.Date)))
    last = pl.max_horizontal(last, pl.col("RANDDT"))
    day = lambda c: compute_study_day(pl.col(c), pl.col("RANDDT"))  # noqa: E731
    out = out.with_columns(status.alias("END_STATUS"), reason.alias("END_REASON"), last.alias("LAST_DATE"),
                           pl.when(ongoing).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("ONGOING"),
                           pl.when(treated).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("TREATED"),
                           compute_study_day(cutoff, pl.col("RANDDT")).alias("CUTOFF_DAY"))
    swim_subjects = out.select(
        "USUBJID", "ARM", "RANDDT", day("LAST_DATE").alias("LAST_DAY"), "END_STATUS", "ONGOING",
        "ARMCD", "SITE", "END_REASON", "TREATED",
        day("FIRST_TREATMENT_DATE").alias("FIRST_TREATMENT_DAY"), day("LAST_TREATMENT_DATE").alias("LAST_TREATMENT_DAY"),
        day("EOT_DATE").alias("EOT_DAY"), "EOT_REASON", "BOR",
        day("FIRST_RESPONSE_DATE").alias("FIRST_RESPONSE_DAY"), day("FIRST_PD_DATE").alias("FIRST_PD_DAY"),
        "RESPONSE_DAYS", "RESPONSE_END", day("DEATH_DATE").alias("DEATH_DAY"), "DEATH_IMPUTED", "CUTOFF_DAY",
    ).sort("ARMCD", "USUBJID")

    # ---- events
    events = [_treatment_events(records, placed, protocol=protocol, frames=frames)]
    dated = lambda f, *d: _with_days(f, placed, *d)  # noqa: E731
    criteria_text = (f"{protocol.criteria.get(choice.criteria, {}).get('label', choice.criteria)} by "
                     f"{choice.assessor}") if choice.criteria or choice.assessor else None
    upto_pd = (responses.join(course.select("USUBJID", "FIRST_PD_DATE"), on="USUBJID", how="left")
               .filter(pl.col("FIRST_PD_DATE").is_null() | (pl.col("DATE") <= pl.col("FIRST_PD_DATE"))))
    resp = dated(upto_pd.drop("RANDDT", "DAY"), "DATE")
    events.append(_event_frame(resp, EVENT=pl.col("RESPONSE"), START_DATE=pl.col("DATE"), START_DAY=pl.col("DATE_DAY"),
                               KIND=pl.lit("RESPONSE"),
                               DETAIL=pl.lit(criteria_text, pl.String)))
    dur = dated(course.filter(pl.col("FIRST_RESPONSE_DATE").is_not_null()), "FIRST_RESPONSE_DATE", "RESPONSE_END_DATE")
    dur_text = (pl.when(pl.col("RESPONSE_END") == "ONGOING")
                .then(pl.format("{} days, ongoing at the last assessment (censored)", pl.col("RESPONSE_DAYS")))
                .otherwise(pl.format("{} days, from the first CR/PR to {}", pl.col("RESPONSE_DAYS"),
                                     pl.col("RESPONSE_END").str.to_lowercase().str.replace("pd", "PD"))))
    events.append(_event_frame(dur, EVENT=pl.lit("RESPONSE_DURATION"), KIND=pl.lit("DURATION"), START_DATE=pl.col("FIRST_RESPONSE_DATE"),
                               END_DATE=pl.col("RESPONSE_END_DATE"), START_DAY=pl.col("FIRST_RESPONSE_DATE_DAY"),
                               END_DAY=pl.col("RESPONSE_END_DATE_DAY"), DETAIL=dur_text,
                               ONGOING=pl.col("RESPONSE_END") == "ONGOING"))
    death = dated(disposition.filter(pl.col("DEATH_DATE").is_not_null()), "DEATH_DATE")
    events.append(_event_frame(death, EVENT=pl.lit("DEATH"), KIND=pl.lit("DEATH"), START_DATE=pl.col("DEATH_DATE"),
                               START_DAY=pl.col("DEATH_DATE_DAY"),
                               DETAIL=pl.when(pl.col("DEATH_IMPUTED"))
                               .then(pl.lit("date known to the month only: imputed to the first day, not before "
                                            "the last record")).otherwise(pl.lit("death"))))
    stops = pl.concat([
        disposition.select("USUBJID", pl.col("EOT_DATE").alias("DATE"), pl.col("EOT_REASON").alias("REASON"),
                           pl.lit("end of treatment").alias("LEVEL")),
        disposition.filter(pl.col("EOS_DATE") != pl.col("EOT_DATE"))
        .select("USUBJID", pl.col("EOS_DATE").alias("DATE"), pl.col("EOS_REASON").alias("REASON"),
                pl.lit("end of study").alias("LEVEL"))])
    stops = dated(stops.filter(pl.col("DATE").is_not_null() & ~pl.col("REASON").is_in(["DEATH", "COMPLETED"])), "DATE")
    events.append(_event_frame(stops, EVENT=pl.lit("DISCONTINUATION"), KIND=pl.lit("DISCONTINUATION"), START_DATE=pl.col("DATE"),
                               START_DAY=pl.col("DATE_DAY"), DETAIL=pl.format("{}: {}", pl.col("LEVEL"), pl.col("REASON")),
                               CLASS=pl.col("REASON")))
    later = dated(subsequent, "DATE")
    events.append(_event_frame(later, EVENT=pl.lit("SUBSEQUENT_THERAPY"), KIND=pl.lit("SUBSEQUENT"), START_DATE=pl.col("DATE"),
                               START_DAY=pl.col("DATE_DAY"), DETAIL=pl.col("NAME")))
    all_events = pl.concat(events).sort("ARMCD", "USUBJID", "START_DAY", "EVENT")
    return Swimmer(subjects=swim_subjects, events=all_events, records=records, responses=responses,
                   response_choice=choice, not_shown=not_shown, notes=[n for n in notes if n],
                   data_cutoff=data_cutoff)


def _treatment_events(records: pl.DataFrame, subjects: pl.DataFrame, *, protocol,
                      frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Doses, holds, intervals, interruptions and sessions as swimmer events."""
    parts = []
    dose_text = compute_dose_text(pl.col("DOSE"), pl.col("DOSU"))
    doses = records.filter(pl.col("KIND") == "DOSE")
    gap = (pl.when(pl.col("GAP_DAYS").is_not_null())
           .then(pl.format("; {} days after the previous dose{}", pl.col("GAP_DAYS"),
                           pl.when(pl.col("INTERVAL_CLASS").is_in(["ON SCHEDULE", "FIRST"])).then(pl.lit(""))
                           .otherwise(pl.format(" ({})", pl.col("INTERVAL_CLASS").str.to_lowercase()))))
           .otherwise(pl.lit("")))
    point = {"END_DATE": pl.lit(None, pl.Date), "END_DAY": pl.lit(None, pl.Int64)}
    parts.append(_event_frame(doses, EVENT=pl.col("KEY"), START_DATE=pl.col("START"), START_DAY=pl.col("START_DAY"), **point,
                              DETAIL=pl.concat_str([pl.format("Cycle {}", pl.col("CYCLE")),
                                                    pl.format("; {}", dose_text).fill_null(""), gap]),
                              CLASS=pl.col("INTERVAL_CLASS")))
    # a dose held for toxicity: the interval over the schedule with an AE DRUG INTERRUPTED in it
    held = doses.filter(pl.col("HOLD_AE").is_not_null()
                        & pl.col("INTERVAL_CLASS").is_in(["PERMITTED DELAY", "LATE"]))
    parts.append(_event_frame(held, EVENT=pl.format("{}_HOLD", pl.col("KEY")), KIND=pl.lit("HOLD"), START_DATE=pl.col("PREV_START"),
                              END_DATE=pl.col("START"),
                              START_DAY=compute_study_day(pl.col("PREV_START"), pl.col("RANDDT")),
                              END_DAY=pl.col("START_DAY"), CYCLE=pl.col("CYCLE"), CLASS=pl.col("HOLD_AE"),
                              DETAIL=pl.format("held for toxicity before cycle {}: {} (AE start {})", pl.col("CYCLE"),
                                               pl.col("HOLD_AE"), pl.col("HOLD_AE_DATE").dt.to_string("%Y-%m-%d"))))
    intervals = derive_dosing_intervals(records)
    change = (pl.when(pl.col("DOSE_CHANGE").is_not_null())
              .then(pl.format("; {} from the previous interval{}", pl.col("DOSE_CHANGE").str.to_lowercase(),
                              pl.when(pl.col("ADJ").is_not_null()).then(pl.format(" ({})", pl.col("ADJ")))
                              .otherwise(pl.lit(""))))
              .otherwise(pl.lit("")))
    parts.append(_event_frame(intervals, EVENT=pl.col("KEY"), START_DATE=pl.col("START"), END_DATE=pl.col("END"),
                              START_DAY=pl.col("START_DAY"), END_DAY=pl.col("END_DAY"),
                              DETAIL=pl.concat_str([pl.concat_str([dose_text, pl.col("FREQ")], separator=" ", ignore_nulls=True)
                                                    .fill_null(""), change,
                                                    pl.when(pl.col("ONGOING")).then(pl.lit("; ongoing at the cutoff"))
                                                    .otherwise(pl.lit(""))]).str.strip_chars("; "),
                              CLASS=pl.when(pl.col("REDUCED")).then(pl.lit("REDUCED")).otherwise(pl.lit("FULL"))))
    sessions = (records.filter(pl.col("KIND").is_in(["SESSION", "PLANNING"])).sort("USUBJID", "KEY", "START")
                .with_columns((pl.int_range(pl.len()).over(_run_id("USUBJID", "KEY")) + 1).alias("_N")))
    washout = next((int(t["sirt_washout_days"]) for t in protocol.treatments.values() if t.get("sirt_washout_days")),
                   None)
    washout_key = next((k for k, t in protocol.treatments.items() if t.get("requires_prior")), None)
    interruptions = derive_interruptions(
        intervals, frames.get("ae"), sessions.filter(pl.col("KEY") == washout_key) if washout_key else None,
        washout_days=washout)
    interruptions = _with_days(interruptions, subjects, "START", "END")
    parts.append(_event_frame(interruptions, EVENT=pl.format("{}_INTERRUPTION", pl.col("KEY")), KIND=pl.lit("INTERRUPTION"),
                              START_DATE=pl.col("START"), END_DATE=pl.col("END"), START_DAY=pl.col("START_DAY"),
                              END_DAY=pl.col("END_DAY"), DETAIL=pl.format("interrupted: {}", pl.col("REASON")),
                              CLASS=pl.col("REASON")))
    session_text = pl.concat_str([pl.format("session {}", pl.col("_N")), dose_text,
                                  pl.col("LAT").str.to_lowercase().str.replace(r"$", " lobe")],
                                 separator="; ", ignore_nulls=True)
    parts.append(_event_frame(sessions, EVENT=pl.col("KEY"), START_DATE=pl.col("START"), START_DAY=pl.col("START_DAY"), **point,
                              DETAIL=session_text, CLASS=pl.col("KIND")))
    return pl.concat(parts)


# --------------------------------------------------------------------------------------------
# Summaries by arm (the report's tables; numbers formatted as clinical reports print them)
# --------------------------------------------------------------------------------------------
def _median_range(value: pl.Expr) -> pl.Expr:
    """``median (min–max)`` of a column in a group: ``6.0 (1–26)``; a dash when empty."""
    v = value.drop_nulls()
    return (pl.when(v.len() > 0)
            .then(pl.format("{} ({}–{})", compute_fixed_text(v.median()), compute_fixed_text(v.min(), digits=0),
                            compute_fixed_text(v.max(), digits=0)))
            .otherwise(pl.lit(MISSING)))


def _arm_table(per_subject: pl.DataFrame, stats: list[tuple[str, pl.Expr]], arms: Mapping[str, str]) -> pl.DataFrame:
    """One row per statistic, one column per arm (in protocol order) and All arms: text cells."""
    groups = [a for a in arms if a in set(per_subject["ARMCD"].to_list())]
    columns: dict[str, list[str]] = {"Statistic": [name for name, _ in stats]}
    for label, frame in [(arms[a], per_subject.filter(pl.col("ARMCD") == a)) for a in groups] + [
            ("All arms", per_subject)]:
        row = frame.select([expr.alias(f"s{i}") for i, (_, expr) in enumerate(stats)]).row(0)
        columns[label] = [str(v) if v is not None else MISSING for v in row]
    return pl.DataFrame(columns)


def summarize_swimmer_by_arm(subjects: pl.DataFrame, *, arms: Mapping[str, str]) -> pl.DataFrame:
    """Who is where at the cutoff, per arm: the summary that stands for every lane.

    Rows: randomized; on study treatment at the cutoff; treatment ended; died; left the study;
    never treated; responders (first CR/PR, unconfirmed); time on study in days, median
    (range). n (%) of the randomized subjects of the arm (from ``swimmer_subjects``).

    Example:
        >>> s = pl.DataFrame({"ARMCD": ["A", "A"], "ONGOING": ["Y", "N"], "TREATED": ["Y", "Y"],
        ...     "END_STATUS": ["ON TREATMENT", "DEATH"], "FIRST_RESPONSE_DAY": [43, None], "LAST_DAY": [300, 90]})
        >>> summarize_swimmer_by_arm(s, arms={"A": "A: x"})["A: x"].to_list()
        ['2', '1 (50.0%)', '0 (0.0%)', '1 (50.0%)', '0 (0.0%)', '0 (0.0%)', '1 (50.0%)', '195.0 (90–300)']
    """
    n = pl.len()
    count = lambda cond: compute_n_pct_text(cond.sum(), n)  # noqa: E731
    stats = [
        ("Randomized", compute_count_text(n)),
        ("On study treatment at the data cutoff, n (%)", count(pl.col("ONGOING") == "Y")),
        ("Treatment ended, alive on study, n (%)", count(pl.col("END_STATUS") == "TREATMENT ENDED")),
        ("Died, n (%)", count(pl.col("END_STATUS") == "DEATH")),
        ("Left the study (withdrawn, lost, completed), n (%)",
         count(pl.col("END_STATUS").is_in(["STUDY DISCONTINUED", "COMPLETED"]))),
        ("Never treated, n (%)", count(pl.col("TREATED") == "N")),
        ("Responders (first CR or PR, unconfirmed), n (%)", count(pl.col("FIRST_RESPONSE_DAY").is_not_null())),
        ("Time on study, days: median (range)", _median_range(pl.col("LAST_DAY"))),
    ]
    return _arm_table(subjects, stats, arms)


def summarize_exposure(swimmer: Swimmer, *, protocol) -> pl.DataFrame:
    """Exposure by arm: cycles, relative dose intensity, time on treatment, holds, interruptions.

    Per subject first, then per arm (text cells: n (%) of the arm's randomized subjects,
    median (range) among the subjects the row concerns):

    - time on study treatment: first to last study-treatment day, both counted (admiral's
      TRTDURD; an interval ongoing at the cutoff runs to it);
    - per drug given in doses (camrelizumab): subjects dosed, cycles received, relative dose
      intensity = doses received / doses due by the end of treatment, a dose being due every
      ``interval_days`` from C1D1 to the end of treatment (the DS end-of-treatment date, else
      the data cutoff when ongoing, else the last dose), subjects with a dose held for
      toxicity and doses after a permitted delay;
    - per daily drug (apatinib): subjects dosed, relative dose intensity = dose taken (mg per
      day x days) / the protocol dose x the days from its first to its last day (admiral's
      TNDOSINT), subjects with an interruption (episodes) and with a reduced dose;
    - per procedure: subjects with a session and sessions per subject.
    """
    records, subjects = swimmer.records, swimmer.subjects
    arms = {a: l for a, l in protocol.arm_labels.items()}
    for code, label in subjects.select("ARMCD", "ARM").unique().sort("ARMCD").iter_rows():
        arms.setdefault(code, label or code)
    base = subjects.select("USUBJID", "ARMCD", "TREATED", "ONGOING", "LAST_DAY", "EOT_DAY", "FIRST_TREATMENT_DAY",
                           "LAST_TREATMENT_DAY", "RANDDT")
    given = records.filter(pl.col("KIND") != "PLANNING")
    span = (given.group_by("USUBJID").agg(pl.col("START").min().alias("_F"), pl.col("END").max().alias("_L"))
            .select("USUBJID", compute_days_between(pl.col("_F"), pl.col("_L")).alias("TRT_DAYS")))
    per = base.join(span, on="USUBJID", how="left")
    n = pl.len()
    treated = pl.col("TREATED") == "Y"
    stats: list[tuple[str, pl.Expr]] = [
        ("Randomized", compute_count_text(n)),
        ("Treated, n (%)", compute_n_pct_text(treated.sum(), n)),
        ("Time on study treatment, days: median (range)", _median_range(pl.col("TRT_DAYS"))),
    ]
    keys = [k for k in protocol.treatments if k in set(given["KEY"].to_list())] + sorted(
        set(given["KEY"].to_list()) - set(protocol.treatments))
    kinds = dict(given.select("KEY", "KIND").unique(subset="KEY").iter_rows())
    for key in keys:
        spec = protocol.treatments.get(key) or {}
        title = treatment_title(protocol, key) if key in protocol.treatments else sentence_case(key)
        rows = given.filter(pl.col("KEY") == key)
        kind = kinds[key]
        if kind == "DOSE":
            interval = spec.get("interval_days")
            first = rows.group_by("USUBJID").agg(
                pl.len().alias(f"{key}_N"), pl.col("START_DAY").min().alias("_C1"), pl.col("START_DAY").max().alias("_CL"),
                ((pl.col("HOLD_AE").is_not_null() & pl.col("INTERVAL_CLASS").is_in(["PERMITTED DELAY", "LATE"]))
                 .sum() if "HOLD_AE" in rows.columns else pl.lit(0)).alias(f"{key}_HOLDS"),
                (pl.col("INTERVAL_CLASS") == "PERMITTED DELAY").sum().alias(f"{key}_DELAYS"))
            per = per.join(first, on="USUBJID", how="left")
            dosed = pl.col(f"{key}_N").is_not_null()
            stats += [(f"{title}: subjects dosed, n (%)", compute_n_pct_text(dosed.sum(), n)),
                      (f"{title}: cycles received, median (range)", _median_range(pl.col(f"{key}_N")))]
            if interval:
                end = (pl.when(pl.col("EOT_DAY").is_not_null()).then(pl.col("EOT_DAY"))
                       .when(pl.col("ONGOING") == "Y").then(pl.col("LAST_DAY")).otherwise(pl.col("_CL")))
                due = ((pl.max_horizontal(end, pl.col("_CL")) - pl.col("_C1")) // int(interval) + 1)
                per = per.with_columns((pl.col(f"{key}_N") / due * 100).alias(f"{key}_RDI"))
                stats.append((f"{title}: doses received of those due by the end of treatment, % median (range)",
                              _median_range(pl.col(f"{key}_RDI"))))
            stats += [(f"{title}: held for toxicity (AE), subjects n (%)",
                       compute_n_pct_text((pl.col(f"{key}_HOLDS") > 0).sum(), n)),
                      (f"{title}: doses after a permitted delay, n", compute_count_text(pl.col(f"{key}_DELAYS").sum()))]
            per = per.drop("_C1", "_CL")
        elif kind == "INTERVAL":
            planned = spec.get("dose")
            days = compute_days_between(pl.col("START"), pl.col("END"))
            agg = rows.group_by("USUBJID").agg(
                (pl.col("DOSE") * days).sum().alias("_TAKEN"),
                compute_days_between(pl.col("START").min(), pl.col("END").max()).alias(f"{key}_SPAN"),
                (pl.col("DOSE") < pl.col("PLANNED_DOSE")).any().alias(f"{key}_REDUCED"))
            gaps = (swimmer.events.filter((pl.col("KIND") == "INTERRUPTION") & (pl.col("EVENT") == f"{key}_INTERRUPTION"))
                    .group_by("USUBJID").agg(pl.len().alias(f"{key}_OFF")))
            per = per.join(agg, on="USUBJID", how="left").join(gaps, on="USUBJID", how="left")
            dosed = pl.col(f"{key}_SPAN").is_not_null()
            stats.append((f"{title}: subjects dosed, n (%)", compute_n_pct_text(dosed.sum(), n)))
            if planned:
                per = per.with_columns((pl.col("_TAKEN") / (float(planned) * pl.col(f"{key}_SPAN")) * 100)
                                       .alias(f"{key}_RDI"))
                stats.append((f"{title}: relative dose intensity vs {float(planned):g} {spec.get('unit', '')}/day, "
                              f"% median (range)", _median_range(pl.col(f"{key}_RDI"))))
            stats += [(f"{title}: interrupted, subjects n (%)", compute_n_pct_text((pl.col(f"{key}_OFF") > 0).sum(), n)),
                      (f"{title}: interruptions, n", compute_count_text(pl.col(f"{key}_OFF").sum())),
                      (f"{title}: dose reduced, subjects n (%)",
                       compute_n_pct_text(pl.col(f"{key}_REDUCED").fill_null(False).sum(), n))]
            per = per.drop("_TAKEN")
        else:
            count = rows.group_by("USUBJID").agg(pl.len().alias(f"{key}_N"))
            per = per.join(count, on="USUBJID", how="left")
            stats += [(f"{title}: subjects with a session, n (%)",
                       compute_n_pct_text(pl.col(f"{key}_N").is_not_null().sum(), n)),
                      (f"{title}: sessions per subject, median (range)", _median_range(pl.col(f"{key}_N")))]
    return _arm_table(per, stats, arms)


def summarize_treatment_endings(subjects: pl.DataFrame, *, arms: Mapping[str, str]) -> pl.DataFrame:
    """Why study treatment ended, per arm: n (%) of the randomized subjects, every reason a row.

    Rows: on study treatment at the data cutoff, never treated, then each end-of-treatment
    reason (DS DSDECOD, or DEATH), and "ended, no reason recorded".

    Example:
        >>> s = pl.DataFrame({"ARMCD": ["A", "A", "A"], "ONGOING": ["Y", "N", "N"], "TREATED": ["Y", "Y", "Y"],
        ...                   "EOT_REASON": [None, "ADVERSE EVENT", None], "END_STATUS": ["ON TREATMENT", "DEATH", "DEATH"]})
        >>> summarize_treatment_endings(s, arms={"A": "A: x"}).rows()
        [('On study treatment at the data cutoff', '1 (33.3%)', '1 (33.3%)'), ('ADVERSE EVENT', '1 (33.3%)', '1 (33.3%)'), ('DEATH', '1 (33.3%)', '1 (33.3%)')]
    """
    reason = (pl.when(pl.col("ONGOING") == "Y").then(pl.lit("On study treatment at the data cutoff"))
              .when(pl.col("TREATED") == "N").then(pl.lit("Never treated"))
              .when(pl.col("EOT_REASON").is_not_null()).then(pl.col("EOT_REASON"))
              .when(pl.col("END_STATUS") == "DEATH").then(pl.lit("DEATH"))
              .otherwise(pl.lit("Treatment ended, no reason recorded")))
    per = subjects.select("ARMCD", reason.alias("REASON"))
    fixed = ["On study treatment at the data cutoff", "Never treated"]
    present = per["REASON"].unique().to_list()
    order = [r for r in fixed if r in present] + sorted(r for r in present if r not in fixed)
    return _arm_table(per, [(r, compute_n_pct_text((pl.col("REASON") == r).sum(), pl.len())) for r in order], arms)


def summarize_hold_reasons(swimmer: Swimmer, *, protocol) -> pl.DataFrame:
    """Holds, interruptions and dose reductions by reason, per arm (episodes).

    ``What`` (e.g. "Camrelizumab held for toxicity", "Apatinib interrupted", "Apatinib dose
    reduced"), ``Reason`` (the AE term, the SIRT washout, EXADJ), one column per arm, All arms.

    Example:
        >>> import datetime as dt
        >>> from trialkit.protocol import load_protocol
        >>> ev = pl.DataFrame({"USUBJID": ["1"], "ARMCD": ["A"], "EVENT": ["APATINIB_INTERRUPTION"],
        ...                    "KIND": ["INTERRUPTION"], "CLASS": ["AE: Hypertension"]})
        >>> rec = pl.DataFrame(schema={"USUBJID": pl.String, "ARMCD": pl.String, "KEY": pl.String, "KIND": pl.String,
        ...     "START": pl.Date, "END": pl.Date, "ONGOING": pl.Boolean, "DOSE": pl.Float64, "PLANNED_DOSE": pl.Float64,
        ...     "PLACED": pl.Boolean, "ADJ": pl.String})
        >>> sw = Swimmer(subjects=pl.DataFrame(), events=ev, records=rec, responses=pl.DataFrame(),
        ...              response_choice=None, not_shown=pl.DataFrame())
        >>> summarize_hold_reasons(sw, protocol=load_protocol("NCT07334483")).rows()
        [('Apatinib interrupted', 'AE: Hypertension', 1, 1)]
    """
    titles = {k: treatment_title(protocol, k) for k in protocol.treatments}
    events = swimmer.events
    key = pl.col("EVENT").str.replace(r"_(HOLD|INTERRUPTION)$", "")
    title = key.replace_strict(titles, default=key, return_dtype=pl.String)
    holds = events.filter(pl.col("KIND") == "HOLD").select(
        "ARMCD", pl.format("{} held for toxicity", title).alias("What"), pl.format("AE: {}", pl.col("CLASS")).alias("Reason"))
    offs = events.filter(pl.col("KIND") == "INTERRUPTION").select(
        "ARMCD", pl.format("{} interrupted", title).alias("What"), pl.col("CLASS").alias("Reason"))
    intervals = derive_dosing_intervals(swimmer.records) if swimmer.records.height else swimmer.records
    reduced = (intervals.filter(pl.col("DOSE_CHANGE") == "REDUCED").select(
        "ARMCD", pl.format("{} dose reduced", pl.col("KEY").replace_strict(titles, default=pl.col("KEY"),
                                                                         return_dtype=pl.String)).alias("What"),
        pl.coalesce(pl.col("ADJ"), pl.lit("not recorded")).alias("Reason"))
        if "DOSE_CHANGE" in intervals.columns else pl.DataFrame(schema={"ARMCD": pl.String, "What": pl.String,
                                                                        "Reason": pl.String}))
    all_rows = pl.concat([holds.cast(pl.String), offs.cast(pl.String), reduced.cast(pl.String)])
    groups = [a for a in protocol.arm_labels if a in set(all_rows["ARMCD"].to_list())]
    if not all_rows.height:
        return pl.DataFrame(schema={"What": pl.String, "Reason": pl.String, "All arms": pl.Int64})
    wide = (all_rows.group_by("What", "Reason", "ARMCD").len()
            .pivot(on="ARMCD", index=["What", "Reason"], values="len"))
    labels = protocol.arm_labels
    return (wide.select("What", "Reason", *[pl.col(a).fill_null(0).cast(pl.Int64).alias(labels.get(a, a))
                                            for a in groups])
            .with_columns(pl.sum_horizontal([labels.get(a, a) for a in groups]).cast(pl.Int64).alias("All arms"))
            .sort("What", "All arms", "Reason", descending=[False, True, False]))
