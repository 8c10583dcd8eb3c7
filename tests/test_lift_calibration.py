"""Calibration from lift-test results, end to end: the label and the audit take a test into account, the
deliverables show each tested channel's ROI with and without its test, a wrong test moves every model and
the Critic flags it, and bad rows stop `prism run` with exit 2."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import openpyxl
import pytest
from pptx import Presentation

from prism.agents import proofreader, reporter
from prism.analysis import audit, checks, confidence
from prism.analysis.compare import run_compare
from prism.analysis.confidence import Signals, channel_confidence, rule
from prism.analysis.facts import RoundFacts, fmt
from prism.analysis.lift_tests import lift_effects
from prism.data.simulate import simulate
from prism.knowledge import experiments as sources
from prism.models import experiments
from prism.models.base import ModelData, summarize
from prism.models.registry import load
from prism.models.runner import run_models
from prism.report import fmt as report_fmt
from prism.report.build import render_deliverables
from prism.schemas import PRIOR_DRIVEN, ChannelResult, Combined, Config, ModelResult, Results, Uncalibrated
from prism.workspace import read_model
from tests.helpers.cli import Cli
from tests.helpers.experiments import calibrated, experiment, sim_case
from tests.helpers.loop import make_ws

WINDOW = slice(40, 52)
HEADER = "channel,start,end,spend,incremental_kpi,incremental_kpi_se\n"
HIDDEN = dict(flighting=["onoff", "wave", "steady"], tiny_channels=1, noise=0.03, roi=[1.0, 1.0, 3.0])
TINY = "social_spend"  # the hidden simulation's tiny, always-on channel (true ROI 3, the others 1)
SMALL_DRAWS = {"pymc": {"pymc": {"chains": 1, "draws": 300, "tune": 300}},
               "lightweight_mmm": {"lightweight_mmm": {"chains": 1, "samples": 300, "warmup": 300}}}


def _round(model: str, data: ModelData, cfg: Config, quick: bool = True) -> Results:
    """One model's fit as a round's results, with its lift-test rows as the worker records them."""
    fitted = load(model).fit(data, cfg, quick=quick) if model == "ridge" else load(model).fit(data, cfg)
    if data.lifts:
        fitted.diagnostics[experiments.EXPERIMENTS_KEY] = experiments.report(data.lifts, fitted.draws, True)
    return Results(round=1, data_hash="x", config_hash="y", created_at=datetime.now(timezone.utc), kpi="revenue",
                   channels=data.channels, weeks=data.n_weeks, train_weeks=data.n_train, holdout_weeks=data.n_test,
                   models={model: summarize(fitted, data, 0.0, quick)})


@pytest.fixture(scope="module")
def hidden():
    return simulate(weeks=156, n_channels=3, seed=11, **HIDDEN)


# ------------------------------------------------------------------------------------- the label's rule
CALIBRATED = dict(experiment_se_rel=0.10, experiment_z=0.5)


@pytest.mark.parametrize("signals, label, code", [
    # data alone: no model decided by the data, the audit could not recover it -> low; the test pins it -> high
    (Signals(width=0.3, flags={PRIOR_DRIVEN: ["pymc", "lightweight_mmm"]}, n_models=2, audit={"ridge": "not"}),
     "low", confidence.WHY_UNDECIDED),
    (Signals(width=0.3, flags={PRIOR_DRIVEN: ["pymc", "lightweight_mmm"]}, n_models=2, audit={"ridge": "not"},
             **CALIBRATED), "high", confidence.WHY_CALIBRATED),
    (Signals(width=0.3, collinear=True, audit={"ridge": "weak"}, **CALIBRATED), "high", confidence.WHY_CALIBRATED),
    # a test too loose to settle the channel (se 30 % of its result) lifts nothing
    (Signals(width=0.3, audit={"ridge": "not"}, experiment_se_rel=0.30, experiment_z=0.5), "low",
     confidence.WHY_AUDIT_NOT),
    # data and test disagree: capped at medium, whatever else
    (Signals(width=0.3, experiment_se_rel=0.10, experiment_z=3.0), "medium", confidence.WHY_TEST_CONFLICT),
    # the width is measured on the calibrated fits, and methods that disagree still disagree: both stay
    (Signals(width=2 * confidence.MEDIUM_WIDTH, **CALIBRATED), "low", confidence.WHY_WIDE),
    (Signals(width=0.3, agreement="low", n_models=3, **CALIBRATED), "low", confidence.WHY_DISAGREE),
])
def test_a_well_measured_test_the_models_agree_with_lifts_the_data_alone_caps(signals, label, code):
    out = rule(signals)
    assert out.label == label and code in out.why, out


def test_a_test_one_model_ignored_does_not_pin_the_channel():
    row = {"channel": TINY, "start": "2021-01-04", "end": "2021-03-22", "incremental_kpi": 1000.0,
           "incremental_kpi_se": 100.0, "used": True, "model_kpi": 990.0, "model_kpi_sd": 50.0, "z": 0.1}
    ok = lambda rows: ModelResult(status="ok", diagnostics={experiments.EXPERIMENTS_KEY: rows})  # noqa: E731
    res = Results(round=1, data_hash="x", config_hash="y", created_at=datetime.now(timezone.utc), kpi="k",
                  channels=[TINY], weeks=104, train_weeks=96, holdout_weeks=8,
                  models={"ridge": ok([row]), "pymc": ok([row | {"used": False, "z": 4.0}])})
    assert confidence.experiment_signals(res, TINY) == (None, 4.0)
    res.models["pymc"] = ok([row | {"z": 1.5}])
    assert confidence.experiment_signals(res, TINY) == (pytest.approx(0.1), 1.5)


# ------------------------------------------------------------------------------- known truth: the label
def test_a_true_experiment_raises_the_label_of_a_channel_the_data_cannot_identify(hidden):
    data, cfg = sim_case(hidden)
    before = channel_confidence(_round("ridge", data, cfg))[TINY]
    after = channel_confidence(_round("ridge", calibrated(data, experiment(hidden, TINY, WINDOW)), cfg))[TINY]
    assert before.label == "low" and after.label == "high", (before, after)
    assert confidence.WHY_CALIBRATED in after.why


@pytest.mark.slow
def test_the_audit_refits_with_the_rounds_tests_and_the_label_follows(hidden):
    """Refit ridge on synthetic series with the round's test: the tiny channel, `not` without it, comes back."""
    data, cfg = sim_case(hidden)
    verdicts, labels = [], []
    for d in (data, calibrated(data, experiment(hidden, TINY, WINDOW))):
        res = _round("ridge", d, cfg)
        model = res.models["ridge"]
        world = audit.build_world(d, model.weekly, {c: r.roi for c, r in model.channels.items()},
                                  model.diagnostics.get(experiments.EXPERIMENTS_KEY, []))
        table = audit.recover(world, cfg, k=8, jobs=2).set_index("channel")
        verdicts.append((table.loc[TINY, "verdict"], table.loc[TINY, "recovery_error_pct"]))
        labels.append(channel_confidence(res, audit={TINY: {"ridge": table.loc[TINY, "verdict"]}})[TINY].label)
    (before, err_before), (after, err_after) = verdicts
    assert before == "not" and after != "not" and err_after < err_before, verdicts
    assert labels == ["low", "high"], labels


# -------------------------------------------------------------------- known truth: a wrong (2×) test
def _agreement_check(model: str, rows: list[dict]) -> checks.Check:
    result = ModelResult(status="ok", diagnostics={experiments.EXPERIMENTS_KEY: rows})
    facts = SimpleNamespace(ok_models={model: result}, label=lambda c: c)
    return checks.experiment_agreement(facts)


@pytest.mark.parametrize("model", [
    "ridge",
    pytest.param("pymc", marks=pytest.mark.slow),
    pytest.param("lightweight_mmm", marks=pytest.mark.slow),
])
def test_a_wrong_experiment_moves_every_model_and_the_critic_flags_the_conflict(model):
    """A well-measured channel and a test at 2× its truth: each model's ROI moves up, but its data hold
    its lift for the window more than 2 test se's below the test, and the Critic's check fails."""
    sim = simulate(weeks=156, n_channels=3, seed=3, noise=0.03)
    data, cfg = sim_case(sim, **SMALL_DRAWS.get(model, {}))
    base = _round(model, data, cfg).models[model].channels["tv_spend"].roi
    moved = _round(model, calibrated(data, experiment(sim, "tv_spend", WINDOW, factor=2.0)), cfg).models[model]
    (row,) = moved.diagnostics[experiments.EXPERIMENTS_KEY]
    assert moved.channels["tv_spend"].roi > 1.05 * base and row["z"] > checks.THRESHOLDS.experiment_z, (base, row)
    check = _agreement_check(model, [row])
    assert not check.passed and f"{row['z']:.1f} se" in check.evidence


# ------------------------------------------------------------- the report: with and without the test
@pytest.fixture(scope="module")
def tested_round(tmp_path_factory):
    """A real `prism run` (ridge, quick) with a true test of the tiny channel, compared and reported."""
    root = tmp_path_factory.mktemp("lift")
    ws, sim = make_ws(root / "ws", weeks=156, n_channels=3, seed=11, **HIDDEN)
    truth = experiment(sim, TINY, WINDOW)
    path = root / "tests.csv"
    path.write_text(HEADER + f"{TINY},{truth.start},{truth.end},{truth.spend},{truth.incremental_kpi},"
                             f"{truth.incremental_kpi_se}\n")
    sources.prepare(ws, path)  # what `prism run --experiments PATH` does before the models start
    run_models(ws, models=["ridge"], quick=True)
    run_compare(ws)
    reporter.run(ws, 1)
    return ws, sim, render_deliverables(ws)


def test_the_run_records_each_tested_channels_roi_without_the_test(tested_round):
    ws, sim, _ = tested_round
    res = read_model(ws.latest, Results)
    assert list(res.uncalibrated) == [TINY]
    without, calibrated = res.uncalibrated[TINY], res.models["ridge"].channels[TINY]
    truth = sim.true_roi(slice(0, res.train_weeks))[TINY]
    assert without.model == "ridge" and "without the lift tests" in without.method
    assert abs(calibrated.roi / truth - 1) < 0.15 < abs(without.roi / truth - 1), (calibrated.roi, without.roi, truth)
    assert res.confidence[TINY].label == "high" and confidence.WHY_CALIBRATED in res.confidence[TINY].why


def test_every_deliverable_shows_the_roi_with_and_without_the_test(tested_round):
    ws, _, paths = tested_round
    res = read_model(ws.latest, Results)
    with_test, without = res.models["ridge"].channels[TINY].roi, res.uncalibrated[TINY].roi
    moved = 100 * (with_test / without - 1)
    line = next(ln for ln in ws.report_md.read_text().splitlines() if ln.startswith("- Social, tested"))
    assert f"{fmt(with_test)} per unit" in line and f"{fmt(without)} (" in line and f"{moved:+.0f}%" in line, line
    assert "refitted on the same weeks without it" in ws.report_md.read_text()
    sheet = openpyxl.load_workbook(next(p for p in paths if p.suffix == ".xlsx"))["Lift tests"]
    values = {h.value: c.value for h, c in zip(sheet[1], sheet[2])}
    assert values["channel"] == TINY and values["roi_without"] == pytest.approx(without)
    assert values["roi"] == pytest.approx(with_test) and values["moved_pct"] == pytest.approx(moved)
    deck = Presentation(next(p for p in paths if p.suffix == ".pptx"))
    cells = [c.text for s in deck.slides for sh in s.shapes if sh.has_table for r in sh.table.rows for c in r.cells]
    assert report_fmt.roi(without) in cells and report_fmt.signed_pct(moved) in cells
    page = next(p for p in paths if p.suffix == ".html").read_text()
    assert 'id="lift-tests"' in page and report_fmt.roi(without) in page and report_fmt.signed_pct(moved) in page


def test_the_proofreader_accepts_the_with_and_without_line(tested_round):
    """Both figures come from the results (the proofreader neither rewrites nor flags them)."""
    ws, _, _ = tested_round
    text = ws.report_md.read_text()
    _, edits, issues = proofreader.review(text, RoundFacts.load(ws, 1), ws)
    assert edits == [] and not [i for i in issues if "number" in i or "Social" in i or "jargon" in i], issues


def test_without_ridge_in_the_round_the_move_is_against_the_rounds_mean():
    chans = {TINY: ChannelResult(roi=2.0, roi_low=1.5, roi_high=2.5, contribution=1.0, contribution_pct=1.0, mroi=1.0,
                                 saturation_pct=10.0, spend=1.0)}
    res = Results(round=1, data_hash="x", config_hash="y", created_at=datetime.now(timezone.utc), kpi="k",
                  channels=[TINY], weeks=104, train_weeks=96, holdout_weeks=8,
                  models={"pymc": ModelResult(status="ok", channels=chans),
                          "lightweight_mmm": ModelResult(status="ok", channels={TINY: chans[TINY].model_copy(
                              update={"roi": 3.0, "roi_high": 3.5})}),
                          "ridge": ModelResult(status="failed", reason="x")},
                  uncalibrated={TINY: Uncalibrated(roi=1.0, roi_low=0.0, roi_high=2.0, model="ridge", method="m")})
    (effect,) = lift_effects(res)
    assert (effect.roi, effect.roi_low, effect.roi_high, effect.same_model) == (2.5, 1.5, 3.5, False)
    assert effect.moved_pct == pytest.approx(150.0) and not effect.range_pooled
    # once compare pooled the draws, the line quotes their 90 % interval, not the span across the models
    res.combined = {TINY: Combined(roi=2.5, roi_low=1.8, roi_high=3.2, pooled=True, confidence="low")}
    (effect,) = lift_effects(res)
    assert (effect.roi_low, effect.roi_high, effect.range_pooled) == (1.8, 3.2, True)


# ------------------------------------------------------------------------------ validation via the CLI
@pytest.mark.parametrize("line, says", [
    ("radio_spend,2021-03-01,2021-03-29,1000,500,50", ["row 1", "'channel'", "radio_spend"]),
    ("tv_spend,2030-03-01,2030-03-29,1000,500,50", ["row 1", "'start'", "outside the data"]),
    ("tv_spend,2021-03-01,2021-03-29,1000,500,-5", ["row 1", "'incremental_kpi_se'", "-5"]),
])
def test_prism_run_refuses_a_bad_row_with_exit_2_naming_it(tmp_path, capsys, line, says):
    ws, _ = make_ws(tmp_path / "ws", weeks=104, n_channels=3)
    bad = tmp_path / "tests.csv"
    bad.write_text(HEADER + "tv_spend,2021-03-01,2021-03-29,1000,500,50\n" + line + "\n")
    says = [s.replace("row 1", "row 2") for s in says]
    Cli(capsys, ws.root).fails("run", "--experiments", str(bad), says=[str(bad), *says])
    assert not ws.round_results(1).exists() and not experiments.used_path(ws).exists()
