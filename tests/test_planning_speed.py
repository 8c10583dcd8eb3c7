"""The shortcuts that make planning fast give the same numbers as the plain definitions."""

from __future__ import annotations

import numpy as np
import pytest

from prism.models.transforms import GeometricAdstock, _lag_weights_geometric, convolve_lags
from prism.planning.horizon import Horizon
from prism.planning.source import pool
from tests.helpers.planning import kept_draws


@pytest.mark.parametrize("max_lag,normalize", [(60, False), (40, True), (200, False)])
def test_long_geometric_carry_over_as_a_recursion_equals_the_lag_sum(max_lag: int, normalize: bool) -> None:
    rng = np.random.default_rng(3)
    x, decay = rng.gamma(2.0, 1.0, size=(150, 7)), rng.uniform(0.0, 0.95, 7)
    fast = GeometricAdstock(max_lag=max_lag, normalize=normalize)(x, decay)
    np.testing.assert_allclose(fast, convolve_lags(x, _lag_weights_geometric(decay, max_lag), normalize), rtol=1e-12)


def _source(max_lag: int, model: str, draws: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    shape = (draws, 3)
    spend = rng.gamma(3.0, 1000.0, size=(80, 3))
    return kept_draws(["a", "b", "c"], spend, beta=rng.uniform(500, 2000, shape), half=rng.uniform(800, 3000, shape),
                      slope=rng.uniform(0.8, 2.5, shape), decay=rng.uniform(0.1, 0.9, shape), max_lag=max_lag,
                      model=model)


def test_the_horizon_response_equals_the_contribution_of_the_whole_spend_column() -> None:
    """KPI over the horizon = Σ contribution(history, x, zeros) − Σ contribution(history, 0, zeros), every week."""
    src = pool({"short": _source(8, "short"), "long": _source(80, "long", draws=40, seed=1)}, total_draws=50)
    h = Horizon(src, weeks=6)
    for c in range(3):
        lag = h.carryover[c]
        for x in (0.0, 500.0, 4000.0):
            column = lambda v: np.concatenate([src.spend[len(src.spend) - lag:, c], np.full(6, v), np.zeros(lag)])  # noqa: E731
            direct = src.channel_contribution(c, column(x)).sum(axis=1) - src.channel_contribution(c, column(0.0)).sum(axis=1)
            np.testing.assert_allclose(h.kpi(c, x), direct, rtol=1e-9, atol=1e-6)
    assert src.n_draws == 50 and all(s.n_draws == 25 for s in src.sources.values())
