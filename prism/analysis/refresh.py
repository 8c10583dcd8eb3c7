"""`prism refresh` analysis: new weeks against the approved model, before and after its refit.

Three questions, answered from kept draws (no number here comes from anywhere else):
1. Did the approved model see the new weeks coming? Its draws forecast them from their actual spend (the
   media part exactly, with the carry-over of the weeks before; the baseline by projecting each draw's
   baseline onto trend, seasonality, controls and events, which is exact for ridge and a least-squares
   reading of the Bayesian models' own baselines), plus the fit's residual noise. The check reports the
   share of weeks inside the 90 % interval, the error, and a χ² test of the standardised misses.
2. If it missed, who explains the misses? Each channel's forecast contribution in the new weeks (its
   adstocked, saturated spend) is regressed on the residuals, weighted by the forecast's spread; a level
   shift of the baseline competes as one more candidate. Channels whose z passes `SUSPECT_Z` and beat the
   level shift are suspects (at most `MAX_SUSPECTS`).
3. Did the refit move? Per channel the ROI before and after (the models' draws pooled), both 90 %
   intervals, and a flag when the new estimate leaves the old interval while the old estimate is outside
   the new one too: a refit that only grew less sure (a wider interval around a shifted mean that still
   holds the old estimate) is not a move. On unchanged simulated weeks the one-sided rule flagged a ridge
   channel whose refit interval widened 2.5× (bench/refresh.py seed 101).
The release gates (config.json `gates`) are judged here too; the orchestration writes the files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from prism.analysis.confidence import compute_confidence
from prism.errors import InputError
from prism.models.base import MAX_SUMMARY_DRAWS, ModelData
from prism.models.draws import KeptDraws, roi_draws
from prism.schemas import (CONVERGENCE, Config, ForecastCheck, GateResult, Gates, RefreshReport, Results, Suspect,
                           Verdict)
from prism.workspace import Workspace, read_model

INTERVAL = (0.05, 0.95)  # the 90 % interval every Prism figure carries
MISS_P = 0.01  # χ² p-value of the standardised misses below this: the forecast missed the new weeks
SUSPECT_Z = 3.0  # a channel explains the misses beyond noise (about a 0.3 % two-sided chance each)
MAX_SUSPECTS = 2
LEVEL = "baseline level"  # the non-media candidate: a shift of the whole baseline
OVERLAP_RTOL, OVERLAP_ATOL = 1e-6, 1e-6
POOL_DRAWS = MAX_SUMMARY_DRAWS  # draws each model brings to a pooled forecast or ROI
WEEK = pd.Timedelta(days=7)
REFRESH_COLUMNS = ["channel", "roi_before", "roi_before_low", "roi_before_high", "roi_after", "roi_after_low",
                   "roi_after_high", "moved_pct", "flag"]
FLAG_NONE, FLAG_MOVED, FLAG_SUSPECT = "none", "moved", "suspect"


# ---------------------------------------------------------------------------------------------- weeks
@dataclass
class Appended:
    """The approved weeks (restated where allowed) followed by the new weeks."""

    frame: pd.DataFrame
    new_weeks: list[str]
    restated: list[str]


def merge_weeks(approved: pd.DataFrame, incoming: pd.DataFrame, cfg: Config, source: str,
                restate: bool) -> Appended:
    """Append the weeks `incoming` adds after the approved ones; changed overlapping weeks need `restate`.

    The file may hold every week or only the new ones. Overlapping weeks whose values differ are named in
    one line and refused unless `restate`; a week before the approved end that the approved table lacks,
    or a gap after it, is refused (the weeks must run on without holes).
    """
    d = cfg.data
    required = [d.kpi, *d.channels, *d.controls]
    missing = [c for c in required if c not in incoming.columns]
    if missing:
        raise InputError(f"{source}: column '{missing[0]}' that config.json names is missing")
    old = approved.set_index(pd.to_datetime(approved[d.date_column]))
    new = incoming.set_index(pd.to_datetime(incoming[d.date_column])).reindex(columns=old.columns)
    events = [c for c in old.columns if c not in required and c != d.date_column]
    new[events] = new[events].fillna(0.0)  # an event the new weeks do not mention did not happen in them
    overlap = new.index.intersection(old.index)
    changed = _changed_weeks(old.loc[overlap], new.loc[overlap], [c for c in old.columns if c != d.date_column])
    if changed and not restate:
        shown = "; ".join(f"{week} ({', '.join(cols)})" for week, cols in changed)
        raise InputError(f"{source}: {len(changed)} week(s) already modelled have changed values: {shown}; "
                         f"pass --restate to refit with them")
    last = old.index.max()
    before = new.index[(new.index <= last) & ~new.index.isin(old.index)]
    if len(before):
        raise InputError(f"{source}: week {before[0].date()} is not in the approved data and is not after its last "
                         f"week {last.date()}; only new weeks can be added")
    fresh = new.loc[new.index > last].sort_index()
    if fresh.empty:
        raise InputError(f"{source}: no weeks after {last.date()}, the approved data's last week: nothing to refresh")
    steps = pd.DatetimeIndex([last]).append(fresh.index).to_series().diff().iloc[1:]
    if (steps != WEEK).any():
        gap = steps.index[(steps != WEEK).to_numpy()][0]
        raise InputError(f"{source}: week {gap.date()} does not follow the week before it by 7 days; fill the gap")
    merged = old.copy()
    if changed:
        weeks = pd.to_datetime([w for w, _ in changed])
        merged.loc[weeks] = new.loc[weeks, merged.columns].to_numpy()
    merged = pd.concat([merged, fresh[merged.columns]])
    merged[d.date_column] = merged.index
    return Appended(merged.reset_index(drop=True), [str(w.date()) for w in fresh.index], [w for w, _ in changed])


def _changed_weeks(old: pd.DataFrame, new: pd.DataFrame, columns: list[str]) -> list[tuple[str, list[str]]]:
    out = []
    for week in old.index:
        a, b = old.loc[week, columns].to_numpy(float), new.loc[week, columns].to_numpy(float)
        same = np.isclose(a, b, rtol=OVERLAP_RTOL, atol=OVERLAP_ATOL) | (np.isnan(a) & np.isnan(b))
        if not same.all():
            out.append((str(week.date()), [c for c, s in zip(columns, same) if not s]))
    return out


# ------------------------------------------------------------------------------------------- forecast
@dataclass
class ModelForecast:
    """One approved model's predictive draws of the new weeks and its media part."""

    predictive: np.ndarray  # (S, H) KPI, noise included
    media: np.ndarray  # (S, H, C) each channel's contribution


def baseline_design(data: ModelData, n_train: int, cfg: Config) -> np.ndarray:
    """(T, 1 + q) intercept, controls, events, trend and seasonality over all weeks (ridge's baseline columns)."""
    from prism.models.ridge import baseline_features  # here: ridge imports scipy.optimize, `prism ask` this module

    other = baseline_features(data.dates, n_train, np.hstack([data.controls, data.events]), cfg)
    return np.column_stack([np.ones(data.n_weeks), other])


def forecast_model(kd: KeptDraws, data: ModelData, cfg: Config, n_old: int, rng: np.random.Generator
                   ) -> ModelForecast:
    """The approved draws' forecast of weeks n_old… of `data` from their actual spend."""
    if len(kd.dates) != n_old or not (kd.dates == data.dates[:n_old]).all():
        raise InputError(f"the approved {kd.model} draws cover {len(kd.dates)} weeks that differ from the approved "
                         f"data's {n_old}; approve a round whose draws match its data")
    design = baseline_design(data, kd.n_train, cfg)
    coef, *_ = np.linalg.lstsq(design[:n_old], kd.baseline.T, rcond=None)  # (p, S): each draw's baseline read back
    media = kd.contributions(data.spend)  # the approved weeks' spend carries over into the new ones
    fitted = kd.baseline + media[:, :n_old].sum(axis=2)
    sigma = float(np.sqrt(np.mean((data.y[:n_old] - fitted.mean(axis=0)) ** 2)))
    pick = equal_draws(kd.n_draws)
    mean = (design[n_old:] @ coef).T[pick] + media[pick, n_old:].sum(axis=2)
    return ModelForecast(mean + rng.normal(0.0, sigma, size=mean.shape), media[pick, n_old:])


def equal_draws(n_draws: int) -> np.ndarray:
    """POOL_DRAWS indices into a model's draws, cycling through them: every model weighs the same in a pool,
    however many draws it kept (a MAP fit keeps one; thinning the others down to it left a 3-draw "interval")."""
    return np.resize(np.arange(n_draws), POOL_DRAWS)


def pooled(forecasts: list[ModelForecast]) -> ModelForecast:
    """The models' forecasts as one mixture, each model weighted equally (POOL_DRAWS draws each)."""
    return ModelForecast(np.concatenate([f.predictive for f in forecasts]),
                         np.concatenate([f.media for f in forecasts]))


def forecast_check(fc: ModelForecast, actual: np.ndarray, dates: list[str], models: list[str]) -> ForecastCheck:
    """Coverage of the 90 % interval, error, bias and the χ² test of the standardised misses."""
    low, high = np.quantile(fc.predictive, INTERVAL, axis=0)
    mean, sd = fc.predictive.mean(axis=0), fc.predictive.std(axis=0)
    z = (actual - mean) / np.where(sd > 0, sd, np.nan)
    stat = float(np.nansum(z ** 2))
    from scipy.stats import chi2  # here: scipy.stats costs ~1 CPU s to import, and `prism ask` imports this module

    p = float(chi2.sf(stat, df=len(actual)))
    totals = fc.predictive.sum(axis=1)
    nonzero = np.abs(actual) > 1e-12
    return ForecastCheck(
        weeks=len(actual), start=dates[0], end=dates[-1],
        coverage=float(np.mean((actual >= low) & (actual <= high))),
        mape=float(np.mean(np.abs((actual - mean)[nonzero] / actual[nonzero])) * 100.0) if nonzero.any() else 0.0,
        bias_pct=float(np.mean(actual - mean) / np.mean(mean) * 100.0), chi2_p=p, missed=p < MISS_P,
        actual_total=float(actual.sum()), forecast_total=float(totals.mean()),
        forecast_total_low=float(np.quantile(totals, INTERVAL[0])),
        forecast_total_high=float(np.quantile(totals, INTERVAL[1])), models=models)


def suspects(fc: ModelForecast, actual: np.ndarray, channels: list[str]) -> list[Suspect]:
    """The candidates whose forecast input explains the misses (channels, and a level shift of the baseline).

    For candidate x: b = Σ w·r·x ÷ Σ w·x² with w = 1 ÷ forecast variance, z = b·√(Σ w·x²). Under a doubled
    channel effect the residuals are that channel's own contribution, which no other candidate matches
    better (Cauchy–Schwarz). A channel counts only when its z passes SUSPECT_Z and beats the level shift's.
    """
    resid = actual - fc.predictive.mean(axis=0)
    w = 1.0 / np.maximum(fc.predictive.var(axis=0), 1e-12)
    candidates = {LEVEL: np.ones_like(resid), **{ch: fc.media[:, :, c].mean(axis=0) for c, ch in enumerate(channels)}}
    scored = []
    for name, x in candidates.items():
        info = float(np.sum(w * x * x))
        if info <= 0:
            continue
        b = float(np.sum(w * resid * x)) / info
        scored.append(Suspect(name=name, z=b * np.sqrt(info), change_pct=b * 100.0 if name != LEVEL else
                              b / float(np.mean(fc.predictive)) * 100.0))
    level = next((s.z for s in scored if s.name == LEVEL), 0.0)
    ranked = sorted((s for s in scored if abs(s.z) >= SUSPECT_Z), key=lambda s: -abs(s.z))
    return [s for s in ranked if s.name == LEVEL or abs(s.z) > abs(level)][:MAX_SUSPECTS]


# ------------------------------------------------------------------------------------------ stability
def pooled_roi(draws: dict[str, KeptDraws], channels: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(C,) mean, low and high of the ROI with the models' draws pooled (equal weight per model; NaN: none ran)."""
    per_model = [roi_draws(kd) for kd in draws.values()]
    if not per_model:  # no model ran: nothing to report
        return tuple(np.full(len(channels), np.nan) for _ in range(3))
    stacked = np.concatenate([r[equal_draws(r.shape[0])] for r in per_model])
    return np.nanmean(stacked, axis=0), *np.nanquantile(stacked, INTERVAL, axis=0)


def stability_table(before: dict[str, KeptDraws], after: dict[str, KeptDraws], channels: list[str],
                    suspect_names: set[str]) -> pd.DataFrame:
    """results/refresh.csv: ROI before and after with both intervals, the move in %, and the flag."""
    b, b_lo, b_hi = pooled_roi(before, channels)
    a, a_lo, a_hi = pooled_roi(after, channels)
    rows = []
    for c, ch in enumerate(channels):
        moved = bool(np.isfinite(a[c]) and not b_lo[c] <= a[c] <= b_hi[c] and not a_lo[c] <= b[c] <= a_hi[c])
        flags = [f for f, on in ((FLAG_MOVED, moved), (FLAG_SUSPECT, ch in suspect_names)) if on]
        rows.append({"channel": ch, "roi_before": b[c], "roi_before_low": b_lo[c], "roi_before_high": b_hi[c],
                     "roi_after": a[c], "roi_after_low": a_lo[c], "roi_after_high": a_hi[c],
                     "moved_pct": (a[c] - b[c]) / abs(b[c]) * 100.0 if b[c] else float("nan"),
                     "flag": "+".join(flags) or FLAG_NONE})
    return pd.DataFrame(rows, columns=REFRESH_COLUMNS)


# ---------------------------------------------------------------------------------------------- gates
def _gate(name: str, rule, passed: bool, value: float | None, reason: str) -> GateResult:
    return GateResult(name=name, action=rule.action, passed=passed, value=value, limit=rule.limit, reason=reason)


def convergence_gate(gates: Gates, approved: Results, refit: Results) -> GateResult:
    """Models that ran for the approved round but failed in the refit, or whose sampler failed gates the approved
    fit passed (a quick approved round's sampler never passed them: the refit is then no worse)."""
    bad = [f"{name}: {m.reason or m.status}" for name, m in refit.models.items()
           if name in approved.ok_models() and m.status != "ok"]
    bad += [str(f) for name, m in refit.ok_models().items() if name in approved.ok_models()
            and not CONVERGENCE.failures(name, approved.models[name].diagnostics)
            for f in CONVERGENCE.failures(name, m.diagnostics)]
    count = len({b.split(":")[0] for b in bad})
    return _gate("convergence", gates.convergence, count <= gates.convergence.limit, float(count),
                 "; ".join(bad) or "every refitted model ran and passed its sampler gates")


def holdout_gate(gates: Gates, refit: Results, forecast: ForecastCheck) -> GateResult:
    """The largest gap (points) between a refitted model's holdout MAPE and the approved model's error on the
    new weeks. The refit's locked holdout is its final weeks, mostly the new ones: a refit worse on them than
    the model it replaces is a regression, while a drift both share is the forecast check's to report."""
    rises = {name: m.fit.mape_test - forecast.mape for name, m in refit.ok_models().items()
             if m.fit and m.fit.mape_test is not None}
    if not rises:
        return _gate("holdout_error", gates.holdout_error, True, None, "no holdout error to compare")
    worst = max(rises, key=rises.get)
    rule = gates.holdout_error
    return _gate("holdout_error", rule, rises[worst] <= rule.limit, rises[worst],
                 f"{worst}'s holdout MAPE {refit.models[worst].fit.mape_test:.1f}% against the approved model's "
                 f"{forecast.mape:.1f}% on the new weeks ({rises[worst]:+.1f} points, limit +{rule.limit:g})")


def judge_gates(gates: Gates, approved: Results, refit: Results, forecast: ForecastCheck, table: pd.DataFrame,
                downgrades: list[str]) -> list[GateResult]:
    """Every release gate, passed or failed."""
    moved = table.loc[table["flag"].str.contains(FLAG_MOVED), "channel"].tolist()
    cov, mov, down = gates.forecast_coverage, gates.roi_moves, gates.confidence_downgrades
    return [
        convergence_gate(gates, approved, refit),
        holdout_gate(gates, refit, forecast),
        _gate("forecast_coverage", cov, forecast.coverage >= cov.limit, forecast.coverage,
              f"{forecast.coverage:.0%} of {forecast.weeks} new weeks inside the 90 % forecast interval "
              f"(at least {cov.limit:.0%})"),
        _gate("roi_moves", mov, len(moved) <= mov.limit, float(len(moved)),
              f"ROI left the approved interval: {', '.join(moved)}" if moved else "no ROI left its approved interval"),
        _gate("confidence_downgrades", down, len(downgrades) <= down.limit, float(len(downgrades)),
              f"confidence fell: {', '.join(downgrades)}" if downgrades else "no confidence label fell"),
    ]


RANK = {"low": 0, "medium": 1, "high": 2}


def downgrades(ws: Workspace, approved: Results, refit: Results) -> list[str]:
    """Channels whose confidence label is lower after the refit than in the approved round ("ch high→medium")."""
    before = approved.confidence or compute_confidence(ws, approved)
    after = compute_confidence(ws, refit)
    return [f"{ch} {before[ch].label}→{after[ch].label}" for ch in refit.channels
            if ch in before and ch in after and RANK[after[ch].label] < RANK[before[ch].label]]


def verdict(gates: list[GateResult], forecast: ForecastCheck, table: pd.DataFrame) -> Verdict:
    """blocked when a blocking gate failed; drift when the forecast missed or a channel is flagged; else stable."""
    if any(not g.passed and g.action == "block" for g in gates):
        return Verdict.BLOCKED
    if forecast.missed or (table["flag"] != FLAG_NONE).any():
        return Verdict.DRIFT
    return Verdict.STABLE


def read_refresh(ws: Workspace) -> RefreshReport | None:
    """results/refresh.json, or None before the first refresh."""
    path = ws.result("refresh.json")
    return read_model(path, RefreshReport) if path.exists() else None
