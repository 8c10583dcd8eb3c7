"""What every model shares: the input split, the fitted-model interface and the one decomposition.

A model's module exposes `fit(data: ModelData, cfg: Config, quick: bool) -> Fitted`, whose `draws` are
the model's `KeptDraws`. `summarize` turns any `Fitted` into a `ModelResult` with the same definitions
for all three models (docs/architecture/layers.md), every quantity computed from the kept draws by `draws.py`: ROI =
contribution ÷ spend over the training weeks, contribution % of KPI, mROI from a 1 % spend bump,
saturation %, response curves; plus fit metrics on the locked holdout block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from prism.data.prepare import MIN_HOLDOUT_WEEKS, MIN_TRAIN_WEEKS
from prism.data.events import event_design
from prism.errors import InputError
from prism.models.draws import (CURVE_MULTIPLIERS, KeptDraws, NationalDraws, PanelDraws, mroi, response_levels, roi_draws, saturation_fraction,
                                train_totals, training_spend)
from prism.models.evidence import channel_evidence
from prism.schemas import ChannelEvidence, ChannelResult, Config, EventResult, FitMetrics, ModelResult, ResponseCurve, Weekly

HOLDOUT_SHARE = 0.10
DEFAULT_HOLDOUT = 8
MAX_SUMMARY_DRAWS = 400  # draws a model keeps (and summarises): the Bayesian models thin to it, ridge too


def holdout_weeks(n_weeks: int, cfg: Config) -> int:
    """The locked final block: config value, else about 10 % of weeks and at least 8 — fewer (down to
    MIN_HOLDOUT_WEEKS) when the data is short, so that whatever discover accepts, `run` can fit."""
    default = max(DEFAULT_HOLDOUT, round(HOLDOUT_SHARE * n_weeks))
    n = cfg.holdout_weeks if cfg.holdout_weeks is not None else max(MIN_HOLDOUT_WEEKS, min(default, n_weeks - MIN_TRAIN_WEEKS))
    if n_weeks - n < MIN_TRAIN_WEEKS:
        raise InputError(f"holdout_weeks={n} leaves {n_weeks - n} training weeks; at least {MIN_TRAIN_WEEKS} "
                         f"are needed")
    return n


MEDIA_NUMBERS_PER_CHANNEL = 3  # every model estimates each channel's effect, carry-over and saturation


def check_identifiable(channels: int, train_weeks: int, markets: int = 1) -> None:
    """Refuse, before any fit starts, more channels than the training weeks (of every market of a panel) can
    identify (200 channels over 91 training weeks ran ridge into its 300 s timeout): each channel needs its
    own numbers from the weeks."""
    most = train_weeks * markets // MEDIA_NUMBERS_PER_CHANNEL
    if channels > most:
        over = f"{train_weeks} training weeks" + (f" × {markets} markets" if markets > 1 else "")
        raise InputError(f"{channels} channels over {over}: each channel needs "
                         f"{MEDIA_NUMBERS_PER_CHANNEL} numbers from the data (effect, carry-over, saturation), so at "
                         f"most {most} channels can be identified; merge small channels or pick them with "
                         f"`prism discover --channels`")


class WeekSplit:
    """Weeks of data whose first axis (of `y`) is the week, oldest first, and whose last `n_test` weeks are
    the locked holdout: national series and regional panels alike."""

    y: np.ndarray
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


@dataclass(frozen=True)
class ModelData(WeekSplit):
    """One clean weekly table as arrays. Rows are weeks, oldest first; the last `n_test` are the holdout.

    `events` (T, E) are the baseline's events and holidays (0/1 or intensity), built once here for all models.
    """

    dates: pd.DatetimeIndex
    y: np.ndarray
    spend: np.ndarray
    controls: np.ndarray
    channels: list[str]
    control_names: list[str]
    n_test: int
    events: np.ndarray
    event_names: list[str]
    lifts: tuple = ()  # experiments.Lift per lift test the models calibrate against

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, cfg: Config) -> "ModelData":
        """Build from prepare's weekly table (date column, KPI, channels, controls)."""
        d = cfg.data
        frame = frame.sort_values(d.date_column).reset_index(drop=True)
        dates = pd.DatetimeIndex(pd.to_datetime(frame[d.date_column]))
        event_names, events = event_design(frame, dates, cfg.baseline)
        return cls(
            dates=dates,
            y=frame[d.kpi].to_numpy(dtype=float),
            spend=frame[d.channels].to_numpy(dtype=float),
            controls=frame[d.controls].to_numpy(dtype=float) if d.controls else np.zeros((len(frame), 0)),
            channels=list(d.channels),
            control_names=list(d.controls),
            n_test=holdout_weeks(len(frame), cfg),
            events=events,
            event_names=event_names,
        )


@dataclass
class Fitted:
    """A fitted model as the shared summary sees it: its kept draws plus what it reports about itself.

    A panel fit (`fit_panel`) sets `panel_draws` and may leave `draws` None: it becomes the panel read as
    one national model (`PanelDraws.national()`), so the national summary is the same code for both.
    """

    engine: str
    version: str
    params: dict[str, dict[str, float]]
    diagnostics: dict[str, Any]  # a "cv_mape" entry becomes fit.cv_mape (the tuning objective)
    draws: KeptDraws | NationalDraws | None
    events: np.ndarray | None = None  # (S, T, E) each event's part of the fit (inside draws.baseline), or None
    prior: KeptDraws | None = None  # media parameters drawn from the model's own prior (Bayesian models)
    at_zero: np.ndarray | None = None  # (S, C) resamples whose media coefficient sits at the zero bound (ridge)
    against_prior: tuple[np.ndarray, np.ndarray] | None = None  # ridge: (C,) contraction, (C,) shift vs its penalty
    panel_draws: PanelDraws | None = None  # panel fits: one KeptDraws per market, the same joint draws

    def __post_init__(self) -> None:
        if self.draws is None:
            if self.panel_draws is None:
                raise ValueError(f"{self.engine}: a fit needs its draws or its panel draws")
            self.draws = self.panel_draws.national()


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


def roi_evidence(fitted: Fitted) -> tuple[DrawSet, list[ChannelEvidence]]:
    """Every channel's ROI draws over the training weeks and the evidence behind them: all that the audit's and
    the test plans' refits read (`channel_summary` adds contributions, mROI and saturation, 4× the work)."""
    roi = DrawSet(roi_draws(fitted.draws))
    prior = roi_draws(fitted.prior) if fitted.prior is not None else None  # the model's own prior, same decomposition
    return roi, channel_evidence(roi.draws, prior, fitted.at_zero, fitted.against_prior)


def channel_summary(fitted: Fitted, data: ModelData) -> dict[str, ChannelResult]:
    """ROI, contribution, mROI and saturation per channel over the training weeks."""
    kd = fitted.draws
    spend_tot = training_spend(kd)
    roi, evidence = roi_evidence(fitted)
    kpi_total = float(data.y[: data.n_train].sum())
    sat = saturation_fraction(kd)
    out: dict[str, ChannelResult] = {}
    for c, ch in enumerate(data.channels):
        contribution = float(train_totals(kd, c, kd.spend[:, c]).mean())
        out[ch] = ChannelResult(
            roi=float(roi.mean[c]),
            roi_low=float(roi.low[c]),
            roi_high=float(roi.high[c]),
            contribution=contribution,
            contribution_pct=contribution / kpi_total * 100.0 if kpi_total else float("nan"),
            mroi=mroi(kd, c),
            saturation_pct=float(sat[c] * 100.0),
            spend=float(spend_tot[c]),
            params=fitted.params.get(ch, {}),
            evidence=evidence[c],
        )
    return out


def response_curves(fitted: Fitted, data: ModelData) -> dict[str, ResponseCurve]:
    """Average weekly contribution as each channel's training spend is scaled from 0× to 2×."""
    kd = fitted.draws
    curves: dict[str, ResponseCurve] = {}
    for c, ch in enumerate(data.channels):
        ds = DrawSet(response_levels(kd, c, CURVE_MULTIPLIERS))
        avg_spend = float(data.spend[: data.n_train, c].mean())
        curves[ch] = ResponseCurve(
            spend=(CURVE_MULTIPLIERS * avg_spend).tolist(),
            kpi=ds.mean.tolist(),
            kpi_low=ds.low.tolist(),
            kpi_high=ds.high.tolist(),
            current_spend=avg_spend,
        )
    return curves


def weekly_series(fitted: Fitted, data: ModelData) -> Weekly:
    """Fitted KPI split into media per channel, events (each and together) and the rest of the baseline."""
    kd = fitted.draws
    pred = DrawSet(kd.predict())
    contrib = kd.contributions(kd.spend).mean(axis=0)
    events = (fitted.events.mean(axis=0) if fitted.events is not None
              else np.zeros((data.n_weeks, len(data.event_names))))
    return Weekly(
        dates=[d.strftime("%Y-%m-%d") for d in data.dates],
        actual=data.y.tolist(),
        fitted=pred.mean.tolist(),
        fitted_low=pred.low.tolist(),
        fitted_high=pred.high.tolist(),
        baseline=(pred.mean - contrib.sum(axis=1) - events.sum(axis=1)).tolist(),
        contributions={ch: contrib[:, c].tolist() for c, ch in enumerate(data.channels)},
        train_weeks=data.n_train,
        events=events.sum(axis=1).tolist() if data.event_names else [],
        event_contributions={name: events[:, e].tolist() for e, name in enumerate(data.event_names)},
    )


def event_summary(weekly: Weekly, data: ModelData) -> dict[str, EventResult]:
    """Each event's contribution over the training weeks, as a share of the KPI."""
    tr = data.n_train
    kpi_total = float(data.y[:tr].sum())
    out = {}
    for e, name in enumerate(data.event_names):
        total = float(np.sum(weekly.event_contributions[name][:tr]))
        out[name] = EventResult(contribution=total, contribution_pct=total / kpi_total * 100.0 if kpi_total else
                                float("nan"), weeks=int(np.count_nonzero(data.events[:tr, e])))
    return out


def plausibility(channels: dict[str, ChannelResult], weekly: Weekly) -> dict[str, Any]:
    """Diagnostics the Critic reads: total media share and whether the baseline (events included) goes negative."""
    media_pct = float(sum(c.contribution_pct for c in channels.values()))
    events = np.asarray(weekly.events[: weekly.train_weeks]) if weekly.events else 0.0
    baseline = np.asarray(weekly.baseline[: weekly.train_weeks]) + events
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
        events=event_summary(weekly, data),
    )
