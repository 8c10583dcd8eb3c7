"""What the two Bayesian models share: posterior draws → `KeptDraws`, priors from the config, convergence.

Both models keep their media parameters as draws and recompute contributions for ANY spend matrix with the
NumPy reference transforms through `KeptDraws`, so the shared decomposition (`base.summarize`) treats them
exactly like ridge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from prism.models.base import ModelData, thin
from prism.models.draws import MARKET_DIM, KeptDraws, PanelDraws
from prism.models.panel import PanelData
from prism.schemas import CONVERGENCE, Config, Diag

PRIOR_DECAY_CONCENTRATION = 10.0  # Beta(a, b) with a + b = 10 when the config names a decay
TIGHT_PRIOR_CV = 0.1  # a config-fixed Hill half or slope becomes a prior with 10 % spread
MARKET_SPREAD_SD = 0.5  # panels: HalfNormal scale of a channel's log-effect spread across markets (Meridian's eta: 1)
PEAK_PRIOR_SD = 2.0  # panels' delayed carry-over: peak ~ HalfNormal(2) weeks (LightweightMMM's carryover model)
PEAK_PRIOR_MEAN = PEAK_PRIOR_SD * float(np.sqrt(2.0 / np.pi))
CARRY_PARAMS = ("decay", "theta")  # the carry-over arguments (transforms.GeometricAdstock, DelayedAdstock)
ROI_PRIOR_MEDIA_SHARE = 0.25  # all media at the ROI prior scale explain 25 % of the KPI (docs/concepts/models.md)


def curve_draws(model: str, data: ModelData, params: dict[str, np.ndarray], scales: tuple[np.ndarray, float],
                adstock, baseline: np.ndarray, gain: np.ndarray | None = None) -> KeptDraws:
    """A Bayesian model's draws as `KeptDraws`: carry-over (`adstock`: geometric, or delayed with its peak
    "theta") of spend ÷ channel_scale, times `gain`, saturated, times coef · kpi_scale.

    params: (S, C) draws keyed "decay" (and "theta" for delayed carry-over), "coef" (on the scaled target) and
    the saturation class's arguments (half and slope for Hill, lam for logistic); scales: (channel_scale (C,),
    kpi_scale).
    """
    channel_scale, kpi_scale = scales
    params = {k: np.asarray(v, dtype=float) for k, v in params.items()}  # JAX draws are float32: KPI units in float64
    carry = {k: v for k, v in params.items() if k in CARRY_PARAMS}
    sat = {k: v for k, v in params.items() if k not in (*CARRY_PARAMS, "coef")}
    coef = params["coef"] * kpi_scale
    return KeptDraws(
        model=model, channels=list(data.channels), dates=data.dates, spend=data.spend, n_train=data.n_train,
        baseline=baseline, adstock_type=adstock.name, max_lag=adstock.max_lag, normalize=adstock.normalize,
        adstock_params=carry, saturation_type="hill" if "half" in sat else "logistic",
        saturation_params=sat, coef=coef, scale=np.broadcast_to(channel_scale, coef.shape).copy(),
        gain=np.ones_like(coef) if gain is None else np.asarray(gain, dtype=float),
    )


def event_draws(coef: np.ndarray, events: np.ndarray, scale: float) -> np.ndarray:
    """(S, T, E) event contributions in KPI units from (S, E) coefficients on the scaled target."""
    return coef[:, None, :] * events[None, :, :] * scale


def stack_draws(ds: xr.Dataset, name: str, channels: list[str] | None = None,
                markets: list[str] | None = None) -> np.ndarray:
    """(chain·draw, …) array of one posterior variable, channels and markets in Prism's order when given."""
    da = ds[name]
    if channels is not None and "channel" in da.dims:
        da = da.sel(channel=channels)
    if markets is not None and MARKET_DIM in da.dims:
        da = da.sel({MARKET_DIM: markets}).transpose("chain", "draw", MARKET_DIM, ...)
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
    out: dict[str, Any] = {Diag.RHAT_MAX.value: round(rhat, 4), Diag.ESS_BULK_MIN.value: round(ess, 1),
                           Diag.DIVERGENCES.value: int(divergences), Diag.CHAINS.value: int(n_chains),
                           Diag.DRAWS.value: int(ds.sizes["draw"])}
    out[Diag.CONVERGED.value] = CONVERGENCE.converged(out)
    return out


def decay_centres(cfg: Config, channels: list[str]) -> np.ndarray:
    """Per-channel decay prior centres: the channel's config decay, else its decay prior (config or knowledge
    benchmark), else the global decay; NaN where none is set."""
    ad = cfg.adstock
    default = ad.decay if ad.decay is not None else np.nan
    return np.array([ad.channel_decays.get(ch, ad.decay_priors.get(ch, default)) for ch in channels], dtype=float)


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


def lognormal_roi_prior(mu: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log-scale mean, log-scale sd) of the LogNormal with the same mean and sd as each channel's ROI prior
    (`roi_prior`: a half-normal where mu is 0, else the knowledge layer's range), for the panels' pooled
    effects, which vary multiplicatively across markets around the national one."""
    half = mu <= 0
    mean = np.where(half, sd * np.sqrt(2.0 / np.pi), mu)
    spread = np.where(half, sd * np.sqrt(1.0 - 2.0 / np.pi), sd)
    log_sd = np.sqrt(np.log1p((spread / mean) ** 2))
    return np.log(mean) - log_sd ** 2 / 2.0, log_sd


def roi_per_coef(centre: KeptDraws, spend: np.ndarray) -> np.ndarray:
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
    does not, the chains run one after another rather than failing. The request is taken back out of the
    environment once the backend has read it: a process started later (a test's, a script's) asks for its
    own devices instead of inheriting this one's count (one device: its chains one after another).
    """
    import os

    wanted = max(1, min(chains, os.cpu_count() or 1))
    flag = f"--xla_force_host_platform_device_count={wanted}"
    flags = os.environ.get("XLA_FLAGS")
    if "xla_force_host_platform_device_count" not in (flags or ""):
        os.environ["XLA_FLAGS"] = f"{flags or ''} {flag}".strip()
    import jax

    keep_compiled_programs(jax)
    devices = jax.local_device_count()  # starts the backend, which reads XLA_FLAGS once
    if flags is None:
        os.environ.pop("XLA_FLAGS", None)
    else:
        os.environ["XLA_FLAGS"] = flags
    return "parallel" if chains > 1 and devices >= chains else "sequential"


def jax_cache_dir() -> Path:
    """Where compiled XLA programs are kept between processes: the user's cache folder (XDG), not the workspace."""
    import os

    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "prism" / "jax"


def keep_compiled_programs(jax) -> None:
    """JAX's persistent compilation cache, unless the person set one (`JAX_COMPILATION_CACHE_DIR`).

    A NumPyro fit compiles its whole sampler into one XLA program, and every round of a loop compiles the
    same one again: on 209 weeks × 10 channels × 50 controls lightweight_mmm cost 115 CPU s in a fresh
    process with an empty cache and 47 CPU s with the program cached (same draws, same diagnostics). A
    cached program is used only for the same shapes and settings (JAX keys it on the whole computation).
    """
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(jax_cache_dir()))


def transform_notes(cfg: Config, saturation_used: str, adstock_used: str = "geometric") -> dict[str, str]:
    """The curves a Bayesian model really used (geometric carry-over nationally, delayed on panels), noted where
    the config asked for others."""
    out = {"adstock": adstock_used, "saturation": saturation_used}
    if cfg.adstock.type != adstock_used:
        out["adstock_note"] = (f"adstock.type={cfg.adstock.type} applies to ridge; "
                               f"this model uses {adstock_used} adstock")
    if cfg.saturation.type != saturation_used:
        out["saturation_note"] = (f"saturation.type={cfg.saturation.type} not available here; "
                                  f"this model uses {saturation_used}")
    return out


def loo_mape(media: KeptDraws, y: np.ndarray, sigma: np.ndarray, n_train: int) -> float:
    """PSIS-LOO MAPE (%) over the training weeks: each week predicted by the posterior without that week.

    Why: the Bayesian models' share of the tuning objective must be out of sample, like ridge's rolling-origin
    CV, yet a refit per fold would double a round's time. Pareto-smoothed importance weights (1 / likelihood
    of the week, Normal with the draw's noise sd) reweight the kept draws instead, at no sampling cost."""
    from arviz_stats.base import array_stats
    from scipy.special import logsumexp

    fitted = (media.baseline + media.contributions(media.spend).sum(axis=-1))[:, :n_train]  # (S, T)
    obs = y[:n_train]
    loglik = -np.log(sigma)[:, None] - 0.5 * ((obs[None, :] - fitted) / sigma[:, None]) ** 2
    log_w = np.zeros_like(loglik.T)  # (T, S): weights for leaving each week out
    spread = np.ptp(loglik, axis=0) > 1e-9  # a week every draw fits alike keeps equal weights (PSIS needs a tail)
    if spread.any():
        log_w[spread] = array_stats.psislw(loglik.T[spread])[0]  # arviz-stats takes the log-likelihood
    weights = np.exp(log_w - logsumexp(log_w, axis=-1, keepdims=True))
    predicted = (weights * fitted.T).sum(axis=-1)
    nonzero = obs != 0
    return float(100.0 * np.mean(np.abs((obs[nonzero] - predicted[nonzero]) / obs[nonzero])))


# ------------------------------------------------------------------------------------------------ panels
def market_draws(data: PanelData, draws: dict[str, np.ndarray], scales: tuple[np.ndarray, np.ndarray],
                 baselines: np.ndarray, convert) -> PanelDraws:
    """One KeptDraws per market from (S, C) shared and (S, G, C) per-market parameters, draw s of every market
    from the same joint draw: `convert(market ModelData, its params, (its spend scales, its KPI scale),
    its (S, T) baseline)` is the model's own national conversion; `baselines` (S, T, G)."""
    channel_scale, kpi_scale = scales
    per_market = []
    for g in range(data.n_markets):
        own = {k: (v[:, g] if v.ndim == 3 else v) for k, v in draws.items()}
        per_market.append(convert(data.market(g), own, (channel_scale[g], kpi_scale[g]), baselines[:, :, g]))
    return PanelDraws(list(data.markets), per_market)


def panel_per_coef(centre: PanelDraws, data: PanelData) -> np.ndarray:
    """(C,) national training ROI that a unit media coefficient in every market gives, the other media
    parameters at their prior centres (`centre`: one draw): converts a national ROI prior to a coefficient
    prior, as `roi_per_coef` does for one series."""
    contrib = centre.national_contributions(data.spend)[0, : data.n_train].sum(axis=0)
    spend = data.spend[data.train].sum(axis=(0, 1))
    return np.where((contrib > 0) & (spend > 0), contrib / np.where(spend > 0, spend, 1.0), 1.0)


def panel_loo_mape(panel: PanelDraws, data: PanelData, sigma: np.ndarray) -> float:
    """PSIS-LOO MAPE (%) per market (`loo_mape`; `sigma` (S, G) in KPI units), weighted by the markets' sizes:
    the panel's share of the tuning objective."""
    per_market = [loo_mape(kd, data.y[:, g], sigma[:, g], data.n_train) for g, kd in enumerate(panel.draws)]
    return float(np.dot(data.sizes, per_market))


def refuse_lifts(data: PanelData, engine: str) -> None:
    """A Bayesian panel fit does not yet take lift tests into its likelihood: say so (the model fails with this
    reason) rather than be reported as calibrated on tests it never saw."""
    if data.lifts:
        raise NotImplementedError(f"{engine}: lift tests are not yet used by the panel fit "
                                  f"({len(data.lifts)} given); fit without experiments.csv or nationally")
