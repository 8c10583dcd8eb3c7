"""Simulated regional panels (markets × weeks) with known truth, for tests and benchmarks of the panel fits.

Each market g has its own size (KPI level; the largest is many times the smallest), its own ROI per channel
drawn around a national one, its own spend intensity, baseline trend and seasonal amplitude, and noise:

    KPI_g(t) = baseline_g(t) + promo lift_g(t) + Σ_c beta_gc · response(carryover(spend_gc))(t) + noise

Spend follows a national flighting per channel (campaigns are bought nationally) times the market's size and
intensity, with week-to-week jitter per market; `regional` channels run only in some markets and in staggered
flights (the cross-market variation a panel fit identifies from). Channels 0 and 1 are a collinear pair
nationally. A market-level promotion (a 0/1 `promo` column, on in a few weeks of some markets) lifts the KPI.
Carry-over is delayed or geometric and curves logistic or Hill, with the half-saturation per market in units
of the market's own size (saturation per head of the market, as a population-scaled model assumes), so the
truth is not any model's own parametrisation.

Truth: a market's ROI is its channel contribution ÷ its spend over a window (NaN where the channel has no
spend there); the national ROI is the contribution summed over markets ÷ the spend summed over markets.
`PanelSimulation.frame` is the long table (`date`, `market`, channels, controls, KPI) a user would bring.
The truth curves come from the national simulator's NumPy functions and import no model code on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from prism.data.simulate import CHANNEL_NAMES, carryover, response

MARKET_COLUMN = "market"
PROMO_COLUMN = "promo"
SIZE_SPREAD = 1.0  # lognormal sd of market size: with 12–20 markets the largest is ~15–40× the smallest
ROI_SPREAD = 0.3  # lognormal sd of a market's ROI around the national one
INTENSITY_SPREAD = 0.3  # lognormal sd of a market's spend per unit of size
JITTER = 0.35  # lognormal sd of a market's week-to-week spend around the national flighting
PAIR_JITTER = 0.1  # the second channel of the collinear pair follows the first nationally with this sd
REGIONAL_SHARE = (0.3, 0.7)  # a regional channel runs in this share of the markets
PROMO_LIFT = 0.25  # a market promo week lifts the market's KPI by this share of its baseline
PROMO_MARKETS, PROMO_WEEK_SHARE = 0.4, 0.06
SLOPE = 1.3  # every curve's steepness


@dataclass
class PanelSimulation:
    """A simulated panel: the long table plus the truth that generated it."""

    frame: pd.DataFrame  # long: date, market, channels, controls, kpi (one row per market-week)
    markets: list[str]
    channels: list[str]
    controls: list[str]
    kpi: str
    contributions: np.ndarray  # (T, G, C) true weekly contribution per market and channel
    spend: np.ndarray  # (T, G, C)
    drawn_roi: np.ndarray  # (G, C) the ROI each market's beta was solved for (over all weeks)
    notes: dict[str, object] = field(default_factory=dict)
    base: np.ndarray | None = None  # (T, G) the KPI without media and noise (baseline, price, promo)
    noise_sd: np.ndarray | None = None  # (G,) each market's noise sd
    curves: dict[str, np.ndarray] = field(default_factory=dict)  # decay, peak (C,); half, beta (G, C)

    def media(self, spend: np.ndarray) -> np.ndarray:
        """(T', G, C) the true contribution of any spend plan (T', G, C): what a test carried out would earn."""
        k = self.curves
        kind, curve = str(self.notes["adstock"]), str(self.notes["saturation"])
        slope = np.full(len(self.channels), SLOPE)
        return np.stack([response(carryover(spend[:, g], kind, k["decay"], k["peak"]), curve, k["half"][g], slope)
                         * k["beta"][g] for g in range(len(self.markets))], axis=1)

    def national_roi(self, weeks: slice = slice(None)) -> dict[str, float]:
        """Contribution summed over markets and the window ÷ spend summed likewise, per channel."""
        contrib = self.contributions[weeks].sum(axis=(0, 1))
        spend = self.spend[weeks].sum(axis=(0, 1))
        return {ch: float(contrib[c] / spend[c]) for c, ch in enumerate(self.channels)}

    def market_roi(self, weeks: slice = slice(None)) -> dict[str, dict[str, float]]:
        """{market: {channel: ROI}} over a window; NaN where the market has no spend in the channel there."""
        contrib = self.contributions[weeks].sum(axis=0)
        spend = self.spend[weeks].sum(axis=0)
        roi = np.where(spend > 0, contrib / np.where(spend > 0, spend, 1.0), np.nan)
        return {m: {ch: float(roi[g, c]) for c, ch in enumerate(self.channels)} for g, m in enumerate(self.markets)}

    def summed(self) -> pd.DataFrame:
        """The same data summed over markets to one national weekly table (controls averaged over markets)."""
        by_date = self.frame.groupby("date", sort=True)
        return pd.concat([by_date[[*self.channels, self.kpi]].sum(), by_date[self.controls].mean()],
                         axis=1).reset_index()


def _national_flighting(rng: np.random.Generator, weeks: int, n_channels: int) -> np.ndarray:
    """(T, C) national on/off waves, a distinct period per channel; channel 1 follows channel 0 (the pair)."""
    t = np.arange(weeks)
    out = np.empty((weeks, n_channels))
    for c in range(n_channels):
        period = 6 + 4 * c + rng.integers(0, 4)
        wave = 0.4 + 0.6 * (0.5 + 0.5 * np.sin(2 * np.pi * (t + rng.integers(0, period)) / period))
        out[:, c] = wave * (rng.random(weeks) > 0.12)
    if n_channels > 1:
        out[:, 1] = out[:, 0] * rng.lognormal(0.0, PAIR_JITTER, size=weeks)
    return out


def _regional_mask(rng: np.random.Generator, weeks: int, n_markets: int, regional: int, n_channels: int
                   ) -> np.ndarray:
    """(T, G, C) 1 where a channel runs: the last `regional` channels only in some markets, in staggered flights."""
    mask = np.ones((weeks, n_markets, n_channels))
    for c in range(n_channels - regional, n_channels):
        share = rng.uniform(*REGIONAL_SHARE)
        on = rng.random(n_markets) < share
        on[rng.integers(0, n_markets)] = True  # at least one market runs it
        for g in range(n_markets):
            start = rng.integers(0, weeks // 2)
            length = rng.integers(weeks // 4, weeks - start + 1)
            mask[:, g, c] = 0.0
            if on[g]:
                mask[start:start + length, g, c] = 1.0
    return mask


def simulate_panel(n_markets: int = 12, weeks: int = 104, n_channels: int = 5, seed: int = 0, *,
                   regional: int = 1, noise: float = 0.05, media_share: float = 0.3, adstock: str = "delayed",
                   saturation: str = "logistic", roi: list[float] | None = None, kpi: str = "revenue",
                   start: str = "2022-01-03") -> PanelSimulation:
    """Simulate `n_markets` markets over `weeks` Mondays with `n_channels` channels and known ROIs.

    `regional` channels (the last ones) run only in some markets; `noise` is each market's noise sd as a share
    of its mean KPI; `media_share` the media share of the national KPI; `roi` the national ROI per channel
    (default: drawn log-uniformly in 0.4–4). Sizes, market ROIs, intensities and flights come from `seed`.
    """
    if not 1 <= n_channels <= len(CHANNEL_NAMES) or n_markets < 1 or regional > n_channels:
        raise ValueError(f"n_channels must be 1..{len(CHANNEL_NAMES)}, n_markets ≥ 1, regional ≤ n_channels")
    rng = np.random.default_rng([seed, 22])
    channels = list(CHANNEL_NAMES[:n_channels])
    markets = [f"market_{g + 1:02d}" for g in range(n_markets)]
    size = np.exp(rng.normal(0.0, SIZE_SPREAD, n_markets))
    size /= size.mean()
    national = np.array(roi if roi is not None else np.exp(rng.uniform(np.log(0.4), np.log(4.0), n_channels)))
    market_roi = national[None, :] * np.exp(rng.normal(0.0, ROI_SPREAD, (n_markets, n_channels)))

    level = 10_000.0 * np.exp(rng.normal(0.0, 0.5, n_channels))  # national weekly spend per channel
    intensity = np.exp(rng.normal(0.0, INTENSITY_SPREAD, (n_markets, n_channels)))
    jitter = rng.lognormal(0.0, JITTER, (weeks, n_markets, n_channels))
    spend = (_national_flighting(rng, weeks, n_channels)[:, None, :] * jitter
             * _regional_mask(rng, weeks, n_markets, regional, n_channels)
             * (size[:, None] * intensity * level / n_markets)[None])
    spend = np.round(spend, 2)

    decay = rng.uniform(0.2, 0.7, n_channels)
    peak = rng.uniform(0.5, 2.5, n_channels) if adstock == "delayed" else np.zeros(n_channels)
    half_per_size = rng.uniform(1.0, 2.5, n_channels) * level / n_markets  # saturation per unit of market size
    contrib = np.zeros_like(spend)
    betas = np.zeros((n_markets, n_channels))
    for g in range(n_markets):
        carried = carryover(spend[:, g], adstock, decay, peak)
        shape = response(carried, saturation, half_per_size * size[g], np.full(n_channels, SLOPE))
        betas[g] = market_roi[g] * spend[:, g].sum(axis=0) / np.maximum(shape.sum(axis=0), 1e-12)
        contrib[:, g] = shape * betas[g]

    t = np.arange(weeks)
    base_level = contrib.sum(axis=2).mean(axis=0).sum() * (1.0 - media_share) / media_share * size / n_markets
    trend = rng.normal(0.1, 0.1, n_markets)
    season_amp = rng.uniform(0.03, 0.15, n_markets)
    season = np.sin(2 * np.pi * (t[:, None] + rng.normal(0.0, 2.0, n_markets)[None]) / 52.18)
    baseline = base_level[None] * (1.0 + trend[None] * t[:, None] / weeks + season_amp[None] * season)
    price = rng.normal(0.0, 1.0, (weeks, n_markets))  # a market-level control with a known small effect
    baseline = baseline * (1.0 - 0.02 * price)
    promo = np.zeros((weeks, n_markets))
    for g in np.flatnonzero(rng.random(n_markets) < PROMO_MARKETS):
        promo[rng.random(weeks) < PROMO_WEEK_SHARE, g] = 1.0
    base = baseline * (1.0 + PROMO_LIFT * promo)
    y = base + contrib.sum(axis=2)
    noise_sd = noise * y.mean(axis=0)
    y = y + rng.normal(0.0, 1.0, y.shape) * noise_sd[None]

    dates = pd.date_range(start, periods=weeks, freq="W-MON").strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": np.repeat(dates, n_markets), MARKET_COLUMN: np.tile(markets, weeks),
                          **{ch: spend[:, :, c].ravel() for c, ch in enumerate(channels)},
                          "price_index": np.round(price.ravel(), 4), PROMO_COLUMN: promo.ravel(),
                          kpi: np.round(y.ravel(), 2)})
    notes = {"seed": seed, "adstock": adstock, "saturation": saturation, "noise": noise, "regional": regional,
             "national_roi_drawn": national.round(3).tolist(), "size": size.round(3).tolist(),
             "decay": decay.round(3).tolist(), "peak": peak.round(2).tolist()}
    return PanelSimulation(frame=frame, markets=markets, channels=channels, controls=["price_index", PROMO_COLUMN],
                           kpi=kpi, contributions=contrib, spend=spend, drawn_roi=market_roi, notes=notes,
                           base=base, noise_sd=noise_sd, curves={"decay": decay, "peak": peak, "beta": betas,
                                                                 "half": half_per_size[None] * size[:, None]})


def realistic_panel(seed: int) -> PanelSimulation:
    """One random panel for benchmarks: 12–20 markets, 52–130 weeks, 4–6 channels (1–2 regional), 3–8 % noise,
    delayed or geometric carry-over, logistic or Hill curves, media 15–40 % of the KPI (its draw is in `notes`)."""
    rng = np.random.default_rng([seed, 23])
    n = int(rng.integers(4, 7))
    return simulate_panel(n_markets=int(rng.integers(12, 21)), weeks=int(rng.integers(52, 131)), n_channels=n,
                          seed=seed, regional=int(rng.integers(1, 3)), noise=float(rng.uniform(0.03, 0.08)),
                          media_share=float(rng.uniform(0.15, 0.4)), adstock=str(rng.choice(["delayed", "geometric"])),
                          saturation=str(rng.choice(["logistic", "hill"])))
