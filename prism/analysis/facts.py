"""The numbers every agent may state about a round, derived in one place from the workspace files.

Writers (Analyst, Reporter) print only these facts; checkers (Critic, Proofreader, `numbers`) judge text
against the same facts, so a derived figure (a mean across models, a media share) is computed once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from prism.data.profile import COLLINEAR_ABS_R as COLLINEAR_R  # one threshold: the profile warns, the Critic names
from prism.analysis.confidence import SHORT_HISTORY_WEEKS, Signals, workspace_confidence
from prism.analysis.lift_tests import LiftEffect, lift_effects
from prism.errors import InputError
from prism.schemas import ChannelConfidence, Config, Metadata, ModelResult, Results, currency_of
from prism.workspace import Workspace, read_model, read_weekly

BAYESIAN_MODELS = ("pymc", "lightweight_mmm")
# Plain words for the body of the report (the proofreader keeps method names and jargon to the appendix).
PLAIN_METHOD = {"ridge": "the quick method", "pymc": "the first simulation method",
                "lightweight_mmm": "the second simulation method"}
INTERVAL_LEVEL = 90  # every interval in results is a central 90 % interval (models/base.py)
AGREEMENT_CV = (20, 50)  # high below 20 % CV, medium 20–50 %, low above 50 %
SATURATED_PCT = 80.0  # a channel this close to its maximum effect gains little from more spend
MEDIA_SHARE_CEILING = 100.0  # % of the KPI: beyond it a model puts baseline demand below zero

# Collinearity: a pair of channels whose spend correlates beyond this, or a VIF beyond this.
COLLINEAR_VIF = 10.0
# Sample size: caveat when fewer weeks than two years, or than this many weeks per parameter.
MIN_WEEKS_CAVEAT = SHORT_HISTORY_WEEKS
WEEKS_PER_PARAMETER = 10


@dataclass(frozen=True)
class ChannelFacts:
    """One channel across the models that ran."""

    channel: str
    label: str
    spend: float
    spend_share: float
    roi: float
    roi_low: float
    roi_high: float
    contribution_pct: float
    agreement: str
    cv: float | None
    n_models: int
    roi_by_model: dict[str, float]
    confidence: str  # the calibrated label (analysis/confidence.py): high / medium / low
    saturation_pct: float
    confidence_reason: str = ""
    why: tuple[str, ...] = ()  # reason codes of the label (analysis/confidence.py WHY_*)
    flags: dict[str, list[str]] = field(default_factory=dict)  # evidence flag → models, e.g. prior-driven
    range_pooled: bool = False  # roi_low–roi_high is the 90 % interval of the pooled draws (Results.likely_range)

    @property
    def range_name(self) -> str:
        return range_label(self.range_pooled)


def range_label(pooled: bool) -> str:
    """What a likely range's low–high is, in a few words (Results.likely_range)."""
    return f"{INTERVAL_LEVEL}% range" if pooled else "range across the methods"


@dataclass
class RoundFacts:
    """Config, metadata and results of one round, plus the derived figures the agents state."""

    ws: Workspace
    round_no: int
    cfg: Config
    meta: Metadata
    results: Results | None
    corr: pd.DataFrame | None = field(default=None)

    @classmethod
    def load(cls, ws: Workspace, round_no: int, need_results: bool = True) -> "RoundFacts":
        cfg = read_model(ws.config, Config)
        meta = read_model(ws.metadata, Metadata)
        results = None
        path = ws.round_results(round_no)
        if path.exists():
            results = read_model(path, Results)
        elif need_results:
            raise InputError(f"{path}: file not found (run the models for round {round_no} first)")
        return cls(ws=ws, round_no=round_no, cfg=cfg, meta=meta, results=results)

    # ------------------------------------------------------------------ data-level facts
    @property
    def channels(self) -> list[str]:
        return list(self.cfg.data.channels)

    @property
    def weeks(self) -> int:
        return self.results.weeks if self.results else self.meta.profile.weeks

    def label(self, column: str) -> str:
        return self.meta.label(column)

    @property
    def spend_unit(self) -> str:
        """What one unit of spend is called: the currency (schemas.currency_of), else 'unit'."""
        return currency_of(self.cfg, self.meta) or "unit"

    @cached_property
    def n_parameters(self) -> int:
        return n_parameters(self.cfg)

    @property
    def n_markets(self) -> int:
        """Markets the round was fitted on: 1 for a national series."""
        return len(self.results.markets) if self.results is not None and self.results.markets else 1

    @property
    def observations(self) -> int:
        """Weeks × markets: each market-week of a panel is one more observation of the shared media curves
        (a 40-market panel of 156 weeks is not a short history)."""
        return self.weeks * self.n_markets

    @property
    def sample_caveat_needed(self) -> bool:
        return self.weeks < MIN_WEEKS_CAVEAT or self.observations < WEEKS_PER_PARAMETER * self.n_parameters

    @cached_property
    def correlation(self) -> pd.DataFrame:
        """Channel spend correlation matrix: from metadata's profile, else from the weekly data."""
        if self.corr is not None:
            return self.corr
        chans = self.channels
        prof = self.meta.profile.correlations
        if all(a in prof and all(b in prof[a] for b in chans) for a in chans):
            return pd.DataFrame({a: {b: prof[a][b] for b in chans} for a in chans}).loc[chans, chans]
        return read_weekly(self.ws, self.cfg)[chans].corr().fillna(0.0)

    @cached_property
    def collinear_pairs(self) -> list[tuple[str, str, float]]:
        return collinear_pairs(self.correlation)

    @cached_property
    def vif(self) -> dict[str, float]:
        return vif_from_corr(self.correlation)

    def in_collinear_pair(self, ch: str) -> bool:
        """Its split with another channel cannot be told apart, whatever the models say."""
        return any(ch in (a, b) for a, b, _ in self.collinear_pairs)

    @property
    def high_vif(self) -> dict[str, float]:
        return {c: v for c, v in self.vif.items() if v > COLLINEAR_VIF}

    # ------------------------------------------------------------------ model-level facts
    @property
    def ok_models(self) -> dict[str, ModelResult]:
        return self.results.ok_models() if self.results else {}

    @property
    def failed_models(self) -> dict[str, ModelResult]:
        if not self.results:
            return {}
        return {k: m for k, m in self.results.models.items() if m.status != "ok"}

    def media_share(self, model: str) -> float:
        """Share of the KPI the model gives to all media together, in %."""
        return float(sum(c.contribution_pct for c in self.ok_models[model].channels.values()))

    @property
    def credible_media_shares(self) -> dict[str, float]:
        """Each model's media share of the KPI where it is possible at all (0–100 %): a model that gives
        media more than the whole KPI puts baseline demand below zero, so its split is not a figure to
        report or average (the Critic's plausibility check flags it; the report names it)."""
        shares = {m: self.media_share(m) for m in self.ok_models}
        return {m: v for m, v in shares.items() if 0.0 <= v <= MEDIA_SHARE_CEILING}

    @property
    def impossible_media_shares(self) -> dict[str, float]:
        """The models whose media share lies outside 0–100 % of the KPI."""
        return {m: self.media_share(m) for m in self.ok_models if m not in self.credible_media_shares}

    @cached_property
    def channel_facts(self) -> dict[str, ChannelFacts]:
        return {ch: self._channel(ch) for ch in self.channels if self._models_with(ch)}

    def _models_with(self, ch: str) -> dict[str, ModelResult]:
        return {k: m for k, m in self.ok_models.items() if ch in m.channels}

    def _channel(self, ch: str) -> ChannelFacts:
        models = self._models_with(ch)
        rows = [m.channels[ch] for m in models.values()]
        spend = float(np.mean([r.spend for r in rows]))
        total_spend = sum(self._spend_of(c) for c in self.channels)
        roi = float(np.mean([r.roi for r in rows]))
        low, high, pooled = self.results.likely_range(ch)
        agr = self.results.agreement.get(ch) if self.results else None
        label = agr.label if agr else ("n/a" if len(rows) < 2 else "medium")
        return ChannelFacts(
            channel=ch, label=self.label(ch), spend=spend,
            spend_share=100.0 * spend / total_spend if total_spend > 0 else 0.0,
            roi=roi, roi_low=low, roi_high=high,
            contribution_pct=float(np.mean([r.contribution_pct for r in rows])),
            agreement=label, cv=agr.cv if agr else None, n_models=len(rows),
            roi_by_model={k: m.channels[ch].roi for k, m in models.items()},
            confidence=self.confidence[ch].label, confidence_reason=self.confidence[ch].reason,
            why=tuple(self.confidence[ch].why),
            saturation_pct=float(np.mean([r.saturation_pct for r in rows])),
            flags=Signals.from_results(self.results, ch).flags, range_pooled=pooled,
        )

    @cached_property
    def confidence(self) -> dict[str, ChannelConfidence]:
        """The label compare wrote into the results; computed the same way when compare has not run."""
        return workspace_confidence(self.ws, self.results)

    def _spend_of(self, ch: str) -> float:
        rows = [m.channels[ch].spend for m in self._models_with(ch).values()]
        return float(np.mean(rows)) if rows else 0.0

    @property
    def ranked(self) -> list[ChannelFacts]:
        """Channels by mean ROI, best first."""
        return sorted(self.channel_facts.values(), key=lambda f: f.roi, reverse=True)

    @property
    def portfolio_roi(self) -> float:
        """KPI per unit of spend over all media together (mean contribution ÷ total spend)."""
        facts = self.channel_facts.values()
        spend = sum(f.spend for f in facts)
        return sum(f.roi * f.spend for f in facts) / spend if spend > 0 else 0.0

    @cached_property
    def portfolio_roi_by_model(self) -> dict[str, float]:
        """KPI per unit of spend over all media together, per model (the range a headline gives)."""
        out = {}
        for name, m in self.ok_models.items():
            spend = sum(c.spend for c in m.channels.values())
            out[name] = sum(c.roi * c.spend for c in m.channels.values()) / spend if spend > 0 else 0.0
        return out

    @cached_property
    def undecided_by_model(self) -> dict[str, dict[str, list[str]]]:
        """{model: {evidence flag: channels}}: where a model's figure is its assumption or no effect."""
        out: dict[str, dict[str, list[str]]] = {}
        for f in self.channel_facts.values():
            for flag, models in f.flags.items():
                for model in models:
                    out.setdefault(model, {}).setdefault(flag, []).append(f.channel)
        return out

    @cached_property
    def lift_effects(self) -> list[LiftEffect]:
        """Each tested channel's ROI with its lift tests beside the ROI without them."""
        return lift_effects(self.results) if self.results else []

    @property
    def mean_media_share(self) -> float:
        """The mean media share over the models whose share is possible (every model's when none is)."""
        shares = list(self.credible_media_shares.values()) or [self.media_share(m) for m in self.ok_models]
        return float(np.mean(shares)) if shares else 0.0

    @cached_property
    def market_rois(self) -> dict[str, dict[str, tuple[float, float, float]]]:
        """A regional panel's markets (largest first): per channel the ROI across the models that fitted the
        panel (their mean; the lowest and highest 90 % bound, as the national combined range)."""
        fitted = [m.markets for m in self.ok_models.values() if m.markets]
        sizes = {k: p.size for k, p in self.meta.profile.markets.items()}
        out = {}
        for market in sorted(fitted[0] if fitted else {}, key=lambda k: -sizes.get(k, 0.0)):
            per = [f[market] for f in fitted if market in f]
            out[market] = {ch: _market_range([p[ch] for p in per]) for ch in self.channels}
        return out

    def derived_values(self) -> list[float]:
        """Every derived figure a writer may print (for the number check)."""
        vals: list[float] = [self.portfolio_roi, self.mean_media_share, float(self.n_parameters),
                             float(len(self.ok_models)), float(len(self.channels))]
        vals += [self.media_share(m) for m in self.ok_models] + list(self.portfolio_roi_by_model.values())
        for f in self.channel_facts.values():
            vals += [f.spend, f.spend_share, f.roi, f.roi_low, f.roi_high, f.contribution_pct, f.saturation_pct]
            vals += [f.roi_high - f.roi_low, f.roi - self.portfolio_roi]
        vals += [r for _, _, r in self.collinear_pairs] + list(self.vif.values())
        vals += [e.moved_pct for e in self.lift_effects if e.moved_pct is not None]
        vals += [v for chans in self.market_rois.values() for trio in chans.values() for v in trio]
        return vals


def _market_range(rows: list) -> tuple[float, float, float]:
    """(mean ROI, lowest and highest 90 % bound) of one market-channel across the models; NaN where the market
    did not spend on the channel (the report says "no spend")."""
    rows = [r for r in rows if r.roi is not None]
    if not rows:
        return math.nan, math.nan, math.nan
    return float(np.mean([r.roi for r in rows])), float(min(r.roi_low for r in rows)), float(max(r.roi_high for r in rows))


def n_parameters(cfg: Config) -> int:
    """Free parameters of the media model: per channel a coefficient plus each transform parameter the
    config leaves to be learned, then controls, intercept, trend and seasonality terms."""
    per_channel = 1 + (cfg.adstock.decay is None) + (cfg.saturation.half is None) + (cfg.saturation.slope is None)
    return (per_channel * len(cfg.data.channels) + len(cfg.data.controls) + 1 + int(cfg.trend)
            + 2 * cfg.fourier_order)


def collinear_pairs(corr: pd.DataFrame) -> list[tuple[str, str, float]]:
    """Pairs of channels with |r| above COLLINEAR_R, strongest first."""
    cols = list(corr.columns)
    pairs = [(a, b, float(corr.loc[a, b])) for i, a in enumerate(cols) for b in cols[i + 1:]
             if abs(float(corr.loc[a, b])) > COLLINEAR_R]
    return sorted(pairs, key=lambda p: -abs(p[2]))


def vif_from_corr(corr: pd.DataFrame) -> dict[str, float]:
    """Variance inflation factors = diagonal of the inverse correlation matrix (pseudo-inverse when singular)."""
    if corr.shape[0] < 2:
        return {c: 1.0 for c in corr.columns}
    inv = np.linalg.pinv(corr.to_numpy(dtype=float))
    return {c: float(max(inv[i, i], 1.0)) for i, c in enumerate(corr.columns)}


def fmt(x: float, decimals: int = 2) -> str:
    """Numbers as every agent prints them (the proofreader matches within this rounding)."""
    return f"{x:,.{decimals}f}"
