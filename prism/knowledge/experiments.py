"""Which lift tests a run calibrates on: read like any knowledge table, checked against the weekly data.

Sources, first found wins: `--experiments PATH` (copied into the workspace's experiments.csv, so the
run can be reproduced), the workspace's experiments.csv, the knowledge layer's Experiments table. The
checked tests go to results/experiments_used.json, which the model workers read (the models layer sits
below the knowledge layer and cannot read its tables).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from prism.data.discover import workspace_knowledge
from prism.errors import InputError
from prism.knowledge.local import _rows
from prism.knowledge.tables import EXPERIMENTS, experiment_from_row
from prism.models.experiments import EXPERIMENT_LIST, WORKSPACE_FILE, Lift, lifts, used_path
from prism.schemas import Config, Experiment, Knowledge
from prism.workspace import Workspace, read_model, read_weekly, remove_file, write_bytes, write_text


def read_file(path: Path) -> list[tuple[str, Experiment]]:
    """(where, experiment) per non-blank row of an experiments CSV; bad values exit 2 naming row and column."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    rows = _rows(path, EXPERIMENTS, [])
    out = [(f"{path}: row {i}", experiment_from_row(r, f"{path}: row {i}")) for i, r in enumerate(rows, start=1)]
    return [(w, e) for w, e in out if e is not None]


def gather(path: Path | None, workspace_file: Path, knowledge: Knowledge | None) -> list[tuple[str, Experiment]]:
    """The experiments a run uses: an explicit file, else the workspace's, else the knowledge layer's."""
    for candidate in (path, workspace_file):
        if candidate is not None and (candidate == path or candidate.is_file()):
            return read_file(candidate)
    src = (knowledge.source if knowledge else None) or "knowledge layer"
    return [(f"{src}: experiment {i}", e) for i, e in enumerate(knowledge.experiments if knowledge else [], start=1)]


def prepare(ws: Workspace, path: Path | None) -> tuple[Lift, ...]:
    """Check the run's experiments against the workspace's weekly table before any model starts (bad: exit 2).

    An explicit `path` is copied into the workspace's experiments.csv once it passes, so every model
    worker (and a later rerun) fits on the same tests.
    """
    found = gather(path, ws.root / WORKSPACE_FILE, workspace_knowledge(ws))
    if not found:
        remove_file(used_path(ws))
        return ()
    cfg = read_model(ws.config, Config)
    frame = read_weekly(ws, cfg)
    dates = pd.DatetimeIndex(pd.to_datetime(frame[cfg.data.date_column])).sort_values()
    checked = lifts(found, list(cfg.data.channels), dates)
    if path is not None and path.resolve() != (ws.root / WORKSPACE_FILE).resolve():
        write_text(ws.root / WORKSPACE_FILE, path.read_text(encoding="utf-8"))
    used_path(ws).parent.mkdir(parents=True, exist_ok=True)
    write_bytes(used_path(ws), EXPERIMENT_LIST.dump_json([e for _, e in found], indent=2))
    return checked
