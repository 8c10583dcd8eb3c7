"""Kept draws: every model's fit as media-curve draws plus a baseline, and the one place contributions come from.

Every model converts its fit to a `KeptDraws` (ridge: bootstrap resamples; pymc and lightweight_mmm:
posterior draws). Per draw s and channel c it holds the adstock and saturation parameters, a spend divisor
(`scale`), a gain on the adstocked input and the coefficient in KPI units:

    contribution_c(t) = coef_c · saturation(gain_c · adstock(spend_c / scale_c))

with the shared NumPy transforms (`transforms.py`). That covers all three parametrisations (ridge divides
by the mean adstocked training spend; pymc-marketing max-scales the spend and normalises the adstock;
LightweightMMM mean-scales it and multiplies by 1 − decay), so ROI, mROI, saturation and response curves
are computed here once for every model, and a `rounds/R{NN}_draws/{model}.nc` file (`to_netcdf`) is
enough to recompute any spend plan's response without refitting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from prism.errors import InputError
from prism.models.transforms import adstock, saturation
from prism.workspace import atomic_target

if TYPE_CHECKING:  # xarray is imported where a draws file is written or read: a planner reading its cached
    import xarray as xr  # copy (`prism.analysis.response`) starts 0.1 s sooner without it

NETCDF_ENGINE = "h5netcdf"  # installed with pymc-marketing; netCDF4 is not
FORMAT_VERSION = 1
MROI_BUMP = 0.01
CURVE_MULTIPLIERS = np.linspace(0.0, 2.0, 21)
ADSTOCK_PREFIX, SATURATION_PREFIX = "adstock_", "saturation_"
PER_DRAW = ("coef", "scale", "gain")
CACHED_COLUMNS = 128  # contribution arrays kept per model (under 1 MB each on 209 weeks × 400 draws)


def _bounded(cache: dict) -> dict:
    """`cache` with room for one more entry: the oldest is dropped at CACHED_COLUMNS."""
    while len(cache) >= CACHED_COLUMNS:
        cache.pop(next(iter(cache)))
    return cache


@dataclass(eq=False)
class KeptDraws:
    """One model's draws of its media curves (S draws × C channels) and its baseline (S × T weeks)."""

    model: str
    channels: list[str]
    dates: pd.DatetimeIndex
    spend: np.ndarray  # (T, C) spend the model was fitted on, all weeks incl. the holdout
    n_train: int
    baseline: np.ndarray  # (S, T) non-media part of the fit in KPI units
    adstock_type: str
    max_lag: int
    normalize: bool
    adstock_params: dict[str, np.ndarray]  # (S, C) each, named as the adstock class's arguments
    saturation_type: str
    saturation_params: dict[str, np.ndarray]  # (S, C) each, named as the saturation class's arguments
    coef: np.ndarray  # (S, C) KPI per week at full saturation
    scale: np.ndarray  # (S, C) spend divisor
    gain: np.ndarray  # (S, C) multiplier on the adstocked, scaled spend
    _cache: dict[tuple[int, bytes], np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    _lines: dict[tuple, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_draws(self) -> int:
        return self.coef.shape[0]

    def adstocked_input(self, c: int, column: np.ndarray) -> np.ndarray:
        """(T, S) gain · adstock(column / scale) of channel c, all draws as columns."""
        fn = adstock(self.adstock_type, max_lag=self.max_lag, normalize=self.normalize)
        x = np.asarray(column, dtype=float)[:, None] / self.scale[:, c][None, :]
        return fn(x, **{k: v[:, c] for k, v in self.adstock_params.items()}) * self.gain[:, c]

    def saturate(self, c: int, x: np.ndarray) -> np.ndarray:
        """Channel c's saturation curve, per draw, applied to (…, S) adstocked input."""
        return saturation(self.saturation_type)(x, **{k: v[:, c] for k, v in self.saturation_params.items()})

    def channel_contribution(self, c: int, column: np.ndarray) -> np.ndarray:
        """(S, len(column)) KPI units for channel c's spend column; cached, as summaries bump one channel at a
        time (the most recent columns only: a planner asks for thousands, each S × weeks floats)."""
        column = np.ascontiguousarray(column, dtype=float)
        key = (c, column.tobytes())
        if key not in self._cache:
            _bounded(self._cache)[key] = (self.saturate(c, self.adstocked_input(c, column)) * self.coef[:, c]).T
        return self._cache[key]

    def line_totals(self, c: int, base: np.ndarray, step: np.ndarray, levels: np.ndarray, start: int = 0) -> np.ndarray:
        """(S, len(levels)) channel c's contribution summed over weeks `start:` for each spend column
        base + x · step, x in `levels`.

        Scale, adstock and gain are linear in spend, so the two adstocked inputs are computed once per
        (c, base, step) and each level costs one saturation: a planner evaluates hundreds of levels of the
        same column shape. Weeks before `start` are left out (a planner's history weeks, equal at every level)."""
        key = (c, np.ascontiguousarray(base, dtype=float).tobytes(), np.ascontiguousarray(step, dtype=float).tobytes(),
               start)
        if key not in self._lines:
            _bounded(self._lines)[key] = (self.adstocked_input(c, base)[start:], self.adstocked_input(c, step)[start:])
        fixed, per_unit = self._lines[key]
        return np.stack([self.saturate(c, fixed + x * per_unit).sum(axis=0) for x in levels], axis=1) \
            * self.coef[:, c][:, None]

    def contributions(self, spend: np.ndarray) -> np.ndarray:
        """(S, T', C) media contribution in KPI units for any (T', C) spend plan."""
        spend = np.asarray(spend, dtype=float)
        return np.stack([self.channel_contribution(c, spend[:, c]) for c in range(spend.shape[1])], axis=2)

    def predict(self) -> np.ndarray:
        """(S, T) fitted KPI with the spend the model was fitted on."""
        return self.baseline + self.contributions(self.spend).sum(axis=2)

    def select(self, index: np.ndarray) -> "KeptDraws":
        """The same model restricted to the draws at `index` (thinning)."""
        pick = lambda d: {k: v[index] for k, v in d.items()}  # noqa: E731
        return KeptDraws(self.model, self.channels, self.dates, self.spend, self.n_train, self.baseline[index],
                         self.adstock_type, self.max_lag, self.normalize, pick(self.adstock_params),
                         self.saturation_type, pick(self.saturation_params),
                         *(getattr(self, k)[index] for k in PER_DRAW))

    # ---------------------------------------------------------------------------------------- netCDF
    def to_dataset(self) -> xr.Dataset:
        """The draws as an xarray Dataset: (draw, channel) parameters, (draw, week) baseline, (week, channel) spend."""
        dc, dw = ("draw", "channel"), ("draw", "week")
        data = {"spend": (("week", "channel"), self.spend), "baseline": (dw, self.baseline)}
        data.update({k: (dc, getattr(self, k)) for k in PER_DRAW})
        data.update({ADSTOCK_PREFIX + k: (dc, v) for k, v in self.adstock_params.items()})
        data.update({SATURATION_PREFIX + k: (dc, v) for k, v in self.saturation_params.items()})
        attrs = {"model": self.model, "n_train": self.n_train, "adstock_type": self.adstock_type,
                 "max_lag": self.max_lag, "normalize": int(self.normalize), "saturation_type": self.saturation_type,
                 "prism_draws_format": FORMAT_VERSION,
                 "formula": "contribution = coef * saturation(gain * adstock(spend / scale))"}
        coords = {"draw": np.arange(self.n_draws), "channel": list(self.channels), "week": self.dates}
        import xarray as xr

        return xr.Dataset(data, coords=coords, attrs=attrs)

    def to_netcdf(self, path: Path) -> None:
        """Write atomically (temp file + rename), like every workspace file."""
        with atomic_target(Path(path)) as tmp:
            self.to_dataset().to_netcdf(tmp, engine=NETCDF_ENGINE)

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> "KeptDraws":
        a = ds.attrs
        grab = lambda prefix: {str(k)[len(prefix):]: ds[k].to_numpy() for k in ds.data_vars  # noqa: E731
                               if str(k).startswith(prefix)}
        return cls(model=str(a["model"]), channels=[str(c) for c in ds["channel"].to_numpy()],
                   dates=pd.DatetimeIndex(ds["week"].to_numpy()), spend=ds["spend"].to_numpy(),
                   n_train=int(a["n_train"]), baseline=ds["baseline"].to_numpy(),
                   adstock_type=str(a["adstock_type"]), max_lag=int(a["max_lag"]), normalize=bool(a["normalize"]),
                   adstock_params=grab(ADSTOCK_PREFIX), saturation_type=str(a["saturation_type"]),
                   saturation_params=grab(SATURATION_PREFIX), **{k: ds[k].to_numpy() for k in PER_DRAW})

    @classmethod
    def from_netcdf(cls, path: Path) -> "KeptDraws":
        """Read a national draws file; a missing or unreadable one, or a panel's, is bad input naming the file."""
        return _read_kind(path, KeptDraws, "panel draws (one set per market); read them with read_draws")


# ------------------------------------------------------------------------------ shared quantities
def train_totals(kd: KeptDraws, c: int, column: np.ndarray) -> np.ndarray:
    """(S,) channel c's contribution summed over the training weeks for its spend column."""
    return kd.channel_contribution(c, column)[:, : kd.n_train].sum(axis=1)


def scaled_training(kd: KeptDraws, c: int, factor: float) -> np.ndarray:
    """Channel c's spend column with its training weeks multiplied by `factor` (holdout weeks unchanged)."""
    column = kd.spend[:, c].copy()
    column[: kd.n_train] *= factor
    return column


def training_spend(kd: KeptDraws) -> np.ndarray:
    """(C,) spend per channel over the training weeks."""
    return kd.spend[: kd.n_train].sum(axis=0)


def roi_draws(kd: KeptDraws) -> np.ndarray:
    """(S, C) ROI = training contribution ÷ training spend (NaN for a channel without spend)."""
    spend = training_spend(kd)
    totals = np.column_stack([train_totals(kd, c, kd.spend[:, c]) for c in range(len(kd.channels))])
    return totals / np.where(spend > 0, spend, np.nan)


def mroi(kd: KeptDraws, c: int, bump: float = MROI_BUMP) -> float:
    """Extra KPI per extra unit of spend when channel c's training spend rises by `bump` (1 %)."""
    spend = training_spend(kd)[c]
    if spend <= 0:
        return float("nan")
    extra = train_totals(kd, c, scaled_training(kd, c, 1.0 + bump)) - train_totals(kd, c, kd.spend[:, c])
    return float(np.mean(extra) / (bump * spend))


def response_levels(kd: KeptDraws, c: int, multipliers: np.ndarray = CURVE_MULTIPLIERS) -> np.ndarray:
    """(S, M) average weekly contribution of channel c with its training spend scaled by each multiplier."""
    return np.stack([train_totals(kd, c, scaled_training(kd, c, m)) / kd.n_train for m in multipliers], axis=1)


def saturation_fraction(kd: "KeptDraws | NationalDraws") -> np.ndarray:
    """(C,) share of each channel's maximum effect reached at its mean adstocked training input, draw mean.

    One definition for every model (ridge's half-saturation is in units of exactly this level); a panel's
    is its markets' figures weighted by their share of the channel's training spend.
    """
    if isinstance(kd, NationalDraws):
        return (np.stack([saturation_fraction(m) for m in kd.panel.draws]) * kd.mix).sum(axis=0)
    out = []
    for c in range(len(kd.channels)):
        level = kd.adstocked_input(c, kd.spend[:, c])[: kd.n_train].mean(axis=0)
        out.append(float(kd.saturate(c, level[None, :])[0].mean()))
    return np.array(out)


# ------------------------------------------------------------------------------------------ panels
MARKET_DIM = "market"


@dataclass(eq=False)
class PanelDraws:
    """A panel fit's kept draws: one `KeptDraws` per market, all with the same S draws and channels.

    Draw s of every market comes from the same joint draw (the same posterior sample, the same bootstrap
    resample), so sums over markets keep the correlation between markets and national intervals are right.
    """

    markets: list[str]
    draws: list[KeptDraws]

    def __post_init__(self) -> None:
        first = self.draws[0]
        if len(self.markets) != len(self.draws):
            raise ValueError(f"{len(self.markets)} markets but {len(self.draws)} draws sets")
        for m, kd in zip(self.markets, self.draws):
            if kd.n_draws != first.n_draws or list(kd.channels) != list(first.channels):
                raise ValueError(f"market {m}: {kd.n_draws} draws of {kd.channels}; expected {first.n_draws} "
                                 f"of {first.channels} as in market {self.markets[0]}")

    @property
    def model(self) -> str:
        return self.draws[0].model

    @property
    def channels(self) -> list[str]:
        return list(self.draws[0].channels)

    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.draws[0].dates

    @property
    def n_train(self) -> int:
        return self.draws[0].n_train

    @property
    def n_draws(self) -> int:
        return self.draws[0].n_draws

    @property
    def spend(self) -> np.ndarray:
        """(T, G, C) spend each market was fitted on."""
        return np.stack([kd.spend for kd in self.draws], axis=1)

    @property
    def baseline(self) -> np.ndarray:
        """(S, T, G) each market's non-media fit."""
        return np.stack([kd.baseline for kd in self.draws], axis=2)

    def market(self, name: str) -> KeptDraws:
        """One market's draws; an unknown name is bad input listing the markets."""
        if name not in self.markets:
            raise InputError(f"market '{name}' is not in this panel; markets are {', '.join(self.markets)}")
        return self.draws[self.markets.index(name)]

    def contributions(self, spend: np.ndarray) -> np.ndarray:
        """(S, T', G, C) media contribution for any (T', G, C) spend plan."""
        spend = np.asarray(spend, dtype=float)
        return np.stack([kd.contributions(spend[:, g, :]) for g, kd in enumerate(self.draws)], axis=2)

    def national_contributions(self, spend: np.ndarray) -> np.ndarray:
        """(S, T', C) contribution summed over markets for a (T', G, C) spend plan."""
        return self.contributions(spend).sum(axis=2)

    def predict(self) -> np.ndarray:
        """(S, T, G) fitted KPI per market with the spend it was fitted on."""
        return np.stack([kd.predict() for kd in self.draws], axis=2)

    def select(self, index: np.ndarray) -> "PanelDraws":
        return PanelDraws(list(self.markets), [kd.select(index) for kd in self.draws])

    def national(self) -> "NationalDraws":
        """The panel seen as one national model (see `NationalDraws`)."""
        return NationalDraws(self)

    def market_channels(self) -> "MarketChannelDraws":
        """Every (market, channel) as a channel of its own, so a plan can move budget between markets."""
        return MarketChannelDraws(self)

    def to_dataset(self) -> xr.Dataset:
        """Every market's dataset stacked along a `market` dimension (same variables as one `KeptDraws`)."""
        import xarray as xr

        ds = xr.concat([kd.to_dataset() for kd in self.draws], dim=MARKET_DIM, combine_attrs="override")
        return ds.assign_coords({MARKET_DIM: list(self.markets)})

    def to_netcdf(self, path: Path) -> None:
        with atomic_target(Path(path)) as tmp:
            self.to_dataset().to_netcdf(tmp, engine=NETCDF_ENGINE)

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> "PanelDraws":
        markets = [str(m) for m in ds[MARKET_DIM].to_numpy()]
        return cls(markets, [KeptDraws.from_dataset(ds.sel({MARKET_DIM: m})) for m in markets])

    @classmethod
    def from_netcdf(cls, path: Path) -> "PanelDraws":
        return _read_kind(path, PanelDraws, f"national draws, not a panel (no '{MARKET_DIM}' dimension)")


class NationalDraws:
    """A panel's draws read as one national model, so everything written for `KeptDraws` (summaries,
    planning's `ResponseSource`) works on panels unchanged.

    A national spend column is split across markets: over the fitted weeks by each week's actual market
    shares (so the fitted spend, or it scaled, reproduces every market's own spend), after them by each
    market's share of the channel's training spend. Contributions are summed over markets, draw by draw.
    """

    def __init__(self, panel: PanelDraws):
        self.panel = panel
        self.model, self.channels, self.dates = panel.model, panel.channels, panel.dates
        self.n_train, self.max_lag = panel.n_train, max(kd.max_lag for kd in panel.draws)
        by_market = panel.spend  # (T, G, C)
        self.spend = by_market.sum(axis=1)
        train = by_market[: self.n_train].sum(axis=0)  # (G, C)
        mix = train / np.where(train.sum(axis=0) > 0, train.sum(axis=0), 1.0)
        mix[:, train.sum(axis=0) <= 0] = 1.0 / len(panel.markets)
        weekly = by_market / np.where(self.spend > 0, self.spend, np.inf)[:, None, :]
        self.shares = np.where(self.spend[:, None, :] > 0, weekly, mix[None])  # (T, G, C)
        self.mix = mix  # (G, C)

    @property
    def n_draws(self) -> int:
        return self.panel.n_draws

    def select(self, index: np.ndarray) -> "NationalDraws":
        """The same panel restricted to the draws at `index` (thinning), still read nationally."""
        return NationalDraws(self.panel.select(index))

    @property
    def baseline(self) -> np.ndarray:
        """(S, T) the markets' baselines summed."""
        return self.panel.baseline.sum(axis=2)

    def split(self, c: int, column: np.ndarray) -> np.ndarray:
        """(L, G) channel c's national column split across markets (see the class docstring)."""
        column = np.asarray(column, dtype=float)
        n = min(len(column), len(self.shares))
        shares = np.vstack([self.shares[:n, :, c], np.repeat(self.mix[None, :, c], len(column) - n, axis=0)])
        return column[:, None] * shares

    def channel_contribution(self, c: int, column: np.ndarray) -> np.ndarray:
        """(S, len(column)) national KPI from channel c's national spend column."""
        parts = self.split(c, column)
        return sum(kd.channel_contribution(c, parts[:, g]) for g, kd in enumerate(self.panel.draws))

    def line_totals(self, c: int, base: np.ndarray, step: np.ndarray, levels: np.ndarray, start: int = 0) -> np.ndarray:
        """`KeptDraws.line_totals` for the national column: the split is linear in the column, so each market
        sees its own base + x · step."""
        bases, steps = self.split(c, base), self.split(c, step)
        return sum(kd.line_totals(c, bases[:, g], steps[:, g], levels, start) for g, kd in enumerate(self.panel.draws))

    def contributions(self, spend: np.ndarray) -> np.ndarray:
        spend = np.asarray(spend, dtype=float)
        return np.stack([self.channel_contribution(c, spend[:, c]) for c in range(spend.shape[1])], axis=2)

    def predict(self) -> np.ndarray:
        return self.baseline + self.contributions(self.spend).sum(axis=2)


MARKET_SEP = " @ "  # "tv @ north": a channel in one market, as plans across markets name it


def market_channel(channel: str, market: str) -> str:
    return f"{channel}{MARKET_SEP}{market}"


class MarketChannelDraws:
    """A panel's draws with channel c of market g as channel g·C + c (`market_channel` names it): what
    planning needs (`planning.source.ResponseSource`) to move budget between markets as between channels.
    Draw s is the same joint draw in every market, so a plan's national KPI keeps the markets' correlation."""

    def __init__(self, panel: PanelDraws):
        self.panel = panel
        self.channels = [market_channel(ch, m) for m in panel.markets for ch in panel.channels]
        self.spend = np.concatenate([kd.spend for kd in panel.draws], axis=1)  # (T, G·C), market by market
        self.max_lag = max(kd.max_lag for kd in panel.draws)
        self.n_train = panel.n_train

    @property
    def n_draws(self) -> int:
        return self.panel.n_draws

    def channel_contribution(self, k: int, column: np.ndarray) -> np.ndarray:
        g, c = divmod(k, len(self.panel.channels))
        return self.panel.draws[g].channel_contribution(c, column)

    def line_totals(self, k: int, base: np.ndarray, step: np.ndarray, levels: np.ndarray, start: int = 0) -> np.ndarray:
        g, c = divmod(k, len(self.panel.channels))
        return self.panel.draws[g].line_totals(c, base, step, levels, start)

    def select(self, index: np.ndarray) -> "MarketChannelDraws":
        """The same panel restricted to the draws at `index` (thinning)."""
        return MarketChannelDraws(self.panel.select(index))


def read_national(path: Path) -> "KeptDraws | NationalDraws":
    """A round's draws file as one national model: a panel's markets summed (`NationalDraws`)."""
    found = read_draws(path)
    return found.national() if isinstance(found, PanelDraws) else found


def _read_kind(path: Path, kind: type, otherwise: str):
    """A draws file that must be of `kind` (national or panel); the other kind is bad input saying so."""
    found = read_draws(path)
    if not isinstance(found, kind):
        raise InputError(f"{path}: {otherwise}")
    return found


def read_draws(path: Path) -> "KeptDraws | PanelDraws":
    """A round's draws file: a `PanelDraws` when it has a market dimension, else a `KeptDraws`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (run `prism run` to write the round's draws)")
    import xarray as xr

    try:
        with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
            ds = ds.load()
        return PanelDraws.from_dataset(ds) if MARKET_DIM in ds.dims else KeptDraws.from_dataset(ds)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a Prism draws file: {exc}") from None
