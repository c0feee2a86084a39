"""The demo study's records around the treatment: AE, on-treatment LB, CM, SV, DS and DM
dates, and the trial-design datasets TI and TS.

Every builder takes the :class:`Context` of ``trialkit.demo.treatment`` (numbers per subject,
``rel`` = days from randomization) and returns SDTM rows; --DY is SDTMIG's study day from the
randomization date (DM.RFSTDTC), via :func:`trialkit.derive.days.compute_study_day`.

Conventions:

- AE: MedDRA preferred terms (AEDECOD) and system organ classes (AEBODSYS); AETOXGR the CTCAE
  grade; AEACN the action on the drug named in AEACNTRT (sponsor variable); AEREL "RELATED" /
  "NOT RELATED"; AEIRAE "Y" for immune-related AEs. Holds, interruptions and reductions
  come from the treatment schedule; background AEs never change a dose.
- LB (on treatment): ALT, AST, BILI, ALB, PLAT, NEUT, HGB at each camrelizumab cycle (VISITNUM
  100 + k, "CYCLE k DAY 1", the infusion day) or, without camrelizumab, every
  ``visits.lab_interval_days`` (VISITNUM 300 + k, "TREATMENT VISIT k"); an immune-related
  hepatitis or a platelet decrease shows in the next labs at its CTCAE grade.
- CM: CMCAT "PRIOR ANTICANCER THERAPY" (locoregional or systemic; screen failures excluded for
  it carry theirs), "ANTIVIRAL THERAPY" (HBV, ongoing) and "SUBSEQUENT ANTICANCER THERAPY"
  after progression or discontinuation (CMSTDTC is the date PFS censoring needs).
- SV: one row per visit (VISITNUM, VISIT, SVSTDTC, SVENDTC); visit numbers are unique across
  the study: 0 SCREENING (findings, IE and the baseline scan), k WEEK 6k scans, k + 0.1
  UNSCHEDULED scans, 100 + k camrelizumab cycles, 300 + k other treatment visits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.demo.dates import NEVER, compute_iso_date, days_to_dates, iso_dates
from trialkit.demo.screening import LAB_TESTS, LAB_VISIT_COLUMNS
from trialkit.derive.days import compute_study_day


@dataclass
class Context:
    """What the builders share (see ``trialkit.demo.treatment``)."""

    cohort: object
    subjects: pl.DataFrame
    eot: dict
    proc: dict
    cam: dict
    apa: dict
    ex_long: pl.DataFrame
    pr_long: pl.DataFrame
    assessments: pl.DataFrame
    protocol: object
    calendar: object
    screening_truth: dict


def _ids(ctx: Context) -> list[pl.Expr]:
    s = ctx.subjects
    return [pl.lit(s["STUDYID"]).gather(pl.col("SUBJ")).alias("STUDYID"),
            pl.lit(s["USUBJID"]).gather(pl.col("SUBJ")).alias("USUBJID")]


def _randdt(ctx: Context) -> pl.Expr:
    return pl.lit(ctx.subjects["RANDDT"]).gather(pl.col("SUBJ"))


def _date(rel: pl.Expr, ctx: Context) -> pl.Expr:
    """RANDDT + rel as a ``pl.Date``; NEVER gives null."""
    return pl.when(rel >= NEVER // 2).then(None).otherwise(_randdt(ctx) + pl.duration(days=rel))


# ---------------------------------------------------------------- AE
# (AEDECOD, AEBODSYS, immune-related)
AE_TERMS = (
    ("Immune-mediated hepatitis", "Hepatobiliary disorders", True),                        # 0
    ("Hypothyroidism", "Endocrine disorders", True),                                       # 1
    ("Pneumonitis", "Respiratory, thoracic and mediastinal disorders", True),              # 2
    ("Rash", "Skin and subcutaneous tissue disorders", True),                              # 3
    ("Colitis", "Gastrointestinal disorders", True),                                       # 4
    ("Myocarditis", "Cardiac disorders", True),                                            # 5
    ("Hypertension", "Vascular disorders", False),                                         # 6
    ("Palmar-plantar erythrodysaesthesia syndrome", "Skin and subcutaneous tissue disorders", False),  # 7
    ("Proteinuria", "Renal and urinary disorders", False),                                 # 8
    ("Diarrhoea", "Gastrointestinal disorders", False),                                    # 9
    ("Platelet count decreased", "Investigations", False),                                 # 10
    ("Hepatic failure", "Hepatobiliary disorders", False),                                 # 11
    ("Gastric ulcer", "Gastrointestinal disorders", False),                                # 12
    ("Liver abscess", "Infections and infestations", False),                               # 13
    ("Fatigue", "General disorders and administration site conditions", False),            # 14
    ("Decreased appetite", "Metabolism and nutrition disorders", False),                   # 15
    ("Abdominal pain", "Gastrointestinal disorders", False),                               # 16
    ("Nausea", "Gastrointestinal disorders", False),                                       # 17
    ("Pyrexia", "General disorders and administration site conditions", False),            # 18
    ("Reactive capillary endothelial proliferation", "Skin and subcutaneous tissue disorders", False),  # 19
    ("Post embolisation syndrome", "General disorders and administration site conditions", False),     # 20
    ("Alanine aminotransferase increased", "Investigations", False),                       # 21
)
HOLD_TERMS, HOLD_P = np.array([0, 1, 2, 3, 4]), np.array([0.3, 0.15, 0.15, 0.25, 0.15])
APA_TERMS, APA_P = np.array([6, 7, 8, 9, 10]), np.array([0.3, 0.3, 0.15, 0.15, 0.1])
STOP_TERMS = {0: (np.array([0, 2, 4, 5]), np.array([0.4, 0.25, 0.2, 0.15])),
              1: (np.array([0, 2, 4, 5]), np.array([0.4, 0.25, 0.2, 0.15])),
              2: (np.array([11, 12]), np.array([0.6, 0.4])),
              3: (np.array([11, 13]), np.array([0.6, 0.4]))}
BACKGROUND_TERMS = np.arange(14, 22)
BACKGROUND_P = np.array([                     # by arm A-D over terms 14-21
    [0.20, 0.15, 0.12, 0.08, 0.08, 0.22, 0.00, 0.15],
    [0.20, 0.15, 0.12, 0.08, 0.08, 0.25, 0.00, 0.12],
    [0.30, 0.20, 0.20, 0.12, 0.10, 0.00, 0.00, 0.08],
    [0.12, 0.12, 0.15, 0.10, 0.08, 0.00, 0.35, 0.08]])
BACKGROUND_MEAN = np.array([4.0, 3.2, 2.2, 2.8])          # AEs per treated subject, by arm
STOP_TRT = {0: "CAMRELIZUMAB", 1: "CAMRELIZUMAB", 2: "SIRT", 3: "CTACE"}


def _choose(rng, terms: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    return terms[rng.choice(terms.size, size=n, p=p / p.sum())]


def build_adverse_events(ctx: Context, rng, fates: dict) -> pl.DataFrame:
    """AE: one record per hold, interruption, reduction and AE discontinuation, and the
    background AEs of treatment (see the module docstring)."""
    c, eot = ctx.cohort, ctx.eot
    n = c.n
    t_eos = np.minimum(eot["t_wd"], eot["t_death"])          # end of study participation
    limit = np.minimum(c.horizon, t_eos - 1)                 # nothing after it, nor after extraction
    parts = []

    def add(subj, start, end, term, grade, action, trt, related, serious):
        subj = np.asarray(subj, dtype=np.int64)
        keep = np.asarray(start) <= limit[subj]
        subj, start, end = subj[keep], np.asarray(start)[keep], np.asarray(end)[keep]
        end = np.where(end > np.minimum(c.horizon, t_eos)[subj], NEVER, end)
        parts.append(pl.DataFrame({
            "SUBJ": subj.astype(np.int32), "START": start.astype(np.int64), "END": end.astype(np.int64),
            "TERM": np.asarray(term)[keep].astype(np.int16), "GRADE": np.asarray(grade)[keep].astype(np.int8),
            "ACTION": np.asarray(action, dtype=object)[keep] if np.ndim(action) else [action] * subj.size,
            "TRT": np.asarray(trt, dtype=object)[keep] if np.ndim(trt) else [trt] * subj.size,
            "REL": np.asarray(related)[keep].astype(bool), "SER": np.asarray(serious)[keep].astype(bool)},
            schema_overrides={"ACTION": pl.String, "TRT": pl.String}))

    # camrelizumab holds: an immune-related AE between the two doses
    h = ctx.cam["holds"]
    m = h["SUBJ"].size
    grade = np.where(rng.random(m) < 0.7, 2, 3)
    end = np.where(h["DOSE"] < NEVER // 2, h["DOSE"] - rng.integers(1, 6, m), h["ONSET"] + rng.integers(14, 40, m))
    add(h["SUBJ"], h["ONSET"], np.maximum(end, h["ONSET"]), _choose(rng, HOLD_TERMS, HOLD_P, m), grade,
        "DRUG INTERRUPTED", "CAMRELIZUMAB", np.ones(m, bool), grade >= 3)
    # apatinib interruptions and reductions
    ev = ctx.apa["events"]
    m = ev.height
    grade = np.where(ev["ACTION"].to_numpy() == "DOSE REDUCED", 2, np.where(rng.random(m) < 0.65, 2, 3))
    add(ev["SUBJ"].to_numpy(), ev["START"].to_numpy(), ev["END"].to_numpy(), _choose(rng, APA_TERMS, APA_P, m), grade,
        ev["ACTION"].to_numpy().astype(object), "APATINIB", np.ones(m, bool), np.zeros(m, bool))
    # the AE behind a discontinuation for an adverse event
    stop = np.flatnonzero((eot["reason"] == "ADVERSE EVENT") & ~c.never_treated)
    onset = np.maximum(eot["t_eot"][stop] - rng.integers(1, 11, stop.size), 1)
    terms = np.zeros(stop.size, dtype=np.int64)
    for arm, (t_, p_) in STOP_TERMS.items():
        sel = c.arm_idx[stop] == arm
        terms[sel] = _choose(rng, t_, p_, int(sel.sum()))
    trt_keys = np.array([STOP_TRT[a] for a in range(4)], dtype=object)[c.arm_idx[stop]]
    add(stop, onset, onset + rng.integers(10, 60, stop.size), terms, rng.integers(3, 5, stop.size),
        "DRUG WITHDRAWN", trt_keys, np.ones(stop.size, bool), np.ones(stop.size, bool))
    # background AEs of treatment (never change a dose)
    # treatment-emergent: from the first exposure (EX or study-treatment PR) on
    first = pl.concat([ctx.ex_long.select("SUBJ", D="START"),
                       ctx.pr_long.filter(pl.col("PRCAT") == "STUDY TREATMENT").select("SUBJ", D="REL")]
                      ).group_by("SUBJ").agg(pl.col("D").min())
    first_tx = np.full(n, NEVER)
    first_tx[first["SUBJ"].to_numpy()] = first["D"].to_numpy()
    treated = ~c.never_treated & (eot["last_tx_day"] >= 0) & (first_tx < NEVER)
    count = np.where(treated, rng.poisson(BACKGROUND_MEAN[c.arm_idx]), 0)
    subj = np.repeat(np.arange(n), count)
    span_hi = np.minimum(eot["last_tx_day"] + 28, limit)[subj]
    lo = first_tx[subj]
    start = lo + np.floor(rng.random(subj.size) * np.maximum(span_hi - lo + 1, 1)).astype(np.int64)
    arm = c.arm_idx[subj]
    cum = np.cumsum(BACKGROUND_P / BACKGROUND_P.sum(axis=1, keepdims=True), axis=1)[arm]
    terms = BACKGROUND_TERMS[(rng.random(subj.size)[:, None] > cum).sum(axis=1).clip(0, BACKGROUND_TERMS.size - 1)]
    grade = np.where(rng.random(subj.size) < 0.62, 1, np.where(rng.random(subj.size) < 0.9, 2, 3))
    action = np.where(c.gets["CAMRELIZUMAB"][subj] | c.gets["APATINIB"][subj], "DOSE NOT CHANGED", "NOT APPLICABLE")
    ok = start <= span_hi
    add(subj[ok], start[ok], (start + rng.integers(2, 40, subj.size))[ok], terms[ok], grade[ok], action[ok].astype(object),
        None, (rng.random(subj.size) < 0.5)[ok], (grade >= 3)[ok] & (rng.random(subj.size) < 0.4)[ok])

    ae = pl.concat(parts, how="vertical_relaxed")
    terms = pl.DataFrame({"TERM": np.arange(len(AE_TERMS), dtype=np.int16),
                          "AEDECOD": [t[0] for t in AE_TERMS], "AEBODSYS": [t[1] for t in AE_TERMS],
                          "IR": [t[2] for t in AE_TERMS]})
    names = {k: ctx.protocol.treatment(k)["name"] for k in ("CAMRELIZUMAB", "APATINIB", "SIRT", "CTACE")}
    ae = ae.join(terms, on="TERM", how="left").sort("SUBJ", "START", "TERM", "ACTION")
    st, en = _date(pl.col("START"), ctx), _date(pl.col("END"), ctx)
    return ae.with_columns((pl.int_range(pl.len()).over("SUBJ") + 1).cast(pl.Int64).alias("AESEQ")).select(
        *_ids(ctx)[:1], pl.lit("AE").alias("DOMAIN"), _ids(ctx)[1], "AESEQ",
        pl.col("AEDECOD").alias("AETERM"), "AEDECOD", "AEBODSYS",
        pl.col("GRADE").cast(pl.String).alias("AETOXGR"),
        pl.when(pl.col("SER")).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("AESER"),
        pl.col("ACTION").alias("AEACN"),
        pl.col("TRT").replace_strict(names, default=None, return_dtype=pl.String).alias("AEACNTRT"),
        pl.when(pl.col("REL")).then(pl.lit("RELATED")).otherwise(pl.lit("NOT RELATED")).alias("AEREL"),
        pl.when(pl.col("IR")).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("AEIRAE"),
        pl.when(pl.col("END") < NEVER // 2).then(pl.lit("RECOVERED/RESOLVED"))
        .otherwise(pl.lit("NOT RECOVERED/NOT RESOLVED")).alias("AEOUT"),
        pl.lit("TREATMENT").alias("EPOCH"),
        st.alias("AESTDTC"), en.alias("AEENDTC"),
        compute_study_day(st, _randdt(ctx)).alias("AESTDY"), compute_study_day(en, _randdt(ctx)).alias("AEENDY"))


# ---------------------------------------------------------------- LB
LAB_COURSE = ("ALT", "AST", "BILI", "ALB", "PLAT", "NEUT", "HGB")
LAB_DRIFT = {"ALT": (0.0, 0.25), "AST": (0.05, 0.25), "BILI": (0.05, 0.2), "ALB": (-0.02, 0.06),
             "PLAT": (-0.06, 0.15), "NEUT": (0.0, 0.25), "HGB": (-0.02, 0.05)}


def _lab_visits(ctx: Context) -> pl.DataFrame:
    """(SUBJ, REL, VISITNUM, VISIT): the cycle days of camrelizumab, else every lab interval."""
    c, eot = ctx.cohort, ctx.eot
    ex = ctx.ex_long.filter(pl.col("KEY") == "CAMRELIZUMAB")
    on_cam = set(ex["SUBJ"].unique().to_list()) if ex.height else set()
    cam = ex.select("SUBJ", pl.col("START").alias("REL"), (100.0 + pl.col("CYCLE")).alias("VISITNUM"),
                    pl.format("CYCLE {} DAY 1", pl.col("CYCLE")).alias("VISIT"))
    cam_arm = c.gets["CAMRELIZUMAB"]
    first = ctx.pr_long.filter(pl.col("PRCAT") == "STUDY TREATMENT").group_by("SUBJ").agg(pl.col("REL").min())
    first_day = np.full(c.n, NEVER)
    first_day[first["SUBJ"].to_numpy()] = first["REL"].to_numpy()
    interval = int(ctx.protocol.raw["visits"]["lab_interval_days"])
    parts = [cam]
    last = np.minimum(eot["last_tx_day"], c.horizon)
    k_max = int(max(np.max(last, initial=0), 0)) // interval + 1
    for k in range(1, k_max + 1):                    # over visit numbers
        planned = first_day + (k - 1) * interval
        day = ctx.calendar.nearest_working(c.rand + planned, c.rand + planned - 3, c.rand + planned + 3) - c.rand
        day = np.where(k == 1, first_day, day)
        ok = ~cam_arm & (first_day < NEVER // 2) & (day <= last)
        idx = np.flatnonzero(ok)
        parts.append(pl.DataFrame({"SUBJ": idx.astype(np.int32), "REL": day[idx].astype(np.int64),
                                   "VISITNUM": np.full(idx.size, 300.0 + k), "VISIT": [f"TREATMENT VISIT {k}"] * idx.size},
                                  schema_overrides={"VISIT": pl.String}))
    out = pl.concat(parts, how="vertical_relaxed")
    return out.filter(~pl.col("SUBJ").is_in(list(on_cam)) | (pl.col("VISITNUM") < 300))


def build_lab_visits(ctx: Context, rng, ae: pl.DataFrame) -> pl.DataFrame:
    """LB on treatment as one row per lab visit (:func:`trialkit.demo.screening.build_lab_records`
    makes the records; the orchestrator writes them with the screening visits, LBSEQ after
    the screening tests)."""
    visits = _lab_visits(ctx).sort("SUBJ", "REL")
    frame = ctx.cohort.frame
    m = visits.height
    subj = visits["SUBJ"].to_numpy()
    rel = visits["REL"].to_numpy()
    # AEs that show in the labs: hepatitis (ALT/AST), platelet decrease; the next labs after onset
    usub = ctx.subjects.select("SUBJ", "USUBJID")
    marks = (ae.join(usub, on="USUBJID").filter(pl.col("AEDECOD").is_in(
        ["Immune-mediated hepatitis", "Alanine aminotransferase increased", "Platelet count decreased"]))
        .select("SUBJ", "AEDECOD", pl.col("AETOXGR").cast(pl.Int64).alias("G"),
                ((pl.col("AESTDTC") - pl.lit(ctx.subjects["RANDDT"]).gather(pl.col("SUBJ"))).dt.total_days()).alias("ON")))
    cols = {"SUBJ": subj.astype(np.int32), "REL": rel}
    for code in LAB_COURSE:
        mu, sd = LAB_DRIFT[code]
        base = frame[code].to_numpy()[subj]
        cols[code] = base * np.exp(rng.normal(mu, sd, m))
        cols[f"{code}_ULN"] = frame[f"{code}_ULN"].to_numpy()[subj]
        cols[f"{code}_LLN"] = frame[f"{code}_LLN"].to_numpy()[subj]
    lab = pl.DataFrame(cols)
    if marks.height:
        hit = (lab.select("SUBJ", "REL").with_row_index("_I").join(marks, on="SUBJ")
               .filter((pl.col("REL") >= pl.col("ON")) & (pl.col("REL") <= pl.col("ON") + 21))
               .sort("_I", "G", descending=[False, True]).unique("_I", keep="first", maintain_order=True))
        idx = hit["_I"].to_numpy()
        g = hit["G"].to_numpy()
        liver = hit["AEDECOD"].to_numpy() != "Platelet count decreased"
        uln = lab["ALT_ULN"].to_numpy()[idx]
        # CTCAE v5: ALT > 3-5 x ULN grade 2, 5-20 grade 3, > 20 grade 4; platelets 50-75, 25-50, < 25
        alt = uln * np.where(g <= 1, rng.uniform(1.2, 2.9, idx.size), np.where(g == 2, rng.uniform(3.2, 4.9, idx.size),
                                                                            rng.uniform(5.5, 15, idx.size)))
        plat = np.where(g <= 2, rng.uniform(52, 74, idx.size), rng.uniform(27, 48, idx.size))
        a = lab["ALT"].to_numpy().copy()
        s = lab["AST"].to_numpy().copy()
        p = lab["PLAT"].to_numpy().copy()
        a[idx[liver]] = alt[liver]
        s[idx[liver]] = alt[liver] * rng.uniform(0.7, 1.1, int(liver.sum()))
        p[idx[~liver]] = plat[~liver]
        lab = lab.with_columns(pl.Series("ALT", a), pl.Series("AST", s), pl.Series("PLAT", p))
    # long, in order of subject, visit and test, lazily (the writer streams it): each visit
    # row becomes its tests by ``explode``; the text is made a slice at a time
    k = len(LAB_COURSE)
    visit = visits["VISIT"].cast(pl.Enum(visits["VISIT"].unique().sort()))
    usubjid = ctx.subjects["USUBJID"].cast(pl.Enum(ctx.subjects["USUBJID"].unique().sort()))
    codes = list(LAB_TESTS)
    tests = [codes.index(c) for c in LAB_COURSE]
    studyid = str(ctx.subjects["STUDYID"][0]) if ctx.subjects.height else ""
    missing = [c for c in codes if c not in LAB_COURSE]
    return lab.with_columns(
        *[pl.col(c).round(LAB_TESTS[c]["dec"]) for c in LAB_COURSE],
        pl.lit(studyid).alias("STUDYID"), pl.lit(ctx.subjects["USUBJID"]).gather(pl.col("SUBJ")).alias("USUBJID"),
        _date(pl.col("REL"), ctx).alias("_DT"), _randdt(ctx).alias("_RANDDT"),
        pl.Series("VISITNUM", visits["VISITNUM"]), pl.Series("VISIT", visits["VISIT"]),
        pl.lit("TREATMENT").alias("EPOCH"), pl.lit(None, dtype=pl.String).alias("LBBLFL"),
        (pl.int_range(pl.len()).over("SUBJ") * len(tests)).cast(pl.Int64).alias("_N"),
        pl.lit(tests, dtype=pl.List(pl.Int16)).alias("_TESTS"),
        *[pl.lit(None, dtype=pl.Float64).alias(f"{c}{s}") for c in missing for s in ("", "_ULN", "_LLN")],
    ).select(LAB_VISIT_COLUMNS)


# ---------------------------------------------------------------- CM
SUBSEQUENT = (("LENVATINIB", "SYSTEMIC", 0.3), ("SORAFENIB", "SYSTEMIC", 0.1), ("DONAFENIB", "SYSTEMIC", 0.1),
              ("REGORAFENIB", "SYSTEMIC", 0.05), ("ATEZOLIZUMAB + BEVACIZUMAB", "SYSTEMIC", 0.15),
              ("TRANSARTERIAL CHEMOEMBOLIZATION", "LOCOREGIONAL", 0.2),
              ("HEPATIC ARTERIAL INFUSION CHEMOTHERAPY", "LOCOREGIONAL", 0.1))
P_SUBSEQUENT = {"PROGRESSIVE DISEASE": 0.65, "ADVERSE EVENT": 0.5, "COMPLETED": 0.3}
PRIOR_SYSTEMIC = ("SORAFENIB", "LENVATINIB")
PRIOR_LOCAL = ("TRANSARTERIAL CHEMOEMBOLIZATION", "HEPATIC ARTERIAL INFUSION CHEMOTHERAPY", "RADIOFREQUENCY ABLATION")
P_ANTIVIRAL = 0.85
P_PRIOR_ADJUVANT_TACE = 0.1


def build_therapies(ctx: Context, rng) -> pl.DataFrame:
    """CM of the randomized subjects: prior anticancer therapy, antivirals, subsequent therapy.
    (Screen failures' prior therapy is added by :func:`build_screen_failure_therapies`.)"""
    c, eot = ctx.cohort, ctx.eot
    n = c.n
    consent = c.frame["RFICDT"].cast(pl.Date).cast(pl.Int32).to_numpy().astype(np.int64) - c.rand
    parts = []

    def add(idx, name, cat, scat, start, precision, ongoing, dose=None, unit=None, freq=None):
        idx = np.asarray(idx, dtype=np.int64)
        parts.append(pl.DataFrame({
            "SUBJ": idx.astype(np.int32), "CMTRT": np.asarray(name, dtype=object) if np.ndim(name) else [name] * idx.size,
            "CMCAT": [cat] * idx.size, "CMSCAT": np.asarray(scat, dtype=object) if np.ndim(scat) else [scat] * idx.size,
            "START": np.asarray(start, dtype=np.int64), "PREC": [precision] * idx.size,
            "ONGOING": [ongoing] * idx.size, "CMDOSE": [dose] * idx.size, "CMDOSU": [unit] * idx.size,
            "CMDOSFRQ": [freq] * idx.size},
            schema_overrides={"CMTRT": pl.String, "CMCAT": pl.String, "CMSCAT": pl.String, "PREC": pl.String,
                              "CMDOSE": pl.Float64, "CMDOSU": pl.String, "CMDOSFRQ": pl.String}))

    av = np.flatnonzero(rng.random(n) < P_ANTIVIRAL)
    entecavir = rng.random(av.size) < 0.6
    for mask, name, dose in ((entecavir, "ENTECAVIR", 0.5), (~entecavir, "TENOFOVIR ALAFENAMIDE", 25.0)):
        add(av[mask], name, "ANTIVIRAL THERAPY", "HBV", consent[av[mask]] - rng.integers(30, 2500, int(mask.sum())),
            "month", True, dose, "mg", "QD")
    prior = np.flatnonzero(rng.random(n) < P_PRIOR_ADJUVANT_TACE)
    add(prior, "TRANSARTERIAL CHEMOEMBOLIZATION", "PRIOR ANTICANCER THERAPY", "ADJUVANT AFTER RESECTION",
        consent[prior] - rng.integers(365, 1500, prior.size), "month", False)
    # subsequent anticancer therapy after the end of treatment
    reason = eot["reason"]
    p = np.zeros(n)
    for r, pr in P_SUBSEQUENT.items():
        p[reason == r] = pr
    start = ctx.calendar.next_working(c.rand + eot["t_eot"] + rng.integers(14, 61, n)) - c.rand
    t_eos = np.minimum(eot["t_wd"], eot["t_death"])
    ok = (~c.never_treated & (eot["t_eot"] <= c.horizon) & (rng.random(n) < p)
          & (start <= c.horizon) & (start < t_eos))
    idx = np.flatnonzero(ok)
    w = np.array([s[2] for s in SUBSEQUENT])
    pick = rng.choice(len(SUBSEQUENT), size=idx.size, p=w / w.sum())
    add(idx, np.array([s[0] for s in SUBSEQUENT], dtype=object)[pick], "SUBSEQUENT ANTICANCER THERAPY",
        np.array([s[1] for s in SUBSEQUENT], dtype=object)[pick], start[idx], "day", True)
    cm = pl.concat(parts).sort("SUBJ", "START", "CMTRT")
    d = _date(pl.col("START"), ctx)
    dtc = (pl.when(pl.col("PREC") == "month").then(compute_iso_date(d, "month")).otherwise(compute_iso_date(d)))
    return cm.with_columns((pl.int_range(pl.len()).over("SUBJ") + 1).cast(pl.Int64).alias("CMSEQ")).select(
        _ids(ctx)[0], pl.lit("CM").alias("DOMAIN"), _ids(ctx)[1], "CMSEQ", "CMTRT", pl.col("CMTRT").alias("CMDECOD"),
        "CMCAT", "CMSCAT", "CMDOSE", "CMDOSU", "CMDOSFRQ",
        pl.when(pl.col("START") < 0).then(pl.lit("SCREENING")).otherwise(pl.lit("FOLLOW-UP")).alias("EPOCH"),
        dtc.alias("CMSTDTC"),
        pl.when(pl.col("PREC") == "day").then(compute_study_day(d, _randdt(ctx))).otherwise(None).alias("CMSTDY"),
        pl.when(pl.col("ONGOING")).then(pl.lit("ONGOING")).otherwise(None).alias("CMENRTPT"))


def build_screen_failure_therapies(dm: pl.DataFrame, ie: pl.DataFrame, rng) -> pl.DataFrame:
    """CM of screen failures excluded for prior therapy: systemic (EXCL07) or local (EXCL09),
    months before consent (dates known to the month)."""
    who = (ie.filter(pl.col("IETESTCD").is_in(["EXCL07", "EXCL09"])).select("USUBJID", "IETESTCD")
           .join(dm.select("STUDYID", "USUBJID", "RFICDTC"), on="USUBJID").sort("USUBJID", "IETESTCD"))
    m = who.height
    systemic = (who["IETESTCD"] == "EXCL07").to_numpy()
    name = np.where(systemic, np.asarray(PRIOR_SYSTEMIC, dtype=object)[rng.integers(0, 2, m)],
                    np.asarray(PRIOR_LOCAL, dtype=object)[rng.integers(0, 3, m)])
    back = rng.integers(60, 700, m)
    return who.with_columns(
        pl.Series("CMTRT", name, dtype=pl.String), pl.Series("BACK", back)).select(
        "STUDYID", pl.lit("CM").alias("DOMAIN"), "USUBJID", pl.lit(None, dtype=pl.Int64).alias("CMSEQ"), "CMTRT",
        pl.col("CMTRT").alias("CMDECOD"), pl.lit("PRIOR ANTICANCER THERAPY").alias("CMCAT"),
        pl.when(pl.col("IETESTCD") == "EXCL07").then(pl.lit("SYSTEMIC")).otherwise(pl.lit("LOCOREGIONAL")).alias("CMSCAT"),
        pl.lit(None, dtype=pl.Float64).alias("CMDOSE"), pl.lit(None, dtype=pl.String).alias("CMDOSU"),
        pl.lit(None, dtype=pl.String).alias("CMDOSFRQ"), pl.lit("SCREENING").alias("EPOCH"),
        compute_iso_date(pl.col("RFICDTC").str.to_date() - pl.duration(days=pl.col("BACK")), "month").alias("CMSTDTC"),
        pl.lit(None, dtype=pl.Int64).alias("CMSTDY"),
        pl.lit(None, dtype=pl.String).alias("CMENRTPT"))


# ---------------------------------------------------------------- DS and DM dates
EOT_TEXT = {"PROGRESSIVE DISEASE": "DISEASE PROGRESSION PER INVESTIGATOR", "ADVERSE EVENT": "ADVERSE EVENT",
            "WITHDRAWAL BY SUBJECT": "SUBJECT WITHDREW CONSENT", "DEATH": "DEATH",
            "COMPLETED": "COMPLETED MAXIMUM TREATMENT DURATION"}


def build_disposition(ctx: Context, pr_long: pl.DataFrame, ex_long: pl.DataFrame):
    """DS after randomization, the DM reference dates, and the death facts of the truth file.

    RFSTDTC (randomization) is set by the orchestrator; RFXSTDTC/RFXENDTC are the first and
    last exposure (EX, study-treatment PR); RFENDTC the end of participation (death or
    withdrawal). One death is known to the month only (after every other record of the subject).
    """
    c, eot = ctx.cohort, ctx.eot
    n = c.n
    usubjid = c.frame["USUBJID"]
    tx = pl.concat([
        ex_long.select("SUBJ", pl.col("START").alias("D0"),
                       pl.when(pl.col("END") >= NEVER // 2).then(pl.lit(NEVER)).otherwise(pl.col("END")).alias("D1")),
        pr_long.filter(pl.col("PRCAT") == "STUDY TREATMENT").select("SUBJ", pl.col("REL").alias("D0"), pl.col("REL").alias("D1")),
    ]).group_by("SUBJ").agg(pl.col("D0").min(), pl.col("D1").max())
    first_tx = np.full(n, NEVER)
    last_tx = np.full(n, NEVER)
    si = tx["SUBJ"].to_numpy()
    first_tx[si] = tx["D0"].to_numpy()
    last_tx[si] = tx["D1"].to_numpy()
    any_tx = first_tx < NEVER
    t_death, t_wd = eot["t_death"], eot["t_wd"]
    t_eos = np.minimum(t_wd, t_death)
    dth = t_death <= c.horizon

    last_scan = ctx.assessments.group_by("SUBJ").agg(pl.col("T").max())
    last_seen = np.full(n, -NEVER)
    last_seen[last_scan["SUBJ"].to_numpy()] = last_scan["T"].to_numpy()
    last_seen = np.maximum(last_seen, np.where(any_tx & (last_tx < NEVER), last_tx, -NEVER))
    death_abs = c.rand + t_death
    month_start = days_to_dates(np.where(dth, death_abs, 0)).dt.month_start().cast(pl.Int32).to_numpy().astype(np.int64) - c.rand
    # a death known to the month only: after progression (so PFS does not hinge on the
    # imputed day), two months after every other record of the subject, before the cutoff
    acc_pd = (ctx.assessments.filter(pl.col("ACPT") & (pl.col("CRIT") == 0) & (pl.col("OVRLRESP") == "PD"))
              .group_by("SUBJ").agg(pl.col("T").min()))
    bicr_pd = np.full(n, NEVER)
    bicr_pd[acc_pd["SUBJ"].to_numpy()] = acc_pd["T"].to_numpy()
    partial_ok = (dth & (last_seen + 60 < month_start) & (month_start >= 0) & (t_death <= c.cut)
                  & (bicr_pd < last_seen))
    partial_idx = np.flatnonzero(partial_ok)[: (1 if n < 1000 else max(1, n // 1000))]

    def iso_rel(rel):
        return iso_dates(np.where(rel >= NEVER // 2, NEVER, c.rand + rel))

    dthdtc = iso_rel(np.where(dth, t_death, NEVER))
    dthdtc_full = dthdtc.clone()
    if partial_idx.size:
        dthdtc = dthdtc.scatter(partial_idx, dthdtc.gather(partial_idx).str.slice(0, 7))
    ended = t_eos <= c.horizon
    eos_iso = pl.select(pl.when(pl.lit(pl.Series(dth & (t_death <= t_wd)))).then(dthdtc)
                        .otherwise(iso_rel(np.where(ended, t_eos, NEVER)))).to_series()
    dm_updates = pl.DataFrame({
        "USUBJID": usubjid,
        "RFXSTDTC": iso_rel(np.where(any_tx, first_tx, NEVER)),
        "RFXENDTC": iso_rel(np.where(any_tx & ~eot["ongoing"] & (last_tx < NEVER), last_tx, NEVER)),
        "RFENDTC": pl.select(pl.when(pl.lit(pl.Series(ended))).then(eos_iso).otherwise(None)).to_series(),
        "DTHDTC": dthdtc,
        "DTHFL": pl.Series(np.where(dth, "Y", None).tolist(), dtype=pl.String),
    })

    parts = []

    def rows(mask, decod, term, epoch, dtc):
        idx = np.flatnonzero(mask)
        parts.append(pl.DataFrame({
            "SUBJ": idx.astype(np.int32), "USUBJID": usubjid.gather(idx),
            "DSTERM": term[idx] if isinstance(term, np.ndarray) else [term] * idx.size,
            "DSDECOD": decod[idx] if isinstance(decod, np.ndarray) else [decod] * idx.size,
            "EPOCH": [epoch] * idx.size, "DSSTDTC": dtc.gather(idx)}, schema_overrides={"DSTERM": pl.String,
                                                                                       "DSDECOD": pl.String}))

    eot_rec = eot["t_eot"] <= c.horizon
    eot_iso = iso_rel(np.where(eot_rec, eot["t_eot"], NEVER))
    eot_iso = pl.select(pl.when(pl.lit(pl.Series(eot["reason"] == "DEATH"))).then(dthdtc).otherwise(eot_iso)).to_series()
    term = np.array([EOT_TEXT[r] for r in eot["reason"]], dtype=object)
    term = np.where(c.never_treated, "SUBJECT WITHDREW CONSENT BEFORE FIRST STUDY TREATMENT", term)
    rows(eot_rec, eot["reason"].astype(object), term, "TREATMENT", eot_iso)
    wd_rec = t_wd <= c.horizon
    rows(wd_rec, "WITHDRAWAL BY SUBJECT", "SUBJECT WITHDREW CONSENT", "FOLLOW-UP", iso_rel(np.where(wd_rec, t_wd, NEVER)))
    rows(dth & (eot["reason"] != "DEATH"), "DEATH", "DEATH", "FOLLOW-UP", dthdtc)
    disposition = (pl.concat(parts).sort("SUBJ", "DSSTDTC")
                   .join(ctx.subjects.select("SUBJ", "STUDYID"), on="SUBJ")
                   .select("STUDYID", pl.lit("DS").alias("DOMAIN"), "USUBJID",
                           pl.lit(None, dtype=pl.Int32).alias("DSSEQ"), "DSTERM", "DSDECOD",
                           pl.lit("DISPOSITION EVENT").alias("DSCAT"), "EPOCH", "DSSTDTC"))
    info = {
        "deaths": [{"USUBJID": u, "DTHDTC": d} for u, d in
                   zip(usubjid.filter(pl.Series(dth)).to_list(), dthdtc.filter(pl.Series(dth)).to_list())],
        "untreated": usubjid.filter(pl.Series(~any_tx)).to_list(),
        "partial_dates": [{"domain": dom, "variable": var, "usubjid": usubjid[int(i)],
                           "value": dthdtc[int(i)], "full_date": dthdtc_full[int(i)]}
                          for i in partial_idx for dom, var in (("DM", "DTHDTC"), ("DM", "RFENDTC"), ("DS", "DSSTDTC"))],
    }
    return disposition, dm_updates, info


# ---------------------------------------------------------------- SV
def build_visits(ctx: Context, tumor: dict) -> pl.DataFrame:
    """SV of the randomized subjects after screening: every scan, cycle and lab visit (the
    screening visit rows come from the screening half)."""
    c, eot = ctx.cohort, ctx.eot
    scans = (ctx.assessments.select("SUBJ", "T", "VNUM").unique().filter(pl.col("VNUM") > 0)
             .select("SUBJ", pl.col("T").cast(pl.Int64).alias("REL"), pl.col("VNUM").alias("VISITNUM"),
                     pl.when(pl.col("VNUM") != pl.col("VNUM").floor()).then(pl.lit("UNSCHEDULED"))
                     .otherwise(pl.format("WEEK {}", (pl.col("VNUM") * int(ctx.protocol.response["assessment_interval_days"]) // 7)
                                          .cast(pl.Int64))).alias("VISIT")))
    labs = _lab_visits(ctx).with_columns(pl.col("REL").cast(pl.Int64))
    sv = pl.concat([scans, labs.select("SUBJ", "REL", "VISITNUM", "VISIT")], how="vertical_relaxed")
    sv = sv.group_by("SUBJ", "VISITNUM", "VISIT").agg(pl.col("REL").min().alias("R0"), pl.col("REL").max().alias("R1"))
    last_tx = pl.lit(pl.Series(ctx.eot["last_tx_day"])).gather(pl.col("SUBJ"))
    s0, s1 = _date(pl.col("R0"), ctx), _date(pl.col("R1"), ctx)
    return (sv.sort("SUBJ", "R0", "VISITNUM")
            .select(_ids(ctx)[0], pl.lit("SV").alias("DOMAIN"), _ids(ctx)[1], "VISITNUM", "VISIT",
                    pl.when(pl.col("R0") <= last_tx).then(pl.lit("TREATMENT")).otherwise(pl.lit("FOLLOW-UP")).alias("EPOCH"),
                    pl.when(pl.col("VISIT") == "UNSCHEDULED").then(pl.lit("UNSCHEDULED TUMOUR ASSESSMENT"))
                    .otherwise(None).alias("SVUPDES"),
                    s0.alias("SVSTDTC"), s1.alias("SVENDTC"),
                    compute_study_day(s0, _randdt(ctx)).alias("SVSTDY"), compute_study_day(s1, _randdt(ctx)).alias("SVENDY")))


# ---------------------------------------------------------------- TI, TS
def build_trial_inclusion(protocol, studyid: str) -> pl.DataFrame:
    """TI: every inclusion and exclusion criterion of the protocol file (version 1)."""
    crit = protocol.eligibility
    return pl.DataFrame({
        "STUDYID": [studyid] * len(crit), "DOMAIN": ["TI"] * len(crit),
        "IETESTCD": [c["ietestcd"] for c in crit], "IETEST": [c["ietest"] for c in crit],
        "IECAT": [c["iecat"] for c in crit], "TIVERS": ["1"] * len(crit)})


def build_trial_summary(protocol, cutoff: dt.date, n_randomized: int, studyid: str) -> pl.DataFrame:
    """TS: the trial's summary parameters (CDISC TSPARMCD codes) from the protocol file."""
    study = protocol.study
    primary = protocol.response["primary"]
    crit = protocol.response["criteria"][primary["criteria"]]["label"]
    treatments = protocol.raw["treatments"]
    rows = [
        ("TITLE", "Trial Title", study["title"]),
        ("REGID", "Registry Identifier", study["id"]),
        ("SPONSOR", "Clinical Study Sponsor", study.get("sponsor", "")),
        ("TPHASE", "Trial Phase Classification", "PHASE II TRIAL"),
        ("STYPE", "Study Type", "INTERVENTIONAL"),
        ("INDIC", "Trial Disease/Condition Indication", study.get("indication", "")),
        ("TRT", "Investigational Therapy or Treatment", treatments["SIRT"]["name"]),
        ("RANDOM", "Trial is Randomized", "Y"),
        ("TBLIND", "Trial Blinding Schema", "OPEN LABEL"),
        ("TCNTRL", "Control Type", "ACTIVE"),
        ("NARMS", "Planned Number of Arms", str(len(protocol.arms))),
        ("PLANSUB", "Planned Number of Subjects", str(study.get("planned_randomized", ""))),
        ("ACTSUB", "Actual Number of Subjects", str(n_randomized)),
        ("SSTDTC", "Study Start Date", str(study["start_date"])),
        ("AGEMIN", "Planned Minimum Age of Subjects", "P18Y"),
        ("AGEMAX", "Planned Maximum Age of Subjects", "P75Y"),
        ("SEXPOP", "Sex of Participants", "BOTH"),
        ("OUTMSPRI", "Primary Outcome Measure", f"{primary['endpoint']} by BICR per {crit}"),
        ("DCUTDTC", "Data Cutoff Date", cutoff.isoformat()),
        ("DCUTDESC", "Data Cutoff Description", "INTERIM DATA CUTOFF"),
    ]
    return pl.DataFrame({
        "STUDYID": [studyid] * len(rows), "DOMAIN": ["TS"] * len(rows),
        "TSSEQ": list(range(1, len(rows) + 1)), "TSPARMCD": [r[0] for r in rows],
        "TSPARM": [r[1] for r in rows], "TSVAL": [str(r[2]) for r in rows]})
