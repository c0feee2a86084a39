"""The demo study after randomization: study treatment (PR, EX), tumour assessments (TU, TR,
RS), disposition and death, with a few planted protocol deviations.

Vectorized over subjects: numpy arrays per dose, session or visit number; loops run over
those numbers only, so 100,000 subjects take seconds.

Conventions (what the derivations can rely on):

- ``rel`` = days from randomization (0 = the randomization day); study day = rel + 1 for
  rel >= 0, rel for rel < 0 (no day 0). Nothing dated after the cutoff exists; what is
  ongoing at the cutoff has no end date (an apatinib interval still running has a null
  EXENDTC, RFXENDTC/RFENDTC are null).
- PR: one 99mTc-MAA SPECT/CT mapping in screening (2-14 days before randomization) for every
  randomized subject (inclusion 7). Y-90 SIRT for arms A-C on days 1-9 after randomization
  (so the apatinib washout SIRT+7 ends before C2D1), 20 % with a second, staged lobar session
  on days 35-63: half preceded by their own mapping, half covered by the screening mapping of
  both lobes. cTACE for arm D on demand, 1-4 sessions (typically 1-3) 5-9 weeks apart.
  PRTRT = ``protocol.treatment(KEY)["name"]``; PRDOSE/PRDOSU = Y-90 activity in GBq.
- EX: camrelizumab (A, B) one record per dose (EXSTDTC = EXENDTC, VISIT "CYCLE k DAY 1");
  apatinib (A) one record per continuous dosing interval from C2D1, interrupted from SIRT-7 to
  SIRT+7 around a staged SIRT and for toxicity (7-14 days, then often reduced to half the
  dose with EXADJ "ADVERSE EVENT").
- Treatment stops at investigator-assessed mRECIST progression (+1-7 days), toxicity,
  withdrawal, death, or after ``study.max_treatment_months``.
- Planted deviations use the RULE ids of DESIGN section 6; timing noise everywhere else stays
  inside the rules, so the deviations derived from the data equal ``truth["deviations"]``.
  One truth row per offending record: the dose, session or apatinib interval (DATE = its
  start date), for CTACE_OVER_LIMIT each session beyond the limit.
- DS (post-randomization): a TREATMENT-epoch DISPOSITION EVENT when treatment ends
  (PROGRESSIVE DISEASE, ADVERSE EVENT, WITHDRAWAL BY SUBJECT, DEATH, COMPLETED); a FOLLOW-UP
  one for a withdrawal (also on the same day as the treatment one) or a death after the end
  of treatment. Exactly one DEATH row per dead subject; nothing follows a death (no later
  withdrawal) and no death follows a withdrawal (no follow-up). One death is known to the month only
  (DTHDTC, RFENDTC and DSSTDTC "YYYY-MM", after every other record of that subject).

``truth`` keys: deviations [{USUBJID, RULE, DATE}], planted_subjects {RULE: [USUBJID]},
permitted_delays [{USUBJID, DATE}] (camrelizumab intervals of 25-28 days) and
n_permitted_delays, no_postbaseline_scan, deaths [{USUBJID, DTHDTC}], never_treated,
untreated (no study treatment record at all), staged_sirt [{USUBJID, OWN_MAPPING}],
partial_dates [{domain, variable, usubjid, value, full_date}], missed_assessments
[{USUBJID, VISITNUM}], unscheduled_assessments [{USUBJID, DATE}],
bor_bicr_mrecist_unconfirmed {USUBJID: BOR} and orr_bicr_mrecist_unconfirmed {ARMCD: rate}
(all randomized in the denominator), bicr_investigator_discordance_mrecist (share of
post-baseline time points where the two overall responses differ), ne_time_points.

Example:
    >>> import datetime as dt
    >>> on_study = generate_on_study(randomized, seed=1, cutoff=dt.date(2026, 11, 30),
    ...                              protocol=load_protocol("NCT07334483"))  # doctest: +SKIP
    >>> sorted(on_study.datasets)  # doctest: +SKIP
    ['ex', 'pr', 'rs', 'tr', 'tu']
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from trialkit.demo.tumor import build_tumor_domains, simulate_disease, summarize_best_response
from trialkit.errors import MissingColumnError, UnknownArmError

REQUIRED_COLUMNS = ("STUDYID", "USUBJID", "ARMCD", "RANDDT", "NEVER_TREATED")
NEVER = 10**7                       # "no such event": a day far beyond any cutoff

# --- simulation assumptions (not protocol rules) --------------------------------------------
P_WITHDRAWAL = 0.04
P_TOXICITY_STOP = np.array([0.12, 0.08, 0.03, 0.03])     # by arm A-D
MEAN_BACKGROUND_DEATH_DAYS = 3000.0
P_ON_SCHEDULE = 0.95                                     # else a permitted (holiday) delay
P_STAGED_SIRT = 0.2
P_OWN_MAPPING_FOR_STAGED = 0.5
P_APA_TOX_INTERRUPTION = 0.3
P_APA_REDUCTION_AFTER_INTERRUPTION = 0.6
CTACE_SESSIONS_P = (0.35, 0.38, 0.20, 0.07)              # 1, 2, 3, 4 sessions
PLANT_RATE = 1 / 60                                      # per rule: 2 in a 120-subject study

RULES = ("CAM_FIRST_DOSE_LATE", "CAM_INTERVAL_EARLY", "CAM_INTERVAL_LATE", "APA_BEFORE_C2D1",
         "APA_SIRT_WASHOUT", "SIRT_NO_MAPPING", "CTACE_OVER_LIMIT", "ARM_MISMATCH")


@dataclass
class OnStudy:
    """Everything after randomization, for the demo orchestrator.

    Attributes:
        datasets: "pr", "ex", "tu", "tr", "rs" in SDTM; --DTC ISO 8601 strings; --SEQ per subject.
        disposition: post-randomization DS rows (DSSEQ null; the orchestrator renumbers).
        dm_updates: USUBJID, RFXSTDTC, RFXENDTC, RFENDTC, DTHDTC, DTHFL.
        truth: JSON-serialisable record of what was planted and simulated.
    """

    datasets: dict[str, pl.DataFrame]
    disposition: pl.DataFrame
    dm_updates: pl.DataFrame
    truth: dict = field(default_factory=dict)


def _iso_days(abs_days: np.ndarray) -> pl.Series:
    """ISO 8601 strings from days since 1970-01-01 (null where the day is NEVER or beyond)."""
    never = abs_days >= NEVER // 2
    s = pl.Series(np.where(never, 0, abs_days).astype(np.int32)).cast(pl.Date).dt.to_string("%Y-%m-%d")
    return s.zip_with(pl.Series(~never), pl.Series([None] * len(s), dtype=pl.String))


def _check_randomized(randomized: pl.DataFrame, protocol) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in randomized.columns]
    if missing:
        raise MissingColumnError(
            f"trialkit: the randomized subjects frame has no column(s) {', '.join(missing)}.\n"
            f"  Columns present: {', '.join(randomized.columns)}\n"
            f"  generate_on_study needs {', '.join(REQUIRED_COLUMNS)} (RANDDT a pl.Date).",
            dataset="randomized", column=missing[0])
    unknown = sorted(set(randomized["ARMCD"].unique().to_list()) - set(protocol.arm_codes))
    if unknown:
        raise UnknownArmError(
            f"trialkit: arm code(s) {', '.join(map(str, unknown))} are not in the protocol file "
            f"({protocol.source}).\n  Arms defined: {', '.join(protocol.arm_codes)}",
            dataset="randomized", column="ARMCD")


def _pick(rng, eligible: np.ndarray, taken: np.ndarray, k: int) -> np.ndarray:
    """Indices of up to ``k`` eligible, not yet planted subjects (random, reproducible)."""
    pool = np.flatnonzero(eligible & ~taken)
    chosen = np.sort(rng.permutation(pool)[:k]) if pool.size else pool
    taken[chosen] = True
    return chosen


def generate_on_study(randomized: pl.DataFrame, *, seed: int, cutoff: dt.date, protocol) -> OnStudy:
    """Simulate everything after randomization for the randomized subjects.

    Args:
        randomized: one row per randomized subject: STUDYID, USUBJID, ARMCD (protocol arm
            codes), RANDDT (pl.Date), NEVER_TREATED (bool); optionally TUMOR_COUNT and
            LARGEST_MM (baseline tumours from screening).
        seed: the demo seed; this module uses the streams ``[seed, 2..6]``.
        cutoff: the data cutoff; nothing after it is generated.
        protocol: the loaded protocol (doses, schedules, windows, thresholds).

    Returns:
        An :class:`OnStudy`.

    Raises:
        MissingColumnError: a required column is absent.
        UnknownArmError: an ARMCD the protocol does not define.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> randomized = pl.DataFrame({"STUDYID": ["S"] * 4, "USUBJID": ["S-1", "S-2", "S-3", "S-4"],
        ...     "ARMCD": ["A", "B", "C", "D"], "RANDDT": [dt.date(2026, 1, 5)] * 4,
        ...     "NEVER_TREATED": [False] * 4})
        >>> out = generate_on_study(randomized, seed=7, cutoff=dt.date(2026, 9, 30),
        ...                         protocol=load_protocol("NCT07334483"))
        >>> sorted(out.datasets["ex"]["EXTRT"].unique())
        ['APATINIB', 'CAMRELIZUMAB']
    """
    _check_randomized(randomized, protocol)
    n = randomized.height
    codes = protocol.arm_codes
    arm_idx = randomized["ARMCD"].replace_strict({c: i for i, c in enumerate(codes)},
                                                  return_dtype=pl.Int64).to_numpy()
    rand = randomized["RANDDT"].cast(pl.Date).cast(pl.Int32).to_numpy().astype(np.int64)
    cut = (cutoff - dt.date(1970, 1, 1)).days
    horizon = cut - rand                     # the last rel day that may hold a record
    never_treated = randomized["NEVER_TREATED"].fill_null(False).to_numpy().astype(bool)
    usubjid = randomized["USUBJID"]
    in_arm = {c: arm_idx == i for i, c in enumerate(codes)}
    arm_a, arm_b, arm_c, arm_d = (in_arm.get(c, np.zeros(n, bool)) for c in ("A", "B", "C", "D"))
    treats = {c: set(protocol.arm(c)["treatments"]) for c in codes}
    gets = {key: np.isin(arm_idx, [i for i, c in enumerate(codes) if key in treats[c]])
            for key in ("CAMRELIZUMAB", "APATINIB", "SIRT", "CTACE", "MAA_MAPPING")}

    rng_fate = np.random.default_rng([seed, 2])
    rng_tu = np.random.default_rng([seed, 3])
    rng_tx = np.random.default_rng([seed, 4])
    rng_plant = np.random.default_rng([seed, 5])

    # ---- fates known before the tumour course ---------------------------------------------------
    t_wd = np.where(rng_fate.random(n) < P_WITHDRAWAL, rng_fate.integers(15, 400, n), NEVER)
    t_wd = np.where(never_treated, rng_fate.integers(1, 6, n), t_wd)
    t_death0 = np.floor(rng_fate.exponential(MEAN_BACKGROUND_DEATH_DAYS, n)) + 1
    t_tox = np.where(rng_fate.random(n) < P_TOXICITY_STOP[arm_idx], rng_fate.integers(20, 300, n), NEVER)
    max_tx = int(round(float(protocol.study["max_treatment_months"]) * 30.4375))

    def opt(col):
        return randomized[col].cast(pl.Float64).to_numpy() if col in randomized.columns else None

    baseline_rel = None
    if "SCREEN_IMAGING_DT" in randomized.columns:     # the screening scan is the baseline scan
        img = randomized["SCREEN_IMAGING_DT"].cast(pl.Date).cast(pl.Int32).to_numpy().astype(float) - rand
        baseline_rel = np.where(np.isnan(img), np.nan, np.clip(img, -27, 0))
    disease = simulate_disease(arm_idx=arm_idx, horizon=horizon.astype(float), never_treated=never_treated,
                               t_death0=t_death0, t_withdrawal=t_wd.astype(float), protocol=protocol,
                               rng=rng_tu, tumor_count=opt("TUMOR_COUNT"), largest_mm=opt("LARGEST_MM"),
                               baseline_rel=baseline_rel)
    t_death = np.where(np.isfinite(disease.t_death), disease.t_death, NEVER).astype(np.int64)
    t_death = np.where(t_wd < t_death, NEVER, t_death)        # no follow-up after withdrawal
    t_wd = np.where(t_death <= t_wd, NEVER, t_wd)             # nor a withdrawal after death
    pd_rel = np.where(np.isfinite(disease.pd_rel), disease.pd_rel, NEVER).astype(np.int64)
    t_pd_stop = np.where(pd_rel < NEVER, pd_rel + rng_fate.integers(1, 8, n), NEVER)

    # ---- end of treatment: the earliest reason ------------------------------------------------
    reasons = np.array(["PROGRESSIVE DISEASE", "ADVERSE EVENT", "WITHDRAWAL BY SUBJECT", "DEATH", "COMPLETED"])
    stops = np.stack([t_pd_stop, t_tox, t_wd, t_death, np.full(n, max_tx)], axis=1)
    stops[never_treated, :] = NEVER
    stops[never_treated, 2] = t_wd[never_treated]
    eot_reason = reasons[np.argmin(stops, axis=1)]
    t_eot = stops.min(axis=1)
    last_tx_day = np.minimum(t_eot - 1, horizon)            # treatment only up to here
    last_tx_day = np.where(never_treated, -1, last_tx_day)
    ongoing = t_eot > horizon

    # ---- planted deviations: distinct subjects, eligible so the plant survives truncation ----
    n_plant = max(1, int(round(n * PLANT_RATE)))
    taken = np.zeros(n, dtype=bool)
    treated = ~never_treated
    cam_arms = gets["CAMRELIZUMAB"]
    plant = {
        "CAM_FIRST_DOSE_LATE": _pick(rng_plant, cam_arms & treated & (last_tx_day >= 12), taken, n_plant),
        "CAM_INTERVAL_EARLY": _pick(rng_plant, cam_arms & treated & (last_tx_day >= 100), taken, n_plant),
        "CAM_INTERVAL_LATE": _pick(rng_plant, cam_arms & treated & (last_tx_day >= 110), taken, n_plant),
        "APA_BEFORE_C2D1": _pick(rng_plant, gets["APATINIB"] & treated & (last_tx_day >= 40), taken, n_plant),
        "APA_SIRT_WASHOUT": _pick(rng_plant, gets["APATINIB"] & treated & (last_tx_day >= 80), taken, n_plant),
        "SIRT_NO_MAPPING": _pick(rng_plant, gets["SIRT"] & treated & (last_tx_day >= 12), taken, n_plant),
        "CTACE_OVER_LIMIT": _pick(rng_plant, gets["CTACE"] & treated & (last_tx_day >= 150), taken, n_plant),
        # a camrelizumab dose given to a subject of an arm without camrelizumab
        "ARM_MISMATCH": _pick(rng_plant, ~cam_arms & gets["SIRT"] & treated & (last_tx_day >= 5), taken, n_plant),
    }
    assert tuple(plant) == RULES
    flag = {rule: np.isin(np.arange(n), idx) for rule, idx in plant.items()}

    # ---- PR: mapping, SIRT, cTACE ----------------------------------------------------------------
    sirt_key = "SIRT"
    sirt1 = rng_tx.integers(1, 10, n)
    sirt1 = np.where(flag["APA_BEFORE_C2D1"], rng_tx.integers(1, 4, n), sirt1)
    staged = rng_tx.random(n) < P_STAGED_SIRT
    staged = (staged | flag["APA_SIRT_WASHOUT"]) & ~flag["SIRT_NO_MAPPING"]
    sirt2 = np.where(flag["APA_SIRT_WASHOUT"], rng_tx.integers(42, 57, n), rng_tx.integers(35, 64, n))
    own_map2 = rng_tx.random(n) < P_OWN_MAPPING_FOR_STAGED
    map2 = sirt2 - rng_tx.integers(3, 11, n)
    # the screening mapping: 2-14 days before randomization, after consent and the screening scan
    map1 = -rng_tx.integers(2, 15, n)
    not_before = np.full(n, -NEVER)
    for col in ("RFICDT", "SCREEN_IMAGING_DT"):
        if col in randomized.columns:
            d = randomized[col].cast(pl.Date).cast(pl.Int32).to_numpy().astype(float)
            not_before = np.maximum(not_before, np.nan_to_num(d - rand, nan=-NEVER).astype(np.int64))
    map1 = np.minimum(np.maximum(map1, not_before), -1)
    gbq1 = np.round(rng_tx.uniform(1.2, 3.0, n), 2)
    gbq2 = np.round(rng_tx.uniform(0.8, 2.0, n), 2)
    right_first = rng_tx.random(n) < 0.75
    has_sirt1 = gets[sirt_key] & treated & (sirt1 <= last_tx_day)
    has_sirt2 = has_sirt1 & staged & (sirt2 <= last_tx_day)
    has_map1 = ~flag["SIRT_NO_MAPPING"]
    has_map2 = has_sirt2 & own_map2

    # cTACE sessions (arm D): 1-4 on demand, 5-9 weeks apart; the planted subjects get 5 in 24 weeks
    ctace_max = int(protocol.treatment("CTACE")["max_sessions"])
    n_sessions = rng_tx.choice(np.arange(1, ctace_max + 1), n, p=CTACE_SESSIONS_P)
    n_sessions = np.where(flag["CTACE_OVER_LIMIT"], ctace_max + 1, n_sessions)
    ctace_days = []
    day = np.where(flag["CTACE_OVER_LIMIT"], rng_tx.integers(1, 6, n), rng_tx.integers(1, 8, n))
    for k in range(ctace_max + 1):
        if k:
            gap = np.where(flag["CTACE_OVER_LIMIT"], rng_tx.integers(28, 36, n), rng_tx.integers(35, 64, n))
            day = day + gap
        ok = gets["CTACE"] & treated & (k < n_sessions) & (day <= last_tx_day)
        ctace_days.append((k + 1, day.copy(), ok))

    pr_parts = []

    def pr_rows(mask, rel, key, session, dose=None, lat=None, epoch="TREATMENT", cat="STUDY TREATMENT"):
        idx = np.flatnonzero(mask & (rel <= horizon))
        pr_parts.append(pl.DataFrame({
            "SUBJ": idx.astype(np.int32), "REL": rel[idx].astype(np.int64),
            "PRTRT": [protocol.treatment(key)["name"]] * idx.size,
            "PRCAT": [cat] * idx.size, "SESSION": np.full(idx.size, session, dtype=np.int32),
            "PRDOSE": (dose[idx] if dose is not None else np.full(idx.size, np.nan)),
            "PRLAT": (lat[idx] if lat is not None else np.full(idx.size, None, dtype=object)),
            "EPOCH": [epoch] * idx.size,
        }, schema_overrides={"PRLAT": pl.String}, nan_to_null=True))

    lat1 = np.where(right_first, "RIGHT", "LEFT").astype(object)
    lat2 = np.where(right_first, "LEFT", "RIGHT").astype(object)
    pr_rows(has_map1, map1, "MAA_MAPPING", 1, epoch="SCREENING", cat="SIRT PLANNING")
    pr_rows(has_map2, map2, "MAA_MAPPING", 2, lat=lat2, cat="SIRT PLANNING")
    pr_rows(has_sirt1, sirt1, sirt_key, 1, dose=gbq1, lat=lat1)
    pr_rows(has_sirt2, sirt2, sirt_key, 2, dose=gbq2, lat=lat2)
    for k, days, ok in ctace_days:
        pr_rows(ok, days, "CTACE", k)
    pr_long = pl.concat(pr_parts)

    # ---- EX: camrelizumab one record per dose ------------------------------------------------------
    cam = protocol.treatment("CAMRELIZUMAB")
    interval, window = int(cam["interval_days"]), int(cam["window_days"])
    delay = int(cam["permitted_delay_days"])
    first_within = int(cam["first_dose_within_days"])
    cam_subject = (cam_arms & treated) | flag["ARM_MISMATCH"]
    k_cam = max(3, int(max(np.max(last_tx_day, initial=0), 0)) // (interval - window) + 2)
    cam_day = np.where(flag["CAM_FIRST_DOSE_LATE"], rng_tx.integers(first_within + 2, first_within + 6, n),
                       rng_tx.integers(0, first_within + 1, n))
    cam_doses = []
    for k in range(1, k_cam + 1):
        if k > 1:
            gap = np.where(rng_tx.random(n) < P_ON_SCHEDULE,
                           rng_tx.integers(interval - window, interval + window + 1, n),
                           rng_tx.integers(interval + window + 1, interval + delay + 1, n))
            if k == 3:   # planted interval deviations between C2 and C3 (never C1-C2: C2D1 starts apatinib)
                gap = np.where(flag["CAM_INTERVAL_EARLY"],
                               rng_tx.integers(interval - window - 3, interval - window, n), gap)
                gap = np.where(flag["CAM_INTERVAL_LATE"],
                               rng_tx.integers(interval + delay + 3, interval + delay + 13, n), gap)
            cam_day = cam_day + gap
        ok = cam_subject & (cam_day <= last_tx_day) & ((k == 1) | ~flag["ARM_MISMATCH"])
        cam_doses.append((k, cam_day.copy(), ok))
    c2d1 = np.where(cam_doses[1][2], cam_doses[1][1], NEVER) if len(cam_doses) > 1 else np.full(n, NEVER)

    ex_parts = []
    for k, days, ok in cam_doses:
        idx = np.flatnonzero(ok)
        ex_parts.append(pl.DataFrame({
            "SUBJ": idx.astype(np.int32), "START": days[idx].astype(np.int64), "END": days[idx].astype(np.int64),
            "KEY": ["CAMRELIZUMAB"] * idx.size, "EXDOSE": np.full(idx.size, float(cam["dose"])),
            "EXADJ": pl.Series([None] * idx.size, dtype=pl.String), "CYCLE": np.full(idx.size, k, dtype=np.int32)}))

    # ---- EX: apatinib intervals from C2D1 with washout and toxicity interruptions ---------------
    apa = protocol.treatment("APATINIB")
    washout = int(apa["sirt_washout_days"])
    apa_subject = gets["APATINIB"] & treated & (c2d1 < NEVER)
    apa_start = np.where(flag["APA_BEFORE_C2D1"], sirt1 + washout + 1, c2d1)
    apa_end = last_tx_day
    # window 1: the staged SIRT (planted: resumed 2-5 days after it instead of after +washout)
    w1s = np.where(has_sirt2, sirt2 - washout, NEVER)
    resume_early = rng_tx.integers(2, 6, n)
    w1e = np.where(has_sirt2, np.where(flag["APA_SIRT_WASHOUT"], sirt2 + resume_early - 1, sirt2 + washout), NEVER)
    # window 2: an interruption for toxicity, 7-14 days, always after the SIRT window
    tox_int = rng_tx.random(n) < P_APA_TOX_INTERRUPTION
    ti_s = rng_tx.integers(60, 250, n)
    ti_s = np.where(has_sirt2 & (ti_s <= sirt2 + washout + 7), sirt2 + washout + 15, ti_s)
    ti_e = ti_s + rng_tx.integers(7, 15, n) - 1
    reduce = tox_int & (rng_tx.random(n) < P_APA_REDUCTION_AFTER_INTERRUPTION)
    w2s, w2e = np.where(tox_int, ti_s, NEVER), np.where(tox_int, ti_e, NEVER)
    # keep the windows ordered: an absent first window takes the second's place
    swap = w1s >= NEVER
    w1s, w2s = np.where(swap, w2s, w1s), np.where(swap, NEVER, w2s)
    w1e, w2e = np.where(swap, w2e, w1e), np.where(swap, NEVER, w2e)
    for lo, hi in ((apa_start, w1s - 1), (np.maximum(apa_start, w1e + 1), w2s - 1),
                   (np.maximum(apa_start, w2e + 1), np.full(n, NEVER))):
        hi = np.minimum(hi, apa_end)
        ok = apa_subject & (lo <= hi) & (lo <= apa_end)
        reduced = reduce & (lo > ti_e)
        end = np.where(ongoing & (hi >= horizon), NEVER, hi)        # still running at cutoff
        idx = np.flatnonzero(ok)
        ex_parts.append(pl.DataFrame({
            "SUBJ": idx.astype(np.int32), "START": lo[idx].astype(np.int64), "END": end[idx].astype(np.int64),
            "KEY": ["APATINIB"] * idx.size,
            "EXDOSE": np.where(reduced[idx], float(apa["dose"]) / 2, float(apa["dose"])),
            "EXADJ": pl.Series(np.where(reduced[idx], "ADVERSE EVENT", None).tolist(), dtype=pl.String),
            "CYCLE": pl.Series([None] * idx.size, dtype=pl.Int32)}))
    ex_long = pl.concat(ex_parts)

    # ---- tumour domains --------------------------------------------------------------------------
    subjects = pl.DataFrame({"SUBJ": np.arange(n, dtype=np.int32), "STUDYID": randomized["STUDYID"],
                             "USUBJID": usubjid, "RANDDT": randomized["RANDDT"].cast(pl.Date),
                             "MRI": disease.lesions["MRI"]})
    tumor = build_tumor_domains(disease.assessments, subjects, protocol)

    # ---- SDTM PR / EX --------------------------------------------------------------------------
    def dtc(rel_col: str) -> pl.Expr:
        return pl.when(pl.col(rel_col) >= NEVER // 2).then(None).otherwise(
            (pl.col("RANDDT") + pl.duration(days=pl.col(rel_col))).dt.to_string("%Y-%m-%d"))

    def dy(rel_col: str) -> pl.Expr:
        r = pl.col(rel_col)
        return pl.when(r >= NEVER // 2).then(None).when(r >= 0).then(r + 1).otherwise(r).cast(pl.Int32)

    pr = (pr_long.join(subjects, on="SUBJ").sort("SUBJ", "REL", "PRTRT")
          .with_columns((pl.int_range(pl.len()).over("SUBJ") + 1).cast(pl.Int32).alias("PRSEQ"))
          .select("STUDYID", pl.lit("PR").alias("DOMAIN"), "USUBJID", "PRSEQ", "PRTRT", "PRCAT",
                  pl.lit("LIVER").alias("PRLOC"), "PRLAT", "PRDOSE",
                  pl.when(pl.col("PRDOSE").is_not_null()).then(pl.lit(protocol.treatment(sirt_key)["dose_unit"]))
                  .otherwise(None).alias("PRDOSU"), "EPOCH",
                  dtc("REL").alias("PRSTDTC"), dtc("REL").alias("PRENDTC"), dy("REL").alias("PRSTDY")))
    ex_meta = {key: protocol.treatment(key) for key in ("CAMRELIZUMAB", "APATINIB")}
    form = {"CAMRELIZUMAB": "INJECTION", "APATINIB": "TABLET"}
    ex = (ex_long.join(subjects, on="SUBJ").sort("SUBJ", "START", "KEY")
          .with_columns((pl.int_range(pl.len()).over("SUBJ") + 1).cast(pl.Int32).alias("EXSEQ"))
          .select("STUDYID", pl.lit("EX").alias("DOMAIN"), "USUBJID", "EXSEQ",
                  pl.col("KEY").replace_strict({k: v["name"] for k, v in ex_meta.items()}).alias("EXTRT"),
                  "EXDOSE", pl.col("KEY").replace_strict({k: v["unit"] for k, v in ex_meta.items()}).alias("EXDOSU"),
                  pl.col("KEY").replace_strict(form).alias("EXDOSFRM"),
                  pl.col("KEY").replace_strict({k: v["frequency"] for k, v in ex_meta.items()}).alias("EXDOSFRQ"),
                  pl.col("KEY").replace_strict({k: v["route"] for k, v in ex_meta.items()}).alias("EXROUTE"),
                  "EXADJ", pl.lit("TREATMENT").alias("EPOCH"),
                  pl.col("CYCLE").cast(pl.Float64).alias("VISITNUM"),
                  pl.when(pl.col("CYCLE").is_not_null()).then(pl.format("CYCLE {} DAY 1", pl.col("CYCLE")))
                  .otherwise(None).alias("VISIT"),
                  dtc("START").alias("EXSTDTC"), dtc("END").alias("EXENDTC"),
                  dy("START").alias("EXSTDY"), dy("END").alias("EXENDY")))

    # ---- disposition, DM updates --------------------------------------------------------------
    first_tx = np.full(n, NEVER)
    last_tx = np.full(n, -NEVER)
    tx_days = pl.concat([
        ex_long.select("SUBJ", pl.col("START").alias("D0"),
                       pl.when(pl.col("END") >= NEVER // 2).then(pl.lit(horizon.max() if n else 0))
                       .otherwise(pl.col("END")).alias("D1")),
        pr_long.filter(pl.col("PRCAT") == "STUDY TREATMENT").select("SUBJ", pl.col("REL").alias("D0"),
                                                                    pl.col("REL").alias("D1")),
    ]).group_by("SUBJ").agg(pl.col("D0").min(), pl.col("D1").max())
    si = tx_days["SUBJ"].to_numpy()
    first_tx[si] = tx_days["D0"].to_numpy()
    last_tx[si] = tx_days["D1"].to_numpy()
    any_tx = first_tx < NEVER
    t_eos = np.minimum(t_wd, t_death)

    dth = t_death <= horizon
    # one realistic partial date: a death known only to the month (after every other record)
    last_scan = (disease.assessments.group_by("SUBJ").agg(pl.col("T").max()))
    last_seen = np.full(n, -NEVER)
    last_seen[last_scan["SUBJ"].to_numpy()] = last_scan["T"].to_numpy()
    last_seen = np.maximum(last_seen, np.where(any_tx, last_tx, -NEVER))
    death_abs = rand + t_death
    death_month_start = pl.Series(np.where(dth, death_abs, 0).astype(np.int32)).cast(pl.Date).dt.month_start()
    month_start_rel = death_month_start.cast(pl.Int32).to_numpy().astype(np.int64) - rand
    partial_ok = dth & (last_seen < month_start_rel) & (month_start_rel >= 0)
    partial_idx = np.flatnonzero(partial_ok)[:1] if n < 1000 else np.flatnonzero(partial_ok)[: max(1, n // 1000)]

    def iso_rel(rel):
        return _iso_days(np.where(rel >= NEVER // 2, NEVER, rand + rel))

    dthdtc = iso_rel(np.where(dth, t_death, NEVER))
    dthdtc_full = dthdtc.clone()
    if partial_idx.size:
        dthdtc = dthdtc.scatter(partial_idx, dthdtc.gather(partial_idx).str.slice(0, 7))
    study_ended = pl.Series(t_eos <= horizon)
    eos_iso = iso_rel(np.where(t_eos <= horizon, t_eos, NEVER))
    eos_iso = pl.select(pl.when(pl.lit(pl.Series(dth & (t_death <= t_wd)))).then(dthdtc).otherwise(eos_iso)).to_series()
    dm_updates = pl.DataFrame({
        "USUBJID": usubjid,
        "RFXSTDTC": iso_rel(np.where(any_tx, first_tx, NEVER)),
        "RFXENDTC": iso_rel(np.where(any_tx & ~ongoing, last_tx, NEVER)),
        "RFENDTC": pl.select(pl.when(pl.lit(study_ended)).then(eos_iso).otherwise(None)).to_series(),
        "DTHDTC": dthdtc,
        "DTHFL": pl.Series(np.where(dth, "Y", None).tolist(), dtype=pl.String),
    })

    ds_parts = []
    eot_text = {"PROGRESSIVE DISEASE": "DISEASE PROGRESSION PER INVESTIGATOR", "ADVERSE EVENT": "ADVERSE EVENT",
                "WITHDRAWAL BY SUBJECT": "SUBJECT WITHDREW CONSENT", "DEATH": "DEATH",
                "COMPLETED": "COMPLETED MAXIMUM TREATMENT DURATION"}

    def ds_rows(mask, decod, term, epoch, dtc_series):
        idx = np.flatnonzero(mask)
        ds_parts.append(pl.DataFrame({
            "SUBJ": idx.astype(np.int32), "USUBJID": usubjid.gather(idx),
            "DSTERM": term[idx] if isinstance(term, np.ndarray) else [term] * idx.size,
            "DSDECOD": decod[idx] if isinstance(decod, np.ndarray) else [decod] * idx.size,
            "EPOCH": [epoch] * idx.size, "DSSTDTC": dtc_series.gather(idx)}, schema_overrides={"DSTERM": pl.String}))

    eot_rec = t_eot <= horizon
    eot_iso = iso_rel(np.where(eot_rec, t_eot, NEVER))
    eot_iso = pl.select(pl.when(pl.lit(pl.Series(eot_reason == "DEATH"))).then(dthdtc).otherwise(eot_iso)).to_series()
    term_arr = np.array([eot_text[r] for r in reasons])[np.argmin(stops, axis=1)]
    term_arr = np.where(never_treated, "SUBJECT WITHDREW CONSENT BEFORE FIRST STUDY TREATMENT", term_arr)
    ds_rows(eot_rec, eot_reason.astype(object), term_arr.astype(object), "TREATMENT", eot_iso)
    wd_rec = t_wd <= horizon
    ds_rows(wd_rec, "WITHDRAWAL BY SUBJECT", "SUBJECT WITHDREW CONSENT", "FOLLOW-UP",
            iso_rel(np.where(wd_rec, t_wd, NEVER)))
    ds_rows(dth & (eot_reason != "DEATH"), "DEATH", "DEATH", "FOLLOW-UP", dthdtc)
    disposition = (pl.concat(ds_parts).sort("SUBJ", "DSSTDTC")
                   .join(subjects.select("SUBJ", "STUDYID"), on="SUBJ")
                   .select("STUDYID", pl.lit("DS").alias("DOMAIN"), "USUBJID",
                           pl.lit(None, dtype=pl.Int32).alias("DSSEQ"), "DSTERM", "DSDECOD",
                           pl.lit("DISPOSITION EVENT").alias("DSCAT"), "EPOCH", "DSSTDTC"))

    # ---- truth ---------------------------------------------------------------------------------
    def rows(idx, rule, rel):
        return [{"USUBJID": u, "RULE": rule, "DATE": d}
                for u, d in zip(usubjid.gather(idx).to_list(), iso_rel(rel).gather(idx).to_list())]

    deviations = []
    deviations += rows(plant["CAM_FIRST_DOSE_LATE"], "CAM_FIRST_DOSE_LATE", cam_doses[0][1])
    deviations += rows(plant["CAM_INTERVAL_EARLY"], "CAM_INTERVAL_EARLY", cam_doses[2][1])
    deviations += rows(plant["CAM_INTERVAL_LATE"], "CAM_INTERVAL_LATE", cam_doses[2][1])
    deviations += rows(plant["APA_BEFORE_C2D1"], "APA_BEFORE_C2D1", apa_start)
    deviations += rows(plant["APA_SIRT_WASHOUT"], "APA_SIRT_WASHOUT", sirt2 + resume_early)
    for s_has, s_day in ((has_sirt1, sirt1), (has_sirt2, sirt2)):
        deviations += rows(np.flatnonzero(flag["SIRT_NO_MAPPING"] & s_has), "SIRT_NO_MAPPING", s_day)
    window_days = int(protocol.treatment("CTACE")["max_sessions_window_days"])
    for k, days, ok in ctace_days:
        if k > ctace_max:
            deviations += rows(np.flatnonzero(flag["CTACE_OVER_LIMIT"] & ok & (days + 1 <= window_days)),
                               "CTACE_OVER_LIMIT", days)
    deviations += rows(plant["ARM_MISMATCH"], "ARM_MISMATCH", cam_doses[0][1])
    deviations.sort(key=lambda r: (r["USUBJID"], r["RULE"], r["DATE"]))

    delays = []
    for (k0, d0, ok0), (k1, d1, ok1) in zip(cam_doses, cam_doses[1:]):
        gap = d1 - d0
        m = ok0 & ok1 & (gap > interval + window) & (gap <= interval + delay)
        delays += [{"USUBJID": u, "DATE": d} for u, d in zip(usubjid.gather(np.flatnonzero(m)).to_list(),
                                                              iso_rel(d1).filter(pl.Series(m)).to_list())]
    delays.sort(key=lambda r: (r["USUBJID"], r["DATE"]))
    post = disease.assessments.filter(pl.col("VNUM") > 0)
    with_post = np.zeros(n, dtype=bool)
    with_post[post["SUBJ"].unique().to_numpy()] = True
    bor = summarize_best_response(disease.assessments, reader=0, crit=0,
                                  sd_min_days=int(protocol.response["sd_min_days"]))
    bor_all = np.full(n, "MISSING", dtype=object)
    bor_all[bor["SUBJ"].to_numpy()] = bor["BOR"].to_numpy()
    kept_visits = disease.assessments.select("SUBJ", "VNUM").unique()
    last_v = kept_visits.group_by("SUBJ").agg(pl.col("VNUM").max())
    last_vnum = np.full(n, -1.0)
    last_vnum[last_v["SUBJ"].to_numpy()] = last_v["VNUM"].to_numpy()
    missed = [{"USUBJID": usubjid[i], "VISITNUM": float(k)} for i, k in disease.missed if k < last_vnum[i]]
    uns = post.filter(pl.col("VNUM") != pl.col("VNUM").floor()).select("SUBJ", "T").unique().sort("SUBJ", "T")
    wide = post.pivot(on="READER", index=["SUBJ", "T", "CRIT"], values="OVRLRESP")
    discord = (wide.filter(pl.col("CRIT") == 0)
               .select((pl.col("0") != pl.col("1")).mean()).item()) if wide.height and "1" in wide.columns else None
    orr = {c: (float(np.mean(np.isin(bor_all[arm_idx == i], ["CR", "PR"]))) if np.any(arm_idx == i) else None)
           for i, c in enumerate(codes)}
    truth = {
        "deviations": deviations,
        "planted_subjects": {rule: usubjid.gather(idx).to_list() for rule, idx in plant.items()},
        "permitted_delays": delays,
        "n_permitted_delays": len(delays),
        "no_postbaseline_scan": usubjid.filter(pl.Series(~with_post)).to_list(),
        "deaths": [{"USUBJID": u, "DTHDTC": d} for u, d in
                   zip(usubjid.filter(pl.Series(dth)).to_list(), dthdtc.filter(pl.Series(dth)).to_list())],
        "never_treated": usubjid.filter(pl.Series(never_treated)).to_list(),
        "untreated": usubjid.filter(pl.Series(~any_tx)).to_list(),
        "staged_sirt": [{"USUBJID": u, "OWN_MAPPING": bool(m)} for u, m in
                        zip(usubjid.filter(pl.Series(has_sirt2)).to_list(), has_map2[has_sirt2].tolist())],
        # same shape as the screening truth's partial_dates
        "partial_dates": [{"domain": dom, "variable": var, "usubjid": usubjid[int(i)],
                           "value": dthdtc[int(i)], "full_date": dthdtc_full[int(i)]}
                          for i in partial_idx for dom, var in (("DM", "DTHDTC"), ("DM", "RFENDTC"), ("DS", "DSSTDTC"))],
        "missed_assessments": missed,
        "unscheduled_assessments": [{"USUBJID": u, "DATE": d} for u, d in zip(
            usubjid.gather(uns["SUBJ"]).to_list(),
            _iso_days(rand[uns["SUBJ"].to_numpy()] + uns["T"].to_numpy()).to_list())],
        "bor_bicr_mrecist_unconfirmed": dict(zip(usubjid.to_list(), bor_all.tolist())),
        "orr_bicr_mrecist_unconfirmed": orr,
        "bicr_investigator_discordance_mrecist": discord,
        "ne_time_points": int(post.filter((pl.col("OVRLRESP") == "NE")).height),
    }
    datasets = {"pr": pr, "ex": ex, **tumor}
    return OnStudy(datasets=datasets, disposition=disposition, dm_updates=dm_updates, truth=truth)
