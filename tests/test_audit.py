"""The recoverability audit on simulated data with known truth: flighted channels come back, tiny
always-on ones do not."""

from __future__ import annotations

import pandas as pd

from prism.analysis import audit
from prism.data.simulate import simulate
from prism.models import ridge
from prism.models.base import ModelData, summarize
from prism.schemas import Config


def test_onoff_channel_is_identifiable_and_tiny_always_on_is_not() -> None:
    sim = simulate(weeks=156, n_channels=4, seed=12, flighting=["onoff", "wave", "wave", "steady"],
                   tiny_channels=1, noise=0.04)
    onoff, tiny = sim.channels[0], sim.channels[-1]
    assert sim.spend_share()[tiny] < 0.02
    cfg = Config.model_validate({"data": {"path": "s.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls}})
    data = ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg)
    res = summarize(ridge.fit(data, cfg, quick=True), data, 0.0, True)
    world = audit.build_world(data, res.weekly, {c: r.roi for c, r in res.channels.items()})
    table = audit.recover(world, cfg, k=10, jobs=2).set_index("channel")
    assert list(table.reset_index().columns[:5]) == ["channel", "model", "recovery_error_pct", "coverage", "verdict"]
    assert table.loc[onoff, "verdict"] == "identifiable" and table.loc[onoff, "recovery_error_pct"] < 25
    assert table.loc[tiny, "verdict"] == "not"
