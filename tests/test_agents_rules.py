"""The rule-based agents on crafted results: each rule fires on the case it exists for."""

from __future__ import annotations

import json

import pytest

from tests.helpers.loop import crafted_results, make_ws
from prism.agents import analyst, critic, explorer, proofreader, reporter, tuner
from prism.analysis.checks import Check, acknowledged, compute_checks
from prism.analysis.facts import RoundFacts
from prism.analysis.numbers import unknown_numbers
from prism.data.discover import refresh_metadata
from prism.errors import InputError
from prism.orchestration.guards import check_report, check_review
from prism.schemas import RoundRecord, State
from prism.workspace import save_state, write_json, write_text


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_ws(tmp_path_factory.mktemp("agents"), weeks=156, n_channels=4)


def _checks(ws, text="") -> dict[str, Check]:
    return {c.name: c for c in compute_checks(ws, 1, text)}


def test_clean_round_passes_every_stage_and_guard(base):
    ws, sim = base
    crafted_results(ws, sim)
    assert analyst.run(ws, 1).status == "ANALYSIS_DONE"
    assert critic.run(ws, 1).status == "APPROVED"
    assert check_review(ws) == []
    reporter.run(ws, 1)
    assert proofreader.run(ws, 1).status == "PROOFREAD_CLEAN"
    assert check_report(ws) == []
    assert unknown_numbers(ws.analysis(1).read_text(), ws, 1) == []


@pytest.mark.parametrize("case, check", [
    ({"fit": {"ridge": {"mape_train": 3.0, "mape_test": 20.0}}}, "overfitting"),
    ({"roi": {"pymc": {"tv_spend": -0.4}}}, "sign correctness"),
    ({"contribution_scale": 0.05}, "contribution plausibility"),
    ({"diagnostics": {"pymc": {"rhat_max": 1.2, "ess_bulk_min": 50.0, "divergences": 3, "chains": 2}}}, "model health"),
])
def test_critic_fails_each_numeric_check(base, case, check):
    ws, sim = base
    crafted_results(ws, sim, **case)
    checks = _checks(ws)
    assert not checks[check].passed, checks[check].evidence
    assert sum(not c.passed for c in checks.values()) >= 1
    write_text(ws.analysis(1), "# Round 1 analysis\n\nThe models rank channels.\n")
    out = critic.run(ws, 1)
    assert out.status.startswith("REVISE:") and check in out.status
    analyst.run(ws, 1, revision=True)  # acknowledges it, then the Critic approves
    text = ws.analysis(1).read_text()
    response = text.split("## Response to the review", 1)[1]
    line = next(ln for ln in response.splitlines() if ln.startswith(f"- On {check}: "))
    assert _checks(ws)[check].evidence in line and acknowledged(_checks(ws)[check], line.split(": ", 1)[1])
    final = critic.run(ws, 1, revision=True).status
    assert final == "APPROVED" if check != "model health" else final.startswith("APPROVED WITH MODEL HEALTH FAIL: ")
    assert check_review(ws) == []


def test_a_panel_counts_its_market_weeks_for_the_sample_caveat(base):
    """156 weeks of one series are too few for the media model's parameters (as the next test checks); the
    same 156 weeks in each of 40 markets are 6,240 observations, no short history, and the Critic says so."""
    ws, sim = base
    res = crafted_results(ws, sim)
    facts = RoundFacts.load(ws, 1)
    assert facts.n_markets == 1 and facts.sample_caveat_needed
    res.markets = [f"m{g:02d}" for g in range(40)]
    write_json(ws.round_results(1), res.model_dump(mode="json"))
    panel = RoundFacts.load(ws, 1)
    assert panel.observations == 156 * 40 and not panel.sample_caveat_needed
    check = _checks(ws)["sample size"]
    assert check.passed and "6240 market-weeks (156 weeks × 40 markets)" in check.evidence
    crafted_results(ws, sim)  # the module's workspace back to one national series


def test_critic_text_checks_and_one_revision(base):
    ws, sim = base
    crafted_results(ws, sim, agreement={"social_spend": "low"})
    checks = _checks(ws, "Social returns 0.80.")
    assert not checks["consensus honesty"].passed and "Social" in checks["consensus honesty"].evidence
    assert not checks["sample size"].passed  # 156 weeks < 10 × parameters
    assert _checks(ws, "Social: the models disagree, so it is uncertain. Only 156 weeks of data: a small "
                       "sample.")["consensus honesty"].passed
    write_text(ws.analysis(1), "# Round 1 analysis\n\nSocial returns 0.80.\n")
    assert critic.run(ws, 1).status.startswith("REVISE: consensus honesty")
    assert check_review(ws) == []
    final = critic.run(ws, 1, revision=True)  # the analysis did not change: the point is still not addressed
    assert final.status.startswith("REJECTED: not addressed after the revision: consensus honesty")
    assert "consensus honesty" in final.extra["open_issues"] and check_review(ws) == []
    assert "## Open issues" in ws.review(1).read_text()
    review = ws.review(1).read_text().replace("| consensus honesty | FAIL |", "| consensus honesty | PASS |")
    write_text(ws.review(1), review)
    assert any("consensus honesty" in p for p in check_review(ws))


def test_analyst_under_400_words_with_numbers_from_results(tmp_path):
    ws, sim = make_ws(tmp_path, weeks=156, n_channels=8)
    crafted_results(ws, sim, agreement={"radio_spend": "low"}, failed={"lightweight_mmm": "timed out after 1 s"})
    analyst.run(ws, 1)
    text = ws.analysis(1).read_text()
    assert analyst.word_count(text) < analyst.MAX_WORDS
    assert "Radio: the models disagree" in text
    assert "lightweight_mmm failed (timed out after 1 s)" in text and "rests on 2 model(s)" in text
    assert unknown_numbers(text, ws, 1) == []
    assert unknown_numbers(text + " Display returns 7.77.", ws, 1) == ["7.77"]


def test_collinear_pair_named_and_split_uncertain(tmp_path):
    ws, sim = make_ws(tmp_path, weeks=156, n_channels=4, collinear=True)
    crafted_results(ws, sim)
    facts = RoundFacts.load(ws, 1)
    assert ("tv_spend", "search_spend") in [(a, b) for a, b, _ in facts.collinear_pairs]
    analyst.run(ws, 1)
    critic.run(ws, 1)
    review = ws.review(1).read_text()
    assert "| collinearity | PASS | named: TV & Search" in review
    reporter.run(ws, 1)
    report = ws.report_md.read_text()
    assert "TV and Search were bought together, so the split between them is uncertain" in report
    actions = report.split("## What to do")[1].split("##")[0]
    assert "TV" not in actions and "Search" not in actions  # no recommendation on an unsplit pair


def test_short_history_readiness_and_caveat(tmp_path):
    ws, sim = make_ws(tmp_path, weeks=40, n_channels=4)
    out = explorer.run(ws, 1)
    assert out.extra["readiness"] <= 2
    text = ws.exploration().read_text()
    assert "Readiness score: " in text and "less than a year" in text and "Actions:" in text
    crafted_results(ws, sim)
    reporter.run(ws, 1)
    assert "Sample size: only 40 weeks of data" in ws.report_md.read_text()


def test_explorer_finds_anomalies_with_dates(tmp_path):
    ws, sim = make_ws(tmp_path, weeks=104, n_channels=3)
    frame = sim.frame.copy()
    frame.loc[50, sim.kpi] = frame[sim.kpi].mean() * 6
    frame.loc[20, "tv_spend"] = frame["tv_spend"].max() * 12
    frame.to_csv(ws.root / "data.csv", index=False)
    refresh_metadata(ws)  # stages read weekly.parquet: new data reaches them through a discover refresh
    explorer.run(ws, 1)
    text = ws.exploration().read_text()
    kpi_part = text.split("KPI weeks with")[1].split("Spend weeks")[0]
    assert frame.loc[50, "date"] in kpi_part
    assert f"TV {frame.loc[20, 'date']}" in text


def test_reporter_structure_and_plain_headline(base):
    ws, sim = base
    crafted_results(ws, sim, agreement={"social_spend": "low"})
    reporter.run(ws, 1)
    text = ws.report_md.read_text()
    for h in reporter.HEADINGS.values():  # the per-market section belongs to regional panels only
        assert (h in text) == (h != reporter.HEADINGS["markets"])
    body = text.split(reporter.HEADINGS["appendix"])[0].lower()
    assert not any(m in body for m in ("ridge", "pymc", "lightweight", "mape", "posterior"))
    assert "Social (low confidence): the methods disagree" in text and "runs from 0.61 to 1.01" in text
    assert "| Social | 0.80 | 0.61–1.01 | low |" in text
    actions = text.split("## What to do")[1].split("##")[0]
    assert "Social" not in actions


def test_proofreader_corrects_a_wrong_number(base):
    ws, sim = base
    crafted_results(ws, sim)
    reporter.run(ws, 1)
    good = ws.report_md.read_text()
    roi = RoundFacts.load(ws, 1).channel_facts["tv_spend"].roi
    right = f"| TV | {roi:.2f} |"
    assert right in good
    write_text(ws.report_md, good.replace(right, "| TV | 9.99 |"))
    assert any("9.99" in p for p in check_report(ws))
    out = proofreader.run(ws, 1)
    assert out.status == "PROOFREAD_CORRECTED"
    assert ws.report_md.read_text() == good
    assert "9.99 →" in ws.proofread(1).read_text()
    write_text(ws.report_md, good.replace("## Data caveats", "## Data caveats\n\nThe ridge posterior says so."))
    issues = proofreader.review(ws.report_md.read_text(), RoundFacts.load(ws, 1), ws)[2]
    assert any("'ridge'" in i for i in issues) and any("'posterior'" in i for i in issues)


def test_tuner_reverts_a_worse_change_and_never_retries(base, tmp_path):
    ws, sim = base
    crafted_results(ws, sim, round_no=1, objective=10.0)
    cfg1 = ws.config.read_text()
    write_text(ws.round_file(1, "config", "json"), cfg1)
    state = State(round=2, stage="tune", rounds=[RoundRecord(round=1, objective=10.0)])
    save_state(ws, state)
    first = tuner.run(ws, 2)
    assert first.status == "CONFIG_UPDATED" and ws.tuning(2).exists()
    key = first.extra["change_key"]
    assert ws.config.read_text() != cfg1
    write_text(ws.round_file(2, "config", "json"), ws.config.read_text())
    crafted_results(ws, sim, round_no=2, objective=14.0)  # worse
    state.rounds.append(RoundRecord(round=2, objective=14.0, change_key=key))
    save_state(ws, state)
    second = tuner.run(ws, 3)
    assert second.extra["reverted"] == key
    assert second.extra["change_key"] != key
    state.reverted_changes.append(key)
    save_state(ws, state)
    assert key not in [c.ident for c in tuner.candidate_changes(ws, 3)]
    with pytest.raises(InputError, match="reverted"):
        k, v = key.split("=", 1)
        write_text(ws.config, cfg1)
        tuner.validate_change(ws, k, v)


def test_tuner_rules_and_validation(base):
    ws, sim = base
    crafted_results(ws, sim, diagnostics={"pymc": {"rhat_max": 1.3, "divergences": 0, "ess_bulk_min": 900.0}})
    save_state(ws, State(round=2, stage="tune", rounds=[RoundRecord(round=1, objective=12.0)]))
    first = tuner.candidate_changes(ws, 2)[0]
    assert first.key == "pymc.draws" and first.new == first.old * tuner.DRAWS_FACTOR and "r-hat" in first.evidence
    crafted_results(ws, sim, diagnostics={"pymc": {"rhat_max": 1.01, "divergences": 40, "ess_bulk_min": 900.0}})
    first = tuner.candidate_changes(ws, 2)[0]
    assert (first.key, first.new) == ("pymc.target_accept", tuner.TARGET_ACCEPT) and "divergent" in first.evidence
    save_state(ws, State(round=3, stage="tune", rounds=[RoundRecord(round=1, objective=12.0),
                                                       RoundRecord(round=2, objective=12.0,
                                                                   change_key="pymc.target_accept=0.97")]))
    assert "pymc.target_accept" not in [c.key for c in tuner.candidate_changes(ws, 2)]  # one sampler change per key
    meta = json.loads(ws.metadata.read_text())
    meta["knowledge"]["fields"] = {"tv_spend": {"column": "tv_spend", "adstock_decay": 0.7}}
    write_json(ws.metadata, meta)
    keys = [c.key for c in tuner.candidate_changes(ws, 2)]
    assert "adstock.channel_decays" in keys
    with pytest.raises(InputError, match="not tunable"):
        tuner.validate_change(ws, "data.kpi", "x")
    with pytest.raises(InputError, match="out of bounds"):
        tuner.validate_change(ws, "adstock.decay", "1.5")
    assert tuner.validate_change(ws, "adstock.max_lag", "4").new == 4


def test_failed_model_health_is_never_a_plain_approval(base):
    """The Critic marked model health FAIL and still approved: now an analysis that mentions it is still sent
    back once, and the final verdict states the failure; the guard refuses a bare APPROVED."""
    ws, sim = base
    crafted_results(ws, sim, diagnostics={"pymc": {"rhat_max": 1.2, "ess_bulk_min": 900.0, "divergences": 0,
                                                   "chains": 2}})
    analyst.run(ws, 1)
    assert "converge" in ws.analysis(1).read_text().lower() or "r-hat" in ws.analysis(1).read_text().lower()
    first = critic.run(ws, 1)
    assert first.status.startswith("REVISE:") and "model health" in first.status
    analyst.run(ws, 1, revision=True)
    final = critic.run(ws, 1, revision=True)
    assert final.status.startswith("APPROVED WITH MODEL HEALTH FAIL: ") and "1.2" in final.status
    assert check_review(ws) == []
    review = ws.review(1).read_text()
    write_text(ws.review(1), review.replace(final.status, "APPROVED"))
    assert any("model health fails" in p for p in check_review(ws))


@pytest.mark.parametrize("mape_test", [7.13, 61.37])
def test_the_holdout_never_steers_the_tuner(base, mape_test):
    """Only mape_test changes (the Critic's overfitting check flips): the Tuner's candidates stay the same and
    neither they nor the Claude Tuner's context show the held-out weeks' error."""
    from prism.llm import context

    ws, sim = base
    fit = {m: {"mape_train": 5.0, "mape_test": mape_test} for m in ("ridge", "pymc", "lightweight_mmm")}
    res = crafted_results(ws, sim, fit=fit)
    save_state(ws, State(round=2, stage="tune", rounds=[RoundRecord(
        round=1, objective=12.0, test_mape={m: mape_test for m in res.models})]))
    assert _checks(ws)["overfitting"].passed == (mape_test < 10)  # the Critic still judges the holdout
    changes = [(c.key, c.new, c.rule, c.evidence) for c in tuner.candidate_changes(ws, 2)]
    assert changes == [(c.key, c.new, c.rule, c.evidence) for c in _candidates_at(ws, sim, fit, 7.13)]
    assert all("test MAPE" not in c[3] for c in changes)
    shown = context.build("tuner", ws, 2, False, "propose_config_change")
    assert "mape_test" not in shown and "test_mape" not in shown and str(mape_test) not in shown


def _candidates_at(ws, sim, fit, mape_test: float):
    crafted_results(ws, sim, fit={m: {**f, "mape_test": mape_test} for m, f in fit.items()})
    out = tuner.candidate_changes(ws, 2)
    crafted_results(ws, sim, fit=fit)
    return out


def test_tuner_stops_when_the_objective_stalls(base):
    ws, sim = base
    crafted_results(ws, sim, round_no=3, objective=11.0)
    write_text(ws.round_file(1, "config", "json"), ws.config.read_text())
    save_state(ws, State(round=4, stage="tune", rounds=[RoundRecord(round=1, objective=10.0),
                                                       RoundRecord(round=2, objective=12.0, change_key="a=1"),
                                                       RoundRecord(round=3, objective=11.0, change_key="b=2")]))
    out = tuner.run(ws, 4)
    assert out.status == "NO_CHANGE" and out.extra["reverted"] == "b=2"
    assert "stopped improving" in ws.tuning(4).read_text()


def test_proofreader_flags_one_figure_stated_two_ways(base):
    ws, sim = base
    crafted_results(ws, sim)
    reporter.run(ws, 1)
    roi = RoundFacts.load(ws, 1).channel_facts["tv_spend"]
    text = ws.report_md.read_text().replace("## Data caveats", f"## Data caveats\n\nTV returns {roi.roi_low:.2f} "
                                                            f"per unit.\n")
    issues = proofreader.review(text, RoundFacts.load(ws, 1), ws)[2]
    assert not any("TV: return stated" in i for i in issues)  # the low end of its range is not a restatement
    text = text.replace(f"TV returns {roi.roi_low:.2f}", f"TV returns {roi.roi_by_model['pymc']:.2f}")
    issues = proofreader.review(text, RoundFacts.load(ws, 1), ws)[2]
    assert any("TV: return stated as" in i for i in issues)


def test_registry_mixed_reads_config(base):
    from prism.orchestration.registry import get_agent, impl_for
    from prism.schemas import Config
    from prism.workspace import read_model

    ws, _ = base
    cfg = read_model(ws.config, Config).model_copy(update={"agents": {"analyst": "claude"}})
    assert impl_for("analyst", "mixed", cfg) == "claude" and impl_for("critic", "mixed", cfg) == "rules"
    assert impl_for("critic", "claude", cfg) == "claude"
    assert get_agent("critic", "rules") is critic.run
    with pytest.raises(InputError, match="unknown agent"):
        get_agent("poet", "rules")


def test_sampler_changes_do_not_count_towards_a_stall(base):
    ws, sim = base
    crafted_results(ws, sim, round_no=3, objective=10.0)
    save_state(ws, State(round=4, stage="tune", rounds=[
        RoundRecord(round=1, objective=10.0), RoundRecord(round=2, objective=10.0, change_key="pymc.draws=1000"),
        RoundRecord(round=3, objective=10.0, change_key="lightweight_mmm.target_accept=0.95")]))
    assert tuner.run(ws, 4).status == "CONFIG_UPDATED"


def test_a_media_share_above_the_kpi_is_named_and_left_out_of_the_range(base):
    """A method that gives media more than the whole KPI (baseline below zero) is not averaged into the
    media share: the report names it and gives the range of the others."""
    ws, sim = base
    res = crafted_results(ws, sim)
    for ch in res.models["pymc"].channels.values():
        ch.contribution_pct *= 100.0 / RoundFacts.load(ws, 1).media_share("pymc") * 1.2
    write_json(ws.round_results(1), res)
    write_json(ws.latest, res)
    facts = RoundFacts.load(ws, 1)
    assert set(facts.impossible_media_shares) == {"pymc"} and facts.media_share("pymc") > 100
    assert facts.mean_media_share < 100
    reporter.run(ws, 1)
    text = ws.report_md.read_text()
    share = f"{facts.media_share('pymc'):.1f}%"
    assert f"the first simulation method gave media {share} of Revenue, which would put baseline demand below zero" in text
    low, high = sorted(facts.credible_media_shares.values())
    assert f"between {low:.1f}% and {high:.1f}%" in text
    assert check_report(ws) == []


def _sent_back(base, case: dict, text: str):
    """A round whose first review asked for a revision of `text`; the first review kept as the loop keeps it."""
    ws, sim = base
    crafted_results(ws, sim, **case)
    write_text(ws.analysis(1), text)
    first = critic.run(ws, 1)
    assert first.status.startswith("REVISE:")
    write_text(ws.round_file(1, "review_first"), ws.review(1).read_text())
    return ws, first.status


def test_quoting_the_review_back_does_not_address_it(base):
    """Issue 21 item 10: the old fixed "Response to the review" quoted the reason and so passed every re-check."""
    text = "# Round 1 analysis\n\nSocial returns 0.80. Only 156 weeks of data: a small sample.\n"
    ws, status = _sent_back(base, {"agreement": {"social_spend": "low"}}, text)
    reason = status.removeprefix("REVISE:").strip()
    write_text(ws.analysis(1), text + f"\n## Response to the review\n\nThe review asked: {reason}. The sections "
                                      f"above now state each point it raised.\n")
    final = critic.run(ws, 1, revision=True)
    assert final.status.startswith("REJECTED:") and "consensus honesty" in final.status
    assert check_review(ws) == []
    ws.round_file(1, "review_first").unlink()


def test_the_revision_answers_each_raised_point_and_is_approved(base):
    text = "# Round 1 analysis\n\nSocial returns 0.80. Only 156 weeks of data: a small sample.\n"
    ws, _ = _sent_back(base, {"agreement": {"social_spend": "low"}, "fit": {"ridge": {"mape_train": 3.0,
                                                                                   "mape_test": 20.0}}}, text)
    assert check_review(ws) == []
    analyst.run(ws, 1, revision=True)
    response = ws.analysis(1).read_text().split("## Response to the review", 1)[1]
    on = {ln.split(":", 1)[0]: ln for ln in response.splitlines() if ln.startswith("- On ")}
    assert set(on) == {"- On consensus honesty", "- On overfitting"}
    assert "Social: the models disagree" in on["- On consensus honesty"] and "uncertain" in on["- On consensus honesty"]
    assert "Possible overfit" in on["- On overfitting"] and "The review asked" not in response
    assert critic.run(ws, 1, revision=True).status == "APPROVED" and check_review(ws) == []
    ws.round_file(1, "review_first").unlink()
