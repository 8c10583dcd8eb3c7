"""Matched market splits: which markets to treat in a test and which to keep as control.

As synthetic-control and GeoLift designs do, the control of a treated group is a synthetic control: the
non-negative combination of the control markets' weekly KPI that best reproduces the treated markets'
summed KPI over the history (constrained least squares, scipy's NNLS), so level, trend and season are
matched together. A split is judged by that fit's error, RMSE ÷ the treated KPI's mean over the history
(`fit_error`): the smaller, the better the controls stand in for what the treated markets would have done.

The treated group is searched as GeoLift ranks candidate groups: SAMPLES random groups of markets that run
the channel, each filled in random order to about the target share of the KPI (within SHARE_BAND), are
ranked by that error; the best is then improved by single swaps of a treated and a control market while
one lowers the error and keeps the share within the band (a greedy local search). At least MIN_CONTROL
markets stay as control.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_CONTROL = 2  # markets kept as control, at least
MIN_MARKETS = MIN_CONTROL + 2  # below this no split is designed (a treated group and its controls need room)
SHARE_BAND = (0.6, 1.4)  # a swap keeps the treated share of the KPI within this × the target
MAX_SWAP_PASSES = 20
SAMPLES = 200  # random treated groups near the target share, the best of which starts the swaps


@dataclass(frozen=True)
class Split:
    """Treated and control markets (positions), the control weights and the pre-period fit error."""

    treated: tuple[int, ...]
    control: tuple[int, ...]
    weights: np.ndarray  # (len(control),) synthetic-control weight of each control market
    fit_error: float  # RMSE of the synthetic control over the history ÷ the treated KPI's mean
    share: float  # the treated markets' share of the KPI


def control_fit(y: np.ndarray, treated: list[int] | tuple[int, ...], control: list[int] | tuple[int, ...]
                ) -> tuple[np.ndarray, float]:
    """(weights, fit error) of the synthetic control of `treated` from `control` on history y (n, G)."""
    from scipy.optimize import nnls  # here: `prism ask` imports the test plans' names, not scipy (0.26 s)

    target = y[:, list(treated)].sum(axis=1)
    pool = y[:, list(control)]
    weights = nnls(pool, target, maxiter=50 * pool.shape[1])[0]
    scale = abs(float(target.mean()))
    return weights, math.sqrt(float(np.mean((pool @ weights - target) ** 2))) / scale if scale > 0 else math.inf


def _error(y: np.ndarray, treated: list[int]) -> float:
    return control_fit(y, treated, [g for g in range(y.shape[1]) if g not in treated])[1]


def match_split(y: np.ndarray, share: float, eligible: np.ndarray, seed: int = 0) -> Split | None:
    """The matched split whose treated markets hold about `share` of the KPI of history y (n, G); only
    `eligible` markets (those that run the channel) are treated. None when no split fits (too few markets)."""
    n_markets = y.shape[1]
    if n_markets < MIN_MARKETS or not eligible.any():
        return None
    sizes = y.sum(axis=0) / y.sum()
    groups = _candidate_groups(sizes, share, eligible, n_markets - MIN_CONTROL, np.random.default_rng(seed))
    low, high = share * SHARE_BAND[0], share * SHARE_BAND[1]
    within = [g for g in groups if low <= sizes[list(g)].sum() <= high]
    if within:
        treated = _swapped(y, list(min(within, key=lambda g: _error(y, list(g)))), sizes, share, eligible)
    else:  # no group near the target (one market holds most of the KPI): the nearest in share
        treated = list(min(groups, key=lambda g: abs(sizes[list(g)].sum() - share)))
    control = tuple(g for g in range(n_markets) if g not in treated)
    weights, error = control_fit(y, treated, control)
    return Split(tuple(sorted(treated)), control, weights, error, float(sizes[treated].sum()))


def _candidate_groups(sizes: np.ndarray, share: float, eligible: np.ndarray, most: int,
                      rng: np.random.Generator) -> set[tuple[int, ...]]:
    """Up to SAMPLES treated groups: eligible markets in random order, each added unless it takes the group
    past SHARE_BAND's top, until the group holds the target share (or `most` markets)."""
    high = share * SHARE_BAND[1]
    out = set()
    for _ in range(SAMPLES):
        group: list[int] = []
        for g in rng.permutation(np.flatnonzero(eligible)):
            if sizes[group].sum() >= share or len(group) >= most:
                break
            if sizes[[*group, int(g)]].sum() <= high or not group:
                group.append(int(g))
        out.add(tuple(sorted(group)))
    return out


def _swapped(y: np.ndarray, treated: list[int], sizes: np.ndarray, share: float, eligible: np.ndarray) -> list[int]:
    """Single treated ↔ control swaps while one lowers the fit error within the share band."""
    low, high = share * SHARE_BAND[0], share * SHARE_BAND[1]
    best = _error(y, treated)
    for _ in range(MAX_SWAP_PASSES):
        moved = False
        for i, out in enumerate(list(treated)):
            for into in np.flatnonzero(eligible):
                if into in treated:
                    continue
                trial = treated[:i] + [int(into)] + treated[i + 1:]
                if not low <= sizes[trial].sum() <= high:
                    continue
                error = _error(y, trial)
                if error < best - 1e-12:
                    treated, best, moved = trial, error, True
                    break
            if moved:
                break
        if not moved:
            return treated
    return treated
