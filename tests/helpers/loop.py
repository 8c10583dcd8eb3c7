"""Workspaces for the loop and agent tests: simulated data discovered for real, results crafted per test."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from prism.data.discover import PrepareOptions, discover
from prism.data.roles import Overrides
from prism.data.simulate import Simulation, simulate
from prism.data.sources import SourceSpec
from prism.schemas import Agreement, ChannelResult, FitMetrics, ModelResult, Results
from prism.workspace import Workspace, write_json

MODEL_FACTORS = {"ridge": 1.0, "pymc": 1.05, "lightweight_mmm": 0.95}


def make_ws(root: Path, weeks: int = 156, n_channels: int = 4, collinear: bool = False, seed: int = 1,
            models: list[str] | None = None, **sim_options) -> tuple[Workspace, Simulation]:
    """A discovered workspace on simulated data (config.json + metadata.json written by discover)."""
    sim = simulate(weeks=weeks, n_channels=n_channels, seed=seed, collinear=collinear, **sim_options)
    root.mkdir(parents=True, exist_ok=True)
    csv = root / "data.csv"
    sim.write(csv)
    ws = Workspace(root)
    discover(ws, SourceSpec(source="csv", path=str(csv)),
             Overrides(date="date", kpi=sim.kpi, channels=sim.channels, controls=sim.controls), PrepareOptions())
    if models is not None:
        import json

        cfg = json.loads(ws.config.read_text())
        cfg["models"] = models
        write_json(ws.config, cfg)
    return ws, sim


def crafted_results(ws: Workspace, sim: Simulation, round_no: int = 1, factors: dict[str, float] | None = None,
                    roi: dict[str, dict[str, float]] | None = None, agreement: dict[str, str] | None = None,
                    fit: dict[str, dict] | None = None, diagnostics: dict[str, dict] | None = None,
                    failed: dict[str, str] | None = None, objective: float = 12.0,
                    contribution_scale: float = 1.0) -> Results:
    """Results near the simulator's truth, with any part overridden; written as the round's results."""
    factors = factors or MODEL_FACTORS
    weeks = len(sim.frame)
    train = weeks - max(8, round(0.1 * weeks))
    truth = sim.true_roi(slice(0, train))
    share = sim.true_contribution_pct(slice(0, train))
    spend = sim.frame[sim.channels].iloc[:train].sum()
    models: dict[str, ModelResult] = {}
    for name, f in factors.items():
        if failed and name in failed:
            models[name] = ModelResult(status="failed", reason=failed[name], engine=name)
            continue
        chans = {}
        for ch in sim.channels:
            r = (roi or {}).get(name, {}).get(ch, truth[ch] * f)
            chans[ch] = ChannelResult(roi=r, roi_low=r * 0.8, roi_high=r * 1.2,
                                      contribution=r * float(spend[ch]),
                                      contribution_pct=share[ch] * f * contribution_scale, mroi=r * 0.6,
                                      saturation_pct=45.0, spend=float(spend[ch]), params={"decay": 0.3})
        fm = {"r2": 0.9, "mape_train": 5.0, "mape_test": 7.0, "cv_mape": objective, **(fit or {}).get(name, {})}
        diag = (diagnostics or {}).get(name, {"rhat_max": 1.01, "ess_bulk_min": 800.0, "divergences": 0, "chains": 2}
                                       if name != "ridge" else {})
        models[name] = ModelResult(status="ok", engine=name, seconds=1.0, fit=FitMetrics(**fm), diagnostics=diag,
                                   channels=chans)
    res = Results(round=round_no, data_hash="x", config_hash="y", created_at=datetime.now(timezone.utc),
                  kpi=sim.kpi, channels=sim.channels, weeks=weeks, train_weeks=train, holdout_weeks=weeks - train,
                  objective=objective, models=models)
    ok = res.ok_models()
    for ch in sim.channels:
        vals = np.array([m.channels[ch].roi for m in ok.values()])
        cv = float(vals.std() / abs(vals.mean()) * 100) if len(vals) > 1 else None
        label = (agreement or {}).get(ch) or ("n/a" if cv is None else "high" if cv < 20 else "medium" if cv < 50 else "low")
        res.agreement[ch] = Agreement(label=label, cv=cv, n_models=len(vals), models=list(ok), mean_roi=float(vals.mean()))
    write_json(ws.round_results(round_no), res)
    write_json(ws.latest, res)
    return res
