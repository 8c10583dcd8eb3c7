"""Budget allocation that is globally optimal on S-shaped response curves.

Greedy and gradient methods stop early where a Hill slope > 1 makes a channel's first units nearly
worthless (its marginal return at zero is ~0), so they never start a channel that would pay off at
scale. Instead:
1. each channel's exact per-draw response is evaluated on a grid spanning its limits;
2. exact dynamic programming over budget units picks the best split of the budget on that grid
   (separable objective: the mean over draws of a sum is the sum of the means), for every budget at
   once, so the flexible budget reads its answer off the same table;
3. a local search on the exact draws refines the DP's answer: pairwise transfers (the budget stays
   fixed), each accepted only if the objective improves.

`cvar` (mean of the worst 10 % of pooled draws of the total) is not separable: the worst draws of a
sum are not the worst draws of its parts. It is solved by two DP starts, the mean and the sum of each
channel's own worst-10 % mean (a lower bound of the CVaR of the sum, which is superadditive), each
refined by the local search on the exact pooled CVaR (subgradient: the worst draws' mean slope), and
the better one is kept. Where every curve is concave the pooled CVaR is concave too, so the local
search ends at its global maximum; the DP starts carry it past the convex (S-shaped) stretches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from prism.errors import InputError
from prism.planning.constraints import Limits
from prism.planning.horizon import Horizon

OBJECTIVES = ("mean", "cvar")
CVAR_SHARE = 0.10  # cvar = mean of the worst 10 % of draws
GRID_POINTS = 32  # exact response evaluations per channel for the first DP
ZOOM = 2  # the second DP spans ±2 first-grid steps around the first answer
ZOOM_POINTS = 17  # … on this many exact levels per channel
DP_UNITS = 400  # budget units of a fixed-budget DP (0.25 % of the slack each)
FLEX_UNITS = 600  # budget units of the flexible DP, spanning up to FLEX_CAP × the current budget
FLEX_CAP = 3.0  # a flexible budget is searched up to 3× the current one
MAX_MOVES = 20  # accepted moves per step size of the local search
BUDGET_TOL = 1e-6  # relative slack when checking a budget against the limits

Score = Callable[[np.ndarray], np.ndarray]


def tail_mean(draws: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean of the worst CVAR_SHARE of draws along `axis`."""
    k = max(1, int(np.ceil(CVAR_SHARE * draws.shape[axis])))
    return np.mean(np.sort(draws, axis=axis).take(np.arange(k), axis=axis), axis=axis)


@dataclass(frozen=True)
class Objective:
    """What a plan maximises over the pooled draws of its total KPI."""

    kind: str = "mean"

    def __post_init__(self) -> None:
        if self.kind not in OBJECTIVES:
            raise InputError(f"--objective {self.kind}: choose one of {', '.join(OBJECTIVES)}")

    def value(self, total: np.ndarray) -> float:
        return float(total.mean() if self.kind == "mean" else tail_mean(total))

    def weights(self, total: np.ndarray) -> np.ndarray:
        """Draw weights whose dot product with a per-draw change is the objective's first-order change."""
        if self.kind == "mean":
            return np.full(len(total), 1.0 / len(total))
        k = max(1, int(np.ceil(CVAR_SHARE * len(total))))
        w = np.zeros(len(total))
        w[np.argsort(total)[:k]] = 1.0 / k
        return w

    def dp_scores(self) -> list[Score]:
        """Separable scores to start the DP from (see the module docstring)."""
        mean: Score = lambda d: d.mean(axis=0)  # noqa: E731
        return [mean] if self.kind == "mean" else [mean, lambda d: tail_mean(d, axis=0)]


# ------------------------------------------------------------------------------------------ DP
def response_grid(h: Horizon, lo: np.ndarray, hi: np.ndarray,
                  points: int = GRID_POINTS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per channel: (levels, (S, G) draws) on an exact grid spanning [lo, hi]."""
    out = []
    for c in range(len(lo)):
        levels = np.unique(np.linspace(lo[c], hi[c], points)) if hi[c] > lo[c] else np.array([lo[c]])
        out.append((levels, h.curve(c, levels)))
    return out


def dp_table(values: list[np.ndarray], n_units: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """F[b] = best sum of values[c][k_c] with Σ k_c = b, and each channel's argmax k for backtracking."""
    best = np.full(n_units + 1, -np.inf)
    best[0] = 0.0
    choices = []
    for v in values:
        lag = np.arange(n_units + 1)[:, None] - np.arange(len(v))[None, :]
        cand = np.where(lag >= 0, best[np.clip(lag, 0, None)] + v[None, :], -np.inf)
        arg = cand.argmax(axis=1)
        best = cand[np.arange(n_units + 1), arg]
        choices.append(arg)
    return best, choices


def backtrack(choices: list[np.ndarray], b: int) -> np.ndarray:
    ks = np.zeros(len(choices), dtype=int)
    for c in range(len(choices) - 1, -1, -1):
        ks[c] = choices[c][b]
        b -= ks[c]
    return ks


def dp_values(grid: list[tuple[np.ndarray, np.ndarray]], lo: np.ndarray, hi: np.ndarray, unit: float,
              n_units: int, score: Score) -> list[np.ndarray]:
    """Score of giving each channel k units above its minimum, k = 0 … its room (interpolated on the grid)."""
    out = []
    for (levels, draws), l, h in zip(grid, lo, hi):
        k_max = min(int(np.floor((h - l) / unit + 1e-9)), n_units) if unit > 0 else 0
        out.append(np.interp(l + np.arange(k_max + 1) * unit, levels, score(draws)))
    return out


# ------------------------------------------------------------------------------------ local search
def refine(h: Horizon, x: np.ndarray, lim: Limits, obj: Objective, step: float, floor: float) -> np.ndarray:
    """Local search on the exact draws from `x`: pairwise transfers (Σx stays), each accepted only if
    the objective improves, the step halving from `step` to `floor`."""
    x = np.clip(x.astype(float), lim.lo, lim.hi)
    total = h.plan_kpi(x)
    best = obj.value(total)
    while step >= floor > 0:
        for _ in range(MAX_MOVES):
            moved = _pair_move(h, x, lim, obj, step, total)
            if moved is None:
                break
            trial = h.plan_kpi(moved)
            if obj.value(trial) <= best + 1e-12 * abs(best):
                break
            x, total, best = moved, trial, obj.value(trial)
        step /= 2.0
    return x


def _slopes(h: Horizon, x: np.ndarray, lim: Limits, w: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Per channel: weighted KPI gained per unit added (up) and lost per unit removed (down)."""
    up, down = np.full(len(x), -np.inf), np.full(len(x), np.inf)
    for c in range(len(x)):
        here = h.kpi(c, x[c])
        if x[c] + 1e-12 < lim.hi[c]:
            d = min(step, lim.hi[c] - x[c])
            up[c] = float(w @ (h.kpi(c, x[c] + d) - here)) / d
        if x[c] - 1e-12 > lim.lo[c]:
            d = min(step, x[c] - lim.lo[c])
            down[c] = float(w @ (here - h.kpi(c, x[c] - d))) / d
    return up, down


def _pair_move(h: Horizon, x: np.ndarray, lim: Limits, obj: Objective, step: float,
               total: np.ndarray) -> np.ndarray | None:
    up, down = _slopes(h, x, lim, obj.weights(total), step)
    order_up, order_down = np.argsort(-up), np.argsort(down)
    i = order_up[0]
    j = order_down[0] if order_down[0] != i else (order_down[1] if len(x) > 1 else i)
    if i == j or not np.isfinite(up[i]) or not np.isfinite(down[j]) or up[i] <= down[j]:
        return None
    d = min(step, lim.hi[i] - x[i], x[j] - lim.lo[j])
    out = x.copy()
    out[i] += d
    out[j] -= d
    return out


# ------------------------------------------------------------------------------------------ solvers
def _fill(x: np.ndarray, lim: Limits, budget: float) -> np.ndarray:
    """Spread what the grid left unspent over the channels' remaining room, in proportion to it."""
    left = budget - x.sum()
    room = lim.hi - x
    if left <= 0 or room.sum() <= 0:
        return x
    return x + room * min(1.0, left / room.sum())


LIMITS_HINT = "check --bounds, --lock, --max-change"


def check_budget(lim: Limits, budget: float, weeks: int, hint: str = LIMITS_HINT) -> None:
    low, high = lim.lo.sum(), lim.hi.sum()
    if budget < low * (1 - BUDGET_TOL) - 1e-9 or budget > high * (1 + BUDGET_TOL) + 1e-9:
        raise InputError(f"--budget {budget * weeks:,.0f}: the limits allow only {low * weeks:,.0f} to "
                         f"{high * weeks:,.0f} over {weeks} weeks ({hint})")


def _dp_plan(h: Horizon, lo: np.ndarray, hi: np.ndarray, budget: float, score: Score,
             points: int) -> tuple[np.ndarray, np.ndarray]:
    """DP on an exact `points`-level grid per channel within [lo, hi]; (plan, grid spacing per channel)."""
    slack = budget - lo.sum()
    unit = slack / DP_UNITS
    grid = response_grid(h, lo, hi, points)
    best, choices = dp_table(dp_values(grid, lo, hi, unit, DP_UNITS, score), DP_UNITS)
    b = int(np.nonzero(np.isfinite(best))[0][-1])
    x = _fill(lo + backtrack(choices, b) * unit, Limits(lo, hi), budget)
    return x, (hi - lo) / max(points - 1, 1)


def solve_budget(h: Horizon, lim: Limits, budget: float, obj: Objective, hint: str = LIMITS_HINT) -> np.ndarray:
    """Best weekly plan spending exactly `budget` a week within the limits.

    The DP runs twice: over each channel's whole range, then zoomed to ±ZOOM grid steps around that
    answer (a finer exact grid where the optimum lies), before the local search polishes it.
    """
    check_budget(lim, budget, h.weeks, hint)
    slack = budget - lim.lo.sum()
    if slack <= BUDGET_TOL * max(budget, 1.0):
        return lim.lo.copy()
    hi = np.minimum(lim.hi, lim.lo + slack)
    plans = []
    for score in obj.dp_scores():
        x, spacing = _dp_plan(h, lim.lo, hi, budget, score, GRID_POINTS)
        box_lo, box_hi = np.maximum(lim.lo, x - ZOOM * spacing), np.minimum(hi, x + ZOOM * spacing)
        if box_lo.sum() <= budget <= box_hi.sum():
            x, spacing = _dp_plan(h, box_lo, box_hi, budget, score, ZOOM_POINTS)
        plans.append(refine(h, x, Limits(lim.lo, hi), obj, float(spacing.max()), slack / DP_UNITS / 64))
    return max(plans, key=lambda p: obj.value(h.plan_kpi(p)))


@dataclass(frozen=True)
class Flexible:
    """The budget a target implies: spend while the marginal return (mROI) or the plan's ROI stays ≥ target."""

    target: float
    kind: str  # "mroi" | "roi"

    def pick(self, best: np.ndarray, spend: np.ndarray, weeks: int) -> int:
        """Budget unit whose DP optimum meets the target (best: KPI per budget unit; spend: weekly)."""
        ok = np.isfinite(best)
        if self.kind == "mroi":
            return int(np.argmax(np.where(ok, best - self.target * weeks * spend, -np.inf)))
        meets = np.nonzero(ok & (best >= self.target * weeks * spend))[0]
        return int(meets[-1]) if len(meets) else 0


def flexible_cap(h: Horizon, lim: Limits) -> float:
    """The largest weekly budget a target may imply: FLEX_CAP × today's, within the limits."""
    return float(min(lim.hi.sum(), max(FLEX_CAP * h.current.sum(), lim.lo.sum())))


def solve_flexible(h: Horizon, lim: Limits, obj: Objective, target: Flexible) -> np.ndarray:
    """Best weekly plan at the budget the target implies (read off the mean DP over every budget up to
    the cap: the mROI target maximises KPI − target × spend, the ROI target takes the largest budget
    whose plan still returns the target), then solved at that budget with the chosen objective."""
    top = flexible_cap(h, lim)
    slack = top - lim.lo.sum()
    if slack <= 0:
        return lim.lo.copy()
    hi = np.minimum(lim.hi, lim.lo + slack)
    unit = slack / FLEX_UNITS
    grid = response_grid(h, lim.lo, hi)
    best, _ = dp_table(dp_values(grid, lim.lo, hi, unit, FLEX_UNITS, lambda d: d.mean(axis=0)), FLEX_UNITS)
    b = target.pick(best, lim.lo.sum() + np.arange(FLEX_UNITS + 1) * unit, h.weeks)
    return solve_budget(h, Limits(lim.lo, hi), lim.lo.sum() + b * unit, obj)
