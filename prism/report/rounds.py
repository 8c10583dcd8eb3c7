"""Round-to-round comparison: what changed in the config, how ROI and agreement moved, what to flag.

Read from the per-round result and config files (`rounds/R{NN}_results.json`, `rounds/R{NN}_config.json`)
and the round records in `state.json`; used by the HTML page, the round-history chart and `prism compare-rounds A B`.
A channel is flagged when a model's ROI in the later round falls outside that model's 90 % interval
in the earlier round: a move bigger than the earlier round's own uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from prism.analysis.confidence import workspace_confidence
from prism.errors import InputError
from prism.report.tables import mean_roi
from prism.schemas import Results
from prism.workspace import Workspace, load_state, read_json, read_model

CONFIDENCE_LEVELS = ("high", "medium", "low")
MIN_INTERVAL_WIDTH = 1e-9  # narrower than this, a model reported a point estimate, not an interval


def load_round(ws: Workspace, round_no: int) -> Results:
    """A round's results; a missing round is bad input naming the file."""
    path = ws.round_results(round_no)
    if not path.exists():
        raise InputError(f"{path}: file not found (round {round_no} has no results)")
    return read_model(path, Results)


def available_rounds(ws: Workspace, upto: int | None = None) -> list[int]:
    """Round numbers with a results file, oldest first."""
    if not ws.rounds_dir.exists():
        return []
    found = []
    for p in ws.rounds_dir.glob("R*_results.json"):
        digits = p.name[1:].split("_", 1)[0]
        if digits.isdigit() and (upto is None or int(digits) <= upto):
            found.append(int(digits))
    return sorted(found)


def round_series(ws: Workspace, upto: int | None = None) -> pd.DataFrame:
    """One row per round: tuning objective and how many channels reached each confidence level (the label the
    report acts on, not agreement alone)."""
    rows = []
    for r in available_rounds(ws, upto):
        res = load_round(ws, r)
        labels = [c.label for c in workspace_confidence(ws, res).values()]  # compare's labels, else computed alike
        rows.append({"round": r, "objective": res.objective,
                     **{level: labels.count(level) for level in CONFIDENCE_LEVELS}})
    return pd.DataFrame(rows, columns=["round", "objective", *CONFIDENCE_LEVELS])


@dataclass
class ChannelMove:
    """How one channel's ROI and agreement moved from round A to round B."""

    channel: str
    roi_a: float | None
    roi_b: float | None
    agreement_a: str
    agreement_b: str
    outside: list[str] = field(default_factory=list)  # models whose B ROI left their A interval

    @property
    def flagged(self) -> bool:
        return bool(self.outside)


@dataclass
class RoundComparison:
    a: int
    b: int
    changes: list[tuple[int, str]]
    config_diff: list[tuple[str, Any, Any]]
    objective_a: float | None
    objective_b: float | None
    test_mape: dict[str, tuple[float | None, float | None]]
    channels: list[ChannelMove]


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: value}


def _config_diff(ws: Workspace, a: int, b: int) -> list[tuple[str, Any, Any]]:
    """Settings that differ between the configs the two rounds ran with (`rounds/R{NN}_config.json`,
    snapshotted by the loop before each round's models run); empty when a snapshot is missing."""
    paths = [ws.round_file(n, "config", "json") for n in (a, b)]
    if not all(p.exists() for p in paths):
        return []
    fa, fb = (_flatten("", read_json(p)) for p in paths)
    return [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def _moved_outside(ra: Results, rb: Results, channel: str) -> list[str]:
    out = []
    for model, mb in rb.ok_models().items():
        ma = ra.ok_models().get(model)
        if ma is None or channel not in ma.channels or channel not in mb.channels:
            continue
        before, roi = ma.channels[channel], mb.channels[channel].roi
        if before.roi_high - before.roi_low <= MIN_INTERVAL_WIDTH:
            continue  # a point estimate (e.g. a quick MAP fit) has no interval to leave
        if not before.roi_low <= roi <= before.roi_high:
            out.append(model)
    return out


def compare_rounds(ws: Workspace, a: int, b: int) -> RoundComparison:
    """Compare round `a` (earlier) with round `b` (later)."""
    if a == b:
        raise InputError(f"compare-rounds needs two different rounds, got {a} twice")
    ra, rb = load_round(ws, a), load_round(ws, b)
    lo, hi = sorted((a, b))
    changes = [(rec.round, rec.change) for rec in load_state(ws).rounds if lo < rec.round <= hi]
    channels = []
    for ch in dict.fromkeys([*rb.channels, *ra.channels]):
        agree_a, agree_b = ra.agreement.get(ch), rb.agreement.get(ch)
        channels.append(ChannelMove(
            channel=ch, roi_a=mean_roi(ra, ch), roi_b=mean_roi(rb, ch),
            agreement_a=agree_a.label if agree_a else "n/a", agreement_b=agree_b.label if agree_b else "n/a",
            outside=_moved_outside(ra, rb, ch)))
    models = dict.fromkeys([*ra.models, *rb.models])
    test = {m: (_test_mape(ra, m), _test_mape(rb, m)) for m in models}
    return RoundComparison(a=a, b=b, changes=changes, config_diff=_config_diff(ws, a, b),
                           objective_a=ra.objective, objective_b=rb.objective, test_mape=test, channels=channels)


def _test_mape(res: Results, model: str) -> float | None:
    m = res.models.get(model)
    return m.fit.mape_test if m is not None and m.status == "ok" and m.fit is not None else None


def previous_round(ws: Workspace, round_no: int) -> int | None:
    """The latest round before `round_no` that has results."""
    earlier = [r for r in available_rounds(ws) if r < round_no]
    return earlier[-1] if earlier else None
