"""Numbers written as text the way spreadsheets export them, and values shown the way users wrote them.

A spend column exported as `1,234.5` or `$1,200` is not "not a number": dropping or refusing it would lose a
channel the user can see in the file. Only the unambiguous forms are read — an optional currency symbol and
comma thousands groups of exactly three digits — so `1,5` (a decimal comma) stays text and is reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CURRENCY = r"^\s*([+-]?)\s*[$€£¥]\s*"
THOUSANDS = r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$"


def to_numbers(col: pd.Series) -> pd.Series:
    """Floats from a column of numbers or number-like text; NaN where a value is not a number."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.astype(float)
    text = col.astype("string").str.strip().str.replace(CURRENCY, r"\1", regex=True)
    grouped = text.str.match(THOUSANDS).fillna(False).astype(bool)
    text = text.where(~grouped, text.str.replace(",", "", regex=False))
    return pd.to_numeric(text, errors="coerce").astype(float)


def shown(value: object) -> str:
    """A cell value for a message: numbers plain (`44522`, not `np.int64(44522)`), text quoted."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, str) else str(value)
