"""Pure polars derivations: frames in, frames out (no I/O, no altair, no printing).

Prefixes (STYLE.md section 1): ``derive_*`` adds columns, ``summarize_*`` returns one row
per group, ``filter_*`` keeps a subset of the rows, ``compute_*`` builds a ``pl.Expr``.

Modules:
    overview   datasets found, subject status, subjects per arm and site
    exposure   each subject's course: doses, intervals, sessions, responses, disposition; exposure by arm
    deviations the protocol's dosing and procedure rules (DESIGN section 6), checked on every record
    swimmer    the swimmer chart's lanes: sort orders, the glyph budget, the legend
"""
