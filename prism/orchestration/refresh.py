"""`prism refresh`: bring new weeks into the approved workspace without moving numbers for no reason.

Order matters. The approved model first forecasts the new weeks from their actual spend (no refit: did it
see them coming?). Then the approved config refits on all weeks in a staging folder with the approved
fit's scales fixed (config.json `scales`), so that only the data moves the numbers, each engine starting at
the approved fit's parameters (prism/models/warm.py). Stability per channel
and the release gates (config.json `gates`) decide the verdict. A refresh that fails a blocking gate keeps
the approved results current (latest.json, the results tables, weekly.parquet and config.json untouched)
and exits 0 with the verdict `blocked`; otherwise the refit becomes the current round and the loop resumes
at compare, so the Analyst, the Critic (which checks the gates) and the Reporter ("Since last time") see it.
Either way results/refresh.csv and results/refresh.json say what happened, and decisions whose weeks came
in get their outcome in decisions.jsonl.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from prism.analysis import governance, refresh
from prism.analysis.compare import run_compare
from prism.analysis.response import load_round
from prism.data.discover import workspace_knowledge
from prism.data.prepare import prepare
from prism.data.sources import SourceSpec, approve_source, confine_to_workspace, infer_source, load_source
from prism.errors import InputError
from prism.models.base import ModelData
from prism.models.draws import KeptDraws
from prism.models.experiments import WORKSPACE_FILE as EXPERIMENTS_FILE
from prism.models.priors import effective_config
from prism.models.runner import fit_table, run_models
from prism.models.scales import approved_scale
from prism.models.warm import warm_start
from prism.orchestration.recording import record
from prism.schemas import Config, RefreshReport, Results, Verdict, WarmStart
from prism.workspace import (Workspace, load_state, loop_lock, read_model, save_state, write_csv, write_json,
                             write_weekly)

STAGE_PREFIX = ".prism-refresh-"
RESUME_STAGE = "compare"  # a promoted refresh round has its results: the loop goes on from the comparison


@dataclass
class Incoming:
    """The refresh's data: where it came from, and whether it holds every approved week."""

    spec: SourceSpec
    frame: pd.DataFrame
    name: str
    from_command_line: bool


@dataclass
class Approved:
    """The approved round as a refresh starts from it: its number, config, results, weekly table and draws."""

    round: int
    cfg: Config
    results: Results
    weekly: pd.DataFrame
    draws: dict[str, KeptDraws]

    @classmethod
    def load(cls, ws: Workspace) -> "Approved":
        n = governance.approved_round(ws)
        cfg = Config.model_validate(governance.read_manifest(ws, n).config)
        if cfg.data.market_column:
            raise InputError(f"{ws.config}: data.market_column '{cfg.data.market_column}': prism refresh does not "
                             f"refresh a market panel yet; rerun `prism discover` and `prism run` with all weeks")
        return cls(n, cfg,
                   read_model(ws.round_results(n), Results), pd.read_parquet(ws.weekly_snapshot(n)), load_round(ws, n))

    def warm_starts(self, fixed: Config) -> dict[str, WarmStart]:
        """Where each model's refit starts (prism/models/warm.py); a model missing here starts cold."""
        starts = {m: warm_start(kd, self.results.models[m], fixed.scales[m], self.round) for m, kd in self.draws.items()}
        return {m: w for m, w in starts.items() if w is not None}

    def fixed_scales(self) -> Config:
        """The approved config with the approved fit's scales fixed (config.json `scales`)."""
        y_train = self.weekly[self.cfg.data.kpi].to_numpy(float)[: self.results.train_weeks]
        return self.cfg.model_copy(update={"scales": {m: approved_scale(self.cfg, kd, y_train)
                                                      for m, kd in self.draws.items()}})


def run_refresh(ws: Workspace, path: str | None, restate: bool, console: Console | None = None) -> RefreshReport:
    """Refresh the approved round with the weeks in `path` (or config.json's source again)."""
    console = console or Console(stderr=True)
    with loop_lock(ws):
        base = Approved.load(ws)
        incoming = _incoming(ws, base.cfg, path)
        app = refresh.merge_weeks(base.weekly, incoming.frame, base.cfg, incoming.name, restate)
        _check_rebuildable(base.cfg, incoming, base.weekly)
        data = ModelData.from_frame(app.frame, effective_config(base.cfg, workspace_knowledge(ws)))
        n_old = len(base.weekly)
        pool, check = _forecast(base.draws, data, base.cfg, n_old, app.new_weeks)
        suspects = refresh.suspects(pool, data.y[n_old:], data.channels) if check.missed else []
        fixed = base.fixed_scales()
        n = _next_round(ws)
        refit = _refit(ws, app.frame, fixed, n, list(base.draws), base.warm_starts(fixed), base.results.quick,
                       console)
        after = {m: KeptDraws.from_netcdf(ws.draws_path(n, m)) for m in refit.ok_models()}
        table = refresh.stability_table(base.draws, after, data.channels, {s.name for s in suspects})
        rules = read_model(ws.config, Config).gates  # governance settings: today's, not the approved round's
        gates = refresh.judge_gates(rules, base.results, refit, check, table,
                                    refresh.downgrades(ws, base.results, refit))
        verdict = refresh.verdict(gates, check, table)
        report = RefreshReport(
            verdict=verdict, approved_round=base.round, round=n, created_at=datetime.now(timezone.utc),
            new_weeks=app.new_weeks, restated_weeks=app.restated, forecast=check,
            gates_passed=[g for g in gates if g.passed], gates_failed=[g for g in gates if not g.passed],
            suspects=suspects, flagged=table.loc[table["flag"] != refresh.FLAG_NONE, "channel"].tolist(),
            current_round=n if verdict != Verdict.BLOCKED else _current_round(ws),
            outcomes=governance.record_outcomes(ws, app.new_weeks, data.y[n_old:], pool.predictive))
        write_csv(ws.result("refresh.csv"), table.round(4))
        write_json(ws.result("refresh.json"), report)
        if verdict != Verdict.BLOCKED:
            _promote(ws, fixed, incoming, app, refit)
        return report


def _incoming(ws: Workspace, cfg: Config, path: str | None) -> Incoming:
    """The new data prepared like the approved data (same roles; short files and idle channels allowed)."""
    if path:
        spec = SourceSpec(source=infer_source(path, None), path=str(Path(path).expanduser().resolve()))
    else:
        spec = SourceSpec.from_config(cfg.data)
        confine_to_workspace(spec, ws.root)
    raw = load_source(spec, ws.root)
    return Incoming(spec, prepare(raw, cfg.data, cfg.baseline, appended=True).frame, raw.name, bool(path))


def _check_rebuildable(cfg: Config, incoming: Incoming, old: pd.DataFrame) -> None:
    """A file with only the new weeks becomes the workspace's source as a weekly table, which an entity or
    text-events column cannot be rebuilt from: such data needs a file with every week."""
    d = cfg.data
    full = pd.to_datetime(old[d.date_column]).isin(pd.to_datetime(incoming.frame[d.date_column])).all()
    if not full and (d.entity_column or cfg.baseline.events_text_column):
        raise InputError(f"{incoming.name}: holds only the new weeks, and config.json's "
                         f"{'data.entity_column' if d.entity_column else 'baseline.events_text_column'} needs the "
                         f"raw rows of every week; give a file with all weeks")


def _forecast(before: dict[str, KeptDraws], data: ModelData, cfg: Config, n_old: int, weeks: list[str]
              ) -> tuple[refresh.ModelForecast, "refresh.ForecastCheck"]:
    rng = np.random.default_rng(cfg.seed)
    pool = refresh.pooled([refresh.forecast_model(kd, data, cfg, n_old, rng) for kd in before.values()])
    return pool, refresh.forecast_check(pool, data.y[n_old:], weeks, list(before))


def _next_round(ws: Workspace) -> int:
    """One past every round the workspace has (results, draws or state)."""
    seen = [load_state(ws).round]
    if ws.rounds_dir.exists():
        seen += [int(p.name[1:3]) for p in ws.rounds_dir.iterdir() if p.name[:1] == "R" and p.name[1:3].isdigit()]
    return max(seen) + 1


def _refit(ws: Workspace, frame: pd.DataFrame, cfg: Config, n: int, models: list[str], warm: dict[str, WarmStart],
           quick: bool, console: Console) -> Results:
    """Fit the approved models (each started at its `warm` values) on all weeks in a staging workspace and
    move the round's files into this one.

    The runner writes results/latest.json wherever it runs: staging keeps this workspace's current results
    untouched until the gates have spoken."""
    stage = Workspace(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=ws.root))
    try:
        write_json(stage.config, cfg)
        for src in (ws.metadata, ws.root / EXPERIMENTS_FILE):
            if src.exists():
                shutil.copyfile(src, stage.root / src.name)
        if ws.knowledge_dir.exists():
            shutil.copytree(ws.knowledge_dir, stage.knowledge_dir)
        write_weekly(stage, frame)
        res = run_models(stage, round_no=n, models=models, quick=quick, console=console, warm=warm)
        ws.rounds_dir.mkdir(parents=True, exist_ok=True)
        moved = [stage.round_results(n), stage.manifest(n), stage.draws_dir(n)]
        for src in (p for p in moved if p.exists()):
            shutil.move(src, ws.rounds_dir / src.name)
        shutil.copyfile(stage.weekly, ws.weekly_snapshot(n))
        return res
    finally:
        shutil.rmtree(stage.root, ignore_errors=True)


def _promote(ws: Workspace, cfg: Config, incoming: Incoming, app: refresh.Appended, refit: Results) -> None:
    """Make the refit the current round: its data, its config (fixed scales, the refreshed source) and results."""
    write_json(ws.config, cfg.model_copy(update={"data": _source(ws, cfg, incoming, app, refit.round)}))
    write_weekly(ws, app.frame)
    write_json(ws.latest, refit)
    write_csv(ws.result("model_fit.csv"), fit_table(refit))
    run_compare(ws, refit.round)
    state = load_state(ws)
    state.round, state.stage, state.pending_checkpoint, state.stopped_reason = refit.round, RESUME_STAGE, None, None
    rec = record(state, refit.round)
    rec.change = f"refresh: {len(app.new_weeks)} new week(s) to {app.new_weeks[-1]}"
    rec.model_status = {name: m.status for name, m in refit.models.items()}
    save_state(ws, state)


def _source(ws: Workspace, cfg: Config, incoming: Incoming, app: refresh.Appended, n: int):
    """config.json's data source after a refresh: the file named if it holds every week, else the round's
    weekly table (rounds/R{NN}_weekly.parquet), so that the next `discover` rebuilds the refreshed data."""
    d = cfg.data
    if not incoming.from_command_line:
        return d
    full = pd.to_datetime(app.frame[d.date_column]).isin(pd.to_datetime(incoming.frame[d.date_column])).all()
    if full:
        approve_source(incoming.spec, ws.root)
        return d.model_copy(update={"source": incoming.spec.source, "path": incoming.spec.path})
    return d.model_copy(update={"source": "parquet", "path": str(ws.weekly_snapshot(n).relative_to(ws.root)),
                                "sheet": None})


def _current_round(ws: Workspace) -> int:
    return read_model(ws.latest, Results).round
