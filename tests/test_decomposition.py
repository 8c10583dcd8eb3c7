"""One decomposition for all three models: the same known media curves give the same ROI and contribution %.

Each model parametrises its curves in its own scaled space (ridge: adstock ÷ mean adstocked spend;
pymc-marketing: normalised adstock of max-scaled spend; LightweightMMM: (1 − decay)-normalised adstock of
mean-scaled spend). The test writes one known curve per channel, B · hill(adstock(spend) / H, slope), in
each model's own parameters and checks that `summarize` reports identical numbers for all three.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prism.data.simulate import simulate
from prism.models.base import ModelData, summarize
from prism.models.posterior import MediaDraws, PosteriorFit
from prism.models.ridge import MediaTransform, RidgeFitted, stack
from prism.models.transforms import GeometricAdstock
from prism.schemas import Config

WEEKS = 80
DECAY = np.array([[0.6, 0.1, 0.3], [0.5, 0.2, 0.35]])  # (S, C): two draws
SLOPE = np.array([[1.5, 1.0, 1.2], [1.3, 1.1, 1.0]])
HALF_X_MEAN = np.array([[1.0, 0.8, 1.2], [0.9, 1.0, 1.1]])  # H as a multiple of the mean adstocked spend
ASYMPTOTE = np.array([[40_000.0, 15_000.0, 9_000.0], [38_000.0, 17_000.0, 10_000.0]])  # KPI per week
BASELINE = 120_000.0


@pytest.fixture(scope="module")
def data() -> ModelData:
    sim = simulate(weeks=WEEKS, n_channels=3, seed=3)
    cfg = Config.model_validate({"data": {"path": "x.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls}})
    return ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg)


def _raw_adstock(data: ModelData, s: int) -> np.ndarray:
    return GeometricAdstock(max_lag=WEEKS)(data.spend, DECAY[s])


def _half(data: ModelData) -> np.ndarray:
    """(S, C) H in spend units: a multiple of each draw's mean adstocked training spend."""
    return np.stack([HALF_X_MEAN[s] * _raw_adstock(data, s)[: data.n_train].mean(axis=0) for s in range(len(DECAY))])


def ridge_model(data: ModelData) -> RidgeFitted:
    """Raw adstock ÷ the mean adstocked training spend, half in those units."""
    half = _half(data)
    transforms = []
    for s in range(len(DECAY)):
        scale = _raw_adstock(data, s)[: data.n_train].mean(axis=0)
        transforms.append(MediaTransform("geometric", WEEKS, "hill", DECAY[s], half[s] / scale, SLOPE[s], scale))
    coefs = np.column_stack([np.full(len(DECAY), BASELINE), ASYMPTOTE, np.zeros(len(DECAY))])
    return RidgeFitted(engine="ridge", version="test", params={}, diagnostics={},
                       transforms=stack(transforms), coefs=coefs, other=np.zeros((data.n_weeks, 1)),
                       spend=data.spend, events=data.events, n_controls=1)


def _posterior(data: ModelData, media: MediaDraws) -> PosteriorFit:
    baseline = np.full((len(DECAY), data.n_weeks), BASELINE)
    return PosteriorFit(engine="test", version="test", media=media, baseline=baseline, spend=data.spend,
                        train_weeks=data.n_train, params={}, diagnostics={})


def pymc_model(data: ModelData) -> PosteriorFit:
    """Normalised adstock of max-scaled spend: adstock_norm(x / cs) = adstock(x) · n / cs."""
    scale, kpi_scale = data.spend[: data.n_train].max(axis=0), float(data.y[: data.n_train].max())
    norm = (1 - DECAY) / (1 - DECAY ** WEEKS)
    media = MediaDraws(decay=DECAY, coef=ASYMPTOTE / kpi_scale, saturation_name="hill",
                       saturation_params={"half": _half(data) * norm / scale, "slope": SLOPE},
                       channel_scale=scale, kpi_scale=kpi_scale,
                       adstock=GeometricAdstock(max_lag=WEEKS, normalize=True))
    return _posterior(data, media)


def lightweight_model(data: ModelData) -> PosteriorFit:
    """(1 − decay) × adstock of mean-scaled spend."""
    scale, kpi_mean = data.spend[: data.n_train].mean(axis=0), float(data.y[: data.n_train].mean())
    media = MediaDraws(decay=DECAY, coef=ASYMPTOTE / kpi_mean, saturation_name="hill",
                       saturation_params={"half": _half(data) * (1 - DECAY) / scale, "slope": SLOPE},
                       channel_scale=scale, kpi_scale=kpi_mean,
                       adstock=GeometricAdstock(max_lag=WEEKS, normalize=False), gain=1 - DECAY)
    return _posterior(data, media)


def truth(data: ModelData) -> np.ndarray:
    """(S, T, C) the known contributions, straight from the definition."""
    from prism.models.transforms import HillSaturation

    half = _half(data)
    return np.stack([ASYMPTOTE[s] * HillSaturation()(_raw_adstock(data, s), half[s], SLOPE[s])
                     for s in range(len(DECAY))])


@pytest.mark.parametrize("build", [ridge_model, pymc_model, lightweight_model])
def test_each_model_recomputes_the_known_contributions(data: ModelData, build) -> None:
    np.testing.assert_allclose(build(data).contributions(data.spend), truth(data), rtol=1e-9)


def test_identical_parameters_give_identical_roi_and_contribution_pct(data: ModelData) -> None:
    results = {f.__name__: summarize(f(data), data, 0.0, False) for f in (ridge_model, pymc_model, lightweight_model)}
    ref = results["ridge_model"]
    expected_roi = truth(data)[:, : data.n_train].sum(axis=1).mean(axis=0) / data.spend[: data.n_train].sum(axis=0)
    for ch, exp in zip(data.channels, expected_roi):
        assert ref.channels[ch].roi == pytest.approx(exp, rel=1e-9)
    for name, res in results.items():
        for ch in data.channels:
            a, b = res.channels[ch], ref.channels[ch]
            for key in ("roi", "roi_low", "roi_high", "contribution", "contribution_pct", "mroi"):
                assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-9), (name, ch, key)
        assert res.fit.r2 == pytest.approx(ref.fit.r2, rel=1e-9)
        assert res.diagnostics["media_contribution_pct"] == pytest.approx(ref.diagnostics["media_contribution_pct"])


def test_saturation_share_agrees_across_models(data: ModelData) -> None:
    """Ridge reads saturation at the mean adstocked spend, the Bayesian models at the steady state of the
    mean spend; the two levels differ only by the adstock's start-up weeks."""
    sats = [f(data).saturation_fraction() for f in (ridge_model, pymc_model, lightweight_model)]
    np.testing.assert_allclose(sats[1], sats[2], rtol=1e-9)
    np.testing.assert_allclose(sats[0], sats[1], rtol=0.03)
