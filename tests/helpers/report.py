"""A two-round workspace for the report tests, built from the simulator's known truth.

Each "model" is the true data-generating process (adstock + Hill with the simulator's parameters) with
draw-to-draw noise and a per-channel bias of its own, summarised through the shared decomposition
(`prism.models.base.summarize`); the report is written by the real rule-based Reporter. Every number in
the fixture comes out of real code paths, so the tests fail if the renderers drift from the results.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from prism.agents import reporter
from prism.analysis.compare import channel_agreement
from prism.data.simulate import Simulation, simulate
from prism.models.base import Fitted, ModelData, summarize
from prism.models.draws import KeptDraws
from prism.schemas import (Config, DataConfig, FieldDefinition, Knowledge, KnownIssue, Metadata,
                           Profile, Results, RoundRecord, State)
from prism.workspace import Workspace, write_csv, write_json, write_text, write_weekly

DRAWS = 60
MODEL_SPREAD = {"ridge": 0.15, "pymc": 0.25, "lightweight_mmm": 0.35}  # per-channel bias sd (log scale)


def truth_model(sim: Simulation, data: ModelData, name: str, seed: int) -> Fitted:
    """The simulator's own process with a model-specific bias and draw noise, as a model's kept draws."""
    rng = np.random.default_rng(seed)
    p, chans = sim.params, sim.channels
    per = lambda key: np.array([p[c][key] for c in chans])  # noqa: E731
    bias = rng.lognormal(0.0, MODEL_SPREAD[name], size=len(chans))
    coef = per("beta") * bias * rng.lognormal(0.0, 0.12, size=(DRAWS, len(chans)))
    ones = np.ones_like(coef)
    draws = KeptDraws(
        model=name, channels=list(chans), dates=data.dates, spend=data.spend, n_train=data.n_train,
        baseline=np.zeros((DRAWS, data.n_weeks)), adstock_type="geometric", max_lag=8, normalize=False,
        adstock_params={"decay": ones * per("decay")}, saturation_type="hill",
        saturation_params={"half": ones * per("half"), "slope": ones * per("slope")}, coef=coef, scale=ones, gain=ones)
    media = draws.contributions(data.spend).mean(axis=0).sum(axis=1)
    t = np.arange(data.n_weeks)
    design = np.column_stack([np.ones_like(t), t, np.sin(2 * np.pi * t / 52.18), np.cos(2 * np.pi * t / 52.18)])
    base, *_ = np.linalg.lstsq(design[data.train], (data.y - media)[data.train], rcond=None)
    draws.baseline = np.repeat((design @ base)[None, :], DRAWS, axis=0)
    return Fitted(engine=f"simulated truth ({name} fixture)", version="fixture",
                  params={c: {"decay": float(p[c]["decay"]), "half": float(p[c]["half"])} for c in chans},
                  diagnostics={"rhat_max": 1.0 + 0.001 * seed, "divergences": seed, "ess_bulk_min": 400.0 + seed},
                  draws=draws)


def _results(sim: Simulation, cfg: Config, round_no: int, seed: int) -> Results:
    frame = sim.frame.assign(date=pd.to_datetime(sim.frame["date"]))
    data = ModelData.from_frame(frame, cfg)
    models = {}
    for i, name in enumerate(MODEL_SPREAD):
        model = truth_model(sim, data, name, seed + i)
        model.diagnostics["cv_mape"] = 4.0 + round_no
        models[name] = summarize(model, data, 1.5 + i, quick=True)
    res = Results(round=round_no, data_hash="simdata", config_hash=f"cfg{round_no}",
                  created_at=datetime(2026, 1, round_no, tzinfo=timezone.utc), kpi=sim.kpi,
                  channels=sim.channels, weeks=data.n_weeks, train_weeks=data.n_train, holdout_weeks=data.n_test,
                  objective=min(m.fit.mape_train for m in models.values()), models=models)
    res.agreement = channel_agreement(res)  # the real compare stage labels
    return res


def _metadata(sim: Simulation, cfg: Config) -> Metadata:
    fields = {c: FieldDefinition(column=c, label=c.replace("_spend", "").upper() + " advertising", role="channel")
              for c in sim.channels}
    return Metadata(
        generated_at=datetime(2026, 1, 1, tzinfo=timezone.utc), data_hash="simdata", kpi=sim.kpi,
        labels={sim.kpi: "Revenue"},
        profile=Profile(rows=len(sim.frame), weeks=len(sim.frame), start=str(sim.frame["date"].iloc[0]),
                        end=str(sim.frame["date"].iloc[-1]), frequency="W-MON"),
        knowledge=Knowledge(fields=fields, known_issues=[KnownIssue(issue="Spend tracking changed mid-series",
                                                                    severity="medium")]),
    )


def build_workspace(root: Path, rounds: int = 2, seed: int = 3, n_channels: int = 4) -> Workspace:
    """Write config, metadata, state, per-round results and report.md for `rounds` rounds."""
    ws = Workspace(root)
    sim = simulate(weeks=120, n_channels=n_channels, seed=seed)
    sim.write(root / "data.csv")
    cfg = Config(data=DataConfig(path="data.csv", date_column="date", kpi=sim.kpi, channels=sim.channels,
                                 controls=sim.controls))
    meta = _metadata(sim, cfg)
    write_weekly(ws, sim.frame.assign(date=pd.to_datetime(sim.frame["date"])))  # what discover would have written
    write_json(ws.config, cfg)
    write_json(ws.metadata, meta)
    state = State(round=rounds, stage="done")
    for r in range(1, rounds + 1):
        max_lag = 8 if r == 1 else 8 - r
        write_json(ws.round_file(r, "config", "json"), cfg.model_copy(update={
            "adstock": cfg.adstock.model_copy(update={"max_lag": max_lag})}))  # the loop's per-round snapshot
        res = _results(sim, cfg, r, seed + 10 * r)
        write_json(ws.round_results(r), res)
        write_json(ws.latest, res)
        reporter.run(ws, r)  # the real Reporter writes results/report.md from the round's results
        write_text(ws.round_file(r, "report"), ws.report_md.read_text())
        state.rounds.append(RoundRecord(round=r, status="done", change="baseline" if r == 1 else f"adstock.max_lag 8 -> {max_lag}",
                                        objective=res.objective,
                                        test_mape={k: m.fit.mape_test for k, m in res.models.items()},
                                        high_agreement=sum(a.label == "high" for a in res.agreement.values())))
        write_json(ws.state, state)
    return ws


def write_optimization(ws: Workspace) -> pd.DataFrame:
    """An optimization.csv read off the latest response curves (one step along each curve); the second
    channel is held for want of high confidence, with what a confirming test would give it (two steps)."""
    res = Results.model_validate_json(ws.latest.read_text())
    curves = res.models["ridge"].curves
    rows = []
    for i, ch in enumerate(res.channels):
        cur = curves[ch]
        k = 10 + (1 if i % 2 == 0 else -1)  # multiplier index 10 is the current spend (1.0x)
        rows.append({"channel": ch, "current": cur.spend[10], "recommended": cur.spend[k],
                     "change_pct": (cur.spend[k] / cur.spend[10] - 1) * 100,
                     "expected_kpi_change": cur.kpi[k] - cur.kpi[10],
                     "expected_kpi_change_low": cur.kpi_low[k] - cur.kpi_low[10],
                     "expected_kpi_change_high": cur.kpi_high[k] - cur.kpi_high[10],
                     "confidence": "medium" if i == 1 else "high", "if_confirmed": cur.spend[12] if i == 1 else None})
    frame = pd.DataFrame(rows)
    write_csv(ws.result("optimization.csv"), frame)
    return frame
