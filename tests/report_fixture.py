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
from prism.compare import channel_agreement
from prism.data.simulate import Simulation, simulate
from prism.models.base import ModelData, summarize
from prism.models.transforms import GeometricAdstock, HillSaturation
from prism.schemas import (Config, DataConfig, FieldDefinition, Knowledge, KnownIssue, Metadata,
                           Profile, Results, RoundRecord, State)
from prism.workspace import Workspace, write_csv, write_json, write_text

DRAWS = 60
MODEL_SPREAD = {"ridge": 0.15, "pymc": 0.25, "lightweight_mmm": 0.35}  # per-channel bias sd (log scale)


class TruthModel:
    """The simulator's own process with a model-specific bias and draw noise: a `Fitted`."""

    version = "fixture"
    diagnostics: dict

    def __init__(self, sim: Simulation, data: ModelData, name: str, seed: int):
        rng = np.random.default_rng(seed)
        p = sim.params
        chans = sim.channels
        self.engine = f"simulated truth ({name} fixture)"
        self.decay = np.array([p[c]["decay"] for c in chans])
        self.half = np.array([p[c]["half"] for c in chans])
        self.slope = np.array([p[c]["slope"] for c in chans])
        bias = rng.lognormal(0.0, MODEL_SPREAD[name], size=len(chans))
        self.beta = np.array([p[c]["beta"] for c in chans]) * bias
        self.draw_scale = rng.lognormal(0.0, 0.12, size=(DRAWS, len(chans)))
        self.data = data
        media = self.contributions(data.spend).mean(axis=0).sum(axis=1)
        t = np.arange(data.n_weeks)
        design = np.column_stack([np.ones_like(t), t, np.sin(2 * np.pi * t / 52.18), np.cos(2 * np.pi * t / 52.18)])
        coef, *_ = np.linalg.lstsq(design[data.train], (data.y - media)[data.train], rcond=None)
        self.base = design @ coef
        self.params = {c: {"decay": float(self.decay[i]), "half": float(self.half[i])} for i, c in enumerate(chans)}
        self.diagnostics = {"rhat_max": 1.0 + 0.001 * seed, "divergences": seed, "ess_bulk_min": 400.0 + seed}

    def contributions(self, spend: np.ndarray) -> np.ndarray:
        sat = HillSaturation()(GeometricAdstock(max_lag=8)(spend, self.decay), self.half, self.slope)
        return sat[None, :, :] * (self.beta[None, None, :] * self.draw_scale[:, None, :])

    def predict(self) -> np.ndarray:
        return self.base[None, :] + self.contributions(self.data.spend).sum(axis=2)

    def event_contributions(self) -> np.ndarray:
        return np.zeros((DRAWS, self.data.n_weeks, 0))

    def saturation_fraction(self) -> np.ndarray:
        mean_ad = GeometricAdstock(max_lag=8)(self.data.spend[: self.data.n_train], self.decay).mean(axis=0)
        return HillSaturation()(mean_ad[None, :], self.half, self.slope)[0]


def _results(sim: Simulation, cfg: Config, round_no: int, seed: int) -> Results:
    frame = sim.frame.assign(date=pd.to_datetime(sim.frame["date"]))
    data = ModelData.from_frame(frame, cfg)
    models = {}
    for i, name in enumerate(MODEL_SPREAD):
        model = TruthModel(sim, data, name, seed + i)
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
    """An optimization.csv read off the latest response curves (one step along each curve)."""
    res = Results.model_validate_json(ws.latest.read_text())
    curves = res.models["ridge"].curves
    rows = []
    for i, ch in enumerate(res.channels):
        cur = curves[ch]
        k = 10 + (1 if i % 2 == 0 else -1)  # multiplier index 10 is the current spend (1.0x)
        rows.append({"channel": ch, "current_spend": cur.spend[10], "recommended_spend": cur.spend[k],
                     "change_pct": (cur.spend[k] / cur.spend[10] - 1) * 100,
                     "expected_kpi_change": cur.kpi[k] - cur.kpi[10],
                     "expected_kpi_change_low": cur.kpi_low[k] - cur.kpi_low[10],
                     "expected_kpi_change_high": cur.kpi_high[k] - cur.kpi_high[10]})
    frame = pd.DataFrame(rows)
    write_csv(ws.result("optimization.csv"), frame)
    return frame
