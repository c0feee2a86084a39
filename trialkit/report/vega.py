"""The Vega-Lite version every chart, static image and bundle of a page must agree on.

Example:
    >>> vl_version().count(".")
    1
"""

from __future__ import annotations


def vl_version() -> str:
    """The Vega-Lite major.minor version of the installed altair (e.g. "6.4")."""
    import altair as alt

    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
