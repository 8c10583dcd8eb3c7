"""What planning reads beside the draws (confidence, labels) and what it writes (results/*.csv)."""

from __future__ import annotations

import pandas as pd

from prism.errors import InputError
from prism.planning.horizon import DEFAULT_WEEKS
from prism.planning.plan import Plan, Planner, PlanRequest
from prism.models.draws import MARKET_SEP
from prism.planning.source import CONSENSUS, load_sources
from prism.schemas import Metadata
from prism.workspace import Workspace, read_csv, read_model, write_csv

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


def write_plan(ws: Workspace, plan: Plan, market: str | None = None) -> str:
    """Write the plan; returns the file name it went to."""
    name = market_file(OPTIMIZATION, market)
    write_csv(ws.result(name), plan.frame().round(CSV_DECIMALS))
    return name


def write_scenarios(ws: Workspace, frame: pd.DataFrame, market: str | None = None) -> str:
    name = market_file(SCENARIOS, market)
    write_csv(ws.result(name), frame.round(CSV_DECIMALS))
    return name


def open_planner(ws: Workspace, model: str = CONSENSUS, weeks: int = DEFAULT_WEEKS,
                 round_no: int | None = None, market: str | None = None) -> Planner:
    """A planner over the round's kept draws with the workspace's confidence labels and channel labels;
    with `market`, over one market's draws or (`all`) every market's channels apart, each carrying its
    channel's (national) confidence label."""
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
    write_plan(ws, plan)
    write_scenarios(ws, planner.scenarios(req, optimum=plan))
    return plan
