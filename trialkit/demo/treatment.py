"""The demo study after randomization: study treatment (PR, AG, EX), tumour assessments (TU,
TR, RS), adverse events (AE), on-treatment labs (LB), therapies (CM), visits (SV),
disposition and death, with a few planted protocol deviations.

Vectorized over subjects: numpy arrays per dose, session, window or visit number; loops run
over those numbers only, so 100,000 subjects take seconds. :func:`generate_on_study` runs
named steps: fates, procedures, the disease course, end of treatment, planted deviations,
cTACE, camrelizumab, apatinib, adverse events, then the domains (``events.py``) and truth.

Conventions (what the derivations can rely on):

- ``rel`` = days from randomization (0 = the randomization day); every ``--DY`` is SDTMIG's
  study day from DM.RFSTDTC = the randomization date (:func:`trialkit.derive.days.compute_study_day`).
- The transfer was extracted ``extraction`` (a few days after the cutoff): records up to that
  day exist, so some doses, scans, labs, AEs and a death are dated after the cutoff. What is
  ongoing at the extraction has no end date (an apatinib interval still running has a null
  EXENDTC; RFXENDTC/RFENDTC are null).
- Scheduled activity (infusions, procedures, scans, labs) is on working days of the clinic
  calendar; a camrelizumab dose that falls on a holiday moves to the next working day within
  the protocol's holiday allowance (``visits.holiday_delay_max_days``).
- PR: one 99mTc-MAA SPECT/CT mapping in screening for every randomized subject (inclusion 7).
  Y-90 SIRT (arms A-C) of the largest tumour's lobe on days 1-10 (so the apatinib washout
  SIRT+7 ends before C2D1), and a staged SIRT of the other lobe on days 35-63 when the disease
  is bilobar (half preceded by their own mapping). cTACE (arm D) on demand, 1-4 sessions 5-9
  weeks apart; its agents are in AG (convention: the session in PR, PRLNKID "CTACE-k"; the
  epirubicin (mg) and lipiodol (mL) emulsion in AG with the same AGLNKID; Y-90 activity in
  PR.PRDOSE, GBq). PRTRT = ``protocol.treatment(KEY)["name"]``.
- EX: camrelizumab (A, B) one record per dose, VISIT "CYCLE k DAY 1" (k = the k-th dose);
  intervals peak at 21 days; immune-related holds (a skipped cycle) and permanent stops each
  have their AE. Apatinib (A) one record per continuous dosing interval from C2D1, off from
  SIRT-7 to SIRT+7 around a staged SIRT and for toxicity (each interruption or reduction
  250 -> 125 mg with its AE; EXADJ "ADVERSE EVENT").
- AE: AEACN is the action on the drug named in AEACNTRT (a sponsor variable; SDTMIG puts it
  in SUPPAE when a subject takes several study drugs); AETOXGR the CTCAE grade; AEIRAE "Y"
  for immune-related AEs. Every hold, reduction, interruption and AE discontinuation has one.
- Planted deviations use the RULE ids of DESIGN section 6; everything else stays inside the
  rules, so the deviations derived from the data equal ``truth["deviations"]``: a
  camrelizumab interval over 28 days that is not planted is always a hold with an AE
  DRUG INTERRUPTED starting between the two doses (permitted, ``truth["permitted_holds"]``).
  One truth row per offending record (dose, session or apatinib interval; DATE its start);
  every planted record is dated on or before the cutoff.
- DS (post-randomization): a TREATMENT-epoch DISPOSITION EVENT when treatment ends
  (PROGRESSIVE DISEASE, ADVERSE EVENT, WITHDRAWAL BY SUBJECT, DEATH, COMPLETED); a FOLLOW-UP
  one for a withdrawal or a death after the end of treatment. Nothing follows a death and no
  death follows a withdrawal. One death is known to the month only.

``truth`` keys: see ``trialkit/demo/__init__.py`` (the README lists them).

Example:
    >>> on_study = generate_on_study(randomized, layout, seed=1, cutoff=dt.date(2026, 10, 31),
    ...     extraction=dt.date(2026, 11, 12), protocol=load_protocol("NCT07334483"), calendar=cal)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from trialkit.demo import events
from trialkit.demo.dates import NEVER, compute_iso_date, days_to_dates, iso_dates, to_day
from trialkit.demo.screening import SEGMENTS, Layout, build_lab_records
from trialkit.demo.writing import Planned
from trialkit.demo.tumor import (DiseaseInput, _pick_share, build_tumor_domains, simulate_disease,
                                 summarize_best_response)
from trialkit.derive.days import compute_study_day
from trialkit.errors import MissingColumnError, UnknownArmError

REQUIRED_COLUMNS = ("STUDYID", "USUBJID", "ARMCD", "RANDDT", "NEVER_TREATED")

# --- simulation assumptions (not protocol rules) --------------------------------------------
P_WITHDRAWAL = 0.04
P_TOXICITY_STOP = np.array([0.12, 0.09, 0.03, 0.04])     # AE discontinuation, by arm A-D
MEAN_BACKGROUND_DEATH_DAYS = 3000.0
CAM_OFFSETS = np.arange(-3, 4)                           # interval - 21 when on schedule
CAM_OFFSET_P = np.array([0.02, 0.05, 0.13, 0.55, 0.13, 0.07, 0.05])
P_CAM_DELAY = 0.08                                       # a permitted 25-28 day interval (patient, logistics)
P_CAM_HOLD = np.array([0.2, 0.16, 0.0, 0.0])            # an immune-related hold (skipped cycle), by arm
P_STAGED_IF_BILOBAR = 0.85
P_OWN_MAPPING_FOR_STAGED = 0.5
P_APA_INTERRUPTION = 0.35
P_APA_SECOND_INTERRUPTION = 0.3
P_APA_REDUCE_AFTER_INTERRUPTION = 0.55
P_APA_DIRECT_REDUCTION = 0.1
CTACE_SESSIONS_P = (0.35, 0.38, 0.20, 0.07)              # 1, 2, 3, 4 sessions
PLANT_RATE = 1 / 60                                      # per rule: 2 in a 120-subject study

RULES = ("CAM_FIRST_DOSE_LATE", "CAM_INTERVAL_EARLY", "CAM_INTERVAL_LATE", "APA_BEFORE_C2D1",
         "APA_SIRT_WASHOUT", "SIRT_NO_MAPPING", "CTACE_OVER_LIMIT", "ARM_MISMATCH")


@dataclass
class OnStudy:
    """Everything after randomization, for the demo orchestrator.

    Attributes:
        datasets: lower-case name -> frame ("pr", "ag", "ex", "tu", "tr", "rs", "ae", "cm",
            "lb", "sv", "ti", "ts"); --DTC as ``pl.Date`` or ISO text; --SEQ per subject
            (LB and PR are renumbered with the screening rows by the orchestrator).
        disposition: post-randomization DS rows (DSSEQ null; the orchestrator renumbers).
        dm_updates: USUBJID, RFXSTDTC, RFXENDTC, RFENDTC, DTHDTC, DTHFL.
        truth: JSON-serialisable record of what was planted and simulated.
    """

    datasets: dict[str, pl.DataFrame]
    disposition: pl.DataFrame
    dm_updates: pl.DataFrame
    truth: dict = field(default_factory=dict)
    lab_visits: pl.DataFrame | None = None   # LB as visits (``build_lab_records``), for one LB plan


@dataclass
class Cohort:
    """The randomized subjects as arrays (row i of every array is subject i)."""

    frame: pl.DataFrame
    arm_idx: np.ndarray
    rand: np.ndarray                 # randomization day, days since 1970-01-01
    horizon: np.ndarray              # rel day of the data extraction
    cut: np.ndarray                  # rel day of the cutoff
    never_treated: np.ndarray
    gets: dict                       # treatment key -> bool array (the arm includes it)

    @property
    def n(self) -> int:
        return self.arm_idx.shape[0]


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


def _cohort(randomized: pl.DataFrame, protocol, cutoff: dt.date, extraction: dt.date) -> Cohort:
    codes = protocol.arm_codes
    arm_idx = randomized["ARMCD"].replace_strict({c: i for i, c in enumerate(codes)}, return_dtype=pl.Int64).to_numpy()
    rand = randomized["RANDDT"].cast(pl.Date).cast(pl.Int32).to_numpy().astype(np.int64)
    treats = {c: set(protocol.arm(c)["treatments"]) for c in codes}
    gets = {key: np.isin(arm_idx, [i for i, c in enumerate(codes) if key in treats[c]])
            for key in ("CAMRELIZUMAB", "APATINIB", "SIRT", "CTACE", "MAA_MAPPING")}
    return Cohort(frame=randomized, arm_idx=arm_idx, rand=rand, horizon=to_day(extraction) - rand,
                  cut=to_day(cutoff) - rand, never_treated=randomized["NEVER_TREATED"].fill_null(False).to_numpy().astype(bool),
                  gets=gets)


# ---------------------------------------------------------------- steps
def _draw_fates(rng, c: Cohort, protocol) -> dict:
    """Withdrawal of consent, a death not caused by the cancer, an AE that stops treatment."""
    n = c.n
    t_wd = np.where(rng.random(n) < P_WITHDRAWAL, rng.integers(15, 400, n), NEVER)
    t_wd = np.where(c.never_treated, rng.integers(1, 6, n), t_wd)
    t_death0 = np.floor(rng.exponential(MEAN_BACKGROUND_DEATH_DAYS, n)) + 1
    t_tox = np.where(rng.random(n) < P_TOXICITY_STOP[c.arm_idx], rng.integers(20, 300, n), NEVER)
    return {"t_wd": t_wd, "t_death0": t_death0, "t_tox": t_tox,
            "max_tx": int(round(float(protocol.study["max_treatment_months"]) * 30.4375))}


def _plan_procedures(rng, c: Cohort, layout: Layout, calendar) -> dict:
    """Mapping, SIRT of the largest tumour's lobe, staged SIRT of the other lobe (bilobar
    disease), the first cTACE; all on working days."""
    n = c.n
    lesnum = c.frame["TUMOR_COUNT"].to_numpy() if "TUMOR_COUNT" in c.frame.columns else np.ones(n, dtype=np.int64)
    slots = np.arange(layout.right.shape[1])[None, :] < lesnum[:, None]
    bilobar = (slots & (layout.right != layout.right[:, :1])).any(axis=1)
    staged = c.gets["SIRT"] & bilobar & (rng.random(n) < P_STAGED_IF_BILOBAR) & ~c.never_treated
    sirt1 = calendar.nearest_working(c.rand + rng.integers(1, 10, n), c.rand + 1, c.rand + 10) - c.rand
    sirt2 = calendar.nearest_working(c.rand + rng.integers(35, 64, n), c.rand + 35, c.rand + 63) - c.rand
    own_map2 = rng.random(n) < P_OWN_MAPPING_FOR_STAGED
    map2 = calendar.prev_working(c.rand + sirt2 - rng.integers(3, 11, n)) - c.rand
    # the screening mapping: 2-14 days before randomization, after consent and the screening scan
    not_before = np.full(n, -NEVER)
    for col in ("RFICDT", "SCREEN_IMAGING_DT"):
        if col in c.frame.columns:
            d = c.frame[col].cast(pl.Date).cast(pl.Int32).to_numpy().astype(np.int64) - c.rand
            not_before = np.maximum(not_before, d)
    map1 = calendar.prev_working(c.rand - rng.integers(2, 15, n)) - c.rand
    map1 = np.where(map1 < not_before, calendar.next_working(c.rand + not_before) - c.rand, map1)
    map1 = np.minimum(map1, -1)
    ctace1 = calendar.nearest_working(c.rand + rng.integers(1, 7, n), c.rand + 1, c.rand + 8) - c.rand
    return {"sirt1": sirt1, "sirt2": sirt2, "staged": staged, "own_map2": own_map2, "map1": map1, "map2": map2,
            "ctace1": ctace1, "gbq1": np.round(rng.uniform(1.2, 3.0, n), 2),
            "gbq2": np.round(rng.uniform(0.8, 2.0, n), 2), "right_first": layout.right[:, 0]}


def _disease_input(c: Cohort, layout: Layout, fates: dict, proc: dict, protocol) -> DiseaseInput:
    treated = ~c.never_treated
    start_main = np.where(c.gets["CTACE"], proc["ctace1"], np.where(c.gets["SIRT"], proc["sirt1"], np.inf))
    start_main = np.where(treated, start_main, np.inf).astype(float)
    start_other = np.where(c.gets["CTACE"], proc["ctace1"], np.where(proc["staged"], proc["sirt2"], np.inf))
    start_other = np.where(treated, start_other, np.inf).astype(float)
    frame = c.frame
    base = frame["SCREEN_IMAGING_DT"].cast(pl.Date).cast(pl.Int32).to_numpy().astype(float) - c.rand
    return DiseaseInput(
        arm_idx=c.arm_idx, rand=c.rand, horizon=c.horizon.astype(float), never_treated=c.never_treated,
        t_death0=fates["t_death0"].astype(float), t_withdrawal=fates["t_wd"].astype(float),
        n_lesions=frame["TUMOR_COUNT"].to_numpy().astype(np.int64), largest_mm=frame["LARGEST_MM"].to_numpy(),
        share=layout.share, right=layout.right,
        pvtt=frame["VASCINV"].is_in(["VP1", "VP2", "VP3"]).to_numpy(),
        baseline_rel=np.clip(base, 1 - int(protocol.raw["screening"]["baseline_imaging_max_days"]), -1),
        start_main=start_main, start_other=start_other)


def _death_after_cutoff(rng, c: Cohort, t_death: np.ndarray, pd_rel: np.ndarray, t_wd: np.ndarray) -> np.ndarray:
    """A transfer extracted after the cutoff holds a death reported in between: if none
    occurred there, one subject in follow-up after progression dies then."""
    after = (t_death > c.cut) & (t_death <= c.horizon)
    if after.any() or c.n < 8:
        return t_death
    cand = np.flatnonzero(np.isfinite(pd_rel) & (pd_rel < c.cut - 60) & (t_death > c.horizon) & (t_wd > c.horizon))
    if not cand.size:
        return t_death
    i = rng.choice(cand)
    t_death = t_death.copy()
    t_death[i] = c.cut[i] + rng.integers(1, max(2, int(c.horizon[i] - c.cut[i]) + 1))
    return t_death


def _end_of_treatment(rng, c: Cohort, fates: dict, t_death: np.ndarray, pd_rel: np.ndarray) -> dict:
    """The earliest reason ends treatment; nothing is given after ``last_tx_day``."""
    n = c.n
    t_wd = np.where(t_death <= fates["t_wd"], NEVER, fates["t_wd"])      # nor a withdrawal after death
    t_death = np.where(t_wd < t_death, NEVER, t_death).astype(np.int64)   # no follow-up after withdrawal
    pd_i = np.where(np.isfinite(pd_rel), pd_rel, NEVER).astype(np.int64)
    t_pd_stop = np.where(pd_i < NEVER, pd_i + rng.integers(1, 8, n), NEVER)
    reasons = np.array(["PROGRESSIVE DISEASE", "ADVERSE EVENT", "WITHDRAWAL BY SUBJECT", "DEATH", "COMPLETED"])
    stops = np.stack([t_pd_stop, fates["t_tox"], t_wd, t_death, np.full(n, fates["max_tx"])], axis=1)
    stops[c.never_treated, :] = NEVER
    stops[c.never_treated, 2] = t_wd[c.never_treated]
    which = np.argmin(stops, axis=1)
    t_eot = stops.min(axis=1)
    last_tx_day = np.where(c.never_treated, -1, np.minimum(t_eot - 1, c.horizon))
    return {"t_wd": t_wd, "t_death": t_death, "reason": reasons[which], "t_eot": t_eot,
            "last_tx_day": last_tx_day, "ongoing": t_eot > c.horizon, "pd_rel": pd_i}


def _plan_deviations(rng, c: Cohort, eot: dict, proc: dict) -> dict[str, np.ndarray]:
    """Distinct subjects per RULE, chosen so the planted record survives truncation and is
    dated on or before the cutoff (so the cutoff filter of a report keeps every one)."""
    n_plant = max(1, int(round(c.n * PLANT_RATE)))
    taken = np.zeros(c.n, dtype=bool)
    treated = ~c.never_treated
    last = np.minimum(eot["last_tx_day"], c.cut)
    cam = c.gets["CAMRELIZUMAB"]
    plant = {
        "CAM_FIRST_DOSE_LATE": _pick(rng, cam & treated & (last >= 12), taken, n_plant),
        "CAM_INTERVAL_EARLY": _pick(rng, cam & treated & (last >= 100), taken, n_plant),
        "CAM_INTERVAL_LATE": _pick(rng, cam & treated & (last >= 120), taken, n_plant),
        "APA_BEFORE_C2D1": _pick(rng, c.gets["APATINIB"] & treated & (last >= 45) & (proc["sirt1"] <= 4), taken, n_plant),
        "APA_SIRT_WASHOUT": _pick(rng, c.gets["APATINIB"] & treated & proc["staged"] & (last >= proc["sirt2"] + 20),
                                  taken, n_plant),
        "SIRT_NO_MAPPING": _pick(rng, c.gets["SIRT"] & treated & ~proc["staged"] & (last >= 12), taken, n_plant),
        "CTACE_OVER_LIMIT": _pick(rng, c.gets["CTACE"] & treated & (last >= 175), taken, n_plant),
        # a camrelizumab dose given to a subject of an arm without camrelizumab
        "ARM_MISMATCH": _pick(rng, ~cam & c.gets["SIRT"] & treated & (last >= 5), taken, n_plant),
    }
    assert tuple(plant) == RULES
    return plant


def _flags(plant: dict, n: int) -> dict[str, np.ndarray]:
    return {rule: np.isin(np.arange(n), idx) for rule, idx in plant.items()}


def _schedule_ctace(rng, c: Cohort, eot: dict, proc: dict, flag: dict, protocol, calendar) -> list:
    """cTACE sessions (arm D): 1-4 on demand, 5-9 weeks apart; the planted subjects get 5 in
    24 weeks (sessions 4-5 weeks apart). Returns [(k, rel day, given)]."""
    n = c.n
    ctace_max = int(protocol.treatment("CTACE")["max_sessions"])
    n_sessions = rng.choice(np.arange(1, ctace_max + 1), n, p=CTACE_SESSIONS_P)
    over = flag["CTACE_OVER_LIMIT"]
    n_sessions = np.where(over, ctace_max + 1, n_sessions)
    day = proc["ctace1"].copy()
    out = []
    for k in range(ctace_max + 1):                   # over session numbers
        if k:
            gap = np.where(over, rng.integers(28, 34, n), rng.integers(35, 64, n))
            day = calendar.nearest_working(c.rand + day + gap, c.rand + day + gap - 2, c.rand + day + gap + 5) - c.rand
        ok = c.gets["CTACE"] & ~c.never_treated & (k < n_sessions) & (day <= eot["last_tx_day"])
        out.append((k + 1, day.copy(), ok))
    return out


def _schedule_camrelizumab(rng, c: Cohort, eot: dict, flag: dict, protocol, calendar) -> dict:
    """Camrelizumab doses: C1D1 within the protocol's days after randomization, then 21-day
    intervals peaked at 21, some permitted delays, holiday moves within the allowance, one
    immune-related hold (a skipped cycle, with its AE) in some subjects, the planted
    deviations. Returns the doses [(k, rel day, given)] and the holds."""
    n = c.n
    cam = protocol.treatment("CAMRELIZUMAB")
    interval, window = int(cam["interval_days"]), int(cam["window_days"])
    allowance = int(protocol.raw["visits"]["holiday_delay_max_days"])
    within = int(cam["first_dose_within_days"])
    early, latest = interval - window, interval + allowance        # 18 and 28
    subject = (c.gets["CAMRELIZUMAB"] & ~c.never_treated) | flag["ARM_MISMATCH"]
    first = np.where(flag["CAM_FIRST_DOSE_LATE"],
                     calendar.nearest_working(c.rand + rng.integers(within + 2, within + 6, n),
                                              c.rand + within + 2, c.rand + within + 6),
                     calendar.nearest_working(c.rand + rng.integers(0, within + 1, n), c.rand, c.rand + within))
    day = first - c.rand
    interval_plant = (flag["CAM_INTERVAL_EARLY"] | flag["CAM_INTERVAL_LATE"] | flag["APA_SIRT_WASHOUT"]
                      | flag["APA_BEFORE_C2D1"])
    hold = (rng.random(n) < P_CAM_HOLD[c.arm_idx]) & subject & ~interval_plant & ~flag["ARM_MISMATCH"]
    hold_k = rng.integers(2, 9, n)
    hold_onset = rng.integers(5, 16, n)
    k_max = max(3, int(max(np.max(eot["last_tx_day"], initial=0), 0)) // early + 3)
    doses = [(1, day.copy(), subject & (day <= eot["last_tx_day"]))]
    holds = {"SUBJ": [], "PREV": [], "ONSET": [], "DOSE": [], "K": []}
    for k in range(2, k_max + 1):                    # over dose numbers
        prev = day
        gap = interval + rng.choice(CAM_OFFSETS, n, p=CAM_OFFSET_P)
        gap = np.where(rng.random(n) < P_CAM_DELAY, rng.integers(interval + window + 1, latest + 1, n), gap)
        lo, hi = prev + early, prev + latest
        if k == 3:   # planted interval deviations between C2 and C3 (never C1-C2: C2D1 starts apatinib)
            gap = np.where(flag["CAM_INTERVAL_EARLY"], rng.integers(early - 5, early - 1, n), gap)
            lo = np.where(flag["CAM_INTERVAL_EARLY"], prev + early - 8, lo)
            hi = np.where(flag["CAM_INTERVAL_EARLY"], prev + early - 2, hi)
            gap = np.where(flag["CAM_INTERVAL_LATE"], rng.integers(latest + 5, latest + 12, n), gap)
            lo = np.where(flag["CAM_INTERVAL_LATE"], prev + latest + 4, lo)
            hi = np.where(flag["CAM_INTERVAL_LATE"], prev + latest + 14, hi)
        is_hold = hold & (hold_k == k)
        gap = np.where(is_hold, rng.integers(35, 50, n), gap)        # a skipped cycle
        lo = np.where(is_hold, prev + latest + 3, lo)
        hi = np.where(is_hold, prev + 56, hi)
        day = calendar.nearest_working(c.rand + prev + gap, c.rand + lo, c.rand + hi) - c.rand
        given_prev = doses[-1][2]
        ok = subject & ~flag["ARM_MISMATCH"] & given_prev & (day <= eot["last_tx_day"])
        held = is_hold & given_prev & (prev + hold_onset <= np.minimum(eot["last_tx_day"], c.horizon))
        idx = np.flatnonzero(held)
        holds["SUBJ"].append(idx)
        holds["PREV"].append(prev[idx])
        holds["ONSET"].append(prev[idx] + hold_onset[idx])
        holds["DOSE"].append(np.where(ok[idx], day[idx], NEVER))
        holds["K"].append(np.full(idx.size, k))
        doses.append((k, day.copy(), ok))
    holds = {key: np.concatenate(v).astype(np.int64) if v else np.zeros(0, dtype=np.int64) for key, v in holds.items()}
    return {"doses": doses, "holds": holds}


def _segments(start, end, win_s, win_e, win_reduce, dose0, dose1):
    """Dosing intervals of a daily drug: [start, end] minus the off windows (sorted by start,
    non-overlapping; NEVER = absent); the dose falls to ``dose1`` after a window whose
    ``win_reduce`` is set (a zero-length window ``e = s - 1`` is a reduction without a
    break). Returns (segment index, lo, hi, dose) arrays per segment slot."""
    order = np.argsort(win_s, axis=1, kind="stable")
    ws = np.take_along_axis(win_s, order, 1)
    we = np.take_along_axis(win_e, order, 1)
    wr = np.take_along_axis(win_reduce, order, 1)
    reduced = np.cumsum(wr, axis=1) > 0
    out = []
    k = ws.shape[1]
    for i in range(k + 1):                           # over window slots
        lo = start if i == 0 else np.maximum(start, we[:, i - 1] + 1)
        hi = end if i == k else np.minimum(end, ws[:, i] - 1)
        if i > 0:
            lo = np.where(ws[:, i - 1] >= NEVER // 2, NEVER, lo)
        dose = np.full(start.shape, dose0, dtype=float) if i == 0 else np.where(reduced[:, i - 1], dose1, dose0)
        out.append((lo, hi, dose))
    return out


def _schedule_apatinib(rng, c: Cohort, eot: dict, proc: dict, flag: dict, cam: dict, protocol) -> dict:
    """Apatinib intervals from C2D1 (planted: earlier), off around a staged SIRT and for
    toxicity; reductions 250 -> 125 mg after an interruption or directly, each with its AE."""
    n = c.n
    apa = protocol.treatment("APATINIB")
    washout = int(apa["sirt_washout_days"])
    full, reduced = float(apa["dose"]), float(apa["reduced_dose"])
    c2 = cam["doses"][1] if len(cam["doses"]) > 1 else None
    c2d1 = np.where(c2[2], c2[1], NEVER) if c2 is not None else np.full(n, NEVER)
    subject = c.gets["APATINIB"] & ~c.never_treated & (c2d1 < NEVER)
    start = np.where(flag["APA_BEFORE_C2D1"], proc["sirt1"] + washout + 1, c2d1)
    end = eot["last_tx_day"]
    has_sirt2 = proc["staged"] & (proc["sirt2"] <= end)
    resume_early = rng.integers(2, 6, n)
    w0s = np.where(has_sirt2, proc["sirt2"] - washout, NEVER)
    w0e = np.where(has_sirt2, np.where(flag["APA_SIRT_WASHOUT"], proc["sirt2"] + resume_early - 1,
                                       proc["sirt2"] + washout), NEVER)
    no_tox = flag["CAM_INTERVAL_LATE"] | flag["APA_SIRT_WASHOUT"] | flag["APA_BEFORE_C2D1"]
    after = np.where(has_sirt2, np.maximum(start, w0e) + 15, start + 20)
    inter1 = subject & (rng.random(n) < P_APA_INTERRUPTION) & ~no_tox
    w1s = np.where(inter1, after + rng.integers(0, 130, n), NEVER)
    w1e = np.where(inter1, w1s + rng.integers(7, 15, n) - 1, NEVER)
    inter2 = inter1 & (rng.random(n) < P_APA_SECOND_INTERRUPTION)
    w2s = np.where(inter2, w1e + rng.integers(30, 120, n), NEVER)
    w2e = np.where(inter2, w2s + rng.integers(7, 15, n) - 1, NEVER)
    red1 = inter1 & (rng.random(n) < P_APA_REDUCE_AFTER_INTERRUPTION)
    red2 = inter2 & ~red1 & (rng.random(n) < P_APA_REDUCE_AFTER_INTERRUPTION)
    direct = subject & ~inter1 & ~no_tox & (rng.random(n) < P_APA_DIRECT_REDUCTION)
    w3s = np.where(direct, after + rng.integers(10, 150, n), NEVER)
    w3e = np.where(direct, w3s - 1, NEVER)
    # windows (and the direct reduction) only while treatment goes on
    live = lambda s: s <= end                                                     # noqa: E731
    win_s = np.stack([w0s, np.where(live(w1s), w1s, NEVER), np.where(live(w2s), w2s, NEVER),
                      np.where(live(w3s), w3s, NEVER)], axis=1)
    win_e = np.stack([w0e, np.where(live(w1s), w1e, NEVER), np.where(live(w2s), w2e, NEVER),
                      np.where(live(w3s), w3e, NEVER)], axis=1)
    win_r = np.stack([np.zeros(n, bool), red1 & live(w1s), red2 & live(w2s), direct & live(w3s)], axis=1)
    parts = []
    for lo, hi, dose in _segments(start, end, win_s, win_e, win_r, full, reduced):
        ok = subject & (lo <= hi) & (lo <= end) & (lo < NEVER // 2)
        idx = np.flatnonzero(ok)
        still = eot["ongoing"][idx] & (hi[idx] >= c.horizon[idx])
        parts.append(pl.DataFrame({
            "SUBJ": idx.astype(np.int32), "START": lo[idx].astype(np.int64),
            "END": np.where(still, NEVER, hi[idx]).astype(np.int64),
            "EXDOSE": np.asarray(dose, dtype=float)[idx] if np.ndim(dose) else np.full(idx.size, float(dose))}))
    ex = pl.concat(parts).sort("SUBJ", "START")
    events_ = []
    for s_, e_, kind, on in ((w1s, w1e, "DRUG INTERRUPTED", inter1), (w2s, w2e, "DRUG INTERRUPTED", inter2),
                             (w3s, w3e, "DOSE REDUCED", direct)):
        idx = np.flatnonzero(on & subject & live(s_) & (s_ <= c.horizon))
        events_.append(pl.DataFrame({"SUBJ": idx.astype(np.int32), "START": s_[idx].astype(np.int64),
                                     "END": np.where(kind == "DOSE REDUCED", s_[idx] + rng.integers(10, 40, idx.size),
                                                     e_[idx]).astype(np.int64),
                                     "ACTION": [kind] * idx.size}, schema_overrides={"ACTION": pl.String}))
    return {"ex": ex, "events": pl.concat(events_), "start": start, "c2d1": c2d1, "resume_early": resume_early,
            "has_sirt2": has_sirt2}


# ---------------------------------------------------------------- the generator
def generate_on_study(randomized: pl.DataFrame, layout: Layout, *, seed: int, cutoff: dt.date, extraction: dt.date,
                      protocol, calendar, screening_truth: dict | None = None) -> OnStudy:
    """Simulate everything after randomization for the randomized subjects.

    Args:
        randomized: one row per randomized subject (``trialkit.demo.screening``'s frame).
        layout: their tumours (rows as ``randomized``).
        seed: the demo seed; this module uses the streams ``[seed, 2..8]``.
        cutoff: the data cutoff.
        extraction: the day the transfer was extracted (after the cutoff); nothing later exists.
        protocol: the loaded protocol (doses, schedules, windows, thresholds).
        calendar: the sites' :class:`trialkit.demo.dates.ClinicCalendar`.
        screening_truth: the screening half's truth (screen failures' IE codes, for CM).

    Raises:
        MissingColumnError: a required column is absent.
        UnknownArmError: an ARMCD the protocol does not define.
    """
    _check_randomized(randomized, protocol)
    c = _cohort(randomized, protocol, cutoff, extraction)
    rng_fate, rng_tu, rng_tx, rng_plant, rng_ae, rng_ev = (np.random.default_rng([seed, k]) for k in range(2, 8))

    fates = _draw_fates(rng_fate, c, protocol)
    proc = _plan_procedures(rng_tx, c, layout, calendar)
    disease = simulate_disease(_disease_input(c, layout, fates, proc, protocol), protocol=protocol, rng=rng_tu, calendar=calendar)
    t_death = np.where(np.isfinite(disease.t_death), disease.t_death, NEVER).astype(np.int64)
    t_death = _death_after_cutoff(rng_fate, c, t_death, disease.pd_rel, fates["t_wd"])
    eot = _end_of_treatment(rng_fate, c, fates, t_death, disease.pd_rel)
    plant = _plan_deviations(rng_plant, c, eot, proc)
    flag = _flags(plant, c.n)
    ctace = _schedule_ctace(rng_tx, c, eot, proc, flag, protocol, calendar)
    cam = _schedule_camrelizumab(rng_tx, c, eot, flag, protocol, calendar)
    apa = _schedule_apatinib(rng_tx, c, eot, proc, flag, cam, protocol)

    # keep only the scans before death (a death known after the scans were simulated)
    assessments = disease.assessments.filter(
        pl.col("T") < pl.lit(pl.Series(eot["t_death"])).gather(pl.col("SUBJ")))
    disease.assessments = None                       # 100,000 subjects: free it early
    subjects = _subject_frame(c, layout, disease, rng_tu)
    tumor = build_tumor_domains(assessments, subjects, protocol)
    pr_long, ag = _procedures(c, eot, proc, flag, ctace, protocol, rng_tx)
    ex_long = _exposure(c, cam, apa, protocol)

    ctx = events.Context(cohort=c, subjects=subjects, eot=eot, proc=proc, cam=cam, apa=apa, ex_long=ex_long,
                         pr_long=pr_long, assessments=assessments, protocol=protocol, calendar=calendar,
                         screening_truth=screening_truth or {})
    ae = events.build_adverse_events(ctx, rng_ae, fates)
    lab_visits = events.build_lab_visits(ctx, rng_ev, ae)
    cm = events.build_therapies(ctx, rng_ev)
    disposition, dm_updates, death_info = events.build_disposition(ctx, pr_long, ex_long)
    sv = events.build_visits(ctx, tumor)

    pr = _pr_domain(pr_long, subjects, protocol)
    ex = _ex_domain(ex_long, subjects, protocol)
    datasets = {"pr": pr, "ag": _ag_domain(ag, subjects), "ex": ex, **tumor, "ae": ae,
                "lb": Planned(lab_visits, build_lab_records), "cm": cm, "sv": sv,
                "ti": events.build_trial_inclusion(protocol, str(randomized["STUDYID"][0]) if c.n else ""),
                "ts": events.build_trial_summary(protocol, cutoff, c.n, str(randomized["STUDYID"][0]) if c.n else "")}
    truth = _truth(c, eot, plant, flag, proc, cam, apa, ctace, disease, assessments, ae, cm, death_info, protocol,
                   datasets, disposition, dm_updates)
    return OnStudy(datasets=datasets, disposition=disposition, dm_updates=dm_updates, truth=truth,
                   lab_visits=lab_visits)


def _subject_frame(c: Cohort, layout: Layout, disease, rng) -> pl.DataFrame:
    """Per subject: ids, RANDDT, MRI, the location of each FA tumour, where a new lesion shows."""
    n = c.n
    names = {lobe: np.asarray(seg, dtype=object) for lobe, seg in SEGMENTS.items()}
    cols = {}
    for j in range(layout.right.shape[1]):           # over lesion slots
        right = layout.right[:, j]
        cols[f"LOC{j}"] = np.where(right, names["RIGHT"][layout.segment[:, j]], names["LEFT"][layout.segment[:, j]])
        cols[f"LAT{j}"] = np.where(right, "RIGHT", "LEFT").astype(object)
    new_right = rng.random(n) < 0.6
    new_seg = rng.integers(0, 4, n)
    return pl.DataFrame({
        "SUBJ": np.arange(n, dtype=np.int32), "STUDYID": c.frame["STUDYID"], "USUBJID": c.frame["USUBJID"],
        "RANDDT": c.frame["RANDDT"].cast(pl.Date), "MRI": disease.lesions["MRI"],
        "N_NT2": disease.lesions["N_NT2"].astype(np.int64),
        **{k: pl.Series(k, v, dtype=pl.String) for k, v in cols.items()},
        "PVLOC": pl.Series(np.where(layout.right[:, 0], "PORTAL VEIN, RIGHT BRANCH", "PORTAL VEIN, LEFT BRANCH"),
                           dtype=pl.String),
        "NEWLOC": pl.Series(np.where(new_right, names["RIGHT"][new_seg], names["LEFT"][new_seg]), dtype=pl.String),
        "NEWLAT": pl.Series(np.where(new_right, "RIGHT", "LEFT"), dtype=pl.String),
        "ARMCD": c.frame["ARMCD"],
    })


def _procedures(c: Cohort, eot: dict, proc: dict, flag: dict, ctace: list, protocol, rng):
    """PR rows (mapping, SIRT, cTACE) and the cTACE agents (AG), as numbers."""
    treated = ~c.never_treated
    last = eot["last_tx_day"]
    has_sirt1 = c.gets["SIRT"] & treated & (proc["sirt1"] <= last)
    has_sirt2 = has_sirt1 & proc["staged"] & (proc["sirt2"] <= last)
    has_map1 = ~flag["SIRT_NO_MAPPING"]
    has_map2 = has_sirt2 & proc["own_map2"]
    parts = []

    def rows(mask, rel, key, session, dose=None, lat=None, epoch="TREATMENT", cat="STUDY TREATMENT"):
        idx = np.flatnonzero(mask & (rel <= c.horizon))
        parts.append(pl.DataFrame({
            "SUBJ": idx.astype(np.int32), "REL": rel[idx].astype(np.int64), "KEY": [key] * idx.size,
            "PRCAT": [cat] * idx.size, "SESSION": np.full(idx.size, session, dtype=np.int32),
            "PRDOSE": (dose[idx] if dose is not None else np.full(idx.size, np.nan)),
            "PRLAT": (lat[idx] if lat is not None else np.full(idx.size, None, dtype=object)),
            "EPOCH": [epoch] * idx.size,
        }, schema_overrides={"PRLAT": pl.String, "KEY": pl.String, "PRCAT": pl.String, "EPOCH": pl.String},
            nan_to_null=True))

    lat1 = np.where(proc["right_first"], "RIGHT", "LEFT").astype(object)
    lat2 = np.where(proc["right_first"], "LEFT", "RIGHT").astype(object)
    rows(has_map1, proc["map1"], "MAA_MAPPING", 1, epoch="SCREENING", cat="SIRT PLANNING")
    rows(has_map2, proc["map2"], "MAA_MAPPING", 2, lat=lat2, cat="SIRT PLANNING")
    rows(has_sirt1, proc["sirt1"], "SIRT", 1, dose=proc["gbq1"], lat=lat1)
    rows(has_sirt2, proc["sirt2"], "SIRT", 2, dose=proc["gbq2"], lat=lat2)
    for k, days, ok in ctace:
        rows(ok, days, "CTACE", k)
    pr_long = pl.concat(parts)
    tace = pr_long.filter(pl.col("KEY") == "CTACE")
    m = tace.height
    ag = pl.concat([
        tace.select("SUBJ", "REL", "SESSION", AGTRT=pl.lit("EPIRUBICIN"), AGDOSE=pl.Series(np.round(rng.uniform(30, 60, m) / 10) * 10),
                    AGDOSU=pl.lit("mg"), _ORD=pl.lit(1)),
        tace.select("SUBJ", "REL", "SESSION", AGTRT=pl.lit("ETHIODIZED OIL"), AGDOSE=pl.Series(np.round(rng.uniform(5, 15, m))),
                    AGDOSU=pl.lit("mL"), _ORD=pl.lit(2)),
    ])
    return pr_long, ag


def _exposure(c: Cohort, cam: dict, apa: dict, protocol) -> pl.DataFrame:
    """EX rows as numbers: camrelizumab doses and apatinib intervals (END NEVER = ongoing)."""
    dose = float(protocol.treatment("CAMRELIZUMAB")["dose"])
    parts = []
    for k, days, ok in cam["doses"]:
        idx = np.flatnonzero(ok & (days <= c.horizon))
        parts.append(pl.DataFrame({"SUBJ": idx.astype(np.int32), "START": days[idx].astype(np.int64),
                                   "END": days[idx].astype(np.int64), "KEY": ["CAMRELIZUMAB"] * idx.size,
                                   "EXDOSE": np.full(idx.size, dose), "CYCLE": np.full(idx.size, k, dtype=np.int32)},
                                  schema_overrides={"KEY": pl.String}))
    full = float(protocol.treatment("APATINIB")["dose"])
    parts.append(apa["ex"].filter(pl.col("START") <= pl.lit(pl.Series(c.horizon)).gather(pl.col("SUBJ")))
                 .with_columns(KEY=pl.lit("APATINIB"), CYCLE=pl.lit(None, dtype=pl.Int32))
                 .select("SUBJ", "START", "END", "KEY", "EXDOSE", "CYCLE"))
    return pl.concat(parts, how="vertical_relaxed").with_columns(
        pl.when((pl.col("KEY") == "APATINIB") & (pl.col("EXDOSE") < full)).then(pl.lit("ADVERSE EVENT"))
        .otherwise(None).alias("EXADJ"))


def _dated(rel_col: str) -> pl.Expr:
    """RANDDT + rel days as a ``pl.Date`` (null for NEVER)."""
    return pl.when(pl.col(rel_col) >= NEVER // 2).then(None).otherwise(pl.col("RANDDT") + pl.duration(days=pl.col(rel_col)))


def _pr_domain(pr_long: pl.DataFrame, subjects: pl.DataFrame, protocol) -> pl.DataFrame:
    names = {k: protocol.treatment(k)["name"] for k in ("MAA_MAPPING", "SIRT", "CTACE")}
    return (pr_long.join(subjects.select("SUBJ", "STUDYID", "USUBJID", "RANDDT"), on="SUBJ").sort("SUBJ", "REL", "KEY")
            .with_columns(_dated("REL").alias("_DT"))
            .select("STUDYID", pl.lit("PR").alias("DOMAIN"), "USUBJID",
                    pl.lit(None, dtype=pl.Int64).alias("PRSEQ"),
                    pl.when(pl.col("KEY") == "CTACE").then(pl.format("CTACE-{}", pl.col("SESSION"))).otherwise(None)
                    .alias("PRLNKID"),
                    pl.col("KEY").replace_strict(names, return_dtype=pl.String).alias("PRTRT"), "PRCAT",
                    pl.lit("LIVER").alias("PRLOC"), "PRLAT", "PRDOSE",
                    pl.when(pl.col("PRDOSE").is_not_null()).then(pl.lit(protocol.treatment("SIRT")["dose_unit"]))
                    .otherwise(None).alias("PRDOSU"), "EPOCH",
                    pl.col("_DT").alias("PRSTDTC"), pl.col("_DT").alias("PRENDTC"),
                    compute_study_day(pl.col("_DT"), pl.col("RANDDT")).alias("PRSTDY")))


def _ag_domain(ag: pl.DataFrame, subjects: pl.DataFrame) -> pl.DataFrame:
    return (ag.join(subjects.select("SUBJ", "STUDYID", "USUBJID", "RANDDT"), on="SUBJ").sort("SUBJ", "REL", "_ORD")
            .with_columns(_dated("REL").alias("_DT"),
                          (pl.int_range(pl.len()).over("SUBJ") + 1).cast(pl.Int64).alias("AGSEQ"))
            .select("STUDYID", pl.lit("AG").alias("DOMAIN"), "USUBJID", "AGSEQ",
                    pl.format("CTACE-{}", pl.col("SESSION")).alias("AGLNKID"), "AGTRT",
                    pl.lit("CTACE EMULSION").alias("AGCAT"), "AGDOSE", "AGDOSU",
                    pl.lit("INTRA-ARTERIAL").alias("AGROUTE"), pl.lit("TREATMENT").alias("EPOCH"),
                    pl.col("_DT").alias("AGSTDTC"), pl.col("_DT").alias("AGENDTC"),
                    compute_study_day(pl.col("_DT"), pl.col("RANDDT")).alias("AGSTDY")))


def _ex_domain(ex_long: pl.DataFrame, subjects: pl.DataFrame, protocol) -> pl.DataFrame:
    meta = {key: protocol.treatment(key) for key in ("CAMRELIZUMAB", "APATINIB")}
    form = {"CAMRELIZUMAB": "INJECTION", "APATINIB": "TABLET"}
    return (ex_long.join(subjects.select("SUBJ", "STUDYID", "USUBJID", "RANDDT"), on="SUBJ").sort("SUBJ", "START", "KEY")
            .with_columns((pl.int_range(pl.len()).over("SUBJ") + 1).cast(pl.Int64).alias("EXSEQ"),
                          _dated("START").alias("_S"), _dated("END").alias("_E"))
            .select("STUDYID", pl.lit("EX").alias("DOMAIN"), "USUBJID", "EXSEQ",
                    pl.col("KEY").replace_strict({k: v["name"] for k, v in meta.items()}, return_dtype=pl.String).alias("EXTRT"),
                    "EXDOSE", pl.col("KEY").replace_strict({k: v["unit"] for k, v in meta.items()}, return_dtype=pl.String).alias("EXDOSU"),
                    pl.col("KEY").replace_strict(form, return_dtype=pl.String).alias("EXDOSFRM"),
                    pl.col("KEY").replace_strict({k: v["exdosfrq"] for k, v in meta.items()}, return_dtype=pl.String).alias("EXDOSFRQ"),
                    pl.col("KEY").replace_strict({k: v["route"] for k, v in meta.items()}, return_dtype=pl.String).alias("EXROUTE"),
                    "EXADJ", pl.lit("TREATMENT").alias("EPOCH"),
                    pl.when(pl.col("CYCLE").is_not_null()).then(100.0 + pl.col("CYCLE")).otherwise(None).alias("VISITNUM"),
                    pl.when(pl.col("CYCLE").is_not_null()).then(pl.format("CYCLE {} DAY 1", pl.col("CYCLE")))
                    .otherwise(None).alias("VISIT"),
                    pl.col("_S").alias("EXSTDTC"), pl.col("_E").alias("EXENDTC"),
                    compute_study_day(pl.col("_S"), pl.col("RANDDT")).alias("EXSTDY"),
                    compute_study_day(pl.col("_E"), pl.col("RANDDT")).alias("EXENDY")))


# ---------------------------------------------------------------- truth
def _rows(usubjid: pl.Series, rand: np.ndarray, idx, rule, rel) -> list[dict]:
    idx = np.asarray(idx, dtype=np.int64)
    return pl.DataFrame({"USUBJID": usubjid.gather(idx), "RULE": [rule] * idx.size,
                         "DATE": iso_dates((rand + rel)[idx])}).to_dicts()


def _deviation_truth(c: Cohort, eot, plant, flag, proc, cam, apa, ctace, protocol) -> list[dict]:
    """One row per planted offending record (USUBJID, RULE, DATE): the dose, session or
    apatinib interval; for CTACE_OVER_LIMIT each session beyond the limit in the window."""
    usubjid = c.frame["USUBJID"]
    deviations = []
    doses = cam["doses"]
    deviations += _rows(usubjid, c.rand, plant["CAM_FIRST_DOSE_LATE"], "CAM_FIRST_DOSE_LATE", doses[0][1])
    deviations += _rows(usubjid, c.rand, plant["CAM_INTERVAL_EARLY"], "CAM_INTERVAL_EARLY", doses[2][1])
    deviations += _rows(usubjid, c.rand, plant["CAM_INTERVAL_LATE"], "CAM_INTERVAL_LATE", doses[2][1])
    deviations += _rows(usubjid, c.rand, plant["APA_BEFORE_C2D1"], "APA_BEFORE_C2D1", apa["start"])
    deviations += _rows(usubjid, c.rand, plant["APA_SIRT_WASHOUT"], "APA_SIRT_WASHOUT", proc["sirt2"] + apa["resume_early"])
    has_sirt1 = c.gets["SIRT"] & ~c.never_treated & (proc["sirt1"] <= eot["last_tx_day"])
    deviations += _rows(usubjid, c.rand, np.flatnonzero(flag["SIRT_NO_MAPPING"] & has_sirt1), "SIRT_NO_MAPPING",
                        proc["sirt1"])
    window_days = int(protocol.treatment("CTACE")["max_sessions_window_days"])
    ctace_max = int(protocol.treatment("CTACE")["max_sessions"])
    for k, days, ok in ctace:
        if k > ctace_max:
            deviations += _rows(usubjid, c.rand, np.flatnonzero(flag["CTACE_OVER_LIMIT"] & ok & (days + 1 <= window_days)),
                                "CTACE_OVER_LIMIT", days)
    deviations += _rows(usubjid, c.rand, plant["ARM_MISMATCH"], "ARM_MISMATCH", doses[0][1])
    deviations.sort(key=lambda r: (r["USUBJID"], r["RULE"], r["DATE"]))

    return deviations


def _truth(c: Cohort, eot, plant, flag, proc, cam, apa, ctace, disease, assessments, ae, cm, death_info, protocol,
           datasets, disposition, dm_updates) -> dict:
    usubjid = c.frame["USUBJID"]
    cut = c.cut
    doses = cam["doses"]
    has_sirt1 = c.gets["SIRT"] & ~c.never_treated & (proc["sirt1"] <= eot["last_tx_day"])
    deviations = _deviation_truth(c, eot, plant, flag, proc, cam, apa, ctace, protocol)
    cam_p = protocol.treatment("CAMRELIZUMAB")
    on_time_hi = int(cam_p["interval_days"]) + int(cam_p["window_days"])
    latest = int(cam_p["interval_days"]) + int(protocol.raw["visits"]["holiday_delay_max_days"])
    delays = []
    for (k0, d0, ok0), (k1, d1, ok1) in zip(doses, doses[1:]):
        gap = d1 - d0
        m = ok0 & ok1 & (gap > on_time_hi) & (gap <= latest) & (d1 <= c.horizon)
        delays += pl.DataFrame({"USUBJID": usubjid.filter(pl.Series(m)),
                                "DATE": iso_dates(c.rand + d1).filter(pl.Series(m))}).to_dicts()
    delays.sort(key=lambda r: (r["USUBJID"], r["DATE"]))
    h = cam["holds"]
    given = (h["DOSE"] < NEVER // 2) & (h["DOSE"] <= c.horizon[h["SUBJ"]])
    hs = h["SUBJ"][given]
    holds = (pl.DataFrame({"USUBJID": usubjid.gather(hs),
                           "DATE": iso_dates(c.rand[hs] + h["DOSE"][given]),
                           "AESTDTC": iso_dates(c.rand[hs] + h["ONSET"][given])})
             .sort("USUBJID", "DATE").to_dicts())

    # ---- response facts as of the cutoff (what a report at the default cutoff sees) ----
    asof = (assessments.select("SUBJ", "T", "VNUM", "READER", "CRIT", "OVRLRESP", "ACPT", "DISAGREE")
            .filter(pl.col("T") <= pl.lit(pl.Series(cut)).gather(pl.col("SUBJ"))))
    post = asof.filter(pl.col("VNUM") > 0)
    with_post = np.zeros(c.n, dtype=bool)
    with_post[post["SUBJ"].unique().to_numpy()] = True
    accepted = asof.filter(pl.col("ACPT") & (pl.col("CRIT") == 0)).with_columns(pl.lit(0, dtype=pl.Int8).alias("READER"))
    bor = summarize_best_response(accepted, reader=0, crit=0, sd_min_days=int(protocol.response["sd_min_days"]))
    bor_all = np.full(c.n, "MISSING", dtype=object)
    bor_all[bor["SUBJ"].to_numpy()] = bor["BOR"].to_numpy()
    codes = protocol.arm_codes
    orr = {a: (float(np.mean(np.isin(bor_all[c.arm_idx == i], ["CR", "PR"]))) if np.any(c.arm_idx == i) else None)
           for i, a in enumerate(codes)}
    pairs = (post.filter(pl.col("CRIT") == 0).filter(pl.col("ACPT") | (pl.col("READER") == 1))
             .select("SUBJ", "T", "READER", "OVRLRESP")
             .with_columns((pl.col("READER") == 1).alias("INV")))
    wide = (pairs.filter(~pl.col("INV")).select("SUBJ", "T", B="OVRLRESP")
            .join(pairs.filter(pl.col("INV")).select("SUBJ", "T", I="OVRLRESP"), on=["SUBJ", "T"]))
    discord = float((wide["B"] != wide["I"]).mean()) if wide.height else None
    bicr = asof.filter((pl.col("READER") != 1) & (pl.col("VNUM") > 0))
    acc = bicr.filter(pl.col("ACPT"))
    share2 = float((acc["READER"] == 2).mean()) if acc.height else None
    adj = bicr.select("SUBJ", "CRIT", "DISAGREE").unique()
    kept_visits = asof.select("SUBJ", "VNUM").unique()
    last_v = kept_visits.group_by("SUBJ").agg(pl.col("VNUM").max())
    last_vnum = np.full(c.n, -1.0)
    last_vnum[last_v["SUBJ"].to_numpy()] = last_v["VNUM"].to_numpy()
    missed = [{"USUBJID": usubjid[i], "VISITNUM": float(k)} for i, k in disease.missed
              if k < last_vnum[i]]
    uns = post.filter(pl.col("VNUM") != pl.col("VNUM").floor()).select("SUBJ", "T").unique().sort("SUBJ", "T")
    eq = disease.equivocal.filter(pl.col("T") <= pl.lit(pl.Series(cut)).gather(pl.col("SUBJ"))).sort("SUBJ", "T")
    truth = {
        "deviations": deviations,
        "planted_subjects": {rule: usubjid.gather(idx).to_list() for rule, idx in plant.items()},
        "permitted_delays": delays,
        "n_permitted_delays": len(delays),
        "permitted_holds": holds,
        "no_postbaseline_scan": usubjid.filter(pl.Series(~with_post)).to_list(),
        "never_treated": usubjid.filter(pl.Series(c.never_treated)).to_list(),
        "staged_sirt": [{"USUBJID": u, "OWN_MAPPING": bool(m)} for u, m in zip(
            usubjid.filter(pl.Series(has_sirt1 & proc["staged"] & (proc["sirt2"] <= eot["last_tx_day"])
                                     & (proc["sirt2"] <= c.horizon))).to_list(),
            proc["own_map2"][has_sirt1 & proc["staged"] & (proc["sirt2"] <= eot["last_tx_day"])
                             & (proc["sirt2"] <= c.horizon)].tolist())],
        "missed_assessments": missed,
        "unscheduled_assessments": [{"USUBJID": u, "DATE": d} for u, d in zip(
            usubjid.gather(uns["SUBJ"]).to_list(),
            iso_dates(c.rand[uns["SUBJ"].to_numpy()] + uns["T"].to_numpy()).to_list())],
        "equivocal_new_lesions": pl.DataFrame({
            "USUBJID": usubjid.gather(eq["SUBJ"]),
            "DATE": iso_dates(c.rand[eq["SUBJ"].to_numpy()] + eq["T"].to_numpy()),
            "CONFIRMED": eq["CONFIRMED"]}).to_dicts(),
        "bor_bicr_mrecist_unconfirmed": dict(zip(usubjid.to_list(), bor_all.tolist())),
        "orr_bicr_mrecist_unconfirmed": orr,
        "bicr_investigator_discordance_mrecist": discord,
        "bicr_adjudication": {"subject_criteria": int(adj.height), "readers_disagree": int(adj["DISAGREE"].sum()),
                              "accepted_radiologist_2_share_of_assessments": share2},
        "ne_time_points": int(post.filter((pl.col("OVRLRESP") == "NE") & pl.col("ACPT")).height),
        "planted_double_missed_before_event": {
            kind: usubjid.gather(idx).to_list() for kind, idx in disease.planted.items()},
        "pfs_facts_bicr_mrecist": _pfs_facts(c, asof, eot, cm, protocol),
        "adverse_event_discontinuations": usubjid.filter(pl.Series(
            (eot["reason"] == "ADVERSE EVENT") & (eot["t_eot"] <= c.horizon) & ~c.never_treated)).to_list(),
        **death_info,
    }
    return truth


def _pfs_facts(c: Cohort, asof: pl.DataFrame, eot: dict, cm: pl.DataFrame, protocol) -> dict:
    """What PFS censoring (DESIGN section 6, FDA 2018) must find, as of the cutoff, by the
    accepted BICR read under mRECIST: events (first PD or death) more than 2 x interval +
    window days after the last adequate (not NE) assessment, or randomization; and new
    anticancer therapy (CM) started before any event."""
    resp = protocol.response
    gap = 2 * int(resp["assessment_interval_days"]) + int(resp["assessment_window_days"])
    usubjid = c.frame["USUBJID"]
    acc = asof.filter(pl.col("ACPT") & (pl.col("CRIT") == 0) & (pl.col("VNUM") > 0) & (pl.col("T") >= 0))
    first_pd = acc.filter(pl.col("OVRLRESP") == "PD").group_by("SUBJ").agg(pl.col("T").min().alias("PD"))
    death = np.where((eot["t_death"] <= c.cut), eot["t_death"], NEVER)
    rand = pl.DataFrame({"SUBJ": np.arange(c.n, dtype=np.int32), "USUBJID": usubjid, "DEATH": death,
                         "R": c.rand})
    nact = (cm.filter(pl.col("CMCAT") == "SUBSEQUENT ANTICANCER THERAPY")
            .select("USUBJID", "CMTRT", D=pl.col("CMSTDTC").str.to_date())
            .sort("USUBJID", "D").unique("USUBJID", keep="first", maintain_order=True))
    x = (rand.join(first_pd, on="SUBJ", how="left")
         .join(nact, on="USUBJID", how="left")
         .with_columns(NACT=(pl.col("D").cast(pl.Int32) - pl.col("R")).cast(pl.Int64))
         # therapy started after the cutoff is not known at the cutoff
         .with_columns(pl.when(pl.col("NACT") <= pl.lit(pl.Series(c.cut)).gather(pl.col("SUBJ")))
                       .then(pl.col("NACT")).alias("NACT"))
         .with_columns(pl.min_horizontal(pl.col("PD").fill_null(NEVER), pl.col("DEATH")).alias("EV")))
    adequate = acc.filter(pl.col("OVRLRESP") != "NE").select("SUBJ", "T")
    last = (x.select("SUBJ", "EV", "NACT").join(adequate, on="SUBJ")
            .filter(pl.col("T") < pl.min_horizontal(pl.col("EV"), pl.col("NACT").fill_null(NEVER)))
            .group_by("SUBJ").agg(pl.col("T").max().alias("LA")))
    x = x.join(last, on="SUBJ", how="left").with_columns(pl.col("LA").fill_null(0))

    def day(rel: str) -> pl.Expr:
        return compute_iso_date((pl.col("R") + pl.col(rel)).cast(pl.Int32).cast(pl.Date))

    late = (x.filter((pl.col("EV") < NEVER) & (pl.col("NACT").is_null() | (pl.col("EV") <= pl.col("NACT")))
                     & (pl.col("EV") - pl.col("LA") > gap))
            .select("USUBJID", pl.when(pl.col("EV") == pl.col("PD")).then(pl.lit("PD")).otherwise(pl.lit("DEATH"))
                    .alias("EVENT"), day("EV").alias("EVENT_DATE"), day("LA").alias("LAST_ADEQUATE_DATE"))
            .sort("USUBJID"))
    therapy = (x.filter(pl.col("NACT").is_not_null() & (pl.col("NACT") < pl.col("EV")))
               .select("USUBJID", "CMTRT", day("NACT").alias("CMSTDTC"), day("LA").alias("LAST_ADEQUATE_DATE"))
               .sort("USUBJID"))
    return {"max_gap_days": gap, "event_after_two_missed_assessments": late.to_dicts(),
            "new_anticancer_therapy_before_event": therapy.to_dicts()}
