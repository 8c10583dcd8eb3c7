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


def test_the_audit_and_the_test_plans_refit_with_the_rounds_effective_config(tmp_path, monkeypatch) -> None:
    """The round ran with the knowledge layer's ROI range and decay benchmark: every refit of it must too,
    and a config changed since the round is refused rather than audited as if it were the round's."""
    import json

    import pytest

    from prism.analysis import test_plan
    from prism.cli import main
    from prism.errors import InputError
    from prism.schemas import Results
    from prism.workspace import read_model, write_json
    from tests.helpers.loop import make_ws

    ws, sim = make_ws(tmp_path / "ws", weeks=104, n_channels=3, seed=5, models=["ridge"])
    tv = sim.channels[0]
    meta = json.loads(ws.metadata.read_text())
    meta["knowledge"]["fields"] = {tv: {"column": tv, "expected_roi_min": 1.0, "expected_roi_max": 3.0,
                                        "adstock_decay": 0.6}}
    write_json(ws.metadata, meta)
    with pytest.raises(SystemExit) as done:
        main(["run", "--quick", "--workdir", str(ws.root)])
    assert done.value.code == 0
    used = {}
    monkeypatch.setattr(audit, "recover", lambda world, cfg, *a, **k: used.setdefault("audit", cfg) and pd.DataFrame())
    monkeypatch.setattr(audit, "write_csv", lambda *a: None)
    audit.run_audit(ws)
    res = read_model(ws.latest, Results)
    used["plans"] = test_plan.load_inputs(ws, res).cfg
    for cfg in used.values():
        assert cfg.roi_priors[tv].low == 1.0 and cfg.roi_priors[tv].high == 3.0
        assert cfg.adstock.decay_priors[tv] == 0.6
    own = json.loads(ws.config.read_text())
    own["ridge"]["bootstrap"] = 77  # the Tuner changed config.json after the round ran
    write_json(ws.config, own)
    for refit in (audit.run_audit, lambda w: test_plan.load_inputs(w, res)):
        with pytest.raises(InputError, match="ran with another config"):
            refit(ws)


def _lag1(x) -> float:
    import numpy as np

    return float(np.corrcoef(x[:-1], x[1:])[0, 1])


def test_simulated_noise_keeps_the_residuals_autocorrelation() -> None:
    """Residuals that wander (a slow cycle) must wander in the synthetic series too: drawn week by week they
    lose their autocorrelation and the audit's worlds are easier to read than the real one."""
    import dataclasses

    import numpy as np

    sim = simulate(weeks=156, n_channels=3, seed=12)
    cfg = Config.model_validate({"data": {"path": "s.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls}})
    data = ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg)
    res = summarize(ridge.fit(data, cfg, quick=True), data, 0.0, True)
    world = audit.build_world(data, res.weekly, {c: r.roi for c, r in res.channels.items()})
    wave = 1000.0 * np.sin(np.arange(data.n_train) * 2 * np.pi / 26)
    noisy, silent = (dataclasses.replace(world, residuals=r) for r in (wave, 0 * wave))
    lags = [_lag1(audit.synthetic(noisy, s, cfg)[0] - audit.synthetic(silent, s, cfg)[0]) for s in range(5)]
    assert _lag1(wave) > 0.9 and min(lags) > 0.5, lags
