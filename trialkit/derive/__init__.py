"""Pure polars derivations: frames in, frames out (no I/O, no altair, no printing).

Prefixes (STYLE.md section 1): ``derive_*`` adds columns, ``summarize_*`` returns one row
per group, ``filter_*`` keeps a subset of the rows, ``compute_*`` builds a ``pl.Expr``.

Modules:
    overview   datasets found, subject status, subjects per arm and site
    response   time-point responses, sums of target diameters, % change, BOR, the waterfall tables
    efficacy   ORR/DCR with exact CIs and differences, concordance and kappa, PFS and Kaplan-Meier
"""
