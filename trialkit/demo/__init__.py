"""The built-in demo study: a simulated NCT07334483 (ST561-1) trial as a sponsor's SDTM transfer.

Deterministic for a seed, faithful to the protocol file, and the default input of every
report and of the test suite. The halves, each with its own random streams:

- :mod:`trialkit.demo.screening` (stream ``[seed, 1]``): DM, DS (screening), IE, LB, VS, QS,
  FA, SV and the MAA mapping of screen failures unsuitable for SIRT; randomization;
- :mod:`trialkit.demo.treatment` (streams ``[seed, 2..7]``): PR, AG, EX, the disease course
  (:mod:`trialkit.demo.tumor`: TU, TR, RS) and, through :mod:`trialkit.demo.events`, AE, LB on
  treatment, CM, SV, DS after randomization, DM dates, TI and TS.
Dates and the clinic calendar are in :mod:`trialkit.demo.dates`; files in
:mod:`trialkit.demo.writing`.

Conventions: STUDYID is the sponsor code of the protocol file (``ST561-1``); USUBJID =
``STUDYID-SITEID-NNNN`` with NNNN the screening number at the site (a rescreened subject gets
a new number; ``demo_truth.json`` links the two). Arms follow SDTMIG 3.2 (screen failures
``SCRNFAIL``). DM.RFSTDTC is the randomization date, RFXSTDTC/RFXENDTC the first and last
exposure, and every --DY SDTMIG's study day from RFSTDTC. The transfer is extracted
``EXTRACTION_LAG_DAYS`` after the cutoff, so some records are dated after it.

``demo_truth.json`` (what was planted; analyses are tested against it):

- top level (after randomization): ``deviations`` [{USUBJID, RULE, DATE}] (exactly what the
  DESIGN section 6 rules give on the written EX/PR/AE), ``planted_subjects`` {RULE: [USUBJID]},
  ``permitted_delays`` [{USUBJID, DATE}] (25-28 day intervals) and ``n_permitted_delays``,
  ``permitted_holds`` [{USUBJID, DATE, AESTDTC}] (late doses after an AE DRUG INTERRUPTED),
  ``adverse_event_discontinuations`` [USUBJID], ``deaths`` [{USUBJID, DTHDTC}],
  ``never_treated``, ``untreated``, ``no_postbaseline_scan`` [USUBJID],
  ``staged_sirt`` [{USUBJID, OWN_MAPPING}], ``missed_assessments`` [{USUBJID, VISITNUM}],
  ``unscheduled_assessments`` [{USUBJID, DATE}], ``equivocal_new_lesions`` [{USUBJID, DATE,
  CONFIRMED}], ``planted_double_missed_before_event`` {PD: [...], DEATH: [...]},
  ``pfs_facts_bicr_mrecist`` {max_gap_days, event_after_two_missed_assessments [{USUBJID,
  EVENT, EVENT_DATE, LAST_ADEQUATE_DATE}], new_anticancer_therapy_before_event [{USUBJID,
  CMTRT, CMSTDTC, LAST_ADEQUATE_DATE}]}, ``bor_bicr_mrecist_unconfirmed`` {USUBJID: BOR} and
  ``orr_bicr_mrecist_unconfirmed`` {ARMCD: rate} (accepted BICR read, as of the cutoff),
  ``bicr_investigator_discordance_mrecist``, ``bicr_adjudication`` {subject_criteria,
  readers_disagree, accepted_radiologist_2_share_of_assessments}, ``ne_time_points``,
  ``partial_dates`` [{domain, variable, usubjid, value, full_date}], ``records_after_cutoff``
  {dataset: n}, ``cutoff``, ``extraction_date``, ``reference_dates``, ``seed``, ``subjects``;
- ``screening``: counts, ``screen_failures`` {USUBJID: [IETESTCD]}, ``rescreened``,
  ``never_treated``, ``maa_mapping_screen_failures``, ``eligibility_discrepancies``
  {randomized_failing_criterion [{USUBJID, IETESTCD, TESTCD, VALUE}],
  screen_failure_criterion_not_supported [{USUBJID, IETESTCD}]}, ``randomization`` (the
  assumed scheme), ``partial_dates``.

Public API:
    generate_demo(seed=, subjects=, cutoff=)  -> (datasets, truth)
    write_demo(out, seed=, subjects=, cutoff=, fmt=)  -> out
    demo_data_dir(seed=)  -> cached folder of the default demo
    main_demo(out, seed, subjects, cutoff, fmt)  -> exit code (the CLI)

Example:
    >>> datasets, truth = generate_demo(subjects=8)
    >>> datasets["dm"].filter(pl.col("ARMCD").is_in(["A", "B", "C", "D"])).height
    8
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl

from trialkit import __version__
from trialkit.cache import cache_dir
from trialkit.errors import ParamsError
from trialkit.protocol import Protocol, load_protocol
from trialkit.demo.dates import ClinicCalendar, compute_iso_date
from trialkit.demo.events import build_screen_failure_therapies
from trialkit.demo.screening import LAB_TESTS, MIN_CUTOFF_DAYS, build_lab_records, generate_screening
from trialkit.demo.treatment import generate_on_study
from trialkit.demo.writing import FORMATS, TRUTH_FILE, Planned, finalize_frame, write_datasets
from trialkit.derive.days import compute_study_day

#: The trial the demo simulates: its protocol file is the demo's single source of rules.
DEMO_STUDY = "NCT07334483"
DEFAULT_SEED = 20250822
DEFAULT_SUBJECTS = 120
DEFAULT_CUTOFF = "2026-10-31"
MAX_SUBJECTS = 1_000_000
PROGRESS_FROM = 10_000              # print progress lines from this many subjects on
EXTRACTION_LAG_DAYS = 12            # the transfer is extracted this many days after the cutoff

__all__ = ["DEMO_STUDY", "DEFAULT_SEED", "DEFAULT_SUBJECTS", "DEFAULT_CUTOFF", "generate_demo", "write_demo",
           "demo_data_dir", "main_demo"]

DM_COLUMNS = ("STUDYID", "DOMAIN", "USUBJID", "SUBJID", "RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC",
              "RFICDTC", "RFPENDTC", "DTHDTC", "DTHFL", "SITEID", "BRTHDTC", "AGE", "AGEU", "SEX", "RACE",
              "ETHNIC", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "COUNTRY", "DMDTC")


# ---------------------------------------------------------------- arguments
def _check_args(seed: Any, subjects: Any, cutoff: Any, protocol: Protocol) -> tuple[int, int, datetime.date]:
    seed = DEFAULT_SEED if seed is None else seed
    subjects = DEFAULT_SUBJECTS if subjects is None else subjects
    cutoff = DEFAULT_CUTOFF if cutoff is None else cutoff
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParamsError(f"trialkit: demo seed must be a whole number >= 0, not {seed!r}.")
    if isinstance(subjects, bool) or not isinstance(subjects, int) or not 1 <= subjects <= MAX_SUBJECTS:
        raise ParamsError(f"trialkit: demo subjects (the number randomized) must be a whole number "
                          f"from 1 to {MAX_SUBJECTS:,}, not {subjects!r}. The default is {DEFAULT_SUBJECTS}.")
    if isinstance(cutoff, datetime.datetime):
        cutoff = cutoff.date()
    if not isinstance(cutoff, datetime.date):
        try:
            cutoff = datetime.date.fromisoformat(str(cutoff).strip())
            if len(str(cutoff).strip()) != 10:
                raise ValueError
        except ValueError:
            raise ParamsError(f"trialkit: demo cutoff {cutoff!r} is not an ISO date (YYYY-MM-DD), "
                              f"e.g. {DEFAULT_CUTOFF}.") from None
    start = protocol.study["start_date"]
    start = datetime.date.fromisoformat(start) if isinstance(start, str) else start
    earliest = start + datetime.timedelta(days=MIN_CUTOFF_DAYS)
    if cutoff < earliest:
        raise ParamsError(f"trialkit: demo cutoff {cutoff.isoformat()} is before the study could have "
                          f"randomized anyone: the study started {start.isoformat()} and the cutoff must be "
                          f"on or after {earliest.isoformat()} ({MIN_CUTOFF_DAYS} days later).")
    return seed, subjects, cutoff


# ---------------------------------------------------------------- assembling
def _renumber(frame: pl.DataFrame, seq: str, order: list[str]) -> pl.DataFrame:
    """Sort by subject and ``order`` (stable) and number --SEQ 1.. within each subject."""
    if frame.height == 0:
        return frame
    keep = [c for c in frame.columns if c != seq]
    frame = frame.sort(["USUBJID", *order], maintain_order=True, nulls_last=True)
    frame = frame.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("USUBJID").alias(seq))
    pos = keep.index("USUBJID") + 1
    return frame.select(keep[:pos] + [seq] + keep[pos:])


def _with_study_day(frame: pl.DataFrame, dtc: str, dy: str, reference: pl.DataFrame) -> pl.DataFrame:
    """Add ``dy``: SDTMIG study day of ``dtc`` (ISO text) from DM.RFSTDTC (randomization);
    null for screen failures, who have no reference start."""
    out = frame.join(reference, on="USUBJID", how="left", maintain_order="left")
    return out.with_columns(
        compute_study_day(pl.col(dtc).str.to_date(strict=False), pl.col("_RFST")).alias(dy)).drop("_RFST")


def _assemble(screen, on_study, rng) -> dict[str, pl.DataFrame]:
    """One dataset per SDTM domain from the two halves: DM reference dates, DS sequence, LB of
    screening and treatment, study days of the screening findings, PR, CM and SV of both."""
    ds_scr = screen.datasets
    dm = ds_scr["dm"]
    upd = on_study.dm_updates
    cols = ("RFXSTDTC", "RFXENDTC", "RFENDTC", "DTHDTC", "DTHFL")
    if upd.height:
        dm = dm.join(upd.select("USUBJID", *[pl.col(c).cast(pl.String) for c in cols]), on="USUBJID", how="left")
    else:
        dm = dm.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in cols])
    dm = dm.with_columns(
        pl.col("RANDDTC").alias("RFSTDTC"),    # reference start = randomization (oncology convention)
        pl.coalesce("RFPENDTC", "RFENDTC").alias("RFPENDTC"),
    ).select(list(DM_COLUMNS)).sort("USUBJID")
    reference = dm.select("USUBJID", pl.col("RFSTDTC").str.to_date().alias("_RFST"))

    ds = ds_scr["ds"]
    disp = on_study.disposition
    if disp.height:
        disp = disp.with_columns(pl.lit(3).alias("ORD"), pl.col("DSSTDTC").alias("DSDTC"))
        ds = pl.concat([ds, disp.drop("DSSEQ")], how="diagonal_relaxed")
    # Screening milestones first (consent, randomization, screening outcome), then on-study
    # events by date; a partial date sorts at the end of its period (admiral's end-date rule).
    ds = ds.with_columns(pl.when(pl.col("DSSTDTC").str.len_chars() == 7).then(pl.col("DSSTDTC") + "-99")
                         .when(pl.col("DSSTDTC").str.len_chars() == 4).then(pl.col("DSSTDTC") + "-99-99")
                         .otherwise(pl.col("DSSTDTC")).alias("_SORTDT"))
    ds = _renumber(ds, "DSSEQ", ["ORD", "_SORTDT"]).drop("ORD", "_SORTDT")
    ds = _with_study_day(ds, "DSSTDTC", "DSSTDY", reference)

    out = {"dm": dm, "ds": ds}
    for name in ("ie", "vs", "qs", "fa"):                 # --DY from the screening half (RANDDT)
        out[name] = ds_scr[name]
    others = dict(on_study.datasets)
    # LB: the screening visits, then the treatment visits (LBSEQ after the screening tests:
    # every screened subject has one record per screening test), made records in one
    # streamed plan (a union of two lazy plans would be materialized by the engine)
    others.pop("lb")
    visits = pl.concat([screen.lab_visits, on_study.lab_visits.with_columns(pl.col("_N") + len(LAB_TESTS))],
                       how="vertical")
    out["lb"] = Planned(visits, build_lab_records, base_date=pl.col("_DT"))
    pr = pl.concat([ds_scr["pr"], finalize_frame(others.pop("pr"))], how="diagonal_relaxed")
    out["pr"] = _renumber(pr.drop("PRSEQ") if "PRSEQ" in pr.columns else pr, "PRSEQ", ["PRSTDTC"])
    sv = pl.concat([ds_scr["sv"], finalize_frame(others.pop("sv"))],
                   how="diagonal_relaxed")
    out["sv"] = sv.sort("USUBJID", "SVSTDTC", "VISITNUM", maintain_order=True)
    cm = pl.concat([finalize_frame(others.pop("cm")),
                    build_screen_failure_therapies(ds_scr["dm"], ds_scr["ie"], rng)], how="diagonal_relaxed")
    out["cm"] = _renumber(cm.drop("CMSEQ"), "CMSEQ", ["CMSTDTC"])
    for name, frame in others.items():
        out[name.lower()] = frame
    return out


def _records_after(datasets: dict[str, pl.DataFrame | pl.LazyFrame], cutoff: datetime.date) -> dict[str, int]:
    """Per dataset, the records whose own date (--DTC, else --STDTC) is after the cutoff."""
    counts = {}
    for name, frame in datasets.items():
        if isinstance(frame, Planned) and frame.count_after(cutoff) is not None:
            counts[name] = frame.count_after(cutoff)
            continue
        dom = name.upper()
        schema = frame.collect_schema()
        # DM's record after the cutoff is a death (DMDTC is the consent)
        col = next((c for c in ("DTHDTC",) if name == "dm") , None) or next(
            (c for c in (f"{dom}DTC", f"{dom}STDTC") if c in schema), None)
        if col is None:
            continue
        late = pl.col(col) > cutoff if schema[col] == pl.Date else pl.col(col).str.slice(0, 10) > cutoff.isoformat()
        counts[name] = int(frame.lazy().filter(late).select(pl.len()).collect().item())
    return counts


def _generate(seed: int, subjects: int, cutoff: datetime.date, protocol: Protocol,
              progress: Callable[[str], None]) -> tuple[dict[str, pl.DataFrame], dict]:
    t0 = time.perf_counter()
    start = protocol.study["start_date"]
    start = datetime.date.fromisoformat(start) if isinstance(start, str) else start
    extraction = cutoff + datetime.timedelta(days=EXTRACTION_LAG_DAYS)
    calendar = ClinicCalendar(str(protocol.raw["visits"]["calendar_country"]),
                              start - datetime.timedelta(days=400), extraction + datetime.timedelta(days=400))
    screen = generate_screening(n_randomized=subjects, seed=seed, cutoff=cutoff, protocol=protocol, calendar=calendar)
    progress(f"screening: {screen.truth['n_screened']:,} screened, {subjects:,} randomized "
             f"({time.perf_counter() - t0:.1f} s)")
    on_study = generate_on_study(screen.randomized, screen.layout, seed=seed, cutoff=cutoff, extraction=extraction,
                                 protocol=protocol, calendar=calendar, screening_truth=screen.truth)
    progress(f"on study: treatments, adverse events and tumour assessments ({time.perf_counter() - t0:.1f} s)")
    datasets = _assemble(screen, on_study, np.random.default_rng([seed, 9]))
    # One truth file: the on-study facts at the top level (their keys), the screening facts
    # under "screening", and every partial date of both halves in one list.
    truth = {
        **dict(on_study.truth),
        "generator": f"trialkit.demo {__version__}",
        "seed": seed,
        "subjects": subjects,
        "cutoff": cutoff.isoformat(),
        "extraction_date": extraction.isoformat(),
        "records_after_cutoff": _records_after(datasets, cutoff),
        "studyid": screen.truth["studyid"],
        "protocol": protocol.study_id,
        "screening": screen.truth,
        "reference_dates": {"RFSTDTC": "randomization date (DS RANDOMIZED)",
                            "RFXSTDTC": "first study treatment (EX or PR)", "RFXENDTC": "last study treatment",
                            "--DY": "SDTMIG study day from RFSTDTC, no day 0"},
    }
    truth["partial_dates"] = sorted(
        list(on_study.truth.get("partial_dates", [])) + list(screen.truth["partial_dates"]),
        key=lambda d: (str(d.get("domain")), str(d.get("usubjid")), str(d.get("variable"))))
    return datasets, truth


# ---------------------------------------------------------------- public API
def generate_demo(*, seed: int = DEFAULT_SEED, subjects: int = DEFAULT_SUBJECTS,
                  cutoff: str | datetime.date = DEFAULT_CUTOFF) -> tuple[dict[str, pl.DataFrame], dict]:
    """Simulate the demo study in memory.

    Args:
        seed: random seed; the same seed gives the same data.
        subjects: number randomized (screened ≈ subjects × 200/120).
        cutoff: data cutoff (ISO date); the transfer is extracted EXTRACTION_LAG_DAYS later,
            so a few records are dated after it (as in a real transfer).

    Returns:
        ``(datasets, truth)``: lower-case SDTM name -> frame, and the planted facts.

    Raises:
        ParamsError: a negative or non-integer seed or subjects, a malformed cutoff, or a
            cutoff too early for anyone to be randomized.

    Example:
        >>> datasets, truth = generate_demo(subjects=8, seed=3)
        >>> truth["screening"]["n_randomized"]
        8
    """
    protocol = load_protocol(DEMO_STUDY)
    seed, subjects, cutoff_date = _check_args(seed, subjects, cutoff, protocol)
    datasets, truth = _generate(seed, subjects, cutoff_date, protocol, progress=lambda msg: None)
    return {name: finalize_frame(frame) for name, frame in datasets.items()}, truth


def write_demo(out: str | Path, *, seed: int = DEFAULT_SEED, subjects: int = DEFAULT_SUBJECTS,
               cutoff: str | datetime.date = DEFAULT_CUTOFF, fmt: str = "parquet",
               progress: Callable[[str], None] | None = None) -> Path:
    """Generate the demo study and write it to ``out`` (``<name>.<fmt>`` + ``demo_truth.json``).

    Byte-identical across runs for the same arguments; written atomically.

    Example:
        >>> write_demo("demo-data", subjects=8, fmt="csv")  # doctest: +SKIP
        PosixPath('demo-data')
    """
    if fmt not in FORMATS:
        raise ParamsError(f"trialkit: unknown demo format '{fmt}'. Choose one of: {', '.join(FORMATS)}.")
    protocol = load_protocol(DEMO_STUDY)
    seed, subjects, cutoff_date = _check_args(seed, subjects, cutoff, protocol)
    progress = progress or (lambda msg: None)
    datasets, truth = _generate(seed, subjects, cutoff_date, protocol, progress)
    t0 = time.perf_counter()
    path = write_datasets(datasets, truth, Path(out), fmt=fmt, stamp=cutoff_date, progress=progress)
    progress(f"written: {len(datasets)} datasets as {fmt} ({time.perf_counter() - t0:.1f} s)")
    return path


def _fingerprint() -> str:
    # The cache key includes the generator's code and the protocol file, so a changed
    # generator never serves stale data under an unchanged package version.
    h = hashlib.sha256()
    here = Path(__file__).parent
    for p in sorted(here.glob("*.py")):
        h.update(p.name.encode() + p.read_bytes())
    h.update((resources.files("trialkit.protocols") / "nct07334483.yaml").read_bytes())
    return h.hexdigest()[:8]


def demo_data_dir(*, seed: int = DEFAULT_SEED) -> Path:
    """The built-in demo (default subjects and cutoff, parquet), generated once and cached.

    The folder is ``<cache>/demo-<version>-<seed>-<code hash>`` (``<cache>``: see
    :func:`trialkit.cache.cache_dir`); it is built in a temporary folder and renamed into place, so
    concurrent callers never see a partial demo.

    Example:
        >>> (demo_data_dir() / "dm.parquet").is_file()  # doctest: +SKIP
        True
    """
    root = cache_dir()
    target = root / f"demo-{__version__}-{seed}-{_fingerprint()}"
    if (target / TRUTH_FILE).is_file():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=root))
    try:
        write_demo(tmp / "demo", seed=seed)
        try:
            os.replace(tmp / "demo", target)
        except OSError:
            if not (target / TRUTH_FILE).is_file():   # not a concurrent build that won
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp / "demo", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def main_demo(out: str | Path, seed: int | None = None, subjects: int | None = None,
              cutoff: str | None = None, fmt: str = "parquet") -> int:
    """``trialkit demo``: write the demo study and print where and how much.

    Example:
        >>> main_demo("demo-data", seed=None, subjects=8, cutoff=None, fmt="csv")  # doctest: +SKIP
        trialkit: wrote the demo study (seed 20250822, 8 randomized) to demo-data as csv
        ...
        0
    """
    seed = DEFAULT_SEED if seed is None else seed
    subjects = DEFAULT_SUBJECTS if subjects is None else subjects
    cutoff = DEFAULT_CUTOFF if cutoff is None else cutoff
    fmt = fmt or "parquet"
    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        if isinstance(subjects, int) and subjects >= PROGRESS_FROM:
            print(f"trialkit: {msg}", flush=True)

    path = write_demo(out, seed=seed, subjects=subjects, cutoff=cutoff, fmt=fmt, progress=progress)
    ext = FORMATS[fmt]
    print(f"trialkit: wrote the demo study (seed {seed}, {subjects:,} randomized, cutoff {cutoff}) to {path} "
          f"as {fmt} in {time.perf_counter() - t0:.1f} s")
    for f in sorted(path.glob(f"*.{ext}")):
        n = _count_rows(f, fmt)
        print(f"  {f.name:<16} {n:>10,} rows")
    print(f"  {TRUTH_FILE:<16} what was planted (screen failures, deviations, ...)")
    return 0


def _count_rows(path: Path, fmt: str) -> int:
    if fmt == "parquet":
        return pl.scan_parquet(path).select(pl.len()).collect().item()
    if fmt == "csv":
        return pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item()
    import pyreadstat

    return pyreadstat.read_xport(str(path), metadataonly=True)[1].number_rows or 0
