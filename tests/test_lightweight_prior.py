"""lightweight_mmm's prior draws (numpy) follow the prior the NumPyro model samples (JAX), national and geo."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from numpyro.infer import Predictive

from prism.models import lightweight as lw
from prism.models.prior_draws import draw, numpy_prior_draws

N = 4000
CHANNELS = 3
MARKETS = 4
QUANTILES = (0.1, 0.5, 0.9)


def _pri(truncated: bool) -> dict:
    """Per-channel prior arrays of the shapes `_channel_priors` / `_panel_priors` give, values that differ by
    channel (a config's decays and Hill settings, an ROI prior) so a mixed-up parameter shows."""
    return {"lag_a": np.array([2.0, 6.0, 1.5]), "lag_b": np.array([1.0, 4.0, 3.0]),
            "half_conc": np.array([3.0, 100.0, 3.0]), "half_rate": np.array([3.0, 50.0, 3.0]),
            "slope_conc": np.array([4.0, 4.0, 100.0]), "slope_rate": np.array([3.0, 3.0, 80.0]),
            "coef_loc": np.array([0.5, 0.0, 2.0]) if truncated else np.zeros(3),
            "coef_scale": np.array([0.3, 1.0, 0.5]),
            "coef_log_mu": np.array([-1.0, 0.0, 0.5]), "coef_log_sd": np.array([0.5, 1.0, 0.3]),
            "trend_sd": 0.01, "expo_low": 0.5, "expo_high": 1.5, "truncated": truncated, "max_lag": 4}


def _predictive(model, pri: dict, sites: tuple[str, ...], markets: int | None) -> dict[str, np.ndarray]:
    """The model's own prior draws through NumPyro's Predictive (what Prism used before the numpy draws)."""
    weeks = 12
    shape = (weeks, CHANNELS) if markets is None else (weeks, markets, CHANNELS)
    extra = np.zeros((weeks, 0) if markets is None else (weeks, markets, 0))
    out = Predictive(model, num_samples=N, return_sites=list(sites))(
        jax.random.PRNGKey(0), np.ones(shape), extra, np.zeros((weeks, 0, 2)), None, pri, False)
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _same_quantiles(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Each channel's 10/50/90 % quantiles agree within Monte-Carlo error (a few % of the spread)."""
    for q in QUANTILES:
        a, b = np.quantile(ours, q, axis=0), np.quantile(theirs, q, axis=0)
        spread = np.quantile(theirs, 0.9, axis=0) - np.quantile(theirs, 0.1, axis=0)
        assert np.all(np.abs(a - b) <= 0.06 * spread), (q, a, b)


@pytest.mark.parametrize("truncated", [True, False], ids=["roi-prior", "half-normal"])
def test_national_prior_draws_follow_the_model(truncated: bool) -> None:
    pri = _pri(truncated)
    ours = numpy_prior_draws(lw._media_priors(pri), N, CHANNELS, seed=1)
    theirs = _predictive(lw._model, pri, lw.MEDIA_PARAMS, None)
    assert list(ours) == list(lw.MEDIA_PARAMS)
    for site in lw.MEDIA_PARAMS:
        assert ours[site].shape == (N, CHANNELS)
        _same_quantiles(ours[site], theirs[site])
    if truncated:
        assert ours["coef_media"].min() >= 0.0


def test_geo_prior_draws_follow_the_model() -> None:
    pri = _pri(True)
    ours = numpy_prior_draws(lw._panel_media_priors(pri), N, CHANNELS, seed=1)
    z = np.random.default_rng(2).standard_normal((N, MARKETS, CHANNELS))
    ours["coef_media"] = lw.geo_asymptotes(ours, z)
    theirs = _predictive(lw._panel_model, pri | {"market_mean": np.ones((MARKETS, CHANNELS))},
                         lw.PANEL_MEDIA_PARAMS, MARKETS)
    for site in lw.PANEL_MEDIA_PARAMS:
        assert ours[site].shape == theirs[site].shape
        if site == "coef_media":  # heavy-tailed per market: compare the markets pooled, on the log scale
            _same_quantiles(np.log(ours[site]).reshape(N, -1), np.log(theirs[site]).reshape(N, -1))
        else:
            _same_quantiles(ours[site], theirs[site])


def test_a_prior_without_a_numpy_draw_is_refused() -> None:
    import numpyro.distributions as dist

    with pytest.raises(TypeError, match="StudentT"):
        draw(dist.StudentT(3.0), np.random.default_rng(0), (10, 1))
