"""Agreement rules on crafted results: CV thresholds, sign clash, interval overlap, failed models left out."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from prism.analysis.compare import COLUMNS, agreement_label, run_compare
from prism.schemas import ChannelResult, FitMetrics, ModelResult, Results
from prism.workspace import Workspace, read_model, write_json


@pytest.mark.parametrize("rois, label", [
    ((1.0, 1.1, 0.9), "high"),      # CV 8 %
    ((1.0, 1.5, 0.6), "medium"),    # CV 37 %
    ((0.5, 2.0, 0.2), "low"),       # CV 87 %
    ((1.0, 0.8, -0.3), "low"),      # sign disagreement
])
def test_cv_thresholds_and_sign(rois, label):
    a = agreement_label({m: (r, r - 2.0, r + 2.0) for m, r in zip(("ridge", "pymc", "lightweight_mmm"), rois)})
    assert a.label == label and a.n_models == 3
    assert a.sign_disagree == (label == "low" and min(rois) < 0)


def test_threshold_edges():
    # population CV of (1 - d, 1 + d) is exactly d
    assert agreement_label({"ridge": (0.81, 0, 9), "pymc": (1.19, 0, 9)}).label == "high"  # CV 19 %
    assert agreement_label({"ridge": (0.75, 0, 9), "pymc": (1.25, 0, 9)}).label == "medium"  # CV 25 %
    assert agreement_label({"ridge": (0.5, 0, 9), "pymc": (1.5, 0, 9)}).label == "medium"  # CV 50 %
    assert agreement_label({"ridge": (0.49, 0, 9), "pymc": (1.51, 0, 9)}).label == "low"


def test_disjoint_intervals_cap_at_medium():
    a = agreement_label({"ridge": (1.0, 0.95, 1.05), "pymc": (1.1, 1.08, 1.12)})
    assert a.cv < 20 and not a.intervals_overlap and a.label == "medium"
    assert "do not all overlap" in a.note


def test_one_model_is_not_agreement():
    a = agreement_label({"ridge": (2.0, 1.0, 3.0)})
    assert a.label == "n/a" and a.n_models == 1 and a.models == ["ridge"] and "only ridge" in a.note


def _model(rois: dict[str, tuple[float, float, float]]) -> ModelResult:
    return ModelResult(status="ok", engine="test", seconds=1.0, fit=FitMetrics(r2=0.9, mape_train=5.0),
                       channels={ch: ChannelResult(roi=r, roi_low=lo, roi_high=hi, contribution=100 * r,
                                                   contribution_pct=10 * r, mroi=r / 2, saturation_pct=50,
                                                   spend=100.0) for ch, (r, lo, hi) in rois.items()})


def test_run_compare_leaves_failed_model_out(tmp_path):
    ws = Workspace(tmp_path)
    res = Results(round=2, data_hash="d", config_hash="c", created_at=datetime.now(timezone.utc), kpi="revenue",
                  channels=["tv", "search"], weeks=100, train_weeks=90, holdout_weeks=10, models={
                      "ridge": _model({"tv": (2.0, 1.5, 2.5), "search": (1.0, 0.2, 1.8)}),
                      "pymc": ModelResult(status="failed", reason="timed out after 5 s"),
                      "lightweight_mmm": _model({"tv": (2.2, 1.8, 2.6), "search": (3.0, 2.5, 3.5)}),
                  })
    write_json(ws.round_results(2), res)
    write_json(ws.latest, res)
    out = run_compare(ws)
    tv = out.agreement["tv"]
    assert tv.label == "high" and tv.n_models == 2 and tv.models == ["ridge", "lightweight_mmm"]
    assert out.agreement["search"].label == "medium"  # CV exactly 50 %
    for path in (ws.latest, ws.round_results(2)):
        assert read_model(path, Results).agreement["tv"].n_models == 2
    roi = pd.read_csv(ws.result("roi_comparison.csv"))
    assert list(roi.columns) == COLUMNS
    assert roi["pymc"].isna().all() and roi.loc[0, "ridge"] == 2.0 and roi.loc[0, "mean"] == pytest.approx(2.1)
    contrib = pd.read_csv(ws.result("contribution_comparison.csv"))
    assert list(contrib.columns) == COLUMNS and contrib.loc[0, "lightweight_mmm"] == pytest.approx(22.0)
    assert list(contrib["agreement"]) == list(roi["agreement"])


def test_the_likely_range_is_the_90_interval_of_the_pooled_draws(tmp_path):
    """Not the lowest low and highest high across the models: the central 90 % of their draws pooled with
    equal weight (as planning pools them), stored once by compare and quoted by report, deck and workbook."""
    import numpy as np

    from prism.agents import reporter
    from prism.analysis.response import pooled_roi
    from prism.models.base import ModelData, summarize
    from prism.report.inputs import load_inputs
    from prism.report.tables import roi_summary
    from prism.schemas import Config
    from tests.helpers.loop import make_ws
    from tests.helpers.report import truth_model

    ws, sim = make_ws(tmp_path / "ws", weeks=120, n_channels=3, seed=3)
    cfg = read_model(ws.config, Config)
    data = ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg)
    fitted = {m: truth_model(sim, data, m, 7 + i) for i, m in enumerate(("ridge", "pymc", "lightweight_mmm"))}
    models = {m: summarize(f, data, 1.0, quick=False) for m, f in fitted.items()}
    for m, f in fitted.items():
        f.draws.to_netcdf(ws.draws_path(1, m))
    res = Results(round=1, data_hash="d", config_hash="c", created_at=datetime.now(timezone.utc), kpi=sim.kpi,
                  channels=sim.channels, weeks=data.n_weeks, train_weeks=data.n_train, holdout_weeks=data.n_test,
                  models=models)
    write_json(ws.round_results(1), res)
    write_json(ws.latest, res)
    out = run_compare(ws)
    pooled = pooled_roi({m: f.draws for m, f in fitted.items()})
    reporter.run(ws, 1)
    text = ws.report_md.read_text()
    summary = roi_summary(load_inputs(ws)).set_index("channel")
    for c, ch in enumerate(sim.channels):
        low, high = np.quantile(pooled[:, c], [0.05, 0.95])
        comb = out.combined[ch]
        assert comb.pooled and (comb.roi_low, comb.roi_high) == pytest.approx((low, high))
        envelope = (min(m.channels[ch].roi_low for m in models.values()),
                    max(m.channels[ch].roi_high for m in models.values()))
        assert (comb.roi_low, comb.roi_high) != pytest.approx(envelope)
        assert (summary.loc[ch, "roi_low"], summary.loc[ch, "roi_high"]) == pytest.approx((low, high))
        assert f"| {low:.2f}–{high:.2f} |" in text
    assert "90% interval of the methods' estimates pooled" in text
