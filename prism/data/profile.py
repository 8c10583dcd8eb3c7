"""Profile the clean weekly table into `schemas.Profile`: what the Explorer and the Critic read.

Stats are computed on the weekly table the models fit (not on the raw rows), so every number in the
profile is one a model saw.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from prism.data.prepare import Prepared, national_frame
from prism.schemas import ColumnStats, DataConfig, MarketProfile, Profile

COLLINEAR_ABS_R = 0.8  # the Critic names pairs above this too (prism/analysis/facts.py)
SPARSE_ZERO_SHARE = 0.5
OUTLIER_Z = 3.0


def build_profile(prepared: Prepared, data: DataConfig) -> Profile:
    """Profile of a prepared weekly table; warnings carry prepare's notes plus the profile's own findings.
    A panel is profiled summed over its markets (what the national results describe), plus each market's
    size and weeks."""
    frame = national_frame(prepared.frame, data) if data.market_column else prepared.frame
    dates = pd.to_datetime(frame[data.date_column])
    kpi = frame[data.kpi]
    modelled = [data.kpi, *prepared.channels, *data.controls, *prepared.events]
    columns = {c: _stats(frame[c], kpi, c == data.kpi) for c in modelled}
    correlations = _correlations(frame[prepared.channels])
    warnings = list(prepared.warnings)
    warnings += _collinear_pairs(correlations)
    warnings += [f"channel '{c}' has zero spend in {columns[c].zero_share:.0%} of weeks"
                 for c in prepared.channels if (columns[c].zero_share or 0.0) > SPARSE_ZERO_SHARE]
    warnings += _kpi_outliers(kpi, dates, data.kpi)
    return Profile(
        rows=prepared.rows,
        weeks=len(frame),
        start=str(dates.iloc[0].date()),
        end=str(dates.iloc[-1].date()),
        frequency=prepared.frequency,
        entity_column=data.entity_column,
        entities=prepared.entities,
        columns=columns,
        correlations=correlations,
        gaps=prepared.gaps,
        warnings=warnings,
        entity=data.entity,
        aggregated_entities=bool(data.aggregate_entities and len(prepared.entities) > 1),
        dropped_channels=prepared.dropped_channels,
        week_anchor=data.week_anchor,
        market_column=data.market_column,
        markets=_markets(prepared, data),
    )


def _markets(prepared: Prepared, data: DataConfig) -> dict[str, MarketProfile]:
    """Each market's size (its mean share of the weekly KPI) and the weeks of data it had."""
    if not data.market_column:
        return {}
    frame = prepared.frame
    kpi = frame.pivot_table(index=data.date_column, columns=data.market_column, values=data.kpi, aggfunc="sum")
    share = kpi.div(kpi.sum(axis=1).replace(0.0, np.nan), axis=0).mean()
    return {str(m): MarketProfile(size=round(float(share[m]), 6), weeks=prepared.market_weeks.get(m, len(kpi)))
            for m in kpi.columns}


def _stats(col: pd.Series, kpi: pd.Series, is_kpi: bool) -> ColumnStats:
    values = col.astype(float)
    return ColumnStats(
        column=str(col.name),
        dtype=str(col.dtype),
        mean=_num(values.mean()),
        std=_num(values.std()),
        min=_num(values.min()),
        max=_num(values.max()),
        total=_num(values.sum()),
        zero_share=_num((values == 0).mean()),
        missing_share=float(values.isna().mean()),
        corr_kpi=None if is_kpi else _corr(values, kpi),
    )


def _correlations(channels: pd.DataFrame) -> dict[str, dict[str, float]]:
    corr = channels.astype(float).corr()
    values = corr.to_numpy()  # plain array: 200 channels made 80 000 `.loc` look-ups take 20 s
    return {a: {b: round(float(v), 4) for b, v in zip(corr.columns, row) if np.isfinite(v)}
            for a, row in zip(corr.index, values)}


def _collinear_pairs(corr: dict[str, dict[str, float]]) -> list[str]:
    names = list(corr)
    return [f"channels '{a}' and '{b}' move together (r = {corr[a][b]:.2f}); their effects are hard to separate"
            for i, a in enumerate(names) for b in names[i + 1:] if abs(corr[a].get(b, 0.0)) > COLLINEAR_ABS_R]


def _kpi_outliers(kpi: pd.Series, dates: pd.Series, name: str) -> list[str]:
    std = kpi.std()
    if not std or not np.isfinite(std):
        return []
    z = (kpi - kpi.mean()) / std
    spikes = [str(d.date()) for d in dates[(z.abs() > OUTLIER_Z).to_numpy()]]
    return [f"KPI '{name}' has {len(spikes)} outlier week(s) (|z| > {OUTLIER_Z:g}): {', '.join(spikes)}"] if spikes else []


def _corr(a: pd.Series, b: pd.Series) -> float | None:
    if a.std() == 0 or b.std() == 0:
        return None
    return _num(np.corrcoef(a.to_numpy(float), b.to_numpy(float))[0, 1])


def _num(x: float) -> float | None:
    x = float(x)
    return round(x, 6) if math.isfinite(x) else None
