"""The two Bayesian models on the simulator with known truth: ROI recovery, honest intervals, diagnostics.

Each fit is done once per module (the sampling is the expensive part) and several tests read it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from prism.data.simulate import simulate
from prism.models import lightweight, pymc
from prism.models.base import ModelData, summarize
from prism.schemas import Config, ModelResult, PymcConfig

SIM_WEEKS = 208
MAX_MEDIAN_ROI_ERROR = 0.20
MIN_COVERAGE = 0.80
DIAGNOSTIC_KEYS = ("rhat_max", "ess_bulk_min", "divergences", "chains", "draws")


def _sim_case(**overrides) -> tuple[ModelData, Config, dict[str, float]]:
    sim = simulate(weeks=SIM_WEEKS, n_channels=5, seed=0)
    cfg = Config.model_validate({"data": {"path": "sim.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls}, **overrides})
    data = ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg)
    return data, cfg, sim.true_roi(slice(0, data.n_train))


def _recovery(result: ModelResult, truth: dict[str, float]) -> tuple[float, float]:
    err = [abs(result.channels[c].roi - t) / t for c, t in truth.items()]
    cover = [result.channels[c].roi_low <= t <= result.channels[c].roi_high for c, t in truth.items()]
    return float(np.median(err)), float(np.mean(cover))


@pytest.fixture(scope="module")
def pymc_fit():
    """Full default settings (PymcConfig: nutpie, 2 chains × 500 tune + 1500 draws)."""
    data, cfg, truth = _sim_case()
    fitted = pymc.fit(data, cfg)
    return data, fitted, summarize(fitted, data, 0.0, False), truth


@pytest.fixture(scope="module")
def lightweight_fit():
    data, cfg, truth = _sim_case(lightweight_mmm={"samples": 400, "warmup": 400})
    fitted = lightweight.fit(data, cfg)
    return data, fitted, summarize(fitted, data, 0.0, False), truth


@pytest.mark.slow
@pytest.mark.parametrize("case", ["pymc_fit", "lightweight_fit"])
def test_recovers_true_roi_with_honest_intervals(case: str, request) -> None:
    _, _, result, truth = request.getfixturevalue(case)
    median_err, coverage = _recovery(result, truth)
    assert median_err <= MAX_MEDIAN_ROI_ERROR, f"median ROI error {median_err:.1%}"
    assert coverage >= MIN_COVERAGE, f"90 % intervals cover {coverage:.0%} of channels"
    assert result.diagnostics["media_contribution_pct"] < 100 and not result.diagnostics["negative_baseline"]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["pymc_fit", "lightweight_fit"])
def test_records_convergence_and_predicts_the_holdout(case: str, request) -> None:
    data, fitted, result, _ = request.getfixturevalue(case)
    assert all(k in result.diagnostics for k in DIAGNOSTIC_KEYS)
    assert result.diagnostics["chains"] >= 2 and result.diagnostics["rhat_max"] < 1.05
    assert result.diagnostics["divergences"] < 0.01 * result.diagnostics["draws"] * result.diagnostics["chains"]
    assert len(result.weekly.fitted) == data.n_weeks and result.fit.mape_test is not None
    assert result.fit.mape_test < 10.0 and result.fit.r2 > 0.7
    # the tuning objective's share: PSIS-LOO, out of sample, so no better than the in-sample fit
    assert 0.98 * result.fit.mape_train <= result.fit.cv_mape < 10.0
    # the holdout is forecast from the training fit: its spend still drives the media contribution
    assert fitted.draws.contributions(data.spend)[:, data.n_train:].sum() > 0


@pytest.mark.slow
def test_numpy_recomputation_equals_pymc_marketing_channel_contribution(pymc_fit) -> None:
    """The draws turned into KPI units by Prism's NumPy transforms match pymc-marketing's own
    `channel_contribution` (scaled target × target scale) for the actual spend, draw by draw."""
    _, fitted, result, _ = pymc_fit
    assert fitted.diagnostics["recompute_max_rel_error"] < 1e-8
    assert result.engine.startswith(pymc.ENGINE) and PymcConfig().sampler in result.engine


@pytest.mark.slow
@pytest.mark.parametrize("curve", ["hill", "logistic"])
def test_pymc_quick_mode_is_map_and_marked(curve: str) -> None:
    data, cfg, truth = _sim_case(saturation={"type": curve})
    fitted = pymc.fit(data, cfg, quick=True)
    result = summarize(fitted, data, 0.0, True)
    assert result.quick and fitted.diagnostics["method"] == "map" and "MAP" in result.engine
    assert fitted.diagnostics["recompute_max_rel_error"] < 1e-8 and fitted.diagnostics["saturation"] == curve
    median_err, _ = _recovery(result, truth)
    assert median_err < 0.5  # a point estimate: in the right region, no interval claimed
    assert all(c.roi_low == pytest.approx(c.roi_high) for c in result.channels.values())
    assert result.fit.cv_mape is None  # one point: nothing to reweight for PSIS-LOO


def test_roi_prior_hook_moves_the_channel_prior() -> None:
    """The knowledge layer's expected ROI range becomes the channel's prior, in both models."""
    data, cfg, _ = _sim_case(roi_priors={"tv_spend": {"low": 2.0, "high": 3.0}})
    _, names = pymc._features(data, cfg.trend)
    mmm, _ = pymc.build_mmm(data, cfg, names)
    beta = mmm.model_config["saturation_beta"]
    mu = np.asarray(beta.parameters["mu"])
    assert mu[0] > 0 and np.all(mu[1:] == 0)
    _, _, kpi_mean = lightweight.prepare_arrays(data, cfg)
    pri = lightweight._channel_priors(data, cfg, kpi_mean)
    assert pri["truncated"] and pri["coef_loc"][0] > 0 and np.all(pri["coef_loc"][1:] == 0)


def test_engine_string_is_the_contract() -> None:
    assert lightweight.ENGINE == "numpyro (LightweightMMM hill_adstock specification)"


def test_lightweight_accepts_a_configured_decay_of_zero():
    """'No carry-over' is a valid Tuner move: the decay prior must stay a proper Beta."""
    data, cfg, _ = _sim_case(adstock={"decay": 0.0})
    priors = lightweight._channel_priors(data, cfg, float(data.y[data.train].mean()))
    assert np.all(priors["lag_a"] > 0) and np.all(priors["lag_b"] > 0)
    assert np.all(priors["lag_a"] / (priors["lag_a"] + priors["lag_b"]) < 0.05)


def test_lightweight_trend_keeps_its_prior_and_curve():
    """The trend is sampled as its end value for speed; coef_trend must still be Normal(0, trend_sd) whatever the
    exponent, and the curve coef_trend · t^expo_trend (what `baseline` recomputes from the draws)."""
    import jax
    import numpyro
    from numpyro.infer import Predictive

    weeks, pri = 166, {"trend_sd": 1.0 / 166, "expo_low": 0.9, "expo_high": 1.1}
    draws = Predictive(lambda: numpyro.deterministic("curve", lightweight._trend(weeks, pri)),
                       num_samples=20000)(jax.random.PRNGKey(0))
    coef, expo = (np.asarray(draws[k], dtype=float) for k in ("coef_trend", "expo_trend"))
    assert np.std(coef) == pytest.approx(pri["trend_sd"], rel=0.03)
    for part in (expo < 1.0, expo >= 1.0):  # the scale does not depend on the exponent
        assert np.std(coef[part]) == pytest.approx(pri["trend_sd"], rel=0.05)
    expected = coef[:, None] * np.arange(weeks)[None, :] ** expo[:, None]
    np.testing.assert_allclose(draws["curve"], expected, rtol=1e-4, atol=1e-6)


def test_pymc_trend_is_centred_on_the_training_weeks() -> None:
    """Centred, the trend no longer trades off against the intercept (the slowest-mixing parameter on
    209 × 10 × 50 controls); it still rises by 1 over training and goes on rising through the holdout."""
    data, cfg, _ = _sim_case()
    feats, names = pymc._features(data, cfg.trend)
    trend = feats[:, names.index(pymc.TREND_COLUMN)]
    assert trend[data.train].mean() == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(np.diff(trend), 1.0 / data.n_train) and trend[-1] > trend[data.n_train - 1]


COMPILE_ONCE = ("from prism.models.posterior import parallel_chain_method; parallel_chain_method(1); import jax; "
                "jax.config.update('jax_persistent_cache_min_compile_time_secs', 0); jax.jit(lambda x: x + 1)(1.0)")


@pytest.mark.parametrize("own_dir", [False, True])
def test_jax_programs_are_kept_for_the_next_round(tmp_path, own_dir: bool) -> None:
    """A Bayesian worker keeps its compiled XLA programs in the user's cache folder (lightweight_mmm on the wide
    table: 115 → 47 CPU s in the next process), or where the person pointed JAX_COMPILATION_CACHE_DIR."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"} | {"XDG_CACHE_HOME": str(tmp_path)}
    if own_dir:
        env["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path / "own")
    subprocess.run([sys.executable, "-c", COMPILE_ONCE], env=env, check=True, capture_output=True, timeout=120)
    kept = tmp_path / ("own" if own_dir else "prism/jax")
    assert kept.is_dir() and any(kept.iterdir())
    assert own_dir != (tmp_path / "prism" / "jax").exists()


@pytest.mark.parametrize("cpus,chains,expected", [(2, 2, 2), (1, 2, 1), (8, 2, 2), (8, 4, 4)])
def test_pymc_samples_its_chains_side_by_side_on_every_cpu(monkeypatch, cpus, chains, expected) -> None:
    """PyMC's own default halves the CPU count (it assumes hyper-threads): on 2 cores it ran the chains one
    after the other. Prism asks for one chain per CPU."""
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    cfg = Config.model_validate({"data": {"path": "x.csv", "date_column": "date", "kpi": "y", "channels": ["a"]},
                                 "pymc": {"chains": chains}})
    assert pymc._sampler_kwargs(cfg, quick=False)["cores"] == expected
    assert "cores" not in pymc._sampler_kwargs(cfg, quick=True)  # a MAP fit has no chains


def test_the_lean_panel_mmm_overrides_a_hook_pymc_marketing_still_calls() -> None:
    """The panel's MMM derives only what Prism reads; if pymc-marketing renamed its hook, the override would
    silently stop working (every deterministic derived again, gigabytes on a large panel)."""
    import inspect

    from pymc_marketing.mmm import MMM
    from pymc_marketing.model_builder import ModelBuilder

    lean = pymc.lean_mmm_class()
    assert issubclass(lean, MMM) and "_sample_with_deterministics" in vars(lean)
    called = [m for m in ("_fit_mcmc",) if "_sample_with_deterministics" in inspect.getsource(getattr(ModelBuilder, m))]
    assert called == ["_fit_mcmc"]
    assert (inspect.signature(lean._sample_with_deterministics).parameters.keys()
            == inspect.signature(ModelBuilder._sample_with_deterministics).parameters.keys())
