"""The CONSORT 2025 flow diagram's numbers, for any number of arms, with their arithmetic checked.

CONSORT 2025 items 22a/b (participant flow): per group, the numbers randomly assigned,
receiving the intended intervention and analysed for the primary outcome, and the losses
and exclusions after randomization with reasons. The boxes (:func:`derive_consort`):

- **Enrollment** (all): assessed for eligibility (persons: a rescreened person once) ->
  excluded: not meeting eligibility criteria (screen failures with an IE record; the reasons
  are the groups of the criteria failed, several per subject possible), declined to
  participate (DS :data:`DECLINED`), other reasons (the DS reason, or none recorded) -> in
  screening at the data cutoff, when any -> randomized.
- **Allocation** (per arm): allocated -> received the allocated intervention (a record of at
  least one of the arm's study treatments in EX or PR; each treatment counted, as the
  protocol file's ``received`` label names it: "SIRT delivered", ...; a generic protocol
  names no treatment: any study-treatment record, the data layer's TREATED) or not (the
  reason: the first DS disposition event after randomization, else no record by the cutoff).
- **Follow-up** (per arm, of those who received it): discontinued intervention (the first DS
  disposition event after randomization in the TREATMENT epoch, or any epoch when DS has
  none, that is not COMPLETED; its DSDECOD is the reason), completed, on treatment at the
  cutoff; lost to follow-up (DS LOST TO FOLLOW-UP) is shown as a detail.
- **Analysis** (per arm): analysed = all randomized (ITT); excluded from analysis: none.

An ADaM-only folder (no DS) reads ADSL's end-of-study status (EOSSTT, with DCSREAS) instead.
:func:`check_consort` tests each box against the boxes or reasons that detail it.

Example:
    >>> from trialkit.protocol import load_protocol
    >>> scr = pl.DataFrame({"USUBJID": ["1", "2"], "COUNTED": ["Y", "Y"], "OUTCOME": ["RANDOMIZED", "SCREEN FAILURE"],
    ...                     "N_FAILED_CRITERIA": [0, 1], "DS_REASON": [None, "SCREEN FAILURE"], "ARMCD": ["A", None],
    ...                     "RANDDT": [None, None], "TREATED": ["N", "N"]})
    >>> fail = pl.DataFrame({"USUBJID": ["2"], "GROUP": ["Laboratory"]})
    >>> flow = derive_consort(scr, fail, load_protocol("NCT07334483"))
    >>> flow.filter(pl.col("STAGE") == "ENROLLMENT").select("LABEL", "N").rows()[:3]
    [('Assessed for eligibility', 2), ('Excluded', 1), ('Not meeting eligibility criteria', 1)]
"""

from __future__ import annotations

import polars as pl

from trialkit.derive.subjects import compute_is_dose, filter_disposition_events
from trialkit.io.terms import compute_term, compute_term_of

ALL = "ALL"
COMPLETED = "COMPLETED"
NO_DS = "NO DISPOSITION RECORDED"
#: DS terms (upper case) of the "declined to participate" box.
DECLINED = ("WITHDRAWAL BY SUBJECT", "WITHDRAWAL OF CONSENT", "SUBJECT REFUSED")


def compute_reason_label(reason: pl.Expr) -> pl.Expr:
    """Why a subject left screening, as the reason rows name it (a DS term, upper case).

    Example:
        >>> pl.select(compute_reason_label(pl.lit(None, pl.String))).item()
        'NO DISPOSITION RECORDED'
    """
    return (pl.when(reason.is_null()).then(pl.lit(NO_DS))
            .when(reason == "SCREEN FAILURE").then(pl.lit("SCREEN FAILURE, NO CRITERION RECORDED"))
            .otherwise(reason))


CONSORT_SCHEMA = {"BOX": pl.String, "PARENT": pl.String, "STAGE": pl.String, "GROUP": pl.String, "LABEL": pl.String,
                  "N": pl.Int64, "KIND": pl.String, "ORDER": pl.Int64, "NOTE": pl.String,
                  "USUBJIDS": pl.List(pl.String)}
#: Subjects listed per box of the flow (in site and subject order); a box of more says so.
MAX_LISTED = 1000
STAGES = ["ENROLLMENT", "ALLOCATION", "FOLLOW-UP", "ANALYSIS"]


def _treatment_flags(protocol, exposure: pl.DataFrame | None, procedures: pl.DataFrame | None) -> pl.DataFrame:
    """One row per subject with a study-treatment record: ``USUBJID`` and a Boolean per treatment (protocol key)."""
    parts = []
    for domain, frame, column in (("EX", exposure, "EXTRT"), ("PR", procedures, "PRTRT")):
        names = {str(spec.get("name") or key).upper(): key for key, spec in protocol.treatments.items()
                 if not spec.get("planning") and str(spec.get("domain", "")).upper() == domain}
        if not names or frame is None or not {"USUBJID", column} <= set(frame.columns):
            continue
        given = compute_is_dose(frame) if domain == "EX" else pl.lit(True)
        term = compute_term_of(frame, column)
        records = frame.filter(term.is_in(list(names)) & given).select(
            pl.col("USUBJID").cast(pl.String), term.replace_strict(names).alias("TREATMENT"))
        if records["USUBJID"].is_sorted():  # SDTM order: a fast grouping
            records = records.with_columns(pl.col("USUBJID").set_sorted())
        parts.append(records.group_by("USUBJID").agg([(pl.col("TREATMENT") == k).any().alias(k)
                                                      for k in names.values()]))
    keys = [k for k, spec in protocol.treatments.items() if not spec.get("planning")]
    flags = pl.DataFrame(schema={"USUBJID": pl.String})
    for part in parts:
        flags = flags.join(part, on="USUBJID", how="full", coalesce=True)
    return flags.with_columns([pl.col(k).fill_null(False) if k in flags.columns else pl.lit(False).alias(k)
                               for k in keys])


def _adsl_disposition(adsl: pl.DataFrame | None) -> pl.DataFrame | None:
    """ADSL's end-of-study status as DS-like disposition events (an ADaM-only folder has no DS)."""
    if adsl is None or "EOSSTT" not in adsl.columns:
        return None
    reason = next((c for c in ("DCSREAS", "DCDECOD", "DCTREAS") if c in adsl.columns), None)
    status = compute_term(pl.col("EOSSTT"))
    decod = (pl.when(status == COMPLETED).then(pl.lit(COMPLETED))
             .when(status == "DISCONTINUED").then(compute_term(pl.col(reason)) if reason else pl.lit("DISCONTINUED"))
             .otherwise(None))
    when = pl.col("EOSDT").cast(pl.String) if "EOSDT" in adsl.columns else pl.lit(None, pl.String)
    return (adsl.select(pl.col("USUBJID").cast(pl.String), decod.alias("DSDECOD"), decod.alias("DSTERM"),
                        pl.lit("DISPOSITION EVENT").alias("DSCAT"), pl.lit("TREATMENT").alias("EPOCH"),
                        when.alias("DSSTDTC")).filter(pl.col("DSDECOD").is_not_null()))


class _Flow:
    """The boxes of a flow as they are added; the subjects of each kept as frames, joined once."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.members: list[pl.DataFrame] = []

    def box(self, box: str, parent: str | None, stage: str, group: str, label: str, ids: pl.Series,
            kind: str = "box", note: str | None = None) -> None:
        self.rows.append((box, parent, stage, group, label, ids.len(), kind, len(self.rows), note))
        self.members.append(ids.head(MAX_LISTED).cast(pl.String).alias("USUBJID").to_frame()
                            .with_columns(pl.lit(box).alias("BOX")))

    def reasons(self, parent: str, stage: str, group: str, frame: pl.DataFrame, column: str, *,
                keep_case: bool = False) -> None:
        """One reason row per value of ``column`` (most subjects first), under ``parent``."""
        if frame.is_empty():
            return
        counts = frame.group_by(column).len().sort(["len", column], descending=[True, False])
        for value, _ in counts.iter_rows():
            text = (str(value) if keep_case else str(value).capitalize()) if value is not None else "No reason recorded"
            ids = frame.filter(pl.col(column).is_null() if value is None else pl.col(column) == value)["USUBJID"]
            self.box(f"{parent}.{len(self.rows)}", parent, stage, group, text, ids, kind="reason")

    def frame(self) -> pl.DataFrame:
        schema = {k: v for k, v in CONSORT_SCHEMA.items() if k != "USUBJIDS"}
        rows = pl.DataFrame(self.rows, schema=schema, orient="row")
        members = pl.concat(self.members).group_by("BOX").agg(pl.col("USUBJID").unique().sort().alias("USUBJIDS"))
        return (rows.join(members, on="BOX", how="left", maintain_order="left")
                .with_columns(pl.col("USUBJIDS").fill_null(pl.lit([], pl.List(pl.String)))).cast(CONSORT_SCHEMA))


def derive_consort(screening: pl.DataFrame, failures: pl.DataFrame, protocol, *,
                   exposure: pl.DataFrame | None = None, procedures: pl.DataFrame | None = None,
                   disposition: pl.DataFrame | None = None, adsl: pl.DataFrame | None = None,
                   events: pl.DataFrame | None = None) -> pl.DataFrame:
    """The CONSORT 2025 flow for every arm: one row per box and per reason (see the module notes).

    Args:
        screening: :func:`derive_screening_subjects` (persons: ``COUNTED`` "Y").
        failures: :func:`summarize_failures` (the groups of the criteria box).
        protocol: arms (order, labels) and treatments (which records are study treatment).
        exposure, procedures, disposition: EX, PR and DS, cut at the cutoff.
        adsl: ADSL, for an ADaM-only folder (end-of-study status instead of DS).
        events: ``filter_disposition_events(disposition)`` when already computed.

    Returns:
        ``BOX`` (id), ``PARENT`` (the box it details), ``STAGE`` (ENROLLMENT, ALLOCATION,
        FOLLOW-UP, ANALYSIS), ``GROUP`` ("ALL" or an arm code), ``LABEL``, ``N``, ``KIND``
        ("box"; "reason": why; "detail": a subset shown inside its parent), ``ORDER``,
        ``NOTE`` and ``USUBJIDS`` (the subjects behind it, in site and subject order, at
        most :data:`MAX_LISTED`).
    """
    flow = _Flow()
    persons = screening.filter(pl.col("COUNTED") == "Y")
    ids = persons["USUBJID"]
    flow.box("assessed", None, "ENROLLMENT", ALL, "Assessed for eligibility", ids)
    excluded = persons.filter(pl.col("OUTCOME").is_in(["SCREEN FAILURE", "NOT ASSIGNED"]))
    flow.box("excluded", "assessed", "ENROLLMENT", ALL, "Excluded", excluded["USUBJID"])
    criteria = excluded.filter((pl.col("OUTCOME") == "SCREEN FAILURE") & (pl.col("N_FAILED_CRITERIA") > 0))
    rest = excluded.join(criteria.select("USUBJID"), on="USUBJID", how="anti")
    declined = rest.filter(pl.col("DS_REASON").is_in(DECLINED).fill_null(False))
    other = rest.join(declined.select("USUBJID"), on="USUBJID", how="anti")
    flow.box("criteria", "excluded", "ENROLLMENT", ALL, "Not meeting eligibility criteria", criteria["USUBJID"])
    groups = (failures.join(criteria.select("USUBJID"), on="USUBJID", how="semi").select("USUBJID", "GROUP").unique())
    several = int((groups.group_by("USUBJID").len()["len"] > 1).sum()) if groups.height else 0
    flow.rows[-1] = flow.rows[-1][:-1] + (f"{several} subject(s) failed criteria of more than one group and count "
                                          "in each" if several else None,)
    flow.reasons("criteria", "ENROLLMENT", ALL, groups, "GROUP", keep_case=True)
    flow.box("declined", "excluded", "ENROLLMENT", ALL, "Declined to participate", declined["USUBJID"])
    flow.box("other", "excluded", "ENROLLMENT", ALL, "Other reasons", other["USUBJID"])
    flow.reasons("other", "ENROLLMENT", ALL, other.with_columns(compute_reason_label(pl.col("DS_REASON")).alias("_R")), "_R")
    in_screening = persons.filter(pl.col("OUTCOME") == "IN SCREENING AT CUTOFF")
    if in_screening.height:
        flow.box("in_screening", "assessed", "ENROLLMENT", ALL, "In screening at the data cutoff",
             in_screening["USUBJID"])
    randomized = persons.filter(pl.col("OUTCOME") == "RANDOMIZED")
    flow.box("randomized", "assessed", "ENROLLMENT", ALL, "Randomized", randomized["USUBJID"])

    arm_labels = dict(protocol.arm_labels)
    for code in randomized["ARMCD"].drop_nulls().unique().sort().to_list():
        arm_labels.setdefault(code, code)
    arm_treatments = {str(a["armcd"]): [t for t in a.get("treatments") or []
                                        if not (protocol.treatments.get(t) or {}).get("planning")]
                      for a in protocol.arms}
    flags = _treatment_flags(protocol, exposure, procedures)
    keys = [k for k in flags.columns if k != "USUBJID"]
    randomized = randomized.join(flags, on="USUBJID", how="left").with_columns(
        [pl.col(k).fill_null(False) for k in keys])
    disposition = disposition if disposition is not None else _adsl_disposition(adsl)
    events = (filter_disposition_events(disposition) if events is None else events)
    events = (events
              .join(randomized.select("USUBJID", "RANDDT"), on="USUBJID", how="inner")
              .filter(pl.col("DSDT").is_null() | pl.col("RANDDT").is_null() | (pl.col("DSDT") >= pl.col("RANDDT")))
              .sort("USUBJID", "DSDT", nulls_last=True))
    has_epoch = events["EPOCH"].is_not_null().any()
    treatment_end = (events.filter(pl.col("EPOCH") == "TREATMENT") if has_epoch else events).unique(
        "USUBJID", keep="first")
    first_event = events.unique("USUBJID", keep="first")
    lost = events.filter(pl.col("DSDECOD") == "LOST TO FOLLOW-UP").select("USUBJID").unique()
    for code, label in arm_labels.items():
        arm = randomized.filter(pl.col("ARMCD") == code)
        if arm.is_empty() and code not in protocol.arm_labels:
            continue
        flow.box(f"allocated.{code}", "randomized", "ALLOCATION", code, f"Allocated to {label}", arm["USUBJID"])
        mine = [k for k in arm_treatments.get(code) or [] if k in keys]
        if mine and (exposure is not None or procedures is not None):
            gets = pl.any_horizontal([pl.col(k) for k in mine])
            others = arm.filter(pl.any_horizontal([pl.col(k) for k in keys if k not in mine] or [pl.lit(False)]))
        else:  # no treatment named (a generic protocol) or no EX/PR (ADaM): the data layer's TREATED
            gets, mine, others = pl.col("TREATED") == "Y", [], arm.head(0)
        received, not_received = arm.filter(gets), arm.filter(~gets)
        flow.box(f"received.{code}", f"allocated.{code}", "ALLOCATION", code, "Received allocated intervention",
                 received["USUBJID"])
        for key in mine:
            spec = protocol.treatments.get(key) or {}
            flow.box(f"received.{code}.{key}", f"received.{code}", "ALLOCATION", code,
                     str(spec.get("received") or key), arm.filter(pl.col(key))["USUBJID"], kind="detail")
        if others.height:
            flow.box(f"received.{code}.other_arm", f"received.{code}", "ALLOCATION", code,
                 "Also received a treatment of another arm", others["USUBJID"], kind="detail")
        flow.box(f"not_received.{code}", f"allocated.{code}", "ALLOCATION", code,
             "Did not receive allocated intervention", not_received["USUBJID"])
        why = (not_received.join(first_event.select("USUBJID", "DSDECOD"), on="USUBJID", how="left")
               .with_columns(pl.col("DSDECOD").fill_null("NO STUDY-TREATMENT RECORD BY THE CUTOFF")))
        flow.reasons(f"not_received.{code}", "ALLOCATION", code, why, "DSDECOD")
        ended = received.join(treatment_end.select("USUBJID", "DSDECOD"), on="USUBJID", how="left")
        discontinued = ended.filter(pl.col("DSDECOD").is_not_null() & (pl.col("DSDECOD") != COMPLETED))
        completed = ended.filter(pl.col("DSDECOD") == COMPLETED)
        ongoing = ended.filter(pl.col("DSDECOD").is_null())
        flow.box(f"discontinued.{code}", f"received.{code}", "FOLLOW-UP", code, "Discontinued intervention",
             discontinued["USUBJID"])
        flow.reasons(f"discontinued.{code}", "FOLLOW-UP", code, discontinued, "DSDECOD")
        if completed.height:
            flow.box(f"completed.{code}", f"received.{code}", "FOLLOW-UP", code, "Completed intervention",
                 completed["USUBJID"])
        flow.box(f"ongoing.{code}", f"received.{code}", "FOLLOW-UP", code, "On treatment at the data cutoff",
             ongoing["USUBJID"])
        flow.box(f"lost.{code}", f"allocated.{code}", "FOLLOW-UP", code, "Lost to follow-up",
             arm.join(lost, on="USUBJID", how="semi")["USUBJID"], kind="detail")
        flow.box(f"analysed.{code}", f"allocated.{code}", "ANALYSIS", code, "Analysed (ITT: all randomized)",
             arm["USUBJID"])
        flow.box(f"excluded_analysis.{code}", f"allocated.{code}", "ANALYSIS", code, "Excluded from analysis",
             arm.head(0)["USUBJID"], kind="detail")
    return flow.frame()


# The arithmetic of the flow: parent box -> the boxes that partition it.
def _partitions(consort: pl.DataFrame) -> list[tuple[str, list[str], str]]:
    boxes = set(consort.filter(pl.col("KIND") == "box")["BOX"].to_list())
    checks = [("assessed", [b for b in ("excluded", "in_screening", "randomized") if b in boxes],
               "Assessed = excluded + in screening at the cutoff + randomized"),
              ("excluded", ["criteria", "declined", "other"], "Excluded = not meeting criteria + declined + other"),
              ("randomized", sorted(b for b in boxes if b.startswith("allocated.")),
               "Randomized = the sum of the arms' allocated")]
    for box in sorted(b for b in boxes if b.startswith("allocated.")):
        code = box.split(".", 1)[1]
        checks.append((box, [f"received.{code}", f"not_received.{code}"],
                       "Allocated = received + did not receive the allocated intervention"))
        checks.append((f"received.{code}", [b for b in (f"discontinued.{code}", f"completed.{code}", f"ongoing.{code}")
                                            if b in boxes],
                       "Received = discontinued + completed + on treatment at the cutoff"))
        checks.append((f"analysed.{code}", [box], "Analysed = allocated (ITT)"))
    return checks


def check_consort(consort: pl.DataFrame) -> pl.DataFrame:
    """The arithmetic of the flow: each box against the boxes (or reasons) that detail it.

    Boxes must add up exactly; one reason per subject (other reasons, not received,
    discontinued) must add up too; the criteria groups may add up to more than their box, a
    subject failing criteria of several groups counting once in each: the difference is then
    explained by those subjects, and says how many they are.

    Returns:
        ``BOX, GROUP, CHECK, N, SUM, DIFFERENCE, RESULT`` ("adds up" | "explained" |
        "does not add up") and ``EXPLANATION``.

    Example:
        >>> rows = pl.DataFrame({"BOX": ["assessed", "excluded", "randomized"], "PARENT": [None, "assessed", "assessed"],
        ...     "STAGE": ["ENROLLMENT"] * 3, "GROUP": ["ALL"] * 3, "LABEL": ["a", "e", "r"], "N": [5, 2, 3],
        ...     "KIND": ["box"] * 3, "ORDER": [0, 1, 2], "USUBJIDS": [["1"]] * 3})
        >>> check_consort(rows).filter(pl.col("BOX") == "assessed").select("SUM", "RESULT").row(0)
        (5, 'adds up')
    """
    n = dict(zip(consort["BOX"].to_list(), consort["N"].to_list(), strict=True))
    group = dict(zip(consort["BOX"].to_list(), consort["GROUP"].to_list(), strict=True))
    note = dict(zip(consort["BOX"].to_list(), consort["NOTE"].to_list(), strict=True)) if "NOTE" in consort.columns \
        else {}
    rows = []
    for parent, children, text in _partitions(consort):
        if parent not in n:
            continue
        total = sum(n.get(c, 0) for c in children)
        diff = total - n[parent]
        rows.append((parent, group[parent], text, n[parent], total, diff, "adds up" if diff == 0 else "does not add up",
                     None if diff == 0 else "the data place a subject in none or in two of these boxes"))
    for (parent,), part in consort.filter(pl.col("KIND") == "reason").group_by("PARENT", maintain_order=True):
        total = int(part["N"].sum())
        diff = total - n[parent]
        if parent == "criteria":  # a subject counts in each group of criteria it failed: never fewer
            rows.append((parent, group[parent], "Not meeting criteria = subjects with a criterion of each group "
                         "(a subject may fail several groups)", n[parent], total, diff,
                         "adds up" if diff == 0 else ("explained" if diff > 0 else "does not add up"),
                         (note.get(parent) or "subjects failing criteria of several groups count in each") if diff > 0
                         else (None if diff == 0 else "a subject not meeting criteria has no criterion of any group")))
        else:
            rows.append((parent, group[parent], "One reason per subject", n[parent], total, diff,
                         "adds up" if diff == 0 else "does not add up",
                         None if diff == 0 else "a subject has no reason or several"))
    schema = {"BOX": pl.String, "GROUP": pl.String, "CHECK": pl.String, "N": pl.Int64, "SUM": pl.Int64,
              "DIFFERENCE": pl.Int64, "RESULT": pl.String, "EXPLANATION": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def summarize_consort_table(consort: pl.DataFrame) -> pl.DataFrame:
    """``consort.csv``: ``STAGE, GROUP, LABEL, N`` (DESIGN section 5), then ``BOX, PARENT, KIND``."""
    return consort.select("STAGE", "GROUP", "LABEL", "N", "BOX", "PARENT", "KIND")




def summarize_consort_checks_table(checks: pl.DataFrame, consort: pl.DataFrame) -> pl.DataFrame:
    """The arithmetic of the flow as a report prints it: the box by its label, the arm, the check, its result."""
    labels = consort.select("BOX", "LABEL")
    return (checks.join(labels, on="BOX", how="left", maintain_order="left").select(
        pl.col("LABEL").alias("Box"), pl.when(pl.col("GROUP") == ALL).then(pl.lit("all")).otherwise(pl.col("GROUP"))
        .alias("Arm"), pl.col("CHECK").alias("Check"), pl.col("N").alias("Box n"),
        pl.col("SUM").alias("Sum below"), pl.col("DIFFERENCE").alias("Difference"), pl.col("RESULT").alias("Result"),
        pl.col("EXPLANATION").alias("Explanation")))
