"""Read a date column as one time line, deciding day-first or month-first from the whole column.

A first-row guess misreads daily `dd/mm/yy` data (`03/01/22` → 1 March) and calls a valid ISO date "not a
date" when the first row used another format. So: ISO values (`2024-01-05`, with any time or offset) are
read as ISO; numeric `a/b/yyyy` values are read strictly both ways, and the reading that parses every value
wins; when both do, the one that gives a regular daily or weekly step wins; otherwise the column is refused
naming both readings. Time-zone offsets are dropped after reading, keeping each row's own wall-clock time,
so mixed offsets (summer/winter time) stay on their calendar day.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from prism.errors import InputError

ISO = r"^\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*(?:Z|[+-]\d{2}:?\d{2}))?)?$"
TZ_SUFFIX = r"\s*(?:Z|[+-]\d{2}:?\d{2})$"
NUMERIC = r"^(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})(?P<time>[ T]\S.*)?$"
CENTURY_PIVOT = 69  # two-digit years: 00–68 → 2000s, 69–99 → 1900s (as C's strptime %y)
REGULAR_STEPS_DAYS = (1, 7)


def parse_date_text(text: pd.Series, col: str, name: str) -> pd.Series:
    """Naive datetimes for stripped text values (NaT where a value is no date); refuses an ambiguous column."""
    uniq = pd.Series(text.dropna().unique(), dtype="string")
    mapping = pd.Series(_parse_unique(uniq, col, name).to_numpy(), index=uniq.to_numpy())
    return pd.to_datetime(text.map(mapping), errors="coerce")


def _parse_unique(uniq: pd.Series, col: str, name: str) -> pd.Series:
    out = pd.Series(pd.NaT, index=uniq.index, dtype="datetime64[us]")
    iso = uniq.str.match(ISO).fillna(False).astype(bool)
    if iso.any():
        out[iso] = _quiet(pd.to_datetime, uniq[iso].str.replace(TZ_SUFFIX, "", regex=True), format="ISO8601",
                          errors="coerce")
    numeric = uniq.str.match(NUMERIC).fillna(False).astype(bool) & ~iso
    if numeric.any():
        out[numeric] = _day_or_month_first(uniq[numeric], out[iso], col, name)
    other = ~iso & ~numeric
    if other.any():  # month names and the like: unambiguous for dateutil
        parsed = _quiet(pd.to_datetime, uniq[other], format="mixed", errors="coerce", utc=True)
        out[other] = parsed.dt.tz_localize(None)
    return out


def _day_or_month_first(values: pd.Series, known: pd.Series, col: str, name: str) -> pd.Series:
    """The strict reading that parses every value; if both do and differ, the one with a regular step."""
    month, day = _strict(values, day_first=False), _strict(values, day_first=True)
    complete = [r for r in (month, day) if r.notna().all()]
    if len(complete) < 2:
        return complete[0] if complete else max((month, day), key=lambda r: int(r.notna().sum()))
    if month.equals(day):
        return month
    regular = [r for r in complete if _regular(pd.concat([r, known]))]
    if len(regular) == 1:
        return regular[0]
    i = int(np.flatnonzero((month != day).to_numpy())[0])
    raise InputError(f"{name}: date column '{col}' is ambiguous: {values.iloc[i]!s} reads as "
                     f"{month.iloc[i].date()} (month first) or {day.iloc[i].date()} (day first) and both readings "
                     f"fit every row; write the dates as YYYY-MM-DD")


def _strict(values: pd.Series, day_first: bool) -> pd.Series:
    """Rebuild `a/b/y` as ISO text one way round and parse it strictly (an impossible date stays NaT)."""
    parts = values.str.extract(NUMERIC)
    year = parts["y"].astype(int)
    year = year.where(parts["y"].str.len() == 4, year + np.where(year < CENTURY_PIVOT, 2000, 1900))
    month, day = (parts["b"], parts["a"]) if day_first else (parts["a"], parts["b"])
    iso = year.astype(str) + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + parts["time"].fillna("")
    return _quiet(pd.to_datetime, iso.str.replace(TZ_SUFFIX, "", regex=True), format="ISO8601", errors="coerce")


def _regular(dates: pd.Series) -> bool:
    """One step between all distinct dates, and that step a day or a week."""
    steps = np.unique(np.diff(np.sort(dates.dropna().dt.normalize().unique())) / np.timedelta64(1, "D"))
    return len(steps) == 1 and steps[0] in REGULAR_STEPS_DAYS


def _quiet(fn, *args, **kwargs):
    """pandas' format-inference warnings would print before our one-line error: the decision is ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)
