"""Simulated weekly MMM data with known ground truth, for tests and benchmarks.

KPI = baseline (level + trend + yearly seasonality) + controls + promo spikes + Σ beta_c · hill(geometric_adstock(spend_c))
+ Gaussian noise. Promo spikes (`promo_weeks`) are recurring KPI lifts in the same weeks of every year that no
column of the table records: the unmodelled events a Tuner has to find from the KPI's anomalies. Each channel's beta is set so that its true ROI over all weeks equals a chosen target;
the weekly true contributions are kept so the truth can be read on any window (e.g. the training weeks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from prism.workspace import write_csv, write_json

CHANNEL_NAMES = ("tv_spend", "search_spend", "social_spend", "display_spend", "video_spend",
                 "radio_spend", "print_spend", "ooh_spend", "email_spend", "affiliate_spend")
DEFAULT_ROI = (2.5, 1.2, 0.8, 3.0, 1.6, 2.0, 0.6, 1.0, 1.8, 1.4)
DEFAULT_DECAY = (0.6, 0.1, 0.3, 0.45, 0.5, 0.35, 0.25, 0.4, 0.2, 0.15)
DEFAULT_HALF = (1.0, 0.8, 1.2, 0.9, 1.1, 1.0, 0.7, 1.3, 0.9, 1.1)  # × mean adstocked spend
DEFAULT_SLOPE = (1.5, 1.0, 1.2, 2.0, 1.3, 1.0, 1.5, 1.1, 1.2, 1.4)
MAX_LAG = 8
WEEKS_PER_YEAR = 52


@dataclass
class Simulation:
    """A simulated dataset: the weekly table plus the truth that generated it."""

    frame: pd.DataFrame
    channels: list[str]
    controls: list[str]
    kpi: str
    params: dict[str, dict[str, float]]
    contributions: pd.DataFrame
    notes: dict[str, object] = field(default_factory=dict)

    def true_roi(self, weeks: slice = slice(None)) -> dict[str, float]:
        """True ROI per channel over a window of weeks (default: all)."""
        spend = self.frame[self.channels].iloc[weeks].sum()
        contrib = self.contributions[self.channels].iloc[weeks].sum()
        return {ch: float(contrib[ch] / spend[ch]) for ch in self.channels}

    def true_contribution_pct(self, weeks: slice = slice(None)) -> dict[str, float]:
        """True contribution % of KPI per channel over a window of weeks."""
        kpi = float(self.frame[self.kpi].iloc[weeks].sum())
        contrib = self.contributions[self.channels].iloc[weeks].sum()
        return {ch: float(contrib[ch] / kpi * 100.0) for ch in self.channels}

    def write(self, path: str | Path) -> Path:
        """Write the table as CSV and the truth beside it as `<stem>_truth.json`; returns the truth path."""
        path = Path(path)
        write_csv(path, self.frame)
        truth = path.with_name(f"{path.stem}_truth.json")
        write_json(truth, {
            "kpi": self.kpi,
            "channels": self.channels,
            "controls": self.controls,
            "params": self.params,
            "roi": self.true_roi(),
            "contribution_pct": self.true_contribution_pct(),
            "weekly_contributions": {c: self.contributions[c].round(4).tolist() for c in self.channels},
            "notes": self.notes,
        })
        return truth


def _flighting(rng: np.random.Generator, weeks: int, index: int) -> np.ndarray:
    """Distinct on/off patterns per channel so that the channels can be told apart."""
    t = np.arange(weeks)
    period = 8 + 5 * index
    phase = rng.integers(0, period)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (t + phase) / period)
    on = rng.random(weeks) > (0.1 + 0.04 * index)
    return (0.3 + wave) * on


def _carry_over(spend: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """Geometric adstock, unnormalised, MAX_LAG weeks: written out here rather than taken from
    prism.models, so the simulator stays a data-layer tool and the models are checked against a truth
    they do not share code with."""
    weights = np.power(decay[None, :], np.arange(MAX_LAG)[:, None])
    out = np.zeros_like(spend)
    for lag in range(MAX_LAG):
        out[lag:] += spend[:len(spend) - lag] * weights[lag]
    return out


def _spend(rng: np.random.Generator, weeks: int, n: int, collinear: bool) -> np.ndarray:
    levels = 10_000.0 * np.exp(rng.normal(0.0, 0.6, size=n))
    spend = np.stack([_flighting(rng, weeks, i) for i in range(n)], axis=1)
    spend *= levels * rng.lognormal(0.0, 0.25, size=(weeks, n))
    if collinear and n >= 2:  # channel 1 follows channel 0 closely (r > 0.9)
        spend[:, 1] = spend[:, 0] * (levels[1] / levels[0]) * rng.lognormal(0.0, 0.08, size=weeks)
    return np.round(spend, 2)


def simulate(weeks: int = 156, n_channels: int = 5, seed: int = 0, collinear: bool = False,
             n_controls: int = 1, noise: float = 0.04, media_share: float = 0.35,
             start: str = "2021-01-04", kpi: str = "revenue", promo_weeks: tuple[int, ...] = (),
             promo_lift: float = 0.4) -> Simulation:
    """Simulate `weeks` Mondays of data with `n_channels` channels and known ROI per channel.

    `media_share` sets the baseline so that media drives roughly that share of the KPI; `noise` is the
    noise sd as a share of mean KPI; `collinear` makes the first two channels move together.
    `promo_weeks` are weeks of the year (0-based) whose KPI rises by `promo_lift` × the baseline level in
    every year, recorded only in `notes["promo_dates"]`.
    """
    if not 1 <= n_channels <= len(CHANNEL_NAMES):
        raise ValueError(f"n_channels must be 1..{len(CHANNEL_NAMES)}")
    rng = np.random.default_rng(seed)
    channels = list(CHANNEL_NAMES[:n_channels])
    spend = _spend(rng, weeks, n_channels, collinear)
    decay = np.array(DEFAULT_DECAY[:n_channels])
    slope = np.array(DEFAULT_SLOPE[:n_channels])
    adstocked = _carry_over(spend, decay)
    half = np.array(DEFAULT_HALF[:n_channels]) * adstocked.mean(axis=0)
    ratio = np.power(adstocked / half, slope)
    saturated = ratio / (1.0 + ratio)  # Hill: half the maximum effect at `half`
    roi = np.array(DEFAULT_ROI[:n_channels])
    beta = roi * spend.sum(axis=0) / saturated.sum(axis=0)
    contrib = saturated * beta

    t = np.arange(weeks)
    media_mean = contrib.sum(axis=1).mean()
    level = media_mean * (1.0 - media_share) / media_share
    baseline = level * (1.0 + 0.15 * t / weeks + 0.08 * np.sin(2 * np.pi * t / 52.18)
                        + 0.04 * np.cos(2 * np.pi * t / 52.18))
    controls = {f"control_{i + 1}": np.round(rng.normal(0.0, 1.0, weeks), 4) for i in range(n_controls)}
    control_effect = sum(0.03 * level * v for v in controls.values()) if controls else 0.0
    promo = np.isin(t % WEEKS_PER_YEAR, promo_weeks)
    y = baseline + control_effect + promo_lift * level * promo + contrib.sum(axis=1)
    y = y + rng.normal(0.0, noise * y.mean(), size=weeks)

    dates = pd.date_range(start, periods=weeks, freq="W-MON")
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), **{c: spend[:, i] for i, c in enumerate(channels)},
                          **controls, kpi: np.round(y, 2)})
    params = {c: {"decay": float(decay[i]), "half": float(half[i]), "slope": float(slope[i]),
                  "beta": float(beta[i])} for i, c in enumerate(channels)}
    return Simulation(frame=frame, channels=channels, controls=list(controls), kpi=kpi, params=params,
                      contributions=pd.DataFrame(contrib, columns=channels),
                      notes={"seed": seed, "collinear": collinear, "noise": noise, "media_share": media_share,
                             "promo_dates": [str(d.date()) for d in dates[promo]], "promo_lift": promo_lift,
                             "max_lag": MAX_LAG, "adstock": "geometric (not normalised)", "saturation": "hill"})

