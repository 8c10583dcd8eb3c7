"""Known-truth lift tests on simulated data: the true incremental KPI of a channel's spend in a window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dataclasses import replace

from prism.data.simulate import Simulation, carryover, response
from prism.models import experiments
from prism.models.base import ModelData
from prism.schemas import Config, Experiment


def true_lift(sim: Simulation, channel: str, weeks: slice) -> float:
    """The channel's true contribution over `weeks` minus the same with its spend zero in those weeks.

    The window only (no carry-over tail), as prism.models.experiments defines a test's incremental KPI.
    """
    p, notes = sim.params[channel], sim.notes
    kind = str(notes["adstock"]).split()[0]
    spend = sim.frame[[channel]].to_numpy(dtype=float)
    zeroed = spend.copy()
    zeroed[weeks] = 0.0

    def contribution(column: np.ndarray) -> np.ndarray:
        x = carryover(column, kind, np.array([p["decay"]]), np.array([p.get("peak", 0.0)]), int(notes["max_lag"]))
        return p["beta"] * response(x, str(notes["saturation"]), np.array([p["half"]]), np.array([p["slope"]]))[:, 0]

    return float((contribution(spend) - contribution(zeroed))[weeks].sum())


def experiment(sim: Simulation, channel: str, weeks: slice, factor: float = 1.0, se_share: float = 0.10) -> Experiment:
    """A lift test over `weeks` reporting `factor` × the true incremental KPI, its se `se_share` of that."""
    dates = pd.to_datetime(sim.frame["date"])
    kpi = factor * true_lift(sim, channel, weeks)
    return Experiment(channel=channel, start=str(dates.iloc[weeks.start].date()),
                      end=str(dates.iloc[weeks.stop - 1].date()), spend=float(sim.frame[channel].iloc[weeks].sum()),
                      incremental_kpi=kpi, incremental_kpi_se=se_share * abs(kpi))


def sim_case(sim: Simulation, **overrides) -> tuple[ModelData, Config]:
    """The simulation as the models see it, with a config over its columns (plus any `overrides`)."""
    cfg = Config.model_validate({"data": {"path": "sim.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls}, **overrides})
    return ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg), cfg


def calibrated(data: ModelData, *tests: Experiment) -> ModelData:
    """`data` with lift tests the models calibrate against (checked as a run checks them)."""
    return replace(data, lifts=experiments.lifts([(f"row {i}", t) for i, t in enumerate(tests, 1)], data.channels,
                                                 data.dates))
