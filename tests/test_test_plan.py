"""Test plans on simulated data with known truth: a tiny always-on channel (not identifiable) gets a test
that changes its spend, high-confidence channels get none, and the report names the test.

One workspace for the module: 130 weeks × 3 channels, ridge only (quick); the search is cut to the
strongest design (a 26-week pause) and a +50 % rise with K = 3 simulated tests, so it runs in seconds.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pptx import Presentation

from prism.analysis import test_plan as tp
from prism.analysis.checks import HEADINGS
from prism.analysis.confidence import HIGH, compute_confidence
from prism.cli import main
from prism.errors import InputError
from prism.models import ridge
from prism.models.base import channel_summary
from prism.models.evidence import PRIOR_DRIVEN_CONTRACTION
from prism.schemas import Results
from prism.workspace import Workspace, read_model, write_csv, write_json
from tests.helpers.loop import make_ws

K = 3
NARROW_K = 4
DESIGNS = [tp.Design(tp.SPEND_CHANGE, 50.0, 4), tp.STRONGEST]


def _cli(*args: str) -> int:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    return done.value.code


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> tuple[Workspace, pd.DataFrame, dict[str, str]]:
    """Workspace after `prism run --quick` (ridge), with the plans for every channel below high."""
    root = tmp_path_factory.mktemp("plans") / "ws"
    ws, sim = make_ws(root, weeks=130, n_channels=3, seed=22, models=["ridge"], flighting=["onoff", "wave", "steady"],
                      tiny_channels=1)
    assert _cli("run", "--quick", "--workdir", str(root)) == 0
    assert _cli("compare", "--workdir", str(root)) == 0
    labels = {ch: c.label for ch, c in compute_confidence(ws, read_model(ws.latest, Results)).items()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tp, "candidates", lambda: DESIGNS)
        table = tp.run_plans(ws, k=K, jobs=2)
    return ws, table, labels


def test_always_on_tiny_channel_gets_a_test_that_changes_its_spend_and_high_channels_none(planned) -> None:
    ws, table, labels = planned
    tiny = "social_spend"  # steady and under 2 % of spend: ridge finds no effect it can tell from zero
    assert labels[tiny] == "low" and labels["tv_spend"] == HIGH and labels["search_spend"] == HIGH
    written = pd.read_csv(ws.result(tp.TEST_PLAN_FILE))
    assert list(written.columns[:6]) == ["channel", "design", "weeks", "spend_change_pct", "expected_halfwidth_pct",
                                         "cost"]
    assert list(written["channel"]) == [tiny] == list(table["channel"])
    row = written.iloc[0]
    assert row["design"] == tp.SPEND_CHANGE and row["weeks"] in (4, 26) and row["spend_change_pct"] != 0
    if row["spend_change_pct"] < 0:  # a pause forgoes KPI in (nearly) every draw
        assert row["kpi_forgone"] > 0


def test_the_plan_keeps_its_30_percent_promise_on_simulations_it_never_saw(planned) -> None:
    """A plan promises the tested channel's 90 % interval within ±30 % of its ROI (`achievable`), or, when no
    design gets there, the best half-width the strongest achieved, in all but MAX_MISSES of its simulated runs.
    Carried out on fresh simulated futures (seeds the search never used), it must deliver its promise; the
    old assertions here (cost = the cost formula, half-width > 0) held by construction."""
    ws, table, _ = planned
    row = table.iloc[0]
    promised = row["expected_halfwidth_pct"] / 100
    assert promised <= tp.TARGET_HALFWIDTH if row["achievable"] else promised > tp.TARGET_HALFWIDTH
    inp = tp.load_inputs(ws, read_model(ws.latest, Results))
    c = inp.world.data.channels.index(row["channel"])
    design = tp.Design(row["design"], float(row["spend_change_pct"]), int(row["weeks"]))
    fresh = [tp.simulate_test((inp.world, inp.cfg, c, design, seed)) for seed in range(1000, 1000 + NARROW_K)]
    assert sum(h <= promised for h in fresh) >= NARROW_K - tp.MAX_MISSES, (promised, fresh)


def test_the_planned_test_moves_the_channel_off_the_pooled_roi_where_the_same_weeks_without_it_do_not(planned) -> None:
    """Judged on how much the weeks decide the tiny channel (ridge's contraction against its pull to the pooled
    ROI), not on relative width: without a test the estimate sits at the pool, whose interval can look narrow."""
    ws, table, _ = planned
    inp = tp.load_inputs(ws, read_model(ws.latest, Results))
    c = inp.world.data.channels.index("social_spend")
    row = table.iloc[0]
    plan = tp.Design(row["design"], float(row["spend_change_pct"]), int(row["weeks"]))
    keep = tp.Design(tp.SPEND_CHANGE, 0.0, plan.weeks)  # as many weeks at the usual spend

    def contraction(design: tp.Design, seed: int) -> float:
        data, base = tp.extended(inp.world, c, design)
        data = replace(data, y=tp.synthetic(inp.world, data, base, c, seed))
        return channel_summary(ridge.fit(data, inp.cfg, quick=True), data)["social_spend"].evidence.contraction

    tested, untested = (np.array([contraction(d, s) for s in range(NARROW_K)]) for d in (plan, keep))
    assert np.all(untested < PRIOR_DRIVEN_CONTRACTION)  # the same weeks at the usual spend leave it at the pool
    assert np.median(tested) > 5 * np.median(untested), (tested, untested)


def test_simulated_test_noise_keeps_the_residuals_autocorrelation(planned) -> None:
    """As in the audit: the test weeks' world resamples its residuals in blocks of weeks, not week by week."""
    ws, _, _ = planned
    inp = tp.load_inputs(ws, read_model(ws.latest, Results))
    wave = 1000.0 * np.sin(np.arange(len(inp.world.residuals)) * 2 * np.pi / 26)
    noisy, silent = (replace(inp.world, residuals=r) for r in (wave, 0 * wave))
    data, base = tp.extended(inp.world, 0, tp.STRONGEST)
    noise = [tp.synthetic(noisy, data, base, 0, s) - tp.synthetic(silent, data, base, 0, s) for s in range(5)]
    lags = [float(np.corrcoef(n[:-1], n[1:])[0, 1]) for n in noise]
    assert min(lags) > 0.5, lags


def test_a_plans_confidence_is_the_label_compare_wrote(planned, copy_ws, monkeypatch) -> None:
    """test_plan.csv called SEM `medium` where every other output said `low`: one label, one source."""
    ws = copy_ws(planned[0])
    res = read_model(ws.latest, Results)
    comparison = pd.read_csv(ws.result("roi_comparison.csv")).set_index("channel")["confidence"]
    written = pd.read_csv(ws.result(tp.TEST_PLAN_FILE))
    assert len(written) and all(comparison[r.channel] == r.confidence for r in written.itertuples())
    # an audit written after compare ('not' everywhere) changes no label until compare runs again
    write_csv(ws.result("audit.csv"), pd.DataFrame({"channel": res.channels, "model": "ridge", "verdict": "not",
                                                    "recovery_error_pct": 80.0, "coverage": 0.1, "bias_pct": 0.0,
                                                    "round": res.round}))
    monkeypatch.setattr(tp, "candidates", lambda: DESIGNS)
    assert comparison["tv_spend"] == HIGH and tp.run_plans(ws, ["tv_spend"], k=2, jobs=1).empty
    res.confidence = {}
    write_json(ws.latest, res)
    with pytest.raises(InputError, match="prism compare"):
        tp.run_plans(ws, ["tv_spend"], k=2, jobs=1)


def test_plan_test_cli_unknown_channel_exits_2_and_high_channel_needs_none(planned, capsys) -> None:
    ws, _, _ = planned
    assert _cli("plan-test", "radio_spend", "--workdir", str(ws.root)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "radio_spend" in err and "tv_spend, search_spend, social_spend" in err
    before = ws.result(tp.TEST_PLAN_FILE).read_bytes()
    assert _cli("plan-test", "tv_spend", "--workdir", str(ws.root)) == 0
    assert "no test needed" in capsys.readouterr().out
    assert ws.result(tp.TEST_PLAN_FILE).read_bytes() == before


def test_plan_test_cli_prints_the_test_and_replaces_only_its_channels_row(planned, capsys, monkeypatch,
                                                                          tmp_path) -> None:
    """The command's wiring: the simulation itself is the fixture's (re-simulating here would only repeat it)."""
    ws, table, _ = planned
    copy = Workspace(tmp_path / "w")
    shutil.copytree(ws.root, copy.root)
    other = table.assign(channel="tv_spend", description="kept as it was")
    write_csv(copy.result(tp.TEST_PLAN_FILE), pd.concat([other, table.assign(description="stale")]))
    asked = {}

    def simulated(inp, labels, k, jobs, designs=None):
        asked.update(labels=labels, k=k)
        return table

    monkeypatch.setattr(tp, "plan_channels", simulated)
    assert _cli("plan-test", "social_spend", "--k", "2", "--workdir", str(copy.root)) == 0
    out = capsys.readouterr().out
    assert "Test plan for social_spend" in out and "geo split is not available" in out
    assert asked == {"labels": {"social_spend": "low"}, "k": 2}
    written = pd.read_csv(copy.result(tp.TEST_PLAN_FILE))
    assert list(written["channel"]) == ["tv_spend", "social_spend"]
    assert list(written["description"]) == ["kept as it was", table["description"].iloc[0]]


def test_report_deck_and_page_name_the_test_per_channel(planned) -> None:
    ws, table, _ = planned
    assert _cli("report", "--workdir", str(ws.root)) == 0
    text = ws.report_md.read_text(encoding="utf-8")
    section = text.split(HEADINGS["settle"])[1].split("\n## ")[0]
    row = table.iloc[0]
    assert "Social" in section and row["description"] in section
    assert (f"±{row['expected_halfwidth_pct']:.0f}%" if np.isfinite(row["expected_halfwidth_pct"])
            else "left its return undecided") in section
    assert "region-level holdout" not in text  # the generic sentence is gone
    for name in ("TV", "Search"):  # high confidence: no test named for them
        assert f"- {name}" not in section
    deck = Presentation(str(ws.result("report.pptx")))
    slide = next(s for s in deck.slides if any(sh.has_text_frame and sh.text_frame.text == "What would settle it"
                                                for sh in s.shapes))
    cells = [c.text for sh in slide.shapes if sh.has_table for r in sh.table.rows for c in r.cells]
    assert "Social" in cells and row["description"].capitalize() in cells
    page = ws.result("report.html").read_text(encoding="utf-8")
    assert 'id="settle"' in page and row["description"].capitalize() in page


def test_a_bad_test_plan_file_is_bad_input_naming_the_row(planned, tmp_path) -> None:
    ws, _, _ = planned
    path = Path(tmp_path / "results" / tp.TEST_PLAN_FILE)
    write_csv(path, pd.DataFrame({"channel": ["tv"], "design": ["teleport"], "weeks": [4], "spend_change_pct": [50.0],
                                  "expected_halfwidth_pct": [20.0], "cost": [10.0], "round": [1]}))
    with pytest.raises(InputError, match=r"row 2 column 'design'"):
        tp.read_plans(Workspace(tmp_path), 1)
