"""One calibrated confidence label per channel (`high` / `medium` / `low`) and, unless high, why not.

Agreement between the models is not evidence on its own (they share structure and priors and agree
where the data is silent); on realistic data with known truth, the width of the 90 % interval and
whether the data moved the estimate at all predicted accuracy, agreement did not. The label therefore
combines, per channel:
- the evidence flags (models/evidence.py): a model whose ROI is prior-driven or found no effect caps the
  channel at `medium`; when every model that ran is flagged, or at least PRIOR_DRIVEN_MODELS models are
  prior-driven (on the benchmark, channels prior-driven in both Bayesian models were more than 50 % off
  about as often as not, whatever ridge said), the channel is `low`;
- agreement (analysis/compare.py): methods that disagree (`low`) make it `low`, `medium` caps it;
- the median relative width of the models' 90 % intervals: above HIGH_WIDTH caps it at `medium`,
  above MEDIUM_WIDTH makes it `low`;
- a collinear pair (spend moving together) caps it at `medium`: the split between the two is a guess;
- fewer than two years of training weeks caps it at `medium` (on the benchmark, narrow intervals from
  short series were the ones far off);
- the recoverability audit (results/audit.csv, when it exists): `weak` caps at `medium`, `not` is `low`;
- lift tests the models calibrated on (models/experiments.py). A test is well measured when its own 90 %
  interval lies within ±SETTLED_HALFWIDTH of its result (the target a test plan is sized for). When every
  model that ran fitted such a test and each stays within AGREE_Z test se's of it, the test pins the
  channel: the caps that come from the data alone (no model decided by the data, audit `weak`/`not`,
  collinear) are lifted, since the test measured what the history could not. The interval-width caps
  stay: the width is measured on the calibrated fits, so a wide one means the test's window does not pin
  the ROI of the whole period. A model more than AGREE_Z se's from its test caps the channel at `medium`
  (the data and the test disagree; the Critic's "experiment agreement" says which).
HIGH_WIDTH and MEDIUM_WIDTH come from bench/calibration.py on realistic simulated national series and regional
panels with known ROI (targets below): fitted on each half of its datasets and judged on the other, the
stricter of the two fits is shipped; docs/concepts/confidence.md gives the held-out tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from prism.knowledge.checks import informed_channels
from prism.data.profile import COLLINEAR_ABS_R
from prism.models.evidence import POINT
from prism.models.experiments import AGREE_Z, EXPERIMENTS_KEY
from prism.schemas import PRIOR_DRIVEN, ChannelConfidence, ChannelResult, Metadata, Results
from prism.workspace import Workspace, read_model

HIGH, MEDIUM, LOW = "high", "medium", "low"
LABELS = (HIGH, MEDIUM, LOW)
HIGH_WIDTH = 0.75  # bench/calibration.py's shipped rule (3 models, 32 national + 11 panel datasets): 90 % interval
#                  at most this × the ROI for `high`
MEDIUM_WIDTH = 3.0  # ... and at most this for `medium`
TARGET_MEDIAN_ERROR = 0.15  # `high`: median |ROI error| at most 15 % ...
TARGET_FAR_OFF_SHARE = 0.05  # ... and at most 5 % of channels more than 50 % off
MEDIUM_FAR_OFF_SHARE = 0.5  # `medium`: at most half more than 50 % off
PRIOR_DRIVEN_MODELS = 2  # prior-driven in this many models (both Bayesian ones, say) makes the channel `low`
SHORT_HISTORY_WEEKS = 104  # fewer training weeks than two years caps at `medium` (also the sample caveat)
AUDIT_WEAK, AUDIT_NOT = "weak", "not"
Z90 = 1.645
SETTLED_HALFWIDTH = 0.30  # a test settles a channel when its 90 % interval is within ±30 % of its result ...
SETTLED_SE_REL = SETTLED_HALFWIDTH / Z90  # ... i.e. its se at most ≈ 18 % of its result
# Reason codes (ChannelConfidence.why): the reports word each for their readers.
WHY_UNDECIDED, WHY_AUDIT_NOT, WHY_DISAGREE, WHY_WIDE = "undecided", "audit_not", "disagree", "wide"
WHY_SOME_UNDECIDED, WHY_PARTLY, WHY_COLLINEAR, WHY_WIDTH = "some_undecided", "partly", "collinear", "width"
WHY_AUDIT_WEAK, WHY_NARROW, WHY_SHORT = "audit_weak", "narrow", "short"
WHY_INFORMED = "informed"  # a note, not a cap: the ROI prior came from the business's expected range
WHY_CALIBRATED, WHY_TEST_CONFLICT = "calibrated", "test_conflict"
DATA_ALONE = {WHY_UNDECIDED, WHY_SOME_UNDECIDED, WHY_AUDIT_NOT, WHY_AUDIT_WEAK, WHY_COLLINEAR}  # a test lifts these


@dataclass
class Signals:
    """What the label rests on for one channel, gathered from the results (or a benchmark row)."""

    width: float  # median relative 90 % interval width across the models that have one; inf when none has
    flags: dict[str, list[str]] = field(default_factory=dict)  # flag word → models, e.g. prior-driven: [pymc]
    n_models: int = 1
    agreement: str = "n/a"
    collinear: bool = False
    train_weeks: int = SHORT_HISTORY_WEEKS
    audit: dict[str, str] = field(default_factory=dict)  # model → identifiable|weak|not
    informed: bool = False  # a model's ROI prior came from the knowledge layer's expected range
    experiment_se_rel: float | None = None  # the best lift test every model fitted: its se ÷ |its result|
    experiment_z: float | None = None  # the largest gap between a model and its test, in test se's

    @property
    def all_flagged(self) -> bool:
        return sum(len(m) for m in self.flags.values()) >= self.n_models

    @property
    def undecided(self) -> bool:
        """The data decided nothing: every model is flagged, or PRIOR_DRIVEN_MODELS or more are prior-driven
        (their agreement is their priors')."""
        return bool(self.flags) and (self.all_flagged or len(self.flags.get(PRIOR_DRIVEN, [])) >= PRIOR_DRIVEN_MODELS)

    @property
    def calibrated(self) -> bool:
        """A well-measured test that every model fitted and agrees with pins the channel."""
        return (self.experiment_se_rel is not None and self.experiment_se_rel <= SETTLED_SE_REL
                and self.experiment_z is not None and self.experiment_z <= AGREE_Z)

    @property
    def test_conflict(self) -> bool:
        return self.experiment_z is not None and self.experiment_z > AGREE_Z

    @classmethod
    def from_results(cls, res: Results, channel: str, collinear: bool = False,
                     audit: dict[str, str] | None = None, informed: bool = False) -> "Signals":
        rows = {m: r.channels[channel] for m, r in res.ok_models().items() if channel in r.channels}
        widths = [w for w in (_rel_width(r) for r in rows.values()) if w is not None]
        flags: dict[str, list[str]] = {}
        for model, r in rows.items():
            if r.evidence is not None and r.evidence.flag:
                flags.setdefault(r.evidence.flag, []).append(model)
        agreement = res.agreement.get(channel)
        se_rel, z = experiment_signals(res, channel)
        return cls(width=float(np.median(widths)) if widths else math.inf, flags=flags, n_models=len(rows),
                   agreement=agreement.label if agreement else "n/a", collinear=collinear,
                   train_weeks=res.train_weeks, audit=audit or {}, informed=informed,
                   experiment_se_rel=se_rel, experiment_z=z)


def experiment_signals(res: Results, channel: str) -> tuple[float | None, float | None]:
    """(best relative se of a test every model fitted, largest z of any model on the channel's tests).

    None, None when no model reports a test of the channel. A test's se counts only when every model that
    ran fitted it: a model that ignored it still rests on the data alone. The z counts every model, as
    the Critic's "experiment agreement" does: a model whose data sit far from the test is a conflict.
    """
    per_model = [[r for r in m.diagnostics.get(EXPERIMENTS_KEY, []) if r["channel"] == channel]
                 for m in res.ok_models().values()]
    rows = [r for part in per_model for r in part]
    if not rows:
        return None, None
    by_all = set.intersection(*({(r["start"], r["end"]) for r in part if r.get("used")} for part in per_model))
    se_rel = [r["incremental_kpi_se"] / abs(r["incremental_kpi"]) for r in rows
              if (r["start"], r["end"]) in by_all and r["incremental_kpi"]]
    return (min(se_rel) if se_rel else None), max(r["z"] for r in rows)


def _rel_width(r: ChannelResult) -> float | None:
    """The evidence's relative 90 % width, else the same from the stored interval (results without it);
    None for a point estimate (a quick MAP fit): it has no interval, and a zero width would make the
    median across the models the narrower real one."""
    if r.evidence is not None and r.evidence.source == POINT:
        return None
    if r.evidence is not None and r.evidence.rel_width is not None:
        return r.evidence.rel_width
    return (r.roi_high - r.roi_low) / abs(r.roi) if r.roi else math.inf


def rule(s: Signals, high_width: float = HIGH_WIDTH, medium_width: float = MEDIUM_WIDTH) -> ChannelConfidence:
    """The label and the reasons it is not higher (the first reason is the one that set it)."""
    low, capped = _low_reasons(s, medium_width), _medium_reasons(s, high_width, medium_width)
    if s.calibrated:  # the test measured what the history could not
        low, capped = ([r for r in part if r[0] not in DATA_ALONE] for part in (low, capped))
    label = LOW if low else MEDIUM if capped else HIGH
    reasons = low + capped if label != HIGH else [
        (WHY_NARROW, f"narrow interval ({_times(s.width)} the ROI), decided by the data"
                     + (" and a lift test" if s.calibrated else ""))]
    if s.calibrated:
        reasons.append((WHY_CALIBRATED, "pinned by a well-measured lift test that every model fitted and agrees with"))
    if s.informed:  # the estimate leans on the business's expectation as much as the data let it
        reasons.append((WHY_INFORMED, "its ROI prior is the business's expected range (knowledge layer)"))
    texts = [text for _, text in reasons]
    if s.audit:
        texts.append("audit: " + ", ".join(f"{v} ({m})" for m, v in s.audit.items()))
    return ChannelConfidence(label=label, reason="; ".join(texts), why=[code for code, _ in reasons])


def _times(width: float) -> str:
    return f"{width:.1f} ×" if math.isfinite(width) else "no interval for"


def _low_reasons(s: Signals, medium_width: float) -> list[tuple[str, str]]:
    out = []
    if s.undecided:
        out.append((WHY_UNDECIDED, "not identifiable from this spend: " + _flag_words(s.flags)))
    if any(v == AUDIT_NOT for v in s.audit.values()):
        out.append((WHY_AUDIT_NOT, "the recoverability audit could not recover it from this spend"))
    if s.agreement == LOW:
        out.append((WHY_DISAGREE, "methods disagree"))
    if s.width > medium_width:
        out.append((WHY_WIDE, f"wide interval (90 % range {_times(s.width)} the ROI)"))
    return out


def _medium_reasons(s: Signals, high_width: float, medium_width: float) -> list[tuple[str, str]]:
    out = []
    if s.flags and not s.undecided:
        out.append((WHY_SOME_UNDECIDED, _flag_words(s.flags)))
    if s.agreement == MEDIUM:
        out.append((WHY_PARTLY, "methods only partly agree"))
    if s.collinear:
        out.append((WHY_COLLINEAR, "collinear: bought together with another channel, so the split is uncertain"))
    if s.train_weeks < SHORT_HISTORY_WEEKS:
        out.append((WHY_SHORT, f"short history ({s.train_weeks} training weeks)"))
    if high_width < s.width <= medium_width:
        out.append((WHY_WIDTH, f"interval {_times(s.width)} the ROI"))
    if any(v == AUDIT_WEAK for v in s.audit.values()):
        out.append((WHY_AUDIT_WEAK, "the recoverability audit recovers it only weakly"))
    if s.test_conflict:
        out.append((WHY_TEST_CONFLICT, f"the data and its lift test disagree (a model {s.experiment_z:.1f} test se "
                                       f"from the test)"))
    return out


def _flag_words(flags: dict[str, list[str]]) -> str:
    return "; ".join(f"{flag} in {', '.join(models)}" for flag, models in flags.items())


AUDIT_FILE = "audit.csv"


def read_audit(ws: Workspace, round_no: int) -> dict[str, dict[str, str]]:
    """results/audit.csv → {channel: {model: verdict}} for the round; empty when the audit has not run on it."""
    path = ws.result(AUDIT_FILE)
    if not path.exists():
        return {}
    table = pd.read_csv(path)
    table = table[table["round"] == round_no] if "round" in table else table.iloc[:0]
    return {ch: dict(zip(part["model"], part["verdict"])) for ch, part in table.groupby("channel")}


def channel_confidence(res: Results, collinear: set[str] | None = None,
                       audit: dict[str, dict[str, str]] | None = None) -> dict[str, ChannelConfidence]:
    """The label of every channel in the results."""
    collinear, audit = collinear or set(), audit or {}
    informed = set(informed_channels(res)["roi"])
    return {ch: rule(Signals.from_results(res, ch, ch in collinear, audit.get(ch), ch in informed))
            for ch in res.channels}


def collinear_channels(ws: Workspace, channels: list[str]) -> set[str]:
    """Channels in a pair whose spend correlates beyond the profile's threshold (metadata.json)."""
    if not ws.metadata.exists():
        return set()
    corr = read_model(ws.metadata, Metadata).profile.correlations
    return {a for a in channels for b in channels if a != b and abs(corr.get(a, {}).get(b, 0.0)) > COLLINEAR_ABS_R}


def compute_confidence(ws: Workspace, res: Results) -> dict[str, ChannelConfidence]:
    """Every channel's label from the results, the profile's collinear pairs and the round's audit."""
    return channel_confidence(res, collinear_channels(ws, res.channels), read_audit(ws, res.round))


def workspace_confidence(ws: Workspace, res: Results) -> dict[str, ChannelConfidence]:
    """The labels compare stored in the results, else computed the same way."""
    if res.confidence and set(res.confidence) >= set(res.channels):
        return res.confidence
    return compute_confidence(ws, res)
