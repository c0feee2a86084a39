"""The screening half of the demo study: who was screened, who failed and why, and the
screening findings that make every eligibility decision reproducible from the data.

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
  where labs report them so): PLT, NEUT, HGB, BILI, ALT, AST, ALP, ALB, CREAT, INR.
- **VS** (screening): WEIGHT (kg), HEIGHT (cm), SYSBP, DIABP (mmHg).
- **QS**: ECOG performance status, QSCAT "ECOG", QSTESTCD "ECOG101".
- **FA** (screening imaging and clinical findings; inputs of Child-Pugh and CNLC):
  FACAT "CHILD-PUGH": ASCITES (ABSENT/MILD/MODERATE/SEVERE), HEPENCEP (NONE/GRADE 1-2/
  GRADE 3-4); FACAT "CNLC STAGING": TUMNUM (number of intrahepatic tumours), TUMLDIAM
  (largest diameter, mm), VASCINV (most extensive macrovascular invasion: NONE, VP1-VP4,
  HVTT), EXTRAHEP (Y/N); FACAT "SIRT ELIGIBILITY": TUMBURD (tumour % of liver volume).
- **PR**: the 99mTc-MAA mapping of screen failures found unsuitable for SIRT (INCL07).

Every machine-checkable criterion is evaluated on these findings with
:func:`compute_check` from the protocol file's ``check`` (no threshold lives in this
module); IE holds exactly the failed checks plus planted judgment criteria (prior therapy,
MAA mapping, ...), so IE and the findings always agree.

Columns of the ``randomized`` frame handed to ``trialkit.demo.treatment`` (one row per
randomized subject): STUDYID, USUBJID, SITEID, SUBJID, ARMCD, ARM, RANDDT (date), RFICDT
(date), AGE, SEX, WEIGHT_KG, HEIGHT_CM, NEVER_TREATED (bool), ECOG (0/1), and baseline tumour
facts consistent with FA: TUMOR_COUNT (intrahepatic tumours), LARGEST_MM (largest diameter),
VASCINV, TUMBURD_PCT, SCREEN_IMAGING_DT (date of the screening imaging, before RANDDT).

Example:
    >>> import datetime
    >>> from trialkit.protocol import load_protocol
    >>> s = generate_screening(n_randomized=8, seed=1, cutoff=datetime.date(2026, 10, 31),
    ...                        protocol=load_protocol("NCT07334483"))
    >>> s.randomized.height, sorted(s.datasets)
    (8, ['dm', 'ds', 'fa', 'ie', 'lb', 'pr', 'qs', 'vs'])
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import polars as pl

# Population assumptions of the demo (Chinese HCC, mostly HBV cirrhosis); not protocol rules.
SCREENED_PER_RANDOMIZED = 200 / 120
SCREEN_WITHDRAWAL_RATE = 0.03
ACCRUAL_DAYS = 343                   # consent from the study start to ~end of July 2026
SCREENING_MAX_DAYS = 28
MIN_CUTOFF_DAYS = 60                 # a cutoff sooner than this after the start is refused
PARTIAL_BRTHDTC_YEAR = 0.04
PARTIAL_BRTHDTC_MONTH = 0.02

# Laboratory tests: code, name, category, SI unit, decimals, reference range (low, high) by
# sex where labs report sex-specific intervals (Chinese WS/T 404 style). Per-site BILI ULN.
LAB_TESTS: dict[str, dict[str, Any]] = {
    "PLT": {"test": "Platelets", "cat": "HEMATOLOGY", "unit": "10^9/L", "dec": 0, "ref": {"M": (125, 350), "F": (125, 350)}},
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
    "TUMNUM": ("Number of Intrahepatic Tumours", "CNLC STAGING", "HEPATOCELLULAR CARCINOMA", None, 0),
    "TUMLDIAM": ("Largest Tumour Diameter", "CNLC STAGING", "HEPATOCELLULAR CARCINOMA", "mm", 0),
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
            **{k: v[2] for k, v in VS_TESTS.items()}, "TUMNUM": 0, "TUMLDIAM": 0, "TUMBURD": 0}


# ---------------------------------------------------------------- protocol checks -> exprs
def _leaf_value(check: dict[str, Any]) -> pl.Expr:
    return pl.col(str(check["testcd"]))


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
        return value.is_in([str(t) for t in threshold])
    if op == "not_in":
        return ~value.is_in([str(t) for t in threshold])
    raise ValueError(f"trialkit: unknown check operator {op!r} in the protocol file")


def compute_composite(name: str, definition: dict[str, Any]) -> pl.Expr:
    """The value of a composite named in the protocol file (Child-Pugh, CNLC, Cockcroft-Gault).

    Args:
        name: CHILD_PUGH_SCORE, CNLC or CRCL_CG.
        definition: the ``definition`` mapping of the protocol file's check.

    Example:
        >>> bands = [{"points": 1, "lt": 34}, {"points": 2, "le": 51}, {"points": 3}]
        >>> cp = {"inputs": [{"testcd": "BILI", "bands": bands}], "classes": {}}
        >>> pl.DataFrame({"BILI": [20.0, 40.0, 60.0]}).select(
        ...     compute_composite("CHILD_PUGH_SCORE", cp).alias("P"))["P"].to_list()
        [1, 2, 3]
    """
    if name == "CHILD_PUGH_SCORE":
        points = []
        for inp in definition["inputs"]:
            col = pl.col(str(inp["testcd"]))
            if "values" in inp:
                points.append(col.replace_strict({str(k): int(v) for k, v in inp["values"].items()},
                                                 return_dtype=pl.Int64))
                continue
            expr = None
            for band in inp["bands"]:
                bounds = [(op, band[op]) for op in ("lt", "le", "gt", "ge") if op in band]
                cond = _compare(col, *bounds[0]) if bounds else pl.lit(True)
                expr = pl.when(cond).then(band["points"]) if expr is None else expr.when(cond).then(band["points"])
            points.append(expr.otherwise(None))
        return pl.sum_horizontal(points)
    if name == "CNLC":
        expr = None
        default = None
        for rule in definition["rules"]:
            conds = [k for k in ("any", "all") if k in rule]
            if not conds:
                default = str(rule["stage"])
                continue
            cond = compute_check({conds[0]: rule[conds[0]]})
            expr = pl.when(cond).then(pl.lit(str(rule["stage"]))) if expr is None \
                else expr.when(cond).then(pl.lit(str(rule["stage"])))
        return expr.otherwise(pl.lit(default))
    if name == "CRCL_CG":
        d = definition
        age = pl.col(str(d["age"]["testcd"]))
        weight = pl.col(str(d["weight"]["testcd"]))
        creat_mg = pl.col(str(d["creatinine"]["testcd"])) / d["umol_per_mg_dl"]
        factor = pl.when(pl.col(str(d["sex"]["testcd"])) == str(d["sex"]["female"])).then(d["female_factor"]).otherwise(1.0)
        return (d["age_offset"] - age) * weight / (d["divisor"] * creat_mg) * factor
    raise ValueError(f"trialkit: unknown composite {name!r} in the protocol file")


def compute_check(check: dict[str, Any]) -> pl.Expr:
    """A protocol ``check`` as a boolean expression: True where the subject is eligible.

    Works on a wide frame with one column per input (named by its test code) and, for ×ULN
    rules, ``<TESTCD>_ULN``. Null inputs give null (not eligible, not failed).

    Example:
        >>> frame = pl.DataFrame({"PLT": [60.0, 150.0]})
        >>> frame.select(compute_check({"source": "LB", "testcd": "PLT", "op": "ge", "threshold": 75}))["PLT"].to_list()
        [False, True]
    """
    if "any" in check:
        return pl.any_horizontal([compute_check(c) for c in check["any"]])
    if "all" in check:
        return pl.all_horizontal([compute_check(c) for c in check["all"]])
    if "composite" in check:
        value = compute_composite(str(check["composite"]), check["definition"])
        return _compare(value, check["op"], check["threshold"])
    value = _leaf_value(check)
    if "uln_multiple" in check:
        return _compare(value, check["op"], pl.col(f"{check['testcd']}_ULN") * check["uln_multiple"])
    return _compare(value, check["op"], check["threshold"])


def checkable_criteria(protocol) -> list[dict[str, Any]]:
    """The catalog entries that carry a machine ``check``."""
    return [c for c in protocol.eligibility if c.get("check")]


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
    "PLT": _lognormal(155, 0.38, 30, 500),
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
    "TUMNUM": _ints(list(range(1, 11)), [44, 15, 12, 8, 7, 4, 3, 3, 2, 2]),
    "TUMLDIAM": _lognormal(62, 0.5, 12, 180),
    "VASCINV": _choice("VASCINV", {"NONE": 0.70, "VP1": 0.06, "VP2": 0.10, "VP3": 0.12, "VP4": 0.01, "HVTT": 0.01}),
    "EXTRAHEP": _choice("EXTRAHEP", {"N": 0.995, "Y": 0.005}),
}
LIVER_VOLUME_ML = (1500, 250)        # normal mean, sd: tumour burden = tumour / (liver + tumour)
EXTRA_TUMOUR_VOLUME = 0.3            # each further tumour adds this share of the largest's volume


def _tumour_burden(rng: np.random.Generator, ldiam: np.ndarray, tumnum: np.ndarray) -> np.ndarray:
    # Spheres: the burden follows the largest diameter and the count, so FA is coherent.
    v = np.pi / 6 * (ldiam / 10) ** 3 * (1 + EXTRA_TUMOUR_VOLUME * (tumnum - 1))
    liver = np.clip(rng.normal(*LIVER_VOLUME_ML, len(ldiam)), 900, 2500)
    return np.clip(100 * v / (liver + v) * np.exp(rng.normal(0, 0.15, len(ldiam))), 0.5, 95)
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
        "TUMLDIAM": _normal(150, 18, 110, 190), "TUMNUM": _ints([1, 2, 3, 4, 5], [3, 2, 2, 1, 1])}),
    "PORTAL_VP4": Scenario("INCL05B", 5, {"VASCINV": _choice("VASCINV", {"VP4": 1.0})}),
    "HEPATIC_VEIN": Scenario("EXCL04", 4, {"VASCINV": _choice("VASCINV", {"HVTT": 1.0})}),
    "EXTRAHEPATIC": Scenario("INCL05A", 7, {"EXTRAHEP": _choice("EXTRAHEP", {"Y": 1.0})}),
    "CNLC_EARLY": Scenario("INCL05A", 2, {
        "TUMNUM": _ints([1], [1.0]), "TUMLDIAM": _normal(32, 8, 12, 50),
        "VASCINV": _choice("VASCINV", {"NONE": 1.0})}),
    "ECOG": Scenario("INCL09", 4, {"ECOG101": _ints([2, 3], [0.85, 0.15])}, collateral=True),
    "PRIOR_LOCAL": Scenario("EXCL09", 7),
    "PRIOR_SYSTEMIC": Scenario("EXCL07", 5),
    "INFILTRATIVE": Scenario("EXCL02", 4),
    "BLEEDING_RISK": Scenario("EXCL23", 4),
    "RESECTABLE": Scenario("INCL04", 3),
    "HBV_UNCONTROLLED": Scenario("INCL12", 3),
    "PLT": Scenario("INCL13B", 5, beyond=("PLT",)),
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
    truth: dict[str, Any]


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


def _draw_baseline(rng: np.random.Generator, roles: np.ndarray, scenarios: np.ndarray,
                   site_idx: np.ndarray, protocol, judgment_codes: tuple[np.ndarray, np.ndarray]
                   ) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    """Draw screening values; resample (vectorized, per pending subset) until consistent.

    roles: 0 eligible (randomized or withdrew in screening), 1 screen failure.
    scenarios: index into SCENARIOS for screen failures (-1 otherwise).
    Returns the values, the checked IETESTCDs and the (n, n_checks) failure matrix.
    """
    n = len(roles)
    checks = checkable_criteria(protocol)
    codes = [c["ietestcd"] for c in checks]
    exprs = [compute_check(c["check"]).fill_null(False).alias(c["ietestcd"]) for c in checks]
    by_code = {c["ietestcd"]: c for c in checks}
    scen_list = list(SCENARIOS.values())
    sex = (rng.random(n) > SEX_P_MALE).astype(np.int64)      # 0 = M, 1 = F
    values: dict[str, np.ndarray] = {"SEX": sex}
    ctx_all = _uln_context(site_idx, sex)
    n_judgment = sum((j != None).astype(np.int64) for j in judgment_codes)  # noqa: E711
    failed = np.zeros((n, len(codes)), dtype=bool)
    pending = np.arange(n)
    for attempt in range(200):
        if len(pending) == 0:
            break
        ctx = {"SEX": sex[pending], **{k: v[pending] for k, v in ctx_all.items()}}
        draw = {var: sampler(rng, ctx) for var, sampler in TYPICAL.items()}
        for s_i, scen in enumerate(scen_list):
            sel = scenarios[pending] == s_i
            if not sel.any():
                continue
            sub = {k: v[sel] for k, v in ctx.items()}
            for var, sampler in scen.overrides.items():
                draw[var][sel] = sampler(rng, sub)
            for var in scen.beyond:
                leaf = _find_leaf(by_code[scen.target]["check"], var)
                draw[var][sel] = _beyond(leaf)(rng, sub)
        draw["TUMBURD"] = _tumour_burden(rng, np.round(draw["TUMLDIAM"]), np.round(draw["TUMNUM"]))
        for var, arr in draw.items():
            if attempt == 0:
                values[var] = np.zeros(n, dtype=arr.dtype if var in CATEGORIES else float)
            values[var][pending] = _round(var, arr)
        frame = _frame({k: v for k, v in values.items()}, pending).with_columns(
            [pl.Series(k, v[pending]) for k, v in ctx_all.items()])
        fail = ~frame.select(exprs).to_numpy().astype(bool)
        role = roles[pending]
        total = fail.sum(axis=1) + n_judgment[pending]
        ok = np.where(role == 0, total == 0, (total >= 1) & (total <= 3))
        for s_i, scen in enumerate(scen_list):
            sel = (scenarios[pending] == s_i)
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


def _consent_days(rng: np.random.Generator, n: int, accrual_days: int) -> np.ndarray:
    # Accrual ramps up as sites open: more consents later in the period.
    return (np.floor(accrual_days * rng.random(n) ** 0.8)).astype(np.int64)


def generate_screening(*, n_randomized: int, seed: int, cutoff: datetime.date, protocol) -> Screening:
    """Simulate screening and randomization: DM, DS, IE, LB, VS, QS, FA and screening PR.

    Args:
        n_randomized: subjects randomized (screened ≈ n × 200/120).
        seed: the demo seed; this module uses the stream ``[seed, 1]``.
        cutoff: data cutoff; all screening happens at least 30 days before it.
        protocol: a loaded :class:`trialkit.protocol.Protocol`.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> s = generate_screening(n_randomized=4, seed=7, cutoff=datetime.date(2026, 10, 31),
        ...                        protocol=load_protocol("NCT07334483"))
        >>> s.truth["n_randomized"], s.datasets["dm"].height >= 4
        (4, True)
    """
    rng = np.random.default_rng([seed, 1])
    study = protocol.study
    studyid = str(study.get("sponsor_code") or protocol.study_id)
    start = study["start_date"]
    if isinstance(start, str):
        start = datetime.date.fromisoformat(start)
    accrual_days = min(ACCRUAL_DAYS, (cutoff - start).days - SCREENING_MAX_DAYS - 2)
    catalog = {c["ietestcd"]: c for c in protocol.eligibility}
    sites = protocol.sites
    arms = {a["armcd"]: a["arm"] for a in protocol.arms}

    n_rand = int(n_randomized)
    n_total = max(n_rand + 1, int(round(n_rand * SCREENED_PER_RANDOMIZED)))
    n_nonrand = n_total - n_rand
    n_rescreen = max(1, n_rand // 120) if (n_nonrand >= 2 and n_rand >= 4) else 0
    n_withdraw = min(int(round(n_total * SCREEN_WITHDRAWAL_RATE)), max(0, n_nonrand - n_rescreen - 1))
    n_fail = n_nonrand - n_withdraw          # includes the rescreened subjects' first attempts
    # Row layout: [randomized | withdrawn | screen failures (first n_rescreen = rescreen pairs)]
    role_name = np.array(["RANDOMIZED"] * n_rand + ["WITHDRAWN"] * n_withdraw + ["SCREEN FAILURE"] * n_fail)
    roles = (role_name == "SCREEN FAILURE").astype(np.int64)
    first_fail = n_rand + n_withdraw

    # Site, consent, and the outcome date of each attempt.
    site_w = rng.dirichlet(np.full(len(sites), 40.0))     # sites recruit at similar rates
    site_idx = rng.choice(len(sites), size=n_total, p=site_w)
    consent_day = _consent_days(rng, n_total, accrual_days)
    rand_offset = rng.integers(5, SCREENING_MAX_DAYS, n_total)        # consent -> randomization
    fail_offset = rng.integers(3, SCREENING_MAX_DAYS, n_total)        # consent -> failure/withdrawal
    # Rescreened: the first attempt is a screen failure of a randomized subject, 35-60 days
    # before the consent of the successful attempt, at the same site, with a new number.
    rescreen_pairs = []
    if n_rescreen:
        eligible = np.flatnonzero(consent_day[:n_rand] >= 70)
        if len(eligible) < n_rescreen:
            consent_day[:n_rescreen] += 70
            eligible = np.arange(n_rescreen)
        linked = np.sort(rng.choice(eligible, size=n_rescreen, replace=False))
        for k, r in enumerate(linked):
            f = first_fail + k
            site_idx[f] = site_idx[r]
            consent_day[f] = consent_day[r] - rng.integers(35, 61)
            rescreen_pairs.append((int(f), int(r)))

    # Why each screen failure failed: a primary scenario, sometimes a second judgment reason.
    names = list(SCENARIOS)
    usable = [i for i, s in enumerate(SCENARIOS.values()) if s.target in catalog]
    w = np.array([SCENARIOS[names[i]].weight for i in usable])
    scenarios = np.full(n_total, -1, dtype=np.int64)
    scenarios[first_fail:] = np.asarray(usable)[rng.choice(len(usable), size=n_fail, p=w / w.sum())]
    hbv = names.index("HBV_UNCONTROLLED")
    for f, _ in rescreen_pairs:                  # fixed at the next visit: HBV-DNA suppressed
        scenarios[f] = hbv
    checkable = {c["ietestcd"] for c in checkable_criteria(protocol)}
    pool = [s for s in SCENARIOS.values() if s.target not in checkable and s.target in catalog]
    judgment_pool = [s.target for s in pool]
    pool_w = np.array([s.weight for s in pool])
    second = rng.random(n_total) < SECOND_REASON_RATE
    second_pick = rng.choice(len(pool), size=n_total, p=pool_w / pool_w.sum())
    # Judgment (not machine-checkable) criteria per attempt, as two code columns (None = none):
    # the primary scenario's target when it is a judgment criterion, and a second reason.
    judged = np.asarray([None if s.target in checkable else s.target for s in SCENARIOS.values()] + [None],
                        dtype=object)                 # per scenario; index -1 (no failure) -> None
    primary = judged[scenarios]
    extra = np.asarray(judgment_pool, dtype=object)[second_pick]
    is_rescreen_first = np.zeros(n_total, dtype=bool)
    is_rescreen_first[[f for f, _ in rescreen_pairs]] = True
    extra = np.where((scenarios >= 0) & second & (extra != primary) & ~is_rescreen_first, extra, None)
    judgment = (primary, extra)
    values, codes, failed = _draw_baseline(rng, roles, scenarios, site_idx, protocol, judgment)
    # The rescreened first attempt is the same person weeks earlier: same findings (all
    # checks pass), failed only for the uncontrolled HBV-DNA (a judgment criterion).
    for f, r in rescreen_pairs:
        for var in values:
            values[var][f] = values[var][r]
        failed[f] = failed[r]

    # Subject numbers: per site, in order of consent; USUBJID = STUDYID-SITEID-NNNN.
    order_key = rng.random(n_total)
    base = pl.DataFrame({
        "ROW": np.arange(n_total), "SITEIDX": site_idx, "CONSENT_DAY": consent_day, "KEY": order_key,
        "SITEID": np.asarray([str(s["siteid"]) for s in sites], dtype=object)[site_idx],
    }).with_columns(pl.col("SITEID").cast(pl.String))
    width = max(4, len(str(int(np.bincount(site_idx).max()))))
    base = base.sort(["SITEIDX", "CONSENT_DAY", "KEY"]).with_columns(
        (pl.col("ROW").cum_count().over("SITEIDX")).alias("SEQ")).sort("ROW")
    base = base.with_columns(
        pl.lit(studyid).alias("STUDYID"),
        (pl.col("SITEID") + "-" + pl.col("SEQ").cast(pl.String).str.zfill(width)).alias("SUBJID"),
    ).with_columns((pl.col("STUDYID") + "-" + pl.col("SUBJID")).alias("USUBJID"))

    start_lit = pl.lit(start)
    ev = base.with_columns(
        pl.Series("STATUS", role_name),
        (start_lit + pl.duration(days=pl.col("CONSENT_DAY"))).alias("RFICDT"),
        pl.Series("RAND_OFF", rand_offset), pl.Series("FAIL_OFF", fail_offset),
        pl.Series("ASSESS_U", rng.random(n_total)), pl.Series("IMG_U", rng.random(n_total)),
    ).with_columns(
        pl.when(pl.col("STATUS") == "RANDOMIZED").then(pl.col("RFICDT") + pl.duration(days=pl.col("RAND_OFF")))
        .alias("RANDDT"),
        pl.when(pl.col("STATUS") != "RANDOMIZED").then(pl.col("RFICDT") + pl.duration(days=pl.col("FAIL_OFF")))
        .alias("ENDSCRDT"),
    ).with_columns(
        pl.when(pl.col("STATUS") == "RANDOMIZED").then(pl.col("RAND_OFF")).otherwise(pl.col("FAIL_OFF")).alias("OUT_OFF"),
    ).with_columns(
        # Screening labs and imaging between consent and the day before the outcome.
        (pl.col("RFICDT") + pl.duration(days=(pl.col("ASSESS_U") * pl.col("OUT_OFF")).floor().cast(pl.Int64))).alias("LBDT"),
        (pl.col("RFICDT") + pl.duration(days=(pl.col("IMG_U") * pl.col("OUT_OFF")).floor().cast(pl.Int64))).alias("IMGDT"),
    )

    # Randomization: permuted blocks over all sites in order of randomization date.
    rz = ev.filter(pl.col("STATUS") == "RANDOMIZED").sort(["RANDDT", "USUBJID"])
    ratio = protocol.raw.get("randomization_ratio") or [1] * len(arms)
    block = np.repeat(np.asarray(list(arms), dtype=object), ratio)
    n_blocks = -(-rz.height // len(block))
    armcd = np.concatenate([rng.permutation(block) for _ in range(n_blocks)])[: rz.height] if rz.height else np.array([], dtype=object)
    rz = rz.with_columns(pl.Series("ARMCD", armcd, dtype=pl.String))
    # Row order is the subject index of every array below: keep it through joins.
    ev = ev.join(rz.select("ROW", "ARMCD"), on="ROW", how="left", maintain_order="left").sort("ROW")

    n_never = max(1, n_rand // 120) if n_rand >= 2 else 0
    rescreened_rows = {r for _, r in rescreen_pairs}
    cand = np.setdiff1d(np.arange(n_rand), np.fromiter(rescreened_rows, dtype=np.int64, count=len(rescreened_rows)))
    never_rows = set(rng.choice(cand, size=min(n_never, len(cand)), replace=False).tolist()) if n_never else set()
    ev = ev.with_columns(pl.col("ROW").is_in(sorted(never_rows)).alias("NEVER_TREATED"))

    # Values frame (one row per attempt) used by every findings domain.
    vals = _frame({k: v for k, v in values.items() if k in TYPICAL or k in ("SEX", "TUMBURD")}, np.arange(n_total))
    uln = pl.DataFrame({k: v for k, v in values.items() if k.endswith("_ULN") or k.endswith("_LLN")})
    subj = pl.concat([ev, vals, uln], how="horizontal")

    # Birth dates (some partial) consistent with AGE at consent.
    birth_back = rng.integers(1, 360, n_total)
    partial_u = rng.random(n_total)
    subj = subj.with_columns(pl.Series("BIRTH_BACK", birth_back), pl.Series("PARTIAL_U", partial_u)).with_columns(
        (pl.col("RFICDT").dt.offset_by(pl.format("-{}y", pl.col("AGE").cast(pl.Int64)))
         - pl.duration(days=pl.col("BIRTH_BACK"))).alias("BRTHDT"))
    if rescreen_pairs:
        fr = pl.DataFrame({"ROW": [f for f, _ in rescreen_pairs], "LINK": [r for _, r in rescreen_pairs]})
        link_birth = subj.select(pl.col("ROW").alias("LINK"), pl.col("BRTHDT").alias("LINK_BRTHDT"))
        subj = subj.join(fr.join(link_birth, on="LINK"), on="ROW", how="left", maintain_order="left").sort("ROW").with_columns(
            pl.coalesce("LINK_BRTHDT", "BRTHDT").alias("BRTHDT"),
            pl.when(pl.col("LINK").is_not_null()).then(1.0).otherwise(pl.col("PARTIAL_U")).alias("PARTIAL_U"),
        ).drop("LINK", "LINK_BRTHDT")
        # Age at this earlier consent from the shared birth date (may be a year less).
        subj = subj.with_columns(
            pl.when(pl.col("ROW").is_in([f for f, _ in rescreen_pairs])).then(
                (pl.col("RFICDT").dt.year() - pl.col("BRTHDT").dt.year()
                 - ((pl.col("RFICDT").dt.month().cast(pl.Int32) * 100 + pl.col("RFICDT").dt.day())
                    < (pl.col("BRTHDT").dt.month().cast(pl.Int32) * 100 + pl.col("BRTHDT").dt.day())).cast(pl.Int32)
                 ).cast(pl.Float64)
            ).otherwise(pl.col("AGE")).alias("AGE"))
    subj = subj.with_columns(
        pl.when(pl.col("PARTIAL_U") < PARTIAL_BRTHDTC_YEAR).then(pl.col("BRTHDT").dt.strftime("%Y"))
        .when(pl.col("PARTIAL_U") < PARTIAL_BRTHDTC_YEAR + PARTIAL_BRTHDTC_MONTH).then(pl.col("BRTHDT").dt.strftime("%Y-%m"))
        .otherwise(pl.col("BRTHDT").dt.strftime("%Y-%m-%d")).alias("BRTHDTC"))

    # IE records: the judgment reasons plus every failed machine check.
    fail_rows, fail_cols = np.nonzero(failed)
    ie_pairs = [(int(r), codes[c]) for r, c in zip(fail_rows, fail_cols)]
    for codes_i in judgment:                          # primary, then second judgment reason
        rows_i = np.flatnonzero(codes_i != None)      # noqa: E711 (element-wise on objects)
        ie_pairs += [(int(r), str(c)) for r, c in zip(rows_i, codes_i[rows_i])]
    ie_src = pl.DataFrame({"ROW": [p[0] for p in ie_pairs], "IETESTCD": [p[1] for p in ie_pairs]},
                          schema={"ROW": pl.Int64, "IETESTCD": pl.String})
    cat_frame = pl.DataFrame({
        "IETESTCD": [c["ietestcd"] for c in protocol.eligibility],
        "IETEST": [c["ietest"] for c in protocol.eligibility],
        "IECAT": [c["iecat"] for c in protocol.eligibility],
        "CATORDER": list(range(len(protocol.eligibility))),
    })
    sf = subj.filter(pl.col("STATUS") == "SCREEN FAILURE")
    ie = (ie_src.join(cat_frame, on="IETESTCD").join(sf.select("ROW", "STUDYID", "USUBJID", "ENDSCRDT"), on="ROW")
          .sort(["ROW", "CATORDER"])
          .with_columns(
              pl.lit("IE").alias("DOMAIN"),
              pl.col("ROW").cum_count().over("ROW").cast(pl.Int64).alias("IESEQ"),
              pl.when(pl.col("IECAT") == "INCLUSION").then(pl.lit("N")).otherwise(pl.lit("Y")).alias("IEORRES"),
              pl.lit(1.0).alias("VISITNUM"), pl.lit("SCREENING").alias("VISIT"), pl.lit("SCREENING").alias("EPOCH"),
              pl.col("ENDSCRDT").dt.strftime("%Y-%m-%d").alias("IEDTC"))
          .with_columns(pl.col("IEORRES").alias("IESTRESC"))
          .select("STUDYID", "DOMAIN", "USUBJID", "IESEQ", "IETESTCD", "IETEST", "IECAT", "IEORRES",
                  "IESTRESC", "VISITNUM", "VISIT", "EPOCH", "IEDTC"))

    # DM.
    arm_map = pl.DataFrame({"ARMCD": list(arms), "ARM": list(arms.values())})
    dm = (subj.join(arm_map, on="ARMCD", how="left").with_columns(
        pl.lit("DM").alias("DOMAIN"),
        pl.when(pl.col("STATUS") == "SCREEN FAILURE").then(pl.lit("SCRNFAIL"))
          .when(pl.col("STATUS") == "WITHDRAWN").then(pl.lit("NOTASSGN")).otherwise(pl.col("ARMCD")).alias("ARMCD"),
        pl.when(pl.col("STATUS") == "SCREEN FAILURE").then(pl.lit("Screen Failure"))
          .when(pl.col("STATUS") == "WITHDRAWN").then(pl.lit("Not Assigned")).otherwise(pl.col("ARM")).alias("ARM"),
        pl.col("RFICDT").dt.strftime("%Y-%m-%d").alias("RFICDTC"),
        pl.col("AGE").cast(pl.Int64), pl.lit("YEARS").alias("AGEU"),
        pl.lit("ASIAN").alias("RACE"), pl.lit("NOT HISPANIC OR LATINO").alias("ETHNIC"),
        pl.lit("CHN").alias("COUNTRY"),
        pl.col("RFICDT").dt.strftime("%Y-%m-%d").alias("DMDTC"),
        pl.when(pl.col("STATUS") != "RANDOMIZED").then(pl.col("ENDSCRDT").dt.strftime("%Y-%m-%d")).alias("RFPENDTC"),
    ).with_columns(
        pl.when(pl.col("NEVER_TREATED")).then(pl.lit("NOTTRT")).otherwise(pl.col("ARMCD")).alias("ACTARMCD"),
        pl.when(pl.col("NEVER_TREATED")).then(pl.lit("Not Treated")).otherwise(pl.col("ARM")).alias("ACTARM"),
    ).select("STUDYID", "DOMAIN", "USUBJID", "SUBJID", "RFICDTC", "RFPENDTC", "SITEID", "BRTHDTC", "AGE", "AGEU",
             "SEX", "RACE", "ETHNIC", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "COUNTRY", "DMDTC"))

    # DS (screening rows; on-study rows are added by the orchestrator).
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
        pl.col("DT").dt.strftime("%Y-%m-%d").alias("DSSTDTC"),
    ).with_columns(pl.col("DSSTDTC").alias("DSDTC"))
    # Mess: one screening withdrawal recorded with a month-only date, as CRFs allow.
    partial_ds = []
    wd = subj.filter(pl.col("STATUS") == "WITHDRAWN").sort("ROW").head(1)
    if wd.height:
        u = wd["USUBJID"][0]
        ds = ds.with_columns(pl.when((pl.col("USUBJID") == u) & (pl.col("DSDECOD") == "WITHDRAWAL BY SUBJECT"))
                             .then(pl.col("DSSTDTC").str.slice(0, 7)).otherwise(pl.col("DSSTDTC")).alias("DSSTDTC"))
        partial_ds.append({"domain": "DS", "variable": "DSSTDTC", "usubjid": u,
                           "full_date": wd["ENDSCRDT"][0].isoformat(),
                           "value": ds.filter((pl.col("USUBJID") == u) & (pl.col("DSDECOD") == "WITHDRAWAL BY SUBJECT"))["DSSTDTC"][0]})
    ds = ds.select("STUDYID", "DOMAIN", "USUBJID", "DSTERM", "DSDECOD", "DSCAT", "EPOCH", "DSDTC", "DSSTDTC", "ORD")

    # Findings: LB, VS, QS, FA at screening.
    lb = _findings_lb(subj)
    vs = _findings_vs(subj)
    qs = subj.select("STUDYID", "USUBJID", pl.lit("QS").alias("DOMAIN"), pl.lit("ECOG").alias("QSCAT"),
                     pl.lit("ECOG101").alias("QSTESTCD"), pl.lit("ECOG1-Performance Status").alias("QSTEST"),
                     pl.col("ECOG101").cast(pl.Int64).cast(pl.String).alias("QSORRES"),
                     pl.col("ECOG101").cast(pl.Int64).cast(pl.String).alias("QSSTRESC"),
                     pl.col("ECOG101").alias("QSSTRESN"), pl.lit("Y").alias("QSBLFL"),
                     pl.lit(1.0).alias("VISITNUM"), pl.lit("SCREENING").alias("VISIT"), pl.lit("SCREENING").alias("EPOCH"),
                     pl.col("LBDT").dt.strftime("%Y-%m-%d").alias("QSDTC")
                     ).with_columns(pl.lit(1, dtype=pl.Int64).alias("QSSEQ"))
    qs = qs.select("STUDYID", "DOMAIN", "USUBJID", "QSSEQ", *[c for c in qs.columns
                                                            if c not in ("STUDYID", "DOMAIN", "USUBJID", "QSSEQ")])
    fa = _findings_fa(subj)

    # PR: MAA mapping of screen failures found unsuitable for SIRT.
    maa_name = str(protocol.treatment("MAA_MAPPING")["name"])
    maa_rows = ie.filter(pl.col("IETESTCD") == "INCL07")["USUBJID"].unique().sort()
    pr = (subj.filter(pl.col("USUBJID").is_in(maa_rows.to_list()))
          .select("STUDYID", pl.lit("PR").alias("DOMAIN"), "USUBJID", pl.lit(maa_name).alias("PRTRT"),
                  pl.lit("SIRT PLANNING").alias("PRCAT"), pl.lit("SCREENING").alias("EPOCH"),
                  pl.max_horizontal(pl.col("IMGDT"), pl.col("ENDSCRDT") - pl.duration(days=2)).dt.strftime("%Y-%m-%d").alias("PRSTDTC"))
          .with_columns(pl.col("PRSTDTC").alias("PRENDTC")))

    randomized = (subj.filter(pl.col("STATUS") == "RANDOMIZED").join(arm_map, on="ARMCD", how="left")
                  .select("STUDYID", "USUBJID", "SITEID", "SUBJID", "ARMCD", "ARM", "RANDDT", "RFICDT",
                          pl.col("AGE").cast(pl.Int64), pl.col("SEX"), pl.col("WEIGHT").alias("WEIGHT_KG"),
                          pl.col("HEIGHT").alias("HEIGHT_CM"), "NEVER_TREATED",
                          pl.col("ECOG101").cast(pl.Int64).alias("ECOG"),
                          pl.col("TUMNUM").cast(pl.Int64).alias("TUMOR_COUNT"), pl.col("TUMLDIAM").alias("LARGEST_MM"),
                          "VASCINV", pl.col("TUMBURD").alias("TUMBURD_PCT"), pl.col("IMGDT").alias("SCREEN_IMAGING_DT"))
                  .sort("USUBJID"))

    usub = subj["USUBJID"].to_numpy()
    sf_codes = ie.group_by("USUBJID", maintain_order=True).agg(pl.col("IETESTCD"))
    truth = {
        "studyid": studyid,
        "n_screened": n_total,
        "n_randomized": n_rand,
        "n_screen_failures": int(n_fail),
        "n_withdrawn_in_screening": int(n_withdraw),
        "randomized_per_arm": {k: int(v) for k, v in rz.group_by("ARMCD").len().sort("ARMCD").iter_rows()},
        "screened_per_site": {str(k): int(v) for k, v in base.group_by("SITEID").len().sort("SITEID").iter_rows()},
        "screen_failures": {u: list(c) for u, c in sf_codes.sort("USUBJID").iter_rows()},
        "failed_criteria_counts": {k: int(v) for k, v in ie.group_by("IETESTCD").len().sort("IETESTCD").iter_rows()},
        "rescreened": [{"screen_failure_usubjid": str(usub[f]), "rescreen_usubjid": str(usub[r]),
                        "reason": "INCL12", "note": "new screening number at rescreening; same person"}
                       for f, r in rescreen_pairs],
        "never_treated": sorted(str(usub[i]) for i in never_rows),
        "maa_mapping_screen_failures": maa_rows.to_list(),
        "partial_dates": sorted(
            [{"domain": "DM", "variable": "BRTHDTC", "usubjid": u, "value": v, "full_date": full.isoformat()}
             for u, v, full in subj.filter(pl.col("BRTHDTC").str.len_chars() < 10)
             .select("USUBJID", "BRTHDTC", "BRTHDT").sort("USUBJID").iter_rows()]
            + partial_ds, key=lambda d: (d["domain"], d["usubjid"])),
    }
    datasets = {"dm": dm, "ds": ds, "ie": ie, "lb": lb, "vs": vs, "qs": qs, "fa": fa, "pr": pr}
    return Screening(datasets=datasets, randomized=randomized, truth=truth)


def _num_str(col: str, dec: int | None) -> pl.Expr:
    if dec == 0:
        return pl.col(col).round(0).cast(pl.Int64).cast(pl.String)
    return pl.col(col).round(dec).cast(pl.String)


def _stack_findings(parts: list[pl.DataFrame], domain: str, columns: list[str]) -> pl.DataFrame:
    """One screening findings domain from per-test frames (each with ROW and _ORD, the test's
    position): rows by subject then test, ``--SEQ`` 1.. per subject, baseline flag ``--BLFL``
    "Y", VISITNUM 1 / VISIT and EPOCH "SCREENING"; ``columns`` orders the result (the ``--``
    names are written with the domain prefix, e.g. ``--SEQ`` -> ``LBSEQ``)."""
    frame = pl.concat(parts).sort(["ROW", "_ORD"])
    return frame.with_columns(
        pl.lit(domain).alias("DOMAIN"),
        pl.col("ROW").cum_count().over("ROW").cast(pl.Int64).alias(f"{domain}SEQ"),
        pl.lit("Y").alias(f"{domain}BLFL"), pl.lit(1.0).alias("VISITNUM"), pl.lit("SCREENING").alias("VISIT"),
        pl.lit("SCREENING").alias("EPOCH"),
    ).select([c.replace("--", domain) for c in columns])


def _findings_lb(subj: pl.DataFrame) -> pl.DataFrame:
    """LB at screening: one row per test of LAB_TESTS, SI units, the site's reference range
    (LBSTNRLO/LBSTNRHI) and LBNRIND."""
    parts = []
    for code, spec in LAB_TESTS.items():
        parts.append(subj.select(
            "STUDYID", "USUBJID", pl.lit(code).alias("LBTESTCD"), pl.lit(spec["test"]).alias("LBTEST"),
            pl.lit(spec["cat"]).alias("LBCAT"), _num_str(code, spec["dec"]).alias("LBORRES"),
            pl.lit(spec["unit"]).alias("LBORRESU"),
            pl.col(f"{code}_LLN").cast(pl.String).str.replace(r"\.0$", "").alias("LBORNRLO"),
            pl.col(f"{code}_ULN").cast(pl.String).str.replace(r"\.0$", "").alias("LBORNRHI"),
            _num_str(code, spec["dec"]).alias("LBSTRESC"), pl.col(code).alias("LBSTRESN"),
            pl.lit(spec["unit"]).alias("LBSTRESU"),
            pl.col(f"{code}_LLN").alias("LBSTNRLO"), pl.col(f"{code}_ULN").alias("LBSTNRHI"),
            pl.when(pl.col(code) < pl.col(f"{code}_LLN")).then(pl.lit("LOW"))
              .when(pl.col(code) > pl.col(f"{code}_ULN")).then(pl.lit("HIGH")).otherwise(pl.lit("NORMAL")).alias("LBNRIND"),
            pl.col("LBDT").dt.strftime("%Y-%m-%d").alias("LBDTC"), pl.col("ROW"),
            pl.lit(len(parts)).alias("_ORD")))
    return _stack_findings(parts, "LB", [
        "STUDYID", "DOMAIN", "USUBJID", "--SEQ", "--TESTCD", "--TEST", "--CAT", "--ORRES", "--ORRESU",
        "--ORNRLO", "--ORNRHI", "--STRESC", "--STRESN", "--STRESU", "--STNRLO", "--STNRHI", "--NRIND",
        "--BLFL", "VISITNUM", "VISIT", "EPOCH", "--DTC"])


def _findings_vs(subj: pl.DataFrame) -> pl.DataFrame:
    """VS at screening: WEIGHT, HEIGHT, SYSBP, DIABP (VS_TESTS), dated with the screening labs."""
    parts = []
    for code, (test, unit, dec) in VS_TESTS.items():
        parts.append(subj.select(
            "STUDYID", "USUBJID", pl.lit(code).alias("VSTESTCD"), pl.lit(test).alias("VSTEST"),
            _num_str(code, dec).alias("VSORRES"), pl.lit(unit).alias("VSORRESU"),
            _num_str(code, dec).alias("VSSTRESC"), pl.col(code).round(dec).alias("VSSTRESN"),
            pl.lit(unit).alias("VSSTRESU"), pl.col("LBDT").dt.strftime("%Y-%m-%d").alias("VSDTC"),
            pl.col("ROW"), pl.lit(len(parts)).alias("_ORD")))
    return _stack_findings(parts, "VS", [
        "STUDYID", "DOMAIN", "USUBJID", "--SEQ", "--TESTCD", "--TEST", "--ORRES", "--ORRESU", "--STRESC",
        "--STRESN", "--STRESU", "--BLFL", "VISITNUM", "VISIT", "EPOCH", "--DTC"])


def _findings_fa(subj: pl.DataFrame) -> pl.DataFrame:
    """FA at screening (FA_TESTS): Child-Pugh inputs dated with the labs, CNLC and SIRT
    eligibility findings dated with the screening imaging; categorical results in FASTRESC
    only, numeric ones also in FASTRESN."""
    parts = []
    for code, (test, cat, obj, unit, dec) in FA_TESTS.items():
        if dec is None:
            res, num = pl.col(code), pl.lit(None, dtype=pl.Float64)
        else:
            res, num = _num_str(code, dec), pl.col(code).round(dec)
        parts.append(subj.select(
            "STUDYID", "USUBJID", pl.lit(code).alias("FATESTCD"), pl.lit(test).alias("FATEST"),
            pl.lit(obj).alias("FAOBJ"), pl.lit(cat).alias("FACAT"), res.alias("FAORRES"),
            pl.lit(unit, dtype=pl.String).alias("FAORRESU"), res.alias("FASTRESC"), num.alias("FASTRESN"),
            pl.lit(unit, dtype=pl.String).alias("FASTRESU"),
            pl.col("IMGDT" if cat != "CHILD-PUGH" else "LBDT").dt.strftime("%Y-%m-%d").alias("FADTC"),
            pl.col("ROW"), pl.lit(len(parts)).alias("_ORD")))
    return _stack_findings(parts, "FA", [
        "STUDYID", "DOMAIN", "USUBJID", "--SEQ", "--TESTCD", "--TEST", "FAOBJ", "--CAT", "--ORRES",
        "--ORRESU", "--STRESC", "--STRESN", "--STRESU", "--BLFL", "VISITNUM", "VISIT", "EPOCH", "--DTC"])
