"""The screening half of the demo study: who was screened, who failed and why, and the
screening findings that make every eligibility decision reproducible from the data.

Steps of :func:`generate_screening`: plan the attempts, schedule them (consent, labs,
imaging and the outcome on working days of the clinic calendar, inside the protocol's
``screening.window_days``), assign the reasons of failure and the planted discrepancies,
draw the findings (one tumour :class:`Layout` per subject behind FA), number the subjects,
randomize, then build each domain and the truth.

Datasets (SDTM, CDISC names and controlled terms; every --DTC an ISO 8601 string):

- **DM**: every screening attempt (screen failures included). SDTMIG 3.2 arm convention:
  screen failures ARMCD/ARM/ACTARMCD/ACTARM = ``SCRNFAIL``/``Screen Failure``; subjects who
  withdrew during screening ``NOTASSGN``/``Not Assigned``; the randomized-but-never-treated
  subject keeps ARMCD/ARM and has ACTARMCD/ACTARM ``NOTTRT``/``Not Treated``.
- **DS**: milestones INFORMED CONSENT OBTAINED and RANDOMIZED (DSCAT PROTOCOL MILESTONE,
  EPOCH SCREENING); SCREEN FAILURE and WITHDRAWAL BY SUBJECT (DSCAT DISPOSITION EVENT, EPOCH
  SCREENING).
- **IE**: only criteria not met (1-3 per screen failure), codes and texts from the protocol
  file's ``eligibility`` catalog; IEORRES/IESTRESC "N" for inclusion, "Y" for exclusion.
- **LB** (screening, SI units; LBSTNRLO/LBSTNRHI are the site's reference range, sex-specific
  where labs report them so): PLAT, NEUT, HGB, BILI, ALT, AST, ALP, ALB, CREAT, INR (CDISC
  LBTESTCD terms).
- **VS** (screening): WEIGHT (kg), HEIGHT (cm), SYSBP, DIABP (mmHg).
- **QS**: ECOG performance status, QSCAT "ECOG", QSTESTCD "ECOG101".
- **FA** (screening imaging and clinical findings; inputs of Child-Pugh and CNLC):
  FACAT "CHILD-PUGH": ASCITES (ABSENT/MILD/MODERATE/SEVERE), HEPENCEP (NONE/GRADE 1-2/
  GRADE 3-4); FACAT "CNLC STAGING": LESNUM (number of intrahepatic tumours), LDIAM
  (largest diameter, mm), VASCINV (most extensive macrovascular invasion: NONE, VP1-VP4,
  HVTT), EXTRAHEP (Y/N); FACAT "SIRT ELIGIBILITY": TUMBURD (tumour % of liver volume, from
  every tumour's diameter). LESNUM and LDIAM are CDISC FATESTCD terms; the others are
  sponsor-defined (the codelist is extensible and has no single code for them).
- **PR**: the 99mTc-MAA mapping of screen failures found unsuitable for SIRT (INCL07).
- **SV**: the screening visit (VISITNUM 0) of every attempt.

Every machine-checkable criterion is evaluated on these findings with
:func:`compute_check` from the protocol file's ``check`` (no threshold lives in this
module); IE holds exactly the failed checks plus planted judgment criteria (prior therapy,
MAA mapping, ...), except the planted discrepancies the truth file lists: randomized subjects
whose data fail one criterion (``INELIGIBLE_PLANTS``) and screen failures whose recorded code
their data do not support (``UNSUPPORTED_CODES``).

Randomization (an assumption; the registry record says only "randomized 1:1:1:1"): central,
stratified by site, permuted blocks of 4 or 8.

Columns of the ``randomized`` frame handed to ``trialkit.demo.treatment`` (one row per
randomized subject): STUDYID, USUBJID, SITEID, SUBJID, ARMCD, ARM, RANDDT (date), RFICDT
(date), AGE, SEX, WEIGHT_KG, HEIGHT_CM, NEVER_TREATED (bool), ECOG (0/1), baseline tumour
facts consistent with FA: TUMOR_COUNT (intrahepatic tumours), LARGEST_MM (largest diameter),
VASCINV, TUMBURD_PCT, SCREEN_IMAGING_DT (date of the screening imaging, before RANDDT), and
the screening labs with their reference limits (PLAT, NEUT, ... and _ULN/_LLN).

Example:
    >>> import datetime
    >>> from trialkit.protocol import load_protocol
    >>> cal = ClinicCalendar("CN", datetime.date(2025, 1, 1), datetime.date(2027, 12, 31))
    >>> s = generate_screening(n_randomized=8, seed=1, cutoff=datetime.date(2026, 10, 31),
    ...                        protocol=load_protocol("NCT07334483"), calendar=cal)
    >>> s.randomized.height, sorted(s.datasets)
    (8, ['dm', 'ds', 'fa', 'ie', 'lb', 'pr', 'qs', 'sv', 'vs'])
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import polars as pl

from trialkit.demo.dates import NEVER, ClinicCalendar, compute_iso_date, days_to_dates, to_day
from trialkit.demo.writing import Planned
from trialkit.derive.days import compute_study_day
# the protocol's checks as expressions: one implementation, the screening re-check's
from trialkit.derive.eligibility import checkable_criteria, compute_check

# Population assumptions of the demo (Chinese HCC, mostly HBV cirrhosis); not protocol rules.
SCREENED_PER_RANDOMIZED = 200 / 120
SCREEN_WITHDRAWAL_RATE = 0.03
ACCRUAL_DAYS = 343                   # consent from the study start to ~end of July 2026
SCREENING_VISITNUM = 0.0             # VISIT "SCREENING" (screening findings, IE and the baseline scan)
MIN_CUTOFF_DAYS = 60                 # a cutoff sooner than this after the start is refused
PARTIAL_BRTHDTC_YEAR = 0.04
PARTIAL_BRTHDTC_MONTH = 0.02

# Laboratory tests: code, name, category, SI unit, decimals, reference range (low, high) by
# sex where labs report sex-specific intervals (Chinese WS/T 404 style). Per-site BILI ULN.
LAB_TESTS: dict[str, dict[str, Any]] = {
    "PLAT": {"test": "Platelets", "cat": "HEMATOLOGY", "unit": "10^9/L", "dec": 0, "ref": {"M": (125, 350), "F": (125, 350)}},
    "NEUT": {"test": "Neutrophils", "cat": "HEMATOLOGY", "unit": "10^9/L", "dec": 2, "ref": {"M": (1.8, 6.3), "F": (1.8, 6.3)}},
    "HGB": {"test": "Hemoglobin", "cat": "HEMATOLOGY", "unit": "g/L", "dec": 0, "ref": {"M": (130, 175), "F": (115, 150)}},
    "BILI": {"test": "Bilirubin", "cat": "CHEMISTRY", "unit": "umol/L", "dec": 1, "ref": {"M": (3.4, 20.5), "F": (3.4, 20.5)}},
    "ALT": {"test": "Alanine Aminotransferase", "cat": "CHEMISTRY", "unit": "U/L", "dec": 0, "ref": {"M": (9, 50), "F": (7, 40)}},
    "AST": {"test": "Aspartate Aminotransferase", "cat": "CHEMISTRY", "unit": "U/L", "dec": 0, "ref": {"M": (15, 40), "F": (13, 35)}},
    "ALP": {"test": "Alkaline Phosphatase", "cat": "CHEMISTRY", "unit": "U/L", "dec": 0, "ref": {"M": (45, 125), "F": (35, 100)}},
    "ALB": {"test": "Albumin", "cat": "CHEMISTRY", "unit": "g/L", "dec": 1, "ref": {"M": (40, 55), "F": (40, 55)}},
    "CREAT": {"test": "Creatinine", "cat": "CHEMISTRY", "unit": "umol/L", "dec": 0, "ref": {"M": (57, 111), "F": (41, 81)}},
    "INR": {"test": "Prothrombin Intl. Normalized Ratio", "cat": "COAGULATION", "unit": "RATIO", "dec": 2, "ref": {"M": (0.8, 1.2), "F": (0.8, 1.2)}},
}
SITE_BILI_ULN = (20.5, 21.0, 17.1)   # sites' labs differ; cycled over the protocol's sites
VS_TESTS = {
    "WEIGHT": ("Weight", "kg", 1), "HEIGHT": ("Height", "cm", 0),
    "SYSBP": ("Systolic Blood Pressure", "mmHg", 0), "DIABP": ("Diastolic Blood Pressure", "mmHg", 0),
}
FA_TESTS = {  # code: (test, FACAT, FAOBJ, unit or None, numeric decimals or None)
    "ASCITES": ("Ascites Severity", "CHILD-PUGH", "ASCITES", None, None),
    "HEPENCEP": ("Hepatic Encephalopathy Grade", "CHILD-PUGH", "HEPATIC ENCEPHALOPATHY", None, None),
    "LESNUM": ("Number of Lesions", "CNLC STAGING", "HEPATOCELLULAR CARCINOMA", None, 0),
    "LDIAM": ("Longest Diameter", "CNLC STAGING", "HEPATOCELLULAR CARCINOMA", "mm", 0),
    "VASCINV": ("Macrovascular Invasion", "CNLC STAGING", "HEPATOCELLULAR CARCINOMA", None, None),
    "EXTRAHEP": ("Extrahepatic Spread", "CNLC STAGING", "HEPATOCELLULAR CARCINOMA", None, None),
    "TUMBURD": ("Tumour Burden, % of Liver Volume", "SIRT ELIGIBILITY", "HEPATOCELLULAR CARCINOMA", "%", 0),
}
CATEGORIES = {
    "SEX": ("M", "F"),
    "ASCITES": ("ABSENT", "MILD", "MODERATE", "SEVERE"),
    "HEPENCEP": ("NONE", "GRADE 1-2", "GRADE 3-4"),
    "VASCINV": ("NONE", "VP1", "VP2", "VP3", "VP4", "HVTT"),
    "EXTRAHEP": ("N", "Y"),
}
DECIMALS = {"AGE": 0, "ECOG101": 0, **{k: v["dec"] for k, v in LAB_TESTS.items()},
            **{k: v[2] for k, v in VS_TESTS.items()}, "LESNUM": 0, "LDIAM": 0, "TUMBURD": 0}


# ---------------------------------------------------------------- value samplers
Sampler = Callable[[np.random.Generator, dict[str, np.ndarray]], np.ndarray]


def _lognormal(median: float, sdlog: float, lo: float, hi: float) -> Sampler:
    return lambda rng, ctx: np.clip(median * np.exp(rng.normal(0, sdlog, len(ctx["SEX"]))), lo, hi)


def _normal(mean: float, sd: float, lo: float, hi: float) -> Sampler:
    return lambda rng, ctx: np.clip(rng.normal(mean, sd, len(ctx["SEX"])), lo, hi)


def _choice(var: str, probs: dict[str, float]) -> Sampler:
    cats = CATEGORIES[var]
    p = np.array([probs.get(c, 0.0) for c in cats])
    return lambda rng, ctx: rng.choice(len(cats), size=len(ctx["SEX"]), p=p / p.sum())


def _ints(values: list[int], probs: list[float]) -> Sampler:
    p = np.array(probs) / sum(probs)
    return lambda rng, ctx: rng.choice(np.array(values, dtype=float), size=len(ctx["SEX"]), p=p)


def _by_sex(male: Sampler, female: Sampler) -> Sampler:
    return lambda rng, ctx: np.where(ctx["SEX"] == 0, male(rng, ctx), female(rng, ctx))


# Typical screening values of this population (cirrhotic, largely HBV, intermediate HCC).
TYPICAL: dict[str, Sampler] = {
    "AGE": _normal(56, 9.5, 22, 84),
    "WEIGHT": _by_sex(_normal(67, 10, 40, 115), _normal(57, 8.5, 36, 95)),
    "HEIGHT": _by_sex(_normal(169, 6, 150, 190), _normal(158, 5.5, 142, 176)),
    "SYSBP": _normal(126, 12, 95, 175),
    "DIABP": _normal(78, 8, 55, 110),
    "NEUT": _lognormal(3.2, 0.35, 0.6, 12),
    "PLAT": _lognormal(155, 0.38, 30, 500),
    "HGB": _by_sex(_normal(138, 14, 70, 180), _normal(124, 12, 70, 160)),
    "BILI": _lognormal(15, 0.4, 3, 120),
    "ALT": _lognormal(38, 0.55, 6, 900),
    "AST": _lognormal(45, 0.55, 8, 900),
    "ALP": _lognormal(115, 0.38, 30, 1500),
    "ALB": _normal(39, 3.8, 22, 52),
    "CREAT": _by_sex(_lognormal(76, 0.18, 35, 600), _lognormal(60, 0.18, 30, 600)),
    "INR": _lognormal(1.1, 0.09, 0.8, 3.5),
    "ASCITES": _choice("ASCITES", {"ABSENT": 0.86, "MILD": 0.14}),
    "HEPENCEP": _choice("HEPENCEP", {"NONE": 0.995, "GRADE 1-2": 0.005}),
    "ECOG101": _ints([0, 1], [0.62, 0.38]),
    "LESNUM": _ints(list(range(1, 11)), [44, 15, 12, 8, 7, 4, 3, 3, 2, 2]),
    "LDIAM": _lognormal(62, 0.5, 12, 180),
    "VASCINV": _choice("VASCINV", {"NONE": 0.70, "VP1": 0.06, "VP2": 0.10, "VP3": 0.12, "VP4": 0.01, "HVTT": 0.01}),
    "EXTRAHEP": _choice("EXTRAHEP", {"N": 0.995, "Y": 0.005}),
}
LIVER_VOLUME_ML = (1500, 250)        # normal mean, sd: tumour burden = tumour / (liver + tumour)
MAX_LESIONS = 10                     # LESNUM is drawn from 1-10
OTHER_LESION_SHARE = (0.25, 0.85)    # diameter of each further lesion / the largest's
P_DOMINANT_RIGHT = 0.75              # the largest tumour is in the right lobe
P_SAME_LOBE = 0.8                    # a further lesion is in the largest tumour's lobe
# Couinaud segments as CDISC Anatomical Location terms (II-IV left, V-VIII right).
SEGMENTS = {
    "RIGHT": ("LIVER, RIGHT LOBE ANTEROINFERIOR SEGMENT", "LIVER, RIGHT LOBE POSTEROINFERIOR SEGMENT",
              "LIVER, RIGHT LOBE POSTEROSUPERIOR SEGMENT", "LIVER, RIGHT LOBE ANTEROSUPERIOR SEGMENT"),
    "LEFT": ("LIVER, LEFT LOBE POSTEROLATERAL SEGMENT", "LIVER, LEFT LOBE ANTEROLATERAL SEGMENT",
             "LIVER, LEFT LOBE SUPEROMEDIAL SEGMENT", "LIVER, LEFT LOBE INFEROMEDIAL SEGMENT"),
}


@dataclass
class Layout:
    """Every screened subject's intrahepatic tumours, the one disease model behind FA and TU.

    ``share[:, j]`` is lesion j's diameter over the largest one's (lesion 0: 1.0; NaN beyond
    LESNUM), ``right[:, j]`` its lobe (True = right), ``segment[:, j]`` an index into
    ``SEGMENTS[lobe]``. The portal vein thrombus (FA VASCINV VP1-VP3) is on the side of
    lesion 0 (inclusion 5: the thrombus is on the side of the targeted tumour).
    """

    share: np.ndarray
    right: np.ndarray
    segment: np.ndarray
    liver_ml: np.ndarray
    noise: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int) -> "Layout":
        share = np.sort(rng.uniform(*OTHER_LESION_SHARE, (n, MAX_LESIONS)), axis=1)[:, ::-1]
        share[:, 0] = 1.0
        dominant = rng.random(n) < P_DOMINANT_RIGHT
        same = rng.random((n, MAX_LESIONS)) < P_SAME_LOBE
        same[:, 0] = True
        right = np.where(same, dominant[:, None], ~dominant[:, None])
        segment = rng.integers(0, 4, (n, MAX_LESIONS))
        liver = np.clip(rng.normal(*LIVER_VOLUME_ML, n), 900, 2500)
        return cls(share, right, segment, liver, np.exp(rng.normal(0, 0.1, n)))

    def take(self, rows: np.ndarray) -> "Layout":
        return Layout(self.share[rows], self.right[rows], self.segment[rows], self.liver_ml[rows], self.noise[rows])

    def tumour_burden(self, ldiam: np.ndarray, lesnum: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """% of liver volume: spheres of every lesion over liver + tumour (FA TUMBURD)."""
        count = np.arange(MAX_LESIONS)[None, :] < lesnum[:, None]
        v = np.pi / 6 * (ldiam[:, None] / 10 * self.share[rows]) ** 3
        total = np.where(count, v, 0.0).sum(axis=1)
        return np.clip(100 * total / (self.liver_ml[rows] + total) * self.noise[rows], 0.5, 95)


SEX_P_MALE = 0.85


@dataclass(frozen=True)
class Scenario:
    """Why a screen failure failed: the criterion it targets and the inputs drawn off-normal.

    ``overrides`` replace typical samplers; a missing ``overrides`` entry for a single-leaf
    check is filled by a sampler beyond the protocol's threshold (see ``_beyond``).
    ``collateral`` allows other checks to fail with it (e.g. Child-Pugh drags albumin).
    """

    target: str
    weight: float
    overrides: dict[str, Sampler] = field(default_factory=dict)
    beyond: tuple[str, ...] = ()
    collateral: bool = False


# Primary screen-failure reasons and their relative frequencies in this population (SIRT
# trials in HCC: liver function, SIRT unsuitability at MAA mapping, tumour extent and prior
# therapy dominate).
SCENARIOS: dict[str, Scenario] = {
    "SIRT_MAA": Scenario("INCL07", 12),
    "CHILD_PUGH": Scenario("INCL10", 10, {
        "BILI": _lognormal(30, 0.25, 10, 80), "ALB": _normal(31, 2.5, 24, 40),
        "INR": _normal(1.6, 0.15, 1.1, 2.4), "ASCITES": _choice("ASCITES", {"MILD": 0.65, "MODERATE": 0.35})},
        collateral=True),
    "DECOMPENSATED": Scenario("EXCL12", 3, {
        "ASCITES": _choice("ASCITES", {"MODERATE": 0.7, "SEVERE": 0.3}),
        "HEPENCEP": _choice("HEPENCEP", {"NONE": 0.7, "GRADE 1-2": 0.3})}, collateral=True),
    "TUMOUR_BURDEN": Scenario("EXCL03", 7, {
        "LDIAM": _normal(150, 18, 110, 190), "LESNUM": _ints([1, 2, 3, 4, 5], [3, 2, 2, 1, 1])}),
    "PORTAL_VP4": Scenario("INCL05B", 5, {"VASCINV": _choice("VASCINV", {"VP4": 1.0})}),
    "HEPATIC_VEIN": Scenario("EXCL04", 4, {"VASCINV": _choice("VASCINV", {"HVTT": 1.0})}),
    "EXTRAHEPATIC": Scenario("INCL05A", 7, {"EXTRAHEP": _choice("EXTRAHEP", {"Y": 1.0})}),
    "CNLC_EARLY": Scenario("INCL05A", 2, {
        "LESNUM": _ints([1], [1.0]), "LDIAM": _normal(32, 8, 12, 50),
        "VASCINV": _choice("VASCINV", {"NONE": 1.0})}),
    "ECOG": Scenario("INCL09", 4, {"ECOG101": _ints([2, 3], [0.85, 0.15])}, collateral=True),
    "PRIOR_LOCAL": Scenario("EXCL09", 7),
    "PRIOR_SYSTEMIC": Scenario("EXCL07", 5),
    "INFILTRATIVE": Scenario("EXCL02", 4),
    "BLEEDING_RISK": Scenario("EXCL23", 4),
    "RESECTABLE": Scenario("INCL04", 3),
    "HBV_UNCONTROLLED": Scenario("INCL12", 3),
    "PLT": Scenario("INCL13B", 5, beyond=("PLAT",)),
    "BILI": Scenario("INCL13D", 2, beyond=("BILI",), collateral=True),
    "ALB": Scenario("INCL13H", 2, beyond=("ALB",), collateral=True),
    "NEUT": Scenario("INCL13A", 1, beyond=("NEUT",)),
    "HGB": Scenario("INCL13C", 1, beyond=("HGB",)),
    "ALT": Scenario("INCL13E", 1, beyond=("ALT",), collateral=True),
    "AST": Scenario("INCL13F", 1, beyond=("AST",), collateral=True),
    "ALP": Scenario("INCL13G", 0.5, beyond=("ALP",)),
    "RENAL": Scenario("INCL13I", 0.5, beyond=("CREAT",)),
    "INR": Scenario("INCL13K", 1, beyond=("INR",), collateral=True),
    "NO_MEASURABLE": Scenario("INCL06", 2),
    "OTHER_MALIGNANCY": Scenario("EXCL05", 2),
    "HYPERTENSION": Scenario("EXCL18A", 0.5, beyond=("SYSBP",)),
    "AGE": Scenario("INCL02", 1, beyond=("AGE",)),
    "COINFECTION": Scenario("EXCL17", 1),
    "ANTICOAGULANT": Scenario("EXCL20", 1),
    "AUTOIMMUNE": Scenario("EXCL22", 1),
    "CARDIAC": Scenario("EXCL18B", 1),
    "BILE_DUCT": Scenario("EXCL11", 1),
    "INVESTIGATOR": Scenario("EXCL33", 2),
}
SECOND_REASON_RATE = 0.25            # a second, judgment-based criterion recorded as well


def _find_leaf(check: dict[str, Any], testcd: str) -> dict[str, Any] | None:
    if check.get("testcd") == testcd and "op" in check and "composite" not in check:
        return check
    for key in ("any", "all"):
        for sub in check.get(key, []):
            found = _find_leaf(sub, testcd)
            if found:
                return found
    return None


def _beyond(leaf: dict[str, Any]) -> Sampler:
    """A sampler just beyond a leaf check's threshold (read from the protocol file)."""
    op = leaf["op"]
    testcd = str(leaf["testcd"])

    def sample(rng: np.random.Generator, ctx: dict[str, np.ndarray]) -> np.ndarray:
        n = len(ctx["SEX"])
        bound = ctx[f"{testcd}_ULN"] * leaf["uln_multiple"] if "uln_multiple" in leaf \
            else np.full(n, float(leaf["threshold"][1] if op == "between" else leaf["threshold"]))
        if op in ("ge", "gt"):
            return bound * rng.uniform(0.45, 0.97, n)
        if op in ("le", "lt"):
            return bound * rng.uniform(1.04, 1.7, n)
        if op == "between":
            return bound + rng.integers(1, 9, n)
        raise ValueError(f"trialkit: cannot draw beyond a '{op}' check")
    return sample


# ---------------------------------------------------------------- the generator
@dataclass
class Screening:
    """What :func:`generate_screening` returns."""

    datasets: dict[str, pl.DataFrame]   # dm, ds, ie, lb, vs, qs, fa, pr (screening rows)
    randomized: pl.DataFrame            # one row per randomized subject (see module docstring)
    layout: Layout                      # the randomized subjects' tumours, rows as ``randomized``
    truth: dict[str, Any]
    lab_visits: pl.DataFrame | None = None   # LB as visits (``build_lab_records``), for one LB plan


# Planted eligibility discrepancies (what a screening review must find): randomized subjects
# whose screening data fail one criterion (a waiver or an error), drawn just beyond its
# threshold; and screen failures whose recorded criterion their data do not support (a
# wrong code entered by the site). Rates per randomized subject / per screen failure.
P_RANDOMIZED_INELIGIBLE = 1 / 60
P_UNSUPPORTED_FAILURE = 1 / 40
INELIGIBLE_PLANTS = {            # criterion -> the finding drawn beyond its threshold
    "INCL13B": ("PLAT", Scenario("INCL13B", 0, beyond=("PLAT",))),
    "INCL13A": ("NEUT", Scenario("INCL13A", 0, beyond=("NEUT",))),
    "INCL13C": ("HGB", Scenario("INCL13C", 0, beyond=("HGB",))),
    "INCL02": ("AGE", Scenario("INCL02", 0, beyond=("AGE",))),
    "INCL09": ("ECOG101", Scenario("INCL09", 0, {"ECOG101": _ints([2], [1.0])})),
}
UNSUPPORTED_CODES = ("INCL13B", "INCL13D", "INCL13H", "INCL09", "INCL10", "EXCL03")


def _uln_context(site_idx: np.ndarray, sex: np.ndarray) -> dict[str, np.ndarray]:
    ctx: dict[str, np.ndarray] = {}
    for code, spec in LAB_TESTS.items():
        lo = np.where(sex == 0, spec["ref"]["M"][0], spec["ref"]["F"][0]).astype(float)
        hi = np.where(sex == 0, spec["ref"]["M"][1], spec["ref"]["F"][1]).astype(float)
        if code == "BILI":
            hi = np.asarray(SITE_BILI_ULN, dtype=float)[site_idx % len(SITE_BILI_ULN)]
        ctx[f"{code}_LLN"], ctx[f"{code}_ULN"] = lo, hi
    return ctx


def _frame(values: dict[str, np.ndarray], idx: np.ndarray) -> pl.DataFrame:
    cols = {}
    for var, arr in values.items():
        a = arr[idx]
        if var in CATEGORIES:
            cols[var] = pl.Series(var, np.asarray(CATEGORIES[var], dtype=object)[a.astype(np.int64)], dtype=pl.String)
        else:
            cols[var] = pl.Series(var, a, dtype=pl.Float64)
    return pl.DataFrame(cols)


def _round(var: str, a: np.ndarray) -> np.ndarray:
    return np.round(a, DECIMALS[var]) if var in DECIMALS else a


def _draw_baseline(rng: np.random.Generator, roles: np.ndarray, scen_idx: np.ndarray, scen_list: list[Scenario],
                   site_idx: np.ndarray, protocol, n_judgment: np.ndarray, layout: Layout
                   ) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    """Draw screening values; resample (vectorized, per pending subset) until consistent.

    roles: 0 passes every check (randomized, withdrawn, unsupported screen failure), 1 fails
    its scenario's target (screen failures and planted ineligible randomized subjects).
    scen_idx: per attempt an index into ``scen_list`` (-1 when role 0).
    Returns the values, the checked IETESTCDs and the (n, n_checks) failure matrix.
    """
    n = len(roles)
    checks = checkable_criteria(protocol)
    codes = [c["ietestcd"] for c in checks]
    exprs = [compute_check(c["check"]).fill_null(False).alias(c["ietestcd"]) for c in checks]
    by_code = {c["ietestcd"]: c for c in checks}
    sex = (rng.random(n) > SEX_P_MALE).astype(np.int64)      # 0 = M, 1 = F
    values: dict[str, np.ndarray] = {"SEX": sex}
    ctx_all = _uln_context(site_idx, sex)
    failed = np.zeros((n, len(codes)), dtype=bool)
    pending = np.arange(n)
    for attempt in range(200):
        if len(pending) == 0:
            break
        ctx = {"SEX": sex[pending], **{k: v[pending] for k, v in ctx_all.items()}}
        draw = {var: sampler(rng, ctx) for var, sampler in TYPICAL.items()}
        for s_i, scen in enumerate(scen_list):
            sel = scen_idx[pending] == s_i
            if not sel.any():
                continue
            sub = {k: v[sel] for k, v in ctx.items()}
            for var, sampler in scen.overrides.items():
                draw[var][sel] = sampler(rng, sub)
            for var in scen.beyond:
                leaf = _find_leaf(by_code[scen.target]["check"], var)
                draw[var][sel] = _beyond(leaf)(rng, sub)
        draw["TUMBURD"] = layout.tumour_burden(np.round(draw["LDIAM"]), np.round(draw["LESNUM"]), pending)
        for var, arr in draw.items():
            if attempt == 0:
                values[var] = np.zeros(n, dtype=arr.dtype if var in CATEGORIES else float)
            values[var][pending] = _round(var, arr)
        frame = _frame({k: v for k, v in values.items()}, pending).with_columns(
            [pl.Series(k, v[pending]) for k, v in ctx_all.items()])
        fail = ~frame.select(exprs).to_numpy().astype(bool)
        role = roles[pending]
        total = fail.sum(axis=1) + n_judgment[pending]
        ok = np.where(role == 0, fail.sum(axis=1) == 0, (total >= 1) & (total <= 3))
        for s_i, scen in enumerate(scen_list):
            sel = scen_idx[pending] == s_i
            if not sel.any() or scen.target not in by_code:
                if sel.any() and not scen.collateral:
                    ok[sel] &= fail[sel].sum(axis=1) == 0
                continue
            tgt = fail[sel, codes.index(scen.target)]
            others = fail[sel].sum(axis=1) - tgt
            ok[sel] &= tgt & (scen.collateral | (others == 0))
        failed[pending[ok]] = fail[ok]
        pending = pending[~ok]
    if len(pending):
        raise RuntimeError(f"trialkit: demo screening values did not converge for {len(pending)} subjects")
    values.update(ctx_all)
    return values, codes, failed


# ---------------------------------------------------------------- the generator, step by step
@dataclass
class _Plan:
    """Screening attempts: row layout [randomized | withdrawn | screen failures]."""

    n_rand: int
    n_withdraw: int
    n_fail: int
    n_rescreen: int
    role_name: np.ndarray

    @property
    def n_total(self) -> int:
        return self.n_rand + self.n_withdraw + self.n_fail

    @property
    def first_fail(self) -> int:
        return self.n_rand + self.n_withdraw


def _plan_attempts(n_randomized: int) -> _Plan:
    """How many attempts of each outcome (screen failures include rescreened first attempts)."""
    n_rand = int(n_randomized)
    n_total = max(n_rand + 1, int(round(n_rand * SCREENED_PER_RANDOMIZED)))
    n_nonrand = n_total - n_rand
    n_rescreen = max(1, n_rand // 120) if (n_nonrand >= 2 and n_rand >= 4) else 0
    n_withdraw = min(int(round(n_total * SCREEN_WITHDRAWAL_RATE)), max(0, n_nonrand - n_rescreen - 1))
    n_fail = n_nonrand - n_withdraw
    role_name = np.array(["RANDOMIZED"] * n_rand + ["WITHDRAWN"] * n_withdraw + ["SCREEN FAILURE"] * n_fail)
    return _Plan(n_rand, n_withdraw, n_fail, n_rescreen, role_name)


def _schedule_attempts(rng: np.random.Generator, plan: _Plan, *, start: datetime.date, cutoff: datetime.date,
                       window: int, sites: list, calendar: ClinicCalendar) -> dict[str, Any]:
    """Site, consent and outcome (randomization or screen failure) day of every attempt, on
    the clinic calendar's working days and inside the protocol's screening window; rescreened
    subjects' first attempts 35-60 days earlier at the same site."""
    n = plan.n_total
    accrual_days = min(ACCRUAL_DAYS, (cutoff - start).days - window - 2)
    site_w = rng.dirichlet(np.full(len(sites), 40.0))     # sites recruit at similar rates
    site_idx = rng.choice(len(sites), size=n, p=site_w)
    # accrual ramps up as sites open: more consents later in the period
    consent = to_day(start) + np.floor(accrual_days * rng.random(n) ** 0.8).astype(np.int64)
    rand_off = np.clip(np.round(rng.normal(14, 5, n)), 5, window - 1).astype(np.int64)
    fail_off = rng.integers(3, window, n)
    rescreen_pairs = []
    if plan.n_rescreen:
        eligible = np.flatnonzero(consent[:plan.n_rand] - to_day(start) >= 70)
        if len(eligible) < plan.n_rescreen:
            consent[:plan.n_rescreen] += 70
            eligible = np.arange(plan.n_rescreen)
        linked = np.sort(rng.choice(eligible, size=plan.n_rescreen, replace=False))
        for k, r in enumerate(linked):          # loops over the few rescreened subjects
            f = plan.first_fail + k
            site_idx[f] = site_idx[r]
            consent[f] = consent[r] - rng.integers(35, 61)
            rescreen_pairs.append((int(f), int(r)))
    consent = calendar.next_working(consent)
    outcome_off = np.where(plan.role_name == "RANDOMIZED", rand_off, fail_off)
    # the outcome on a working day 3 days to the end of the window after consent
    outcome = calendar.nearest_working(consent + outcome_off, consent + 3, consent + window)
    # screening labs and imaging between consent and the day before the outcome, on working
    # days (consent is one, so the previous working day never falls before it)
    span = outcome - consent
    lb_day = calendar.prev_working(consent + np.floor(rng.random(n) * span).astype(np.int64))
    img_day = calendar.prev_working(consent + np.floor(rng.random(n) * span).astype(np.int64))
    # the MAA mapping of a SIRT-unsuitable screen failure: after the imaging, before the failure
    map_day = np.maximum(img_day, calendar.prev_working(outcome - 2))
    return {"site_idx": site_idx, "consent": consent, "outcome": outcome, "rescreen_pairs": rescreen_pairs,
            "lb_day": lb_day, "img_day": img_day, "map_day": map_day}


def _assign_reasons(rng: np.random.Generator, plan: _Plan, rescreen_pairs: list, protocol
                    ) -> dict[str, Any]:
    """Why each attempt fails (or, for the planted discrepancies, what their data show).

    Returns per attempt: the scenario (None when the data pass every check), the judgment
    codes (primary, second) recorded in IE, the draw role, and the planted discrepancies.
    """
    n = plan.n_total
    catalog = {c["ietestcd"]: c for c in protocol.eligibility}
    checkable = {c["ietestcd"] for c in checkable_criteria(protocol)}
    names = list(SCENARIOS)
    usable = [i for i, s in enumerate(SCENARIOS.values()) if s.target in catalog and s.weight > 0]
    w = np.array([SCENARIOS[names[i]].weight for i in usable])
    scen_code = np.full(n, -1, dtype=np.int64)
    scen_code[plan.first_fail:] = np.asarray(usable)[rng.choice(len(usable), size=plan.n_fail, p=w / w.sum())]
    hbv = names.index("HBV_UNCONTROLLED")
    rescreen_first = np.zeros(n, dtype=bool)
    for f, _ in rescreen_pairs:                  # fixed at the next visit: HBV-DNA suppressed
        scen_code[f] = hbv
        rescreen_first[f] = True
    pool = [s for s in SCENARIOS.values() if s.target not in checkable and s.target in catalog]
    pool_w = np.array([s.weight for s in pool])
    second = rng.random(n) < SECOND_REASON_RATE
    second_pick = rng.choice(len(pool), size=n, p=pool_w / pool_w.sum())
    judged = np.asarray([None if s.target in checkable else s.target for s in SCENARIOS.values()] + [None],
                        dtype=object)            # per scenario; index -1 (no failure) -> None
    primary = judged[scen_code]
    extra = np.asarray([s.target for s in pool], dtype=object)[second_pick]
    extra = np.where((scen_code >= 0) & second & (extra != primary) & ~rescreen_first, extra, None)

    # planted discrepancies, on attempts that are neither rescreens nor rare scenarios
    linked = {r for _, r in rescreen_pairs}
    rand_pool = np.setdiff1d(np.arange(plan.n_rand), np.fromiter(linked, dtype=np.int64, count=len(linked)))
    n_inel = max(1, round(plan.n_rand * P_RANDOMIZED_INELIGIBLE)) if plan.n_rand >= 8 else 0
    inel_rows = np.sort(rng.choice(rand_pool, size=min(n_inel, rand_pool.size), replace=False))
    inel_codes = np.asarray(list(INELIGIBLE_PLANTS), dtype=object)[rng.integers(0, len(INELIGIBLE_PLANTS), inel_rows.size)]
    sf_pool = np.flatnonzero((np.arange(n) >= plan.first_fail) & ~rescreen_first)
    n_uns = max(1, round(plan.n_fail * P_UNSUPPORTED_FAILURE)) if plan.n_fail >= 4 else 0
    uns_rows = np.sort(rng.choice(sf_pool, size=min(n_uns, sf_pool.size), replace=False))
    uns_codes = np.asarray(UNSUPPORTED_CODES, dtype=object)[rng.integers(0, len(UNSUPPORTED_CODES), uns_rows.size)]

    scen_list = list(SCENARIOS.values()) + [p[1] for p in INELIGIBLE_PLANTS.values()]
    plant_idx = {code: len(SCENARIOS) + i for i, code in enumerate(INELIGIBLE_PLANTS)}
    scen_code[inel_rows] = [plant_idx[c] for c in inel_codes]
    scen_code[uns_rows] = -1
    primary[uns_rows], extra[uns_rows] = None, None
    roles = (scen_code >= 0).astype(np.int64)
    n_judgment = (primary != None).astype(np.int64) + (extra != None).astype(np.int64)  # noqa: E711
    return {"scen_idx": scen_code, "scen_list": scen_list, "roles": roles, "judgment": (primary, extra),
            "n_judgment": n_judgment,
            "ineligible": (inel_rows, inel_codes), "unsupported": (uns_rows, uns_codes)}


def _randomize(rng: np.random.Generator, rz: pl.DataFrame, protocol) -> pl.DataFrame:
    """Central randomization, stratified by site, permuted blocks of varying size.

    An ASSUMPTION (the registry record gives only "RANDOMIZED", 1:1:1:1): each site has its
    own list of blocks of 1 or 2 times the ratio's total (4 or 8 here), size chosen at random,
    arms permuted within each block; subjects take the next allocation of their site's list in
    order of randomization date. Loops run over the sites only.
    """
    arms = [a["armcd"] for a in protocol.arms]
    ratio = protocol.raw.get("randomization_ratio") or [1] * len(arms)
    base = np.repeat(np.asarray(arms, dtype=object), ratio)
    rz = rz.sort(["SITEIDX", "RANDDT", "USUBJID"])
    armcd = np.empty(rz.height, dtype=object)
    sites = rz["SITEIDX"].to_numpy()
    for s in np.unique(sites):
        rows = np.flatnonzero(sites == s)
        k = -(-rows.size // base.size)                       # enough blocks of the smaller size
        mult = rng.choice(BLOCK_MULTIPLES, size=k)
        sizes = mult * base.size
        block = np.repeat(np.arange(k), sizes)
        within = np.arange(block.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        alloc = base[within % base.size][np.lexsort((rng.random(block.size), block))]
        armcd[rows] = alloc[:rows.size]
    return rz.with_columns(pl.Series("ARMCD", armcd, dtype=pl.String))


BLOCK_MULTIPLES = np.array([1, 2])   # block size = multiple x the ratio's total (4 or 8)


def generate_screening(*, n_randomized: int, seed: int, cutoff: datetime.date, protocol,
                       calendar: ClinicCalendar) -> Screening:
    """Simulate screening and randomization: DM, DS, IE, LB, VS, QS, FA and screening PR.

    Steps: plan the attempts, schedule them on the clinic calendar, assign the reasons of
    failure (and the planted discrepancies), draw the findings, number the subjects,
    randomize, then build each domain.

    Args:
        n_randomized: subjects randomized (screened ≈ n × 200/120).
        seed: the demo seed; this module uses the stream ``[seed, 1]``.
        cutoff: data cutoff; all screening happens before it.
        protocol: a loaded :class:`trialkit.protocol.Protocol`.
        calendar: the sites' :class:`ClinicCalendar`.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> cal = ClinicCalendar("CN", datetime.date(2025, 6, 1), datetime.date(2027, 12, 31))
        >>> s = generate_screening(n_randomized=4, seed=7, cutoff=datetime.date(2026, 10, 31),
        ...                        protocol=load_protocol("NCT07334483"), calendar=cal)
        >>> s.truth["n_randomized"], s.datasets["dm"].height >= 4
        (4, True)
    """
    rng = np.random.default_rng([seed, 1])
    study = protocol.study
    studyid = str(study.get("sponsor_code") or protocol.study_id)
    start = study["start_date"]
    if isinstance(start, str):
        start = datetime.date.fromisoformat(start)
    window = int(protocol.raw["screening"]["window_days"])
    sites = protocol.sites
    arms = {a["armcd"]: a["arm"] for a in protocol.arms}

    plan = _plan_attempts(n_randomized)
    sched = _schedule_attempts(rng, plan, start=start, cutoff=cutoff, window=window, sites=sites, calendar=calendar)
    rescreen_pairs = sched["rescreen_pairs"]
    site_idx = sched["site_idx"]
    reasons = _assign_reasons(rng, plan, rescreen_pairs, protocol)
    layout = Layout.draw(rng, plan.n_total)
    values, codes, failed = _draw_baseline(rng, reasons["roles"], reasons["scen_idx"], reasons["scen_list"],
                                           site_idx, protocol, reasons["n_judgment"], layout)
    # The rescreened first attempt is the same person weeks earlier: same findings (all
    # checks pass), failed only for the uncontrolled HBV-DNA (a judgment criterion).
    for f, r in rescreen_pairs:
        for var in values:
            values[var][f] = values[var][r]
        failed[f] = failed[r]
    layout.share[[f for f, _ in rescreen_pairs]] = layout.share[[r for _, r in rescreen_pairs]]
    n_total = plan.n_total

    subj = _subject_frame(rng, plan, sched, values, studyid, sites, start)
    rz = _randomize(rng, subj.filter(pl.col("STATUS") == "RANDOMIZED").select("ROW", "SITEIDX", "RANDDT", "USUBJID"),
                    protocol)
    subj = subj.join(rz.select("ROW", "ARMCD"), on="ROW", how="left", maintain_order="left").sort("ROW")
    n_never = max(1, plan.n_rand // 120) if plan.n_rand >= 2 else 0
    rescreened_rows = {r for _, r in rescreen_pairs}
    inel_rows, inel_codes = reasons["ineligible"]
    cand = np.setdiff1d(np.arange(plan.n_rand), np.fromiter(rescreened_rows | set(inel_rows.tolist()), dtype=np.int64))
    never_rows = set(rng.choice(cand, size=min(n_never, len(cand)), replace=False).tolist()) if n_never else set()
    subj = subj.with_columns(pl.col("ROW").is_in(sorted(never_rows)).alias("NEVER_TREATED"))
    subj = _birth_dates(rng, subj, rescreen_pairs)

    ie = _build_ie(subj, failed, codes, reasons, protocol)
    dm = _build_dm(subj, arms)
    ds, partial_ds = _build_ds(subj)
    qs = _findings_qs(subj)
    maa_name = str(protocol.treatment("MAA_MAPPING")["name"])
    maa_rows = ie.filter(pl.col("IETESTCD") == "INCL07")["USUBJID"].unique().sort()
    pr = (subj.filter(pl.col("USUBJID").is_in(maa_rows.to_list()))
          .select("STUDYID", pl.lit("PR").alias("DOMAIN"), "USUBJID", pl.lit(maa_name).alias("PRTRT"),
                  pl.lit("SIRT PLANNING").alias("PRCAT"), pl.lit("SCREENING").alias("EPOCH"),
                  compute_iso_date(pl.max_horizontal(pl.col("IMGDT"), pl.col("MAPDT"))).alias("PRSTDTC"))
          .with_columns(pl.col("PRSTDTC").alias("PRENDTC")))

    randomized = (subj.filter(pl.col("STATUS") == "RANDOMIZED").join(pl.DataFrame({"ARMCD": list(arms), "ARM": list(arms.values())}),
                                                                      on="ARMCD", how="left")
                  .select("ROW", "STUDYID", "USUBJID", "SITEID", "SUBJID", "ARMCD", "ARM", "RANDDT", "RFICDT",
                          pl.col("AGE").cast(pl.Int64), pl.col("SEX"), pl.col("WEIGHT").alias("WEIGHT_KG"),
                          pl.col("HEIGHT").alias("HEIGHT_CM"), "NEVER_TREATED",
                          pl.col("ECOG101").cast(pl.Int64).alias("ECOG"),
                          pl.col("LESNUM").cast(pl.Int64).alias("TUMOR_COUNT"), pl.col("LDIAM").alias("LARGEST_MM"),
                          "VASCINV", pl.col("TUMBURD").alias("TUMBURD_PCT"), pl.col("IMGDT").alias("SCREEN_IMAGING_DT"),
                          *[pl.col(c) for c in ("PLAT", "NEUT", "HGB", "BILI", "ALT", "AST", "ALB")],
                          *[pl.col(f"{c}_ULN") for c in ("PLAT", "NEUT", "HGB", "BILI", "ALT", "AST", "ALB")],
                          *[pl.col(f"{c}_LLN") for c in ("PLAT", "NEUT", "HGB", "BILI", "ALT", "AST", "ALB")])
                  .sort("USUBJID"))
    rand_layout = layout.take(randomized["ROW"].to_numpy())
    randomized = randomized.drop("ROW")

    truth = _screening_truth(studyid, plan, rz, subj, ie, rescreen_pairs, never_rows, maa_rows, reasons, values,
                             partial_ds, protocol)
    sv = subj.select("STUDYID", pl.lit("SV").alias("DOMAIN"), "USUBJID", pl.lit(SCREENING_VISITNUM).alias("VISITNUM"),
                     pl.lit("SCREENING").alias("VISIT"), pl.lit("SCREENING").alias("EPOCH"),
                     compute_iso_date(pl.col("RFICDT")).alias("SVSTDTC"),
                     compute_iso_date(pl.max_horizontal("LBDT", "IMGDT")).alias("SVENDTC"),
                     compute_study_day(pl.col("RFICDT"), pl.col("RANDDT")).alias("SVSTDY"),
                     compute_study_day(pl.max_horizontal("LBDT", "IMGDT"), pl.col("RANDDT")).alias("SVENDY"))
    lab_visits = screening_lab_visits(subj)
    datasets = {"dm": dm, "ds": ds, "ie": ie, "lb": Planned(lab_visits, build_lab_records),
                "vs": _findings_vs(subj), "qs": qs,
                "fa": _findings_fa(subj), "pr": pr, "sv": sv}
    return Screening(datasets=datasets, randomized=randomized, layout=rand_layout, truth=truth, lab_visits=lab_visits)


def _screening_truth(studyid, plan: _Plan, rz, subj, ie, rescreen_pairs, never_rows, maa_rows, reasons, values,
                     partial_ds, protocol) -> dict[str, Any]:
    """The screening half of ``demo_truth.json``: counts, screen failures and their IE codes,
    rescreening, the never-treated subject, the planted eligibility discrepancies, the
    randomization scheme (an assumption) and the partial dates."""
    arms = {a["armcd"]: a["arm"] for a in protocol.arms}
    n_total = plan.n_total
    inel_rows, inel_codes = reasons["ineligible"]
    usub = subj["USUBJID"].to_numpy()
    sf_codes = ie.group_by("USUBJID", maintain_order=True).agg(pl.col("IETESTCD"))
    uns_rows, uns_codes = reasons["unsupported"]
    inel_testcd = [INELIGIBLE_PLANTS[c][0] for c in inel_codes]
    inel_values = [float(values[t][r]) for t, r in zip(inel_testcd, inel_rows)]
    truth = {
        "studyid": studyid,
        "n_screened": n_total,
        "n_randomized": plan.n_rand,
        "n_screen_failures": int(plan.n_fail),
        "n_withdrawn_in_screening": int(plan.n_withdraw),
        "randomized_per_arm": {k: int(v) for k, v in rz.group_by("ARMCD").len().sort("ARMCD").iter_rows()},
        "screened_per_site": {str(k): int(v) for k, v in subj.group_by("SITEID").len().sort("SITEID").iter_rows()},
        "screen_failures": {u: list(c) for u, c in sf_codes.sort("USUBJID").iter_rows()},
        "failed_criteria_counts": {k: int(v) for k, v in ie.group_by("IETESTCD").len().sort("IETESTCD").iter_rows()},
        "rescreened": [{"screen_failure_usubjid": str(usub[f]), "rescreen_usubjid": str(usub[r]),
                        "reason": "INCL12", "note": "new screening number at rescreening; same person"}
                       for f, r in rescreen_pairs],
        "never_treated": sorted(str(usub[i]) for i in never_rows),
        "maa_mapping_screen_failures": maa_rows.to_list(),
        "eligibility_discrepancies": {
            "randomized_failing_criterion": sorted(
                [{"USUBJID": str(usub[r]), "IETESTCD": str(c), "TESTCD": t, "VALUE": v}
                 for r, c, t, v in zip(inel_rows, inel_codes, inel_testcd, inel_values)], key=lambda d: d["USUBJID"]),
            "screen_failure_criterion_not_supported": sorted(
                [{"USUBJID": str(usub[r]), "IETESTCD": str(c)} for r, c in zip(uns_rows, uns_codes)],
                key=lambda d: d["USUBJID"]),
        },
        "randomization": {
            "method": "central, stratified by site, permuted blocks of varying size",
            "block_sizes": sorted(int(m) * int(sum(protocol.raw.get("randomization_ratio") or [1] * len(arms)))
                                  for m in BLOCK_MULTIPLES),
            "assumption": "the registry record does not describe the randomization; this scheme is the demo's assumption",
        },
        "partial_dates": sorted(
            [{"domain": "DM", "variable": "BRTHDTC", "usubjid": u, "value": v, "full_date": full.isoformat()}
             for u, v, full in subj.filter(pl.col("BRTHDTC").str.len_chars() < 10)
             .select("USUBJID", "BRTHDTC", "BRTHDT").sort("USUBJID").iter_rows()]
            + partial_ds, key=lambda d: (d["domain"], d["usubjid"])),
    }
    return truth


def _subject_frame(rng: np.random.Generator, plan: _Plan, sched: dict, values: dict, studyid: str,
                   sites: list, start: datetime.date) -> pl.DataFrame:
    """One row per attempt: numbers (per site in order of consent), dates and findings."""
    n = plan.n_total
    site_idx, consent, outcome = sched["site_idx"], sched["consent"], sched["outcome"]
    base = pl.DataFrame({
        "ROW": np.arange(n), "SITEIDX": site_idx, "CONSENT": consent, "KEY": rng.random(n),
        "SITEID": np.asarray([str(s["siteid"]) for s in sites], dtype=object)[site_idx],
    }).with_columns(pl.col("SITEID").cast(pl.String))
    width = max(4, len(str(int(np.bincount(site_idx).max()))))
    base = base.sort(["SITEIDX", "CONSENT", "KEY"]).with_columns(
        (pl.col("ROW").cum_count().over("SITEIDX")).alias("SEQ")).sort("ROW")
    base = base.with_columns(
        pl.lit(studyid).alias("STUDYID"),
        (pl.col("SITEID") + "-" + pl.col("SEQ").cast(pl.String).str.zfill(width)).alias("SUBJID"),
    ).with_columns((pl.col("STUDYID") + "-" + pl.col("SUBJID")).alias("USUBJID"))
    randomized = plan.role_name == "RANDOMIZED"
    ev = base.with_columns(
        pl.Series("STATUS", plan.role_name),
        days_to_dates(consent).alias("RFICDT"),
        days_to_dates(np.where(randomized, outcome, NEVER)).alias("RANDDT"),
        days_to_dates(np.where(~randomized, outcome, NEVER)).alias("ENDSCRDT"),
        days_to_dates(sched["lb_day"]).alias("LBDT"),
        days_to_dates(sched["img_day"]).alias("IMGDT"),
        days_to_dates(sched["map_day"]).alias("MAPDT"),
    )
    vals = _frame({k: v for k, v in values.items() if k in TYPICAL or k in ("SEX", "TUMBURD")}, np.arange(n))
    uln = pl.DataFrame({k: v for k, v in values.items() if k.endswith("_ULN") or k.endswith("_LLN")})
    return pl.concat([ev, vals, uln], how="horizontal")


def _birth_dates(rng: np.random.Generator, subj: pl.DataFrame, rescreen_pairs: list) -> pl.DataFrame:
    """Birth dates (some partial) consistent with AGE at consent; a rescreened person keeps one."""
    n = subj.height
    subj = subj.with_columns(pl.Series("BIRTH_BACK", rng.integers(1, 360, n)),
                             pl.Series("PARTIAL_U", rng.random(n))).with_columns(
        (pl.col("RFICDT").dt.offset_by(pl.format("-{}y", pl.col("AGE").cast(pl.Int64)))
         - pl.duration(days=pl.col("BIRTH_BACK"))).alias("BRTHDT"))
    if rescreen_pairs:
        fr = pl.DataFrame({"ROW": [f for f, _ in rescreen_pairs], "LINK": [r for _, r in rescreen_pairs]})
        link_birth = subj.select(pl.col("ROW").alias("LINK"), pl.col("BRTHDT").alias("LINK_BRTHDT"))
        subj = subj.join(fr.join(link_birth, on="LINK"), on="ROW", how="left", maintain_order="left").sort("ROW").with_columns(
            pl.coalesce("LINK_BRTHDT", "BRTHDT").alias("BRTHDT"),
            # one person, one birth date: complete in both attempts (the site copies it from
            # the same record), so the attempts can be seen to be one person
            pl.when(pl.col("LINK").is_not_null() | pl.col("ROW").is_in([r for _, r in rescreen_pairs]))
            .then(1.0).otherwise(pl.col("PARTIAL_U")).alias("PARTIAL_U"),
        ).drop("LINK", "LINK_BRTHDT")
        # age at this earlier consent from the shared birth date (may be a year less)
        subj = subj.with_columns(
            pl.when(pl.col("ROW").is_in([f for f, _ in rescreen_pairs])).then(
                (pl.col("RFICDT").dt.year() - pl.col("BRTHDT").dt.year()
                 - ((pl.col("RFICDT").dt.month().cast(pl.Int32) * 100 + pl.col("RFICDT").dt.day())
                    < (pl.col("BRTHDT").dt.month().cast(pl.Int32) * 100 + pl.col("BRTHDT").dt.day())).cast(pl.Int32)
                 ).cast(pl.Float64)
            ).otherwise(pl.col("AGE")).alias("AGE"))
    return subj.with_columns(
        pl.when(pl.col("PARTIAL_U") < PARTIAL_BRTHDTC_YEAR).then(compute_iso_date(pl.col("BRTHDT"), "year"))
        .when(pl.col("PARTIAL_U") < PARTIAL_BRTHDTC_YEAR + PARTIAL_BRTHDTC_MONTH)
        .then(compute_iso_date(pl.col("BRTHDT"), "month"))
        .otherwise(compute_iso_date(pl.col("BRTHDT"))).alias("BRTHDTC"))


def _build_ie(subj: pl.DataFrame, failed: np.ndarray, codes: list[str], reasons: dict, protocol) -> pl.DataFrame:
    """IE: the judgment reasons, every failed machine check, and the planted unsupported code
    (screen failures only: the randomized subjects' failed checks were missed by the site)."""
    fail_rows, fail_cols = np.nonzero(failed)
    rows = [fail_rows]
    tcds = [np.asarray(codes, dtype=object)[fail_cols]]
    for codes_i in reasons["judgment"]:               # primary, then second judgment reason
        rows_i = np.flatnonzero(codes_i != None)      # noqa: E711 (element-wise on objects)
        rows.append(rows_i)
        tcds.append(codes_i[rows_i])
    uns_rows, uns_codes = reasons["unsupported"]
    rows.append(uns_rows)
    tcds.append(uns_codes)
    ie_src = pl.DataFrame({"ROW": np.concatenate(rows).astype(np.int64),
                           "IETESTCD": np.concatenate(tcds).astype(str)},
                          schema={"ROW": pl.Int64, "IETESTCD": pl.String})
    cat_frame = pl.DataFrame({
        "IETESTCD": [c["ietestcd"] for c in protocol.eligibility],
        "IETEST": [c["ietest"] for c in protocol.eligibility],
        "IECAT": [c["iecat"] for c in protocol.eligibility],
        "CATORDER": list(range(len(protocol.eligibility))),
    })
    sf = subj.filter(pl.col("STATUS") == "SCREEN FAILURE")
    return (ie_src.join(cat_frame, on="IETESTCD").join(sf.select("ROW", "STUDYID", "USUBJID", "ENDSCRDT"), on="ROW")
            .sort(["ROW", "CATORDER"])
            .with_columns(
                pl.lit("IE").alias("DOMAIN"),
                pl.col("ROW").cum_count().over("ROW").cast(pl.Int64).alias("IESEQ"),
                pl.when(pl.col("IECAT") == "INCLUSION").then(pl.lit("N")).otherwise(pl.lit("Y")).alias("IEORRES"),
                pl.lit(SCREENING_VISITNUM).alias("VISITNUM"), pl.lit("SCREENING").alias("VISIT"),
                pl.lit("SCREENING").alias("EPOCH"), compute_iso_date(pl.col("ENDSCRDT")).alias("IEDTC"))
            .with_columns(pl.col("IEORRES").alias("IESTRESC"))
            .select("STUDYID", "DOMAIN", "USUBJID", "IESEQ", "IETESTCD", "IETEST", "IECAT", "IEORRES",
                    "IESTRESC", "VISITNUM", "VISIT", "EPOCH", "IEDTC"))       # no IEDY: screen failures have no RFSTDTC


def _build_dm(subj: pl.DataFrame, arms: dict[str, str]) -> pl.DataFrame:
    """DM of every attempt (SDTMIG 3.2 arms); reference dates are added by the orchestrator."""
    arm_map = pl.DataFrame({"ARMCD": list(arms), "ARM": list(arms.values())})
    return (subj.join(arm_map, on="ARMCD", how="left").with_columns(
        pl.lit("DM").alias("DOMAIN"),
        pl.when(pl.col("STATUS") == "SCREEN FAILURE").then(pl.lit("SCRNFAIL"))
          .when(pl.col("STATUS") == "WITHDRAWN").then(pl.lit("NOTASSGN")).otherwise(pl.col("ARMCD")).alias("ARMCD"),
        pl.when(pl.col("STATUS") == "SCREEN FAILURE").then(pl.lit("Screen Failure"))
          .when(pl.col("STATUS") == "WITHDRAWN").then(pl.lit("Not Assigned")).otherwise(pl.col("ARM")).alias("ARM"),
        compute_iso_date(pl.col("RFICDT")).alias("RFICDTC"),
        compute_iso_date(pl.col("RANDDT")).alias("RANDDTC"),
        pl.col("AGE").cast(pl.Int64), pl.lit("YEARS").alias("AGEU"),
        pl.lit("ASIAN").alias("RACE"), pl.lit("NOT HISPANIC OR LATINO").alias("ETHNIC"),
        pl.lit("CHN").alias("COUNTRY"),
        compute_iso_date(pl.col("RFICDT")).alias("DMDTC"),
        pl.when(pl.col("STATUS") != "RANDOMIZED").then(compute_iso_date(pl.col("ENDSCRDT"))).alias("RFPENDTC"),
    ).with_columns(
        pl.when(pl.col("NEVER_TREATED")).then(pl.lit("NOTTRT")).otherwise(pl.col("ARMCD")).alias("ACTARMCD"),
        pl.when(pl.col("NEVER_TREATED")).then(pl.lit("Not Treated")).otherwise(pl.col("ARM")).alias("ACTARM"),
    ).select("STUDYID", "DOMAIN", "USUBJID", "SUBJID", "RFICDTC", "RANDDTC", "RFPENDTC", "SITEID", "BRTHDTC", "AGE",
             "AGEU", "SEX", "RACE", "ETHNIC", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "COUNTRY", "DMDTC"))


def _build_ds(subj: pl.DataFrame) -> tuple[pl.DataFrame, list[dict]]:
    """DS screening rows (consent, randomization, screen failure, withdrawal); one screening
    withdrawal recorded with a month-only date, as CRFs allow."""
    ds_parts = [
        subj.select("ROW", "STUDYID", "USUBJID", pl.lit("INFORMED CONSENT OBTAINED").alias("DSTERM"),
                    pl.lit("INFORMED CONSENT OBTAINED").alias("DSDECOD"), pl.lit("PROTOCOL MILESTONE").alias("DSCAT"),
                    pl.col("RFICDT").alias("DT"), pl.lit(0).alias("ORD")),
        subj.filter(pl.col("STATUS") == "RANDOMIZED").select(
            "ROW", "STUDYID", "USUBJID", pl.lit("RANDOMIZED").alias("DSTERM"), pl.lit("RANDOMIZED").alias("DSDECOD"),
            pl.lit("PROTOCOL MILESTONE").alias("DSCAT"), pl.col("RANDDT").alias("DT"), pl.lit(1).alias("ORD")),
        subj.filter(pl.col("STATUS") == "SCREEN FAILURE").select(
            "ROW", "STUDYID", "USUBJID", pl.lit("DID NOT MEET ELIGIBILITY CRITERIA").alias("DSTERM"),
            pl.lit("SCREEN FAILURE").alias("DSDECOD"), pl.lit("DISPOSITION EVENT").alias("DSCAT"),
            pl.col("ENDSCRDT").alias("DT"), pl.lit(2).alias("ORD")),
        subj.filter(pl.col("STATUS") == "WITHDRAWN").select(
            "ROW", "STUDYID", "USUBJID", pl.lit("SUBJECT WITHDREW CONSENT DURING SCREENING").alias("DSTERM"),
            pl.lit("WITHDRAWAL BY SUBJECT").alias("DSDECOD"), pl.lit("DISPOSITION EVENT").alias("DSCAT"),
            pl.col("ENDSCRDT").alias("DT"), pl.lit(2).alias("ORD")),
    ]
    ds = pl.concat(ds_parts).with_columns(
        pl.lit("DS").alias("DOMAIN"), pl.lit("SCREENING").alias("EPOCH"),
        compute_iso_date(pl.col("DT")).alias("DSSTDTC"),
    ).with_columns(pl.col("DSSTDTC").alias("DSDTC"))
    partial_ds = []
    wd = subj.filter(pl.col("STATUS") == "WITHDRAWN").sort("ROW").head(1)
    if wd.height:
        u = wd["USUBJID"][0]
        is_wd = (pl.col("USUBJID") == u) & (pl.col("DSDECOD") == "WITHDRAWAL BY SUBJECT")
        ds = ds.with_columns(pl.when(is_wd).then(pl.col("DSSTDTC").str.slice(0, 7)).otherwise(pl.col("DSSTDTC"))
                             .alias("DSSTDTC"))
        partial_ds.append({"domain": "DS", "variable": "DSSTDTC", "usubjid": u,
                           "full_date": wd["ENDSCRDT"][0].isoformat(), "value": ds.filter(is_wd)["DSSTDTC"][0]})
    ds = ds.select("STUDYID", "DOMAIN", "USUBJID", "DSTERM", "DSDECOD", "DSCAT", "EPOCH", "DSDTC", "DSSTDTC", "ORD")
    return ds, partial_ds


def _findings_qs(subj: pl.DataFrame) -> pl.DataFrame:
    """QS: the ECOG performance status at screening (QSCAT ECOG, QSTESTCD ECOG101)."""
    qs = subj.select("STUDYID", "USUBJID", pl.lit("QS").alias("DOMAIN"), pl.lit("ECOG").alias("QSCAT"),
                     pl.lit("ECOG101").alias("QSTESTCD"), pl.lit("ECOG1-Performance Status").alias("QSTEST"),
                     pl.col("ECOG101").cast(pl.Int64).cast(pl.String).alias("QSORRES"),
                     pl.col("ECOG101").cast(pl.Int64).cast(pl.String).alias("QSSTRESC"),
                     pl.col("ECOG101").alias("QSSTRESN"), pl.lit("Y").alias("QSBLFL"),
                     pl.lit(SCREENING_VISITNUM).alias("VISITNUM"), pl.lit("SCREENING").alias("VISIT"),
                     pl.lit("SCREENING").alias("EPOCH"), compute_iso_date(pl.col("LBDT")).alias("QSDTC"),
                     compute_study_day(pl.col("LBDT"), pl.col("RANDDT")).alias("QSDY")
                     ).with_columns(pl.lit(1, dtype=pl.Int64).alias("QSSEQ"))
    return qs.select("STUDYID", "DOMAIN", "USUBJID", "QSSEQ", *[c for c in qs.columns
                                                               if c not in ("STUDYID", "DOMAIN", "USUBJID", "QSSEQ")])


def _num_str(col: str, dec: int | None) -> pl.Expr:
    if dec == 0:
        return pl.col(col).round(0).cast(pl.Int64).cast(pl.String)
    return pl.col(col).round(dec).cast(pl.String)


def _stack_findings(subj: pl.DataFrame, parts: list[tuple[pl.Expr, ...]], domain: str,
                    columns: list[str]) -> pl.LazyFrame:
    """One screening findings domain, lazily: each subject row becomes one row per test (the
    tests' expression lists, all naming the same columns in the same order) by ``explode``,
    so rows come by subject then test with no sort; ``--SEQ`` 1.. per subject, baseline flag
    ``--BLFL`` "Y", VISITNUM / VISIT and EPOCH "SCREENING"; ``columns`` orders the result (the
    ``--`` names are written with the domain prefix, e.g. ``--SEQ`` -> ``LBSEQ``)."""
    parts = [tuple(pl.col(e) if isinstance(e, str) else e for e in part) for part in parts]
    names = [e.meta.output_name() for e in parts[0]]
    test = pl.col("_TEST")

    def chain(j: int) -> pl.Expr:
        out = pl.when(test == 0).then(parts[0][j])
        for i, part in enumerate(parts[1:], 1):
            out = out.when(test == i).then(part[j])
        return out.alias(names[j])

    needed = sorted({root for part in parts for e in part for root in e.meta.root_names()})
    return Planned(subj.select(needed), lambda source: (  # explode copies every column: only the ones used
            source.with_columns(pl.lit(list(range(len(parts))), dtype=pl.List(pl.Int16)).alias("_TEST"))
            .explode("_TEST")
            .select(*[chain(j) for j in range(len(names))], (test + 1).cast(pl.Int64).alias(f"{domain}SEQ"))
            .with_columns(pl.lit(domain).alias("DOMAIN"), pl.lit("Y").alias(f"{domain}BLFL"),
                          pl.lit(SCREENING_VISITNUM).alias("VISITNUM"), pl.lit("SCREENING").alias("VISIT"),
                          pl.lit("SCREENING").alias("EPOCH"))
            .select([c.replace("--", domain) for c in columns])))


def compute_number_text(value: pl.Expr, decimals: pl.Expr) -> pl.Expr:
    """A result as CRFs print it: whole numbers without decimals (``35``), others as rounded
    (``20.5``); ``decimals`` 0 prints a whole number.

    Example:
        >>> pl.DataFrame({"V": [35.0, 20.5]}).select(compute_number_text(pl.col("V"), pl.lit(1)))["V"].to_list()
        ['35.0', '20.5']
    """
    return pl.when(decimals == 0).then(value.cast(pl.Int64).cast(pl.String)).otherwise(value.cast(pl.String))


def compute_range_text(limit: pl.Expr) -> pl.Expr:
    """A reference-range limit as a lab prints it: ``50`` for 50.0, ``20.5`` for 20.5."""
    return pl.when(limit == limit.floor()).then(limit.cast(pl.Int64).cast(pl.String)).otherwise(limit.cast(pl.String))


LAB_VISIT_COLUMNS = ["STUDYID", "USUBJID", "_DT", "_RANDDT", "VISITNUM", "VISIT", "EPOCH", "LBBLFL", "_N", "_TESTS",
                     *[f"{c}{suffix}" for c in LAB_TESTS for suffix in ("", "_ULN", "_LLN")]]


def build_lab_records(visits: pl.LazyFrame) -> pl.LazyFrame:
    """LB from one row per lab visit (``LAB_VISIT_COLUMNS``: the date ``_DT``, randomization
    ``_RANDDT``, the tests done ``_TESTS`` as indices into LAB_TESTS, LBSEQ offset ``_N``, and
    per test ``<code>``, ``<code>_ULN``, ``<code>_LLN``): one row per test by ``explode``,
    numbers picked by test and formatted once, terms as Enums; the text is made when the
    lazy frame is written. One builder for screening and treatment LB, so the two can be
    written as one streamed plan."""
    codes = list(LAB_TESTS)
    test = pl.col("_TEST")

    def values(suffix: str) -> pl.Expr:
        # the visit's results of its tests, as a list aligned with _TESTS (no per-test branches)
        return pl.concat_list([pl.col(f"{c}{suffix}").cast(pl.Float64) for c in codes]).list.gather(pl.col("_TESTS"))

    def term(key: str) -> pl.Expr:
        return test.replace_strict({i: LAB_TESTS[c][key] for i, c in enumerate(codes)},
                                   return_dtype=pl.Enum(sorted({v[key] for v in LAB_TESTS.values()})))

    decimals = test.replace_strict({i: LAB_TESTS[c]["dec"] for i, c in enumerate(codes)}, return_dtype=pl.Int8)
    val, uln, lln = pl.col("_VAL"), pl.col("_ULN"), pl.col("_LLN")
    text = compute_number_text(val, decimals)
    return (visits.select(LAB_VISIT_COLUMNS)
            .select("STUDYID", "USUBJID", "_DT", "_RANDDT", "VISITNUM", "VISIT", "EPOCH", "LBBLFL", "_N", "_TESTS",
                    values("").alias("_VAL"), values("_ULN").alias("_ULN"), values("_LLN").alias("_LLN"),
                    pl.int_ranges(0, pl.col("_TESTS").list.len(), dtype=pl.Int16).alias("_P"))
            .explode(["_TESTS", "_VAL", "_ULN", "_LLN", "_P"]).rename({"_TESTS": "_TEST"})
            .select(
                "STUDYID", pl.lit("LB").alias("DOMAIN"), "USUBJID", (pl.col("_N") + pl.col("_P") + 1).cast(pl.Int64).alias("LBSEQ"),
                test.replace_strict(dict(enumerate(codes)), return_dtype=pl.Enum(sorted(codes))).alias("LBTESTCD"),
                term("test").alias("LBTEST"), term("cat").alias("LBCAT"), text.alias("LBORRES"), term("unit").alias("LBORRESU"),
                compute_range_text(lln).alias("LBORNRLO"), compute_range_text(uln).alias("LBORNRHI"),
                text.alias("LBSTRESC"), val.alias("LBSTRESN"), term("unit").alias("LBSTRESU"),
                lln.alias("LBSTNRLO"), uln.alias("LBSTNRHI"),
                pl.when(val < lln).then(pl.lit("LOW")).when(val > uln).then(pl.lit("HIGH"))
                .otherwise(pl.lit("NORMAL")).alias("LBNRIND"),
                "LBBLFL", "VISITNUM", "VISIT", "EPOCH", pl.col("_DT").alias("LBDTC"),
                compute_study_day(pl.col("_DT"), pl.col("_RANDDT")).alias("LBDY")))


def screening_lab_visits(subj: pl.DataFrame) -> pl.DataFrame:
    """The screening lab visit of every attempt, as :func:`build_lab_records` takes it."""
    codes = list(LAB_TESTS)
    return subj.select(
        "STUDYID", "USUBJID", pl.col("LBDT").alias("_DT"), pl.col("RANDDT").alias("_RANDDT"),
        pl.lit(SCREENING_VISITNUM).alias("VISITNUM"), pl.lit("SCREENING").alias("VISIT"),
        pl.lit("SCREENING").alias("EPOCH"), pl.lit("Y").alias("LBBLFL"), pl.lit(0, dtype=pl.Int64).alias("_N"),
        pl.lit(list(range(len(codes))), dtype=pl.List(pl.Int16)).alias("_TESTS"),
        *[pl.col(c).round(LAB_TESTS[c]["dec"]).alias(c) for c in codes],
        *[pl.col(f"{c}{s}") for c in codes for s in ("_ULN", "_LLN")]).select(LAB_VISIT_COLUMNS)


def _findings_vs(subj: pl.DataFrame) -> pl.LazyFrame:
    """VS at screening: WEIGHT, HEIGHT, SYSBP, DIABP (VS_TESTS), dated with the screening labs."""
    parts = []
    for code, (test, unit, dec) in VS_TESTS.items():
        parts.append((
            "STUDYID", "USUBJID", pl.lit(code).alias("VSTESTCD"), pl.lit(test).alias("VSTEST"),
            _num_str(code, dec).alias("VSORRES"), pl.lit(unit).alias("VSORRESU"),
            _num_str(code, dec).alias("VSSTRESC"), pl.col(code).round(dec).alias("VSSTRESN"),
            pl.lit(unit).alias("VSSTRESU"), compute_iso_date(pl.col("LBDT")).alias("VSDTC"),
            compute_study_day(pl.col("LBDT"), pl.col("RANDDT")).alias("VSDY")))
    return _stack_findings(subj, parts, "VS", [
        "STUDYID", "DOMAIN", "USUBJID", "--SEQ", "--TESTCD", "--TEST", "--ORRES", "--ORRESU", "--STRESC",
        "--STRESN", "--STRESU", "--BLFL", "VISITNUM", "VISIT", "EPOCH", "--DTC", "--DY"])


def _findings_fa(subj: pl.DataFrame) -> pl.LazyFrame:
    """FA at screening (FA_TESTS): Child-Pugh inputs dated with the labs, CNLC and SIRT
    eligibility findings dated with the screening imaging; categorical results in FASTRESC
    only, numeric ones also in FASTRESN."""
    parts = []
    for code, (test, cat, obj, unit, dec) in FA_TESTS.items():
        if dec is None:
            res, num = pl.col(code), pl.lit(None, dtype=pl.Float64)
        else:
            res, num = _num_str(code, dec), pl.col(code).round(dec)
        parts.append((
            "STUDYID", "USUBJID", pl.lit(code).alias("FATESTCD"), pl.lit(test).alias("FATEST"),
            pl.lit(obj).alias("FAOBJ"), pl.lit(cat).alias("FACAT"), res.alias("FAORRES"),
            pl.lit(unit, dtype=pl.String).alias("FAORRESU"), res.alias("FASTRESC"), num.alias("FASTRESN"),
            pl.lit(unit, dtype=pl.String).alias("FASTRESU"),
            compute_iso_date(pl.col("IMGDT" if cat != "CHILD-PUGH" else "LBDT")).alias("FADTC"),
            compute_study_day(pl.col("IMGDT" if cat != "CHILD-PUGH" else "LBDT"), pl.col("RANDDT")).alias("FADY")))
    return _stack_findings(subj, parts, "FA", [
        "STUDYID", "DOMAIN", "USUBJID", "--SEQ", "--TESTCD", "--TEST", "FAOBJ", "--CAT", "--ORRES",
        "--ORRESU", "--STRESC", "--STRESN", "--STRESU", "--BLFL", "VISITNUM", "VISIT", "EPOCH", "--DTC", "--DY"])
