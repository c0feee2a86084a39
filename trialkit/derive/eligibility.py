"""The eligibility re-check: the protocol's machine-checkable criteria, evaluated on the screening data.

The protocol file's eligibility catalog gives, for each criterion a machine can check, a
``check``: the condition an ELIGIBLE subject satisfies (the grammar is described above the
catalog in ``trialkit/protocols/nct07334483.yaml``): a leaf on one finding (``{source: LB,
testcd: PLAT, unit: 10^9/L, op: ge, threshold: 75}``, or ``uln_multiple: k`` for "at most k x
ULN"), ``any``/``all`` of checks, or a composite computed from several findings
(``CHILD_PUGH_SCORE``, ``CNLC``, ``CRCL_CG``). No threshold lives in this module.

The re-check, in three steps:

1. :func:`derive_screening_values`: one row per subject with one column per input the
   checks name (the test code: ``PLAT``, ``ECOG101``, ``ASCITES``; ``<TESTCD>_ULN`` for the
   reference range's upper limit; DM's ``AGE`` and ``SEX``). Which record counts: the
   screening records (EPOCH "SCREENING") when the dataset has an EPOCH, else the records on
   or before randomization (any record for a subject never randomized); of those the last
   (by --DTC, then --SEQ). A record whose standard unit (--STRESU) differs from the unit
   the check names is not used, and reported.
2. :func:`derive_eligibility_recheck`: each checkable criterion per subject: True (the
   data meet it), False (they fail it) or null (an input is missing: it cannot be told,
   never "eligible").
3. :func:`trialkit.derive.screening.summarize_eligibility_discrepancies`: the data against
   the IE records, both ways:
   a randomized subject whose data fail a criterion (an eligibility deviation), and a
   screen failure whose IE record names a criterion the data meet (not supported).

The evaluators :func:`compute_check`, :func:`compute_composite` and
:func:`checkable_criteria` are the ones the demo study generates its IE records with; they
live here, in the lower layer, so the demo and the reports evaluate one rule one way.

Example:
    >>> from trialkit.protocol import load_protocol
    >>> protocol = load_protocol("NCT07334483")
    >>> [c["ietestcd"] for c in checkable_criteria(protocol)][:3]
    ['INCL02', 'INCL05A', 'INCL05B']
    >>> describe_check(protocol_check(protocol, "INCL13D"))
    'BILI ≤ 2 × ULN'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Any

import polars as pl

from trialkit.io.terms import compute_term_of

#: Findings datasets a check may name, and DM (whose columns are named by ``testcd``).
FINDINGS_SOURCES = ("LB", "VS", "QS", "FA")
_NUMERIC_OPS = ("ge", "gt", "le", "lt", "between")
_OP_TEXT = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
_COMPOSITE_NAMES = {"CHILD_PUGH_SCORE": "Child-Pugh score", "CNLC": "CNLC stage",
                    "CRCL_CG": "CrCl (Cockcroft-Gault)"}
_COMPOSITE_SHORT = {"CHILD_PUGH_SCORE": "Child-Pugh", "CNLC": "CNLC", "CRCL_CG": "CrCl"}


# --------------------------------------------------------------------------------------------
# the protocol's checks as expressions
# --------------------------------------------------------------------------------------------
def checkable_criteria(protocol) -> list[dict[str, Any]]:
    """The catalog entries that carry a machine ``check``, in catalog order."""
    return [c for c in protocol.eligibility if c.get("check")]


def protocol_check(protocol, ietestcd: str) -> dict[str, Any]:
    """The ``check`` of one criterion of the catalog (KeyError when it has none)."""
    for criterion in protocol.eligibility:
        if criterion["ietestcd"] == ietestcd and criterion.get("check"):
            return criterion["check"]
    raise KeyError(f"criterion {ietestcd} has no check in the protocol file")


def _compare(value: pl.Expr, op: str, threshold: Any) -> pl.Expr:
    if op == "ge":
        return value >= threshold
    if op == "gt":
        return value > threshold
    if op == "le":
        return value <= threshold
    if op == "lt":
        return value < threshold
    if op == "between":
        return value.is_between(threshold[0], threshold[1], closed="both")
    if op == "in":
        return value.cast(pl.String).is_in([str(t) for t in threshold])
    if op == "not_in":
        return ~value.cast(pl.String).is_in([str(t) for t in threshold])
    raise ValueError(f"trialkit: unknown check operator {op!r} in the protocol file; "
                     f"use one of ge, gt, le, lt, between, in, not_in")


def compute_composite(name: str, definition: dict[str, Any]) -> pl.Expr:
    """The value of a composite named in the protocol file (Child-Pugh, CNLC, Cockcroft-Gault).

    Null when an input it needs is null: a Child-Pugh score with an unknown albumin is
    unknown, not lower; a CNLC rule that cannot be told stops the staging (null).

    Args:
        name: CHILD_PUGH_SCORE, CNLC or CRCL_CG.
        definition: the ``definition`` mapping of the protocol file's check.

    Example:
        >>> bands = [{"points": 1, "lt": 34}, {"points": 2, "le": 51}, {"points": 3}]
        >>> cp = {"inputs": [{"testcd": "BILI", "bands": bands}], "classes": {}}
        >>> pl.DataFrame({"BILI": [20.0, 40.0, 60.0, None]}).select(
        ...     compute_composite("CHILD_PUGH_SCORE", cp).alias("P"))["P"].to_list()
        [1, 2, 3, None]
    """
    if name == "CHILD_PUGH_SCORE":
        points = []
        for inp in definition["inputs"]:
            col = pl.col(str(inp["testcd"]))
            if "values" in inp:
                points.append(col.cast(pl.String).replace_strict(
                    {str(k): int(v) for k, v in inp["values"].items()}, default=None, return_dtype=pl.Int64))
                continue
            expr = None
            for band in inp["bands"]:
                bounds = [(op, band[op]) for op in ("lt", "le", "gt", "ge") if op in band]
                cond = _compare(col, *bounds[0]) if bounds else col.is_not_null()
                expr = pl.when(cond).then(band["points"]) if expr is None else expr.when(cond).then(band["points"])
            points.append(expr.otherwise(None).cast(pl.Int64))
        return reduce(lambda a, b: a + b, points)  # "+" keeps a null input null (sum_horizontal would not)
    if name == "CNLC":
        expr = None
        default = None
        for rule in definition["rules"]:
            kinds = [k for k in ("any", "all") if k in rule]
            if not kinds:
                default = str(rule["stage"])
                continue
            cond = compute_check({kinds[0]: rule[kinds[0]]})
            stage = pl.lit(str(rule["stage"]))
            expr = (pl.when(cond.is_null()).then(pl.lit(None, pl.String)) if expr is None
                    else expr.when(cond.is_null()).then(pl.lit(None, pl.String))).when(cond).then(stage)
        return expr.otherwise(pl.lit(default)) if expr is not None else pl.lit(default)
    if name == "CRCL_CG":
        d = definition
        age = pl.col(str(d["age"]["testcd"]))
        weight = pl.col(str(d["weight"]["testcd"]))
        creat_mg = pl.col(str(d["creatinine"]["testcd"])) / d["umol_per_mg_dl"]
        sex = pl.col(str(d["sex"]["testcd"])).cast(pl.String)
        factor = pl.when(sex == str(d["sex"]["female"])).then(d["female_factor"]).when(sex.is_not_null()).then(1.0)
        return (d["age_offset"] - age) * weight / (d["divisor"] * creat_mg) * factor
    raise ValueError(f"trialkit: unknown composite {name!r} in the protocol file; "
                     f"use one of {', '.join(_COMPOSITE_NAMES)}")


def compute_check(check: dict[str, Any]) -> pl.Expr:
    """A protocol ``check`` as a boolean expression: True where the subject is eligible.

    Works on a wide frame with one column per input (named by its test code) and, for ×ULN
    rules, ``<TESTCD>_ULN``. Null inputs give null (cannot tell), with Kleene logic: an
    ``any`` with one True is True whatever the others.

    Example:
        >>> frame = pl.DataFrame({"PLAT": [60.0, 150.0, None]})
        >>> frame.select(compute_check({"source": "LB", "testcd": "PLAT", "op": "ge", "threshold": 75}))["PLAT"].to_list()
        [False, True, None]
    """
    if "any" in check:
        return pl.any_horizontal([compute_check(c) for c in check["any"]])
    if "all" in check:
        return pl.all_horizontal([compute_check(c) for c in check["all"]])
    if "composite" in check:
        value = compute_composite(str(check["composite"]), check["definition"])
        return _compare(value, check["op"], check["threshold"])
    value = pl.col(str(check["testcd"]))
    if "uln_multiple" in check:
        return _compare(value, check["op"], pl.col(f"{check['testcd']}_ULN") * check["uln_multiple"])
    return _compare(value, check["op"], check["threshold"])


# --------------------------------------------------------------------------------------------
# the checks as text
# --------------------------------------------------------------------------------------------
def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def describe_check(check: dict[str, Any]) -> str:
    """The rule of a check in words, as a table prints it.

    Example:
        >>> describe_check({"any": [{"source": "LB", "testcd": "CREAT", "op": "le", "uln_multiple": 1.5},
        ...                         {"composite": "CRCL_CG", "unit": "mL/min", "op": "ge", "threshold": 50,
        ...                          "definition": {}}]})
        'CREAT ≤ 1.5 × ULN or CrCl (Cockcroft-Gault) ≥ 50 mL/min'
    """
    if "any" in check:
        return " or ".join(describe_check(c) for c in check["any"])
    if "all" in check:
        return " and ".join(describe_check(c) for c in check["all"])
    name = _COMPOSITE_NAMES.get(str(check.get("composite")), str(check.get("composite"))) \
        if "composite" in check else str(check["testcd"])
    op, threshold = check["op"], check.get("threshold")
    unit = f" {check['unit']}" if check.get("unit") and check.get("unit") not in ("RATIO",) else ""
    if "uln_multiple" in check:
        return f"{name} {_OP_TEXT[op]} {_number(check['uln_multiple'])} × ULN"
    if op == "between":
        return f"{name} {_number(threshold[0])}–{_number(threshold[1])}{unit}"
    if op == "in":
        return f"{name} one of {', '.join(str(t) for t in threshold)}"
    if op == "not_in":
        return f"{name} not {', '.join(str(t) for t in threshold)}"
    return f"{name} {_OP_TEXT[op]} {_number(threshold)}{unit}"


def _leaf_texts(check: dict[str, Any]) -> Iterator[tuple[str, pl.Expr]]:
    """(key, text expression) of the values a check reads, outermost first, each key once."""
    if "any" in check or "all" in check:
        for sub in check.get("any", check.get("all", [])):
            yield from _leaf_texts(sub)
        return
    if "composite" in check:
        name = str(check["composite"])
        value = compute_composite(name, check["definition"])
        if name == "CRCL_CG":
            value = value.round(0)
        unit = f" {check['unit']}" if check.get("unit") else ""
        short = _COMPOSITE_SHORT.get(name, name)
        yield name, pl.when(value.is_null()).then(pl.lit(f"{short} missing")).otherwise(
            pl.format("{} {}{}", pl.lit(short), _value_text(value), pl.lit(unit)))
        return
    testcd = str(check["testcd"])
    unit = f" {check['unit']}" if check.get("unit") and check["unit"] not in ("RATIO", "YEARS") else ""
    text = pl.format("{} {}{}", pl.lit(testcd), _value_text(pl.col(testcd)), pl.lit(unit))
    if "uln_multiple" in check:
        text = pl.format("{} (ULN {})", text, _value_text(pl.col(f"{testcd}_ULN")))
    yield testcd, pl.when(pl.col(testcd).is_null()).then(pl.lit(f"{testcd} missing")).otherwise(text)


def _value_text(value: pl.Expr) -> pl.Expr:
    # 60.0 -> "60", 1.25 -> "1.25", missing -> "missing"; text values as they are
    return (value.cast(pl.String).str.replace(r"\.0$", "").fill_null("missing"))


def compute_check_values(check: dict[str, Any]) -> pl.Expr:
    """The values a check reads, as one text per subject: ``"PLAT 60 10^9/L"``, ``"Child-Pugh 8"``.

    Example:
        >>> frame = pl.DataFrame({"BILI": [40.5], "BILI_ULN": [20.5]})
        >>> frame.select(compute_check_values({"testcd": "BILI", "unit": "umol/L", "op": "le",
        ...                                    "uln_multiple": 2}).alias("V")).item()
        'BILI 40.5 umol/L (ULN 20.5)'
    """
    texts = {}
    for key, text in _leaf_texts(check):
        texts.setdefault(key, text)
    return pl.concat_str(list(texts.values()), separator="; ")


# --------------------------------------------------------------------------------------------
# the inputs the checks read
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckInput:
    """One finding a check reads: where from, its unit, and whether it is compared as text."""

    source: str
    testcd: str
    unit: str | None
    text: bool
    uln: bool = False


def _inputs_of(check: dict[str, Any]) -> Iterator[CheckInput]:
    if "any" in check or "all" in check:
        for sub in check.get("any", check.get("all", [])):
            yield from _inputs_of(sub)
        return
    if "composite" in check:
        d = check["definition"]
        name = str(check["composite"])
        if name == "CHILD_PUGH_SCORE":
            for inp in d["inputs"]:
                yield CheckInput(str(inp.get("source", "LB")).upper(), str(inp["testcd"]), inp.get("unit"),
                                 "values" in inp)
        elif name == "CNLC":
            for rule in d["rules"]:
                for sub in rule.get("any", rule.get("all", [])):
                    yield from _inputs_of(sub)
        elif name == "CRCL_CG":
            for key in ("age", "sex", "weight", "creatinine"):
                inp = d[key]
                yield CheckInput(str(inp.get("source", "DM")).upper(), str(inp["testcd"]), inp.get("unit"), key == "sex")
        return
    yield CheckInput(str(check.get("source", "LB")).upper(), str(check["testcd"]), check.get("unit"),
                     check["op"] in ("in", "not_in"), "uln_multiple" in check)


def summarize_check_inputs(protocol) -> pl.DataFrame:
    """Every input the protocol's checks read, once: ``SOURCE, TESTCD, UNIT, TEXT, ULN``.

    A test code read both as a number and as text is read as a number.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> inputs = summarize_check_inputs(load_protocol("NCT07334483"))
        >>> inputs.filter(pl.col("TESTCD") == "BILI").row(0)
        ('LB', 'BILI', 'umol/L', False, True)
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for criterion in checkable_criteria(protocol):
        for inp in _inputs_of(criterion["check"]):
            key = (inp.source, inp.testcd)
            row = rows.setdefault(key, {"SOURCE": inp.source, "TESTCD": inp.testcd, "UNIT": inp.unit,
                                        "TEXT": inp.text, "ULN": inp.uln})
            row["TEXT"] = row["TEXT"] and inp.text
            row["ULN"] = row["ULN"] or inp.uln
            row["UNIT"] = row["UNIT"] or inp.unit
    schema = {"SOURCE": pl.String, "TESTCD": pl.String, "UNIT": pl.String, "TEXT": pl.Boolean, "ULN": pl.Boolean}
    return pl.DataFrame(list(rows.values()), schema=schema, orient="row")


def _unit_key(unit: pl.Expr) -> pl.Expr:
    return unit.cast(pl.String).str.to_uppercase().str.replace_all(r"\s+", "")


UNIT_NOTES_SCHEMA = {"DATASET": pl.String, "TESTCD": pl.String, "UNIT_EXPECTED": pl.String,
                     "UNIT_FOUND": pl.String, "RECORDS": pl.Int64}


def _screening_records(findings: pl.DataFrame, prefix: str, subjects: pl.DataFrame, *,
                       keep: pl.Expr = pl.lit(True)) -> pl.DataFrame:
    """The records that describe a subject at screening (see the module notes), of those ``keep`` selects."""
    if "EPOCH" in findings.columns:
        screening = pl.col("EPOCH") == "SCREENING"
        if not findings.select(screening.any()).item():  # another spelling ("Screening ")?
            screening = compute_term_of(findings, "EPOCH") == "SCREENING"
        if findings.select(screening.any()).item():
            return findings.filter(keep & screening)
    findings = findings.filter(keep)
    dtc = f"{prefix}DTC"
    if dtc not in findings.columns or "RANDDT" not in subjects.columns:
        return findings
    rand = subjects.select(pl.col("USUBJID").cast(pl.String), pl.col("RANDDT").dt.strftime("%Y-%m-%d").alias("_RAND"))
    # ISO text compares as dates do; a partial date counts by its first possible day
    return (findings.join(rand, on="USUBJID", how="left", maintain_order="left")
            .filter(pl.col("_RAND").is_null() | pl.col(dtc).is_null()
                    | (pl.col(dtc).cast(pl.String).str.slice(0, 10) <= pl.col("_RAND")))
            .drop("_RAND"))


def _last_per_test(records: pl.DataFrame, wanted: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    """One row per subject, one column per wanted test: the value of its last screening record.

    Records are taken in file order; only subjects with two records of one test are sorted
    (by ``order``: --DTC, --SEQ) first, so the common case costs one grouping (a fast one
    when the dataset is sorted by USUBJID, as SDTM datasets are).
    """
    aggs = []
    for testcd, text, uln in wanted.select("TESTCD", "TEXT", "ULN").iter_rows():
        mine = pl.col("_COL") == testcd
        aggs.append(pl.col("_TXT" if text else "_NUM").filter(mine).last().alias(testcd))
        if uln:
            aggs.append(pl.col("_ULN").filter(mine).last().alias(f"{testcd}_ULN"))
    ordered = records["USUBJID"].is_sorted()
    if ordered:
        records = records.with_columns(pl.col("USUBJID").set_sorted())
    duplicated = (pl.len() > pl.col("_COL").n_unique()).alias("_DUP")
    wide = records.group_by("USUBJID", maintain_order=ordered).agg(*aggs, duplicated)
    if wide.height and wide["_DUP"].any():
        again = wide.filter(pl.col("_DUP")).select("USUBJID")
        redo = (records.join(again, on="USUBJID", how="semi").sort("USUBJID", *order, nulls_last=False)
                .group_by("USUBJID", maintain_order=True).agg(*aggs))
        wide = pl.concat([wide.filter(~pl.col("_DUP")).drop("_DUP"), redo], how="vertical_relaxed").sort("USUBJID")
    return wide.drop("_DUP", strict=False)


def derive_screening_values(subjects: pl.DataFrame, findings: Mapping[str, pl.DataFrame | None], protocol
                            ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per subject with every input of the protocol's checks (see the module notes).

    Args:
        subjects: one row per subject: ``USUBJID``, ``RANDDT`` (a date; null when not
            randomized) and the DM columns checks name (``AGE``, ``SEX``).
        findings: dataset -> frame: ``lb``, ``vs``, ``qs``, ``fa`` (absent ones are None or
            missing).
        protocol: the study's protocol (its checks say what to read).

    Returns:
        The values (``USUBJID`` and one column per input, null when not collected), and the
        records not used for their unit (a standard unit other than the check's):
        ``DATASET, TESTCD, UNIT_EXPECTED, UNIT_FOUND, RECORDS``.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> dm = pl.DataFrame({"USUBJID": ["1"], "AGE": [60.0], "SEX": ["M"], "RANDDT": [None]},
        ...                   schema_overrides={"RANDDT": pl.Date})
        >>> lb = pl.DataFrame({"USUBJID": ["1", "1"], "LBTESTCD": ["PLAT", "PLAT"], "LBSTRESN": [60.0, 80.0],
        ...                    "LBSTRESU": ["10^9/L"] * 2, "LBDTC": ["2025-09-08", "2025-09-01"]})
        >>> values, _ = derive_screening_values(dm, {"lb": lb}, load_protocol("NCT07334483"))
        >>> values.select("USUBJID", "AGE", "PLAT").row(0)
        ('1', 60.0, 60.0)
    """
    inputs = summarize_check_inputs(protocol)
    dm = []
    for testcd, text in inputs.filter(pl.col("SOURCE") == "DM").select("TESTCD", "TEXT").iter_rows():
        dtype = pl.String if text else pl.Float64
        dm.append((pl.col(testcd).cast(dtype, strict=False) if testcd in subjects.columns
                   else pl.lit(None, dtype)).alias(testcd))
    values = subjects.select(pl.col("USUBJID").cast(pl.String), *dm)
    columns: dict[str, pl.DataType] = {}
    unit_notes = []
    for source in FINDINGS_SOURCES:
        wanted = inputs.filter(pl.col("SOURCE") == source)
        for testcd, text, uln in wanted.select("TESTCD", "TEXT", "ULN").iter_rows():
            columns[testcd] = pl.String if text else pl.Float64
            if uln:
                columns[f"{testcd}_ULN"] = pl.Float64
        frame = findings.get(source.lower())
        p = source
        if wanted.is_empty() or frame is None or f"{p}TESTCD" not in frame.columns:
            continue
        order = [c for c in (f"{p}DTC", f"{p}SEQ") if c in frame.columns]

        def column(name: str, dtype: pl.DataType, frame: pl.DataFrame = frame) -> pl.Expr:
            return pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype)

        records = _screening_records(frame, p, subjects, keep=pl.col(f"{p}TESTCD").is_in(wanted["TESTCD"].to_list()))
        records = records.select(
            pl.col("USUBJID").cast(pl.String), pl.col(f"{p}TESTCD").alias("_COL"),
            column(f"{p}STRESN", pl.Float64).alias("_NUM"), column(f"{p}STRESC", pl.String).alias("_TXT"),
            column(f"{p}STRESU", pl.String).alias("_UNIT"), column(f"{p}STNRHI", pl.Float64).alias("_ULN"),
            *[pl.col(c) for c in order])
        # a record in another unit than the check's is not used (and is reported)
        units = dict(wanted.filter(pl.col("UNIT").is_not_null()).select("TESTCD", "UNIT").iter_rows())
        found = records.select([pl.col("_UNIT").filter(pl.col("_COL") == c).drop_nulls().unique().implode().alias(c)
                                for c in units]).row(0, named=True) if units else {}
        drop = pl.lit(False)
        for testcd, unit in units.items():
            bad = [u for u in found[testcd] if u.upper().replace(" ", "") != unit.upper().replace(" ", "")]
            if bad:
                mask = (pl.col("_COL") == testcd) & pl.col("_UNIT").is_in(bad)
                counts = records.filter(mask).group_by("_UNIT").len().sort("_UNIT")
                unit_notes += [(source, testcd, unit, u, int(n)) for u, n in counts.iter_rows()]
                drop = drop | mask
        if units and any(found[c] for c in units):
            records = records.filter(~drop)
        wide = _last_per_test(records, wanted, order)
        texts = [compute_term_of(wide, t).alias(t) for t in wanted.filter(pl.col("TEXT"))["TESTCD"].to_list()]
        wide = wide.with_columns(texts) if texts else wide
        if wide.height == values.height and wide["USUBJID"].equals(values["USUBJID"]):
            values = values.hstack(wide.drop("USUBJID"))          # same subjects in the same order: no join
        else:
            values = values.join(wide, on="USUBJID", how="left", maintain_order="left")
    values = values.with_columns([pl.lit(None, dtype).alias(name) for name, dtype in columns.items()
                                  if name not in values.columns])
    notes = pl.DataFrame(unit_notes, schema=UNIT_NOTES_SCHEMA, orient="row")
    return values, notes


def _with_inputs(values: pl.DataFrame, checks) -> pl.DataFrame:
    """``values`` with a null column for every input of ``checks`` it lacks (not collected)."""
    needed = {inp.testcd: (pl.String if inp.text else pl.Float64) for c in checks for inp in _inputs_of(c)}
    needed.update({f"{inp.testcd}_ULN": pl.Float64 for c in checks for inp in _inputs_of(c) if inp.uln})
    return values.with_columns([pl.lit(None, dtype).alias(name) for name, dtype in needed.items()
                                if name not in values.columns])


def derive_eligibility_recheck(values: pl.DataFrame, protocol) -> pl.DataFrame:
    """Each machine-checkable criterion per subject: ``USUBJID`` and one Boolean column per criterion.

    A criterion's column (named by its IETESTCD) is True when the subject's screening data
    meet it, False when they fail it, null when an input is missing (see
    :func:`compute_check`). Wide, one row per subject: a study of 100,000 subjects and 20
    checks is 100,000 rows, not two million.

    Args:
        values: the output of :func:`derive_screening_values`.
        protocol: the study's protocol.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> values = pl.DataFrame({"USUBJID": ["1", "2"], "PLAT": [60.0, None]})
        >>> derive_eligibility_recheck(values, load_protocol("NCT07334483"))["INCL13B"].to_list()
        [False, None]
    """
    criteria = checkable_criteria(protocol)
    values = _with_inputs(values, [c["check"] for c in criteria])
    return values.select(pl.col("USUBJID"), *[compute_check(c["check"]).alias(c["ietestcd"]) for c in criteria])


def summarize_recheck_values(values: pl.DataFrame, pairs: pl.DataFrame, protocol) -> pl.DataFrame:
    """The values behind each (subject, criterion) pair as text: ``USUBJID, IETESTCD, VALUES``.

    Only the pairs asked for are formatted (a listing needs a few, not every subject's).

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> values = pl.DataFrame({"USUBJID": ["1"], "PLAT": [60.0]})
        >>> pairs = pl.DataFrame({"USUBJID": ["1"], "IETESTCD": ["INCL13B"]})
        >>> summarize_recheck_values(values, pairs, load_protocol("NCT07334483"))["VALUES"].to_list()
        ['PLAT 60 10^9/L']
    """
    schema = {"USUBJID": pl.String, "IETESTCD": pl.String, "VALUES": pl.String}
    checks = {c["ietestcd"]: c["check"] for c in checkable_criteria(protocol)}
    wanted = pairs.select("USUBJID", "IETESTCD").unique().filter(pl.col("IETESTCD").is_in(list(checks)))
    if wanted.is_empty():
        return pl.DataFrame(schema=schema)
    subset = _with_inputs(values.join(wanted.select("USUBJID").unique(), on="USUBJID", how="semi"), checks.values())
    codes = wanted["IETESTCD"].unique().to_list()
    texts = subset.select("USUBJID", *[compute_check_values(checks[c]).alias(c) for c in codes])
    return (texts.unpivot(index="USUBJID", variable_name="IETESTCD", value_name="VALUES")
            .join(wanted, on=["USUBJID", "IETESTCD"], how="semi").cast(schema))
