"""LightweightMMM's `hill_adstock` model, written from its documented specification in NumPyro on current JAX.

LightweightMMM 0.1.9 cannot share an environment with the current PyMC stack (numpy < 2, jax 0.4.26,
TensorFlow), so Prism reimplements its national model; `bench/lightweight_parity.py` fits this and the
real package on the same data and compares the posteriors. The specification:

- media and target divided by their training means; extra features (Prism's controls) enter as given —
  Prism standardises them on the training weeks;
- per channel: lag_weight ~ Beta(2, 1), geometric adstock as the recursion a_t = x_t + lag_weight·a_{t−1}
  normalised by (1 − lag_weight), then Hill with half_max_effective_concentration ~ Gamma(1, 1) and
  slope ~ Gamma(1, 1) (0.1.9 applies adstock first, then Hill, despite the name);
- coef_media ~ HalfNormal(media_prior_c): positive media effects, prior scaled by cost. `media_prior` is
  the user's input; the docs pass cost ÷ mean cost (summing to the number of channels, a prior media
  effect of several times the KPI with eight channels). Prism passes the scale that gives every channel
  the same ROI prior as the pymc model (`posterior.roi_prior`, converted at the prior centres of decay,
  half and slope): ∝ cost share, summing to the media share that prior assumes — same specification,
  measured input (docs/concepts/models.md);
- intercept ~ HalfNormal(2), trend coef_trend·t^expo_trend (Normal(0, 1), Uniform(0.5, 1.5), t = 0, 1, …;
  sampled as its end value, see `_trend`),
  seasonality Σ_k γ_k,sin sin(2πkt/52) + γ_k,cos cos(2πkt/52) with γ ~ Normal(0, 1),
  coef_extra_features ~ Normal(0, 1), noise sigma ~ Gamma(1, 1), Normal likelihood;
- NUTS with init_to_median.

Hill is evaluated as sigmoid(slope · (ln x − ln half)), the same curve as 1 / (1 + (x / half)^−slope): the
power form overflows float32 for the tiny carry-over that follows long zero-spend runs, and its NaN
gradients made ~880 of 1000 draws diverge on the bundled brand (0 with the log form).

Prism additions, off by default: the config's decays, Hill half/slope and the knowledge layer's ROI ranges
become prior centres, as LightweightMMM's `custom_priors` would allow.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import xarray as xr

from prism.models.base import Fitted, ModelData
from prism.models.draws import KeptDraws
from prism.models.posterior import (
    transform_notes,
    TIGHT_PRIOR_CV,
    convergence,
    decay_centres,
    event_draws,
    geometric_draws,
    hill_settings,
    loo_mape,
    parallel_chain_method,
    roi_per_coef,
    roi_prior,
    summarize_params,
    thinned,
    beta_from_mean,
)
from prism.models.evidence import PRIOR_DRAWS
from prism.models.transforms import GeometricAdstock
from prism.schemas import Config

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


def _channel_priors(data: ModelData, cfg: Config, kpi_mean: float) -> dict[str, Any]:
    """Prior arrays: the specification's defaults, replaced per channel only where the config says so."""
    decay = decay_centres(cfg, data.channels)
    half, slope = hill_settings(cfg, data.channels)
    lag_a, lag_b = beta_from_mean(decay, (2.0, 1.0))
    hill_conc = 1.0 / TIGHT_PRIOR_CV ** 2
    pri = {
        "lag_a": lag_a, "lag_b": lag_b,
        "half_conc": np.where(np.isnan(half), HALF_PRIOR[0], hill_conc),
        "half_rate": np.where(np.isnan(half), HALF_PRIOR[1], hill_conc / half),
        "slope_conc": np.where(np.isnan(slope), SLOPE_PRIOR[0], hill_conc),
        "slope_rate": np.where(np.isnan(slope), SLOPE_PRIOR[1], hill_conc / slope),
        "trend_sd": TREND_PRIOR_SD / data.n_train, "expo_low": EXPO_TREND_RANGE[0], "expo_high": EXPO_TREND_RANGE[1],
    }
    mu, sd = roi_prior(data, cfg)
    per_coef = roi_per_coef(_centre(pri, data, kpi_mean), data.spend[data.train])
    pri.update(coef_loc=mu / per_coef, coef_scale=sd / per_coef, truncated=bool(np.any(mu > 0)))
    return pri | _lift_arrays(data, _mean_spend(data), kpi_mean)


def _centre(pri: dict[str, Any], data: ModelData, kpi_mean: float) -> KeptDraws:
    """One draw with decay, half and slope at their prior means and a unit coefficient."""
    decay = pri["lag_a"] / (pri["lag_a"] + pri["lag_b"])
    draws = {"lag_weight": decay[None, :], "coef_media": np.ones((1, len(decay))),
             "half_max_effective_concentration": (pri["half_conc"] / pri["half_rate"])[None, :],
             "slope": (pri["slope_conc"] / pri["slope_rate"])[None, :]}
    return kept_draws(data, draws, (_mean_spend(data), kpi_mean), np.zeros((1, data.n_weeks)))


def _prior_media(data: ModelData, cfg: Config, arrays: dict[str, np.ndarray], pri: dict[str, Any],
                 kpi_mean: float) -> KeptDraws:
    """The media parameters drawn from the model's own prior: NumPyro's Predictive without observations."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer import Predictive

    tr = data.train
    draws = Predictive(_model, num_samples=PRIOR_DRAWS, return_sites=list(MEDIA_PARAMS))(
        jax.random.PRNGKey(cfg.seed + 1), jnp.asarray(arrays["media"][tr]), jnp.asarray(arrays["extra"][tr]),
        jnp.asarray(arrays["seasonal"][tr]), None, pri, cfg.trend)
    return kept_draws(data, {k: np.asarray(v, dtype=float) for k, v in draws.items()}, (_mean_spend(data), kpi_mean),
                      np.zeros((PRIOR_DRAWS, data.n_weeks)))


def _model(media, extra, seasonal, target, pri, trend: bool):
    """The hill_adstock national model; `target=None` for prior/posterior prediction."""
    import jax
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
        lag_weight = numpyro.sample("lag_weight", dist.Beta(pri["lag_a"], pri["lag_b"]))
        half = numpyro.sample("half_max_effective_concentration", dist.Gamma(pri["half_conc"], pri["half_rate"]))
        slope = numpyro.sample("slope", dist.Gamma(pri["slope_conc"], pri["slope_rate"]))
        coef_prior = (dist.TruncatedNormal(pri["coef_loc"], pri["coef_scale"], low=0.0) if pri["truncated"]
                      else dist.HalfNormal(pri["coef_scale"]))
        coef_media = numpyro.sample("coef_media", coef_prior)

    def step(carry, x):
        carry = x + lag_weight * carry
        return carry, carry

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


def _trend(n_weeks: int, pri):
    """coef_trend · t^expo_trend (coef_trend ~ Normal(0, trend_sd)), sampled as its value at t = n_weeks.

    The same prior and curve, written as trend_end · (t / n)^expo_trend with trend_end | expo_trend ~
    Normal(0, trend_sd · n^expo_trend): the data pin trend_end almost independently of the exponent, whereas
    coef_trend and expo_trend trade off along a narrow curved ridge (t^expo spans ×2.8 at t = 166 over the
    exponent's range) that kept NUTS at its 1023-step tree limit on every draw of the 209-week wide table.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    expo_trend = numpyro.sample("expo_trend", dist.Uniform(pri["expo_low"], pri["expo_high"]))
    end_scale = n_weeks ** expo_trend
    trend_end = numpyro.sample("trend_end", dist.Normal(0.0, pri["trend_sd"] * end_scale))
    numpyro.deterministic("coef_trend", trend_end / end_scale)
    return trend_end * (jnp.arange(n_weeks) / n_weeks) ** expo_trend


def _hill_adstock(media, lag_weight, half, slope):
    """(T, C) Hill of the normalised geometric adstock of (T, C) mean-scaled media, per column."""
    import jax
    import jax.numpy as jnp

    def step(carry, x):
        carry = x + lag_weight * carry
        return carry, carry

    _, adstocked = jax.lax.scan(step, jnp.zeros(media.shape[1]), media)
    adstocked = adstocked * (1.0 - lag_weight)
    # Hill as a logistic in log spend: the same curve, without overflow of ratio**(-slope) for tiny carry-over
    positive = adstocked > 0
    log_x = jnp.log(jnp.where(positive, adstocked, 1.0))
    return jnp.where(positive, jax.nn.sigmoid(slope * (log_x - jnp.log(half))), 0.0)


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


def _run_mcmc(data: ModelData, cfg: Config, quick: bool, arrays: dict[str, np.ndarray], pri: dict[str, Any]):
    import jax
    import jax.numpy as jnp
    from numpyro.infer import MCMC, NUTS, init_to_median

    lw = cfg.lightweight_mmm
    method = parallel_chain_method(lw.chains)
    kernel = NUTS(_model, target_accept_prob=lw.target_accept, init_strategy=init_to_median)
    mcmc = MCMC(kernel, num_warmup=QUICK_WARMUP if quick else lw.warmup,
                num_samples=QUICK_SAMPLES if quick else lw.samples, num_chains=lw.chains,
                chain_method=method, progress_bar=False)
    tr = data.train
    mcmc.run(jax.random.PRNGKey(cfg.seed), jnp.asarray(arrays["media"][tr]), jnp.asarray(arrays["extra"][tr]),
             jnp.asarray(arrays["seasonal"][tr]), jnp.asarray(arrays["target"][tr]), pri, cfg.trend,
             extra_fields=("diverging",))
    return mcmc, method


def _mean_spend(data: ModelData) -> np.ndarray:
    """(C,) mean weekly training spend, the media scale (1 for a channel without training spend)."""
    mean_spend = data.spend[data.train].mean(axis=0)
    return np.where(mean_spend > 0, mean_spend, 1.0)


def prepare_arrays(data: ModelData, cfg: Config) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """Scaled inputs over all weeks (scales from the training weeks only), the media means and KPI mean."""
    mean_spend = _mean_spend(data)
    kpi_mean = float(data.y[data.train].mean())
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
    return geometric_draws("lightweight_mmm", data, params, scales,
                           GeometricAdstock(max_lag=data.n_weeks, normalize=False), baseline, gain=1.0 - decay)


def fit(data: ModelData, cfg: Config, quick: bool = False) -> Fitted:
    """Sample the hill_adstock model on the training weeks; contributions and holdout come from the draws."""
    import numpyro

    arrays, mean_spend, kpi_mean = prepare_arrays(data, cfg)
    pri = _channel_priors(data, cfg, kpi_mean)
    started = time.perf_counter()
    mcmc, method = _run_mcmc(data, cfg, quick, arrays, pri)
    sample_seconds = time.perf_counter() - started
    grouped = mcmc.get_samples(group_by_chain=True)
    posterior = posterior_dataset(grouped)
    divergences = int(np.asarray(mcmc.get_extra_fields(group_by_chain=True)["diverging"]).sum())
    names = [n for n in (*MEDIA_PARAMS, "intercept", "sigma", "coef_trend", "expo_trend") if n in posterior]
    diagnostics = {"method": "nuts", **convergence(posterior, divergences, names), "chain_method": method,
                   "sample_seconds": round(sample_seconds, 2), **transform_notes(cfg, "hill")}
    if quick:
        diagnostics["note"] = f"quick: {QUICK_WARMUP} warmup + {QUICK_SAMPLES} draws per chain"
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
                  events=events, prior=_prior_media(data, cfg, arrays, pri, kpi_mean))


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
