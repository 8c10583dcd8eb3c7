"""LightweightMMM's `hill_adstock` model, written from its documented specification in NumPyro on current JAX.

LightweightMMM 0.1.9 cannot share an environment with the current PyMC stack (numpy < 2, jax 0.4.26,
TensorFlow), so Prism reimplements its national model; `bench/lightweight_parity.py` fits this and the
real package on the same data and compares the posteriors. The specification:

- media and target divided by their training means; extra features (Prism's controls) enter as given —
  Prism standardises them on the training weeks;
- per channel: lag_weight ~ Beta(2, 1) (centred on the config's decay when it names one), geometric adstock
  as the recursion a_t = x_t + lag_weight·a_{t−1} normalised by (1 − lag_weight), then Hill (0.1.9 applies
  adstock first, then Hill, despite the name). Prism's Hill priors are half_max_effective_concentration ~
  Gamma(3, 3) and slope ~ Gamma(4, 3) (`HALF_PRIOR`, `SLOPE_PRIOR`; 0.1.9 uses Gamma(1, 1) for both), or a
  Gamma with 10 % spread around a value the config fixes;
- coef_media: LightweightMMM's HalfNormal(media_prior_c), positive media effects. `media_prior` is the user's
  input; the docs pass cost ÷ mean cost (summing to the number of channels, a prior media effect of several
  times the KPI with eight channels). Prism gives every channel the same ROI prior as the pymc model
  (`posterior.roi_prior`, converted at the prior centres of decay, half and slope): HalfNormal(scale) with
  the scale ∝ cost share, summing to the media share that prior assumes, or, where the knowledge layer
  gives an expected ROI range, Normal(its centre, its half-width) truncated at 0;
- intercept ~ HalfNormal(2); trend trend_end·(t/n)^expo_trend with expo_trend ~ Uniform(0.9, 1.1)
  (`EXPO_TREND_RANGE`) and trend_end ~ Normal(0, n^expo_trend / n_train) (`TREND_PRIOR_SD` ÷ training weeks;
  0.1.9: coef_trend ~ Normal(0, 1), expo_trend ~ Uniform(0.5, 1.5); see `_trend` for why),
  seasonality Σ_k γ_k,sin sin(2πkt/52) + γ_k,cos cos(2πkt/52) with γ ~ Normal(0, 1),
  coef_extra_features ~ Normal(0, 1), noise sigma ~ Gamma(1, 1), Normal likelihood;
- NUTS with init_to_median (a refresh: init_to_value at the approved fit's media parameters).

Hill is evaluated as sigmoid(slope · (ln x − ln half)), the same curve as 1 / (1 + (x / half)^−slope): the
power form overflows float32 for the tiny carry-over that follows long zero-spend runs, and its NaN
gradients made ~880 of 1000 draws diverge on the bundled brand (0 with the log form).

Prism additions, off by default: the config's decays, Hill half/slope and the knowledge layer's ROI ranges
become prior centres, as LightweightMMM's `custom_priors` would allow.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import numpy as np
import xarray as xr

from prism.models.base import Fitted, ModelData
from prism.models.draws import KeptDraws, PanelDraws
from prism.models.panel import PanelData
from prism.models.posterior import (
    transform_notes,
    TIGHT_PRIOR_CV,
    convergence,
    decay_centres,
    event_draws,
    curve_draws,
    hill_settings,
    lognormal_roi_prior,
    MARKET_SPREAD_SD,
    PEAK_PRIOR_MEAN,
    PEAK_PRIOR_SD,
    loo_mape,
    market_draws,
    panel_loo_mape,
    panel_per_coef,
    parallel_chain_method,
    refuse_lifts,
    roi_per_coef,
    roi_prior,
    summarize_params,
    thinned,
    beta_from_mean,
)
from prism.models import scales
from prism.models.evidence import PRIOR_DRAWS
from prism.models.prior_draws import numpy_prior_draws
from prism.models.transforms import DelayedAdstock, GeometricAdstock, HillSaturation
from prism.models.warm import WARM_KEY, arrays as warm_arrays, note as warm_note
from prism.schemas import Config, WarmStart

CALIBRATES = True  # lift tests enter as a Normal likelihood term on the window's incremental KPI (_lift_term)
ENGINE = "numpyro (LightweightMMM hill_adstock specification)"
SEASONALITY_FREQUENCY = 52
QUICK_WARMUP = 150
QUICK_SAMPLES = 150
SLOPE_PRIOR = (4.0, 3.0)
HALF_PRIOR = (3.0, 3.0)
TREND_PRIOR_SD = 1.0  # × 1/training weeks: the trend may move the mean-scaled KPI by about ±1 over the window
EXPO_TREND_RANGE = (0.9, 1.1)
MEDIA_PARAMS = ("lag_weight", "half_max_effective_concentration", "slope", "coef_media")


def _standardised_controls(data: ModelData) -> np.ndarray:
    tr = data.train
    mean, sd = data.controls[tr].mean(axis=0), data.controls[tr].std(axis=0)
    return (data.controls - mean) / np.where(sd > 0, sd, 1.0)


def seasonality_features(n_weeks: int, degrees: int) -> np.ndarray:
    """(T, degrees, 2) sin/cos of 2πkt/52 for t = 0..T−1, LightweightMMM's seasonality basis."""
    t = np.arange(n_weeks)[:, None] * 2 * np.pi * np.arange(1, degrees + 1)[None, :] / SEASONALITY_FREQUENCY
    return np.stack([np.sin(t), np.cos(t)], axis=-1)


def _transform_priors(data: ModelData | PanelData, cfg: Config) -> dict[str, Any]:
    """Carry-over, Hill and trend prior arrays: the specification's defaults, replaced per channel only where
    the config says so (shared by the national and the panel model)."""
    decay = decay_centres(cfg, data.channels)
    half, slope = hill_settings(cfg, data.channels)
    lag_a, lag_b = beta_from_mean(decay, (2.0, 1.0))
    hill_conc = 1.0 / TIGHT_PRIOR_CV ** 2
    return {
        "lag_a": lag_a, "lag_b": lag_b,
        "half_conc": np.where(np.isnan(half), HALF_PRIOR[0], hill_conc),
        "half_rate": np.where(np.isnan(half), HALF_PRIOR[1], hill_conc / half),
        "slope_conc": np.where(np.isnan(slope), SLOPE_PRIOR[0], hill_conc),
        "slope_rate": np.where(np.isnan(slope), SLOPE_PRIOR[1], hill_conc / slope),
        "trend_sd": TREND_PRIOR_SD / data.n_train, "expo_low": EXPO_TREND_RANGE[0], "expo_high": EXPO_TREND_RANGE[1],
    }


def _coef_prior(pri: dict[str, Any], mu: np.ndarray, sd: np.ndarray, per_coef: np.ndarray) -> dict[str, Any]:
    """The media coefficient's prior: the ROI prior (mu, sd) divided by the ROI one unit of coefficient gives."""
    return pri | {"coef_loc": mu / per_coef, "coef_scale": sd / per_coef, "truncated": bool(np.any(mu > 0))}


def _channel_priors(data: ModelData, cfg: Config, kpi_mean: float) -> dict[str, Any]:
    """Prior arrays of the national model (see `_transform_priors`), with the coefficient on an ROI footing."""
    pri = _transform_priors(data, cfg)
    per_coef = roi_per_coef(_centre(pri, data, cfg, kpi_mean), data.spend[data.train])
    return _coef_prior(pri, *roi_prior(data, cfg), per_coef) | _lift_arrays(data, _mean_spend(data, cfg), kpi_mean)


def _centre_params(pri: dict[str, Any]) -> dict[str, np.ndarray]:
    """One draw with decay, half and slope at their prior means and a unit coefficient."""
    decay = pri["lag_a"] / (pri["lag_a"] + pri["lag_b"])
    return {"lag_weight": decay[None, :], "coef_media": np.ones((1, len(decay))),
            "half_max_effective_concentration": (pri["half_conc"] / pri["half_rate"])[None, :],
            "slope": (pri["slope_conc"] / pri["slope_rate"])[None, :]}


def _centre(pri: dict[str, Any], data: ModelData, cfg: Config, kpi_mean: float) -> KeptDraws:
    """The prior centres as KeptDraws of one series."""
    return kept_draws(data, _centre_params(pri), (_mean_spend(data, cfg), kpi_mean), np.zeros((1, data.n_weeks)))


def _prior_media(data: ModelData, cfg: Config, pri: dict[str, Any], kpi_mean: float) -> KeptDraws:
    """The national model's media parameters drawn from its own prior."""
    draws = numpy_prior_draws(_media_priors(pri), PRIOR_DRAWS, len(data.channels), cfg.seed + 1)
    return kept_draws(data, draws, (_mean_spend(data, cfg), kpi_mean), np.zeros((PRIOR_DRAWS, data.n_weeks)))


def _model(media, extra, seasonal, target, pri, trend: bool):
    """The hill_adstock national model; `target=None` for prior/posterior prediction."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    n_weeks, n_channels = media.shape
    intercept = numpyro.sample("intercept", dist.HalfNormal(2.0))
    sigma = numpyro.sample("sigma", dist.Gamma(1.0, 1.0))
    mu = intercept
    if trend:
        mu = mu + _trend(n_weeks, pri)
    with numpyro.plate("channel", n_channels):
        lag_weight, half, slope, coef_media = (numpyro.sample(name, prior)
                                               for name, prior in _media_priors(pri).items())

    mu = mu + _hill_adstock(media, lag_weight, half, slope) @ coef_media
    if "lift_c" in pri:
        _lift_term(pri, lag_weight, half, slope, coef_media)
    if seasonal.shape[1]:
        gamma = numpyro.sample("gamma_seasonality", dist.Normal(0.0, 1.0).expand(seasonal.shape[1:]).to_event(2))
        mu = mu + jnp.einsum("tds,ds->t", seasonal, gamma)
    if extra.shape[1]:
        coef_extra = numpyro.sample("coef_extra_features", dist.Normal(0.0, 1.0).expand([extra.shape[1]]).to_event(1))
        mu = mu + extra @ coef_extra
    numpyro.sample("target", dist.Normal(mu, sigma), obs=target)


def _media_priors(pri: dict[str, Any]) -> dict[str, Any]:
    """The national model's per-channel media priors (MEDIA_PARAMS, in sampling order): the model samples them
    and `prior_draws.numpy_prior_draws` draws them for the prior-driven check."""
    import numpyro.distributions as dist

    return {"lag_weight": dist.Beta(pri["lag_a"], pri["lag_b"]),
            "half_max_effective_concentration": dist.Gamma(pri["half_conc"], pri["half_rate"]),
            "slope": dist.Gamma(pri["slope_conc"], pri["slope_rate"]),
            "coef_media": (dist.TruncatedNormal(pri["coef_loc"], pri["coef_scale"], low=0.0) if pri["truncated"]
                           else dist.HalfNormal(pri["coef_scale"]))}


def _trend(n_weeks: int, pri, markets: tuple[int, ...] = ()):
    """coef_trend · t^expo_trend (coef_trend ~ Normal(0, trend_sd)), sampled as its value at t = n_weeks.

    The same prior and curve, written as trend_end · (t / n)^expo_trend with trend_end | expo_trend ~
    Normal(0, trend_sd · n^expo_trend): the data pin trend_end almost independently of the exponent, whereas
    coef_trend and expo_trend trade off along a narrow curved ridge (t^expo spans ×2.8 at t = 166 over the
    exponent's range) that kept NUTS at its 1023-step tree limit on every draw of the 209-week wide table.
    A panel (`markets` = (G,)) has one trend per market and one shared exponent, as LightweightMMM's geo model.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    expo_trend = numpyro.sample("expo_trend", dist.Uniform(pri["expo_low"], pri["expo_high"]))
    end_scale = n_weeks ** expo_trend
    trend_end = numpyro.sample("trend_end", dist.Normal(0.0, pri["trend_sd"] * end_scale).expand(markets).to_event(
        len(markets)))
    numpyro.deterministic("coef_trend", trend_end / end_scale)
    ramp = (jnp.arange(n_weeks) / n_weeks) ** expo_trend
    return ramp[:, None] * trend_end if markets else ramp * trend_end


def _hill_adstock(media, lag_weight, half, slope):
    """(T, …, C) Hill of the normalised geometric adstock of (T, …, C) mean-scaled media, per column (a panel's
    markets are the middle axis; the parameters are per channel)."""
    import jax
    import jax.numpy as jnp

    def step(carry, x):
        carry = x + lag_weight * carry
        return carry, carry

    _, adstocked = jax.lax.scan(step, jnp.zeros(media.shape[1:]), media)
    return _hill(adstocked * (1.0 - lag_weight), half, slope)


def _hill(x, half, slope):
    """Hill as a logistic in log spend: the same curve, without overflow of ratio**(-slope) for tiny carry-over."""
    import jax
    import jax.numpy as jnp

    positive = x > 0
    log_x = jnp.log(jnp.where(positive, x, 1.0))
    return jnp.where(positive, jax.nn.sigmoid(slope * (log_x - jnp.log(half))), 0.0)


def _carryover(media, decay, peak, max_lag: int):
    """(T, …, C) LightweightMMM's `carryover` of (T, …, C) media: lag weights decay^((l − peak)²) over
    l = 0..max_lag − 1, normalised to sum to 1 (`transforms.DelayedAdstock`).

    Why the panel learns the peak: its identification is the markets' week-to-week spend variation, where a
    response that peaks a week or two after the spend is misaligned by a geometric carry-over; the fit then
    raised the decay to smooth it and, with a smoother input, inflated the coefficient (the panel test's seed:
    TV ROI +91 % off with a geometric carry-over, +6 % with the peak learned)."""
    import jax.numpy as jnp

    lags = jnp.arange(max_lag).reshape((max_lag,) + (1,) * (media.ndim - 1))
    weights = decay ** ((lags - peak) ** 2)
    weights = weights / weights.sum(axis=0)
    padded = jnp.concatenate([jnp.zeros((max_lag - 1, *media.shape[1:])), media], axis=0)
    n = media.shape[0]
    return sum(weights[lag] * padded[max_lag - 1 - lag: max_lag - 1 - lag + n] for lag in range(max_lag))


def _lift_term(pri, lag_weight, half, slope, coef_media) -> None:
    """Each lift test as an observation: Σ over its window of the channel's contribution at the data's spend
    minus that with the window's spend removed ~ Normal(test's incremental KPI, its se), on the scaled KPI."""
    import numpyro
    import numpyro.distributions as dist

    c = pri["lift_c"]
    params = lag_weight[c], half[c], slope[c]
    gap = _hill_adstock(pri["lift_media"], *params) - _hill_adstock(pri["lift_zeroed"], *params)
    implied = (gap * pri["lift_weeks"]).sum(axis=0) * coef_media[c]
    numpyro.sample("lift", dist.Normal(implied, pri["lift_se"]), obs=pri["lift_kpi"])


def _lift_arrays(data: ModelData, mean_spend: np.ndarray, kpi_mean: float) -> dict[str, np.ndarray]:
    """The data's lift tests on the model's scales: (T, K) media of each test's channel, with and without
    the window's spend, the window's weeks, and the test's result and se ÷ the KPI mean (none: {})."""
    if not data.lifts:
        return {}
    column = lambda spend, t: spend[:, t.c] / mean_spend[t.c]  # noqa: E731
    return {"lift_c": np.array([t.c for t in data.lifts]),
            "lift_media": np.column_stack([column(data.spend, t) for t in data.lifts]),
            "lift_zeroed": np.column_stack([column(t.zeroed(data.spend), t) for t in data.lifts]),
            "lift_weeks": np.column_stack([t.weeks for t in data.lifts]).astype(float),
            "lift_kpi": np.array([t.kpi for t in data.lifts]) / kpi_mean,
            "lift_se": np.array([t.se for t in data.lifts]) / kpi_mean}


def _warm_or_median(site=None, start: dict[str, np.ndarray] | None = None):
    """A site's start: its value in `start`, else `init_to_median` (a partial: NumPyro requires one)."""
    from numpyro.infer import init_to_median

    if site is None:
        return partial(_warm_or_median, start=start)
    if site["type"] == "sample" and not site["is_observed"] and site["name"] in start:
        return start[site["name"]]
    return init_to_median(site)


def init_strategy(start: dict[str, np.ndarray]):
    """NumPyro's init strategy: the values in `start` (a refresh's approved medians) for their sites,
    `init_to_median` for the others, as a cold fit does for all. Not `init_to_value`: it starts the
    sites it is not given uniformly in [-2, 2] of their unconstrained space."""
    from numpyro.infer import init_to_median

    return partial(_warm_or_median, start=start) if start else init_to_median


def _run_mcmc(data: ModelData | PanelData, cfg: Config, quick: bool, arrays: dict[str, np.ndarray],
              pri: dict[str, Any], model=None, start: dict[str, np.ndarray] | None = None):
    """NUTS on the training weeks of `model` (the national `_model` unless given), started at `start`'s values."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer import MCMC, NUTS

    lw = cfg.lightweight_mmm
    method = parallel_chain_method(lw.chains)
    kernel = NUTS(model or _model, target_accept_prob=lw.target_accept, init_strategy=init_strategy(start or {}))
    mcmc = MCMC(kernel, num_warmup=QUICK_WARMUP if quick else lw.warmup,
                num_samples=QUICK_SAMPLES if quick else lw.samples, num_chains=lw.chains,
                chain_method=method, progress_bar=True)  # its draws done, read by the runner from the log
    tr = data.train
    mcmc.run(jax.random.PRNGKey(cfg.seed), jnp.asarray(arrays["media"][tr]), jnp.asarray(arrays["extra"][tr]),
             jnp.asarray(arrays["seasonal"][tr]), jnp.asarray(arrays["target"][tr]), pri, cfg.trend,
             extra_fields=("diverging",))
    return mcmc, method


def _mean_spend(data: ModelData, cfg: Config) -> np.ndarray:
    """(C,) mean weekly training spend, the media scale (1 for a channel without training spend; fixed after a refresh)."""
    return scales.channel_scale(cfg, "lightweight_mmm", data.spend[data.train])


def prepare_arrays(data: ModelData, cfg: Config) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """Scaled inputs over all weeks (scales from the training weeks only), the media means and KPI mean."""
    mean_spend = _mean_spend(data, cfg)
    kpi_mean = scales.kpi_scale(cfg, "lightweight_mmm", data.y[data.train])
    arrays = {
        "media": data.spend / mean_spend,
        "extra": np.hstack([_standardised_controls(data), data.events]),  # events as 0/1: one coefficient each
        "seasonal": seasonality_features(data.n_weeks, cfg.fourier_order),
        "target": data.y / kpi_mean,
    }
    return arrays, mean_spend, kpi_mean


def posterior_dataset(samples: dict[str, Any]) -> xr.Dataset:
    """Chain-grouped NumPyro samples as an (chain, draw, …) xarray Dataset for the diagnostics."""
    out = {}
    for name, value in samples.items():
        arr = np.asarray(value)
        out[name] = (("chain", "draw", *[f"{name}_dim_{i}" for i in range(arr.ndim - 2)]), arr)
    return xr.Dataset(out)


def kept_draws(data: ModelData, draws: dict[str, np.ndarray], scales: tuple[np.ndarray, float],
               baseline: np.ndarray) -> KeptDraws:
    """The hill_adstock posterior (its variable names, scaled space) as KeptDraws: (1 − decay) × geometric
    adstock over the whole history of mean-scaled spend, Hill, coefficient × the KPI mean."""
    decay = draws["lag_weight"]
    params = {"decay": decay, "coef": draws["coef_media"], "half": draws["half_max_effective_concentration"],
              "slope": draws["slope"]}
    return curve_draws("lightweight_mmm", data, params, scales,
                           GeometricAdstock(max_lag=data.n_weeks, normalize=False), baseline, gain=1.0 - decay)


def fit(data: ModelData, cfg: Config, quick: bool = False, warm: WarmStart | None = None) -> Fitted:
    """Sample the hill_adstock model on the training weeks; contributions and holdout come from the draws.
    `warm`: a refresh starts the chains at the approved fit's media parameters (prism/models/warm.py)."""
    import numpyro

    arrays, mean_spend, kpi_mean = prepare_arrays(data, cfg)
    pri = _channel_priors(data, cfg, kpi_mean)
    start = {k: v.astype(np.float32) for k, v in warm_arrays(warm).items()}
    started = time.perf_counter()
    mcmc, method = _run_mcmc(data, cfg, quick, arrays, pri, start=start)
    sample_seconds = time.perf_counter() - started
    grouped = mcmc.get_samples(group_by_chain=True)
    posterior = posterior_dataset(grouped)
    divergences = int(np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"]).sum())
    names = [n for n in (*MEDIA_PARAMS, "intercept", "sigma", "coef_trend", "expo_trend") if n in posterior]
    diagnostics = {"method": "nuts", **convergence(posterior, divergences, names), "chain_method": method,
                   "sample_seconds": round(sample_seconds, 2), **transform_notes(cfg, "hill")}
    if quick:
        diagnostics["note"] = f"quick: {QUICK_WARMUP} warmup + {QUICK_SAMPLES} draws per chain"
    if start:
        diagnostics[WARM_KEY] = warm_note(warm, list(start))
    flat = {k: np.asarray(v).reshape(-1, *np.asarray(v).shape[2:]) for k, v in grouped.items()}
    keep = thinned(flat["coef_media"].shape[0])
    draws = {k: v[keep] for k, v in flat.items()}
    params = summarize_params({"decay": draws["lag_weight"],
                               "half": draws["half_max_effective_concentration"] * mean_spend,
                               "slope": draws["slope"], "coef_kpi_per_week": draws["coef_media"] * kpi_mean},
                              data.channels)
    q, k = len(data.control_names), len(data.event_names)
    events = event_draws(draws["coef_extra_features"][:, q:q + k], data.events, kpi_mean) if k else None
    media = kept_draws(data, draws, (mean_spend, kpi_mean), baseline(draws, arrays, data.n_weeks) * kpi_mean)
    diagnostics["cv_mape"] = loo_mape(media, data.y, draws["sigma"] * kpi_mean, data.n_train)
    return Fitted(engine=ENGINE, version=numpyro.__version__, params=params, diagnostics=diagnostics, draws=media,
                  events=events, prior=_prior_media(data, cfg, pri, kpi_mean))


def baseline(draws: dict[str, np.ndarray], arrays: dict[str, np.ndarray], n_weeks: int) -> np.ndarray:
    """(S, T) intercept + trend + seasonality + extra features over all weeks, on the scaled target."""
    base = np.repeat(draws["intercept"].reshape(-1, 1), n_weeks, axis=1)
    if "coef_trend" in draws:
        base = base + draws["coef_trend"][:, None] * np.arange(n_weeks)[None, :] ** draws["expo_trend"][:, None]
    if "gamma_seasonality" in draws:
        base = base + np.einsum("tds,nds->nt", arrays["seasonal"], draws["gamma_seasonality"])
    if "coef_extra_features" in draws:
        base = base + draws["coef_extra_features"] @ arrays["extra"].T
    return base


# ------------------------------------------------------------------------------------------------ panels
SEASONALITY_COEF_SD = 0.5  # LightweightMMM's coef_seasonality ~ HalfNormal(0.5): each market's seasonal amplitude
PANEL_MEDIA_PARAMS = ("lag_weight", "peak_effect_delay", "half_max_effective_concentration", "slope", "coef_media")


def _panel_model(media, extra, seasonal, target, pri, trend: bool):
    """LightweightMMM's geo model, its market coefficients pooled as Meridian pools them and sampled where the
    data pin them: per market an intercept, noise, trend, seasonal amplitude (one shared seasonal shape) and
    extra-feature coefficients; carry-over and Hill per channel, shared by every market; each market's effect at
    the mean spend per head (scaled spend 1) log-normal around the channel's national one (`channel_coef_media`,
    which carries the ROI prior as a LogNormal with its mean and sd): media_at_mean = national · exp(spread · z − spread² / 2), z ~ Normal(0, 1), spread ~
    HalfNormal(MARKET_SPREAD_SD), so that the markets' mean is the national one (non-centred, in z).

    Two reparametrisations of the same curves, because on a 40-market panel NUTS ran to 255 leapfrog steps a draw
    with the markets' intercepts at a bulk ESS of 11–27 from 200 draws:
    - the coefficient is the effect at the mean spend (scaled spend 1), the asymptote `coef_media` =
      media_at_mean ÷ Hill(1): the data pin the effect where the spend is, not the asymptote, which trades off
      against the curve's half and slope;
    - each market's media term is centred at its own mean spend (`pri["market_mean"]`), so the intercept is the
      market's level at its mean spend; the media-free baseline is intercept − Σ coef_media · Hill(mean)
      (`panel_baseline`). Uncentred, every market's intercept traded off against the shared curve.
    Carry-over is LightweightMMM's delayed `carryover` (its peak week learned): see `_carryover` for why not
    geometric."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    n_weeks, n_markets, n_channels = media.shape
    with numpyro.plate("market", n_markets):
        intercept = numpyro.sample("intercept", dist.HalfNormal(2.0))
        sigma = numpyro.sample("sigma", dist.Gamma(1.0, 1.0))
        coef_seasonality = numpyro.sample("coef_seasonality", dist.HalfNormal(SEASONALITY_COEF_SD))
    mu = jnp.broadcast_to(intercept, (n_weeks, n_markets))
    if trend:
        mu = mu + _trend(n_weeks, pri, (n_markets,))
    with numpyro.plate("channel", n_channels):
        lag_weight, peak, half, slope, national, spread = (numpyro.sample(name, prior)
                                                           for name, prior in _panel_media_priors(pri).items())
    z = numpyro.sample("coef_media_z", dist.Normal(0.0, 1.0).expand([n_markets, n_channels]).to_event(2))
    at_mean = numpyro.deterministic("media_at_mean", _market_coefs(national, spread, z, jnp))
    coef_media = numpyro.deterministic("coef_media", at_mean / _unit_response(half, slope))
    carried = _carryover(media, lag_weight, peak, pri["max_lag"])
    mu = mu + ((_hill(carried, half, slope) - _hill(pri["market_mean"], half, slope)) * coef_media).sum(axis=-1)
    if seasonal.shape[1]:
        gamma = numpyro.sample("gamma_seasonality", dist.Normal(0.0, 1.0).expand(seasonal.shape[1:]).to_event(2))
        mu = mu + jnp.einsum("tds,ds->t", seasonal, gamma)[:, None] * coef_seasonality
    if extra.shape[2]:
        coef_extra = numpyro.sample("coef_extra_features",
                                    dist.Normal(0.0, 1.0).expand([n_markets, extra.shape[2]]).to_event(2))
        mu = mu + jnp.einsum("tgk,gk->tg", extra, coef_extra)
    numpyro.sample("target", dist.Normal(mu, sigma), obs=target)


def _unit_response(half, slope):
    """Hill at the scaled spend 1 (the mean spend per head): 1 / (1 + half^slope), in numpy or jax.numpy."""
    return 1.0 / (1.0 + half ** slope)


def _panel_media_priors(pri: dict[str, Any]) -> dict[str, Any]:
    """The geo model's per-channel media priors, in sampling order (see `_media_priors`)."""
    import numpyro.distributions as dist

    return {"lag_weight": dist.Beta(pri["lag_a"], pri["lag_b"]),
            "peak_effect_delay": dist.HalfNormal(PEAK_PRIOR_SD),
            "half_max_effective_concentration": dist.Gamma(pri["half_conc"], pri["half_rate"]),
            "slope": dist.Gamma(pri["slope_conc"], pri["slope_rate"]),
            "channel_coef_media": dist.LogNormal(pri["coef_log_mu"], pri["coef_log_sd"]),
            "coef_media_spread": dist.HalfNormal(MARKET_SPREAD_SD)}


def _market_coefs(national, spread, z, xp):
    """(…, G, C) market effects log-normal around the national (…, C) ones with mean national: `xp` is
    jax.numpy in the model and numpy for prior draws."""
    return national[..., None, :] * xp.exp(spread[..., None, :] * z - spread[..., None, :] ** 2 / 2.0)


def geo_asymptotes(draws: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """(S, G, C) the markets' asymptotes `coef_media` from prior draws of the geo model's per-channel sites and
    (S, G, C) standard normals, as the model derives them."""
    at_mean = _market_coefs(draws["channel_coef_media"], draws["coef_media_spread"], z, np)
    unit = _unit_response(draws["half_max_effective_concentration"], draws["slope"])
    return at_mean / unit[:, None, :]


def panel_spend_scale(data: PanelData) -> np.ndarray:
    """(G, C) each market's spend scale: its size (KPI share) × the channel's mean weekly training spend per
    unit of size over the markets where it ran.

    Why not each market's own mean spend (LightweightMMM's geo scaling): a market that ran a channel in a short
    flight, or at a low intensity, then had the same scaled input as one that ran it all year or heavily, and
    the shared Hill half meant a different spend per head in every market. Per size (Meridian's per-capita
    scaling, the KPI share standing in for population), the shared curve means one spend per head everywhere,
    and one coefficient one ROI (the KPI is ÷ the market's mean KPI, i.e. its size too)."""
    tr = data.train
    size = np.maximum(data.sizes, 1e-6)
    total = data.spend[tr].sum(axis=0)  # (G, C)
    ran = total > 0
    per_size = total.sum(axis=0) / np.maximum((size[:, None] * ran).sum(axis=0), 1e-12) / data.n_train
    return size[:, None] * np.where(per_size > 0, per_size, 1.0)[None, :]


def prepare_panel(data: PanelData, cfg: Config) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Scaled panel inputs over all weeks: spend ÷ `panel_spend_scale`, KPI ÷ each market's mean training KPI
    (LightweightMMM's geo scaling of the target); and those scales ((G, C), (G,))."""
    tr = data.train
    mean_spend = panel_spend_scale(data)
    kpi_mean = data.y[tr].mean(axis=0)
    kpi_mean = np.where(kpi_mean > 0, kpi_mean, 1.0)
    extra = np.stack([np.hstack([_standardised_controls(data.market(g)), data.events])
                      for g in range(data.n_markets)], axis=1)
    arrays = {"media": data.spend / mean_spend[None], "extra": extra,
              "seasonal": seasonality_features(data.n_weeks, cfg.fourier_order), "target": data.y / kpi_mean[None]}
    return arrays, (mean_spend, kpi_mean)


def carryover_draws(data: ModelData, draws: dict[str, np.ndarray], scales: tuple[np.ndarray, float],
                    baseline: np.ndarray, max_lag: int) -> KeptDraws:
    """The geo posterior of one market as KeptDraws: normalised delayed carry-over (decay, peak) of scaled spend,
    Hill, coefficient × the market's KPI scale."""
    params = {"decay": draws["lag_weight"], "theta": draws["peak_effect_delay"], "coef": draws["coef_media"],
              "half": draws["half_max_effective_concentration"], "slope": draws["slope"]}
    return curve_draws("lightweight_mmm", data, params, scales, DelayedAdstock(max_lag=max_lag, normalize=True),
                       baseline)


def _panel_draws(data: PanelData, draws: dict[str, np.ndarray], scales: tuple[np.ndarray, np.ndarray],
                 baselines: np.ndarray, max_lag: int) -> PanelDraws:
    """The geo posterior (its names, scaled space) as one KeptDraws per market."""
    convert = lambda market, own, sc, base: carryover_draws(market, own, sc, base, max_lag)  # noqa: E731
    return market_draws(data, draws, scales, baselines, convert)


def _panel_priors(data: PanelData, cfg: Config, scales: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """The national model's transform priors; the national effect at the mean spend has a LogNormal with the
    national ROI prior's mean and sd (`lognormal_roi_prior`), converted with the ROI a unit effect in every market
    gives at the curve's prior centre; and each market's mean training spend (scaled), where its media term is
    centred."""
    pri = _transform_priors(data, cfg) | {"max_lag": cfg.adstock.max_lag}
    zeros = np.zeros((1, data.n_weeks, data.n_markets))
    centre = _centre_params(pri) | {"peak_effect_delay": np.full((1, len(data.channels)), PEAK_PRIOR_MEAN)}
    centre["coef_media"] = 1.0 / _unit_response(centre["half_max_effective_concentration"], centre["slope"])
    per_effect = panel_per_coef(_panel_draws(data, centre, scales, zeros, cfg.adstock.max_lag), data)
    log_mu, log_sd = lognormal_roi_prior(*roi_prior(data.national(), cfg))
    market_mean = (data.spend[data.train] / scales[0][None]).mean(axis=0)
    return pri | {"coef_log_mu": log_mu - np.log(per_effect), "coef_log_sd": log_sd, "market_mean": market_mean}


def panel_baseline(draws: dict[str, np.ndarray], arrays: dict[str, np.ndarray], n_weeks: int,
                   market_mean: np.ndarray) -> np.ndarray:
    """(S, T, G) the media-free baseline per market, on each market's scaled KPI: the intercept (the level at the
    market's mean spend) less the media's effect there, plus trend, seasonality and extra features."""
    at_mean = HillSaturation()(market_mean[None], draws["half_max_effective_concentration"][:, None, :],
                               draws["slope"][:, None, :])
    level = draws["intercept"] - (at_mean * draws["coef_media"]).sum(axis=-1)
    base = np.repeat(level[:, None, :], n_weeks, axis=1)
    if "coef_trend" in draws:
        ramp = np.arange(n_weeks)[None, :] ** draws["expo_trend"][:, None]
        base = base + ramp[:, :, None] * draws["coef_trend"][:, None, :]
    if "gamma_seasonality" in draws:
        shape = np.einsum("tds,nds->nt", arrays["seasonal"], draws["gamma_seasonality"])
        base = base + shape[:, :, None] * draws["coef_seasonality"][:, None, :]
    if "coef_extra_features" in draws:
        base = base + np.einsum("tgk,sgk->stg", arrays["extra"], draws["coef_extra_features"])
    return base


def fit_panel(data: PanelData, cfg: Config, quick: bool = False) -> Fitted:
    """Sample the geo model on the training weeks; each market's contributions and forecast come from the draws."""
    import numpyro

    refuse_lifts(data, ENGINE)
    arrays, scales = prepare_panel(data, cfg)
    mean_spend, kpi_mean = scales
    pri = _panel_priors(data, cfg, scales)
    started = time.perf_counter()
    mcmc, method = _run_mcmc(data, cfg, quick, arrays, pri, _panel_model)
    sample_seconds = time.perf_counter() - started
    grouped = mcmc.get_samples(group_by_chain=True)
    posterior = posterior_dataset(grouped)
    divergences = int(np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"]).sum())
    names = [n for n in (*PANEL_MEDIA_PARAMS, "channel_coef_media", "coef_media_spread", "intercept", "sigma",
                         "coef_trend", "expo_trend") if n in posterior]
    diagnostics = {"method": "nuts", **convergence(posterior, divergences, names), "chain_method": method,
                   "sample_seconds": round(sample_seconds, 2), "markets": data.n_markets,
                   **transform_notes(cfg, "hill", DelayedAdstock.name)}
    if quick:
        diagnostics["note"] = f"quick: {QUICK_WARMUP} warmup + {QUICK_SAMPLES} draws per chain"
    flat = {k: np.asarray(v).reshape(-1, *np.asarray(v).shape[2:]) for k, v in grouped.items()}
    draws = {k: v[thinned(flat["coef_media"].shape[0])] for k, v in flat.items()}
    baselines = panel_baseline(draws, arrays, data.n_weeks, pri["market_mean"]) * kpi_mean[None, None, :]
    panel = _panel_draws(data, {k: draws[k] for k in PANEL_MEDIA_PARAMS}, scales, baselines, cfg.adstock.max_lag)
    national_coef = (draws["coef_media"] * kpi_mean[None, :, None]).sum(axis=1)
    params = summarize_params({"decay": draws["lag_weight"], "peak_weeks": draws["peak_effect_delay"],
                               "slope": draws["slope"], "coef_kpi_per_week": national_coef}, data.channels)
    q, k = len(data.control_names), len(data.event_names)
    events = (np.einsum("sge,te,g->ste", draws["coef_extra_features"][:, :, q:q + k], data.events, kpi_mean) if k
              else None)
    diagnostics["cv_mape"] = panel_loo_mape(panel, data, draws["sigma"] * kpi_mean[None, :])
    return Fitted(engine=f"{ENGINE}, geo form", version=numpyro.__version__, params=params, diagnostics=diagnostics,
                  draws=None, events=events, prior=_prior_panel(data, cfg, pri, scales), panel_draws=panel)


def _prior_panel(data: PanelData, cfg: Config, pri: dict[str, Any], scales: tuple[np.ndarray, np.ndarray]):
    """The media parameters drawn from the geo model's own prior, read nationally (`NationalDraws`)."""
    draws = numpy_prior_draws(_panel_media_priors(pri), PRIOR_DRAWS, len(data.channels), cfg.seed + 1)
    z = np.random.default_rng(cfg.seed + 2).standard_normal((PRIOR_DRAWS, data.n_markets, len(data.channels)))
    draws["coef_media"] = geo_asymptotes(draws, z)
    return _panel_draws(data, draws, scales, np.zeros((PRIOR_DRAWS, data.n_weeks, data.n_markets)),
                        cfg.adstock.max_lag).national()
