"""Test plans: the smallest experiment that would pin down a channel the data cannot settle.

For every channel below `high` confidence, candidate tests are simulated on the user's own data, the way
the recoverability audit (analysis/audit.py) simulates the history: from the source model's kept draws
(its baseline, the draw-mean response curve of each channel, its residuals) build K synthetic futures in
which every channel's ROI is known (the tested channel's at a plausibly low value, the others' from
a kept draw; build_plan_world), append the N test weeks after the data (the tested channel's spend
changed, every other channel at its recent typical level, controls and events as in the same weeks a
year earlier, the fitted baseline carried forward with its trend), refit the fast estimator
(ridge, quick mode, with the round's effective config) on history + test weeks, and measure the tested channel's
90 % interval half-width relative to its estimated ROI.

The promise is a high quantile, not the median: a design passes when at most MAX_MISSES of the K
simulated tests miss the ±30 % target, and `expected_halfwidth_pct` is the half-width that K − MAX_MISSES
of the K achieved (9 of 10 by default); bench/test_plans.py checks how often a plan carried out against
the simulator's truth delivers it (target ≥ 80 %). Designs are tried in order of cost
(spend moved, then weeks) and the first that passes is the plan. The strongest design (a 26-week pause) is
simulated first and in full, so a channel that no test in the search space settles costs only K refits
and gets its best achievable half-width; any other candidate is dropped as soon as MAX_MISSES + 1 of its
refits miss.

`cost` is the spend moved (currency, |change| × the channel's typical weekly spend × weeks); the KPI
forgone (positive: KPI lost; negative: KPI gained by extra spend) is computed from every model's kept
draws over the test weeks and the carry-over after them, with its 90 % interval.

On a regional panel of MIN_MARKETS markets or more (fitted as a panel), every channel below
`high` also gets a market-split design: the channel's spend changed in some markets only (go dark or
heavy-up), the others kept as control, chosen as a synthetic control matched on the history's KPI
(analysis/market_match.py). It is simulated the same way on the panel: each market's fitted baseline,
curves (the panel draws behind the national world's) and residuals, the residuals block-resampled in the
same weeks for all markets, and the panel ridge (quick) refitted on all markets together; the precision is
the tested channel's national ROI's, as for the national designs. Its KPI forgone is the treated markets'
only, from every panel model's kept draws.
"""

from __future__ import annotations

import math
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from pydantic import ValidationError

from prism.analysis.audit import FACTOR_RANGE, audit_source, block_noise
from prism.analysis.confidence import HIGH
from prism.analysis.market_match import MIN_MARKETS, match_split
from prism.analysis.response import plan_contributions
from prism.errors import InputError
from prism.models import ridge, ridge_panel
from prism.models.base import Fitted, ModelData, roi_evidence, thin
from prism.models.draws import KeptDraws, NationalDraws, PanelDraws, read_draws, roi_draws
from prism.models.panel import PanelData, model_data
from prism.models.pool import process_pool, refit_jobs
from prism.models.priors import round_config
from prism.schemas import (FLIGHTING, MARKET_SPLIT, NO_TEST, SPEND_CHANGE, Config,
                            Metadata, Results, TestPlan)
from prism.workspace import Workspace, read_csv, read_model, read_weekly, write_csv

TEST_PLAN_FILE = "test_plan.csv"
COLUMNS = ["channel", "design", "weeks", "spend_change_pct", "expected_halfwidth_pct", "cost",  # the documented columns first
           "achievable", "median_halfwidth_pct", "kpi_forgone", "kpi_forgone_low", "kpi_forgone_high",
           "description", "markets_treated", "markets_control", "control_fit_pct", "confidence", "model", "k", "round"]
TARGET_HALFWIDTH = 0.30  # the 90 % interval within ±30 % of the ROI
DEFAULT_K = 10
MAX_MISSES = 1  # of K simulated tests: the promise is what 9 in 10 achieve
WEEKS = (4, 8, 13, 26)
CHANGES = (50.0, 100.0, -100.0)  # spend change in % of the typical level; −100: pause. Measured on a
# 130 × 4 simulation: a 26-week pause narrowed a wave-flighted channel to ±10–21 %, tripling its spend or
# alternating weeks off for 26 weeks only to ±26–82 % (the ROI is the return from zero spend, which a
# pause observes and a rise extrapolates to; carry-over blurs alternating weeks). A +25 % rise is left out:
# it moves the least KPI of all, and every candidate costs refits
SPLIT_SHARES = (0.25, 0.5)  # a market split treats markets holding about this share of the KPI
SPLIT_CHANGES = (-100.0, 100.0)  # go dark, or double the spend (heavy-up), in the treated markets
MARKET_SEP = "; "  # markets_treated / markets_control: the market names joined
UNDECIDED = "undecided"  # what the tables show for a plan whose strongest test leaves the channel undecided (± inf)
RECENT_WEEKS = 13  # "typical level": the mean weekly spend of the last quarter
YEAR = 52  # test weeks copy controls, events and baseline from the same weeks a year earlier
WORLD_DRAWS = 100  # draws averaged into the truth's response curves
MAX_TAIL = 13  # carry-over weeks after a test counted in the KPI forgone
INTERVAL = (0.05, 0.95)
LOW_FLOOR = 0.25  # the tested channel's true ROI: at least this × its estimate (see build_plan_world)
LOW_QUANTILE = 0.25  # the tested channel's true ROI: this quantile of its draws (see build_plan_world)
STEADY_CV = 0.2  # spend's coefficient of variation over the training weeks below this: the history never moved it


# ---------------------------------------------------------------------------------------------- designs


@dataclass(frozen=True)
class Design:
    """A test on one channel: its spend × (1 + change) for `weeks` weeks, or alternating weeks off."""

    kind: str
    change_pct: float
    weeks: int

    def pattern(self) -> np.ndarray:
        """(weeks,) multiplier of the channel's typical weekly spend in each test week."""
        if self.kind == FLIGHTING:
            return (np.arange(self.weeks) % 2).astype(float)  # off, on, off, …
        return np.full(self.weeks, 1.0 + self.change_pct / 100.0)

    @property
    def moved(self) -> float:
        """Spend moved in units of the typical weekly spend."""
        return float(np.abs(self.pattern() - 1.0).sum())

    def describe(self) -> str:
        if self.kind == FLIGHTING:
            return f"switch it off every other week for {self.weeks} weeks"
        if self.change_pct <= -100:
            return f"pause it for {self.weeks} weeks"
        verb = "raise" if self.change_pct > 0 else "cut"
        return f"{verb} its spend by {abs(self.change_pct):.0f}% for {self.weeks} weeks"


def candidates(weeks: tuple[int, ...] = WEEKS, changes: tuple[float, ...] = CHANGES) -> list[Design]:
    """Every design in order of cost: spend moved, then weeks, then the larger contrast first."""
    out = [Design(SPEND_CHANGE, c, n) for c in changes for n in weeks] + [Design(FLIGHTING, -50.0, n) for n in weeks]
    return sorted(out, key=lambda d: (d.moved, d.weeks, -abs(d.change_pct), d.kind != FLIGHTING, d.change_pct > 0))


STRONGEST = Design(SPEND_CHANGE, -100.0, max(WEEKS))  # the ceiling, simulated first: a pause of the longest length


@dataclass(frozen=True)
class SplitDesign(Design):
    """A market-split test: the change in the `treated` markets only, the `control` markets as they are."""

    treated: tuple[str, ...] = ()
    control: tuple[str, ...] = ()
    share: float = 0.0  # the treated markets' share of the KPI
    fit_error: float = 0.0  # the synthetic control's pre-period error (market_match.Split.fit_error)

    def describe(self) -> str:
        verb = "pause it" if self.change_pct <= -100 else f"raise its spend by {self.change_pct:.0f}%"
        return (f"{verb} in {_names(self.treated)} only for {self.weeks} weeks, keeping {_names(self.control)} "
                f"as control")


def _names(markets: tuple[str, ...]) -> str:
    return ", ".join(markets[:-1]) + f" and {markets[-1]}" if len(markets) > 1 else markets[0]


def split_candidates(splits: list[SplitDesign], weeks: tuple[int, ...] = WEEKS,
                     changes: tuple[float, ...] = SPLIT_CHANGES) -> list[SplitDesign]:
    """Every change and length for each matched split, in order of cost (share of the KPI treated × spend
    moved, then weeks, a pause before a heavy-up); the strongest (the largest split paused longest) last."""
    out = [replace(s, change_pct=c, weeks=n) for s in splits for c in changes for n in weeks]
    return sorted(out, key=lambda d: (d.share * d.moved, d.weeks, d.change_pct > 0))


# ------------------------------------------------------------------------------------------------ world


@dataclass(frozen=True)
class PlanWorld:
    """The fitted world a test is simulated in (source model's draws, the user's weeks and spend)."""

    data: ModelData  # every week as the models saw it
    draws: KeptDraws  # thinned: each synthetic dataset takes one draw's curves as the true curve shapes
    truth: np.ndarray  # (S, C) true ROIs: the kept draws' ROIs, floored (see build_plan_world)
    low: np.ndarray  # (C,) the tested channel's true ROI: its draws' lower quartile (see build_plan_world)
    dead: np.ndarray  # (C,) channels the source put at zero: linear in spend, like the audit
    pick: np.ndarray  # (S, C) the draw whose curve is channel c's shape in dataset s (a draw with an effect)
    norm: np.ndarray  # (S, C) that draw's training contribution per unit spend (its ROI)
    base: np.ndarray  # (T,) fitted KPI without media
    base_coef: np.ndarray  # the baseline on [1, trend, season, controls, events] (baseline_columns): extends it
    cfg: Config
    residuals: np.ndarray  # (n_train,) actual − fitted, scaled up for the parameters the fit spent
    level: np.ndarray  # (C,) typical weekly spend per channel

    def shape(self, c: int, column: np.ndarray, s: int) -> np.ndarray:
        """Channel c's contribution at ROI 1 (over the training weeks) for a spend column, draw s's curve."""
        if self.dead[c]:
            return column
        return self.draws.channel_contribution(c, column)[self.pick[s, c]] / self.norm[s, c]

    def simulate(self, cfg: Config, c: int, design: Design, seed: int) -> float:
        """One simulated test of channel c, refitted: its relative half-width (`settled_halfwidth`)."""
        data, base = extended(self, c, design)
        data = replace(data, y=synthetic(self, data, base, c, seed))
        return settled_halfwidth(ridge.fit(data, cfg, quick=True), c)


def build_plan_world(data: ModelData, kd: KeptDraws, cfg: Config) -> PlanWorld:
    """The world from the source model's kept draws.

    The tested channel's true ROI is a plausibly low one, the lower quartile of its draws (LOW_QUANTILE),
    floored at LOW_FLOOR × its mean (at zero no relative precision exists): a test is sized for a small
    effect, as a power calculation is. Measured against the simulator's truth (26-week pause, 10 repeats
    each, 8 channels whose spend varied; bench/test_plans.py seeds 401–403): sized at the 5 % quantile,
    the promise was 1.7–3.4× the half-width achieved (TV: ±62 % promised, ±25 % achieved); at the lower quartile
    every promise held in 10 of 10; at the median, 3 of 8 held in only 7 of 10. A channel whose spend
    never varied (`never_varied`) has a range that is the prior's, not the data's, so its true ROI is
    LOW_FLOOR × the median ROI of the channels the history did move: an always-on channel fitted at 13.9
    (90 % range 1.2–33.7) had a true ROI of 0.8, and sized from its own range its plan promised ±44 %
    where carrying it out achieved ±102 % (median of 10; seed 402). The other channels' true ROIs are
    one kept draw's, floored at half the mean. Every channel's curve is that draw's (a draw at zero lends
    the shape of one with an effect), so the shape is as uncertain as the fit says. A channel the source
    put at zero gets the other channels' median ROI × the audit's random factor (its low end: LOW_FLOOR ×
    that median). Residuals of a fit are smaller than the noise by the parameters it spent: they are
    scaled by √(n ÷ (n − p)) (on a 130 × 5 simulation ridge's residual sd was 9 % under the true noise's).
    """
    kd = kd.select(thin(np.arange(kd.n_draws), WORLD_DRAWS))
    draws = np.nan_to_num(roi_draws(kd))
    roi = draws.mean(axis=0)
    effect = draws > 0
    dead = (roi <= 0) | ~effect.any(axis=0)
    steady = never_varied(data)
    rows = np.arange(len(draws))[:, None]
    firsts = [np.flatnonzero(effect[:, c]) if effect[:, c].any() else np.zeros(1, int) for c in range(draws.shape[1])]
    pick = np.where(effect, rows, np.column_stack([f[rows[:, 0] % len(f)] for f in firsts]))
    norm = np.where(dead, 1.0, np.take_along_axis(draws, pick, axis=0))
    informed = ~dead & ~steady if (~dead & ~steady).any() else ~dead
    median = float(np.median(roi[informed])) if informed.any() else 1.0
    factors = np.exp(np.random.default_rng(0).uniform(*np.log(FACTOR_RANGE), size=draws.shape))
    truth = np.where(dead, median * factors, np.maximum(norm, FACTOR_RANGE[0] * roi))
    low = np.where(dead | steady, LOW_FLOOR * median,
                   np.maximum(np.quantile(draws, LOW_QUANTILE, axis=0), LOW_FLOOR * roi))
    params = ridge.build_problem(data, cfg).other.shape[1] + 4 * len(data.channels)  # + coef, carry, half, slope
    inflate = math.sqrt(data.n_train / max(data.n_train - params, 1))
    fitted = kd.predict().mean(axis=0)[: data.n_train]
    base = kd.baseline.mean(axis=0)
    columns = baseline_columns(cfg, data.dates, data.n_train, data.controls, data.events)
    return PlanWorld(data=data, draws=kd, truth=truth, low=low, dead=dead, pick=pick, norm=norm, base=base,
                     base_coef=np.linalg.lstsq(columns, base, rcond=None)[0], cfg=cfg,
                     residuals=inflate * (data.y[: data.n_train] - fitted), level=typical_level(data.spend))


def baseline_columns(cfg: Config, dates: pd.DatetimeIndex, n_train: int, controls: np.ndarray,
                     events: np.ndarray) -> np.ndarray:
    """(T, 1 + q) an intercept and ridge's baseline columns (trend scaled by the history's `n_train`)."""
    other = ridge.baseline_features(dates, n_train, np.hstack([controls, events]), cfg)
    return np.column_stack([np.ones(len(dates)), other])


def never_varied(data: ModelData) -> np.ndarray:
    """(C,) channels whose weekly training spend barely moved (always on at one level): the history cannot
    tell their return from the baseline, so the fit's range for them is the prior's, not the data's."""
    spend = data.spend[: data.n_train]
    mean = spend.mean(axis=0)
    return (mean > 0) & (spend.std(axis=0) < STEADY_CV * np.where(mean > 0, mean, 1.0))


def typical_level(spend: np.ndarray) -> np.ndarray:
    """(C,) mean weekly spend of the recent weeks; a channel off lately: its mean over weeks it ran."""
    recent = spend[-RECENT_WEEKS:].mean(axis=0)
    on = np.where(spend > 0, spend, np.nan)
    ran = np.nan_to_num(np.nanmean(np.where(np.isnan(on).all(axis=0), 0.0, on), axis=0))
    return np.where(recent > 0, recent, ran)


def _year_before(n_weeks: int, weeks: int) -> np.ndarray:
    """Rows of the history that the test weeks copy (the same weeks a year earlier)."""
    return np.clip(np.arange(n_weeks, n_weeks + weeks) - min(YEAR, n_weeks), 0, n_weeks - 1)


def _ahead(dates: pd.DatetimeIndex, weeks: int) -> pd.DatetimeIndex:
    """The dates with `weeks` more weeks appended."""
    return dates.append(pd.DatetimeIndex([dates[-1] + pd.Timedelta(weeks=i + 1) for i in range(weeks)]))


def test_spend(world: PlanWorld, c: int, design: Design) -> np.ndarray:
    """(N, C) the test weeks' spend: every channel at its typical level, channel c changed."""
    plan = np.tile(world.level, (design.weeks, 1))
    plan[:, c] = world.level[c] * design.pattern()
    return plan


def extended(world: PlanWorld, c: int, design: Design) -> tuple[ModelData, np.ndarray]:
    """The history with the test weeks appended (every week a training week), and the base KPI of all weeks.

    The test weeks' base KPI is the fitted baseline carried forward (its trend continues; season, controls
    and events as a year earlier): copied from a year earlier instead, it lacked a year of the trend the
    refit extrapolates, and the refit put that gap on the paused channel (a channel under 2 % of spend,
    true ROI 0.6, was estimated at 7.5 in the plan's world; bench/test_plans.py, seed 401)."""
    d, src = world.data, _year_before(world.data.n_weeks, design.weeks)
    dates = _ahead(d.dates, design.weeks)
    data = replace(d, dates=dates, y=np.concatenate([d.y, d.y[src]]),
                   spend=np.vstack([d.spend, test_spend(world, c, design)]),
                   controls=np.vstack([d.controls, d.controls[src]]), events=np.vstack([d.events, d.events[src]]),
                   n_test=0, lifts=())
    ahead = baseline_columns(world.cfg, dates, d.n_train, data.controls, data.events)[d.n_weeks:] @ world.base_coef
    return data, np.concatenate([world.base, ahead])


def synthetic(world: PlanWorld, data: ModelData, base: np.ndarray, c: int, seed: int) -> np.ndarray:
    """One KPI series over history + test weeks in which every channel's ROI is known (channel c's: `low`)."""
    rng = np.random.default_rng(seed)
    s = int(rng.integers(len(world.truth)))
    truth = world.truth[s].copy()
    truth[c] = world.low[c]
    contrib = np.column_stack([truth[j] * world.shape(j, data.spend[:, j], s) for j in range(len(truth))])
    return base + contrib.sum(axis=1) + block_noise(rng, world.residuals, len(base), world.cfg)


def halfwidth(roi: float, low: float, high: float) -> float:
    """Half the 90 % interval relative to the estimated ROI (inf when no positive effect is estimated)."""
    return (high - low) / 2.0 / roi if roi > 1e-12 else math.inf


def simulate_test(job: "tuple[PlanWorld | PanelWorld, Config, int, Design, int]") -> float:
    """One simulated test, refitted (in a pool's process): the tested channel's relative half-width."""
    world, cfg, c, design, seed = job
    return world.simulate(cfg, c, design, seed)


def settled_halfwidth(fitted: Fitted, c: int) -> float:
    """A refit's relative half-width for the tested channel c (its national ROI on a panel): inf while it is
    prior-driven (still at the pooled ROI: a narrow interval there measures the penalty, not the test)."""
    roi, evidence = roi_evidence(fitted)
    if evidence[c].prior_driven:
        return math.inf
    return halfwidth(float(roi.mean[c]), float(roi.low[c]), float(roi.high[c]))


# ------------------------------------------------------------------------------------------------ panel


@dataclass(frozen=True)
class PanelWorld:
    """A panel's plan world: the national world's truth (ROIs, which draw's curves) laid over each market's
    own fitted baseline, curves and residuals, so a market-split test can be simulated and refitted."""

    national: PlanWorld  # truth, low, pick, norm and dead as the national designs use them
    data: PanelData
    draws: PanelDraws  # thinned as national.draws, so draw s is the same joint draw
    base: np.ndarray  # (T, G) each market's fitted KPI without media
    base_coef: np.ndarray  # (G, 1 + q) each market's baseline on its baseline_columns: extends it
    residuals: np.ndarray  # (n_train, G) actual − fitted per market, scaled up for the parameters spent
    level: np.ndarray  # (G, C) typical weekly spend per market and channel

    def shape(self, c: int, g: int, column: np.ndarray, s: int) -> np.ndarray:
        """Channel c's contribution in market g at national ROI 1 (over the training weeks), draw s's curve:
        summed over markets at their fitted spend it is the national world's `shape`."""
        w = self.national
        if w.dead[c]:
            return column
        return self.draws.draws[g].channel_contribution(c, column)[w.pick[s, c]] / w.norm[s, c]

    def simulate(self, cfg: Config, c: int, design: SplitDesign, seed: int) -> float:
        """One simulated market-split test, the panel refitted: the national ROI's relative half-width."""
        data, base = panel_extended(self, c, design)
        rng = np.random.default_rng(seed)
        w = self.national
        s = int(rng.integers(len(w.truth)))
        truth = w.truth[s].copy()
        truth[c] = w.low[c]
        y = base + sum(truth[j] * np.column_stack([self.shape(j, g, data.spend[:, g, j], s)
                                                   for g in range(data.n_markets)]) for j in range(len(truth)))
        data = replace(data, y=y + block_noise(rng, self.residuals, len(base), cfg))  # the same weeks in all markets
        return settled_halfwidth(ridge_panel.fit_panel(data, cfg, quick=True), c)


def build_panel_world(data: PanelData, panel: PanelDraws, cfg: Config) -> PanelWorld:
    """The panel world from the source model's panel draws (`build_plan_world` for the national truth)."""
    national = build_plan_world(data.national(), panel.national(), cfg)
    panel = panel.select(thin(np.arange(panel.n_draws), WORLD_DRAWS))
    n = data.n_train
    base = panel.baseline.mean(axis=0)
    coef = np.stack([np.linalg.lstsq(baseline_columns(cfg, data.dates, n, data.controls[:, g], data.events),
                                     base[:, g], rcond=None)[0] for g in range(data.n_markets)])
    params = ridge_panel.build(data, cfg).other.shape[2] + 1 + 2 * len(data.channels)  # baseline, intercept, r, δ
    inflate = math.sqrt(n / max(n - params, 1))
    fitted = panel.predict().mean(axis=0)[:n]
    level = np.stack([typical_level(data.spend[:, g]) for g in range(data.n_markets)])
    return PanelWorld(national, data, panel, base, coef, inflate * (data.y[:n] - fitted), level)


def panel_extended(world: PanelWorld, c: int, design: SplitDesign) -> tuple[PanelData, np.ndarray]:
    """The panel with the test weeks appended (every week a training week; every market's channels at their
    typical level, channel c changed in the treated markets) and each market's base KPI of all weeks
    (its fitted baseline carried forward, as `extended` does nationally)."""
    d, src = world.data, _year_before(world.data.n_weeks, design.weeks)
    dates = _ahead(d.dates, design.weeks)
    plan = np.tile(world.level, (design.weeks, 1, 1))
    treated = [d.markets.index(m) for m in design.treated]
    plan[:, treated, c] = world.level[treated, c][None, :] * design.pattern()[:, None]
    data = replace(d, dates=dates, y=np.concatenate([d.y, d.y[src]]), spend=np.concatenate([d.spend, plan]),
                   controls=np.concatenate([d.controls, d.controls[src]]), events=np.vstack([d.events, d.events[src]]),
                   n_test=0, lifts=())
    ahead = np.column_stack([baseline_columns(world.national.cfg, dates, d.n_train, data.controls[:, g],
                                              data.events)[d.n_weeks:] @ world.base_coef[g]
                             for g in range(d.n_markets)])
    return data, np.concatenate([world.base, ahead])


def market_splits(world: PanelWorld, c: int) -> list[SplitDesign]:
    """The matched splits for channel c (one per SPLIT_SHARES; the same split once), treated among the markets
    that run it, as designs with their markets named (lengths and changes set by `split_candidates`)."""
    d = world.data
    found: dict[tuple[int, ...], SplitDesign] = {}
    for share in SPLIT_SHARES:
        split = match_split(d.y[: d.n_train], share, world.level[:, c] > 0)
        if split is not None and split.treated not in found:
            found[split.treated] = SplitDesign(MARKET_SPLIT, -100.0, max(WEEKS),
                                               tuple(d.markets[g] for g in split.treated),
                                               tuple(d.markets[g] for g in split.control), split.share, split.fit_error)
    return list(found.values())


# ------------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Outcome:
    """What K simulated tests of one design achieved (fewer than K when it was dropped early)."""

    design: Design
    halfwidths: tuple[float, ...]
    passed: bool

    @property
    def promised(self) -> float:
        """The half-width all but MAX_MISSES of the simulated tests achieved."""
        ordered = sorted(self.halfwidths)
        return ordered[max(0, len(ordered) - 1 - MAX_MISSES)]

    @property
    def median(self) -> float:
        return float(np.median(self.halfwidths))


def evaluate(pool: Executor, world: PlanWorld, cfg: Config, c: int, design: Design, k: int,
             seed: int, jobs: int, early_stop: bool = True) -> Outcome:
    """Run up to K simulated tests, `jobs` at a time; stop once more than MAX_MISSES miss the target, or (the
    strongest design, run in full otherwise) once more than MAX_MISSES leave the channel undecided."""
    seeds = iter(range(seed, seed + k))  # the same seeds for every design: the designs differ, not the luck
    running: set[Future] = set()
    results: list[float] = []
    while True:
        while len(running) < jobs and (s := next(seeds, None)) is not None:
            running.add(pool.submit(simulate_test, (world, cfg, c, design, s)))
        if not running:
            break
        done, running = wait(running, return_when=FIRST_COMPLETED)
        results += [f.result() for f in done]
        undecided = sum(math.isinf(h) for h in results) > MAX_MISSES  # its promise is ± ∞ whatever the rest do
        if undecided or (early_stop and sum(h > TARGET_HALFWIDTH for h in results) > MAX_MISSES):
            for f in running:
                f.cancel()
            wait(running)  # a refit already started ends here, not in the loop's next stage (its CPU is this one's)
            return Outcome(design, tuple(results), False)
    return Outcome(design, tuple(results), sum(h > TARGET_HALFWIDTH for h in results) <= MAX_MISSES)


def search(pool: Executor, world: PlanWorld, cfg: Config, c: int, k: int, seed: int, jobs: int,
           designs: list[Design] | None = None, strongest: Design = STRONGEST) -> Outcome:
    """The cheapest design that passes; when the strongest fails, its outcome (the best achievable), not passed.

    The strongest is simulated first and in full, so a channel no design settles costs K refits."""
    ceiling = evaluate(pool, world, cfg, c, strongest, k, seed, jobs, early_stop=False)
    if not ceiling.passed:
        return ceiling
    for design in designs or candidates():
        if design == strongest:
            return ceiling
        outcome = evaluate(pool, world, cfg, c, design, k, seed, jobs)
        if outcome.passed:
            return outcome
    return ceiling


# ------------------------------------------------------------------------------------------------- cost


def kpi_forgone(sources: dict[str, KeptDraws], c: int, level: np.ndarray, design: Design) -> np.ndarray:
    """(S,) KPI lost by the test against the typical plan, per kept draw of every model (equal weight):
    over the test weeks and the carry-over after them."""
    per_model = min(kd.n_draws for kd in sources.values())
    out = []
    for kd in sources.values():
        tail = min(int(kd.max_lag), MAX_TAIL)
        typical = np.tile(level, (design.weeks + tail, 1))
        tested = typical.copy()
        tested[: design.weeks, c] = level[c] * design.pattern()
        kd = kd.select(thin(np.arange(kd.n_draws), per_model))
        diff = plan_contributions(kd, typical)[:, :, c] - plan_contributions(kd, tested)[:, :, c]
        out.append(diff.sum(axis=1))
    return np.concatenate(out)


def split_forgone(panels: dict[str, PanelDraws], c: int, level: np.ndarray, design: SplitDesign) -> np.ndarray:
    """(S,) KPI lost by a market-split test: `kpi_forgone` in each treated market, summed draw by draw."""
    markets = next(iter(panels.values())).markets
    return sum(kpi_forgone({m: p.draws[g] for m, p in panels.items()}, c, level[g], design)
               for g in (markets.index(name) for name in design.treated))


# ----------------------------------------------------------------------------------------------- plans


@dataclass
class PlanInputs:
    """What a round's test plans are simulated from."""

    res: Results
    cfg: Config
    world: PlanWorld
    sources: dict[str, KeptDraws | NationalDraws]
    source: str
    panel: PanelWorld | None = None  # a panel of MIN_MARKETS markets or more: market splits are designed
    panels: dict[str, PanelDraws] | None = None  # every panel model's draws (the KPI a split forgoes)


def load_inputs(ws: Workspace, res: Results) -> PlanInputs:
    """The round's effective config, every model's kept draws and the audit's source model's world."""
    source = audit_source(res)
    if source is None:
        raise InputError(f"{ws.latest}: no model with a weekly decomposition to simulate from (run the models first)")
    cfg = round_config(ws, res)
    data = model_data(read_weekly(ws, cfg, markets=True), cfg)
    found = {m: read_draws(ws.draws_path(res.round, m)) for m in res.ok_models() if ws.draws_path(res.round, m).exists()}
    if source not in found:
        raise InputError(f"{ws.draws_path(res.round, source)}: file not found (run `prism run` to write the "
                         f"round's draws)")
    sources = {m: kd.national() if isinstance(kd, PanelDraws) else kd for m, kd in found.items()}
    panels = {m: kd for m, kd in found.items() if isinstance(kd, PanelDraws)}
    if isinstance(data, PanelData) and isinstance(found[source], PanelDraws) and data.n_markets >= MIN_MARKETS:
        panel = build_panel_world(data, found[source], cfg)
        return PlanInputs(res, cfg, panel.national, sources, source, panel, panels)
    national = data.national() if isinstance(data, PanelData) else data
    return PlanInputs(res, cfg, build_plan_world(national, sources[source], cfg), sources, source)


def plan_row(inp: PlanInputs, channel: str, outcome: Outcome | None, confidence: str, k: int) -> dict:
    """One row of results/test_plan.csv (outcome None: the channel has no spend to test)."""
    base = {"channel": channel, "confidence": confidence, "model": inp.source, "k": k, "round": inp.res.round}
    if outcome is None:
        return {**base, "design": NO_TEST, "weeks": 0, "spend_change_pct": 0.0, "expected_halfwidth_pct": math.nan,
                "cost": 0.0, "achievable": False, "description": "it has no spend to test"}
    c, d = inp.world.data.channels.index(channel), outcome.design
    if isinstance(d, SplitDesign) and inp.panel is not None and inp.panels:
        forgone = split_forgone(inp.panels, c, inp.panel.level, d)
        level = float(sum(inp.panel.level[inp.panel.data.markets.index(m), c] for m in d.treated))
        base |= {"markets_treated": MARKET_SEP.join(d.treated), "markets_control": MARKET_SEP.join(d.control),
                 "control_fit_pct": round(100 * d.fit_error, 1)}
    else:
        forgone, level = kpi_forgone(inp.sources, c, inp.world.level, d), float(inp.world.level[c])
    return {**base, "design": d.kind, "weeks": d.weeks, "spend_change_pct": d.change_pct,
            "expected_halfwidth_pct": round(100 * outcome.promised, 1),
            "cost": round(d.moved * level, 2), "achievable": outcome.passed,
            "median_halfwidth_pct": round(100 * outcome.median, 1),
            "kpi_forgone": round(float(forgone.mean()), 2),
            "kpi_forgone_low": round(float(np.quantile(forgone, INTERVAL[0])), 2),
            "kpi_forgone_high": round(float(np.quantile(forgone, INTERVAL[1])), 2), "description": d.describe()}


def plan_channels(inp: PlanInputs, labels: dict[str, str], k: int = DEFAULT_K, jobs: int | None = None,
                  designs: list[Design] | None = None) -> pd.DataFrame:
    """A plan per channel in `labels` (channel → confidence), simulated in parallel processes; on a panel a
    market-split plan beside it (`split_plan`)."""
    jobs = jobs or refit_jobs()
    rows = []
    with process_pool(jobs) as pool:
        for channel, label in labels.items():
            c = inp.world.data.channels.index(channel)
            outcome = None if inp.world.level[c] <= 0 else search(pool, inp.world, inp.cfg, c, k,
                                                                   inp.cfg.seed * 1000, jobs, designs)
            rows.append(plan_row(inp, channel, outcome, label, k))
            split = split_plan(pool, inp.panel, inp.cfg, c, k, jobs) if outcome is not None else None
            if split is not None:
                rows.append(plan_row(inp, channel, split, label, k))
    return pd.DataFrame(rows, columns=COLUMNS)


def split_plan(pool: Executor, world: PanelWorld | None, cfg: Config, c: int, k: int, jobs: int) -> Outcome | None:
    """The cheapest market-split design that settles channel c on this panel (or the strongest's outcome);
    None off a panel or where no split fits."""
    splits = market_splits(world, c) if world is not None else []
    if not splits:
        return None
    designs = split_candidates(splits)
    strongest = max(designs, key=lambda d: (d.share * d.moved, -d.change_pct))
    return search(pool, world, cfg, c, k, cfg.seed * 1000, jobs, designs, strongest)


def run_plans(ws: Workspace, channels: list[str] | None = None, k: int | None = None,
              jobs: int | None = None) -> pd.DataFrame:
    """Plans for the given channels (default: every channel below `high`); merged into results/test_plan.csv,
    which keeps only the latest round's rows."""
    res = read_model(ws.latest, Results)
    unknown = [ch for ch in channels or [] if ch not in res.channels]
    if unknown:
        raise InputError(f"unknown channel {unknown[0]!r}; the channels are: {', '.join(res.channels)}")
    labels = stored_labels(ws, res)
    wanted = {ch: labels[ch] for ch in (channels if channels is not None else res.channels) if labels[ch] != HIGH}
    table = (plan_channels(load_inputs(ws, res), wanted, k or DEFAULT_K, jobs) if wanted
             else pd.DataFrame(columns=COLUMNS))
    keep = read_plans(ws, res.round) if channels is not None else table.iloc[:0]
    keep = keep[~keep["channel"].isin(table["channel"])]
    merged = pd.concat([keep, table], ignore_index=True) if len(keep) else table
    order = {ch: i for i, ch in enumerate(res.channels)}
    write_csv(ws.result(TEST_PLAN_FILE), merged.sort_values("channel", key=lambda s: s.map(order), kind="stable")
              .reset_index(drop=True))
    return table


def stored_labels(ws: Workspace, res: Results) -> dict[str, str]:
    """Each channel's confidence as compare wrote it (latest.json, and so roi_comparison.csv's `confidence`):
    the one label every output shows, never computed a second time (a second computation called a channel
    `medium` here that every other output called `low`)."""
    if not set(res.channels) <= set(res.confidence):
        raise InputError(f"{ws.latest}: round {res.round} has no confidence labels yet; run `prism compare` first")
    return {ch: res.confidence[ch].label for ch in res.channels}


def read_plans(ws: Workspace, round_no: int | None = None) -> pd.DataFrame:
    """results/test_plan.csv (rows of `round_no` when given; none when the file is absent or from another round)."""
    path = ws.result(TEST_PLAN_FILE)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    table = read_csv(path, required=tuple(COLUMNS[:6]))
    for i, row in enumerate(table.to_dict("records"), start=2):
        try:
            TestPlan.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InputError(f"{path}: row {i} column '{err['loc'][0]}': {err['msg']}") from None
    if round_no is not None:
        table = table[table["round"] == round_no] if "round" in table else table.iloc[:0]
    return table.reset_index(drop=True)


def promise_words(plans: pd.DataFrame) -> str:
    """How many of the simulated tests achieved the promised precision, in words ("all but 1 of 10")."""
    k = int(plans["k"].max()) if "k" in plans and len(plans) else DEFAULT_K
    return f"all but {MAX_MISSES} of {k}"


def geo_note(meta: Metadata | None) -> str:
    """Whether a market split is a design on this data: sized on a panel of MIN_MARKETS markets or more."""
    prof = meta.profile if meta is not None else None
    if prof is not None and prof.market_column and len(prof.markets) >= MIN_MARKETS:
        return (f"The data holds {len(prof.markets)} markets in '{prof.market_column}', fitted as a panel: beside "
                f"each national test, a market-split test changes the channel's spend in the treated markets only "
                f"and keeps the others as control, chosen so that a weighted sum of the controls' past KPI tracks "
                f"the treated markets' (a synthetic control: level, trend and season).")
    if prof is not None and prof.market_column and len(prof.markets) > 1:
        return (f"A market split cannot be designed: the data holds {len(prof.markets)} markets in "
                f"'{prof.market_column}' and a split needs more (treated markets beside at least two control "
                f"markets).")
    if prof is None or not prof.entity_column or len(prof.entities) <= 1:
        return "A geo split is not available: the data has no region column."
    return (f"A geo split across the {len(prof.entities)} values of {prof.entity_column} is possible but not "
            f"simulated here: Prism models one series, so it cannot size one.")
