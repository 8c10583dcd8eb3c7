"""Events and holidays as baseline columns, built once into the weekly design every model reads.

Four sources (config.json `baseline`), each event with its own column and so its own coefficient:
the data's own 0/1 dummies (`event_columns`), a text events column one-hot encoded (`events_text_column`,
Robyn's `na`/`event1`/`event2`), country holidays from the `holidays` package (`holidays`, with a window of
weeks around each) and named event weeks (`event_weeks`, e.g. promo weeks). Why in the baseline and not as
controls: a KPI spike that no column explains is otherwise absorbed by whichever channel happened to spend
that week (measured: tests/test_events.py, promo weeks on the simulator).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prism.errors import InputError
from prism.schemas import BaselineConfig

NO_EVENT_LABELS = {"", "na", "n/a", "nan", "none", "null", "no", "no event", "-", "0"}
LABEL_SEP = "="  # one-hot columns of a text events column are named `<column>=<label>`
HOLIDAY_PREFIX = "holiday: "
DAYS_PER_WEEK = 7


def one_hot(labels: pd.Series) -> pd.DataFrame:
    """0/1 columns `<column>=<label>` for each label of a text events column; `na`/empty means no event."""
    text = labels.astype("string").str.strip().fillna("")
    active = text[~text.str.lower().isin(NO_EVENT_LABELS)]
    return pd.DataFrame({f"{labels.name}{LABEL_SEP}{v}": (text == v).astype(float) for v in sorted(active.unique())},
                        index=labels.index)


def data_event_columns(columns: list[str], baseline: BaselineConfig) -> list[str]:
    """The weekly table's event columns: the dummies, then the text column's one-hot columns."""
    text = baseline.events_text_column
    one_hots = [c for c in columns if text and c.startswith(f"{text}{LABEL_SEP}")]
    return [c for c in baseline.event_columns if c in columns] + one_hots


def event_design(frame: pd.DataFrame, dates: pd.DatetimeIndex, baseline: BaselineConfig
                 ) -> tuple[list[str], np.ndarray]:
    """(names, (T, E) matrix) of every event over the weeks; an event never active is left out."""
    cols = data_event_columns(list(frame.columns), baseline)
    parts = {c: frame[c].to_numpy(dtype=float) for c in cols}
    for name, column in (*_holiday_columns(dates, baseline), *_event_week_columns(dates, baseline)):
        if name in parts:
            raise InputError(f"config.json baseline: event name '{name}' is used twice; rename one")
        parts[name] = column
    parts = {k: v for k, v in parts.items() if np.any(v != 0)}
    matrix = np.column_stack(list(parts.values())) if parts else np.zeros((len(dates), 0))
    return list(parts), matrix


def week_of(dates: pd.DatetimeIndex, day: pd.Timestamp) -> int | None:
    """Index of the week (dates are week starts) that contains `day`, None outside the data."""
    i = int(dates.searchsorted(day, side="right")) - 1
    return i if i >= 0 and day < dates[i] + pd.Timedelta(days=DAYS_PER_WEEK) else None


def _holiday_columns(dates: pd.DatetimeIndex, baseline: BaselineConfig) -> list[tuple[str, np.ndarray]]:
    """One column per public holiday name: 1 in its week and in the window of weeks around it."""
    if not baseline.holidays:
        return []
    import holidays

    years = range(dates[0].year, dates[-1].year + 1)
    before, after = baseline.holiday_window
    columns: dict[str, np.ndarray] = {}
    calendar = holidays.country_holidays(baseline.holidays, years=years, observed=False)  # the day itself, not
    for day, names in sorted(calendar.items()):  # the day off in lieu: demand moves with the day people celebrate
        i = week_of(dates, pd.Timestamp(day))
        if i is None:
            continue
        for name in names.split("; "):
            key = HOLIDAY_PREFIX + name.strip()
            col = columns.setdefault(key, np.zeros(len(dates)))
            col[max(0, i - before): i + after + 1] = 1.0
    return list(columns.items())


def _event_week_columns(dates: pd.DatetimeIndex, baseline: BaselineConfig) -> list[tuple[str, np.ndarray]]:
    """One column per named event: 1 in each week containing one of its dates; a date outside the data is bad input."""
    out = []
    for name, days in baseline.event_weeks.items():
        col = np.zeros(len(dates))
        for d in days:
            i = week_of(dates, pd.Timestamp(d))
            if i is None:
                raise InputError(f"config.json baseline.event_weeks.{name}: {d} is outside the data "
                                 f"({dates[0].date()} → {(dates[-1] + pd.Timedelta(days=6)).date()})")
            col[i] = 1.0
        out.append((name, col))
    return out
