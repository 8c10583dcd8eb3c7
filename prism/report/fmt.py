"""How numbers are written in every deliverable, so the same figure reads the same on slide and page."""

from __future__ import annotations

import math

ROI_DECIMALS = 2
PCT_DECIMALS = 1
MISSING = "–"
WHOLE_FROM = 100  # plain figures this large print without decimals


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def compact(value: float | None, _pos: object = None) -> str:
    """1234567 -> '1.2M': short figures for spend and KPI totals (also a matplotlib tick formatter).

    Billions read 'bn', the suffix the agents' number check (prism.analysis.numbers.SCALE) understands."""
    if _missing(value):
        return MISSING
    for size, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.0f}" if abs(value) >= 10 or value == 0 else f"{value:.1f}"


def roi(value: float | None) -> str:
    return MISSING if _missing(value) else f"{value:.{ROI_DECIMALS}f}"


def pct(value: float | None, decimals: int = PCT_DECIMALS) -> str:
    return MISSING if _missing(value) else f"{value:.{decimals}f}%"


def signed_pct(value: float | None) -> str:
    return MISSING if _missing(value) else f"{value:+.{PCT_DECIMALS}f}%"


def roi_range(low: float | None, high: float | None) -> str:
    return f"{roi(low)}–{roi(high)}"


def number(value: float | None, decimals: int = 2) -> str:
    """A plain figure (diagnostics, R²): integers without decimals."""
    if _missing(value):
        return MISSING
    if float(value).is_integer() and abs(value) < 1e6:
        return f"{int(value)}"
    if abs(value) >= WHOLE_FROM:
        return f"{value:,.0f}"
    if abs(value) < 10 ** -decimals:
        return f"{value:.2g}"  # a tiny figure keeps two significant digits instead of reading 0.00
    return f"{value:.{decimals}f}"
