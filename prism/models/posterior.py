"""What the two Bayesian models share: posterior draws → the `Fitted` protocol, and convergence diagnostics.

Both models keep their media parameters as draws and recompute contributions for ANY spend matrix with the
NumPy reference transforms (`transforms.py`), so the shared decomposition (`base.summarize`) treats them
exactly like ridge. Each channel is computed separately and cached by its spend column, because the
decomposition bumps one channel at a time (mROI, response curves) and the others stay unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from prism.models.base import ModelData, thin
from prism.models.transforms import GeometricAdstock, saturation
from prism.schemas import Config

TARGET_RHAT = 1.01
TARGET_ESS = 400
PRIOR_DECAY_CONCENTRATION = 10.0  # Beta(a, b) with a + b = 10 when the config names a decay
TIGHT_PRIOR_CV = 0.1  # a config-fixed Hill half or slope becomes a prior with 10 % spread
ROI_PRIOR_MEDIA_SHARE = 0.25  # all media at the ROI prior scale explain 25 % of the KPI (docs/sections/evidence.md)


@dataclass
class MediaDraws:
    """Media parameters as draws (S, C) in the model's scaled space plus the scales back to KPI units.

    contribution_c(t) = kpi_scale · coef_c · saturation(gain_c · adstock(spend_c / channel_scale_c)).
    `gain` covers normalisations the adstock class does not do itself (LightweightMMM's (1 − decay)).
    """

    decay: np.ndarray
    coef: np.ndarray
    saturation_name: str
    saturation_params: dict[str, np.ndarray]
    channel_scale: np.ndarray
    kpi_scale: float
    adstock: GeometricAdstock
    gain: np.ndarray | None = None
    _cache: dict[tuple[int, bytes], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n_draws(self) -> int:
        return self.decay.shape[0]

    def _channel(self, c: int, column: np.ndarray) -> np.ndarray:
        """(S, T) contribution of channel c for one spend column, all draws at once."""
        key = (c, column.tobytes())
        if key not in self._cache:
            x = np.repeat((column / self.channel_scale[c])[:, None], self.n_draws, axis=1)
            ad = self.adstock(x, self.decay[:, c])
            if self.gain is not None:
                ad = ad * self.gain[:, c]
            sat = saturation(self.saturation_name)(ad, **{k: v[:, c] for k, v in self.saturation_params.items()})
            self._cache[key] = (sat * self.coef[:, c] * self.kpi_scale).T
        return self._cache[key]

    def contributions(self, spend: np.ndarray) -> np.ndarray:
        spend = np.asarray(spend, dtype=float)
        return np.stack([self._channel(c, np.ascontiguousarray(spend[:, c])) for c in range(spend.shape[1])],
                        axis=2)

    def saturation_at(self, level: np.ndarray) -> np.ndarray:
        """(S, C) saturation reached by a steady spend `level` (C,) per week, after adstock's steady state."""
        if self.adstock.normalize:
            steady = np.ones_like(self.decay)
        else:
            steady = np.power(self.decay[:, :, None], np.arange(self.adstock.max_lag)).sum(axis=2)
        if self.gain is not None:
            steady = steady * self.gain
        x = steady * (level / self.channel_scale)[None, :]
        sat = saturation(self.saturation_name)
        return np.stack([sat(x[:, [c]], **{k: v[:, [c]] for k, v in self.saturation_params.items()})[:, 0]
                         for c in range(x.shape[1])], axis=1)


@dataclass
class PosteriorFit:
    """A fitted Bayesian model: media draws plus the non-media part of the fit (S, T) in KPI units."""

    engine: str
    version: str
    media: MediaDraws
    baseline: np.ndarray
    spend: np.ndarray
    train_weeks: int
    params: dict[str, dict[str, float]]
    diagnostics: dict[str, Any]
    prior: MediaDraws | None = None  # the same media parameters drawn from the model's prior (evidence)

    def contributions(self, spend: np.ndarray) -> np.ndarray:
        return self.media.contributions(spend)

    def predict(self) -> np.ndarray:
        return self.baseline + self.contributions(self.spend).sum(axis=2)

    def saturation_fraction(self) -> np.ndarray:
        level = self.spend[: self.train_weeks].mean(axis=0)
        return self.media.saturation_at(level).mean(axis=0)


def stack_draws(ds: xr.Dataset, name: str, channels: list[str] | None = None) -> np.ndarray:
    """(chain·draw, …) array of one posterior variable, channels in Prism's order when given."""
    da = ds[name]
    if channels is not None and "channel" in da.dims:
        da = da.sel(channel=channels)
    return da.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()


def thinned(n_total: int) -> np.ndarray:
    """Indices of at most `MAX_SUMMARY_DRAWS` evenly spread draws."""
    return thin(np.arange(n_total))


def convergence(posterior: xr.Dataset, divergences: int, var_names: list[str]) -> dict[str, Any]:
    """r̂ max, bulk ESS min and divergences over the named variables (the Critic's Bayesian health gates)."""
    import arviz as az

    ds = posterior[var_names]
    n_chains = ds.sizes["chain"]
    rhat = float(max(float(az.rhat(ds)[v].max()) for v in var_names)) if n_chains > 1 else float("nan")
    ess = float(min(float(az.ess(ds, method="bulk")[v].min()) for v in var_names))
    return {
        "rhat_max": round(rhat, 4),
        "ess_bulk_min": round(ess, 1),
        "divergences": int(divergences),
        "chains": int(n_chains),
        "draws": int(ds.sizes["draw"]),
        "converged": bool(n_chains > 1 and rhat <= TARGET_RHAT and ess >= TARGET_ESS
                          and divergences == 0),
    }


def decay_centres(cfg: Config, channels: list[str]) -> np.ndarray:
    """Per-channel decay prior centres from the config (channel value, else global); NaN where unset."""
    ad = cfg.adstock
    default = ad.decay if ad.decay is not None else np.nan
    return np.array([ad.channel_decays.get(ch, default) for ch in channels], dtype=float)


def beta_from_mean(mean: np.ndarray, default: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Beta(a, b) per channel: centred on `mean` with concentration 10 where given, else `default`."""
    a = np.where(np.isnan(mean), default[0], np.clip(mean, 0.02, 0.95) * PRIOR_DECAY_CONCENTRATION)
    b = np.where(np.isnan(mean), default[1], (1 - np.clip(mean, 0.02, 0.95)) * PRIOR_DECAY_CONCENTRATION)
    return a, b


def hill_settings(cfg: Config, channels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Config Hill half (× mean training spend) and slope per channel; NaN where the model learns it."""
    sat = cfg.saturation
    g_half = sat.half if sat.half is not None else np.nan
    g_slope = sat.slope if sat.slope is not None else np.nan
    half = np.array([sat.channel_half.get(ch, g_half) for ch in channels], dtype=float)
    slope = np.array([sat.channel_slope.get(ch, g_slope) for ch in channels], dtype=float)
    return half, slope


def roi_prior_bounds(cfg: Config, channels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Knowledge-layer expected ROI range per channel (low, high); NaN where none is given."""
    low = np.array([cfg.roi_priors[ch].low if ch in cfg.roi_priors else np.nan for ch in channels])
    high = np.array([cfg.roi_priors[ch].high if ch in cfg.roi_priors else np.nan for ch in channels])
    return low, high


def roi_prior(data: ModelData, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sd) of each channel's ROI prior, shared by both Bayesian models: a half-normal whose scale puts
    all media together at `ROI_PRIOR_MEDIA_SHARE` of the training KPI, or the knowledge layer's range."""
    tr = data.train
    scale = ROI_PRIOR_MEDIA_SHARE * data.y[tr].sum() / max(data.spend[tr].sum(), 1e-12)
    low, high = roi_prior_bounds(cfg, data.channels)
    given = ~np.isnan(low)
    mu = np.where(given, (low + high) / 2.0, 0.0)
    sd = np.where(given, np.maximum((high - low) / 2.0, 1e-3 * scale), scale)
    return mu, sd


def roi_per_coef(centre: MediaDraws, spend: np.ndarray) -> np.ndarray:
    """(C,) training ROI that one unit of a channel's media coefficient gives with the other media
    parameters at their prior centres (`centre`: one draw): converts an ROI prior to a coefficient prior."""
    contrib = centre.contributions(spend)[0]
    per_coef = contrib.sum(axis=0) / np.where(spend.sum(axis=0) > 0, spend.sum(axis=0), 1.0)
    return np.where(per_coef > 0, per_coef, 1.0)  # a channel without training spend keeps a unit-scale prior


def summarize_params(names: dict[str, np.ndarray], channels: list[str]) -> dict[str, dict[str, float]]:
    """Posterior means per channel of each named (S, C) parameter."""
    return {ch: {k: float(np.mean(v[:, c])) for k, v in names.items()} for c, ch in enumerate(channels)}


def parallel_chain_method(chains: int) -> str:
    """Ask XLA for one CPU device per chain (works only before JAX starts its backend) and say how chains run.

    Each model runs in its own worker process, so the request normally lands before JAX initialises; if it
    does not, the chains run one after another rather than failing.
    """
    import os

    wanted = max(1, min(chains, os.cpu_count() or 1))
    flag = f"--xla_force_host_platform_device_count={wanted}"
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()
    import jax

    return "parallel" if chains > 1 and jax.local_device_count() >= chains else "sequential"


def transform_notes(cfg: Config, saturation_used: str) -> dict[str, str]:
    """The curves a Bayesian model really used (geometric adstock always), noted where the config asked for others."""
    out = {"adstock": "geometric", "saturation": saturation_used}
    if cfg.adstock.type != "geometric":
        out["adstock_note"] = f"adstock.type={cfg.adstock.type} applies to ridge; this model uses geometric adstock"
    if cfg.saturation.type != saturation_used:
        out["saturation_note"] = (f"saturation.type={cfg.saturation.type} not available here; "
                                  f"this model uses {saturation_used}")
    return out
