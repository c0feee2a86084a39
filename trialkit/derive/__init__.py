"""Pure polars derivations: frames in, frames out (no I/O, no altair, no printing).

Prefixes (STYLE.md section 1): ``derive_*`` adds columns, ``summarize_*`` returns one row
per group, ``filter_*`` keeps a subset of the rows, ``compute_*`` builds a ``pl.Expr``.

Modules:
    days         study day (no day 0) and day counts
    subjects     status, randomization date, first dose, end of screening, DS disposition events
    scope        the data cutoff and the sites/arms filters
    overview     datasets found, subject status, subjects per arm and site
    eligibility  the protocol's machine checks evaluated on the screening data (the re-check)
    screening    funnel, failures by criterion, co-failures, rescreening, recruitment outlook
    consort      the CONSORT 2025 flow for any number of arms, and its arithmetic
    exposure   each subject's course: doses, intervals, sessions, responses, disposition; exposure by arm
    deviations the protocol's dosing and procedure rules (DESIGN section 6), checked on every record
    swimmer    the swimmer chart's lanes: sort orders, the glyph budget, the legend
    response   time-point responses, sums of target diameters, % change, BOR, the waterfall tables
    efficacy   ORR/DCR with exact CIs and differences, concordance and kappa, PFS and Kaplan-Meier
"""
