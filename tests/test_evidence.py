"""Evidence per channel: prior-driven and no-effect flags that say whether the data decided an ROI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prism.data.simulate import simulate
from prism.models import evidence, ridge
from prism.models.base import ModelData, channel_summary
from prism.models.registry import load
from prism.schemas import PRIOR_DRIVEN, ZERO_EFFECT, Config

RNG = np.random.default_rng(0)
PRIOR = np.abs(RNG.normal(0.0, 2.0, size=(2000, 2)))


def _case(sim, **overrides) -> tuple[ModelData, Config]:
    cfg = Config.model_validate({"data": {"path": "sim.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls}, **overrides})
    return ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg), cfg


def test_a_posterior_that_is_its_prior_is_prior_driven() -> None:
    informed = RNG.normal(3.0, 0.2, size=2000)
    post = np.column_stack([np.abs(RNG.normal(0.0, 2.0, size=2000)), informed])
    silent, measured = evidence.posterior_evidence(post, PRIOR)
    assert silent.prior_driven and abs(silent.contraction) < 0.1 and silent.prior_shift_sd < 0.1
    assert silent.flag == PRIOR_DRIVEN
    assert not measured.prior_driven and measured.contraction > 0.8 and measured.prior_shift_sd > 1.0
    assert measured.rel_width == pytest.approx(2 * 1.645 * 0.2 / 3.0, rel=0.1)


def test_a_prior_that_only_moved_is_not_prior_driven() -> None:
    """Same width as the prior but shifted by a prior sd: the data spoke through the mean."""
    post = PRIOR + PRIOR.std(axis=0)
    assert not any(e.prior_driven for e in evidence.posterior_evidence(post, PRIOR))


def test_one_contraction_and_one_rule_for_every_model() -> None:
    """Contraction is an sd ratio (a posterior with a quarter of the prior's variance has contraction 0.5,
    not 0.75), and ridge is flagged by the same rule as the Bayesian models: not narrowed AND not moved."""
    half = RNG.normal(0.0, 1.0, size=(4000, 1))
    assert evidence.posterior_evidence(half * 0.5, half)[0].contraction == pytest.approx(0.5, abs=0.01)
    roi = np.abs(RNG.normal(2.0, 0.3, size=(200, 2)))
    pooled, moved = evidence.bootstrap_evidence(roi, roi <= 0, (np.array([0.1, 0.1]), np.array([0.1, 2.0])))
    assert pooled.prior_driven and not moved.prior_driven and moved.prior_shift_sd == 2.0
    assert [bool(evidence.is_prior_driven(c, s)) for c, s in ((0.1, 0.1), (0.1, 2.0), (0.5, 0.1))] == [True, False, False]


def test_ridge_measures_both_contraction_and_shift() -> None:
    sim = simulate(weeks=130, n_channels=3, seed=7, flighting=["onoff", "wave", "steady"], tiny_channels=1)
    data, cfg = _case(sim)
    out = channel_summary(ridge.fit(data, cfg, quick=True), data)
    for c in out.values():
        ev = c.evidence
        assert ev.contraction is not None and ev.prior_shift_sd is not None and ev.prior_shift_sd >= 0
        assert ev.prior_driven == bool(evidence.is_prior_driven(ev.contraction, ev.prior_shift_sd))


def test_bootstrap_zero_share_flags_no_effect() -> None:
    roi = np.column_stack([RNG.normal(2.0, 0.3, 200), np.r_[np.zeros(150), RNG.uniform(0, 1, 50)]])
    at_zero = roi <= 0.0
    found, zero = evidence.bootstrap_evidence(roi, at_zero)
    assert found.zero_share == 0.0 and not found.zero_effect and found.bootstrap_sd == pytest.approx(0.3, rel=0.15)
    assert zero.zero_share == pytest.approx(0.75) and zero.zero_effect and zero.flag == ZERO_EFFECT


def test_a_point_estimate_claims_no_evidence() -> None:
    ev = evidence.channel_evidence(np.ones((1, 3)), PRIOR[:, [0, 1, 1]])
    assert all(e.source == "point" and e.contraction is None and not e.prior_driven for e in ev)


def test_ridge_records_bootstrap_evidence_and_a_channel_without_effect() -> None:
    sim = simulate(weeks=156, n_channels=3, seed=7, roi=[2.5, 1.5, 0.0], flighting=["onoff", "wave", "wave"])
    data, cfg = _case(sim)
    fitted = ridge.fit(data, cfg, quick=True)
    out = channel_summary(fitted, data)
    for ch, c in out.items():
        ev = c.evidence
        assert ev.source == "bootstrap" and 0.0 <= ev.zero_share <= 1.0 and ev.bootstrap_sd >= 0.0
        if c.roi > 0:
            assert ev.rel_width == pytest.approx((c.roi_high - c.roi_low) / c.roi)
    assert out["tv_spend"].evidence.zero_share < 0.1 and not out["tv_spend"].evidence.zero_effect
    assert out["social_spend"].evidence.zero_effect
    assert out["social_spend"].evidence.zero_share == pytest.approx(fitted.at_zero[:, 2].mean())


@pytest.mark.slow
@pytest.mark.parametrize("model", ["pymc", "lightweight_mmm"])
def test_bayesian_model_flags_a_tiny_always_on_channel_and_not_a_flighted_large_one(model: str) -> None:
    """Small draws (1 chain × 300): the flag is about the prior, which 300 draws measure well enough."""
    sim = simulate(weeks=156, n_channels=3, seed=11, flighting=["onoff", "wave", "steady"], tiny_channels=1,
                   noise=0.03, roi=[2.0, 1.0, 1.0])
    draws = {"pymc": {"chains": 1, "draws": 300, "tune": 300},
             "lightweight_mmm": {"chains": 1, "samples": 300, "warmup": 300}}[model]
    data, cfg = _case(sim, **{model: draws})
    out = channel_summary(load(model).fit(data, cfg), data)
    tiny, large = out["social_spend"].evidence, out["tv_spend"].evidence
    assert sim.spend_share()["social_spend"] < 0.02
    assert tiny.prior_driven, tiny
    assert not large.prior_driven and large.contraction > evidence.PRIOR_DRIVEN_CONTRACTION, large
