"""`prism optimize` and `prism scenario` as functions: a budget plan and what-if scenarios from kept draws.

Every amount a user reads is spend over the horizon (`weeks` weeks); the solvers work per week.
Consensus (the default) pools the draws of the models that ran, each model weighing the same, and
recommends a move only when it raises the KPI in ≥ 90 % of the pooled draws AND in every model's mean;
a plan that fails is shrunk toward the reference mix until it passes (or the mix is held). Channels
below `high` confidence stay within ±10 % of their current spend unless unlocked. What they would get
if tests confirmed them (`if_confirmed`) is the plan solved with them unlocked, through the same
consensus rule and limits (one solve for all: one per channel made `optimize` 4× slower). An unlocked
channel moves at most from half to twice today's share (`CONFIRMED_RANGE`) unless `--max-change` or a
`--bounds` on it says otherwise: a lift test confirms the return near the spend it tested, and the
uncapped solve gave one channel of the bundled brand the whole budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from prism.errors import InputError
from prism.planning import constraints as K
from prism.planning.horizon import DEFAULT_WEEKS, Horizon, interval
from prism.planning.names import resolve
from prism.planning.optimizer import (LIMITS_HINT, Flexible, Objective, flexible_cap, solve_budget,
                                      solve_flexible)
from prism.planning.source import CONSENSUS, Pool, ResponseSource, plannable, pool, select

CONSENSUS_SHARE = 0.90  # a move must raise the KPI in at least 90 % of pooled draws
UNCONFIRMED_MOVE = 0.10  # channels below high confidence move at most ±10 % from today's mix (scaled to the budget)
CONFIRMED_RANGE = (0.5, 2.0)  # an unlocked (test-confirmed) channel: from half to twice today's mix, by default
UNLOCK_RULE = "half to twice today's share unless --max-change or --bounds say otherwise"
SHRINK_STEPS = (1.0, 0.75, 0.5, 0.25, 0.1)  # fractions of a failing move tried, largest first
CONSERVATIVE, AGGRESSIVE = 0.10, 0.30  # scenarios.csv: moves of at most ±10 % and ±30 %
HIGH = "high"
SAME_SPEND = 1e-6  # relative: a plan within this of today's spend in every channel does not change it
TOTAL = "total"
PLAN_COLUMNS = ["channel", "current", "recommended", "change_pct", "expected_kpi_change",
                "expected_kpi_change_low", "expected_kpi_change_high", "confidence", "if_confirmed"]
SCENARIO_COLUMNS = ["scenario", "description", "spend", "change_pct", "expected_kpi_change",
                    "expected_kpi_change_low", "expected_kpi_change_high", "prob_gain"]


CONFIRMED_GAP = 0.005  # an if_confirmed spend within 0.5 % of the plan's is no move


def confirmed_moves(frame: pd.DataFrame) -> pd.DataFrame:
    """optimization.csv's rows whose `if_confirmed` spend differs from the plan's: what a confirming test would
    change. A channel whose unlocked plan is the same spend (the models back no larger move) is not one."""
    if "if_confirmed" not in frame:
        return frame.iloc[:0]
    held = frame[frame["if_confirmed"].notna()]
    gap = (held["if_confirmed"] - held["recommended"]).abs()
    return held[gap > CONFIRMED_GAP * held["recommended"].abs().clip(lower=1.0)]


@dataclass
class PlanRequest:
    """The options of `prism optimize` (amounts over the horizon; items as typed on the command line)."""

    weeks: int = DEFAULT_WEEKS
    budget: float | None = None
    bounds: list[str] = field(default_factory=list)
    max_change: float | None = None
    locks: list[str] = field(default_factory=list)
    unlock: list[str] = field(default_factory=list)
    target_mroi: float | None = None
    target_roi: float | None = None
    objective: str = "mean"
    model: str = CONSENSUS

    def target(self) -> Flexible | None:
        for option, value in (("--target-mroi", self.target_mroi), ("--target-roi", self.target_roi)):
            if value is not None and not (np.isfinite(value) and value > 0):
                raise InputError(f"{option} {value:g}: a target must be a finite number above 0")
        if self.target_mroi is not None and self.target_roi is not None:
            raise InputError("--target-mroi and --target-roi exclude each other: give one")
        if (self.target_mroi is not None or self.target_roi is not None) and self.budget is not None:
            raise InputError("--budget and --target-mroi/--target-roi exclude each other: a target sets the budget")
        if self.target_mroi is not None:
            return Flexible(self.target_mroi, "mroi")
        return Flexible(self.target_roi, "roi") if self.target_roi is not None else None


@dataclass(frozen=True)
class Outcome:
    """KPI change of a plan against current spend, over the pooled draws."""

    kpi: np.ndarray  # (S,) per draw
    by_model: dict[str, float]
    moved: bool = True  # False: the plan spends what is spent today, so there is no gain to have a chance of

    @property
    def summary(self) -> tuple[float, float, float]:
        return interval(self.kpi)

    @property
    def prob_gain(self) -> float | None:
        """Share of the pooled draws in which the plan raises the KPI; None when the spend does not change
        (its KPI change is rounding noise around zero, and a "29 % chance of gain" from it is meaningless)."""
        return float((self.kpi > 0).mean()) if self.moved else None


@dataclass
class ChannelLine:
    channel: str
    current: float
    recommended: float
    kpi: tuple[float, float, float]
    confidence: str = ""
    if_confirmed: float | None = None

    @property
    def change_pct(self) -> float | None:
        return (self.recommended / self.current - 1.0) * 100.0 if self.current > 0 else None


@dataclass
class Plan:
    """A recommended allocation with its expected KPI change, the consensus evidence and notes."""

    weeks: int
    model: str
    objective: str
    lines: list[ChannelLine]
    outcome: Outcome
    budget_set_by: str  # "current spend" | "--budget" | "--target-mroi X" | "--target-roi X"
    notes: list[str] = field(default_factory=list)

    @property
    def budget(self) -> float:
        return sum(line.recommended for line in self.lines)

    def frame(self) -> pd.DataFrame:
        """optimization.csv: one row per channel plus the total row."""
        rows = [{"channel": ln.channel, "current": ln.current, "recommended": ln.recommended,
                 "change_pct": ln.change_pct, "expected_kpi_change": ln.kpi[0],
                 "expected_kpi_change_low": ln.kpi[1], "expected_kpi_change_high": ln.kpi[2],
                 "confidence": ln.confidence, "if_confirmed": ln.if_confirmed} for ln in self.lines]
        cur = sum(ln.current for ln in self.lines)
        mean, low, high = self.outcome.summary
        rows.append({"channel": TOTAL, "current": cur, "recommended": self.budget,
                     "change_pct": (self.budget / cur - 1.0) * 100.0 if cur > 0 else None,
                     "expected_kpi_change": mean, "expected_kpi_change_low": low, "expected_kpi_change_high": high,
                     "confidence": "", "if_confirmed": None})
        return pd.DataFrame(rows, columns=PLAN_COLUMNS)


class Planner:
    """One horizon over the chosen models' draws; plans and scenarios share its cached responses."""

    def __init__(self, sources: dict[str, ResponseSource], model: str = CONSENSUS, weeks: int = DEFAULT_WEEKS,
                 confidence: dict[str, str] | None = None, labels: dict[str, str] | None = None):
        self.source: Pool | None = plannable(pool(select(sources, model)))
        self._start(Horizon(self.source, weeks), model, self.source.slices, confidence, labels)

    @classmethod
    def over(cls, h: Horizon, confidence: dict[str, str] | None, labels: dict[str, str] | None = None) -> "Planner":
        """A consensus planner on a horizon built elsewhere (the portfolio's, over many entities' pooled draws):
        the same limits, confidence caps and 90 %-of-draws rule; its rows pair draws of different entities, so
        there is no model whose mean it could also ask for, and no pool of its own."""
        planner = cls.__new__(cls)
        planner.source = None
        planner._start(h, CONSENSUS, {}, confidence, labels)
        return planner

    def _start(self, h: Horizon, model: str, slices: dict[str, slice], confidence: dict[str, str] | None,
               labels: dict[str, str] | None) -> None:
        self.model, self.h = model, h
        self.slices = slices  # the rows of each model, for the every-model-mean rule
        self.channels = h.channels
        self.confidence = confidence
        self.labels = labels or {}
        self.responses_key: str | None = None  # where its responses are kept between processes (outputs.py)

    @property
    def weeks(self) -> int:
        return self.h.weeks

    @property
    def current(self) -> np.ndarray:
        """(C,) current spend over the horizon."""
        return self.h.current * self.weeks

    def name(self, text: str, where: str) -> str:
        return resolve(text, self.channels, self.labels, where)

    # ----------------------------------------------------------------------------- outcomes
    def outcome(self, weekly: np.ndarray) -> Outcome:
        """KPI change of a weekly plan against the current weekly spend."""
        kpi = self.h.plan_kpi(weekly) - self.h.plan_kpi(self.h.current)
        return Outcome(kpi, {m: float(kpi[s].mean()) for m, s in self.slices.items()},
                       moved=not np.allclose(weekly, self.h.current, rtol=SAME_SPEND, atol=0.0))

    def channel_kpi(self, c: int, weekly: float) -> tuple[float, float, float]:
        return interval(self.h.kpi(c, weekly) - self.h.kpi(c, self.h.current[c]))

    # ----------------------------------------------------------------------------- optimize
    def capped(self, req: PlanRequest, locked: list[str]) -> tuple[list[str], list[str]]:
        """Channels below high confidence: those held within ±10 %, and those `--unlock` frees. Every plan
        honours the label, one model's as well as the consensus: alone, ridge cut a low-confidence channel by
        100 % and lightweight_mmm raised one by 74,646 % on a retailer's data."""
        unlocked = {self.name(u, "--unlock") for u in K.split_items(req.unlock)}
        conf = self.confidence or {}
        below = [ch for ch in self.channels if conf.get(ch) != HIGH and ch not in locked]
        return [ch for ch in below if ch not in unlocked], [ch for ch in below if ch in unlocked]

    def limits(self, req: PlanRequest, cap_weekly: float, capped: list[str], locked: list[str],
               unlocked: list[str] = ()) -> K.Limits:
        """The user's limits, tightened to ±10 % for `capped` channels and to `CONFIRMED_RANGE` for `unlocked`
        ones the user set no --bounds or --max-change for."""
        bounds = K.parse_bounds(K.split_items(req.bounds), self.channels, self.current, self.labels)
        ref = self.reference(cap_weekly)
        lim = K.build_limits(self.channels, self.h.current, self.weeks, cap_weekly, bounds, req.max_change, locked,
                             ref)
        ranged = [ch for ch in unlocked if req.max_change is None and ch not in bounds]
        lo, hi = np.zeros(len(self.channels)), np.full(len(self.channels), np.inf)
        for c, ch in enumerate(self.channels):
            if ch in capped:
                lo[c], hi[c] = ref[c] * (1 - UNCONFIRMED_MOVE), ref[c] * (1 + UNCONFIRMED_MOVE)
            elif ch in ranged:
                lo[c], hi[c] = ref[c] * CONFIRMED_RANGE[0], ref[c] * CONFIRMED_RANGE[1]
        return lim.tighten(lo, hi)

    def reference(self, budget_weekly: float) -> np.ndarray:
        """Today's mix scaled to a weekly budget: what a plan's moves are measured from."""
        now = self.h.current
        return now * (budget_weekly / now.sum()) if now.sum() > 0 and np.isfinite(budget_weekly) else now

    def solve(self, req: PlanRequest, lim: K.Limits, hint: str = LIMITS_HINT) -> np.ndarray:
        obj, target = Objective(req.objective), req.target()
        if target is not None:
            return solve_flexible(self.h, lim, obj, target)
        budget = req.budget / self.weeks if req.budget is not None else float(self.h.current.sum())
        return solve_budget(self.h, lim, budget, obj, hint)

    def optimize(self, req: PlanRequest) -> Plan:
        if req.weeks != self.weeks:
            raise InputError(f"--weeks {req.weeks}: this planner was built for {self.weeks} weeks")
        locked = [self.name(x, "--lock") for x in K.split_items(req.locks)]
        both = [ch for ch in dict.fromkeys(self.name(u, "--unlock") for u in K.split_items(req.unlock)) if ch in locked]
        if both:
            raise InputError(f"--lock and --unlock both name {', '.join(both)}: a channel is either held at today's "
                             "spend or let move, not both")
        capped, unlocked = self.capped(req, locked)
        flexible = req.target() is not None
        total_now = float(self.h.current.sum())
        cap = (req.budget / self.weeks if req.budget is not None else total_now) if not flexible else np.inf
        hint = LIMITS_HINT + (f"; {len(capped)} channel(s) below high confidence stay within ±10 % unless "
                              "--unlock" if capped else "")
        notes: list[str] = []
        x = self.planned(req, self.limits(req, cap, capped, locked, unlocked), hint, notes)
        confirmed = self.confirmed(req, x, self.limits(req, cap, [], locked, [*unlocked, *capped]), hint) \
            if capped else None
        return self._plan(req, x, capped, confirmed, notes)

    def confirmed(self, req: PlanRequest, x: np.ndarray, lim: K.Limits, hint: str) -> np.ndarray:
        """The plan with every capped channel unlocked. The capped plan `x` lies within the wider limits, so the
        unlocked plan is never worse in the mean: when the consensus rule shrinks the unlocked optimum to a
        plan below `x` (to today's mix on the bundled brand, while `x` moved seven channels), `x` it is."""
        wide = self.planned(req, lim, hint, [])
        return x if self.h.plan_kpi(wide).mean() < self.h.plan_kpi(x).mean() else wide

    def planned(self, req: PlanRequest, lim: K.Limits, hint: str, notes: list[str]) -> np.ndarray:
        """The weekly plan within `lim`: solved, then (consensus) shrunk until the models back it."""
        x = self.solve(req, lim, hint)
        if req.target() is not None and x.sum() >= flexible_cap(self.h, lim) * (1 - 1e-3):
            notes.append("the target is still met at the largest budget searched (3× today's); the plan stops there")
        return self.consensus(x, lim, notes) if self.model == CONSENSUS else x

    def consensus(self, x: np.ndarray, lim: K.Limits, notes: list[str]) -> np.ndarray:
        """The largest share of the move from the reference mix that passes the consensus rule."""
        ref = self.reference(float(x.sum()))
        for share in SHRINK_STEPS:
            cand = ref + share * (x - ref)
            if np.any(cand < lim.lo - 1e-9) or np.any(cand > lim.hi + 1e-9):
                continue
            gain = self.h.plan_kpi(cand) - self.h.plan_kpi(ref)
            backed = (gain > 0).mean() >= CONSENSUS_SHARE and all(gain[s].mean() > 0
                                                                  for s in self.slices.values())
            if backed:
                if share < 1.0:
                    notes.append(f"the full move passed the consensus test only at {share:.0%} of its size")
                return cand
        if np.all(ref >= lim.lo - 1e-9) and np.all(ref <= lim.hi + 1e-9) and not np.allclose(ref, x):
            notes.append("no reallocation raises the KPI in 90 % of the pooled draws and in every model's mean: "
                         "the current mix is kept")
            return ref
        if not np.allclose(ref, x):
            notes.append("the limits force moves the consensus test does not back")
        return x

    def _plan(self, req: PlanRequest, x: np.ndarray, capped: list[str], confirmed: np.ndarray | None,
              notes: list[str]) -> Plan:
        conf = self.confidence or {}
        lines = [ChannelLine(ch, float(self.current[c]), float(x[c] * self.weeks), self.channel_kpi(c, x[c]),
                             conf.get(ch, ""),
                             float(confirmed[c] * self.weeks) if confirmed is not None and ch in capped else None)
                 for c, ch in enumerate(self.channels)]
        if capped:
            notes.append(f"{', '.join(capped)} stay within ±10 % until a test confirms them (if_confirmed: the "
                         f"plan's spend on each if tests did, within {UNLOCK_RULE})")
        if req.target_mroi is not None:
            by = f"--target-mroi {req.target_mroi:g}"
        elif req.target_roi is not None:
            by = f"--target-roi {req.target_roi:g}"
        else:
            by = "--budget" if req.budget is not None else "current spend"
        return Plan(self.weeks, self.model, req.objective, lines, self.outcome(x), by, notes)

    # ----------------------------------------------------------------------------- scenarios
    def moves(self, items: list[str]) -> np.ndarray:
        """Weekly plan from `channel=-20%` / `channel=+10%` / `channel=0.8x` items; others stay."""
        weekly = self.h.current.copy()
        for item in K.split_items(items):
            name, eq, change = item.partition("=")
            if not eq:
                raise InputError(f"scenario '{item}': write channel=+10% or channel=-20%")
            c = self.channels.index(self.name(name.strip(), f"scenario '{item}'"))
            text = change.strip()
            factor = float(text[:-1]) if text.lower().endswith("x") and _is_number(text[:-1]) else \
                1.0 + K.parse_percent(text, f"scenario '{item}'")
            K.check_change_pct((factor - 1.0) * 100.0, text, f"scenario '{item}'")
            weekly[c] *= factor
        return weekly

    def scenarios(self, req: PlanRequest, asked: list[str] | None = None, optimum: Plan | None = None) -> pd.DataFrame:
        """scenarios.csv: base, conservative (±10 %), aggressive (±30 %), the optimum (`req`'s plan, solved
        unless given), and the one asked."""
        rows = [self._row("base", "current spend", self.h.current)]
        for name, cap in (("conservative", CONSERVATIVE), ("aggressive", AGGRESSIVE)):
            capped = PlanRequest(**{**req.__dict__, "max_change": min(cap, req.max_change or cap)})
            plan = self.optimize(capped)
            rows.append(self._row(name, f"optimum with every move within ±{cap:.0%}", _weekly(plan)))
        rows.append(self._row("optimum", "optimum within the given limits", _weekly(optimum or self.optimize(req))))
        if asked:
            rows.append(self._row("scenario", " ".join(asked), self.moves(asked)))
        return pd.DataFrame(rows, columns=SCENARIO_COLUMNS)

    def _row(self, name: str, description: str, weekly: np.ndarray) -> dict:
        out = self.outcome(weekly)
        mean, low, high = out.summary
        spend, now = float(weekly.sum() * self.weeks), float(self.current.sum())
        return {"scenario": name, "description": description, "spend": spend,
                "change_pct": (spend / now - 1.0) * 100.0 if now > 0 else None, "expected_kpi_change": mean,
                "expected_kpi_change_low": low, "expected_kpi_change_high": high, "prob_gain": out.prob_gain}


def _weekly(plan: Plan) -> np.ndarray:
    return np.array([ln.recommended / plan.weeks for ln in plan.lines])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
