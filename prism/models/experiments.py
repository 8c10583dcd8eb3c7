"""Lift-test results as calibration: checked against the data, and the model's implied lift per test.

Definition used everywhere (validation, the three models' likelihood terms, the Critic's conflict check):
the incremental KPI of a test is the channel's contribution summed over the data's weeks whose date lies
in [start, end], at the spend the data has in those weeks, minus the same sum with the channel's spend set
to zero in those weeks. The carry-over tail after `end` is not counted: a lift test reads the KPI during
its window. The row's `spend` is kept for the record; the data's spend in the window is what the models use.

Which tests a run uses is settled above this layer (prism.knowledge.experiments checks them against the
data and writes them to `USED_FILE`); the model workers read that file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import TypeAdapter

from prism.errors import InputError
from prism.models.base import ModelData, roi_evidence
from prism.models.panel import PanelData
from prism.schemas import Config, Experiment, Uncalibrated
from prism.workspace import Workspace

UNCALIBRATED_MODEL = "ridge"
UNCALIBRATED_METHOD = "ridge refitted on the same weeks without the lift tests (quick mode)"

EXPERIMENTS_KEY = "experiments"  # the models' diagnostics entry
AGREE_Z = 2.0  # a model's lift for a test window within this many test se's of the test: data and test agree
WORKSPACE_FILE = "experiments.csv"
USED_FILE = ("results", "experiments_used.json")  # the checked tests the next model run fits on
EXPERIMENT_LIST = TypeAdapter(list[Experiment])
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


def lifts(found: list[tuple[str, Experiment]], channels: list[str], dates: pd.DatetimeIndex) -> tuple[Lift, ...]:
    """Each experiment checked against the data: a known channel and a window inside the data's weeks."""
    first, last = dates[0], dates[-1] + pd.Timedelta(days=WEEK_DAYS)
    out = []
    seen: dict[tuple[str, str, str], str] = {}
    for where, e in found:
        key = (e.channel, e.start, e.end)
        if key in seen:  # a copied row was counted twice: twice the evidence for one test
            raise InputError(f"{where} repeats {seen[key].rsplit(': ', 1)[-1]} ({e.channel} {e.start}..{e.end}): "
                             f"one test of a channel over one window; remove the copy")
        seen[key] = where
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


def recorded(rows: list[dict], channels: list[str], dates: pd.DatetimeIndex) -> tuple[Lift, ...]:
    """The tests a round's model fitted, rebuilt from its diagnostics rows (`report`) against the data."""
    tests = [Experiment(channel=r["channel"], start=r["start"], end=r["end"], spend=0.0,
                        incremental_kpi=r["incremental_kpi"], incremental_kpi_se=r["incremental_kpi_se"])
             for r in rows if r.get("used")]
    return lifts([(f"experiment {i}", e) for i, e in enumerate(tests, start=1)], channels, dates)


def uncalibrated(data: "ModelData | PanelData", cfg: Config, channels: list[str]) -> dict[str, Uncalibrated]:
    """Each tested channel's ROI from the data alone: one quick ridge refit without the test rows.

    Refitting the Bayesian models a second time would double the round's longest fits; ridge's refit
    takes seconds and is the same estimator that ran calibrated, so "how far the test moved it" compares
    like with like.
    """
    data = replace(data, lifts=())
    from prism.models import ridge_panel  # here, not at the top: planning and questions read this module, not ridge

    roi = roi_evidence(ridge_panel.quick_fit(data, cfg))[0]  # on a panel, refitted as a panel: its national ROI
    at = {ch: c for c, ch in enumerate(data.channels)}
    return {ch: Uncalibrated(roi=float(roi.mean[at[ch]]), roi_low=float(roi.low[at[ch]]),
                             roi_high=float(roi.high[at[ch]]), model=UNCALIBRATED_MODEL, method=UNCALIBRATED_METHOD)
            for ch in channels}


def used_path(ws: Workspace) -> Path:
    return ws.root.joinpath(*USED_FILE)


def used(ws: Workspace) -> list[tuple[str, Experiment]]:
    """(where, experiment) for the tests `prism run` / `prism loop` checked for this workspace (none: [])."""
    path = used_path(ws)
    if not path.is_file():
        return []
    tests = EXPERIMENT_LIST.validate_json(path.read_bytes())
    return [(f"{path}: experiment {i}", e) for i, e in enumerate(tests, start=1)]
