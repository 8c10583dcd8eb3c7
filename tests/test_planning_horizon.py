"""The horizon response against closed forms: carry-over tail, warm-up, mROI, saturation, pooling."""

from __future__ import annotations

import numpy as np
import pytest

from prism.planning.horizon import Horizon
from prism.planning.source import pool
from tests.helpers.planning import curves

BETA, HALF = 1_000.0, 500.0


def one(decay: float, slope: float = 1.0, current: float = 300.0, half: float = HALF, draws: int = 1):
    return curves(["tv"], [BETA], [half], [slope], [decay], [current], draws=draws, noise=0.0)


def test_without_carry_over_the_response_is_the_hill_curve_times_the_weeks():
    h = Horizon(one(decay=0.0), weeks=10)
    assert h.carryover == [0]
    x = 200.0
    assert h.kpi(0, x)[0] == pytest.approx(10 * BETA * x / (x + HALF))
    # mROI per unit of horizon spend = d/dx (beta x / (x + half)) at a 1 % step
    assert h.mroi(0, x)[0] == pytest.approx(BETA * HALF / (x + HALF) ** 2, rel=0.01)
    top = 50 * 300.0  # the ceiling is read at 50× the current weekly spend
    assert h.saturation_pct(0, x) == pytest.approx(100 * (x / (x + HALF)) / (top / (top + HALF)), rel=1e-6)


def test_carry_over_tail_after_the_horizon_is_counted():
    decay = 0.5
    src = one(decay=decay, half=1e9, current=0.0)  # nearly linear, no history to warm up
    h = Horizon(src, weeks=1)
    assert h.carryover == [5]  # max_lag 6: a week's spend still acts 5 weeks later
    x = 1_000.0
    linear = BETA / 1e9 * x * sum(decay ** lag for lag in range(6))
    assert h.kpi(0, x)[0] == pytest.approx(linear, rel=1e-6)


def test_recent_history_warms_up_the_adstock():
    hot, cold = Horizon(one(decay=0.6, current=2_000.0), 4), Horizon(one(decay=0.6, current=0.0), 4)
    assert hot.kpi(0, 300.0)[0] < 0.8 * cold.kpi(0, 300.0)[0]  # already saturated by its own carry-over


def test_pool_weighs_every_model_the_same():
    a, b = one(0.3, draws=300), one(0.3, draws=40)
    pooled = pool({"ridge": a, "pymc": b}, total_draws=1000)
    assert pooled.n_draws == 80 and pooled.slices == {"ridge": slice(0, 40), "pymc": slice(40, 80)}
    assert pooled.channel_contribution(0, np.ones(5)).shape == (80, 5)


@pytest.mark.parametrize("normalize", [False, True])
def test_long_adstock_with_gain_matches_the_whole_history_as_kept_draws_define_it(normalize):
    """lightweight_mmm keeps max_lag = every week and a (1 − decay) gain; pymc normalises the weights.
    The horizon response must equal the draws' own contribution over the whole history, plan and tail."""
    weeks, t = 8, 70
    src = curves(["tv", "search"], [BETA, 400.0], [HALF, 200.0], [1.5, 1.0], [0.85, 0.3], [300.0, 150.0], draws=3)
    src.spend = src.spend[:1].repeat(t, axis=0) * np.linspace(0.5, 1.5, t)[:, None]
    src.max_lag, src.normalize = t, normalize
    src.gain = 1.0 - src.adstock_params["decay"]
    h = Horizon(src, weeks=weeks)
    assert h.carryover[0] == t - 1  # decay 0.85 is still alive after 69 weeks: the whole max_lag counts
    for c, x in ((0, 420.0), (1, 90.0)):
        tail = np.zeros(t)
        plan = np.concatenate([src.spend[:, c], np.full(weeks, x), tail])
        idle = np.concatenate([src.spend[:, c], np.zeros(weeks), tail])
        expected = (src.channel_contribution(c, plan) - src.channel_contribution(c, idle)).sum(axis=1)
        np.testing.assert_allclose(h.kpi(c, x), expected, rtol=1e-9)
