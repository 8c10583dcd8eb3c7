"""KPI anomalies as facts: the Explorer lists them, the Tuner models the recurring ones as events.

One detector (|z| beyond a limit) for both, so what the Tuner acts on is what the Explorer reported. The
Tuner's version looks at the training weeks only (mean, sd and the flagged weeks), so the locked holdout
never shapes a tuning decision; a recurring event found there is projected onto the holdout weeks by its
day of the year, as a forecast would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

KPI_ANOMALY_Z = 3.0
SPEND_ANOMALY_Z = 4.0
RECUR_DAYS = 10          # anomalies this close in day of the year (any year) belong to one recurring event
MIN_YEARS = 2            # recurring: flagged in at least this many different years
DAYS_PER_YEAR = 365.25
HALF_WEEK_DAYS = 3.5     # a projected date must fall inside one of the data's weeks
EVENT_PREFIX = "kpi_spike_"


@dataclass(frozen=True)
class Anomaly:
    date: pd.Timestamp
    value: float
    z: float


@dataclass(frozen=True)
class RecurringEvent:
    """KPI anomalies in the same weeks of several years; `dates` adds the projected holdout weeks."""

    name: str
    anomalies: tuple[Anomaly, ...]
    dates: tuple[str, ...]

    @property
    def evidence(self) -> str:
        found = ", ".join(f"{a.date.date()} (z = {a.z:+.1f})" for a in self.anomalies)
        projected = len(self.dates) - len(self.anomalies)
        return f"KPI anomalies {found}" + (f"; projected onto {projected} later week(s)" if projected else "")


def anomalies(series: pd.Series, dates: pd.Series, z_limit: float) -> list[Anomaly]:
    """Weeks beyond |z| > z_limit, with their date, value and z."""
    s = series.astype(float).reset_index(drop=True)
    sd = s.std()
    if not sd or not np.isfinite(sd):
        return []
    z = (s - s.mean()) / sd
    when = pd.to_datetime(pd.Series(dates)).reset_index(drop=True)
    return [Anomaly(when.iloc[i], float(s.iloc[i]), float(z.iloc[i])) for i in np.flatnonzero(z.abs() > z_limit)]


def recurring_events(kpi: pd.Series, dates: pd.Series, n_train: int) -> list[RecurringEvent]:
    """Recurring KPI anomalies of the training weeks as named events (`kpi_spike_<month>_<day>`), largest first."""
    when = pd.to_datetime(pd.Series(dates)).reset_index(drop=True)
    found = anomalies(kpi.reset_index(drop=True).iloc[:n_train], when.iloc[:n_train], KPI_ANOMALY_Z)
    groups: list[list[Anomaly]] = []
    for a in sorted(found, key=lambda a: a.date.day_of_year):
        if groups and _day_gap(groups[-1][-1].date, a.date) <= RECUR_DAYS:
            groups[-1].append(a)
        else:
            groups.append([a])
    if len(groups) > 1 and _day_gap(groups[-1][-1].date, groups[0][0].date) <= RECUR_DAYS:
        groups[0] = groups.pop() + groups[0]  # late December and early January are neighbours
    events = [_event(g, when.iloc[n_train:]) for g in groups if len({a.date.year for a in g}) >= MIN_YEARS]
    return sorted(events, key=lambda e: -max(abs(a.z) for a in e.anomalies))


def _day_gap(a: pd.Timestamp, b: pd.Timestamp) -> float:
    gap = abs(a.day_of_year - b.day_of_year)
    return min(gap, DAYS_PER_YEAR - gap)


def _event(group: list[Anomaly], later: pd.Series) -> RecurringEvent:
    """The group's dates plus each later year's week nearest the group's typical day of the year."""
    first = min(group, key=lambda a: a.date)
    centre = float(np.median([a.date.day_of_year for a in group]))
    projected = []
    for _, weeks in later.groupby(later.dt.year):
        gaps = weeks.map(lambda d: _day_gap(d, pd.Timestamp(d.year, 1, 1) + pd.Timedelta(days=centre - 1)))
        if gaps.min() <= HALF_WEEK_DAYS:
            projected.append(weeks.loc[gaps.idxmin()])
    dates = sorted({str(a.date.date()) for a in group} | {str(d.date()) for d in projected})
    return RecurringEvent(f"{EVENT_PREFIX}{first.date.strftime('%b_%d').lower()}", tuple(group), tuple(dates))
