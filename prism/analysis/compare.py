"""`prism compare`: how far the models that ran agree on each channel's ROI.

Agreement (docs/architecture/layers.md) = coefficient of variation (population sd ÷ |mean|) of the ROI point estimates of
the models with status `ok`: `high` < 20 %, `medium` 20–50 %, `low` > 50 % or when the models disagree on
the sign; capped at `medium` when the 90 % intervals do not all overlap. With fewer than two models there
is nothing to agree on: the label is `n/a` and the note says how many models ran. Contribution % is
ROI × spend ÷ KPI over the same weeks for every model, so its CV equals the ROI's and the contribution
table carries the same label. The `evidence` column names the models whose estimate the data did not
decide (prior-driven, or no effect found in most ridge resamples; models/evidence.py): agreement between
such estimates is the priors agreeing, not the data. The `confidence` column is the calibrated label
readers see (analysis/confidence.py); agreement is one of its inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from prism.analysis.confidence import compute_confidence
from prism.models.base import DrawSet
from prism.schemas import MODEL_NAMES, Agreement, Combined, Config, Metadata, Results
from prism.workspace import Workspace, read_model, write_csv, write_json

HIGH_CV = 20.0
LOW_CV = 50.0
CSV_DECIMALS = 4
COLUMNS = ["channel", *MODEL_NAMES, "mean", "cv", "agreement", "confidence", "evidence"]


def agreement_label(estimates: dict[str, tuple[float, float, float]]) -> Agreement:
    """Agreement of one channel from {model: (roi, roi_low, roi_high)} of the models that ran."""
    ests = {m: e for m, e in estimates.items() if all(math.isfinite(v) for v in e)}
    models = list(ests)
    if len(ests) < 2:
        ran = f"only {models[0]} ran" if models else "no model ran"
        return Agreement(label="n/a", n_models=len(models), models=models,
                         mean_roi=ests[models[0]][0] if models else None,
                         note=f"{ran}; agreement needs at least two models")
    roi = np.array([e[0] for e in ests.values()])
    mean = float(roi.mean())
    cv = float(roi.std() / abs(mean) * 100.0) if mean != 0 else None
    sign_disagree = bool((roi > 0).any() and (roi < 0).any())
    overlap = max(e[1] for e in ests.values()) <= min(e[2] for e in ests.values())
    if sign_disagree or cv is None or cv > LOW_CV:
        label = "low"
    elif cv >= HIGH_CV:
        label = "medium"
    else:
        label = "high" if overlap else "medium"
    return Agreement(label=label, cv=cv, n_models=len(models), models=models, mean_roi=mean,
                     sign_disagree=sign_disagree, intervals_overlap=overlap,
                     note=_note(label, cv, models, sign_disagree, overlap))


def _note(label: str, cv: float | None, models: list[str], sign_disagree: bool, overlap: bool) -> str:
    parts = [f"{len(models)} models ({', '.join(models)})", "CV undefined (mean 0)" if cv is None else f"CV {cv:.1f} %"]
    if sign_disagree:
        parts.append("models disagree on the sign")
    if not overlap:
        parts.append("90 % intervals do not all overlap" + (" (capped at medium)" if label == "medium" else ""))
    return "; ".join(parts)


def channel_agreement(res: Results) -> dict[str, Agreement]:
    ok = res.ok_models()
    return {ch: agreement_label({m: (r.channels[ch].roi, r.channels[ch].roi_low, r.channels[ch].roi_high)
                                 for m, r in ok.items() if ch in r.channels})
            for ch in res.channels}


def evidence_note(res: Results, channel: str) -> str:
    """Which models' ROI for the channel the data did not decide, e.g. 'prior-driven: pymc, lightweight_mmm'."""
    by_flag: dict[str, list[str]] = {}
    for model, result in res.ok_models().items():
        ev = result.channels[channel].evidence if channel in result.channels else None
        if ev is not None and ev.flag:
            by_flag.setdefault(ev.flag, []).append(model)
    return "; ".join(f"{flag}: {', '.join(models)}" for flag, models in by_flag.items())


def comparison_table(res: Results, field: str) -> pd.DataFrame:
    """One row per channel: each model's `field` (empty when the model did not run), mean, CV %, label."""
    ok = res.ok_models()
    rows = []
    for ch in res.channels:
        values = {m: getattr(ok[m].channels[ch], field) for m in MODEL_NAMES if m in ok and ch in ok[m].channels
                  and math.isfinite(getattr(ok[m].channels[ch], field))}  # as agreement_label counts them
        arr = np.array(list(values.values()), dtype=float)
        mean = float(arr.mean()) if len(arr) else None
        cv = float(arr.std() / abs(mean) * 100.0) if len(arr) >= 2 and mean else None
        agreement, conf = res.agreement.get(ch), res.confidence.get(ch)
        rows.append({"channel": ch, **{m: values.get(m) for m in MODEL_NAMES}, "mean": mean, "cv": cv,
                     "agreement": agreement.label if agreement else "n/a",
                     "confidence": conf.label if conf else "n/a", "evidence": evidence_note(res, ch)})
    return pd.DataFrame(rows, columns=COLUMNS).round(CSV_DECIMALS)


def pooled_intervals(ws: Workspace, res: Results) -> dict[str, tuple[float, float]]:
    """Each channel's 90 % interval of the ROI draws of every model that ran, pooled as planning pools them
    (each model weighing the same); empty when a model's kept draws are missing (results made without
    `prism run`)."""
    from prism.analysis.response import pooled_roi  # lazy: netCDF only when compare runs
    from prism.models.draws import read_national

    paths = {m: ws.draws_path(res.round, m) for m in res.ok_models()}
    if not paths or not all(p.exists() for p in paths.values()):
        return {}
    roi = pooled_roi({m: read_national(p) for m, p in paths.items()})  # a panel's markets summed
    out = {}
    for c, ch in enumerate(res.channels):
        draws = DrawSet(roi[:, c][np.isfinite(roi[:, c])])
        if len(draws.draws):  # the models' own central 90 % (models/base.py)
            out[ch] = (float(draws.low), float(draws.high))
    return out


def combine(ws: Workspace, res: Results) -> None:
    """Each channel's combined ROI and likely range and the channel average, so no agent computes them (from
    the same facts the agents read; a results file outside a discovered workspace has no config to combine
    with). The likely range is the 90 % interval of the pooled draws (`pooled_intervals`)."""
    from prism.analysis.facts import RoundFacts

    if not (ws.config.exists() and ws.metadata.exists()):
        return
    res.combined = {}  # the facts below must not read a previous compare's ranges
    facts = RoundFacts(ws=ws, round_no=res.round, cfg=read_model(ws.config, Config),
                       meta=read_model(ws.metadata, Metadata), results=res)
    chans = facts.channel_facts
    label = {ch: c.label for ch, c in res.confidence.items()}
    pooled = pooled_intervals(ws, res)
    res.combined = {ch: Combined(roi=f.roi, roi_low=pooled.get(ch, (f.roi_low, f.roi_high))[0],
                                 roi_high=pooled.get(ch, (f.roi_low, f.roi_high))[1], pooled=ch in pooled,
                                 confidence=label.get(ch, f.confidence)) for ch, f in chans.items()}
    res.channel_average_roi = sum(f.roi for f in chans.values()) / len(chans) if chans else None


def run_compare(ws: Workspace, round_no: int | None = None) -> Results:
    """Fill `agreement` and `confidence` in the round's results (and latest.json when it is that round);
    write both tables."""
    res = read_model(ws.round_results(round_no) if round_no is not None else ws.latest, Results)
    res.agreement = channel_agreement(res)
    res.confidence = compute_confidence(ws, res)
    combine(ws, res)
    write_json(ws.round_results(res.round), res)
    if round_no is None or (ws.latest.exists() and read_model(ws.latest, Results).round == res.round):
        write_json(ws.latest, res)  # the results/ tables always describe latest.json's round
        write_csv(ws.result("roi_comparison.csv"), comparison_table(res, "roi"))
        write_csv(ws.result("contribution_comparison.csv"), comparison_table(res, "contribution_pct"))
    return res
