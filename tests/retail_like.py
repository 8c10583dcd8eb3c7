"""A retail-like weekly dataset with known truth: many channels, large ROIs, dozens of dummy controls.

Built to reproduce the shape on which ridge once zeroed every channel (a retailer's 209 weeks × 10
channels × 50 controls, ROIs in the tens, media about a fifth of sales): 11 month dummies, 33 holiday
and event weeks (each 1 in one week a year), 2 promo flags, 4 continuous controls. Spend rises in Q4
as retailers' does, so media and season are mildly confounded. Shared by tests/test_ridge.py and
bench/ridge_accuracy.py; prism/data/simulate.py stays the project's general simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from prism.models.transforms import GeometricAdstock, HillSaturation

WEEKS = 209
ROI = (14.0, 9.0, 20.0, 6.0, 12.0, 4.0, 16.0, 8.0, 3.0, 10.0)
SPEND_LEVEL = (60_000, 45_000, 30_000, 25_000, 20_000, 12_000, 10_000, 6_000, 4_000, 2_500)
DECAY = (0.6, 0.1, 0.3, 0.5, 0.2, 0.4, 0.35, 0.15, 0.45, 0.25)
HALF = (1.0, 0.8, 1.2, 0.9, 1.1, 1.0, 0.7, 1.3, 1.0, 0.9)  # × mean adstocked spend
SLOPE = (1.5, 1.0, 1.2, 2.0, 1.3, 1.0, 1.5, 1.1, 1.2, 1.0)
MEDIA_SHARE = 0.2
N_EVENTS = 33
NOISE = 0.04
MAX_LAG = 8


@dataclass
class RetailCase:
    frame: pd.DataFrame
    channels: list[str]
    controls: list[str]
    kpi: str
    contributions: np.ndarray  # (T, C) true weekly contribution

    def true_roi(self, n_weeks: int) -> dict[str, float]:
        """True ROI per channel over the first `n_weeks` weeks."""
        spend = self.frame[self.channels].to_numpy()[:n_weeks].sum(axis=0)
        return dict(zip(self.channels, self.contributions[:n_weeks].sum(axis=0) / spend))


def _spend(rng: np.random.Generator, week_of_year: np.ndarray) -> np.ndarray:
    """Always-on and flighted channels, with a Q4 lift shared by all (the mild season confounding)."""
    t, n = len(week_of_year), len(SPEND_LEVEL)
    q4 = 1.0 + 0.5 * (week_of_year >= 44)
    cols = []
    for c in range(n):
        period = 6 + 3 * c
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * (np.arange(t) + rng.integers(period)) / period)
        on = rng.random(t) > (0.05 + 0.05 * (c % 4))
        cols.append(SPEND_LEVEL[c] * (0.3 + wave) * on * q4 * rng.lognormal(0.0, 0.3, t))
    return np.round(np.column_stack(cols), 2)


def _controls(rng: np.random.Generator, dates: pd.DatetimeIndex) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(controls by name, their true effect as a share of the baseline level per week)."""
    t = len(dates)
    week = dates.isocalendar().week.to_numpy()
    ctl: dict[str, np.ndarray] = {f"month_{m:02d}": (dates.month == m).astype(float) for m in range(2, 13)}
    event_weeks = rng.choice(np.arange(1, 53), size=N_EVENTS, replace=False)
    ctl |= {f"event_{i + 1:02d}": (week == w).astype(float) for i, w in enumerate(event_weeks)}
    ctl |= {f"promo_{i + 1}": (rng.random(t) < 0.12).astype(float) for i in range(2)}
    ctl |= {"price_index": np.round(1.0 + 0.03 * rng.standard_normal(t).cumsum() / np.sqrt(t), 4),
            "temperature": np.round(12 + 9 * np.sin(2 * np.pi * (week - 16) / 52) + rng.normal(0, 2, t), 2),
            "competitor_index": np.round(rng.normal(0.0, 1.0, t), 3),
            "confidence_index": np.round(rng.normal(0.0, 1.0, t), 3)}
    effect = np.zeros(t)
    for m in range(2, 13):
        effect += 0.06 * np.sin(2 * np.pi * (m - 3) / 12) * ctl[f"month_{m:02d}"]
    for i in range(N_EVENTS):  # a third of the events matter, some a lot (Black-Friday-like weeks)
        effect += (rng.uniform(0.1, 0.6) if i % 3 == 0 else 0.0) * ctl[f"event_{i + 1:02d}"]
    effect += 0.15 * ctl["promo_1"] + 0.05 * ctl["promo_2"]
    effect += -1.5 * (ctl["price_index"] - 1.0) + 0.03 * ctl["competitor_index"]
    return ctl, effect


def retail_like(seed: int) -> RetailCase:
    """209 weeks × 10 channels × 50 controls with known ROIs (seeded)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2019-01-07", periods=WEEKS, freq="W-MON")
    spend = _spend(rng, dates.isocalendar().week.to_numpy())
    adstocked = GeometricAdstock(max_lag=MAX_LAG)(spend, np.array(DECAY))
    saturated = HillSaturation()(adstocked, np.array(HALF) * adstocked.mean(axis=0), np.array(SLOPE))
    contrib = saturated * np.array(ROI) * spend.sum(axis=0) / saturated.sum(axis=0)
    controls, effect = _controls(rng, dates)
    level = contrib.sum(axis=1).mean() * (1.0 - MEDIA_SHARE) / MEDIA_SHARE
    y = level * (1.0 + 0.1 * np.arange(WEEKS) / WEEKS + effect) + contrib.sum(axis=1)
    y = y + rng.normal(0.0, NOISE * y.mean(), WEEKS)
    channels = [f"channel_{c + 1:02d}" for c in range(len(ROI))]
    frame = pd.DataFrame({"date": dates, **dict(zip(channels, spend.T)), **controls, "sales": np.round(y, 2)})
    return RetailCase(frame=frame, channels=channels, controls=list(controls), kpi="sales", contributions=contrib)
