"""What planning reads beside the draws (confidence, labels) and what it writes (results/*.csv)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from prism.errors import InputError
from prism.planning.horizon import DEFAULT_WEEKS, check_weeks
from prism.planning.plan import Plan, Planner, PlanRequest
from prism.models.draws import MARKET_SEP
from prism.planning.source import CONSENSUS, load_sources
from prism.schemas import Metadata
from prism.workspace import Workspace, csv_bytes, read_csv, read_model, write_together

ROI_COMPARISON = "roi_comparison.csv"
OPTIMIZATION = "optimization.csv"
SCENARIOS = "scenarios.csv"
CONFIDENCE_COLUMNS = ("confidence", "agreement")  # confidence when the trust stage wrote it, else agreement
CSV_DECIMALS = 4


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
    return Planner(sources, model, weeks, confidence, labels)


def default_plan(ws: Workspace, round_no: int | None = None) -> Plan:
    """The plan the report shows: consensus over the round's models, the current budget, default horizon;
    writes optimization.csv and scenarios.csv. Raises InputError when the round has no readable draws."""
    planner = open_planner(ws, round_no=round_no)
    req = PlanRequest()
    plan = planner.optimize(req)
    write_together(plan_files(ws, plan, planner.scenarios(req, optimum=plan)))
    return plan
