"""CDISC controlled terms the checks and derivations share, and how text is compared.

These are the standards' own terms (SDTMIG arm conventions, RECIST response terms), not a
trial's vocabulary: a trial's arms, assessors and criteria come from its protocol file.
"""

from __future__ import annotations

import polars as pl

#: ARMCD/ACTARMCD codes that are conventions, not arms (SDTMIG <= 3.2), any case, with the
#: ARMNRS text (SDTMIG >= 3.3) that says the same.
NON_ARM_CODES: dict[str, str] = {"SCRNFAIL": "SCREEN FAILURE", "NOTASSGN": "NOT ASSIGNED",
                                 "NOTTRT": "ASSIGNED, NOT TREATED", "UNPLAN": "UNPLANNED TREATMENT"}

#: Overall time-point responses in CDISC terms (RS.RSSTRESC, ADRS.AVALC), best first.
RESPONSE_TERMS = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE")

#: RS tests whose result is a response term.
RESPONSE_TESTS = ("OVRLRESP", "TRGRESP", "NTRGRESP")

#: TU.TUSTRESC lesion roles.
LESION_ROLES = ("TARGET", "NON-TARGET", "NEW")


def compute_term(expr: pl.Expr) -> pl.Expr:
    """Text as terms are compared: upper case, single spaces, ``""`` -> null.

    Example:
        >>> pl.select(compute_term(pl.lit(" Screen  failure "))).item()
        'SCREEN FAILURE'
    """
    text = expr.cast(pl.String).str.strip_chars().str.to_uppercase().str.replace_all(r"\s+", " ")
    return pl.when(text != "").then(text)


def col_or_null(frame: pl.DataFrame, name: str, dtype: pl.DataType = pl.String) -> pl.Expr:
    """``pl.col(name)`` cast to ``dtype`` when the frame has it, else a null literal."""
    return pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype)


def compute_normalized_name(expr: pl.Expr) -> pl.Expr:
    """A name as protocol vocabularies compare it (:func:`trialkit.protocol.normalize_name`).

    Example:
        >>> pl.select(compute_normalized_name(pl.lit("Recist 1.1"))).item()
        'RECIST11'
    """
    return expr.cast(pl.String).str.to_uppercase().str.replace_all(r"[^A-Z0-9]", "")


def compute_term_of(frame: pl.DataFrame, column: str) -> pl.Expr:
    """:func:`compute_term` of ``frame[column]``, computed once per distinct value.

    A column of terms (DSDECOD, EXTRT, EPOCH) holds a few distinct values in millions of
    rows: normalizing the distinct values and mapping them back is much faster. A frame
    without the column gives a null literal.

    Example:
        >>> ds = pl.DataFrame({"DSDECOD": [" Randomized", "RANDOMIZED", None]})
        >>> ds.select(compute_term_of(ds, "DSDECOD"))["DSDECOD"].to_list()
        ['RANDOMIZED', 'RANDOMIZED', None]
    """
    if column not in frame.columns:
        return pl.lit(None, pl.String).alias(column)
    raw = frame.select(pl.col(column).cast(pl.String).unique().drop_nulls()).to_series()
    terms = raw.to_frame().select(compute_term(pl.col(column))).to_series()
    return pl.col(column).cast(pl.String).replace_strict(raw, terms, default=None, return_dtype=pl.String)
