"""The calibrated confidence label: what caps it, where it is written, how the report words it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prism.agents import analyst, proofreader, reporter
from prism.analysis import checks, confidence
from prism.analysis.facts import RoundFacts
from prism.analysis.compare import COLUMNS, run_compare
from prism.models import evidence
from prism.orchestration.guards import check_report
from prism.schemas import MODEL_NAMES, PRIOR_DRIVEN, Results
from prism.workspace import read_model, write_csv, write_json
from tests.helpers.loop import crafted_results, make_ws

RNG = np.random.default_rng(5)


def reporter_label(ws, channel: str) -> str:
    return RoundFacts.load(ws, 1).label(channel)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return make_ws(tmp_path_factory.mktemp("conf"), weeks=156, n_channels=4, seed=7)


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    return make_ws(tmp_path_factory.mktemp("conf_pair"), weeks=156, n_channels=4, seed=8, collinear=True)


def _with_evidence(ws, res: Results, prior_driven: dict[str, set[str]], zero: dict[str, set[str]] | None = None):
    """Evidence from draws: a channel listed for a model gets a posterior equal to its prior (prior-driven)
    or, for ridge, zero-bound resamples; every other channel a posterior the data narrowed."""
    for model, result in res.ok_models().items():
        for ch, c in result.channels.items():
            sd = 0.1 * abs(c.roi)
            post = RNG.normal(c.roi, sd, size=(1000, 1))
            if model == "ridge":
                at_zero = np.full((1000, 1), ch in (zero or {}).get(model, set()))
                c.evidence = evidence.bootstrap_evidence(post, at_zero)[0]
            else:
                prior = post if ch in prior_driven.get(model, set()) else RNG.normal(c.roi, 10 * sd, size=(1000, 1))
                c.evidence = evidence.posterior_evidence(post, prior)[0]
    write_json(ws.round_results(res.round), res)
    write_json(ws.latest, res)


def test_a_prior_driven_channel_is_flagged_and_never_high(plain) -> None:
    ws, sim = plain
    silent, measured = sim.channels[0], sim.channels[1]
    res = crafted_results(ws, sim)
    _with_evidence(ws, res, {"pymc": {silent}, "lightweight_mmm": {silent}})
    out = run_compare(ws)
    assert out.confidence[measured].label == "high"
    assert out.confidence[silent].label != "high" and PRIOR_DRIVEN in out.confidence[silent].reason
    table = pd.read_csv(ws.result("roi_comparison.csv"))
    assert list(table.columns) == COLUMNS and COLUMNS.index("confidence") == COLUMNS.index("agreement") + 1
    assert COLUMNS[-1] == "evidence"
    assert dict(zip(table["channel"], table["confidence"]))[silent] == out.confidence[silent].label
    assert read_model(ws.latest, Results).confidence[measured].label == "high"


def test_a_collinear_pair_is_not_high(paired) -> None:
    """Narrow, agreeing estimates: only the pair bought together is held below high."""
    ws, sim = paired
    res = crafted_results(ws, sim)
    _with_evidence(ws, res, {})
    out = run_compare(ws)
    pair, rest = sim.channels[:2], sim.channels[2:]
    assert all(out.confidence[c].label == "medium" and confidence.WHY_COLLINEAR in out.confidence[c].why
               for c in pair)
    assert all(out.confidence[c].label == "high" for c in rest)


def test_report_says_plainly_which_method_found_no_effect(plain) -> None:
    """Retail-shaped results: ridge at zero in every resample, both Bayesian models still their prior. The
    headline gives the range by method instead of one average, no channel is acted on, the guards pass."""
    ws, sim = plain
    chans = set(sim.channels)
    roi = {"ridge": {c: 0.01 for c in chans}, "pymc": {c: 15.0 + i for i, c in enumerate(sim.channels)},
           "lightweight_mmm": {c: 17.0 + i for i, c in enumerate(sim.channels)}}
    res = crafted_results(ws, sim, roi=roi)
    _with_evidence(ws, res, {"pymc": chans, "lightweight_mmm": chans}, zero={"ridge": chans})
    run_compare(ws)
    reporter.run(ws, res.round)
    proofreader.run(ws, res.round)
    text = ws.report_md.read_text()
    answer = text.split("## The answer")[1].split("##")[0]
    assert "Depending on the method, each unit of marketing spend brought back between 0.01 and" in answer
    assert "brought back about" not in answer
    assert "The quick method finds no effect it can tell from zero for 4 of 4 channels" in answer
    assert "repeats its starting assumption rather than a measurement for 4 of 4 channels" in answer
    assert "0 of 4 channels have high confidence" in answer
    assert f"| {reporter_label(ws, sim.channels[0])} | 0.01 to 17.00 depending on the method |" in text
    assert "No channel's return has high confidence yet" in text.split("## What to do")[1].split("##")[0]
    assert "not identifiable from this spend" in text and "No test has been sized on this data yet" in text
    assert check_report(ws) == []


@pytest.mark.parametrize("signals, label, why", [
    (confidence.Signals(width=0.3), "high", confidence.WHY_NARROW),
    (confidence.Signals(width=0.3, train_weeks=80), "medium", confidence.WHY_SHORT),
    (confidence.Signals(width=0.3, audit={"ridge": "weak"}), "medium", confidence.WHY_AUDIT_WEAK),
    (confidence.Signals(width=0.3, audit={"ridge": "not"}), "low", confidence.WHY_AUDIT_NOT),
    (confidence.Signals(width=0.3, agreement="low", n_models=3), "low", confidence.WHY_DISAGREE),
    (confidence.Signals(width=(confidence.HIGH_WIDTH + confidence.MEDIUM_WIDTH) / 2), "medium", confidence.WHY_WIDTH),
    (confidence.Signals(width=confidence.MEDIUM_WIDTH + 1), "low", confidence.WHY_WIDE),
    (confidence.Signals(width=0.3, flags={"no effect found": ["ridge"]}, n_models=3), "medium",
     confidence.WHY_SOME_UNDECIDED),
    (confidence.Signals(width=0.3, flags={PRIOR_DRIVEN: ["pymc", "lightweight_mmm"]}, n_models=2), "low",
     confidence.WHY_UNDECIDED),
    # both Bayesian models prior-driven, ridge decided: low (the benchmark's far-off case), one of three: medium
    (confidence.Signals(width=0.3, flags={PRIOR_DRIVEN: ["pymc", "lightweight_mmm"]}, n_models=3), "low",
     confidence.WHY_UNDECIDED),
    (confidence.Signals(width=0.3, flags={PRIOR_DRIVEN: ["pymc"]}, n_models=3), "medium",
     confidence.WHY_SOME_UNDECIDED),
])
def test_what_sets_the_label(signals, label, why) -> None:
    out = confidence.rule(signals)
    assert out.label == label and out.why[0] == why


def test_thresholds_are_what_the_benchmark_rule_ships() -> None:
    """The constants in analysis/confidence.py are bench/calibration.py's shipped rule (the stricter of the two
    halves' fits) on its saved rows, national and panel, not an in-sample fit and not set by hand."""
    from bench import calibration

    rows = calibration.complete(pd.read_csv(calibration.ROWS))
    assert set(rows["seed"]) <= set(calibration.BENCH_SEEDS) and set(rows["model"]) == set(MODEL_NAMES)
    shipped = calibration.shipped_thresholds(calibration.all_signals(rows))
    if shipped is not None:
        assert shipped == (confidence.HIGH_WIDTH, confidence.MEDIUM_WIDTH)
    n = rows["seed"].nunique()
    if n < 30 or shipped is None:  # a partial run: visible in every test report until the bench is complete
        pytest.xfail(f"bench/calibration_rows.csv: {n} of {len(calibration.BENCH_SEEDS)} datasets fitted by all three "
                     f"models{'' if shipped else ', a half supports no fit'}; complete it: bench/calibration.py --resume")


def test_an_unrecoverable_channel_is_low_and_must_be_called_uncertain(plain) -> None:
    """The audit's `not` makes the channel low; the Critic's identifiability check fails on a text that does
    not call it uncertain and passes on the Analyst's and the Reporter's."""
    ws, sim = plain
    res = crafted_results(ws, sim)
    _with_evidence(ws, res, {})
    lost = sim.channels[2]
    verdicts = ["identifiable", "identifiable", "not", "weak"]
    write_csv(ws.result("audit.csv"), pd.DataFrame({
        "channel": sim.channels, "model": "ridge", "recovery_error_pct": [5.0, 8.0, 80.0, 40.0],
        "coverage": [0.9, 0.9, 0.3, 0.7], "verdict": verdicts, "bias_pct": 0.0, "round": res.round}))
    out = run_compare(ws)
    assert [out.confidence[c].label for c in sim.channels] == ["high", "high", "low", "medium"]
    facts = RoundFacts.load(ws, res.round)
    assert not checks.identifiability(facts, "Every channel is measured well.").passed
    assert checks.identifiability(facts, analyst.compose(facts)).passed
    reporter.run(ws, res.round)
    proofreader.run(ws, res.round)
    assert check_report(ws) == []
    write_csv(ws.result("audit.csv"), pd.read_csv(ws.result("audit.csv")).assign(round=res.round + 1))
    assert run_compare(ws).confidence[lost].label == "high"  # another round's audit is not read


def test_a_model_without_an_interval_does_not_narrow_the_width(plain) -> None:
    """A quick MAP fit is a point: its zero width must not count, so [point, 1.3, 2.9] labels as [1.3, 2.9]."""
    from prism.schemas import ChannelEvidence

    ws, sim = plain
    ch = sim.channels[0]

    def widths(res: Results, ridge: float, lightweight: float) -> Results:
        for model, width in (("ridge", ridge), ("lightweight_mmm", lightweight)):
            c = res.models[model].channels[ch]
            c.roi_low, c.roi_high, c.evidence = c.roi * (1 - width / 2), c.roi * (1 + width / 2), None
        return res

    with_point = widths(crafted_results(ws, sim), 1.3, 2.9)
    point = with_point.models["pymc"].channels[ch]
    point.roi_low = point.roi_high = point.roi
    point.evidence = ChannelEvidence(source="point")
    without = widths(crafted_results(ws, sim, factors={"ridge": 1.0, "lightweight_mmm": 0.95}), 1.3, 2.9)
    signals = [confidence.Signals.from_results(r, ch) for r in (with_point, without)]
    assert signals[0].width == pytest.approx(signals[1].width) == pytest.approx(2.1)
    assert confidence.rule(signals[0]).label == confidence.rule(signals[1]).label == "medium"
