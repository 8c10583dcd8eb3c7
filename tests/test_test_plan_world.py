"""The plan's simulated world against the simulator's truth: its test weeks continue the fitted trend, and a
channel whose spend never varied is sized from the pool, not from its own (prior-made) range.

156 weeks simulated, the first 130 fitted (ridge, quick): the last 26 weeks' true baseline is the known
future a 26-week test would run in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prism.analysis import test_plan as tp
from prism.data.simulate import simulate
from prism.models import ridge
from prism.models.base import ModelData
from prism.models.draws import roi_draws
from prism.schemas import Config

HISTORY, AHEAD = 130, 26
FLIGHTING = ["wave", "onoff", "wave", "steady"]  # the last always on and under 2 % of spend


@pytest.fixture(scope="module")
def world():
    sim = simulate(weeks=HISTORY + AHEAD, n_channels=len(FLIGHTING), seed=23, n_controls=0, flighting=FLIGHTING,
                   tiny_channels=1)
    frame = sim.frame.iloc[:HISTORY]
    cfg = Config.model_validate({"data": {"path": "sim.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": []}})
    data = ModelData.from_frame(frame.assign(date=pd.to_datetime(frame["date"])), cfg)
    return sim, tp.build_plan_world(data, ridge.fit(data, cfg, quick=True).draws, cfg)


def test_test_weeks_continue_the_fitted_trend_where_a_copy_of_last_year_falls_short(world) -> None:
    sim, w = world
    _, base = tp.extended(w, 3, tp.STRONGEST)
    truth = sim.baseline
    offset = (w.base - truth[:HISTORY]).mean() / truth[:HISTORY].mean()  # the fit's intercept absorbs some media
    ahead = (base[HISTORY:] - truth[HISTORY:]).mean() / truth[HISTORY:].mean()
    copied = (w.base[tp._year_before(HISTORY, AHEAD)] - truth[HISTORY:]).mean() / truth[HISTORY:].mean()
    assert abs(ahead - offset) < 0.015  # the same offset as in the history: the trend goes on
    assert copied - offset < -0.03  # a year's trend (~5 % of the level) missing: the gap a refit put on the test


def test_a_never_varied_channel_is_sized_from_the_channels_the_history_moved(world) -> None:
    _, w = world
    assert w.dead.sum() == 0 and list(tp.never_varied(w.data)) == [False, False, False, True]
    draws = np.nan_to_num(roi_draws(w.draws))
    roi = draws.mean(axis=0)
    own = np.maximum(np.quantile(draws, tp.LOW_QUANTILE, axis=0), tp.LOW_FLOOR * roi)
    np.testing.assert_allclose(w.low[:3], own[:3])  # channels the history moved: from their own range
    assert w.low[3] == pytest.approx(tp.LOW_FLOOR * float(np.median(roi[:3])))  # the steady one: from the pool
    assert w.low[3] < 0.5 * own[3]  # its own (prior-made) range would have sized it at over twice that
