"""pymc-marketing's `MMM` with priors that put every channel on an ROI footing, sampled with a fast NUTS backend.

Why not the library defaults: with max-scaled data and `HalfNormal(2)` asymptotes, `Gamma(3, 1)` logistic
rates and `Beta(1, 3)` decays, a channel's prior ROI depends on its spend level and the curve can sit far
outside the spend range; on the simulator that gave a 45 % median ROI error. Here (the LightweightMMM /
Meridian idea) each channel's asymptote prior is chosen so that its *implied ROI* prior is the same weakly
informative half-normal for every channel (equivalently: prior contribution ∝ spend share), or the
knowledge layer's expected ROI range (`cfg.roi_priors`) where one is given; the ROI prior itself is
`posterior.roi_prior`, shared with lightweight_mmm. After sampling, the same media parameters are drawn
from this model's prior (PyMC's prior sampler on the built pymc-marketing model) so that the evidence
(models/evidence.py) can say how far the data moved each channel's ROI. Half-saturation is centred on
the channel's mean training spend, decays on the config's decays when set. Scaling (pymc-marketing's
max-abs for spend and KPI) is fitted on the training weeks only; the holdout is predicted from the draws.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd

from prism.models.base import Fitted, ModelData
from prism.models.draws import MARKET_DIM, KeptDraws, PanelDraws
from prism.models.panel import PanelData
from prism.models.posterior import (MARKET_SPREAD_SD, PEAK_PRIOR_MEAN, PEAK_PRIOR_SD, TIGHT_PRIOR_CV,
                                    beta_from_mean, convergence, curve_draws, decay_centres, event_draws,
                                    hill_settings, lognormal_roi_prior,
                                    loo_mape, market_draws, panel_loo_mape, panel_per_coef, parallel_chain_method,
                                    refuse_lifts, roi_per_coef, roi_prior, stack_draws, summarize_params, thinned,
                                    transform_notes)
from prism.models import scales
from prism.models.evidence import PRIOR_DRAWS
from prism.models.pymc_centred import asymptotes, centred_media, centred_saturation, unit_curve
from prism.models.transforms import DelayedAdstock, GeometricAdstock
from prism.schemas import Config

CALIBRATES = True  # lift tests: a Normal likelihood term on each window's incremental KPI (_add_lift_term)
ENGINE = "pymc-marketing MMM"
DAYS_PER_YEAR = 365.25
HALF_PRIOR_SD = 0.7  # log-scale spread of the half-saturation prior around the mean spend
DEFAULT_DECAY_PRIOR = (2.0, 2.0)  # Beta: centred at 0.5, most mass in 0.1–0.9
SLOPE_PRIOR = (4.0, 3.0)  # Gamma(alpha, beta): mean 1.33, sd 0.67
LOGISTIC_HALF = float(np.log(3.0))  # logistic curve reaches half its maximum at lam·x = ln 3
CONTROL_PRIOR_SD = 1.0
TREND_COLUMN = "_trend"
MAP_NOTE = "quick: MAP point estimate (pm.find_MAP); intervals collapse to the point"


def _features(data: ModelData, trend: bool) -> tuple[np.ndarray, list[str]]:
    """(T, K) controls standardised on the training weeks, the events as given (0/1: a coefficient is the lift in
    an event week), plus a linear trend (a slope of 1 over training, centred on the training weeks: uncentred,
    it traded off against the intercept and left the intercept the slowest-mixing parameter)."""
    tr = data.train
    cols, names = [], []
    if data.controls.shape[1]:
        mean = data.controls[tr].mean(axis=0)
        sd = data.controls[tr].std(axis=0)
        cols.append((data.controls - mean) / np.where(sd > 0, sd, 1.0))
        names += data.control_names
    if data.event_names:
        cols.append(data.events)
        names += data.event_names
    if trend:
        t = np.arange(data.n_weeks) / data.n_train
        cols.append((t - t[tr].mean())[:, None])
        names.append(TREND_COLUMN)
    return (np.hstack(cols) if cols else np.zeros((data.n_weeks, 0))), names


def fourier_features(dates: pd.DatetimeIndex, order: int) -> np.ndarray:
    """(T, 2·order) pymc-marketing's yearly Fourier modes: sin_1..sin_n, cos_1..cos_n of day-of-year."""
    x = 2 * np.pi * np.asarray(dates.dayofyear, dtype=float)[:, None] / DAYS_PER_YEAR
    k = np.arange(1, order + 1)[None, :]
    return np.hstack([np.sin(x * k), np.cos(x * k)])


def kept_draws(data: ModelData, draws: dict[str, np.ndarray], scales: tuple[np.ndarray, float], max_lag: int,
               baseline: np.ndarray) -> KeptDraws:
    """pymc-marketing's posterior (its variable names, scaled space) as KeptDraws: normalised geometric adstock
    (a panel's: delayed, with its peak `adstock_theta`) of max-scaled spend, saturation, asymptote × the KPI scale."""
    params = {"decay": draws["adstock_alpha"], "coef": draws["saturation_beta"]}
    carry = GeometricAdstock(max_lag=max_lag, normalize=True)
    if "adstock_theta" in draws:
        params["theta"] = draws["adstock_theta"]
        carry = DelayedAdstock(max_lag=max_lag, normalize=True)
    if "saturation_kappa" in draws:
        params.update(half=draws["saturation_kappa"], slope=draws["saturation_slope"])
    else:
        params["lam"] = draws["saturation_lam"]
    return curve_draws("pymc", data, params, scales, carry, baseline)


def _media_priors(data: ModelData | PanelData, cfg: Config, mean_x: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Adstock and saturation priors per channel in the scaled space where the mean training input is `mean_x`,
    and their centres (with a unit asymptote): the part of the priors a panel shares with the national model."""
    from pymc_extras.prior import Prior

    half_cfg, slope_cfg = hill_settings(cfg, data.channels)
    a, b = beta_from_mean(decay_centres(cfg, data.channels), DEFAULT_DECAY_PRIOR)
    conf: dict[str, Any] = {"adstock_alpha": Prior("Beta", alpha=a, beta=b, dims="channel")}
    if cfg.saturation.type == "hill":
        kappa = mean_x * np.where(np.isnan(half_cfg), 1.0, half_cfg)
        kappa_sd = np.where(np.isnan(half_cfg), HALF_PRIOR_SD, TIGHT_PRIOR_CV)
        slope_mu = np.where(np.isnan(slope_cfg), SLOPE_PRIOR[0] / SLOPE_PRIOR[1], slope_cfg)
        slope_sd = np.where(np.isnan(slope_cfg), np.sqrt(SLOPE_PRIOR[0]) / SLOPE_PRIOR[1], TIGHT_PRIOR_CV * slope_cfg)
        conf["saturation_kappa"] = Prior("LogNormal", mu=np.log(kappa), sigma=kappa_sd, dims="channel")
        conf["saturation_slope"] = Prior("Gamma", mu=slope_mu, sigma=slope_sd, dims="channel")
        centre = {"saturation_kappa": kappa, "saturation_slope": slope_mu}
    else:
        lam = LOGISTIC_HALF / mean_x
        conf["saturation_lam"] = Prior("Gamma", mu=lam, sigma=lam, dims="channel")
        centre = {"saturation_lam": lam}
    centre.update(adstock_alpha=a / (a + b), saturation_beta=np.ones(len(data.channels)))
    return conf, {k: np.asarray(v)[None, :] for k, v in centre.items()}


def _model_config(data: ModelData, cfg: Config, scales: tuple[np.ndarray, float]) -> dict[str, Any]:
    """Priors in pymc-marketing's scaled space (see the module docstring for why)."""
    from pymc_extras.prior import Prior

    channel_scale, kpi_scale = scales
    spend = data.spend[data.train]
    mean_x = np.where(spend.mean(axis=0) > 0, spend.mean(axis=0) / channel_scale, 1.0)
    conf, centre = _media_priors(data, cfg, mean_x)
    centre_draws = kept_draws(data, centre, scales, cfg.adstock.max_lag, np.zeros((1, data.n_weeks)))
    per_coef = roi_per_coef(centre_draws, spend)
    mu, sd = roi_prior(data, cfg)
    conf["saturation_beta"] = Prior("TruncatedNormal", mu=mu / per_coef, sigma=sd / per_coef, lower=0.0,
                                    dims="channel")
    conf["gamma_control"] = Prior("Normal", mu=0.0, sigma=CONTROL_PRIOR_SD, dims="control")
    return conf


def _frame(data: ModelData, feats: np.ndarray, feat_names: list[str]) -> pd.DataFrame:
    tr = data.train
    frame = pd.DataFrame(data.spend[tr], columns=data.channels)
    frame.insert(0, "date", data.dates[tr])
    for k, name in enumerate(feat_names):
        frame[name] = feats[tr, k]
    return frame


def chain_cores(chains: int) -> int:
    """Chains sampled side by side: one per CPU. PyMC's default takes half the CPUs, assuming the other half are
    hyper-threads, so on a 2-core machine its chains ran one after the other (a 40-market panel: 838 s wall
    for 835 CPU s). The draws are the same either way: each chain has its own seed."""
    return max(1, min(chains, os.cpu_count() or 1))


def _sampler_kwargs(cfg: Config, quick: bool) -> dict[str, Any]:
    p = cfg.pymc
    if quick:
        return {"method": "map", "random_seed": cfg.seed, "progressbar": False}
    kwargs: dict[str, Any] = {"draws": p.draws, "tune": p.tune, "chains": p.chains, "target_accept": p.target_accept,
                              "random_seed": cfg.seed, "progressbar": False, "nuts_sampler": p.sampler,
                              "cores": chain_cores(p.chains)}
    if p.sampler == "numpyro":
        kwargs["nuts_sampler_kwargs"] = {"chain_method": parallel_chain_method(p.chains)}
    return kwargs


def _transforms(cfg: Config):
    """pymc-marketing's normalised geometric adstock and the configured saturation (Hill or logistic)."""
    from pymc_marketing.mmm import GeometricAdstock as PmGeometric, HillSaturation, LogisticSaturation

    sat = HillSaturation() if cfg.saturation.type == "hill" else LogisticSaturation()
    return PmGeometric(l_max=cfg.adstock.max_lag, normalize=True), sat


def build_mmm(data: ModelData, cfg: Config, feat_names: list[str]):
    """The pymc-marketing MMM as Prism configures it (priors need the scales, so they come after)."""
    from pymc_marketing.mmm import MMM

    adstock, sat = _transforms(cfg)
    tr = data.train
    channel_scale = scales.channel_scale(cfg, "pymc", data.spend[tr])
    kpi_scale = scales.kpi_scale(cfg, "pymc", data.y[tr])
    return MMM(
        date_column="date",
        target_column="kpi",
        channel_columns=list(data.channels),
        control_columns=feat_names or None,
        adstock=adstock,
        saturation=sat,
        yearly_seasonality=cfg.fourier_order or None,
        model_config=_model_config(data, cfg, (channel_scale, kpi_scale)),
    ), (channel_scale, kpi_scale)


def _draws(posterior, names: list[str], channels: list[str]) -> dict[str, np.ndarray]:
    return {n: stack_draws(posterior, n, channels) for n in names if n in posterior}


def fit(data: ModelData, cfg: Config, quick: bool = False) -> Fitted:
    """Fit on the training weeks, then recompute contributions and the holdout forecast from the draws."""
    import pymc_marketing

    feats, feat_names = _features(data, cfg.trend)
    mmm, (channel_scale, kpi_scale) = build_mmm(data, cfg, feat_names)
    frame = _frame(data, feats, feat_names)
    if data.lifts or "pymc" in cfg.scales:
        mmm.build_model(frame, pd.Series(data.y[data.train], name="kpi"))
        _set_scales(mmm, channel_scale, kpi_scale)
    if data.lifts:
        _add_lift_term(mmm, data, cfg, (channel_scale, kpi_scale))
    started = time.perf_counter()
    idata = mmm.fit(frame, pd.Series(data.y[data.train], name="kpi"), **_sampler_kwargs(cfg, quick))
    sample_seconds = time.perf_counter() - started
    posterior = idata.posterior.to_dataset() if hasattr(idata.posterior, "to_dataset") else idata.posterior
    _check_scales(mmm, channel_scale, kpi_scale)

    sat_names = ["saturation_kappa", "saturation_slope"] if cfg.saturation.type == "hill" else ["saturation_lam"]
    draws = _draws(posterior, ["adstock_alpha", "saturation_beta", *sat_names, "intercept_contribution",
                               "gamma_control", "gamma_fourier", "y_sigma"], data.channels)
    keep = thinned(draws["adstock_alpha"].shape[0])
    draws = {k: v[keep] for k, v in draws.items()}
    media = kept_draws(data, draws, (channel_scale, kpi_scale), cfg.adstock.max_lag,
                       _baseline(data, cfg, draws, feats, kpi_scale))
    reference = stack_draws(posterior, "channel_contribution", data.channels)[keep] * kpi_scale
    diagnostics = _diagnostics(posterior, idata, quick, sat_names)
    diagnostics["sampler"] = "map" if quick else cfg.pymc.sampler
    diagnostics["sample_seconds"] = round(sample_seconds, 2)
    diagnostics["recompute_max_rel_error"] = recompute_error(media, data, reference)
    if not quick:  # the tuning objective's share of this model (MAP has one draw: nothing to reweight)
        diagnostics["cv_mape"] = loo_mape(media, data.y, draws["y_sigma"] * kpi_scale, data.n_train)
    diagnostics.update(transform_notes(cfg, cfg.saturation.type))
    params = _params(draws, (channel_scale, kpi_scale), data, sat_names)
    q, k = len(data.control_names), len(data.event_names)
    events = event_draws(draws["gamma_control"][:, q:q + k], data.events, kpi_scale) if k else None
    prior = None if quick else _prior_media(mmm, cfg, data, sat_names, (channel_scale, kpi_scale))
    return Fitted(engine=f"{ENGINE} ({'MAP' if quick else cfg.pymc.sampler + ' NUTS'})",
                  version=pymc_marketing.__version__, params=params, diagnostics=diagnostics, draws=media,
                  events=events, prior=prior)


def _lags(column: np.ndarray, max_lag: int) -> np.ndarray:
    """(T, L) column shifted by 0..L−1 weeks (zeros before the first week): adstock = this @ weights."""
    out = np.zeros((len(column), max_lag))
    for lag in range(max_lag):
        out[lag:, lag] = column[: len(column) - lag]
    return out


def _add_lift_term(mmm, data: ModelData, cfg: Config, scales: tuple[np.ndarray, float]) -> None:
    """Each lift test as an observation on the built model: Σ over its window of the channel's contribution
    at the data's spend minus that with the window's spend removed ~ Normal(test result, its se).

    pymc-marketing's own `add_lift_test_measurements` measures saturation(x + Δx) − saturation(x) at one
    spend level, without carry-over or a window; a test's reading over weeks of adstocked spend is this
    instead. The curve is pymc-marketing's (normalised geometric adstock, then Hill or logistic), written
    in PyTensor on the model's own variables; `recompute_error` checks the same curve on the draws.
    """
    import pymc as pm
    import pytensor.tensor as pt

    channel_scale, kpi_scale = scales
    model, lags = mmm.model, cfg.adstock.max_lag
    implied = []
    for t in data.lifts:
        alpha = _tensor(model["adstock_alpha"])[t.c]
        weights = alpha ** np.arange(lags)
        weights = weights / weights.sum()
        curve = lambda spend: _saturation(model, cfg, t.c, pt.dot(_lags(spend[:, t.c] / channel_scale[t.c], lags),  # noqa: E731
                                                                  weights))
        implied.append(((curve(data.spend) - curve(t.zeroed(data.spend))) * t.weeks).sum())
    with model:
        pm.Normal("lift_test", mu=pt.stack(implied), sigma=np.array([t.se for t in data.lifts]) / kpi_scale,
                  observed=np.array([t.kpi for t in data.lifts]) / kpi_scale)


def _tensor(variable):
    """The plain PyTensor tensor of a model variable (pymc-marketing's are XTensors with named dims)."""
    return getattr(variable, "values", variable)


def _saturation(model, cfg: Config, c: int, x):
    """pymc-marketing's saturation of channel c (× its beta) on adstocked, scaled spend `x` (PyTensor)."""
    import pytensor.tensor as pt

    var = lambda name: _tensor(model[name])[c]  # noqa: E731
    if cfg.saturation.type == "hill":
        positive = pt.gt(x, 0)
        log_x = pt.log(pt.switch(positive, x, 1.0))
        shape = pt.switch(positive, pt.sigmoid(var("saturation_slope") * (log_x - pt.log(var("saturation_kappa")))), 0.0)
    else:
        e = pt.exp(-var("saturation_lam") * x)
        shape = (1.0 - e) / (1.0 + e)
    return var("saturation_beta") * shape


def _prior_media(mmm, cfg: Config, data: ModelData, sat_names: list[str], scales: tuple[np.ndarray, float]
                 ) -> KeptDraws:
    """The media parameters drawn from the fitted pymc-marketing model's own prior (no observations)."""
    import pymc as pm

    names = ["adstock_alpha", "saturation_beta", *sat_names]
    prior = pm.sample_prior_predictive(draws=PRIOR_DRAWS, model=mmm.model, var_names=names,
                                       random_seed=cfg.seed).prior
    draws = _draws(prior, names, data.channels)
    return kept_draws(data, draws, scales, cfg.adstock.max_lag, np.zeros((PRIOR_DRAWS, data.n_weeks)))


def _set_scales(mmm, channel_scale: np.ndarray, kpi_scale: float) -> None:
    """Prism's scales into the built model's `channel_scale` / `target_scale` data: its own max-abs ones, or
    after a refresh the approved fit's (config.json `scales.pymc`), which pymc-marketing cannot be told."""
    import pymc as pm

    pm.set_data({"channel_scale": np.asarray(channel_scale, dtype=float),
                 "target_scale": np.asarray(kpi_scale, dtype=float).reshape(
                     np.shape(mmm.model["target_scale"].get_value()))}, model=mmm.model)


def _check_scales(mmm, channel_scale: np.ndarray, kpi_scale: float) -> None:
    """Our KPI-unit conversion relies on the scales the sampled model divided by: fail loudly if they differ."""
    got_c = np.asarray(mmm.model["channel_scale"].get_value(), dtype=float)
    got_y = float(np.asarray(mmm.model["target_scale"].get_value()))
    if not (np.allclose(got_c, channel_scale) and np.isclose(got_y, kpi_scale)):
        raise RuntimeError(f"pymc-marketing scales {got_c}, {got_y} differ from Prism's {channel_scale}, {kpi_scale}")


def recompute_error(media: KeptDraws, data: ModelData, reference: np.ndarray) -> float:
    """Max relative gap between the NumPy recomputation and pymc-marketing's own channel_contribution."""
    mine = media.contributions(data.spend)[:, : data.n_train, :]
    return float(np.abs(mine - reference).max() / max(np.abs(reference).max(), 1e-12))


def _baseline(data: ModelData, cfg: Config, draws: dict[str, np.ndarray], feats: np.ndarray,
              kpi_scale: float) -> np.ndarray:
    """(S, T) intercept + controls + trend + seasonality over all weeks, in KPI units."""
    base = np.repeat(draws["intercept_contribution"].reshape(-1, 1), data.n_weeks, axis=1)
    if "gamma_control" in draws:
        base = base + draws["gamma_control"] @ feats.T
    if "gamma_fourier" in draws:
        base = base + draws["gamma_fourier"] @ fourier_features(data.dates, cfg.fourier_order).T
    return base * kpi_scale


def _diagnostics(posterior, idata, quick: bool, sat_names: list[str]) -> dict[str, Any]:
    if quick:
        return {"method": "map", "note": MAP_NOTE}
    divergences = int(idata.sample_stats["diverging"].sum()) if "sample_stats" in idata else 0
    names = [n for n in ["adstock_alpha", "saturation_beta", *sat_names, "intercept_contribution", "y_sigma"]
             if n in posterior]
    return {"method": "nuts", **convergence(posterior, divergences, names)}


def _params(draws: dict[str, np.ndarray], scales: tuple[np.ndarray, float], data: ModelData,
            sat_names: list[str]) -> dict[str, dict[str, float]]:
    """Posterior means in readable units: decay (and a panel's peak week), half-saturation in spend, slope/lam,
    asymptote in KPI."""
    channel_scale, kpi_scale = scales
    named = {"decay": draws["adstock_alpha"], "coef_kpi_per_week": draws["saturation_beta"] * kpi_scale}
    if "adstock_theta" in draws:
        named["peak_weeks"] = draws["adstock_theta"]
    if "saturation_kappa" in sat_names:
        named["half"] = draws["saturation_kappa"] * channel_scale
        named["slope"] = draws["saturation_slope"]
    else:
        named["lam_per_spend"] = draws["saturation_lam"] / channel_scale
    return summarize_params(named, data.channels)


# ------------------------------------------------------------------------------------------------ panels
PANEL_NAMES = ("saturation_beta_raw_mu", "saturation_beta_raw_sigma")  # the pooled (national) level of the effects
PANEL_DERIVED = ("saturation_beta",)  # the markets' effects at the reference spend (`pymc_centred`), the one derived
# variable Prism reads from the posterior


def panel_scales(data: PanelData) -> tuple[np.ndarray, np.ndarray]:
    """(G, C) spend and (G,) KPI scales: the national max-abs scales times each market's size (KPI share).

    Why: with a market's spend and KPI both divided by its size, one curve means one ROI in every market
    (Meridian's per-capita scaling, with the market's KPI share in place of its population), so pooling the
    markets' effects pools their ROIs, and one set of carry-over and saturation priors fits all."""
    tr = data.train
    size = np.maximum(data.sizes, 1e-6)
    national_spend = np.abs(data.spend[tr].sum(axis=1)).max(axis=0)
    national_spend = np.where(national_spend > 0, national_spend, 1.0)
    return size[:, None] * national_spend[None, :], size * float(np.abs(data.y[tr].sum(axis=1)).max())


def _market_draws(data: PanelData, draws: dict[str, np.ndarray], scales: tuple[np.ndarray, np.ndarray],
                  max_lag: int, baselines: np.ndarray) -> PanelDraws:
    """pymc-marketing's panel posterior (its names, scaled space) as one KeptDraws per market."""
    convert = lambda market, own, sc, base: kept_draws(market, own, sc, max_lag, base)  # noqa: E731
    return market_draws(data, draws, scales, baselines, convert)


def panel_spend_means(data: PanelData, scales: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(C,) the reference spend: each channel's mean scaled training spend over the markets where it ran (the
    mean spend per head), and (G, C) each market's own mean scaled training spend."""
    channel_scale, _ = scales
    tr = data.train
    runs = data.spend[tr].sum(axis=0) > 0  # (G, C) markets where the channel ran
    market_mean = (data.spend[tr] / channel_scale[None]).mean(axis=0)
    mean_x = np.where(runs.any(axis=0), (market_mean * runs).sum(axis=0) / np.maximum(runs.sum(axis=0), 1), 1.0)
    return np.where(mean_x > 0, mean_x, 1.0), market_mean


def _panel_model_config(data: PanelData, cfg: Config, scales: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """The national model's transform priors, and the effects at the reference spend pooled across markets
    (`pymc_centred`): log β_gc ~ Normal(log β_c, σ_c), non-centred, where β_c carries the channel's ROI prior (as
    a LogNormal with its mean and sd, converted with the ROI a unit effect gives at the curve's prior centre)."""
    from pymc_extras.prior import Prior

    reference, _ = panel_spend_means(data, scales)
    conf, centre = _media_priors(data, cfg, reference)
    conf["adstock_theta"] = Prior("HalfNormal", sigma=PEAK_PRIOR_SD, dims="channel")
    centre["adstock_theta"] = np.full((1, len(data.channels)), PEAK_PRIOR_MEAN)
    centre["saturation_beta"] = 1.0 / unit_curve(cfg.saturation.type, centre, reference)
    per_effect = panel_per_coef(_market_draws(data, centre, scales, cfg.adstock.max_lag,
                                              np.zeros((1, data.n_weeks, data.n_markets))), data)
    log_mu, log_sd = lognormal_roi_prior(*roi_prior(data.national(), cfg))
    conf["saturation_beta"] = Prior(
        "Normal", mu=Prior("Normal", mu=log_mu - np.log(per_effect), sigma=log_sd, dims="channel"),
        sigma=Prior("HalfNormal", sigma=MARKET_SPREAD_SD, dims="channel"), dims=(MARKET_DIM, "channel"),
        centered=False, transform="exp")
    conf["gamma_control"] = Prior("Normal", mu=0.0, sigma=CONTROL_PRIOR_SD, dims=(MARKET_DIM, "control"))
    return conf


def build_panel_mmm(data: PanelData, cfg: Config, feat_names: list[str]):
    """pymc-marketing's MMM with a market dimension: per-market intercept, noise, controls and seasonality,
    shared carry-over and curve shape, pooled effects at the mean spend (`pymc_centred`); scales fixed to
    `panel_scales`."""
    import xarray as xr
    from pymc_marketing.mmm import DelayedAdstock as PmDelayed
    from pymc_marketing.mmm.scaling import FixedScaling, Scaling

    channel_scale, kpi_scale = scales = panel_scales(data)
    coords = {MARKET_DIM: list(data.markets)}
    scaling = Scaling(
        target=FixedScaling(dims=(), value=xr.DataArray(kpi_scale, dims=MARKET_DIM, coords=coords)),
        channel=FixedScaling(dims=(), value=xr.DataArray(channel_scale, dims=(MARKET_DIM, "channel"),
                                                         coords={**coords, "channel": list(data.channels)})))
    reference, market_mean = panel_spend_means(data, scales)
    sat = centred_saturation(cfg.saturation.type, pd.Series(reference, index=data.channels),
                             pd.DataFrame(market_mean, index=data.markets, columns=data.channels))
    adstock = PmDelayed(l_max=cfg.adstock.max_lag, normalize=True)
    return lean_mmm_class()(date_column="date", target_column="kpi", channel_columns=list(data.channels),
                            control_columns=feat_names or None, adstock=adstock, saturation=sat, dims=(MARKET_DIM,),
                            scaling=scaling, yearly_seasonality=cfg.fourier_order or None,
                            model_config=_panel_model_config(data, cfg, scales)), scales


def lean_mmm_class():
    """pymc-marketing's MMM deriving after sampling only what Prism reads from a panel's posterior
    (`PANEL_DERIVED`). The MMM derives every deterministic for every draw: the fitted mean, seasonality,
    controls and contributions per market and week: 1.3 of a 40-market panel fit's 3.7 GB. Its own
    contributions, which check Prism's recomputation, are derived for the kept draws only
    (`kept_contributions`)."""
    import pymc as pm
    from pymc_marketing.mmm import MMM

    class LeanMMM(MMM):
        def _sample_with_deterministics(self, sampler_kwargs, step_factory=None):  # MMM's hook, same contract
            model = self._get_sampling_model()
            with model:
                kwargs = dict(sampler_kwargs)
                if step_factory is not None:
                    kwargs["step"] = step_factory()
                idata = pm.sample(var_names=[v.name for v in model.free_RVs], **kwargs)
                pm.compute_deterministics(idata, var_names=list(PANEL_DERIVED), extend_dataset=True,
                                          progressbar=False)
            return idata

    return LeanMMM


def _panel_frame(data: PanelData, feats: np.ndarray, feat_names: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """The training weeks as pymc-marketing's long table (date, market, channels, features) and its target."""
    n, g = data.n_train, data.n_markets
    frame = pd.DataFrame({"date": np.repeat(data.dates[:n], g), MARKET_DIM: np.tile(data.markets, n)})
    for c, ch in enumerate(data.channels):
        frame[ch] = data.spend[:n, :, c].ravel()
    for k, name in enumerate(feat_names):
        frame[name] = feats[:n, :, k].ravel()
    return frame, pd.Series(data.y[:n].ravel(), name="kpi")


def _panel_baseline(data: PanelData, cfg: Config, draws: dict[str, np.ndarray], feats: np.ndarray,
                    kpi_scale: np.ndarray, centred: np.ndarray) -> np.ndarray:
    """(S, T, G) each market's media-free baseline over all weeks, in KPI units: its intercept (its level at its
    mean spend) less what the centring moved into it (`centred`, (S, G, C)), + controls, trend, seasonality."""
    level = draws["intercept_contribution"] - centred.sum(axis=-1)
    base = np.repeat(level[:, None, :], data.n_weeks, axis=1)
    if "gamma_control" in draws:
        base = base + np.einsum("sgk,tgk->stg", draws["gamma_control"], feats)
    if "gamma_fourier" in draws:
        base = base + np.einsum("sgf,tf->stg", draws["gamma_fourier"], fourier_features(data.dates, cfg.fourier_order))
    return base * kpi_scale[None, None, :]


def kept_contributions(model, posterior, keep: np.ndarray, data: PanelData) -> np.ndarray:
    """(S, G, T, C) pymc-marketing's own channel_contribution on the kept draws (chain·draw order), derived
    from the model for those draws only."""
    import pymc as pm

    kept = posterior.stack(sample=("chain", "draw")).isel(sample=keep)
    kept = kept.drop_vars(["sample", "chain", "draw"]).assign_coords(sample=np.arange(len(keep)))
    derived = pm.compute_deterministics(kept, var_names=["channel_contribution"], model=model, sample_dims=("sample",),
                                        progressbar=False)
    da = derived["channel_contribution"].sel(channel=list(data.channels), **{MARKET_DIM: list(data.markets)})
    return da.transpose("sample", MARKET_DIM, ...).to_numpy()


def fit_panel(data: PanelData, cfg: Config, quick: bool = False) -> Fitted:
    """Fit the panel on the training weeks; each market's contributions and forecast come from the draws."""
    import pymc_marketing

    refuse_lifts(data, ENGINE)
    per_market = [_features(data.market(g), cfg.trend) for g in range(data.n_markets)]
    feats = np.stack([f for f, _ in per_market], axis=1)  # (T, G, K): controls standardised per market
    feat_names = per_market[0][1]
    mmm, scales = build_panel_mmm(data, cfg, feat_names)
    frame, y = _panel_frame(data, feats, feat_names)
    started = time.perf_counter()
    idata = mmm.fit(frame, y, **_sampler_kwargs(cfg, quick))
    sample_seconds = time.perf_counter() - started
    posterior = idata.posterior.to_dataset() if hasattr(idata.posterior, "to_dataset") else idata.posterior
    _check_panel_scales(mmm, data, scales)
    sat_names = ["saturation_kappa", "saturation_slope"] if cfg.saturation.type == "hill" else ["saturation_lam"]
    names = ["adstock_alpha", "adstock_theta", "saturation_beta", *sat_names, "intercept_contribution",
             "gamma_control", "gamma_fourier", "y_sigma"]
    draws = {n: stack_draws(posterior, n, data.channels, data.markets) for n in names if n in posterior}
    keep = thinned(draws["adstock_alpha"].shape[0])
    draws = {k: v[keep] for k, v in draws.items()}
    channel_scale, kpi_scale = scales
    kind = cfg.saturation.type
    reference_spend, market_mean = panel_spend_means(data, scales)
    draws["saturation_beta"] = asymptotes(kind, draws, reference_spend)
    centred = centred_media(kind, draws, draws["saturation_beta"], market_mean)
    media = {k: draws[k] for k in ("adstock_alpha", "adstock_theta", "saturation_beta", *sat_names)}
    panel = _market_draws(data, media, scales, cfg.adstock.max_lag,
                          _panel_baseline(data, cfg, draws, feats, kpi_scale, centred))
    reference = kept_contributions(mmm.model, posterior, keep, data) + centred[:, :, None, :]
    diagnostics = _diagnostics(posterior, idata, quick, ["adstock_theta", *sat_names, *PANEL_NAMES])
    diagnostics.update(sampler="map" if quick else cfg.pymc.sampler, sample_seconds=round(sample_seconds, 2),
                       markets=data.n_markets,
                       **transform_notes(cfg, cfg.saturation.type, DelayedAdstock.name))
    diagnostics["recompute_max_rel_error"] = max(
        recompute_error(kd, data.market(g), reference[:, g] * kpi_scale[g]) for g, kd in enumerate(panel.draws))
    if not quick:
        diagnostics["cv_mape"] = panel_loo_mape(panel, data, draws["y_sigma"] * kpi_scale[None, :])
    q, k = len(data.control_names), len(data.event_names)
    events = (np.einsum("sge,te,g->ste", draws["gamma_control"][:, :, q:q + k], data.events, kpi_scale) if k
              else None)
    national_beta = (draws["saturation_beta"] * kpi_scale[None, :, None]).sum(axis=1)
    params = _params({**draws, "saturation_beta": national_beta / float(kpi_scale.sum())},
                     (channel_scale.sum(axis=0), float(kpi_scale.sum())), data, sat_names)
    prior = None if quick else _prior_panel(mmm, cfg, data, sat_names, scales)
    return Fitted(engine=f"{ENGINE} panel ({'MAP' if quick else cfg.pymc.sampler + ' NUTS'})",
                  version=pymc_marketing.__version__, params=params, diagnostics=diagnostics, draws=None,
                  events=events, prior=prior, panel_draws=panel)


def _prior_panel(mmm, cfg: Config, data: PanelData, sat_names: list[str], scales: tuple[np.ndarray, np.ndarray]):
    """The media parameters drawn from the panel model's own prior, read nationally (`NationalDraws`)."""
    import pymc as pm

    names = ["adstock_alpha", "adstock_theta", "saturation_beta", *sat_names]
    prior = pm.sample_prior_predictive(draws=PRIOR_DRAWS, model=mmm.model, var_names=names,
                                       random_seed=cfg.seed).prior
    draws = {n: stack_draws(prior, n, data.channels, data.markets) for n in names}
    draws["saturation_beta"] = asymptotes(cfg.saturation.type, draws, panel_spend_means(data, scales)[0])
    zeros = np.zeros((PRIOR_DRAWS, data.n_weeks, data.n_markets))
    return _market_draws(data, draws, scales, cfg.adstock.max_lag, zeros).national()


def _check_panel_scales(mmm, data: PanelData, scales: tuple[np.ndarray, np.ndarray]) -> None:
    """The KPI-unit conversion relies on the fixed scales reaching pymc-marketing unchanged: fail loudly if not."""
    got_c = mmm.scalers["_channel"].sel({MARKET_DIM: data.markets, "channel": data.channels}).to_numpy()
    got_y = mmm.scalers["_target"].sel({MARKET_DIM: data.markets}).to_numpy()
    if not (np.allclose(got_c, scales[0]) and np.allclose(got_y, scales[1])):
        raise RuntimeError("pymc-marketing's panel scales differ from Prism's")

