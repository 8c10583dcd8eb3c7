"""What planning reads beside the draws (confidence, labels) and what it writes (results/*.csv)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import inspect
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from prism.errors import InputError
from prism.planning.horizon import DEFAULT_WEEKS, check_weeks
from prism.planning.plan import Plan, Planner, PlanRequest
from prism.models.draws import MARKET_SEP
from prism.planning.source import CONSENSUS, load_sources
from prism.schemas import Metadata
from prism.workspace import (Workspace, csv_bytes, digest, keep_newest, read_csv, read_model, write_bytes,
                             write_together)

ROI_COMPARISON = "roi_comparison.csv"
OPTIMIZATION = "optimization.csv"
SCENARIOS = "scenarios.csv"
CONFIDENCE_COLUMNS = ("confidence", "agreement")  # confidence when the trust stage wrote it, else agreement
CSV_DECIMALS = 4
RESPONSES = "responses"  # .prism-cache/responses/{key}.npz: a planner's computed responses
KEPT_RESPONSES = 8  # files kept (the newest): one per round × model × horizon × market asked lately


def read_confidence(ws: Workspace) -> dict[str, str] | None:
    """{channel: high|medium|low} from results/roi_comparison.csv; None when compare has not run."""
    path = ws.result(ROI_COMPARISON)
    if not path.exists():
        return None
    frame = read_csv(path, required=("channel",))
    column = next((c for c in CONFIDENCE_COLUMNS if c in frame.columns), None)
    if column is None:
        raise InputError(f"{path}: needs a column 'confidence' or 'agreement'")
    return {str(r["channel"]): str(r[column]) for _, r in frame.iterrows()}


def read_labels(ws: Workspace) -> dict[str, str]:
    """Business labels of the columns (metadata.json), for names people type and tables they read."""
    if not ws.metadata.exists():
        return {}
    meta = read_model(ws.metadata, Metadata)
    cols = set(meta.labels) | set(meta.knowledge.fields) | set(meta.profile.columns)
    return {c: meta.label(c) for c in cols}


def market_file(name: str, market: str | None) -> str:
    """results/optimization.csv is the national plan the report reads; a market's plan goes beside it
    (`optimization_north.csv`, `optimization_all.csv` for the plan across markets)."""
    if market is None:
        return name
    stem, ext = name.rsplit(".", 1)
    return f"{stem}_{''.join(ch if ch.isalnum() or ch in '-_' else '_' for ch in market)}.{ext}"


def plan_files(ws: Workspace, plan: Plan | None, scenarios: pd.DataFrame,
               market: str | None = None) -> dict[Path, bytes]:
    """optimization.csv (when there is a plan) and scenarios.csv (a market's beside them) as bytes, for
    `write_together`: a run's outputs replace the last run's all at once or not at all."""
    files = ({ws.result(market_file(OPTIMIZATION, market)): csv_bytes(plan.frame().round(CSV_DECIMALS))}
             if plan is not None else {})
    return files | {ws.result(market_file(SCENARIOS, market)): csv_bytes(scenarios.round(CSV_DECIMALS))}


def open_planner(ws: Workspace, model: str = CONSENSUS, weeks: int = DEFAULT_WEEKS,
                 round_no: int | None = None, market: str | None = None) -> Planner:
    """A planner over the round's kept draws with the workspace's confidence labels and channel labels;
    with `market`, over one market's draws or (`all`) every market's channels apart, each carrying its
    channel's (national) confidence label."""
    check_weeks(weeks)
    sources = load_sources(ws, round_no, market)
    confidence, labels = read_confidence(ws), read_labels(ws)
    names = next(iter(sources.values())).channels if sources else []
    split = [n.rsplit(MARKET_SEP, 1) for n in names if MARKET_SEP in n]
    if split:
        confidence = {f"{ch}{MARKET_SEP}{m}": c for ch, m in split for c in [(confidence or {}).get(ch)] if c}
        labels = {f"{ch}{MARKET_SEP}{m}": f"{labels.get(ch, ch)}{MARKET_SEP}{m}" for ch, m in split}
    planner = Planner(sources, model, weeks, confidence, labels)
    planner.responses_key = _responses_key(planner, model, weeks, market)
    kept = _responses_file(ws, planner.responses_key)
    if kept.exists():
        with np.load(io.BytesIO(kept.read_bytes())) as z:
            if z["kpi"].shape[1:] == (planner.source.n_draws,):
                planner.h.add_responses(z["channel"], z["weekly"], z["kpi"])
    return planner


def keep_responses(ws: Workspace, planner: Planner) -> None:
    """Keep the planner's computed responses for the next command on the same draws and horizon.

    The response of a channel to a spend level is the planners' main cost (on the wide retail shape 1.9 of
    `prism optimize`'s 3.9 CPU s); the loop's report computes the default plan, so `prism optimize`, `prism
    scenario` and `prism ask` after it reuse its responses instead of recomputing them. The key holds the
    draws planned on, the model choice, horizon, market and the code that computes a response."""
    if planner.responses_key is None:
        return
    target = _responses_file(ws, planner.responses_key)
    if target.exists() and not planner.h.computed_here:  # nothing new to keep: mark it as recently used
        target.touch()
        return
    channels, weekly, kpi = planner.h.responses()
    buf = io.BytesIO()
    np.savez(buf, channel=channels, weekly=weekly, kpi=kpi)
    write_bytes(target, buf.getvalue())
    keep_newest(target.parent, "*.npz", KEPT_RESPONSES)


def _responses_file(ws: Workspace, key: str) -> Path:
    return ws.cache_dir / RESPONSES / f"{key}.npz"


def _responses_key(planner: Planner, model: str, weeks: int, market: str | None) -> str:
    """The draws as planned on, the model choice, horizon, market and the code that computes a response."""
    from prism.models import draws, transforms
    from prism.planning import horizon, source

    pooled = hashlib.sha256(b"".join(name.encode() + _content(src) for name, src in planner.source.sources.items()))
    code = [inspect.getsource(m) for m in (draws, transforms, horizon, source)]
    return digest(pooled.hexdigest(), model, weeks, market, code)


def _content(src: object) -> bytes:
    """A source's data, without the response caches a dataclass keeps beside it (compare=False fields)."""
    if dataclasses.is_dataclass(src):
        return pickle.dumps([getattr(src, f.name) for f in dataclasses.fields(src) if f.compare], protocol=5)
    return pickle.dumps(src, protocol=5)


def default_plan(ws: Workspace, round_no: int | None = None) -> Plan:
    """The plan the report shows: consensus over the round's models, the current budget, default horizon;
    writes optimization.csv and scenarios.csv. Raises InputError when the round has no readable draws."""
    planner = open_planner(ws, round_no=round_no)
    req = PlanRequest()
    plan = planner.optimize(req)
    write_together(plan_files(ws, plan, planner.scenarios(req, optimum=plan)))
    keep_responses(ws, planner)
    return plan
