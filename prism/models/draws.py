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

import numpy as np
import pandas as pd
import xarray as xr

from prism.errors import InputError
from prism.models.transforms import adstock, saturation
from prism.workspace import atomic_target

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
        """Read a draws file; a missing or unreadable one is bad input naming the file."""
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: file not found (run `prism run` to write the round's draws)")
        try:
            with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
                return cls.from_dataset(ds.load())
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path}: not a Prism draws file: {exc}") from None


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


def saturation_fraction(kd: KeptDraws) -> np.ndarray:
    """(C,) share of each channel's maximum effect reached at its mean adstocked training input, draw mean.

    One definition for every model (ridge's half-saturation is in units of exactly this level).
    """
    out = []
    for c in range(len(kd.channels)):
        level = kd.adstocked_input(c, kd.spend[:, c])[: kd.n_train].mean(axis=0)
        out.append(float(kd.saturate(c, level[None, :])[0].mean()))
    return np.array(out)
