"""`prism audit`: could this spend, these weeks and this noise reveal each channel's ROI at all?

Parametric simulation on the user's own data: from a fitted model's decomposition (baseline and events,
each channel's weekly contribution, the residuals) build K synthetic KPI series in which every channel's
ROI is known — its fitted ROI times a random factor between 0.5 and 2 — refit the fast estimator (ridge
with the effective config the round ran with, knowledge-layer priors included; quick mode) on each, and measure per channel how well the ROI comes back:
median relative error, bias, and how often the 90 % interval covers the truth. A channel that cannot be
recovered when the truth is known will not be recovered from the real KPI either, whatever the models
say; analysis/confidence.py reads the verdict.

A channel the source model put at zero keeps a shape (its spend, linearly) and the median ROI of the
other channels, so the audit still asks whether such an effect could be found.

When the round's models calibrated on lift tests, every refit gets the same tests, each reporting the
synthetic world's true incremental KPI for its window plus noise at the test's own relative se: the
audit then asks whether this spend AND these tests reveal the ROI, so a channel a good test pins is no
longer `not` where the history alone could not recover it (tests/test_lift_calibration.py).

The verdict thresholds are set by hand (below); they are not yet fitted on the calibration benchmark.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import wait
from dataclasses import dataclass, field, replace
from itertools import islice

import numpy as np
import pandas as pd

from prism.analysis.confidence import AUDIT_FILE
from prism.errors import InputError
from prism.models import experiments, ridge, ridge_panel
from prism.models.base import ModelData, roi_evidence
from prism.models.draws import PanelDraws
from prism.models.panel import PanelData, model_data
from prism.models.pool import process_pool, refit_jobs
from prism.models.priors import round_config
from prism.schemas import Config, Results, Weekly
from prism.workspace import Workspace, read_model, read_weekly, write_csv

COLUMNS = ["channel", "model", "recovery_error_pct", "coverage", "verdict", "bias_pct", "round"]  # the documented columns first
DEFAULT_K = 20
FACTOR_RANGE = (0.5, 2.0)  # each channel's true ROI = fitted ROI × a log-uniform factor in this range
IDENTIFIABLE_ERROR, IDENTIFIABLE_COVERAGE = 0.25, 0.6  # median error ≤ 25 % and the interval covers ≥ 60 %
WEAK_ERROR = 0.5  # median error ≤ 50 %: weak; above: not
DETECT_SHARE, UNDETECTED_SHARE = 0.05, 0.25  # interval's low end under 5 % of the truth in > 25 % of refits: not
SOURCE_ORDER = ("ridge", "pymc", "lightweight_mmm")  # whose fitted world is simulated, first that ran


@dataclass(frozen=True)
class World:
    """The fitted world the synthetic series are drawn from (training weeks define the ROI)."""

    data: "ModelData | PanelData"
    base: np.ndarray  # (T,) fitted KPI without media; a panel's (T, G)
    shape: np.ndarray  # (T, C) each channel's contribution at ROI 1 over the training weeks; a panel's (T, G, C)
    roi: np.ndarray  # (C,) the fitted (national) ROI the factors scale
    residuals: np.ndarray  # (n_train,) actual − fitted on the training weeks; a panel's (n_train, G)
    lifts: tuple = ()  # experiments.Lift per lift test the round fitted (their kpi is replaced per series)
    lift_per_roi: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (L,) window lift at true ROI 1


def build_world(data: ModelData, weekly: Weekly, roi: dict[str, float], tests: list[dict] = ()) -> World:
    """The source model's fitted world; `tests`: its diagnostics rows for the lift tests it fitted."""
    contrib = np.column_stack([np.asarray(weekly.contributions[ch], dtype=float) for ch in data.channels])
    return _world(data, contrib, np.asarray(weekly.fitted, dtype=float), roi, tests)


def build_panel_world(data: PanelData, panel: PanelDraws, roi: dict[str, float], tests: list[dict] = ()) -> World:
    """A panel fit's world: every market's own baseline, contributions and residuals (weeks × markets), so
    the audit asks whether these markets' spend reveals the national ROI. A channel's markets keep their
    fitted ratios to each other; the synthetic truth scales them all by the channel's factor."""
    return _world(data, panel.contributions(panel.spend).mean(axis=0), panel.predict().mean(axis=0), roi, tests)


def _world(data: "ModelData | PanelData", contrib: np.ndarray, fitted: np.ndarray, roi: dict[str, float],
           tests: list[dict]) -> World:
    """contrib (T, [G,] C) and fitted (T, [G]) of the source model → the world; shapes at national ROI 1."""
    train = slice(0, data.n_train)
    total = lambda a: a[train].reshape(-1, a.shape[-1]).sum(axis=0)  # noqa: E731 - over weeks (and markets)
    spend = total(data.spend)
    fitted_roi = np.array([roi[ch] for ch in data.channels])
    dead = (total(contrib) <= 0) | (fitted_roi <= 0)
    positive = fitted_roi[~dead]
    shape_src = np.where(dead, data.spend, contrib)
    shape = shape_src / np.maximum(total(shape_src) / spend, 1e-12)
    lifts = experiments.recorded(list(tests), data.channels, data.dates)
    return World(data=data, base=fitted - contrib.sum(axis=-1), shape=shape,
                 roi=np.where(dead, float(np.median(positive)) if len(positive) else 1.0, fitted_roi),
                 residuals=(data.y - fitted)[train], lifts=lifts,
                 lift_per_roi=_lift_per_roi(lifts, [r for r in tests if r.get("used")], shape, dead, fitted_roi))


def _lift_per_roi(lifts: tuple, rows: list[dict], shape: np.ndarray, dead: np.ndarray,
                  fitted_roi: np.ndarray) -> np.ndarray:
    """Each test window's incremental KPI in the synthetic world per unit of the channel's true ROI.

    A channel's synthetic contribution is its fitted one scaled by truth ÷ fitted ROI, so its window lift
    is the source model's implied lift scaled the same way; a channel put at zero has a linear shape (no
    carry-over), whose window lift is its window's contribution.
    """
    return np.array([shape[t.weeks][..., t.c].sum() if dead[t.c] else r["model_kpi"] / fitted_roi[t.c]
                     for t, r in zip(lifts, rows)])


def block_noise(rng: np.random.Generator, residuals: np.ndarray, size: int, cfg: Config) -> np.ndarray:
    """`size` weeks of noise: the fit's residuals resampled in blocks of consecutive weeks, as ridge's
    bootstrap resamples the weeks (its block length). Drawn week by week they lose their autocorrelation,
    and a simulated series is then easier to read than the real one."""
    return residuals[ridge.block_indices(rng, len(residuals), ridge.block_length(cfg, len(residuals)), size)]


def synthetic(world: World, seed: int, cfg: Config) -> tuple[np.ndarray, np.ndarray, tuple]:
    """One KPI series, its true ROI per channel, and the lift tests as they would have read in it."""
    rng = np.random.default_rng(seed)
    factor = np.exp(rng.uniform(*np.log(FACTOR_RANGE), size=world.roi.shape))
    truth = world.roi * factor
    noise = block_noise(rng, world.residuals, len(world.base), cfg)  # blocks of whole weeks (all markets)
    return world.base + world.shape @ truth + noise, truth, _synthetic_lifts(world, truth, rng)


def _synthetic_lifts(world: World, truth: np.ndarray, rng: np.random.Generator) -> tuple:
    """Each test's true window lift in this world, read with the real test's relative se."""
    out = []
    for lift, per_roi in zip(world.lifts, world.lift_per_roi):
        true_kpi = per_roi * truth[lift.c]
        se = lift.se / abs(lift.kpi) * abs(true_kpi) if lift.kpi and true_kpi else lift.se
        out.append(replace(lift, kpi=float(true_kpi + rng.normal(0.0, se)), se=float(se)))
    return tuple(out)


def _refit(job: tuple[World, Config, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(truth, roi, low, high) per channel for one synthetic series."""
    world, cfg, seed = job
    y, truth, lifts = synthetic(world, seed, cfg)
    data = replace(world.data, y=y, lifts=lifts)
    roi = roi_evidence(ridge_panel.quick_fit(data, cfg))[0]
    return truth, roi.mean, roi.low, roi.high


def verdict(error: float, coverage: float, undetected: float) -> str:
    """identifiable / weak / not from the median relative error, the coverage and how often the interval
    could not tell the effect from zero."""
    if undetected > UNDETECTED_SHARE or error > WEAK_ERROR:
        return "not"
    return "identifiable" if error <= IDENTIFIABLE_ERROR and coverage >= IDENTIFIABLE_COVERAGE else "weak"


def recover(world: World, cfg: Config, k: int = DEFAULT_K, seed: int = 0, jobs: int | None = None,
            source: str = "ridge", round_no: int = 0) -> pd.DataFrame:
    """Refit the estimator on up to K synthetic series (in parallel processes); one row per channel.

    The refits are read in order and stop as soon as no refit still to run could change any channel's
    verdict (`settled`): the rows then describe the refits that ran."""
    tasks = iter([(world, cfg, seed * 1000 + i) for i in range(k)])
    jobs = jobs or refit_jobs(2)
    out: list[tuple[np.ndarray, ...]] = []
    with process_pool(jobs) as pool:  # `jobs` refits in flight, read in order
        running = deque(pool.submit(_refit, t) for t in islice(tasks, jobs))
        while running:
            out.append(running.popleft().result())
            if len(out) < k and settled(out, k):
                break
            if (task := next(tasks, None)) is not None:
                running.append(pool.submit(_refit, task))
        wait(running)  # a pool shared with the next step is left idle
    error, bias, coverage, undetected = _recovery(out)
    return pd.DataFrame({"channel": world.data.channels, "model": source,
                         "recovery_error_pct": np.round(100 * error, 1), "bias_pct": np.round(100 * bias, 1),
                         "coverage": np.round(coverage, 3),
                         "verdict": [verdict(*v) for v in zip(error, coverage, undetected)], "round": round_no},
                        columns=COLUMNS)


def _recovery(out: list[tuple[np.ndarray, ...]], rest: int = 0, best: bool = True) -> tuple[np.ndarray, ...]:
    """(error, bias, coverage, undetected) per channel from the refits in `out`, counting `rest` refits still
    to run as perfect (`best`: error 0, covered, detected) or as failed (error ∞, missed, undetected)."""
    truth, roi, low, high = (np.stack([o[i] for o in out]) for i in range(4))
    rel = (roi - truth) / truth
    pad = np.full((rest, rel.shape[1]), 0.0 if best else np.inf)
    n = len(out) + rest
    covered = ((low <= truth) & (truth <= high)).sum(axis=0) + (rest if best else 0)
    undetected = (low <= DETECT_SHARE * truth).sum(axis=0) + (0 if best else rest)
    return (np.median(np.abs(np.vstack([rel, pad])), axis=0), np.median(rel, axis=0), covered / n, undetected / n)


def settled(out: list[tuple[np.ndarray, ...]], k: int) -> bool:
    """True when every channel's verdict is the same whether the refits still to run all succeed or all fail
    (the verdict only gets worse with a larger error, a lower coverage or more undetected refits)."""
    rest = k - len(out)
    best, worst = _recovery(out, rest, best=True), _recovery(out, rest, best=False)
    return all(verdict(b[0], b[2], b[3]) == verdict(w[0], w[2], w[3]) for b, w in zip(zip(*best), zip(*worst)))


def audit_source(res: Results) -> str | None:
    """The model whose fitted world is simulated: the first in SOURCE_ORDER that ran and kept its weekly series."""
    ok = res.ok_models()
    return next((m for m in SOURCE_ORDER if m in ok and ok[m].weekly is not None), None)


def run_audit(ws: Workspace, k: int = DEFAULT_K, jobs: int | None = None) -> pd.DataFrame:
    """Audit the latest round from its first available fitted model; writes results/audit.csv."""
    res = read_model(ws.latest, Results)
    ok, source = res.ok_models(), audit_source(res)
    if source is None:
        raise InputError(f"{ws.latest}: no model with a weekly decomposition to simulate from (run the models first)")
    cfg = round_config(ws, res)
    data = model_data(read_weekly(ws, cfg, markets=True), cfg)
    roi, tests = {ch: c.roi for ch, c in ok[source].channels.items()}, ok[source].diagnostics.get(
        experiments.EXPERIMENTS_KEY, [])
    if isinstance(data, PanelData):
        world = build_panel_world(data, PanelDraws.from_netcdf(ws.draws_path(res.round, source)), roi, tests)
    else:
        world = build_world(data, ok[source].weekly, roi, tests)
    table = recover(world, cfg, k, seed=cfg.seed, jobs=jobs, source=source, round_no=res.round)
    write_csv(ws.result(AUDIT_FILE), table)
    return table
