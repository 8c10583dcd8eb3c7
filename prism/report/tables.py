"""The result tables every deliverable shows, built once from the round's `Results`.

Deck, page and workbook all read these frames, so a number is formatted from the same source everywhere
and nothing is recomputed: ROI, intervals, contribution and agreement come straight from the results.
"""

from __future__ import annotations

import math

import pandas as pd

from prism.analysis.compare import evidence_note
from prism.analysis.confidence import workspace_confidence
from prism.analysis.lift_tests import lift_effects
from prism.analysis.test_plan import UNDECIDED
from prism.report import fmt
from prism.report.inputs import ReportInputs
from prism.report.style import model_name
from prism.schemas import CONVERGENCE, NO_TEST, ChannelConfidence, Diag, Results
from prism.workspace import read_model

DIAGNOSTICS = {  # diagnostics key (models/posterior.py, ridge.py, base.py) -> its name in the deliverables
    Diag.RHAT_MAX: f"Convergence: largest r-hat (≤ {CONVERGENCE.max_rhat:g})",
    Diag.DIVERGENCES: "Divergent transitions",
    Diag.ESS_BULK_MIN: f"Smallest effective sample size (≥ {CONVERGENCE.min_ess:.0f})",
    Diag.CHAINS: "Chains",
    Diag.DRAWS: "Draws per chain",
    "alpha": "Ridge penalty (alpha)",
    "bootstrap_resamples": "Bootstrap resamples",
    "media_contribution_pct": "Media share of KPI, %",
    "negative_baseline_weeks": "Weeks with negative baseline",
}


ROI_COLUMNS = ["channel", "label", "model", "model_name", "roi", "roi_low", "roi_high", "mroi", "agreement", "cv_pct",
               "n_models", "confidence", "confidence_reason", "evidence"]
CONTRIBUTION_COLUMNS = ["channel", "label", "model", "model_name", "spend", "contribution", "contribution_pct",
                        "saturation_pct"]


def mean_roi(res: Results, channel: str) -> float | None:
    """The agreed ROI of a channel: compare's mean across models, else the mean of the models that ran."""
    agreement = res.agreement.get(channel)
    if agreement is not None and agreement.mean_roi is not None:
        return agreement.mean_roi
    rois = [m.channels[channel].roi for m in res.ok_models().values() if channel in m.channels]
    return sum(rois) / len(rois) if rois else None


def consensus_roi(inp: ReportInputs, channel: str) -> float:
    """`mean_roi` of the render's round, NaN when no model ran."""
    value = mean_roi(inp.results, channel)
    return math.nan if value is None else value


def channel_order(inp: ReportInputs) -> list[str]:
    """Channels from the highest agreed ROI to the lowest."""
    def key(ch: str) -> float:
        value = consensus_roi(inp, ch)
        return -value if not math.isnan(value) else math.inf
    return sorted(inp.results.channels, key=key)


def agreement_label(inp: ReportInputs, channel: str) -> str:
    agreement = inp.results.agreement.get(channel)
    return agreement.label if agreement is not None else "n/a"


def confidence_label(inp: ReportInputs, channel: str) -> ChannelConfidence:
    """The calibrated label readers see (analysis/confidence.py), the same in every deliverable."""
    return workspace_confidence(inp.ws, inp.results).get(channel, ChannelConfidence(label="low", reason="no estimate"))


def roi_table(inp: ReportInputs) -> pd.DataFrame:
    """One row per channel and model that ran: ROI with its 90 % interval, the channel's agreement and the
    model's evidence flag (prior-driven / no effect found; empty when the data decided the ROI)."""
    rows = []
    for ch in channel_order(inp):
        agreement, conf = inp.results.agreement.get(ch), confidence_label(inp, ch)
        for model, result in inp.results.ok_models().items():
            c = result.channels.get(ch)
            if c is None:
                continue
            rows.append({"channel": ch, "label": inp.label(ch), "model": model, "model_name": model_name(model),
                         "roi": c.roi, "roi_low": c.roi_low, "roi_high": c.roi_high, "mroi": c.mroi,
                         "agreement": agreement.label if agreement else "n/a",
                         "cv_pct": agreement.cv if agreement else None,
                         "n_models": agreement.n_models if agreement else None,
                         "confidence": conf.label, "confidence_reason": conf.reason,
                         "evidence": c.evidence.flag if c.evidence else ""})
    return pd.DataFrame(rows, columns=ROI_COLUMNS)


def roi_summary(inp: ReportInputs) -> pd.DataFrame:
    """One row per channel: each model's ROI, the likely range every deliverable quotes (Results.likely_range:
    the 90 % interval of the pooled draws; `range_pooled` False when it is the span of the models' intervals),
    agreement, and which models' ROI the data did not decide."""
    long = roi_table(inp)
    rows = []
    for ch in channel_order(inp):
        part = long[long["channel"] == ch]
        row = {"channel": ch, "label": inp.label(ch), "roi_mean": consensus_roi(inp, ch)}
        row.update({m: r for m, r in zip(part["model"], part["roi"])})
        low, high, pooled = inp.results.likely_range(ch) if len(part) else (None, None, False)
        row.update({"roi_low": low, "roi_high": high, "range_pooled": pooled,
                    "agreement": agreement_label(inp, ch),
                    "cv_pct": inp.results.agreement[ch].cv if ch in inp.results.agreement else None,
                    "confidence": confidence_label(inp, ch).label,
                    "confidence_reason": confidence_label(inp, ch).reason,
                    "evidence": evidence_note(inp.results, ch)})
        rows.append(row)
    return pd.DataFrame(rows)


LIFT_COLUMNS = ["channel", "label", "tests", "roi", "roi_low", "roi_high", "roi_without", "roi_without_low",
                "roi_without_high", "moved_from", "moved_to", "moved_pct", "without_method"]


def lift_test_table(inp: ReportInputs) -> pd.DataFrame:
    """One row per tested channel: ROI with its lift tests (the round's) beside the ROI without them, and
    how far the tests moved the same estimator (analysis/lift_tests.py); empty without tests."""
    rows = [{"channel": e.channel, "label": inp.label(e.channel), "tests": e.windows, "roi": e.roi,
             "roi_low": e.roi_low, "roi_high": e.roi_high, "roi_without": e.without.roi,
             "roi_without_low": e.without.roi_low, "roi_without_high": e.without.roi_high,
             "moved_from": e.moved_from, "moved_to": e.moved_to, "moved_pct": e.moved_pct,
             "without_method": e.without.method} for e in lift_effects(inp.results)]
    return pd.DataFrame(rows, columns=LIFT_COLUMNS)


def contribution_table(inp: ReportInputs) -> pd.DataFrame:
    """One row per channel and model that ran: spend, contribution and contribution % of the KPI."""
    rows = []
    for ch in channel_order(inp):
        for model, result in inp.results.ok_models().items():
            c = result.channels.get(ch)
            if c is not None:
                rows.append({"channel": ch, "label": inp.label(ch), "model": model, "model_name": model_name(model),
                             "spend": c.spend, "contribution": c.contribution,
                             "contribution_pct": c.contribution_pct, "saturation_pct": c.saturation_pct})
    return pd.DataFrame(rows, columns=CONTRIBUTION_COLUMNS)


def fit_table(inp: ReportInputs) -> pd.DataFrame:
    """One row per model, including those that failed or were skipped (with the reason)."""
    rows = []
    for model, result in inp.results.models.items():
        fit = result.fit
        rows.append({"model": model, "model_name": model_name(model), "status": result.status,
                     "r2": fit.r2 if fit else None, "mape_train": fit.mape_train if fit else None,
                     "mape_test": fit.mape_test if fit else None, "cv_mape": fit.cv_mape if fit else None,
                     "seconds": result.seconds, "reason": result.reason or ""})
    return pd.DataFrame(rows)


SHOWN_DECIMALS = {DIAGNOSTICS[Diag.RHAT_MAX]: 3}  # r-hat 1.014 shown as "1.01" read as a pass of its gate


def diagnostics_table(inp: ReportInputs) -> pd.DataFrame:
    """The health figures each model reported (convergence, media share), numeric ones only."""
    rows = []
    for model, result in inp.results.ok_models().items():
        for key, name in DIAGNOSTICS.items():
            value = result.diagnostics.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append({"model": model, "model_name": model_name(model), "diagnostic": name,
                             "value": float(value)})
    return pd.DataFrame(rows, columns=["model", "model_name", "diagnostic", "value"])


def round_history(inp: ReportInputs) -> pd.DataFrame:
    """One row per recorded round: the change made, tuning objective and the channels whose computed confidence
    was high (the label the report acts on; agreement alone is not evidence)."""
    rows = []
    for rec in inp.state.rounds:
        if rec.round > inp.round:
            continue
        tests = [v for v in rec.test_mape.values() if v is not None]
        rows.append({"round": rec.round, "change": rec.change, "objective": rec.objective,
                     "best_test_mape": min(tests) if tests else None,
                     "high_confidence": _high_confidence(inp, rec.round), "verdict": rec.verdict})
    return pd.DataFrame(rows, columns=["round", "change", "objective", "best_test_mape", "high_confidence",
                                       "verdict"])


def _high_confidence(inp: ReportInputs, round_no: int) -> int | None:
    """How many channels the round labelled `high` (compare's stored labels, else computed alike)."""
    path = inp.ws.round_results(round_no)
    if not path.exists():
        return None
    labels = workspace_confidence(inp.ws, read_model(path, Results)).values()
    return sum(c.label == "high" for c in labels)


# results/optimization.csv's columns (docs/architecture/workspace.md), as the report prints them; others are not shown
OPTIMIZATION_HEADERS = {"current": "Current spend", "recommended": "Proposed spend", "change_pct": "Change",
                        "expected_kpi_change": "Expected change", "expected_kpi_change_low": "Low",
                        "expected_kpi_change_high": "High", "confidence": "Confidence",
                        "if_confirmed": "If a test confirmed it"}
SPEND_COLUMNS = ("current", "recommended", "if_confirmed")
Cell = tuple[str, float | None]  # (as printed, raw value for sorting)


def optimization_display(inp: ReportInputs) -> tuple[list[str], list[list[Cell]]]:
    """The optimizer's budget moves as printed: header and rows of (text, value) cells."""
    opt = inp.optimization
    if opt is None or opt.empty:
        return [], []
    cols = [c for c in OPTIMIZATION_HEADERS if c in opt.columns]
    header = ["Channel", *[_opt_header(c, inp.currency) for c in cols]]
    rows = [[(inp.label(str(r["channel"])), None), *[_opt_cell(c, r[c]) for c in cols]] for _, r in opt.iterrows()]
    return header, rows


def _opt_header(column: str, currency: str | None) -> str:
    name = OPTIMIZATION_HEADERS[column]
    return f"{name} ({currency})" if currency and column in SPEND_COLUMNS else name


def _opt_cell(column: str, value: object) -> Cell:
    if isinstance(value, str):
        return value, None
    if value is None or pd.isna(value):
        return fmt.MISSING, None
    v = float(value)
    return (fmt.signed_pct(v) if column.endswith("pct") else fmt.compact(v)), v


TEST_PLAN_HEADERS = ("Channel", "Confidence", "Test", "Weeks", "Spend moved", "{kpi} forgone (90% range)",
                     "Precision after")


def _sentence_start(text: str) -> str:
    """`text` with its first letter upper case and the rest as written (str.capitalize lowered market names)."""
    return text[:1].upper() + text[1:]


def test_plan_display(inp: ReportInputs) -> tuple[list[str], list[list[Cell]]]:
    """The test per channel below high confidence (results/test_plan.csv): header and rows of cells."""
    plans = inp.test_plan
    if plans is None or plans.empty:
        return [], []
    header = [h.format(kpi=inp.kpi_label) for h in TEST_PLAN_HEADERS]
    if inp.currency:
        header[4] += f" ({inp.currency})"
    rows = []
    for r in plans.to_dict("records"):
        sized = r["design"] != NO_TEST
        settles = sized and math.isfinite(r["expected_halfwidth_pct"])
        precision = f"±{r['expected_halfwidth_pct']:.0f}% of ROI" if settles else UNDECIDED if sized else fmt.MISSING
        forgone = (f"{fmt.compact(r['kpi_forgone'])} ({fmt.compact(r['kpi_forgone_low'])} to "
                   f"{fmt.compact(r['kpi_forgone_high'])})") if sized else fmt.MISSING
        rows.append([(inp.label(str(r["channel"])), None), (str(r["confidence"]), None),
                     (_sentence_start(str(r["description"])), None), (str(r["weeks"]), float(r["weeks"])),
                     (fmt.compact(r["cost"]), float(r["cost"])), (forgone, r.get("kpi_forgone")),
                     (precision + ("" if r["achievable"] else " (best; not enough)"),
                      r["expected_halfwidth_pct"])])
    return header, rows
