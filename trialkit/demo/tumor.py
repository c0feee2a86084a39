"""The demo study's tumour assessments: TU, TR and RS by BICR and investigator, mRECIST and RECIST 1.1.

Everything is vectorized: one numpy array per quantity over all subjects, loops only over
the visit number, the reader and the criteria; no Python loop over subjects.

The disease model (simulation assumptions, not protocol rules, so they live here):

- each subject has 1-2 intrahepatic target lesions (plus, in a few, a porta hepatis lymph
  node with a short axis >= 20 mm, measured as LPERP), and non-target lesions (a portal vein
  tumour thrombus, another intrahepatic lesion);
- the viable fraction of the tumour ``f(t)`` falls from 1 at randomization towards a depth
  ``d`` (0 = complete loss of arterial enhancement) with a time constant ``tau``; at a latent
  progression time it either grows exponentially (progression by the sum), a new intrahepatic
  lesion appears, or the thrombus progresses unequivocally;
- mRECIST measures the viable diameter; RECIST 1.1 the whole diameter, which shrinks by only
  a fraction ``s`` of the viable shrinkage (necrotic tumour stays) and grows by the same mm;
  a reader's viable read of a lesion never exceeds the same reader's whole read on that scan;
- BICR ("INDEPENDENT ASSESSOR", "RADIOLOGIST 1", ACPTFL "Y") and the investigator read the same
  scans with their own measurement noise, detect new lesions and non-target changes with a
  lag of at most one visit, hence the 10-15 % discordance; a second BICR radiologist
  ("RADIOLOGIST 2", ACPTFL null) reads mRECIST too, so derivations must pick the accepted read.

The time-point responses are then derived from the recorded measurements with the criteria's
thresholds (``protocol.response``), so RS is consistent with TR by construction.

Example:
    >>> import numpy as np
    >>> from trialkit.protocol import load_protocol
    >>> disease = simulate_disease(arm_idx=np.array([0, 3]), horizon=np.array([300, 300]),
    ...     never_treated=np.array([False, False]), t_death0=np.array([np.inf, np.inf]),
    ...     t_withdrawal=np.array([np.inf, np.inf]), protocol=load_protocol("NCT07334483"),
    ...     rng=np.random.default_rng(1))
    >>> disease.assessments.filter(pl.col("VNUM") == 0).height   # 2 subjects x (2 readers x 2 criteria + 1)
    10
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

# reader 0: BICR radiologist 1, the accepted read (ACPTFL "Y"); 1: the investigator;
# 2: BICR radiologist 2, not accepted (as in the pharmaverse example: derivations must filter),
# who reads the primary criteria (mRECIST) only
READERS = ("BICR", "INVESTIGATOR", "BICR2")
CRITERIA = ("MRECIST", "RECIST11")          # keys of protocol.response["criteria"]

# --- simulation assumptions (not protocol rules) --------------------------------------------
# latent responder probability by arm index (A, B, C, D); tuned so that the BICR mRECIST ORR
# (all randomized in the denominator) is ~65 / 55 / 45 / 35 %.
P_RESPONDER = np.array([0.68, 0.585, 0.485, 0.37])
P_CR_GIVEN_RESPONDER = 0.3
# latent median time to progression by arm (responders; non-responders 0.7 x). New lesions,
# non-target progression and follow-up cut the observed BICR mRECIST median PFS to ~10 / 9 / 8
# / 6 months (A-D, 2,000 subjects): cTACE alone ~6-8 months as published, the SIRT
# combinations longer. (With 400 / 340 / 280 / 230 the A-D gap was only ~8.5 vs 6 months.)
MEDIAN_PROGRESSION_DAYS = np.array([560.0, 430.0, 300.0, 240.0])
P_PROGRESSION_TYPE = (0.55, 0.30, 0.15)      # by the sum, new lesion, non-target
P_MISSED_VISIT = 0.02
P_UNSCHEDULED = 0.04
P_TARGET_NOT_ASSESSED = 0.012
P_CONFIRMATORY_SCAN_AFTER_PD = 0.3
P_READER_LAG = 0.3                           # a reader sees a new lesion / NT PD one visit late
MEASUREMENT_SD = 0.05                        # log-scale noise of one diameter reading
READER_BIAS_SD = 0.14                        # a reader's own way of reading follow-up scans
# Whole-tumour (RECIST 1.1) edges are easier to agree on than the edge of arterial enhancement
# (mRECIST), so a reader's bias is smaller there: the same draw raised to this power (no extra
# random numbers). With one bias for both, the RECIST sums, which hover near the -30 % line
# after SIRT, gave ~23 % BICR/investigator time-point discordance; now ~14 % (mRECIST ~12 %).
RECIST_BIAS_SHARE = 0.2
VIABLE_VISIBLE_MM = 5                        # a viable remnant below this is "no enhancement"
PROG_SUM, PROG_NEW, PROG_NT = 0, 1, 2


@dataclass
class Disease:
    """What :func:`simulate_disease` returns.

    Attributes:
        assessments: one row per scan x reader x criteria with the lesion values (V1-V3),
            non-target states (NT1, NT2), new-lesion flag, derived sums and responses.
        lesions: per-subject baseline lesion layout (E2, E3, HAS_NT1, HAS_NT2, METHOD).
        pd_rel: days from randomization to the first investigator mRECIST PD scan (inf if none).
        t_death: days from randomization to death (inf if none, may exceed the horizon).
        missed: (subject index, VISITNUM) of scheduled visits that were missed.
    """

    assessments: pl.DataFrame
    lesions: dict
    pd_rel: np.ndarray
    t_death: np.ndarray
    missed: list


def _viable_fraction(t, depth, tau, t_prog, doubling, prog_type):
    """The latent viable fraction of the baseline tumour at day ``t`` (vectorized)."""
    tt = np.maximum(t, 0.0)
    f_pre = depth + (1 - depth) * np.exp(-tt / tau)
    f_at_prog = depth + (1 - depth) * np.exp(-np.maximum(t_prog, 0.0) / tau)
    grown = f_at_prog * np.exp(np.log(2) * np.maximum(t - t_prog, 0.0) / doubling)
    f_post = np.where(prog_type == PROG_SUM, grown, f_at_prog)
    return np.where(t < t_prog, f_pre, f_post), f_at_prog


def simulate_disease(*, arm_idx, horizon, never_treated, t_death0, t_withdrawal, protocol, rng,
                     tumor_count=None, largest_mm=None, baseline_rel=None) -> Disease:
    """Simulate scans, lesion measurements and derived time-point responses.

    Args:
        arm_idx: int array, 0..3 for arms A..D.
        horizon: days from randomization to the data cutoff (records after it do not exist).
        never_treated: bool array; these subjects have the baseline scan only.
        t_death0: days to a death not caused by progression (inf if none).
        t_withdrawal: days to withdrawal of consent (inf if none); no scan from that day on.
        protocol: the loaded protocol (response thresholds and the assessment schedule).
        rng: a numpy Generator (its own stream).
        tumor_count, largest_mm: optional baseline tumour count and largest diameter (mm)
            from screening, used for consistent baselines.
        baseline_rel: optional day (<= 0) of the screening scan, used as the baseline scan.

    Returns:
        A :class:`Disease`.
    """
    resp = protocol.response
    n = arm_idx.shape[0]
    interval = int(resp["assessment_interval_days"])
    window = int(resp["assessment_window_days"])

    # --- latent course ------------------------------------------------------------------------
    # exactly round(p * n_arm) latent responders per arm (a random subset), so even a 30-subject
    # arm shows the intended ordering of response rates rather than sampling noise
    u = rng.random(n)
    order = np.lexsort((u, arm_idx))
    n_arm = np.bincount(arm_idx, minlength=len(P_RESPONDER))
    arm_start = np.r_[0, np.cumsum(n_arm)[:-1]]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - arm_start[arm_idx[order]]
    responder = rank < np.round(P_RESPONDER * n_arm)[arm_idx]
    complete = responder & (rng.random(n) < P_CR_GIVEN_RESPONDER)
    depth = np.where(responder, rng.uniform(0.05, 0.55, n), rng.uniform(0.86, 1.1, n))
    depth = np.where(complete, 0.0, depth)
    tau = rng.uniform(15, 45, n)
    t_prog = rng.exponential(MEDIAN_PROGRESSION_DAYS[arm_idx] / np.log(2))
    t_prog = np.maximum(np.where(responder, t_prog, 0.7 * t_prog), 20.0)
    doubling = rng.uniform(45, 90, n)
    prog_type = rng.choice(3, n, p=P_PROGRESSION_TYPE)
    s_recist = rng.uniform(0.35, 0.6, n)

    # --- baseline lesions ---------------------------------------------------------------------
    if tumor_count is not None:
        n_liver = np.clip(np.nan_to_num(tumor_count, nan=1), 1, 2).astype(int)
    else:
        n_liver = 1 + (rng.random(n) < 0.55)
    draw_whole1 = rng.uniform(25, 95, n)
    whole1 = draw_whole1 if largest_mm is None else np.where(np.isnan(largest_mm), draw_whole1,
                                                             np.clip(largest_mm, 12, 160))
    necro = rng.uniform(1.0, 1.3, (n, 2))            # whole / viable diameter at baseline
    viable1 = np.maximum(whole1 / necro[:, 0], 11.0)
    viable2 = rng.uniform(11, np.maximum(12, 0.8 * viable1))
    whole_base = np.stack([viable1 * necro[:, 0], viable2 * necro[:, 1]], axis=1)
    viable_base = np.stack([viable1, viable2], axis=1)
    has_node = rng.random(n) < 0.07                    # porta hepatis node, SA >= 20 mm
    node_sa = rng.uniform(20, 32, n)
    hetero = rng.uniform(0.85, 1.15, (n, 3))           # lesion-to-lesion response spread
    has_nt1 = rng.random(n) < 0.25                     # portal vein tumour thrombus (Vp1-3)
    has_nt2 = rng.random(n) < 0.35                     # another, non-measurable intrahepatic
    has_nt = has_nt1 | has_nt2
    prog_type = np.where((prog_type == PROG_NT) & ~has_nt, PROG_NEW, prog_type)
    prog_type = np.where((prog_type == PROG_SUM) & (depth == 0), PROG_NEW, prog_type)
    mri = rng.random(n) < 0.2
    e2 = n_liver == 2

    # --- the scan schedule: baseline + every `interval` days +/- window -------------------------
    k_max = max(1, int(np.max(horizon, initial=0) + window) // interval)
    stop = np.minimum(np.minimum(t_death0, t_withdrawal), horizon + 1.0)   # scans strictly before
    subj_l, vnum_l, t_l = [], [], []
    missed = []
    sched_t = np.empty((n, k_max + 1))
    for k in range(k_max + 1):
        if k == 0:
            t = -rng.integers(1, 22, n).astype(float)   # within the 28-day screening window
            if baseline_rel is not None:
                t = np.where(np.isnan(baseline_rel), t, baseline_rel)
            ok = t <= horizon
        else:
            t = (k * interval + rng.integers(-window, window + 1, n)).astype(float)
            ok = (t < stop) & ~never_treated
            miss = ok & (rng.random(n) < P_MISSED_VISIT)
            if k == 2 and not miss.any():
                # every study has at least one missed visit: the 12-week scan of a subject
                # followed well beyond it (so the gap is visible)
                miss = _ensure_one(miss, ok & (t + 2 * interval < np.minimum(stop, t_prog)), rng)
            missed.extend((int(i), k) for i in np.flatnonzero(miss))
            ok &= ~miss
        sched_t[:, k] = np.where(ok, t, np.nan)
        idx = np.flatnonzero(ok)
        subj_l.append(idx)
        vnum_l.append(np.full(idx.size, float(k)))
        t_l.append(t[idx])
    # one unscheduled scan 10-20 days after a scheduled one, in a few subjects
    pick_k = rng.integers(1, k_max + 1, n)
    t_unsched = sched_t[np.arange(n), pick_k] + rng.integers(10, 21, n)
    can_uns = ~np.isnan(t_unsched) & (t_unsched < stop)
    uns = (rng.random(n) < P_UNSCHEDULED) & can_uns
    uns = _ensure_one(uns, can_uns & (t_unsched + interval < t_prog), rng)
    idx = np.flatnonzero(uns)
    subj_l.append(idx)
    vnum_l.append(pick_k[idx] + 0.1)
    t_l.append(t_unsched[idx])
    subj = np.concatenate(subj_l)
    vnum = np.concatenate(vnum_l)
    t = np.concatenate(t_l)
    order = np.lexsort((t, subj))
    subj, vnum, t = subj[order], vnum[order], t[order]
    n_scans = subj.size

    # --- latent values at each scan -------------------------------------------------------------
    f, f_at_prog = _viable_fraction(t, depth[subj], tau[subj], t_prog[subj], doubling[subj],
                                    prog_type[subj])
    s = s_recist[subj]
    f_rec = np.where(t < t_prog[subj], 1 - s * (1 - f), 1 - s * (1 - f_at_prog) + (f - f_at_prog))
    h = hetero[subj]
    # scans at or after the latent progression, counted per subject (1 = the first)
    after = (t >= t_prog[subj]).astype(np.int64)
    cnt_after = _cumsum_by_group(after, subj)

    frames = []
    for r, _reader in enumerate(READERS):
        lag = (rng.random(n) < P_READER_LAG).astype(int)[subj]
        new_seen = (prog_type[subj] == PROG_NEW) & (cnt_after >= 1 + lag)
        nt_pd = (prog_type[subj] == PROG_NT) & (cnt_after >= 1 + lag)
        absent_thr = 0.12 * rng.uniform(0.6, 1.4, n)[subj]
        # per subject, each reader reads the follow-up scans a little larger or smaller than the
        # baseline: the main source of BICR/investigator discordance near the -30 % line
        bias = np.where(vnum > 0, rng.lognormal(0, READER_BIAS_SD, n)[subj], 1.0)
        can_ne = (vnum > 0) & (t < t_prog[subj])
        not_assessed = can_ne & (rng.random(n_scans) < P_TARGET_NOT_ASSESSED)
        not_assessed = _ensure_one(not_assessed, can_ne & (t + interval < t_prog[subj]), rng)
        node_val = np.where(
            has_node[subj],
            np.maximum(np.round(node_sa[subj] * np.clip(1 - (1 - f) * h[:, 2], 0.25, None)
                                * rng.lognormal(0, MEASUREMENT_SD, n_scans)), 6),
            np.nan)
        reads = []                  # per criteria: the two liver target reads and NT states
        for c, crit in enumerate(CRITERIA):
            vals = []
            for j in range(2):
                noise = rng.lognormal(0, MEASUREMENT_SD, n_scans) * (
                    bias if crit == "MRECIST" else bias ** RECIST_BIAS_SHARE)
                if crit == "MRECIST":
                    true = viable_base[subj, j] * np.clip(1 - (1 - f) * h[:, j], 0, None)
                    # enhancement is gone once the true remnant is tiny (judged on the truth, so a
                    # reader's noise cannot make a vanished lesion reappear: no false PD from 0)
                    v = np.where(true < VIABLE_VISIBLE_MM, 0.0,
                                 np.maximum(np.round(true * noise), VIABLE_VISIBLE_MM))
                else:
                    true = whole_base[subj, j] * np.clip(1 - (1 - f_rec) * h[:, j], 0.05, None)
                    v = np.maximum(np.round(true * noise), 5.0)   # too small to measure: 5 mm
                vals.append(v)
            if crit == "MRECIST":
                # arterial enhancement gone in the non-target lesion
                nt_state = np.where(f < absent_thr, 1, 0)
            else:
                nt_state = np.zeros(n_scans, dtype=int)             # thrombus persists
            # non-target progression shows in the first non-target lesion (the thrombus if any)
            pd1 = nt_pd & has_nt1[subj]
            pd2 = nt_pd & ~has_nt1[subj] & has_nt2[subj]
            nt1 = np.where(has_nt1[subj], np.where(pd1, 2, nt_state), -1)   # 0 PRESENT 1 ABSENT 2 UNEQ.
            nt2 = np.where(has_nt2[subj], np.where(pd2, 2, nt_state), -1)
            reads.append((vals, nt1, nt2))
        # the viable (enhancing) part of a lesion is never longer than the whole lesion as the
        # same reader measures it on the same scan (mRECIST <= RECIST 1.1 per lesion)
        m_vals, r_vals = reads[CRITERIA.index("MRECIST")][0], reads[CRITERIA.index("RECIST11")][0]
        for j in range(2):
            m_vals[j] = np.minimum(m_vals[j], r_vals[j])
        for c, (vals, nt1, nt2) in enumerate(reads):
            if READERS[r] == "BICR2" and CRITERIA[c] != CRITERIA[0]:
                continue     # the second BICR radiologist reads the primary criteria only
            v1 = np.where(not_assessed, np.nan, vals[0])
            v2 = np.where(e2[subj], vals[1], np.nan)
            frames.append(pl.DataFrame({
                "SUBJ": subj.astype(np.int32), "T": t.astype(np.int32), "VNUM": vnum,
                "READER": np.full(n_scans, r, dtype=np.int8), "CRIT": np.full(n_scans, c, dtype=np.int8),
                "V1": v1, "V2": v2, "V3": node_val, "NE": not_assessed,
                "E2": e2[subj], "E3": has_node[subj],
                "NT1": nt1.astype(np.int8), "NT2": nt2.astype(np.int8), "NEW": new_seen,
            }, nan_to_null=True))
    assessments = derive_time_point_responses(pl.concat(frames), protocol)

    # --- first investigator mRECIST PD; scans stop after it (sometimes one more), death after it
    inv_pd = (assessments.filter((pl.col("READER") == 1) & (pl.col("CRIT") == 0)
                                 & (pl.col("OVRLRESP") == "PD"))
              .group_by("SUBJ").agg(pl.col("T").min()))
    pd_rel = np.full(n, np.inf)
    pd_rel[inv_pd["SUBJ"].to_numpy()] = inv_pd["T"].to_numpy()
    # deaths after progression (median ~10 months), else the background death time
    post_pd_death = np.floor(pd_rel + 14 + rng.exponential(420, n))
    t_death = np.minimum(t_death0, post_pd_death)
    confirm = rng.random(n) < P_CONFIRMATORY_SCAN_AFTER_PD
    scans = pl.DataFrame({"SUBJ": subj.astype(np.int32), "T": t.astype(np.int32)})
    n_after_pd = _cumsum_by_group((t > pd_rel[subj]).astype(np.int64), subj)
    keep = (n_after_pd <= confirm[subj].astype(int)) & (t < t_death[subj])
    kept = scans.filter(pl.Series(keep)).select("SUBJ", "T")
    assessments = assessments.join(kept, on=["SUBJ", "T"], how="semi")
    lesions = {"E2": e2, "E3": has_node, "HAS_NT1": has_nt1, "HAS_NT2": has_nt2, "MRI": mri}
    return Disease(assessments=assessments, lesions=lesions, pd_rel=pd_rel, t_death=t_death,
                   missed=missed)


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
        ...     "NT1": [-1, -1], "NT2": [-1, -1], "NEW": [False, False]})
        >>> derive_time_point_responses(rows, load_protocol("NCT07334483"))["OVRLRESP"].to_list()
        [None, 'PR']
    """
    r = protocol.response
    pr_pct, pd_pct, pd_abs = float(r["pr_pct"]), float(r["pd_pct"]), float(r["pd_min_abs_mm"])
    grp = ["SUBJ", "READER", "CRIT"]
    total = (pl.col("V1") + pl.when(pl.col("E2")).then(pl.col("V2")).otherwise(0.0)
             + pl.when(pl.col("E3")).then(pl.col("V3")).otherwise(0.0))
    out = (assessments.sort(grp + ["T"])
           .with_columns(pl.when(pl.col("NE")).then(None).otherwise(total).alias("SUM"))
           .with_columns(
               pl.col("SUM").first().over(grp).alias("BASE"),
               # nadir: the smallest earlier evaluable sum, baseline included
               pl.col("SUM").cum_min().forward_fill().shift(1).over(grp).alias("NADIR"))
           )
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
    ovr = (pl.when((pl.col("TRGRESP") == "PD") | (pl.col("NTRGRESP") == "PD") | pl.col("NEW")).then(pl.lit("PD"))
           .when(pl.col("TRGRESP") == "NE").then(pl.lit("NE"))
           .when((pl.col("TRGRESP") == "CR") & (pl.col("NTRGRESP").is_null() | (pl.col("NTRGRESP") == "CR")))
           .then(pl.lit("CR"))
           .when(pl.col("TRGRESP").is_in(["CR", "PR"])).then(pl.lit("PR"))
           .otherwise(pl.lit("SD")))
    baseline = pl.col("VNUM") == 0
    return out.with_columns(
        pl.when(baseline).then(None).otherwise(ovr).alias("OVRLRESP"),
        pl.when(baseline).then(None).otherwise(pl.col("TRGRESP")).alias("TRGRESP"),
        pl.when(baseline).then(None).otherwise(pl.col("NTRGRESP")).alias("NTRGRESP"),
        (pl.col("NEW") & ~baseline).alias("NEW"),
    )


# --- SDTM builders -------------------------------------------------------------------------------

def _iso(days_from_rand: pl.Expr) -> pl.Expr:
    """ISO 8601 date string of RANDDT + ``days_from_rand``."""
    return (pl.col("RANDDT") + pl.duration(days=days_from_rand)).dt.to_string("%Y-%m-%d")


def _study_day(days_from_rand: pl.Expr) -> pl.Expr:
    """Study day: day 1 = randomization, the day before is day -1 (no day 0)."""
    return pl.when(days_from_rand >= 0).then(days_from_rand + 1).otherwise(days_from_rand).cast(pl.Int32)


def _visit(protocol) -> pl.Expr:
    weeks_per_visit = int(protocol.response["assessment_interval_days"]) // 7
    k = pl.col("VNUM").floor().cast(pl.Int32)
    return (pl.when(pl.col("VNUM") == 0).then(pl.lit("BASELINE"))
            .when(pl.col("VNUM") != pl.col("VNUM").floor()).then(pl.lit("UNSCHEDULED"))
            .otherwise(pl.format("WEEK {}", k * weeks_per_visit)))


def _reader_cols(prefix: str, protocol) -> list[pl.Expr]:
    r = pl.col("READER")
    return [
        pl.when(r == 1).then(pl.lit(protocol.response["assessors"]["INVESTIGATOR"]))
        .otherwise(pl.lit(protocol.response["assessors"]["BICR"])).alias(f"{prefix}EVAL"),
        pl.when(r == 0).then(pl.lit("RADIOLOGIST 1")).when(r == 2).then(pl.lit("RADIOLOGIST 2"))
        .otherwise(None).alias(f"{prefix}EVALID"),
        pl.when(r == 0).then(pl.lit("Y")).otherwise(None).alias(f"{prefix}ACPTFL"),
    ]


def _criteria_cat(protocol) -> pl.Expr:
    cats = protocol.response["criteria"]
    return (pl.when(pl.col("CRIT") == 0).then(pl.lit(cats[CRITERIA[0]]["cat"]))
            .otherwise(pl.lit(cats[CRITERIA[1]]["cat"])))


def _lnk(code: str) -> pl.Expr:
    # the BICR reader's lesion ids carry the reader prefix, as in the pharmaverse example
    return (pl.when(pl.col("READER") == 0).then(pl.lit("R1-" + code))
            .when(pl.col("READER") == 2).then(pl.lit("R2-" + code)).otherwise(pl.lit(code)))


def _number_seq(frame: pl.DataFrame, domain: str, order: list[str]) -> pl.DataFrame:
    frame = frame.sort(["SUBJ", *order])
    return frame.with_columns((pl.int_range(pl.len()).over("SUBJ") + 1).cast(pl.Int32).alias(f"{domain}SEQ"))


def build_tumor_domains(assessments: pl.DataFrame, subjects: pl.DataFrame, protocol) -> dict[str, pl.DataFrame]:
    """TU, TR and RS from the scan-level assessments of :func:`simulate_disease`.

    Args:
        assessments: the ``Disease.assessments`` frame (after truncation).
        subjects: SUBJ (row index), STUDYID, USUBJID, RANDDT (pl.Date), MRI (bool).
        protocol: the loaded protocol.

    Returns:
        ``{"tu": ..., "tr": ..., "rs": ...}`` in SDTM, --SEQ numbered per subject.

    Example:
        >>> domains = build_tumor_domains(disease.assessments, subjects, protocol)  # doctest: +SKIP
        >>> domains["rs"]["RSTESTCD"].unique().sort().to_list()  # doctest: +SKIP
        ['NEWLPROG', 'NTRGRESP', 'OVRLRESP', 'TRGRESP']
    """
    # identifiers are gathered by subject index only in the final select: carrying strings
    # through the concatenations and sorts of millions of rows costs memory and time
    a = assessments.join(subjects.select("SUBJ", "RANDDT", "MRI"), on="SUBJ", how="left")
    common = [pl.col("SUBJ"), pl.col("T"), pl.col("READER"), pl.col("CRIT"), pl.col("VNUM"),
              pl.col("RANDDT"), pl.col("MRI")]
    ids = [pl.lit(subjects["STUDYID"]).gather(pl.col("SUBJ")).alias("STUDYID"),
           pl.lit(subjects["USUBJID"]).gather(pl.col("SUBJ")).alias("USUBJID")]

    # ---- TR: one row per lesion per scan per reader per criteria ----
    # Only numbers travel through the concatenation and the sort (LES = lesion slot 1-6, _VAL a
    # diameter, _S a non-target state); the strings are made once, in the final select.
    def lesion(where, les, value, state):
        return a.filter(where).select(*common, pl.lit(les, dtype=pl.Int8).alias("LES"),
                                      value.cast(pl.Float64).alias("_VAL"), state.cast(pl.Int8).alias("_S"))

    no_state = pl.lit(None, dtype=pl.Int8)
    no_value = pl.lit(None, dtype=pl.Float64)
    tr = pl.concat([
        lesion(pl.lit(True), 1, pl.col("V1"), no_state),
        lesion(pl.col("E2"), 2, pl.col("V2"), no_state),
        lesion(pl.col("E3"), 3, pl.col("V3"), no_state),
        lesion(pl.col("NT1") >= 0, 4, no_value, pl.col("NT1")),
        lesion(pl.col("NT2") >= 0, 5, no_value, pl.col("NT2")),
        lesion(pl.col("NEW"), 6, no_value, pl.lit(2)),
    ])
    tr = _number_seq(tr, "TR", ["T", "READER", "CRIT", "LES"])
    les = pl.col("LES")
    measured = les <= 3
    code = pl.col("LES").replace_strict({1: "T01", 2: "T02", 3: "T03", 4: "NT01", 5: "NT02", 6: "NEW01"},
                                        return_dtype=pl.String)
    prefix = pl.col("READER").replace_strict({0: "R1-", 1: "", 2: "R2-"}, return_dtype=pl.String)
    testcd = pl.when(les == 3).then(pl.lit("LPERP")).when(measured).then(pl.lit("LDIAM")).otherwise(pl.lit("TUMSTATE"))
    word = (pl.when(pl.col("_S") == 0).then(pl.lit("PRESENT")).when(pl.col("_S") == 1).then(pl.lit("ABSENT"))
            .otherwise(pl.lit("UNEQUIVOCAL")))
    result = pl.when(measured).then(pl.col("_VAL").cast(pl.Int64).cast(pl.String)).otherwise(word)
    unit = pl.when(measured & pl.col("_VAL").is_not_null()).then(pl.lit("mm")).otherwise(None)
    not_done = measured & pl.col("_VAL").is_null()
    tr = tr.select(
        ids[0], pl.lit("TR").alias("DOMAIN"), ids[1], "TRSEQ",
        pl.when(measured).then(pl.lit("TARGET")).when(les == 6).then(pl.lit("NEW"))
        .otherwise(pl.lit("NON-TARGET")).alias("TRGRPID"),
        pl.concat_str([prefix, code]).alias("TRLNKID"), testcd.alias("TRTESTCD"),
        pl.when(les == 3).then(pl.lit("Longest Perpendicular")).when(measured).then(pl.lit("Longest Diameter"))
        .otherwise(pl.lit("Tumor State")).alias("TRTEST"),
        result.alias("TRORRES"), unit.alias("TRORRESU"), result.alias("TRSTRESC"),
        pl.col("_VAL").alias("TRSTRESN"), unit.alias("TRSTRESU"),
        pl.when(not_done).then(pl.lit("NOT DONE")).otherwise(None).alias("TRSTAT"),
        pl.when(not_done).then(pl.lit("NOT ASSESSABLE: IMAGE OBSCURED")).otherwise(None).alias("TRREASND"),
        _criteria_cat(protocol).alias("TRCAT"),
        pl.when(pl.col("MRI")).then(pl.lit("MRI")).otherwise(pl.lit("CT SCAN")).alias("TRMETHOD"),
        *_reader_cols("TR", protocol), pl.col("VNUM").alias("VISITNUM"), _visit(protocol).alias("VISIT"),
        _iso(pl.col("T")).alias("TRDTC"), _study_day(pl.col("T")).alias("TRDY"),
    )

    # ---- TU: lesions identified at baseline (per reader), new lesions when first seen ----
    base = a.filter((pl.col("VNUM") == 0) & (pl.col("CRIT") == 0))
    first_new = (a.filter(pl.col("NEW") & (pl.col("CRIT") == 0)).sort("T")
                 .group_by("SUBJ", "READER", maintain_order=True).first())

    def tu_rows(frame, where, code, result, loc, order):
        return frame.filter(where).select(*common, _lnk(code).alias("TULNKID"), pl.lit(result).alias("TUSTRESC"),
                                          pl.lit(loc).alias("TULOC"), pl.lit(order, dtype=pl.Int8).alias("_ORD"))

    tu = pl.concat([
        tu_rows(base, pl.lit(True), "T01", "TARGET", "LIVER", 1),
        tu_rows(base, pl.col("E2"), "T02", "TARGET", "LIVER", 2),
        tu_rows(base, pl.col("E3"), "T03", "TARGET", "LYMPH NODE", 3),
        tu_rows(base, pl.col("NT1") >= 0, "NT01", "NON-TARGET", "PORTAL VEIN", 4),
        tu_rows(base, pl.col("NT2") >= 0, "NT02", "NON-TARGET", "LIVER", 5),
        tu_rows(first_new, pl.lit(True), "NEW01", "NEW", "LIVER", 6),
    ])
    tu = _number_seq(tu, "TU", ["T", "READER", "_ORD"]).select(
        ids[0], pl.lit("TU").alias("DOMAIN"), ids[1], "TUSEQ", "TULNKID",
        pl.lit("TUMIDENT").alias("TUTESTCD"), pl.lit("Tumor Identification").alias("TUTEST"),
        pl.col("TUSTRESC").alias("TUORRES"), "TUSTRESC", "TULOC",
        pl.when(pl.col("MRI")).then(pl.lit("MRI")).otherwise(pl.lit("CT SCAN")).alias("TUMETHOD"),
        *_reader_cols("TU", protocol), pl.col("VNUM").alias("VISITNUM"), _visit(protocol).alias("VISIT"),
        _iso(pl.col("T")).alias("TUDTC"), _study_day(pl.col("T")).alias("TUDY"),
    )

    # ---- RS: time-point responses after baseline ----
    post = a.filter(pl.col("VNUM") > 0)
    tests = ("TRGRESP", "NTRGRESP", "NEWLPROG", "OVRLRESP")

    def rs_rows(where, test, value):
        return post.filter(where).select(*common, pl.lit(tests.index(test) + 1, dtype=pl.Int8).alias("_ORD"),
                                         value.cast(pl.Categorical).alias("_RES"))

    rs = pl.concat([
        rs_rows(pl.lit(True), "TRGRESP", pl.col("TRGRESP")),
        rs_rows(pl.col("NTRGRESP").is_not_null(), "NTRGRESP", pl.col("NTRGRESP")),
        rs_rows(pl.col("NEW"), "NEWLPROG", pl.lit("UNEQUIVOCAL")),
        rs_rows(pl.lit(True), "OVRLRESP", pl.col("OVRLRESP")),
    ])
    rs_names = {1: "Target Response", 2: "Non-target Response", 3: "New Lesion Progression", 4: "Overall Response"}
    res = pl.col("_RES").cast(pl.String)
    rs = _number_seq(rs, "RS", ["T", "READER", "CRIT", "_ORD"]).select(
        ids[0], pl.lit("RS").alias("DOMAIN"), ids[1], "RSSEQ",
        pl.col("_ORD").replace_strict(dict(enumerate(tests, 1)), return_dtype=pl.String).alias("RSTESTCD"),
        pl.col("_ORD").replace_strict(rs_names, return_dtype=pl.String).alias("RSTEST"),
        _criteria_cat(protocol).alias("RSCAT"), res.alias("RSORRES"), res.alias("RSSTRESC"),
        *_reader_cols("RS", protocol), pl.col("VNUM").alias("VISITNUM"), _visit(protocol).alias("VISIT"),
        _iso(pl.col("T")).alias("RSDTC"), _study_day(pl.col("T")).alias("RSDY"),
    )
    return {"tu": tu, "tr": tr, "rs": rs}


def summarize_best_response(assessments: pl.DataFrame, *, reader: int = 0, crit: int = 0,
                            sd_min_days: int = 42) -> pl.DataFrame:
    """Unconfirmed best overall response per subject (admiral order CR > PR > SD > PD > NE).

    Only time points on or after randomization up to the first PD count; SD (or an
    unconfirmed CR/PR, which is at least SD) counts only ``sd_min_days`` after randomization.
    Subjects without a post-baseline time point are absent (BOR "MISSING").

    Example:
        >>> summarize_best_response(disease.assessments)  # doctest: +SKIP
    """
    ovr = (assessments.filter((pl.col("READER") == reader) & (pl.col("CRIT") == crit)
                              & pl.col("OVRLRESP").is_not_null() & (pl.col("T") >= 0))
           .sort("SUBJ", "T")
           .with_columns((pl.col("OVRLRESP") == "PD").cast(pl.Int32).cum_sum().shift(1, fill_value=0)
                         .over("SUBJ").alias("_PD_BEFORE"))
           .filter(pl.col("_PD_BEFORE") == 0))
    rank = (pl.when(pl.col("OVRLRESP") == "CR").then(1)
            .when(pl.col("OVRLRESP") == "PR").then(2)
            .when(pl.col("OVRLRESP").is_in(["CR", "PR", "SD"]) & (pl.col("T") >= sd_min_days)).then(3)
            .when(pl.col("OVRLRESP") == "PD").then(5)
            .otherwise(6))
    names = {1: "CR", 2: "PR", 3: "SD", 5: "PD", 6: "NE"}
    return (ovr.with_columns(rank.alias("_R")).group_by("SUBJ").agg(pl.col("_R").min())
            .with_columns(pl.col("_R").replace_strict(names, return_dtype=pl.String).alias("BOR")).drop("_R"))
