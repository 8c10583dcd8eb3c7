"""What the agents ask of the knowledge layer, as pure functions over typed inputs.

- Explorer: `inspect_issue` looks at the weeks a known issue names in the modelled data.
- Reporter: `informed_channels` says which channels' priors came from the knowledge layer.
- Critic (plausibility): `roi_outside_expected` lists channels whose ROI falls outside the expected range.
- Tuner: `unapplied_decay_benchmarks` lists carry-over benchmarks config.json does not yet fix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from prism.models.priors import FROM_KNOWLEDGE, INFORMED_KEY
from prism.schemas import Config, Knowledge, KnownIssue, Results

DECAY_TOLERANCE = 0.01  # a config decay this close to the benchmark counts as applied
PRIOR_KINDS = ("roi", "decay")


@dataclass(frozen=True)
class IssueWeeks:
    """A known issue checked against the data: the weeks it names that the data has, and how they differ."""

    issue: KnownIssue
    column: str | None
    weeks: list[str]
    mean_inside: float | None = None
    mean_outside: float | None = None
    zero_weeks: int = 0

    @property
    def change_pct(self) -> float | None:
        """How far the column's mean in the named weeks sits from its mean in the others (%)."""
        if self.mean_inside is None or not self.mean_outside:
            return None
        return 100.0 * (self.mean_inside / self.mean_outside - 1.0)


def inspect_issue(issue: KnownIssue, frame: pd.DataFrame, date_column: str, default_column: str) -> IssueWeeks:
    """The weeks of `frame` inside the issue's period, with the named column's mean there and elsewhere.

    An issue without a period touches no particular week; one naming a column the data lacks is checked
    on the KPI (`default_column`) and says so through `column`.
    """
    column = issue.column if issue.column in frame.columns else default_column
    if issue.start is None:
        return IssueWeeks(issue, column, [])
    dates = pd.to_datetime(frame[date_column])
    inside = ((dates >= pd.Timestamp(issue.start)) & (dates <= pd.Timestamp(issue.end or issue.start))).to_numpy()
    weeks = [str(d.date()) for d in dates[inside]]
    if not weeks:
        return IssueWeeks(issue, column, [])
    values = frame[column].astype(float).to_numpy()
    outside = values[~inside]
    return IssueWeeks(issue, column, weeks, float(values[inside].mean()),
                      float(outside.mean()) if len(outside) else None, int((values[inside] == 0).sum()))


def informed_channels(results: Results) -> dict[str, list[str]]:
    """{"roi": [...], "decay": [...]}: channels whose prior came from the knowledge layer in any model that ran."""
    out: dict[str, set[str]] = {k: set() for k in PRIOR_KINDS}
    for model in results.ok_models().values():
        recorded = model.diagnostics.get(INFORMED_KEY) or {}
        for kind in PRIOR_KINDS:
            out[kind] |= {ch for ch, origin in (recorded.get(kind) or {}).items() if origin == FROM_KNOWLEDGE}
    return {k: sorted(v) for k, v in out.items()}


@dataclass(frozen=True)
class RoiOutside:
    """A channel whose estimated ROI falls outside the business's expected range (both numbers kept)."""

    channel: str
    roi: float
    expected_min: float
    expected_max: float

    @property
    def direction(self) -> str:
        return "below" if self.roi < self.expected_min else "above"


def roi_outside_expected(rois: dict[str, float], knowledge: Knowledge) -> list[RoiOutside]:
    """Channels whose ROI (e.g. the mean across models) lies outside their expected range, in `rois` order."""
    ranges = knowledge.roi_ranges(list(rois))
    return [RoiOutside(ch, roi, *ranges[ch]) for ch, roi in rois.items()
            if ch in ranges and np.isfinite(roi) and not ranges[ch][0] <= roi <= ranges[ch][1]]


def unapplied_decay_benchmarks(cfg: Config, knowledge: Knowledge) -> dict[str, float]:
    """Benchmark decays config.json does not fix yet (the Tuner's candidate: `adstock.channel_decays`).

    A channel whose decay the config already sets to the benchmark, or whose adstock has no decay
    (Weibull), has nothing left to apply.
    """
    if cfg.adstock.type == "weibull":
        return {}
    fixed = cfg.adstock.channel_decays
    return {ch: d for ch, d in knowledge.decay_benchmarks(cfg.data.channels).items()
            if ch not in fixed or abs(fixed[ch] - d) > DECAY_TOLERANCE}
