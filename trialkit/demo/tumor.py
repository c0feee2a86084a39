"""The demo study's tumour assessments: TU, TR and RS by two BICR radiologists and the
investigator, under mRECIST and RECIST 1.1.

Vectorized: one numpy array per quantity over all scans; loops run over the visit number,
the reader and the criteria only, never over subjects.

The disease model (simulation assumptions, not protocol rules, so they live here), one per
subject and the same one screening drew (``Layout``: FA LESNUM, LDIAM, VASCINV):

- the intrahepatic tumours of FA are the liver lesions of TU: the two largest measurable ones
  are targets (at most 2 per organ), the others non-targets (``NT02``, ``NT03`` ...), each in
  its Couinaud segment (TULOC, CDISC anatomical location terms; TULAT its lobe); a portal
  vein thrombus (FA VASCINV VP1-VP3) is non-target ``NT01`` on the side of the largest tumour;
- each lesion's viable fraction falls after the treatment of its lobe (SIRT of that lobe, the
  staged second SIRT for the other lobe; cTACE: all) after an arm-specific lag, with an
  arm-specific time constant towards an arm-specific depth: cTACE responds early (first
  scan), SIRT over months, deeper with immunotherapy; untreated lesions in the other lobe
  only shrink a little under systemic therapy;
- at a latent progression time either new intrahepatic lesions appear (the commonest cause of
  PD in HCC), the tumours regrow, or the thrombus progresses; some new lesions are first seen
  as EQUIVOCAL one scan before they are unequivocal, and some equivocal lesions (perfusion
  changes after SIRT) are not confirmed at the next scan;
- mRECIST measures the viable diameter, RECIST 1.1 the whole one (which shrinks by only a
  fraction of the viable shrinkage); a reader's viable read never exceeds the same reader's
  whole read of the lesion on that scan;
- two BICR radiologists (TREVAL "INDEPENDENT ASSESSOR", TREVALID "RADIOLOGIST 1"/"RADIOLOGIST
  2") and the investigator read every scan under both criteria with their own bias and noise;
  where the two radiologists disagree on the best response or the date of progression an
  adjudicator accepts one of them for that subject and criteria (``--ACPTFL`` "Y" on the
  accepted radiologist's records; otherwise radiologist 1 by convention);
- scans every ``assessment_interval_days`` (offsets peaked at the target day, moved to working
  days within the window), a few missed, some unscheduled (some of them weekend emergencies),
  and a few subjects whose progression or death follows two missed scans.

The time-point responses are derived from the recorded measurements with the criteria's
thresholds (``protocol.response``), so RS is consistent with TR by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from trialkit.demo.dates import NEVER, compute_iso_date
from trialkit.demo.writing import Planned
from trialkit.derive.days import compute_study_day

# reader 0: BICR radiologist 1; 1: the investigator; 2: BICR radiologist 2
READERS = ("BICR", "INVESTIGATOR", "BICR2")
CRITERIA = ("MRECIST", "RECIST11")          # keys of protocol.response["criteria"]

# --- simulation assumptions (not protocol rules) --------------------------------------------
# latent responder probability by arm index (A, B, C, D); exact counts per arm.
P_RESPONDER = np.array([0.78, 0.70, 0.62, 0.40])
P_CR_GIVEN_RESPONDER = np.array([0.35, 0.3, 0.25, 0.2])
DEPTH_RESPONDER = ((0.02, 0.45), (0.05, 0.5), (0.08, 0.55), (0.2, 0.6))   # viable fraction left
LAG_DAYS = ((5, 30), (5, 30), (5, 30), (0, 5))        # response starts after the treatment
TAU_DAYS = ((20, 55), (20, 60), (25, 65), (8, 20))       # then falls with this time constant
SYSTEMIC_DEPTH = np.array([0.85, 0.9, 1.0, 1.0])         # untreated lobe under systemic therapy
# latent median time to progression by arm (responders; non-responders 0.7 x)
MEDIAN_PROGRESSION_DAYS = np.array([560.0, 430.0, 300.0, 240.0])
P_PROGRESSION_TYPE = (0.30, 0.55, 0.15)      # regrowth (sum), new intrahepatic lesion, non-target
P_EQUIVOCAL_FIRST = 0.3                      # a new lesion first seen as equivocal one scan earlier
P_TRANSIENT_EQUIVOCAL = 0.04                 # an equivocal finding not confirmed at the next scan
P_MISSED_VISIT = 0.03
P_UNSCHEDULED = 0.10
P_WEEKEND_UNSCHEDULED = 0.3                  # an unscheduled scan in an emergency, any day
P_DOUBLE_MISS = 0.03                         # two scans missed before progression or death
P_TARGET_NOT_ASSESSED = 0.012
P_CONFIRMATORY_SCAN_AFTER_PD = 0.3
P_READER_LAG = 0.3                           # a reader sees a new lesion / NT PD one visit late
P_ADJUDICATOR_PICKS_2 = 0.5
MEASUREMENT_SD = 0.05                        # log-scale noise of one diameter reading
READER_BIAS_SD = 0.14                        # a reader's own way of reading follow-up scans
RECIST_BIAS_SHARE = 0.2                      # whole-tumour edges are easier to agree on
VIABLE_VISIBLE_MM = 5                        # a viable remnant below this is "no enhancement"
SCAN_OFFSET_SD = 2.5                         # days around the target day of a scheduled scan
PROG_SUM, PROG_NEW, PROG_NT = 0, 1, 2
MAX_NT = 10                                  # non-target liver lesions per subject at most
RESPONSES = pl.Enum(["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"])


@dataclass
class DiseaseInput:
    """Per randomized subject (arrays of length n, ``rel`` = days from randomization).

    Attributes:
        arm_idx: 0..3 for arms A..D.
        rand: randomization day (days since 1970-01-01).
        horizon: the last rel day that may hold a record (the data extraction).
        never_treated, t_death0, t_withdrawal: fates (inf = none).
        n_lesions, largest_mm, share, right: the screening layout (FA LESNUM, LDIAM, ...).
        pvtt: a portal vein thrombus (FA VASCINV VP1-VP3).
        baseline_rel: the screening scan (rel < 0).
        start_main, start_other: rel day of the local treatment of the largest tumour's lobe
            and of the other lobe (inf = never).
    """

    arm_idx: np.ndarray
    rand: np.ndarray
    horizon: np.ndarray
    never_treated: np.ndarray
    t_death0: np.ndarray
    t_withdrawal: np.ndarray
    n_lesions: np.ndarray
    largest_mm: np.ndarray
    share: np.ndarray
    right: np.ndarray
    pvtt: np.ndarray
    baseline_rel: np.ndarray
    start_main: np.ndarray
    start_other: np.ndarray


@dataclass
class Disease:
    """What :func:`simulate_disease` returns.

    Attributes:
        assessments: one row per scan x reader x criteria with the lesion values (V1, V2),
            non-target states (NT1 thrombus, NT2 other liver lesions), new-lesion state NEWST
            (0 none, 1 equivocal, 2 unequivocal), derived sums and responses, ACPT (accepted).
        lesions: per-subject lesion layout (E2, N_NT2, HAS_NT1, MRI, TARGET2_IDX ...).
        pd_rel: days from randomization to the first investigator mRECIST PD scan (inf if none).
        t_death: days from randomization to death (inf if none, may exceed the horizon).
        missed: (subject index, VISITNUM) of scheduled visits that were missed.
        planted: subject indices of the planted double misses {"PD": ..., "DEATH": ...}.
        equivocal: one row per latent equivocal finding (SUBJ, T, CONFIRMED).
    """

    assessments: pl.DataFrame
    lesions: dict
    pd_rel: np.ndarray
    t_death: np.ndarray
    missed: list
    planted: dict
    equivocal: pl.DataFrame


def _lesion_fraction(t, start, lag, tau, depth):
    """Viable fraction of a lesion treated on day ``start`` (inf: never) at day ``t``."""
    since = np.maximum(t - start - lag, 0.0)
    since = np.where(np.isfinite(start), since, 0.0)
    return depth + (1 - depth) * np.exp(-since / tau)


def _latent_course(rng, d: DiseaseInput) -> dict:
    """Per subject: responder, depth, lag, tau, progression time and type, RECIST share."""
    n = d.arm_idx.shape[0]
    a = d.arm_idx
    # exactly round(p * n_arm) latent responders per arm (a random subset), so even a
    # 30-subject arm shows the intended ordering of response rates rather than sampling noise
    u = rng.random(n)
    order = np.lexsort((u, a))
    n_arm = np.bincount(a, minlength=len(P_RESPONDER))
    arm_start = np.r_[0, np.cumsum(n_arm)[:-1]]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - arm_start[a[order]]
    responder = rank < np.round(P_RESPONDER * n_arm)[a]
    complete = responder & (rng.random(n) < P_CR_GIVEN_RESPONDER[a])
    lo, hi = np.array(DEPTH_RESPONDER).T
    depth = np.where(responder, rng.uniform(lo[a], hi[a]), rng.uniform(0.86, 1.1, n))
    depth = np.where(complete, 0.0, depth)
    lag = rng.uniform(*np.array(LAG_DAYS).T[:, a])
    tau = rng.uniform(*np.array(TAU_DAYS).T[:, a])
    t_prog = rng.exponential(MEDIAN_PROGRESSION_DAYS[a] / np.log(2))
    t_prog = np.maximum(np.where(responder, t_prog, 0.7 * t_prog), 20.0)
    prog_type = rng.choice(3, n, p=P_PROGRESSION_TYPE)
    prog_type = np.where((prog_type == PROG_NT) & ~d.pvtt & (d.n_lesions <= 2), PROG_NEW, prog_type)
    prog_type = np.where((prog_type == PROG_SUM) & (depth == 0), PROG_NEW, prog_type)
    return {"responder": responder, "depth": depth, "lag": lag, "tau": tau, "t_prog": t_prog,
            "prog_type": prog_type, "doubling": rng.uniform(45, 90, n), "s_recist": rng.uniform(0.35, 0.6, n),
            "equivocal_first": rng.random(n) < P_EQUIVOCAL_FIRST}


def _baseline_lesions(rng, d: DiseaseInput) -> dict:
    """Target lesions T1 (the largest) and T2 (the second, if >= 10 mm viable), their lobe's
    treatment start, and the non-target liver lesions (every other FA tumour)."""
    n = d.arm_idx.shape[0]
    whole1 = np.clip(d.largest_mm, 12, 160)
    necro = rng.uniform(1.0, 1.3, (n, 2))            # whole / viable diameter at baseline
    whole2 = whole1 * np.nan_to_num(d.share[:, 1], nan=0.0)
    viable = np.stack([whole1 / necro[:, 0], whole2 / necro[:, 1]], axis=1)
    e2 = (d.n_lesions >= 2) & (viable[:, 1] >= 10)
    lobe2_other = d.right[:, 1] != d.right[:, 0]
    start = np.stack([d.start_main, np.where(lobe2_other, d.start_other, d.start_main)], axis=1)
    n_nt2 = d.n_lesions - 1 - e2.astype(np.int64)
    # the non-target liver lesions respond with their lobes; all in the main lobe or not
    nt_other = np.zeros(n, dtype=bool)
    for j in range(1, d.share.shape[1]):             # over lesion slots (10), not subjects
        is_nt = (j < d.n_lesions) & ~((j == 1) & e2)
        nt_other |= is_nt & (d.right[:, j] != d.right[:, 0])
    start_nt = np.where(nt_other, np.maximum(d.start_main, d.start_other), d.start_main)
    return {"whole": np.stack([whole1, whole2], axis=1), "viable": viable, "e2": e2, "start": start,
            "n_nt2": n_nt2, "start_nt": start_nt, "hetero": rng.uniform(0.8, 1.2, (n, 2)),
            "mri": rng.random(n) < 0.2}


def _scan_schedule(rng, d: DiseaseInput, course: dict, calendar, interval: int, window: int) -> dict:
    """Scan days (rel) and visit numbers: baseline, every ``interval`` days on working days
    within the window, missed visits (a few double misses before PD or death), unscheduled."""
    n = d.arm_idx.shape[0]
    k_max = max(1, int(np.max(d.horizon, initial=0) + window) // interval)
    stop = np.minimum(np.minimum(d.t_death0, d.t_withdrawal), d.horizon + 1.0)   # scans strictly before
    sched = np.full((n, k_max + 1), np.nan)
    sched[:, 0] = d.baseline_rel
    for k in range(1, k_max + 1):                   # over visit numbers, not subjects
        target = d.rand + k * interval
        off = np.clip(np.round(rng.normal(0, SCAN_OFFSET_SD, n)), -window, window).astype(np.int64)
        day = calendar.nearest_working(target + off, target - window, target + window)
        sched[:, k] = (day - d.rand).astype(float)
    kk = np.arange(k_max + 1)[None, :]
    exists = (sched < stop[:, None]) & ((kk == 0) | ~d.never_treated[:, None])
    missed = exists & (kk > 0) & (rng.random((n, k_max + 1)) < P_MISSED_VISIT)
    # planted: the two scheduled scans before the first scan at or after the latent progression
    # (or before death) are missed, so the event comes > 2 intervals + window after the last scan
    first_after = np.argmax(np.where(exists, sched, -np.inf) >= course["t_prog"][:, None], axis=1)
    has_after = exists[np.arange(n), first_after] & (sched[np.arange(n), first_after] >= course["t_prog"])
    pd_cand = has_after & (first_after >= 3) & ~d.never_treated
    dead_in = np.isfinite(d.t_death0) & (d.t_death0 <= d.horizon) & (d.t_death0 < course["t_prog"])
    last_before_death = (exists & (sched < d.t_death0[:, None])).sum(axis=1) - 1
    k_last = np.maximum(last_before_death, 0)
    death_cand = (dead_in & (last_before_death >= 3) & ~d.never_treated
                  & (d.t_death0 - sched[np.arange(n), np.maximum(k_last - 2, 0)] > 2 * interval + window + 5))
    pd_plant = _pick_share(rng, pd_cand, P_DOUBLE_MISS)
    death_plant = _pick_share(rng, death_cand & ~pd_plant, P_DOUBLE_MISS / 2)
    for plant, k_event in ((pd_plant, first_after), (death_plant, k_last + 1)):
        rows = np.flatnonzero(plant)
        missed[rows, k_event[rows] - 1] = True
        missed[rows, k_event[rows] - 2] = True
    missed[:, 0] = False
    # a planted subject's last scan before the gap must stay adequate: no other miss there
    kept = exists & ~missed
    missed_list = [(int(i), int(k)) for i, k in zip(*np.nonzero(exists & missed))]
    subj, vnum = np.nonzero(kept)
    t = sched[subj, vnum]
    # unscheduled scans: 10-30 days after a scheduled one, before the next; some emergencies
    pick = rng.integers(1, k_max + 1, n)
    base_t = sched[np.arange(n), pick]
    t_uns = base_t + rng.integers(10, 31, n)
    ok_uns = kept[np.arange(n), pick] & (t_uns < stop) & (t_uns < base_t + interval - window - 3)
    uns = ok_uns & (rng.random(n) < P_UNSCHEDULED) & ~pd_plant & ~death_plant
    uns = _ensure_one(uns, ok_uns & ~pd_plant & ~death_plant, rng)
    emergency = rng.random(n) < P_WEEKEND_UNSCHEDULED
    snapped = calendar.nearest_working(d.rand + t_uns.astype(np.int64), d.rand + t_uns.astype(np.int64) - 3,
                                       d.rand + t_uns.astype(np.int64) + 3) - d.rand
    t_uns = np.where(emergency, t_uns, snapped)
    uns &= t_uns < np.minimum(stop, base_t + interval - window)
    iu = np.flatnonzero(uns)
    subj = np.concatenate([subj, iu])
    vnum = np.concatenate([vnum.astype(float), pick[iu] + 0.1])
    t = np.concatenate([t, t_uns[iu]])
    order = np.lexsort((t, subj))
    return {"subj": subj[order], "vnum": vnum[order], "t": t[order], "missed": missed_list,
            "planted": {"PD": np.flatnonzero(pd_plant), "DEATH": np.flatnonzero(death_plant)},
            "death_plant": death_plant}


def _pick_share(rng, eligible: np.ndarray, share: float) -> np.ndarray:
    """A random ``share`` of the eligible (at least one when any is eligible)."""
    pool = np.flatnonzero(eligible)
    k = min(pool.size, max(1, int(round(share * eligible.size)))) if pool.size else 0
    out = np.zeros(eligible.size, dtype=bool)
    out[rng.permutation(pool)[:k]] = True
    return out


def simulate_disease(d: DiseaseInput, *, protocol, rng, calendar) -> Disease:
    """Simulate scans, lesion measurements and derived time-point responses.

    Args:
        d: the per-subject inputs (:class:`DiseaseInput`).
        protocol: the loaded protocol (response thresholds and the assessment schedule).
        rng: a numpy Generator (its own stream).
        calendar: the sites' :class:`trialkit.demo.dates.ClinicCalendar`.

    Returns:
        A :class:`Disease`.
    """
    resp = protocol.response
    n = d.arm_idx.shape[0]
    interval = int(resp["assessment_interval_days"])
    window = int(resp["assessment_window_days"])
    course = _latent_course(rng, d)
    les = _baseline_lesions(rng, d)
    scans = _scan_schedule(rng, d, course, calendar, interval, window)
    subj, vnum, t = scans["subj"], scans["vnum"], scans["t"]
    fractions = _latent_fractions(d, course, les, subj, t)
    states = _new_lesion_states(rng, n, course, subj, t, vnum)
    assessments = derive_time_point_responses(
        _read_scans(rng, d, course, les, subj, t, vnum, fractions, states, interval), protocol)
    equivocal, equivocal_lead = states["equivocal"], states["equivocal_lead"]

    # --- first investigator mRECIST PD; scans stop after it (sometimes one more), death after it
    inv_pd = (assessments.filter((pl.col("READER") == 1) & (pl.col("CRIT") == 0) & (pl.col("OVRLRESP") == "PD"))
              .group_by("SUBJ").agg(pl.col("T").min()))
    pd_rel = np.full(n, np.inf)
    pd_rel[inv_pd["SUBJ"].to_numpy()] = inv_pd["T"].to_numpy()
    post_pd_death = np.floor(pd_rel + 14 + rng.exponential(420, n))
    t_death = np.where(scans["death_plant"], d.t_death0, np.minimum(d.t_death0, post_pd_death))
    confirm = rng.random(n) < P_CONFIRMATORY_SCAN_AFTER_PD
    n_after_pd = _cumsum_by_group((t > pd_rel[subj]).astype(np.int64), subj)
    keep = (n_after_pd <= confirm[subj].astype(int)) & (t < t_death[subj])
    kept = pl.DataFrame({"SUBJ": subj.astype(np.int32), "T": t.astype(np.int32)}).filter(pl.Series(keep))
    assessments = _adjudicate(assessments.join(kept, on=["SUBJ", "T"], how="semi"), rng, n,
                              sd_min_days=int(resp["sd_min_days"]))
    eq = pl.DataFrame({"SUBJ": subj.astype(np.int32), "T": t.astype(np.int32), "EQ": equivocal,
                       "CONFIRMED": equivocal_lead}).filter(pl.col("EQ") & pl.Series(keep)).drop("EQ")
    lesions = {"E2": les["e2"], "N_NT2": les["n_nt2"], "HAS_NT1": d.pvtt, "MRI": les["mri"]}
    return Disease(assessments=assessments, lesions=lesions, pd_rel=pd_rel, t_death=t_death,
                   missed=scans["missed"], planted=scans["planted"], equivocal=eq)


def _latent_fractions(d: DiseaseInput, course: dict, les: dict, subj: np.ndarray, t: np.ndarray) -> dict:
    """Per scan: the viable fraction of each target lesion (mRECIST), its whole-lesion
    counterpart (RECIST 1.1) and the non-target lesions' viable fraction."""
    a = d.arm_idx[subj]
    t_prog = course["t_prog"][subj]
    lag, tau = course["lag"][subj], course["tau"][subj]
    sys_depth = np.where(np.isfinite(d.start_main[subj]), SYSTEMIC_DEPTH[a], 1.0)
    f_les, f_rec_les = [], []
    for j in range(2):                               # the two target slots
        depth_j = np.clip(1 - (1 - course["depth"][subj]) * les["hetero"][subj, j], 0.0, 1.1)
        start_j = les["start"][subj, j]
        treated = _lesion_fraction(np.minimum(t, t_prog), start_j, lag, tau, depth_j)
        systemic = _lesion_fraction(np.minimum(t, t_prog), np.where(np.isfinite(d.start_main[subj]), 0.0, np.inf),
                                    lag, tau * 2, sys_depth)
        f_pre = np.where(np.isfinite(start_j), treated, systemic)
        grown = f_pre * np.exp(np.log(2) * np.maximum(t - t_prog, 0.0) / course["doubling"][subj])
        f = np.where(course["prog_type"][subj] == PROG_SUM, grown, f_pre)
        s = course["s_recist"][subj]
        f_rec = 1 - s * (1 - f_pre) + (f - f_pre)
        f_les.append(f)
        f_rec_les.append(f_rec)
    f_nt = _lesion_fraction(np.minimum(t, t_prog), les["start_nt"][subj], lag, tau, course["depth"][subj])
    return {"f": f_les, "f_rec": f_rec_les, "f_nt": f_nt}


def _new_lesion_states(rng, n: int, course: dict, subj: np.ndarray, t: np.ndarray, vnum: np.ndarray) -> dict:
    """Per scan: scans since the latent progression, and the equivocal findings (a new lesion
    seen one scan early, or a transient finding not confirmed at the next scan)."""
    t_prog = course["t_prog"][subj]
    after = (t >= t_prog).astype(np.int64)
    cnt_after = _cumsum_by_group(after, subj)
    nxt_after = np.r_[after[1:], 0] * np.r_[subj[1:] == subj[:-1], False]
    last_pre = (after == 0) & (nxt_after == 1)
    prog_new = course["prog_type"][subj] == PROG_NEW
    equivocal_lead = prog_new & course["equivocal_first"][subj] & last_pre & (vnum > 0)
    # transient equivocal findings, not confirmed: one post-baseline scan before progression
    trans_subj = rng.random(n) < P_TRANSIENT_EQUIVOCAL
    trans_k = rng.integers(1, 5, n)
    transient = trans_subj[subj] & (vnum == trans_k[subj]) & (after == 0) & ~last_pre
    equivocal = (equivocal_lead | transient)

    return {"cnt_after": cnt_after, "prog_new": prog_new, "equivocal": equivocal,
            "equivocal_lead": equivocal_lead}


def _read_scans(rng, d: DiseaseInput, course: dict, les: dict, subj: np.ndarray, t: np.ndarray, vnum: np.ndarray,
                fractions: dict, states: dict, interval: int) -> pl.DataFrame:
    """Every reader's lesion values and non-target/new-lesion states per scan and criteria:
    three readers (two BICR radiologists, the investigator) x two criteria."""
    n, n_scans = d.arm_idx.shape[0], subj.size
    t_prog = course["t_prog"][subj]
    f_les, f_rec_les, f_nt = fractions["f"], fractions["f_rec"], fractions["f_nt"]
    cnt_after, prog_new, equivocal = states["cnt_after"], states["prog_new"], states["equivocal"]
    frames = []
    for r, reader in enumerate(READERS):            # three readers x two criteria
        lag_r = (rng.random(n) < P_READER_LAG).astype(int)[subj]
        new_state = np.where(prog_new & (cnt_after >= 1 + lag_r), 2, np.where(equivocal, 1, 0))
        nt_pd = (course["prog_type"][subj] == PROG_NT) & (cnt_after >= 1 + lag_r)
        absent_thr = 0.12 * rng.uniform(0.6, 1.4, n)[subj]
        bias = np.where(vnum > 0, rng.lognormal(0, READER_BIAS_SD, n)[subj], 1.0)
        can_ne = (vnum > 0) & (t < t_prog)
        not_assessed = can_ne & (rng.random(n_scans) < P_TARGET_NOT_ASSESSED)
        not_assessed = _ensure_one(not_assessed, can_ne & (t + interval < t_prog), rng)
        # the investigator reads the screening scan as the site did for FA: T1 whole = LDIAM
        site_baseline = (reader == "INVESTIGATOR") & (vnum == 0)
        reads = []
        for c, crit in enumerate(CRITERIA):
            vals = []
            for j in range(2):
                noise = rng.lognormal(0, MEASUREMENT_SD, n_scans) * (
                    bias if crit == "MRECIST" else bias ** RECIST_BIAS_SHARE)
                if crit == "MRECIST":
                    true = les["viable"][subj, j] * np.clip(f_les[j], 0, None)
                    v = np.where(true < VIABLE_VISIBLE_MM, 0.0, np.maximum(np.round(true * noise), VIABLE_VISIBLE_MM))
                else:
                    true = les["whole"][subj, j] * np.clip(f_rec_les[j], 0.05, None)
                    v = np.maximum(np.round(true * noise), 5.0)   # too small to measure: 5 mm
                    if j == 0:
                        v = np.where(site_baseline, np.round(d.largest_mm[subj]), v)
                vals.append(v)
            nt_state = np.where(f_nt < absent_thr, 1, 0) if crit == "MRECIST" else np.zeros(n_scans, dtype=int)
            pd1 = nt_pd & d.pvtt[subj]
            pd2 = nt_pd & ~d.pvtt[subj] & (les["n_nt2"][subj] > 0)
            nt1 = np.where(d.pvtt[subj], np.where(pd1, 2, nt_state), -1)   # 0 PRESENT 1 ABSENT 2 UNEQ.
            nt2 = np.where(les["n_nt2"][subj] > 0, np.where(pd2, 2, nt_state), -1)
            reads.append((vals, nt1, nt2))
        m_vals, r_vals = reads[0][0], reads[1][0]
        for j in range(2):
            m_vals[j] = np.minimum(m_vals[j], r_vals[j])
        for c, (vals, nt1, nt2) in enumerate(reads):
            frames.append(pl.DataFrame({
                "SUBJ": subj.astype(np.int32), "T": t.astype(np.int32), "VNUM": vnum,
                "READER": np.full(n_scans, r, dtype=np.int8), "CRIT": np.full(n_scans, c, dtype=np.int8),
                "V1": np.where(not_assessed, np.nan, vals[0]).astype(np.float32),
                "V2": np.where(les["e2"][subj], vals[1], np.nan).astype(np.float32),
                "V3": np.full(n_scans, np.nan, dtype=np.float32), "NE": not_assessed,
                "E2": les["e2"][subj], "E3": np.zeros(n_scans, dtype=bool),
                "NT1": nt1.astype(np.int8), "NT2": nt2.astype(np.int8), "NEWST": new_state.astype(np.int8),
            }, nan_to_null=True))
    out = pl.concat(frames)
    del frames
    return out


def _adjudicate(assessments: pl.DataFrame, rng, n: int, *, sd_min_days: int) -> pl.DataFrame:
    """ACPT: the accepted reader's rows. The investigator's are never accepted (ACPTFL is a
    BICR flag); per subject and criteria the two radiologists' best response and the dates
    of first response and first PD are compared, and where they differ the adjudicator accepts radiologist 2 with
    probability ``P_ADJUDICATOR_PICKS_2``; otherwise radiologist 1 (by convention)."""
    bicr = assessments.filter(pl.col("READER") != 1)
    best = summarize_best_response(bicr, by_reader=True, sd_min_days=sd_min_days)
    first = (bicr.group_by("SUBJ", "READER", "CRIT")
             .agg(pl.col("T").filter(pl.col("OVRLRESP") == "PD").min().alias("PD_T"),
                  pl.col("T").filter(pl.col("OVRLRESP").is_in(["CR", "PR"])).min().alias("RSP_T")))
    per = (best.join(first, on=["SUBJ", "READER", "CRIT"], how="full", coalesce=True)
           .with_columns(pl.col("BOR").fill_null("MISSING"), pl.col("PD_T").fill_null(-1), pl.col("RSP_T").fill_null(-1)))
    wide = (per.filter(pl.col("READER") == 0).select("SUBJ", "CRIT", B1="BOR", P1="PD_T", R1="RSP_T")
            .join(per.filter(pl.col("READER") == 2).select("SUBJ", "CRIT", B2="BOR", P2="PD_T", R2="RSP_T"),
                  on=["SUBJ", "CRIT"], how="full", coalesce=True))
    pick2 = pl.Series(rng.random((n, 2)) < P_ADJUDICATOR_PICKS_2)       # per subject x criteria
    wide = wide.with_columns(
        ((pl.col("B1") != pl.col("B2")) | (pl.col("P1") != pl.col("P2")) | (pl.col("R1") != pl.col("R2")))
        .fill_null(True).alias("DISAGREE"),
        pl.lit(pick2.to_numpy()[:, 0]).gather(pl.col("SUBJ")).alias("_P0"),
        pl.lit(pick2.to_numpy()[:, 1]).gather(pl.col("SUBJ")).alias("_P1"),
    ).with_columns(
        pl.when(pl.col("DISAGREE") & pl.when(pl.col("CRIT") == 0).then(pl.col("_P0")).otherwise(pl.col("_P1")))
        .then(2).otherwise(0).cast(pl.Int8).alias("ACCEPTED"))
    return (assessments.join(wide.select("SUBJ", "CRIT", "ACCEPTED", "DISAGREE"), on=["SUBJ", "CRIT"], how="left")
            .with_columns((pl.col("READER") == pl.col("ACCEPTED")).fill_null(False).alias("ACPT"))
            .drop("ACCEPTED"))


def _ensure_one(mask: np.ndarray, eligible: np.ndarray, rng) -> np.ndarray:
    """``mask`` with one eligible element switched on if none is (rare events must occur)."""
    if mask.any() or not eligible.any():
        return mask
    out = mask.copy()
    out[rng.choice(np.flatnonzero(eligible))] = True
    return out


def _cumsum_by_group(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting at each new ``group`` (rows sorted by group)."""
    if values.size == 0:
        return values
    total = np.cumsum(values)
    starts = np.r_[True, group[1:] != group[:-1]]
    before = np.r_[0, total][np.flatnonzero(starts)]
    return total - before[np.cumsum(starts) - 1]


def derive_time_point_responses(assessments: pl.DataFrame, protocol) -> pl.DataFrame:
    """Add SUM, BASE, NADIR, TRGRESP, NTRGRESP, NEWLPROG and OVRLRESP to scan-level rows.

    Target response from the sum of diameters (V1..V3; V3 the nodal short axis): CR when
    every non-nodal target is 0 and the node < 10 mm; PD when the sum is >= ``pd_pct`` % above
    the nadir (smallest earlier sum, baseline included) and >= ``pd_min_abs_mm`` above it (a
    nadir of 0 makes any reappearance >= that many mm PD); PR when <= ``pr_pct`` % from the
    baseline sum; NE when a target was not assessed. The overall response follows the
    RECIST 1.1 / mRECIST time-point grid.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> rows = pl.DataFrame({"SUBJ": [0, 0], "READER": [0, 0], "CRIT": [0, 0], "T": [-3, 40],
        ...     "VNUM": [0.0, 1.0], "V1": [50.0, 30.0], "V2": [None, None], "V3": [None, None],
        ...     "NE": [False, False], "E2": [False, False], "E3": [False, False],
        ...     "NT1": [-1, -1], "NT2": [-1, -1], "NEWST": [0, 0]})
        >>> derive_time_point_responses(rows, load_protocol("NCT07334483"))["OVRLRESP"].to_list()
        [None, 'PR']
    """
    r = protocol.response
    pr_pct, pd_pct, pd_abs = float(r["pr_pct"]), float(r["pd_pct"]), float(r["pd_min_abs_mm"])
    total = (pl.col("V1") + pl.when(pl.col("E2")).then(pl.col("V2")).otherwise(0.0)
             + pl.when(pl.col("E3")).then(pl.col("V3")).otherwise(0.0))
    # one integer group key and one sort key: multi-column sorts of millions of rows are slow
    group = (pl.col("SUBJ").cast(pl.Int64) * 8 + pl.col("READER").cast(pl.Int64) * 2 + pl.col("CRIT")).alias("_G")
    out = (assessments.with_columns(group).with_columns((pl.col("_G") * 2**14 + pl.col("T") + 2**12).alias("_GK"))
           .sort("_GK").drop("_GK")
           .with_columns(pl.when(pl.col("NE")).then(None).otherwise(total).alias("SUM"))
           .with_columns(
               pl.col("SUM").first().over("_G").alias("BASE"),
               # nadir: the smallest earlier evaluable sum, baseline included
               pl.col("SUM").cum_min().forward_fill().shift(1).over("_G").alias("NADIR"))
           .drop("_G"))
    cr = ((pl.col("V1") == 0) & (~pl.col("E2") | (pl.col("V2") == 0))
          & (~pl.col("E3") | (pl.col("V3") < 10)))
    rise = pl.col("SUM") - pl.col("NADIR")
    pd = (rise >= pd_abs) & ((pl.col("NADIR") == 0) | (100 * rise / pl.col("NADIR") >= pd_pct))
    trg = (pl.when(pl.col("NE")).then(pl.lit("NE"))
           .when(cr).then(pl.lit("CR"))
           .when(pd).then(pl.lit("PD"))
           .when(100 * (pl.col("SUM") - pl.col("BASE")) / pl.col("BASE") <= pr_pct).then(pl.lit("PR"))
           .otherwise(pl.lit("SD")))
    has1, has2 = pl.col("NT1") >= 0, pl.col("NT2") >= 0
    ntr = (pl.when(~has1 & ~has2).then(None)
           .when((pl.col("NT1") == 2) | (pl.col("NT2") == 2)).then(pl.lit("PD"))
           .when((~has1 | (pl.col("NT1") == 1)) & (~has2 | (pl.col("NT2") == 1))).then(pl.lit("CR"))
           .otherwise(pl.lit("NON-CR/NON-PD")))
    out = out.with_columns(trg.alias("TRGRESP"), ntr.alias("NTRGRESP"))
    out = out.with_columns((pl.col("NEWST") == 2).alias("NEW"))
    ovr = (pl.when((pl.col("TRGRESP") == "PD") | (pl.col("NTRGRESP") == "PD") | pl.col("NEW")).then(pl.lit("PD"))
           .when(pl.col("TRGRESP") == "NE").then(pl.lit("NE"))
           .when((pl.col("TRGRESP") == "CR") & (pl.col("NTRGRESP").is_null() | (pl.col("NTRGRESP") == "CR")))
           .then(pl.lit("CR"))
           .when(pl.col("TRGRESP").is_in(["CR", "PR"])).then(pl.lit("PR"))
           .otherwise(pl.lit("SD")))
    baseline = pl.col("VNUM") == 0
    return out.with_columns(
        pl.when(baseline).then(None).otherwise(ovr).cast(RESPONSES).alias("OVRLRESP"),
        pl.when(baseline).then(None).otherwise(pl.col("TRGRESP")).cast(RESPONSES).alias("TRGRESP"),
        pl.when(baseline).then(None).otherwise(pl.col("NTRGRESP")).cast(RESPONSES).alias("NTRGRESP"),
        (pl.col("NEW") & ~baseline).alias("NEW"),
        pl.when(baseline).then(0).otherwise(pl.col("NEWST")).cast(pl.Int8).alias("NEWST"),
    )


# --- SDTM builders -------------------------------------------------------------------------------

def _visit_enum(vnums: list[float], protocol) -> pl.Expr:
    """VISIT from VNUM as an Enum (SCREENING, WEEK 6k, UNSCHEDULED)."""
    weeks = int(protocol.response["assessment_interval_days"]) // 7
    label = {v: "SCREENING" if v == 0 else "UNSCHEDULED" if v != int(v) else f"WEEK {int(v) * weeks}" for v in vnums}
    return pl.col("VNUM").replace_strict(label, return_dtype=pl.Enum(sorted(set(label.values()))))


def _reader_cols(prefix: str, protocol) -> list[pl.Expr]:
    """--EVAL, --EVALID, --ACPTFL of the reader (Enums: made text when written)."""
    r = pl.col("READER")
    bicr, inv = protocol.response["assessors"]["BICR"], protocol.response["assessors"]["INVESTIGATOR"]
    return [
        r.replace_strict({0: bicr, 1: inv, 2: bicr}, return_dtype=pl.Enum([bicr, inv])).alias(f"{prefix}EVAL"),
        r.replace_strict({0: "RADIOLOGIST 1", 2: "RADIOLOGIST 2"}, default=None,
                         return_dtype=pl.Enum(["RADIOLOGIST 1", "RADIOLOGIST 2"])).alias(f"{prefix}EVALID"),
        pl.when(pl.col("ACPT")).then(pl.lit("Y", dtype=pl.Enum(["Y"]))).alias(f"{prefix}ACPTFL"),
    ]


def _criteria_cat(protocol) -> pl.Expr:
    cats = [protocol.response["criteria"][c]["cat"] for c in CRITERIA]
    return pl.col("CRIT").replace_strict(dict(enumerate(cats)), return_dtype=pl.Enum(cats))


def _number_seq(frame: pl.DataFrame, domain: str, order: list[str]) -> pl.DataFrame:
    frame = frame.sort(["SUBJ", *order])
    return frame.with_columns((pl.int_range(pl.len()).over("SUBJ") + 1).cast(pl.Int32).alias(f"{domain}SEQ"))


# lesion slots: 1 T01, 2 T02, 4 NT01 (thrombus), 5 NT02.. (other liver lesions), 6 NEW01
_LESION_CODE = (pl.when(pl.col("LES") == 1).then(pl.lit("T01")).when(pl.col("LES") == 2).then(pl.lit("T02"))
                .when(pl.col("LES") == 4).then(pl.lit("NT01")).when(pl.col("LES") == 6).then(pl.lit("NEW01"))
                .otherwise(pl.format("NT{}", (pl.col("NTI") + 2).cast(pl.String).str.zfill(2))))
_READER_PREFIX = pl.col("READER").replace_strict({0: "R1-", 1: "", 2: "R2-"}, return_dtype=pl.String)


def _lesions(a: pl.DataFrame, common: list[pl.Expr]) -> pl.DataFrame:
    """One row per lesion per scan row: LES slot, NTI (index among the non-target liver
    lesions), _VAL a diameter, _S a state. Only numbers travel through concat and sort."""
    def part(where, les, value, state):
        return a.filter(where).select(*common, pl.lit(les, dtype=pl.Int8).alias("LES"),
                                      pl.lit(0, dtype=pl.Int8).alias("NTI"),
                                      value.cast(pl.Float64).alias("_VAL"), state.cast(pl.Int8).alias("_S"))

    no_state, no_value = pl.lit(None, dtype=pl.Int8), pl.lit(None, dtype=pl.Float64)
    nt_liver = (a.filter(pl.col("NT2") >= 0)
                .select(*common, pl.lit(5, dtype=pl.Int8).alias("LES"),
                        pl.int_ranges(0, pl.col("N_NT2"), dtype=pl.Int8).alias("NTI"),
                        no_value.alias("_VAL"), pl.col("NT2").cast(pl.Int8).alias("_S"))
                .explode("NTI"))
    return pl.concat([
        part(pl.lit(True), 1, pl.col("V1"), no_state),
        part(pl.col("E2"), 2, pl.col("V2"), no_state),
        part(pl.col("NT1") >= 0, 4, no_value, pl.col("NT1")),
        nt_liver,
        part(pl.col("NEWST") > 0, 6, no_value, pl.col("NEWST")),
    ])


def build_tumor_domains(assessments: pl.DataFrame, subjects: pl.DataFrame, protocol) -> dict[str, pl.LazyFrame]:
    """TU, TR and RS from the scan-level assessments of :func:`simulate_disease`.

    Args:
        assessments: the ``Disease.assessments`` frame (after truncation).
        subjects: SUBJ (row index), STUDYID, USUBJID, RANDDT (pl.Date), MRI (bool), N_NT2,
            LOC0..LOC9 (TULOC of each FA tumour), LAT0..LAT9 (its lobe), PVLOC (the thrombus'
            portal vein branch), NEWLOC/NEWLAT (where a new lesion appears).
        protocol: the loaded protocol.

    Returns:
        ``{"tu": ..., "tr": ..., "rs": ...}`` as lazy frames in SDTM, --SEQ numbered per subject;
        --DTC as ``pl.Date`` (the writer formats them; :func:`trialkit.demo.finalize_frame`).
    """
    # identifiers travel as a 4-byte Enum; the text of every row is made when the (lazy) frame
    # is written, a slice at a time, so 10 million TR rows never hold their strings at once
    usubjid = subjects["USUBJID"].cast(pl.Enum(subjects["USUBJID"].unique().sort()))
    a = (assessments.select("SUBJ", "T", "VNUM", "READER", "CRIT", "ACPT", "V1", "V2", "E2", "NT1", "NT2", "NEWST",
                            "TRGRESP", "NTRGRESP", "OVRLRESP")
         .join(subjects.select("SUBJ", "RANDDT", "MRI", "N_NT2"), on="SUBJ", how="left")
         .with_columns(pl.lit(usubjid).gather(pl.col("SUBJ")).alias("_U")))
    common = [pl.col(c) for c in ("SUBJ", "T", "READER", "CRIT", "VNUM", "RANDDT", "MRI", "ACPT", "_U")]
    studyid = str(subjects["STUDYID"][0]) if subjects.height else ""
    ids = [pl.lit(studyid).alias("STUDYID"), pl.col("_U").alias("USUBJID")]
    date = (pl.col("RANDDT") + pl.duration(days=pl.col("T"))).alias("_DT")
    method = pl.when(pl.col("MRI")).then(pl.lit("MRI")).otherwise(pl.lit("CT SCAN"))
    visit = _visit_enum(a["VNUM"].unique().to_list(), protocol)

    # ---- TR: one row per lesion per scan per reader per criteria ----
    # Lazily: each scan row of ``a`` (in the dataset's order) becomes its lesions by
    # ``explode``, so no sort and no string of 10 million rows exists before the writer
    # streams them. Lesion codes: 1 T01, 2 T02, 4 NT01 (thrombus), 10+i NT(02+i), 6 NEW01.
    a = a.with_columns((pl.col("SUBJ").cast(pl.Int64) * 2**24 + (pl.col("T") + 2**12) * 2**8
                        + pl.col("READER") * 4 + pl.col("CRIT")).alias("_K")).sort("_K").drop("_K")
    one = lambda v: pl.lit([v], dtype=pl.List(pl.Int16))          # noqa: E731
    none = pl.lit([], dtype=pl.List(pl.Int16))
    n_nt2 = pl.when(pl.col("NT2") >= 0).then(pl.col("N_NT2")).otherwise(0)
    n_les = (1 + pl.col("E2").cast(pl.Int32) + (pl.col("NT1") >= 0).cast(pl.Int32) + n_nt2
             + (pl.col("NEWST") > 0).cast(pl.Int32))
    les_list = pl.concat_list([one(1), pl.when(pl.col("E2")).then(one(2)).otherwise(none),
                               pl.when(pl.col("NT1") >= 0).then(one(4)).otherwise(none),
                               pl.int_ranges(10, 10 + n_nt2, dtype=pl.Int16),
                               pl.when(pl.col("NEWST") > 0).then(one(6)).otherwise(none)])
    seq0 = _cumsum_by_group(a.select(n_les).to_series().to_numpy().astype(np.int64), a["SUBJ"].to_numpy())
    a = a.with_columns(pl.Series("_N", seq0))                     # lesion rows up to this scan row
    tr_head = lambda source: (source.with_columns(les_list.alias("LES"), n_les.alias("_L"))  # noqa: E731
          .with_columns(pl.int_ranges(0, pl.col("_L"), dtype=pl.Int32).alias("_P"))
          .explode(["LES", "_P"])
          .with_columns((pl.col("_N") - pl.col("_L") + pl.col("_P") + 1).cast(pl.Int64).alias("TRSEQ"), date))
    les = pl.col("LES")
    measured = les <= 2
    val = pl.when(les == 1).then(pl.col("V1")).when(les == 2).then(pl.col("V2")).otherwise(None).cast(pl.Float64)
    state = pl.when(les == 4).then(pl.col("NT1")).when(les >= 10).then(pl.col("NT2")).when(les == 6).then(pl.col("NEWST"))
    words = {0: "PRESENT", 1: "ABSENT", 2: "UNEQUIVOCAL", 11: "EQUIVOCAL", 12: "UNEQUIVOCAL"}
    result_key = pl.when(measured).then(val.cast(pl.Int32)).otherwise(
        2000 + state.cast(pl.Int32) + pl.when(les == 6).then(10).otherwise(0))
    result_map = {i: str(i) for i in range(0, 2000)} | {2000 + k: v for k, v in words.items()}
    result = result_key.replace_strict(result_map, default=None,
                                       return_dtype=pl.Enum(list(dict.fromkeys(result_map.values()))))
    not_done = measured & val.is_null()
    group = pl.when(measured).then(0).when(les == 6).then(2).otherwise(1).replace_strict(
        {0: "TARGET", 1: "NON-TARGET", 2: "NEW"}, return_dtype=pl.Enum(["TARGET", "NON-TARGET", "NEW"]))
    lnk_map = {r * 100 + c: p + code for r, p in ((0, "R1-"), (1, ""), (2, "R2-"))
               for c, code in [(1, "T01"), (2, "T02"), (4, "NT01"), (6, "NEW01")]
               + [(10 + i, f"NT{i + 2:02d}") for i in range(MAX_NT)]}
    lnk = (pl.col("READER").cast(pl.Int32) * 100 + les).replace_strict(
        lnk_map, return_dtype=pl.Enum(sorted(set(lnk_map.values()))))
    tr_cols = (
        ids[0], pl.lit("TR").alias("DOMAIN"), ids[1], "TRSEQ", group.alias("TRGRPID"), lnk.alias("TRLNKID"),
        pl.when(measured).then(pl.lit("LDIAM")).otherwise(pl.lit("TUMSTATE")).alias("TRTESTCD"),
        pl.when(measured).then(pl.lit("Longest Diameter")).otherwise(pl.lit("Tumor State")).alias("TRTEST"),
        result.alias("TRORRES"), pl.when(measured & val.is_not_null()).then(pl.lit("mm")).alias("TRORRESU"),
        result.alias("TRSTRESC"), val.alias("TRSTRESN"),
        pl.when(measured & val.is_not_null()).then(pl.lit("mm")).alias("TRSTRESU"),
        pl.when(not_done).then(pl.lit("NOT DONE")).alias("TRSTAT"),
        pl.when(not_done).then(pl.lit("NOT ASSESSABLE: IMAGE OBSCURED")).alias("TRREASND"),
        _criteria_cat(protocol).alias("TRCAT"), method.alias("TRMETHOD"),
        *_reader_cols("TR", protocol), pl.col("VNUM").alias("VISITNUM"), visit.alias("VISIT"),
        pl.col("_DT").alias("TRDTC"), compute_study_day(pl.col("_DT"), pl.col("RANDDT")).alias("TRDY"),
    )
    scan_date = pl.col("RANDDT") + pl.duration(days=pl.col("T"))
    tr = Planned(a, lambda source: tr_head(source).select(*tr_cols), base_date=scan_date)

    tu = _tu_domain(a, subjects, common, ids, date, method, visit, protocol)

    # ---- RS: time-point responses after baseline (lazily, as TR, from the same rows) ----
    tests = ("TRGRESP", "NTRGRESP", "NEWLPROG", "OVRLRESP")
    rs_names = {1: "Target Response", 2: "Non-target Response", 3: "New Lesion Progression", 4: "Overall Response"}
    has_nt = pl.col("NTRGRESP").is_not_null()
    n_rs = pl.when(pl.col("VNUM") > 0).then(2 + has_nt.cast(pl.Int32) + (pl.col("NEWST") > 0).cast(pl.Int32)).otherwise(0)
    a = a.with_columns(pl.Series("_NRS", _cumsum_by_group(a.select(n_rs).to_series().to_numpy().astype(np.int64),
                                                         a["SUBJ"].to_numpy())))
    post_head = lambda source: source.filter(pl.col("VNUM") > 0).with_columns(pl.col("_NRS").alias("_N"))  # noqa: E731
    test_list = pl.concat_list([one(1), pl.when(has_nt).then(one(2)).otherwise(none),
                                pl.when(pl.col("NEWST") > 0).then(one(3)).otherwise(none), one(4)])
    order = pl.col("_ORD")
    res = (pl.when(order == 1).then(pl.col("TRGRESP")).when(order == 2).then(pl.col("NTRGRESP"))
           .when(order == 3).then(pl.when(pl.col("NEWST") == 1).then(pl.lit("EQUIVOCAL")).otherwise(pl.lit("UNEQUIVOCAL")))
           .otherwise(pl.col("OVRLRESP")))
    rs = Planned(a, lambda source: (post_head(source).with_columns(test_list.alias("_ORD"), n_rs.alias("_L"))
          .with_columns(pl.int_ranges(0, pl.col("_L"), dtype=pl.Int32).alias("_P"))
          .explode(["_ORD", "_P"])
          .with_columns((pl.col("_N") - pl.col("_L") + pl.col("_P") + 1).cast(pl.Int64).alias("RSSEQ"), date)
          .select(
              ids[0], pl.lit("RS").alias("DOMAIN"), ids[1], "RSSEQ",
              order.replace_strict(dict(enumerate(tests, 1)), return_dtype=pl.Enum(list(tests))).alias("RSTESTCD"),
              order.replace_strict(rs_names, return_dtype=pl.Enum(list(rs_names.values()))).alias("RSTEST"),
              _criteria_cat(protocol).alias("RSCAT"), res.alias("RSORRES"), res.alias("RSSTRESC"),
              *_reader_cols("RS", protocol), pl.col("VNUM").alias("VISITNUM"), visit.alias("VISIT"),
              pl.col("_DT").alias("RSDTC"), compute_study_day(pl.col("_DT"), pl.col("RANDDT")).alias("RSDY"))),
                 base_date=scan_date)
    return {"tu": tu, "tr": tr, "rs": rs}


def _tu_domain(a: pl.DataFrame, subjects: pl.DataFrame, common: list, ids: list, date: pl.Expr, method: pl.Expr,
               visit: pl.Expr, protocol) -> pl.LazyFrame:
    """TU: the lesions each reader identified at baseline (the screening scan), each FA
    tumour in its segment and lobe, and new lesions on the scan where the reader first saw them."""
    les = pl.col("LES")
    measured = les <= 2
    base = a.filter((pl.col("VNUM") == 0) & (pl.col("CRIT") == 0))
    first_new = (a.filter((pl.col("NEWST") > 0) & (pl.col("CRIT") == 0)).sort("T")
                 .group_by("SUBJ", "READER", maintain_order=True).first())
    tu = pl.concat([_lesions(base, common).filter(pl.col("LES") != 6),
                    _lesions(first_new, common).filter(pl.col("LES") == 6)])
    loc = subjects.select("SUBJ", *[f"LOC{j}" for j in range(10)], *[f"LAT{j}" for j in range(10)],
                          "PVLOC", "NEWLOC", "NEWLAT")
    # the FA tumour behind each liver lesion: T01 slot 0, T02 slot 1, NT02.. the next slots
    slot = (pl.when(les == 1).then(0).when(les == 2).then(1)
            .otherwise(pl.col("NTI").cast(pl.Int32) + 1 + pl.col("_E2").cast(pl.Int32)))
    tu = (tu.join(a.filter(pl.col("VNUM") == 0).select("SUBJ", pl.col("E2").alias("_E2")).unique("SUBJ"),
                  on="SUBJ", how="left")
          .join(loc, on="SUBJ", how="left").with_columns(slot.alias("_SLOT"), date))
    tuloc = pl.coalesce([pl.when(pl.col("_SLOT") == j).then(pl.col(f"LOC{j}")) for j in range(10)])
    tulat = pl.coalesce([pl.when(pl.col("_SLOT") == j).then(pl.col(f"LAT{j}")) for j in range(10)])
    tu = _number_seq(tu, "TU", ["T", "READER", "LES", "NTI"]).lazy().select(
        ids[0], pl.lit("TU").alias("DOMAIN"), ids[1], "TUSEQ",
        pl.concat_str([_READER_PREFIX, _LESION_CODE]).alias("TULNKID"),
        pl.lit("TUMIDENT").alias("TUTESTCD"), pl.lit("Tumor Identification").alias("TUTEST"),
        pl.when(measured).then(pl.lit("TARGET")).when(les == 6).then(pl.lit("NEW"))
        .otherwise(pl.lit("NON-TARGET")).alias("TUORRES"),
        pl.when(measured).then(pl.lit("TARGET")).when(les == 6).then(pl.lit("NEW"))
        .otherwise(pl.lit("NON-TARGET")).alias("TUSTRESC"),
        pl.when(les == 4).then(pl.col("PVLOC")).when(les == 6).then(pl.col("NEWLOC")).otherwise(tuloc).alias("TULOC"),
        pl.when(les == 4).then(pl.col("LAT0")).when(les == 6).then(pl.col("NEWLAT")).otherwise(tulat).alias("TULAT"),
        method.alias("TUMETHOD"), *_reader_cols("TU", protocol),
        pl.col("VNUM").alias("VISITNUM"), visit.alias("VISIT"),
        pl.col("_DT").alias("TUDTC"), compute_study_day(pl.col("_DT"), pl.col("RANDDT")).alias("TUDY"),
    )

    return tu


def summarize_best_response(assessments: pl.DataFrame, *, reader: int = 0, crit: int = 0,
                            sd_min_days: int = 42, by_reader: bool = False) -> pl.DataFrame:
    """Unconfirmed best overall response per subject (admiral order CR > PR > SD > PD > NE).

    Only time points on or after randomization up to the first PD count; SD (or an
    unconfirmed CR/PR, which is at least SD) counts only ``sd_min_days`` after randomization.
    Subjects without a post-baseline time point are absent (BOR "MISSING"). With
    ``by_reader`` every reader and criteria of the frame (keys SUBJ, READER, CRIT); else
    the one ``reader`` and ``crit`` (key SUBJ).

    Example:
        >>> summarize_best_response(disease.assessments)  # doctest: +SKIP
    """
    keys = ["SUBJ", "READER", "CRIT"] if by_reader else ["SUBJ"]
    rows = assessments if by_reader else assessments.filter((pl.col("READER") == reader) & (pl.col("CRIT") == crit))
    group = (pl.col("SUBJ").cast(pl.Int64) * 8 + pl.col("READER").cast(pl.Int64) * 2 + pl.col("CRIT")).alias("_G")
    ovr = (rows.filter(pl.col("OVRLRESP").is_not_null() & (pl.col("T") >= 0))
           .select("SUBJ", "READER", "CRIT", "T", "OVRLRESP", group)
           .sort((pl.col("_G") * 2**14 + pl.col("T") + 2**12))
           .with_columns((pl.col("OVRLRESP") == "PD").cast(pl.Int32).cum_sum().shift(1, fill_value=0)
                         .over("_G").alias("_PD_BEFORE"))
           .filter(pl.col("_PD_BEFORE") == 0))
    rank = (pl.when(pl.col("OVRLRESP") == "CR").then(1)
            .when(pl.col("OVRLRESP") == "PR").then(2)
            .when(pl.col("OVRLRESP").is_in(["CR", "PR", "SD"]) & (pl.col("T") >= sd_min_days)).then(3)
            .when(pl.col("OVRLRESP") == "PD").then(5)
            .otherwise(6))
    names = {1: "CR", 2: "PR", 3: "SD", 5: "PD", 6: "NE"}
    return (ovr.with_columns(rank.alias("_R")).group_by(keys).agg(pl.col("_R").min())
            .with_columns(pl.col("_R").replace_strict(names, return_dtype=pl.String).alias("BOR")).drop("_R"))
