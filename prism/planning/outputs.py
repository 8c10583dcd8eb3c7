"""What planning reads beside the draws (confidence, labels) and what it writes (results/*.csv)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from prism.errors import InputError
from prism.planning.horizon import DEFAULT_WEEKS, check_weeks
from prism.planning.plan import Plan, Planner, PlanRequest
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


def plan_files(ws: Workspace, plan: Plan | None, scenarios: pd.DataFrame) -> dict[Path, bytes]:
    """optimization.csv (when there is a plan) and scenarios.csv as bytes, for `write_together`: a run's
    outputs replace the last run's all at once or not at all."""
    files = {ws.result(OPTIMIZATION): csv_bytes(plan.frame().round(CSV_DECIMALS))} if plan is not None else {}
    return files | {ws.result(SCENARIOS): csv_bytes(scenarios.round(CSV_DECIMALS))}


def open_planner(ws: Workspace, model: str = CONSENSUS, weeks: int = DEFAULT_WEEKS,
                 round_no: int | None = None) -> Planner:
    """A planner over the round's kept draws with the workspace's confidence labels and channel labels."""
    check_weeks(weeks)
    return Planner(load_sources(ws, round_no), model, weeks, read_confidence(ws), read_labels(ws))


def default_plan(ws: Workspace, round_no: int | None = None) -> Plan:
    """The plan the report shows: consensus over the round's models, the current budget, default horizon;
    writes optimization.csv and scenarios.csv. Raises InputError when the round has no readable draws."""
    planner = open_planner(ws, round_no=round_no)
    req = PlanRequest()
    plan = planner.optimize(req)
    write_together(plan_files(ws, plan, planner.scenarios(req, optimum=plan)))
    return plan
