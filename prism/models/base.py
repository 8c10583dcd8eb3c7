"""What every model shares: the input split, the fitted-model interface and the one decomposition.

A model's module exposes `fit(data: ModelData, cfg: Config, quick: bool) -> Fitted`. `summarize` turns
any `Fitted` into a `ModelResult` with the same definitions for all three models (DESIGN.md): ROI =
contribution ÷ spend over the training weeks, contribution % of KPI, mROI from a 1 % spend bump,
saturation %, response curves and fit metrics on the locked holdout block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from prism.errors import InputError
from prism.models.evidence import channel_evidence
from prism.schemas import ChannelResult, Config, FitMetrics, ModelResult, ResponseCurve, Weekly

MIN_HOLDOUT = 8
HOLDOUT_SHARE = 0.10
MROI_BUMP = 0.01
CURVE_MULTIPLIERS = np.linspace(0.0, 2.0, 21)
MAX_SUMMARY_DRAWS = 400


def holdout_weeks(n_weeks: int, cfg: Config) -> int:
    """The locked final block: config value, else about 10 % of weeks and at least 8."""
    n = cfg.holdout_weeks if cfg.holdout_weeks is not None else max(MIN_HOLDOUT, round(HOLDOUT_SHARE * n_weeks))
    if n_weeks - n < 20:
        raise InputError(f"holdout_weeks={n} leaves {n_weeks - n} training weeks; at least 20 are needed")
    return n


@dataclass(frozen=True)
class ModelData:
    """One clean weekly table as arrays. Rows are weeks, oldest first; the last `n_test` are the holdout."""

    dates: pd.DatetimeIndex
    y: np.ndarray
    spend: np.ndarray
    controls: np.ndarray
    channels: list[str]
    control_names: list[str]
    n_test: int

    @property
    def n_weeks(self) -> int:
        return len(self.y)

    @property
    def n_train(self) -> int:
        return self.n_weeks - self.n_test

    @property
    def train(self) -> slice:
        return slice(0, self.n_train)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, cfg: Config) -> "ModelData":
        """Build from prepare's weekly table (date column, KPI, channels, controls)."""
        d = cfg.data
        frame = frame.sort_values(d.date_column).reset_index(drop=True)
        return cls(
            dates=pd.DatetimeIndex(pd.to_datetime(frame[d.date_column])),
            y=frame[d.kpi].to_numpy(dtype=float),
            spend=frame[d.channels].to_numpy(dtype=float),
            controls=frame[d.controls].to_numpy(dtype=float) if d.controls else np.zeros((len(frame), 0)),
            channels=list(d.channels),
            control_names=list(d.controls),
            n_test=holdout_weeks(len(frame), cfg),
        )


class Fitted(Protocol):
    """A fitted model as the shared summary sees it. S = posterior draws or bootstrap resamples."""

    engine: str
    version: str
    params: dict[str, dict[str, float]]
    diagnostics: dict[str, Any]  # a "cv_mape" entry becomes fit.cv_mape (the tuning objective)

    def contributions(self, spend: np.ndarray) -> np.ndarray:
        """(S, T, C) media contribution in KPI units for any (T, C) spend over all weeks."""

    def predict(self) -> np.ndarray:
        """(S, T) fitted KPI over all weeks with the actual spend."""

    def saturation_fraction(self) -> np.ndarray:
        """(C,) share of each channel's maximum effect reached at its current average spend."""


@dataclass
class DrawSet:
    """Draw-wise summary helper: mean and a central 90 % interval."""

    draws: np.ndarray
    axis: int = 0

    @property
    def mean(self) -> np.ndarray:
        return self.draws.mean(axis=self.axis)

    @property
    def low(self) -> np.ndarray:
        return np.quantile(self.draws, 0.05, axis=self.axis)

    @property
    def high(self) -> np.ndarray:
        return np.quantile(self.draws, 0.95, axis=self.axis)


def thin(draws: np.ndarray, limit: int = MAX_SUMMARY_DRAWS) -> np.ndarray:
    """Evenly thinned draws along axis 0 so summaries stay fast."""
    if draws.shape[0] <= limit:
        return draws
    return draws[np.linspace(0, draws.shape[0] - 1, limit).astype(int)]


def mape(actual: np.ndarray, fitted: np.ndarray) -> float:
    """Mean absolute percentage error in %, over weeks whose KPI is not zero."""
    mask = np.abs(actual) > 1e-12
    if not mask.any():
        return float("nan")
    return float(np.mean(np.abs((actual[mask] - fitted[mask]) / actual[mask])) * 100.0)


def r_squared(actual: np.ndarray, fitted: np.ndarray) -> float:
    ss_res = float(np.sum((actual - fitted) ** 2))
    ss_tot = float(np.sum((actual - actual.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def fit_metrics(data: ModelData, fitted_mean: np.ndarray, cv_mape: float | None = None) -> FitMetrics:
    tr, te = data.train, slice(data.n_train, None)
    return FitMetrics(
        r2=r_squared(data.y[tr], fitted_mean[tr]),
        mape_train=mape(data.y[tr], fitted_mean[tr]),
        mape_test=mape(data.y[te], fitted_mean[te]) if data.n_test else None,
        cv_mape=cv_mape,
    )


def _train_totals(contrib: np.ndarray, n_train: int) -> np.ndarray:
    """(S, C) contribution summed over the training weeks."""
    return contrib[:, :n_train, :].sum(axis=1)


def prior_roi(fitted: Fitted, data: ModelData) -> np.ndarray | None:
    """(P, C) ROI under the model's own prior, through the same decomposition (Bayesian models keep their
    prior media draws as `prior`); None for a model without one."""
    prior = getattr(fitted, "prior", None)
    if prior is None:
        return None
    spend_tot = data.spend[: data.n_train].sum(axis=0)
    return _train_totals(prior.contributions(data.spend), data.n_train) / np.where(spend_tot > 0, spend_tot, np.nan)


def channel_summary(fitted: Fitted, data: ModelData) -> dict[str, ChannelResult]:
    """ROI, contribution, mROI and saturation per channel over the training weeks."""
    tr = data.n_train
    spend_tot = data.spend[:tr].sum(axis=0)
    safe_spend = np.where(spend_tot > 0, spend_tot, np.nan)
    base = thin(fitted.contributions(data.spend))
    totals = _train_totals(base, tr)
    roi = DrawSet(totals / safe_spend)
    roi_mean, roi_low, roi_high = roi.mean, roi.low, roi.high
    evidence = channel_evidence(roi.draws, prior_roi(fitted, data), getattr(fitted, "at_zero", None))
    kpi_total = float(data.y[:tr].sum())
    sat = fitted.saturation_fraction()
    out: dict[str, ChannelResult] = {}
    for c, ch in enumerate(data.channels):
        bumped = data.spend.copy()
        bumped[:tr, c] *= 1.0 + MROI_BUMP
        extra = _train_totals(thin(fitted.contributions(bumped)), tr)[:, c] - totals[:, c]
        mroi = float(np.mean(extra) / (MROI_BUMP * spend_tot[c])) if spend_tot[c] > 0 else float("nan")
        contribution = float(totals[:, c].mean())
        out[ch] = ChannelResult(
            roi=float(roi_mean[c]),
            roi_low=float(roi_low[c]),
            roi_high=float(roi_high[c]),
            contribution=contribution,
            contribution_pct=contribution / kpi_total * 100.0 if kpi_total else float("nan"),
            mroi=mroi,
            saturation_pct=float(sat[c] * 100.0),
            spend=float(spend_tot[c]),
            params=fitted.params.get(ch, {}),
            evidence=evidence[c],
        )
    return out


def response_curves(fitted: Fitted, data: ModelData) -> dict[str, ResponseCurve]:
    """Average weekly contribution as each channel's training spend is scaled from 0× to 2×."""
    tr = data.n_train
    curves: dict[str, ResponseCurve] = {}
    for c, ch in enumerate(data.channels):
        levels = []
        for m in CURVE_MULTIPLIERS:
            scaled = data.spend.copy()
            scaled[:tr, c] *= m
            levels.append(_train_totals(thin(fitted.contributions(scaled)), tr)[:, c] / tr)
        ds = DrawSet(np.stack(levels, axis=1))
        avg_spend = float(data.spend[:tr, c].mean())
        curves[ch] = ResponseCurve(
            spend=(CURVE_MULTIPLIERS * avg_spend).tolist(),
            kpi=ds.mean.tolist(),
            kpi_low=ds.low.tolist(),
            kpi_high=ds.high.tolist(),
            current_spend=avg_spend,
        )
    return curves


def weekly_series(fitted: Fitted, data: ModelData) -> Weekly:
    pred = DrawSet(thin(fitted.predict()))
    contrib = thin(fitted.contributions(data.spend)).mean(axis=0)
    return Weekly(
        dates=[d.strftime("%Y-%m-%d") for d in data.dates],
        actual=data.y.tolist(),
        fitted=pred.mean.tolist(),
        fitted_low=pred.low.tolist(),
        fitted_high=pred.high.tolist(),
        baseline=(pred.mean - contrib.sum(axis=1)).tolist(),
        contributions={ch: contrib[:, c].tolist() for c, ch in enumerate(data.channels)},
        train_weeks=data.n_train,
    )


def plausibility(channels: dict[str, ChannelResult], weekly: Weekly) -> dict[str, Any]:
    """Diagnostics the Critic reads: total media share and whether the baseline goes negative."""
    media_pct = float(sum(c.contribution_pct for c in channels.values()))
    baseline = np.asarray(weekly.baseline[: weekly.train_weeks])
    return {
        "media_contribution_pct": media_pct,
        "media_over_100": media_pct > 100.0,
        "negative_baseline": bool(baseline.mean() < 0),
        "negative_baseline_weeks": int((baseline < 0).sum()),
    }


def summarize(fitted: Fitted, data: ModelData, seconds: float, quick: bool) -> ModelResult:
    """The one decomposition every model goes through."""
    channels = channel_summary(fitted, data)
    weekly = weekly_series(fitted, data)
    return ModelResult(
        status="ok",
        engine=fitted.engine,
        version=fitted.version,
        seconds=round(seconds, 2),
        quick=quick,
        fit=fit_metrics(data, np.asarray(weekly.fitted), fitted.diagnostics.get("cv_mape")),
        diagnostics={**fitted.diagnostics, **plausibility(channels, weekly)},
        channels=channels,
        weekly=weekly,
        curves=response_curves(fitted, data),
    )
