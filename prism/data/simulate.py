"""Simulated weekly MMM data with known ground truth, for tests and benchmarks.

KPI = baseline (level + trend + yearly seasonality) + controls + Σ beta_c · saturation(adstock(spend_c))
+ unmodelled promo spikes (random weeks, or `recurring_promos`: the same weeks of every year) + Gaussian noise. Each channel's beta is set so that its true ROI over all weeks
equals a chosen target; the weekly true contributions are kept so the truth can be read on any window.
Prism's ROI (models/base.py) is a channel's contribution summed over the TRAINING weeks ÷ its spend over
the same weeks, both counted from week 0 with no spend before it: `true_roi(slice(0, n_train))` is
exactly that quantity for the simulated truth.

The truth curves are written here in NumPy and import no model code on purpose: a bug in a model's
transforms must not also be in the truth it is scored against. `realistic_case(seed)` draws the harder
scenarios real data brings (unmodelled promotions, tiny and always-on channels, on/off flighting,
collinear pairs, delayed carry-over, logistic curves, 52–260 weeks, 2–10 % noise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from prism.workspace import write_csv, write_json

CHANNEL_NAMES = ("tv_spend", "search_spend", "social_spend", "display_spend", "video_spend",
                 "radio_spend", "print_spend", "ooh_spend", "email_spend", "affiliate_spend")
DEFAULT_ROI = (2.5, 1.2, 0.8, 3.0, 1.6, 2.0, 0.6, 1.0, 1.4, 0.9)
DEFAULT_DECAY = (0.6, 0.1, 0.3, 0.45, 0.5, 0.35, 0.25, 0.4, 0.2, 0.3)
DEFAULT_HALF = (1.0, 0.8, 1.2, 0.9, 1.1, 1.0, 0.7, 1.3, 1.0, 0.9)  # × mean adstocked spend
DEFAULT_SLOPE = (1.5, 1.0, 1.2, 2.0, 1.3, 1.0, 1.5, 1.1, 1.2, 1.4)
MAX_LAG = 8
WEEKS_PER_YEAR = 52
DELAYED_PEAK = (1.0, 3.0)  # weeks from spend to the peak of a delayed carry-over (uniform range)
TINY_SHARE = (0.004, 0.015)  # a tiny channel's share of all spend (always under 2 %)
STEADY_JITTER = 0.2  # an always-on channel keeps 20 % of the usual week-to-week jitter (lognormal sd 0.05)
PAIR_JITTER = 0.08  # the second channel of a collinear pair follows the first with this lognormal sd
PROMO_LIFT = (0.15, 0.40)  # an unmodelled promotion adds this share of the mean KPI in its week

Flighting = Literal["wave", "onoff", "bursty", "steady"]
FLIGHTINGS: tuple[str, ...] = ("wave", "onoff", "bursty", "steady")
ADSTOCKS: tuple[str, ...] = ("geometric", "delayed")
SATURATIONS: tuple[str, ...] = ("hill", "logistic")


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
    baseline: np.ndarray | None = None  # (T,) level + trend + seasonality + controls, KPI units
    promo: np.ndarray | None = None  # (T,) the unmodelled promotion lift per week (0 in most weeks)

    def true_roi(self, weeks: slice = slice(None)) -> dict[str, float]:
        """True ROI per channel over a window of weeks (default: all); Prism scores on slice(0, n_train)."""
        spend = self.frame[self.channels].iloc[weeks].sum()
        contrib = self.contributions[self.channels].iloc[weeks].sum()
        return {ch: float(contrib[ch] / spend[ch]) for ch in self.channels}

    def true_contribution_pct(self, weeks: slice = slice(None)) -> dict[str, float]:
        """True contribution % of KPI per channel over a window of weeks."""
        kpi = float(self.frame[self.kpi].iloc[weeks].sum())
        contrib = self.contributions[self.channels].iloc[weeks].sum()
        return {ch: float(contrib[ch] / kpi * 100.0) for ch in self.channels}

    def spend_share(self) -> dict[str, float]:
        """Each channel's share of all spend over all weeks."""
        spend = self.frame[self.channels].sum()
        return {ch: float(spend[ch] / spend.sum()) for ch in self.channels}

    def write(self, path: str | Path) -> Path:
        """Write the table as CSV and the truth beside it as `<stem>_truth.json`; returns the truth path."""
        path = Path(path)
        write_csv(path, self.frame)
        truth = path.with_name(f"{path.stem}_truth.json")
        promo = self.promo if self.promo is not None else np.zeros(len(self.frame))
        write_json(truth, {
            "kpi": self.kpi,
            "channels": self.channels,
            "controls": self.controls,
            "params": self.params,
            "roi": self.true_roi(),
            "contribution_pct": self.true_contribution_pct(),
            "weekly_contributions": {c: self.contributions[c].round(4).tolist() for c in self.channels},
            "promo_weeks": {str(self.frame["date"].iloc[i]): round(float(promo[i]), 2)
                            for i in np.flatnonzero(promo)},
            "notes": self.notes,
        })
        return truth


# ------------------------------------------------------------------------------------------ truth curves


def carryover(spend: np.ndarray, kind: str, decay: np.ndarray, peak: np.ndarray, max_lag: int = MAX_LAG
              ) -> np.ndarray:
    """(T, C) spend carried into later weeks: geometric decay**l, or delayed decay**((l − peak)²).

    Neither is normalised: beta is solved for the target ROI afterwards, so only the lag shape matters.
    """
    lags = np.arange(max_lag)[:, None]
    if kind == "geometric":
        weights = decay[None, :] ** lags
    elif kind == "delayed":
        weights = decay[None, :] ** ((lags - peak[None, :]) ** 2)
    else:
        raise ValueError(f"unknown adstock '{kind}'; known: {list(ADSTOCKS)}")
    weeks = spend.shape[0]
    return np.column_stack([np.convolve(spend[:, c], weights[:, c])[:weeks] for c in range(spend.shape[1])])


def response(x: np.ndarray, kind: str, half: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """Share of the maximum effect: Hill x^s / (x^s + h^s), or logistic with half its maximum at x = h."""
    if kind == "hill":
        ratio = (np.maximum(x, 0.0) / half) ** slope
        return ratio / (1.0 + ratio)
    if kind == "logistic":
        e = np.exp(-np.log(3.0) * x / half)
        return (1.0 - e) / (1.0 + e)
    raise ValueError(f"unknown saturation '{kind}'; known: {list(SATURATIONS)}")


# ------------------------------------------------------------------------------------------------ spend


def _flighting(rng: np.random.Generator, weeks: int, index: int) -> np.ndarray:
    """Distinct on/off patterns per channel so that the channels can be told apart."""
    t = np.arange(weeks)
    period = 8 + 5 * index
    phase = rng.integers(0, period)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (t + phase) / period)
    on = rng.random(weeks) > (0.1 + 0.04 * index)
    return (0.3 + wave) * on


def _pattern(kind: str, rng: np.random.Generator, weeks: int) -> np.ndarray:
    """Other flighting shapes: alternating on/off blocks, sparse bursts, or always on at one level."""
    if kind == "steady":
        return np.ones(weeks)
    if kind == "onoff":
        on, off = rng.integers(2, 7), rng.integers(2, 7)
        cycle = (np.arange(weeks) + rng.integers(0, on + off)) % (on + off)
        return (cycle < on) * rng.uniform(0.7, 1.3, size=weeks)
    if kind == "bursty":
        pattern = np.zeros(weeks)
        for start in np.flatnonzero(rng.random(weeks) < 0.08):
            pattern[start:start + rng.integers(1, 5)] = rng.uniform(1.0, 3.0)
        return pattern if pattern.any() else _pattern("onoff", rng, weeks)
    raise ValueError(f"unknown flighting '{kind}'; known: {list(FLIGHTINGS)}")


def _spend(rng: np.random.Generator, extra: np.random.Generator, weeks: int, flighting: Sequence[str],
           pairs: int, tiny: int) -> np.ndarray:
    """(T, C) weekly spend. The default ('wave', no pairs, no tiny channel) draws only from `rng`, so
    the default datasets stay as they were; every other option draws from `extra`."""
    n = len(flighting)
    levels = 10_000.0 * np.exp(rng.normal(0.0, 0.6, size=n))
    spend = np.stack([_flighting(rng, weeks, i) for i in range(n)], axis=1)
    jitter = rng.lognormal(0.0, 0.25, size=(weeks, n))
    for i, kind in enumerate(flighting):
        if kind != "wave":
            spend[:, i] = _pattern(kind, extra, weeks)
        if kind == "steady":
            jitter[:, i] **= STEADY_JITTER
    spend *= levels * jitter
    for k in range(min(pairs, n // 2)):  # channel 2k+1 follows channel 2k closely (r > 0.9)
        a, b = 2 * k, 2 * k + 1
        spend[:, b] = spend[:, a] * (levels[b] / levels[a]) * (rng if k == 0 else extra).lognormal(
            0.0, PAIR_JITTER, size=weeks)
    if tiny:  # the last `tiny` channels get a share of all spend under 2 % each
        share = extra.uniform(*TINY_SHARE, size=min(tiny, n - 1))
        rest = spend[:, : n - len(share)].sum()
        totals = spend[:, n - len(share):].sum(axis=0)
        spend[:, n - len(share):] *= share / (1.0 - share.sum()) * rest / np.maximum(totals, 1e-12)
    return np.round(spend, 2)


def _promos(extra: np.random.Generator, weeks: int, count: int, kpi_mean: float) -> np.ndarray:
    """(T,) KPI lift in `count` random weeks that no column of the table explains."""
    lift = np.zeros(weeks)
    chosen = extra.choice(weeks, size=min(count, weeks), replace=False)
    lift[chosen] = extra.uniform(*PROMO_LIFT, size=len(chosen)) * kpi_mean
    return lift


# ------------------------------------------------------------------------------------------- simulate


def simulate(weeks: int = 156, n_channels: int = 5, seed: int = 0, collinear: bool | int = False,
             n_controls: int = 1, noise: float = 0.04, media_share: float = 0.35,
             start: str = "2021-01-04", kpi: str = "revenue", *,
             flighting: Flighting | Sequence[str] = "wave", tiny_channels: int = 0, promo_weeks: int = 0,
             adstock: str = "geometric", saturation: str = "hill", roi: Sequence[float] | None = None,
             recurring_promos: tuple[int, ...] = (), promo_lift: float = 0.4) -> Simulation:
    """Simulate `weeks` Mondays of data with `n_channels` channels and known ROI per channel.

    `media_share` sets the baseline so that media drives roughly that share of the KPI; `noise` is the
    noise sd as a share of mean KPI; `collinear` (True or a number of pairs) makes channels 0–1, 2–3, …
    move together. The keyword-only options make it realistic: `flighting` per channel (or one for all:
    'wave', 'onoff', 'bursty', 'steady'), the last `tiny_channels` channels under 2 % of spend,
    `promo_weeks` unmodelled KPI spikes, `adstock` 'geometric'|'delayed', `saturation` 'hill'|'logistic',
    and `roi` the true ROI per channel over all weeks. `recurring_promos` are weeks of the year (0-based)
    whose KPI rises by `promo_lift` × the baseline level every year: the recurring events a Tuner has to
    find from the KPI's anomalies (their dates are in `notes["promo_dates"]`).
    """
    if not 1 <= n_channels <= len(CHANNEL_NAMES):
        raise ValueError(f"n_channels must be 1..{len(CHANNEL_NAMES)}")
    flighting = [flighting] * n_channels if isinstance(flighting, str) else list(flighting)
    if len(flighting) != n_channels or (roi is not None and len(roi) != n_channels):
        raise ValueError(f"flighting and roi need one entry per channel ({n_channels})")
    rng, extra = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    channels = list(CHANNEL_NAMES[:n_channels])
    spend = _spend(rng, extra, weeks, flighting, int(collinear), tiny_channels)
    decay = np.array(DEFAULT_DECAY[:n_channels])
    slope = np.array(DEFAULT_SLOPE[:n_channels])
    peak = extra.uniform(*DELAYED_PEAK, size=n_channels) if adstock == "delayed" else np.zeros(n_channels)
    adstocked = carryover(spend, adstock, decay, peak)
    half = np.array(DEFAULT_HALF[:n_channels]) * adstocked.mean(axis=0)
    saturated = response(adstocked, saturation, half, slope)
    target = np.array(DEFAULT_ROI[:n_channels] if roi is None else roi, dtype=float)
    beta = target * spend.sum(axis=0) / saturated.sum(axis=0)
    contrib = saturated * beta

    t = np.arange(weeks)
    media_mean = contrib.sum(axis=1).mean()
    level = media_mean * (1.0 - media_share) / media_share
    baseline = level * (1.0 + 0.15 * t / weeks + 0.08 * np.sin(2 * np.pi * t / 52.18)
                        + 0.04 * np.cos(2 * np.pi * t / 52.18))
    controls = {f"control_{i + 1}": np.round(rng.normal(0.0, 1.0, weeks), 4) for i in range(n_controls)}
    baseline = baseline + (sum(0.03 * level * v for v in controls.values()) if controls else 0.0)
    recurring = np.isin(t % WEEKS_PER_YEAR, recurring_promos)
    promo = (_promos(extra, weeks, promo_weeks, float((baseline + contrib.sum(axis=1)).mean()))
             + promo_lift * level * recurring)
    y = baseline + contrib.sum(axis=1) + promo
    y = y + rng.normal(0.0, noise * y.mean(), size=weeks)

    dates = pd.date_range(start, periods=weeks, freq="W-MON")
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), **{c: spend[:, i] for i, c in enumerate(channels)},
                          **controls, kpi: np.round(y, 2)})
    params = {c: {"decay": float(decay[i]), "half": float(half[i]), "slope": float(slope[i]),
                  "beta": float(beta[i]), **({"peak": float(peak[i])} if adstock == "delayed" else {})}
              for i, c in enumerate(channels)}
    notes = {"seed": seed, "collinear": collinear, "noise": noise, "media_share": media_share, "max_lag": MAX_LAG,
             "adstock": f"{adstock} (not normalised)", "saturation": saturation, "flighting": flighting,
             "tiny_channels": tiny_channels, "promo_weeks": promo_weeks,
             "promo_dates": [str(d.date()) for d in dates[recurring]], "promo_lift": promo_lift}
    return Simulation(frame=frame, channels=channels, controls=list(controls), kpi=kpi, params=params,
                      contributions=pd.DataFrame(contrib, columns=channels), notes=notes, baseline=baseline,
                      promo=promo)


def realistic_case(seed: int) -> Simulation:
    """One random scenario with the difficulties real data brings, for benchmarks (its draw is in `notes`).

    52–260 weeks, 4–10 channels with mixed flighting (some always on), up to two channels under 2 % of
    spend, a collinear pair in half the cases, geometric or delayed carry-over, Hill or logistic curves,
    2–10 % noise, media 15–45 % of the KPI, true ROIs 0.3–5 and unmodelled promotions in ~3 % of weeks.
    """
    rng = np.random.default_rng([seed, 2])
    n = int(rng.integers(4, 11))
    weeks = int(rng.integers(52, 261))
    return simulate(
        weeks=weeks, n_channels=n, seed=seed, collinear=int(rng.random() < 0.5), n_controls=int(rng.integers(0, 3)),
        noise=float(rng.uniform(0.02, 0.10)), media_share=float(rng.uniform(0.15, 0.45)),
        flighting=[str(k) for k in rng.choice(FLIGHTINGS, size=n, p=[0.4, 0.25, 0.15, 0.2])],
        tiny_channels=int(rng.integers(0, 3)), promo_weeks=int(rng.poisson(0.03 * weeks)),
        adstock=str(rng.choice(ADSTOCKS)), saturation=str(rng.choice(SATURATIONS)),
        roi=np.round(np.exp(rng.uniform(np.log(0.3), np.log(5.0), size=n)), 2).tolist())
