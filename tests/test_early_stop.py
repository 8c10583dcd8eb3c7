"""The audit and the test plans stop their simulations once the answer cannot change."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from prism.analysis import test_plan as tp
from prism.analysis.audit import _recovery, settled, verdict

TRUTH = np.array([1.0, 1.0])


def _refit(estimate: tuple[float, float], low: float = 0.5, high: float = 1.5) -> tuple[np.ndarray, ...]:
    roi = np.array(estimate)
    return TRUTH, roi, roi * low, roi * high


def test_the_audit_stops_only_when_no_remaining_refit_could_change_a_verdict() -> None:
    far_off = _refit((3.0, 3.0), low=0.9, high=1.1)  # 200 % off, interval misses: `not` for both channels
    assert not settled([far_off] * 9, 20) and settled([far_off] * 10, 20)
    close = _refit((1.05, 3.0))  # channel 1 identifiable, channel 2 not
    assert not settled([close] * 14, 20) and settled([close] * 15, 20)  # 5 undetected of 20 is still not "more than 25 %"
    error, _, coverage, undetected = _recovery([close] * 15)
    assert [verdict(*v) for v in zip(error, coverage, undetected)] == ["identifiable", "not"]


def test_the_strongest_design_stops_once_the_channel_is_undecided(monkeypatch) -> None:
    """More than MAX_MISSES undecided (± ∞) simulated tests: the promise is ∞ whatever the rest would give."""
    seen: list[int] = []

    def simulate(job) -> float:
        seen.append(job[-1])
        return math.inf

    monkeypatch.setattr(tp, "simulate_test", simulate)
    with ThreadPoolExecutor(1) as pool:
        out = tp.evaluate(pool, None, None, 0, tp.STRONGEST, k=10, seed=0, jobs=1, early_stop=False)
    assert not out.passed and math.isinf(out.promised) and len(seen) == tp.MAX_MISSES + 1
