"""What each lift test changed: a tested channel's calibrated ROI beside its ROI from the data alone.

The calibrated figure is the round's (mean of the models that ran, with the likely range every deliverable
quotes: `Results.likely_range`, the pooled draws' 90 % interval or else the models' envelope); the figure
without the test is `Results.uncalibrated`, ridge refitted on the same weeks without the test rows
(models/experiments.py: the Bayesian models are not fitted twice). How far the test moved the estimate
compares like with like: ridge with the test (the round's ridge, else the round's mean when ridge did not
run) against ridge without it. Every deliverable and the number check read these rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prism.models.experiments import EXPERIMENTS_KEY
from prism.schemas import Results, Uncalibrated


@dataclass(frozen=True)
class LiftEffect:
    """One tested channel: its tests, the calibrated ROI and range, the ROI without the tests."""

    channel: str
    tests: tuple[tuple[str, str, float, float], ...]  # (start, end, incremental_kpi, se) per test
    roi: float
    roi_low: float
    roi_high: float
    range_pooled: bool  # roi_low–roi_high is the pooled draws' 90 % interval, else the models' envelope
    without: Uncalibrated
    moved_from: float  # the estimator's ROI without the tests ...
    moved_to: float  # ... and with them: the same estimator's, else the round's mean
    same_model: bool  # moved_to is the same estimator's (it ran this round)

    @property
    def moved_pct(self) -> float | None:
        """How far the tests moved the estimate, % of the figure without them (None when that is 0)."""
        return 100.0 * (self.moved_to / self.moved_from - 1.0) if self.moved_from else None

    @property
    def windows(self) -> str:
        return "; ".join(f"{start} to {end}" for start, end, _, _ in self.tests)


def lift_effects(res: Results) -> list[LiftEffect]:
    """One row per channel the round has a figure without tests for, in the results' channel order."""
    ok = res.ok_models()
    out = []
    for ch in res.channels:
        without, rows = res.uncalibrated.get(ch), [m.channels[ch] for m in ok.values() if ch in m.channels]
        if without is None or not rows:
            continue
        roi = float(np.mean([r.roi for r in rows]))
        low, high, pooled = res.likely_range(ch)
        same = ok.get(without.model)
        same_model = same is not None and ch in same.channels
        out.append(LiftEffect(channel=ch, tests=_tests(res, ch), roi=roi, roi_low=low, roi_high=high,
                              range_pooled=pooled, without=without, moved_from=without.roi,
                              moved_to=same.channels[ch].roi if same_model else roi, same_model=same_model))
    return out


def _tests(res: Results, channel: str) -> tuple[tuple[str, str, float, float], ...]:
    """The channel's tests as the models recorded them (each once)."""
    seen = {(r["start"], r["end"], float(r["incremental_kpi"]), float(r["incremental_kpi_se"])): None
            for m in res.ok_models().values() for r in m.diagnostics.get(EXPERIMENTS_KEY, [])
            if r["channel"] == channel}
    return tuple(seen)
