"""The Bayesian models' share of the tuning objective is out of sample (PSIS-LOO), not the in-sample fit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from prism.data.simulate import simulate
from prism.models.base import ModelData
from prism.models.posterior import curve_draws, loo_mape
from prism.models.transforms import GeometricAdstock
from prism.schemas import Config


def test_loo_predicts_a_week_from_the_draws_that_do_not_chase_it():
    sim = simulate(weeks=104, n_channels=2, seed=3)
    cfg = Config.model_validate({"data": {"path": "x.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels}})
    data = ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg)
    n_draws, n_train = 400, data.n_train
    y = np.full(data.n_weeks, 100.0)
    y[0] = 150.0  # one outlier week that half of the draws fit
    baseline = np.tile(y, (n_draws, 1)) + np.random.default_rng(0).normal(0.0, 0.5, (n_draws, data.n_weeks))
    baseline[n_draws // 2:, 0] -= 50.0
    zeros = np.zeros((n_draws, 2))
    media = curve_draws("pymc", data, {"decay": zeros + 0.5, "coef": zeros, "half": zeros + 1.0,
                                           "slope": zeros + 1.0}, (np.ones(2), 1.0), GeometricAdstock(max_lag=4),
                            baseline)
    sigma = np.full(n_draws, 5.0)
    in_sample = 100.0 * abs(150.0 - baseline[:, 0].mean()) / 150.0 / n_train
    loo = loo_mape(media, y, sigma, n_train)
    assert loo > 1.8 * in_sample  # the week is predicted by the draws that were not pulled towards it
    assert abs(loo - 100.0 * 50.0 / 150.0 / n_train) < 0.05
