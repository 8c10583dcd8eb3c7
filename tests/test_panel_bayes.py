"""The Bayesian panel fits: pymc-marketing's MMM with a market dimension and LightweightMMM's geo form.

Known truth from the panel simulator (test seeds 9101–9199, apart from the benchmarks' seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from prism.data.simulate_panel import simulate_panel
from prism.models import lightweight, pymc
from prism.models.base import summarize
from prism.models.panel import PanelData, summarize_panel
from prism.models.posterior import lognormal_roi_prior, stack_draws
from prism.schemas import Config


def panel_case(seed: int, **settings) -> tuple[PanelData, Config, object]:
    sim = simulate_panel(n_markets=8, weeks=80, n_channels=4, seed=seed)
    cfg = Config.model_validate({"data": {"path": "x.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls,
                                          "market_column": "market"}, **settings})
    return PanelData.from_frame(sim.frame, cfg), cfg, sim


@pytest.fixture(scope="module")
def case():
    return panel_case(9101)


def test_pymc_scales_put_every_market_on_the_national_footing(case) -> None:
    """Spend and KPI divided by the market's size: one asymptote then means one ROI in every market."""
    data, _, _ = case
    channel_scale, kpi_scale = pymc.panel_scales(data)
    ratio = channel_scale / kpi_scale[:, None]
    assert np.allclose(ratio, ratio[0])  # the same spend-per-KPI footing in every market
    assert kpi_scale.sum() == pytest.approx(np.abs(data.y[data.train].sum(axis=1)).max())
    assert kpi_scale.max() / kpi_scale.min() > 5  # the simulated markets differ in size


def test_lognormal_roi_prior_keeps_the_roi_priors_mean_and_sd() -> None:
    mu, sd = np.array([0.0, 2.0]), np.array([1.0, 0.5])  # a half-normal (no range given) and a range
    log_mu, log_sd = lognormal_roi_prior(mu, sd)
    mean = np.exp(log_mu + log_sd ** 2 / 2)
    spread = mean * np.sqrt(np.exp(log_sd ** 2) - 1)
    assert mean == pytest.approx([np.sqrt(2 / np.pi), 2.0])
    assert spread == pytest.approx([np.sqrt(1 - 2 / np.pi), 0.5])


def test_geo_draws_keep_each_joint_draw_across_markets(case) -> None:
    """Draw s of every market comes from draw s of the posterior: shared curves, that market's coefficient."""
    data, cfg, _ = case
    arrays, scales = lightweight.prepare_panel(data, cfg)
    rng = np.random.default_rng(9102)
    s, g, c = 5, data.n_markets, len(data.channels)
    draws = {"lag_weight": rng.uniform(0.1, 0.8, (s, c)), "half_max_effective_concentration": rng.uniform(0.5, 2, (s, c)),
             "slope": rng.uniform(0.5, 2, (s, c)), "coef_media": rng.uniform(0, 1, (s, g, c)),
             "peak_effect_delay": rng.uniform(0, 3, (s, c))}
    panel = lightweight._panel_draws(data, draws, scales, np.zeros((s, data.n_weeks, g)), cfg.adstock.max_lag)
    for m, kd in enumerate(panel.draws):
        assert np.allclose(kd.coef, draws["coef_media"][:, m] * scales[1][m])
        assert np.allclose(kd.adstock_params["decay"], draws["lag_weight"])
        assert np.allclose(kd.adstock_params["theta"], draws["peak_effect_delay"])
        assert np.allclose(kd.scale, scales[0][m])
    national = panel.national()
    assert np.allclose(national.contributions(national.spend), panel.national_contributions(panel.spend))
    assert arrays["media"].shape == (data.n_weeks, g, c) and arrays["extra"].shape[1] == g


def test_geo_draws_add_up_to_the_models_mean(case) -> None:
    """The geo model centres each market's media term at its mean spend, so its intercept is the level there:
    the media-free baseline (`panel_baseline`) plus the kept draws' contributions must still be the model's mean."""
    from numpyro import handlers

    data, cfg, _ = case
    arrays, scales = lightweight.prepare_panel(data, cfg)
    pri = lightweight._panel_priors(data, cfg, scales)
    g = data.n_markets
    model = handlers.substitute(handlers.seed(lightweight._panel_model, 9104), {"sigma": np.full(g, 1e-9)})
    trace = handlers.trace(model).get_trace(arrays["media"], arrays["extra"], arrays["seasonal"], None, pri, True)
    draws = {k: np.asarray(site["value"], dtype=float)[None] for k, site in trace.items() if k != "target"}
    kpi = scales[1]
    base = lightweight.panel_baseline(draws, arrays, data.n_weeks, pri["market_mean"]) * kpi[None, None, :]
    panel = lightweight._panel_draws(data, {k: draws[k] for k in lightweight.PANEL_MEDIA_PARAMS}, scales, base,
                                     cfg.adstock.max_lag)
    mean = np.asarray(trace["target"]["value"], dtype=float) * kpi[None, :]
    for m, kd in enumerate(panel.draws):
        fitted = kd.baseline[0] + kd.contributions(kd.spend)[0].sum(axis=-1)
        assert fitted == pytest.approx(mean[:, m], rel=1e-4, abs=1e-4 * kpi[m])
    assert np.any(base[0, 0] < draws["intercept"][0] * kpi)  # the media's effect at the mean was taken out


@pytest.mark.parametrize("kind", ["hill", "logistic"])
def test_pymc_panel_draws_read_back_pymc_marketings_own_contributions(case, kind) -> None:
    """pymc samples each market's effect at the reference spend, its media term centred at the market's mean
    spend (`pymc_centred`): the asymptotes and the centring read back from draws of the built model must give
    pymc-marketing's own channel_contribution, market by market in Prism's order."""
    import pymc as pm

    from prism.models.pymc_centred import asymptotes, centred_media

    data, cfg, _ = case
    cfg = cfg.model_copy(update={"saturation": cfg.saturation.model_copy(update={"type": kind})})
    per_market = [pymc._features(data.market(g), cfg.trend) for g in range(data.n_markets)]
    feats, names = np.stack([f for f, _ in per_market], axis=1), per_market[0][1]
    mmm, scales = pymc.build_panel_mmm(data, cfg, names)
    mmm.build_model(*pymc._panel_frame(data, feats, names))
    shape = ["saturation_kappa", "saturation_slope"] if kind == "hill" else ["saturation_lam"]
    media = ["adstock_alpha", "adstock_theta", "saturation_beta", *shape]
    free = [v.name for v in mmm.model.free_RVs]
    prior = pm.sample_prior_predictive(draws=12, model=mmm.model, var_names=[*free, *media], random_seed=9105).prior
    prior = prior.to_dataset() if hasattr(prior, "to_dataset") else prior
    draws = {n: stack_draws(prior, n, data.channels, data.markets) for n in media}
    reference, market_mean = pymc.panel_spend_means(data, scales)
    draws["saturation_beta"] = asymptotes(kind, draws, reference)
    centred = centred_media(kind, draws, draws["saturation_beta"], market_mean)
    theirs = pymc.kept_contributions(mmm.model, prior, np.arange(12), data)  # (S, G, T, C), scaled KPI
    panel = pymc._market_draws(data, draws, scales, cfg.adstock.max_lag, np.zeros((12, data.n_weeks, data.n_markets)))
    for g, kd in enumerate(panel.draws):
        ours = kd.contributions(kd.spend)[:, : data.n_train] / scales[1][g]
        assert np.allclose(ours - centred[:, g, None, :], theirs[:, g], rtol=1e-8, atol=1e-10)
    assert np.abs(centred).max() > 0  # the centring moved something


def test_geo_coefficient_prior_is_centred_on_the_national_one(case) -> None:
    """Each market's effect at the mean spend has the national one as its prior mean (log-normal around it,
    shifted by −spread²/2), so that the national ROI prior keeps its meaning; its asymptote is that effect ÷ the
    curve's value there."""
    import jax
    from numpyro.infer import Predictive

    data, cfg, _ = case
    arrays, scales = lightweight.prepare_panel(data, cfg)
    pri = lightweight._panel_priors(data, cfg, scales)
    tr = data.train
    sites = ["media_at_mean", "coef_media", "channel_coef_media", "half_max_effective_concentration", "slope"]
    draws = {k: np.asarray(v) for k, v in Predictive(lightweight._panel_model, num_samples=4000, return_sites=sites)(
        jax.random.PRNGKey(9103), arrays["media"][tr], arrays["extra"][tr], arrays["seasonal"][tr], None, pri,
        True).items()}
    market = draws["media_at_mean"].mean(axis=(0, 1))
    national = draws["channel_coef_media"].mean(axis=0)
    assert market == pytest.approx(national, rel=0.1)
    unit = 1.0 / (1.0 + draws["half_max_effective_concentration"] ** draws["slope"])
    assert np.allclose(draws["coef_media"] * unit[:, None, :], draws["media_at_mean"], rtol=1e-5)


def _errors(result, truth: dict[str, float]) -> np.ndarray:
    return np.array([abs(result.channels[ch].roi - t) / t for ch, t in truth.items()])


def _widths(result, truth: dict[str, float]) -> np.ndarray:
    return np.array([result.channels[ch].roi_high - result.channels[ch].roi_low for ch in truth])


@pytest.mark.slow
@pytest.mark.parametrize("module", [pymc, lightweight], ids=["pymc", "lightweight_mmm"])
def test_panel_fit_beats_the_same_data_summed_to_one_series(module) -> None:
    """On a simulated panel, the panel fit's national ROIs (contributions summed over markets ÷ spend summed)
    are more precise than the same model's fit of the markets summed to one national series (every channel's
    90 % interval narrower, still covering the truth) and no less accurate (mean |error| across channels).

    Issue 22's 0.75× accuracy bar is judged across seeds by bench/panel_accuracy.py. On this one small panel
    (8 markets × 80 weeks) lightweight_mmm's gain is in precision, not in accuracy: intervals 0.35–0.66× as
    wide, median error 0.218 against 0.216 (mean 0.217 against 0.249), a tie a sampler's rounding decides,
    so the median of four channels is not asserted. Before the panel fits learned the carry-over's peak
    week both lost (pymc 0.36 vs 0.33, lightweight_mmm 0.56 vs 0.25 median error)."""
    data, cfg, sim = panel_case(9104, pymc={"draws": 400, "tune": 400}, lightweight_mmm={"samples": 400, "warmup": 400})
    truth = sim.national_roi(slice(0, data.n_train))
    fitted = module.fit_panel(data, cfg)
    panel = summarize_panel(fitted, data, 0.0, False)
    national = summarize(module.fit(data.national(), cfg), data.national(), 0.0, False)
    assert (_widths(panel, truth) < 0.8 * _widths(national, truth)).all()
    covered = [panel.channels[ch].roi_low <= t <= panel.channels[ch].roi_high for ch, t in truth.items()]
    assert sum(covered) >= len(truth) - 1
    assert np.mean(_errors(panel, truth)) <= np.mean(_errors(national, truth))
    assert set(panel.markets) == set(data.markets)
    market_truth = sim.market_roi(slice(0, data.n_train))
    inside = [r.roi_low <= market_truth[m][ch] <= r.roi_high for m, row in panel.markets.items()
              for ch, r in row.items() if np.isfinite(market_truth[m][ch])]
    assert np.mean(inside) > 0.5  # per-market 90 % intervals are intervals, not points
    if module is pymc:
        assert panel.diagnostics["recompute_max_rel_error"] < 1e-6  # NumPy decomposition = pymc-marketing's own


@pytest.mark.parametrize("module", [pymc, lightweight], ids=["pymc", "lightweight_mmm"])
def test_panel_fit_refuses_lift_tests_it_would_not_use(case, module) -> None:
    """A lift test the panel likelihood ignores must not be reported as calibrating it: the fit fails, saying why."""
    from dataclasses import replace

    data, cfg, _ = case
    with pytest.raises(NotImplementedError, match="lift tests are not yet used"):
        module.fit_panel(replace(data, lifts=("a test",)), cfg)


def test_geo_carryover_is_the_delayed_adstock_the_draws_recompute() -> None:
    """The geo model's JAX carry-over (peak learned) equals the NumPy `DelayedAdstock` its kept draws use, so
    contributions recomputed from the draws are the ones the model was fitted with."""
    from prism.models.transforms import DelayedAdstock

    rng = np.random.default_rng(9105)
    media = rng.gamma(2.0, 1.0, (30, 3, 2)) * (rng.random((30, 3, 2)) > 0.3)
    decay, peak = np.array([0.3, 0.7]), np.array([0.0, 1.8])
    got = np.asarray(lightweight._carryover(media, decay, peak, 8))
    for g in range(3):
        assert np.allclose(got[:, g], DelayedAdstock(max_lag=8, normalize=True)(media[:, g], decay, peak), atol=1e-5)
