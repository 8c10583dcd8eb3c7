"""Lift-test results as calibration: read, checked against the data, and the model's implied lift per test.

Definition used everywhere (validation, the three models' likelihood terms, the Critic's conflict check):
the incremental KPI of a test is the channel's contribution summed over the data's weeks whose date lies
in [start, end], at the spend the data has in those weeks, minus the same sum with the channel's spend set
to zero in those weeks. The carry-over tail after `end` is not counted: a lift test reads the KPI during
its window. The row's `spend` is kept for the record; the data's spend in the window is what the models use.

Sources, first found wins: `--experiments PATH` (copied into the workspace's experiments.csv, so the
run can be reproduced), the workspace's experiments.csv, the knowledge layer's Experiments table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prism.data.discover import workspace_knowledge
from prism.errors import InputError
from prism.knowledge.local import _rows
from prism.knowledge.tables import EXPERIMENTS, experiment_from_row
from prism.schemas import Config, Experiment, Knowledge
from prism.workspace import Workspace, read_model, read_weekly, write_text

EXPERIMENTS_KEY = "experiments"  # the models' diagnostics entry
WORKSPACE_FILE = "experiments.csv"
WEEK_DAYS = 6  # a weekly row dated d covers d .. d + 6 days


@dataclass(frozen=True)
class Lift:
    """One test as the models use it: channel index, the data's weeks in its window, the measured lift."""

    channel: str
    c: int
    start: str
    end: str
    weeks: np.ndarray  # (T,) bool
    kpi: float
    se: float

    def zeroed(self, spend: np.ndarray) -> np.ndarray:
        """(T, C) spend with this channel's spend removed in the window (the counterfactual)."""
        out = np.array(spend, dtype=float, copy=True)
        out[self.weeks, self.c] = 0.0
        return out


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


def lifts(found: list[tuple[str, Experiment]], channels: list[str], dates: pd.DatetimeIndex) -> tuple[Lift, ...]:
    """Each experiment checked against the data: a known channel and a window inside the data's weeks."""
    first, last = dates[0], dates[-1] + pd.Timedelta(days=WEEK_DAYS)
    out = []
    for where, e in found:
        if e.channel not in channels:
            raise InputError(f"{where} column 'channel': {e.channel!r} is not a channel of the data "
                             f"({', '.join(channels)})")
        start, end = pd.Timestamp(e.start), pd.Timestamp(e.end)
        if start < first or end > last:
            raise InputError(f"{where} column 'start': window {e.start}..{e.end} lies outside the data "
                             f"({first.date()}..{last.date()})")
        weeks = np.asarray((dates >= start) & (dates <= end))
        if not weeks.any():
            raise InputError(f"{where} column 'start': no week of the data starts in {e.start}..{e.end}")
        out.append(Lift(e.channel, channels.index(e.channel), e.start, e.end, weeks, e.incremental_kpi,
                        e.incremental_kpi_se))
    return tuple(out)


def implied(draws, lift: Lift) -> np.ndarray:
    """(S,) the model's incremental KPI for the test's window, per kept draw (`draws`: KeptDraws)."""
    column = draws.spend[:, lift.c]
    diff = draws.channel_contribution(lift.c, column) - draws.channel_contribution(lift.c, lift.zeroed(draws.spend)[:, lift.c])
    return diff[:, lift.weeks].sum(axis=1)


def report(found: tuple[Lift, ...], draws, used: bool) -> list[dict]:
    """Per test: the measured lift, the model's implied lift (mean, sd) for the window, and z.

    z = |test − model| ÷ the test's se. A model that used the test follows it unless the data pull it
    away, so a large z means data and test disagree (the Critic's "experiment agreement").
    """
    out = []
    for lift in found:
        model = implied(draws, lift)
        out.append({"channel": lift.channel, "start": lift.start, "end": lift.end, "incremental_kpi": lift.kpi,
                    "incremental_kpi_se": lift.se, "used": used, "model_kpi": float(model.mean()),
                    "model_kpi_sd": float(model.std()), "z": float(abs(lift.kpi - model.mean()) / lift.se)})
    return out


def prepare(ws: Workspace, path: Path | None) -> tuple[Lift, ...]:
    """Check the run's experiments against the workspace's weekly table before any model starts (bad: exit 2).

    An explicit `path` is copied into the workspace's experiments.csv once it passes, so every model
    worker (and a later rerun) fits on the same tests.
    """
    found = gather(path, ws.root / WORKSPACE_FILE, workspace_knowledge(ws))
    if not found:
        return ()
    cfg = read_model(ws.config, Config)
    frame = read_weekly(ws, cfg)
    dates = pd.DatetimeIndex(pd.to_datetime(frame[cfg.data.date_column])).sort_values()
    checked = lifts(found, list(cfg.data.channels), dates)
    if path is not None and path.resolve() != (ws.root / WORKSPACE_FILE).resolve():
        write_text(ws.root / WORKSPACE_FILE, path.read_text(encoding="utf-8"))
    return checked
