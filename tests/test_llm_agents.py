"""Claude agents through the real `anthropic` client and the fake Messages API: prompts, tools, validation,
what is written, and the fallback to the rule-based agents."""

from __future__ import annotations

from pathlib import Path

import pytest

from prism.agents import analyst, critic
from prism.analysis import claims
from prism.analysis.checks import compute_checks, parse_verdict
from prism.analysis.facts import RoundFacts, fmt
from prism.errors import InputError
from prism.llm import claude_agents
from prism.llm.claude_agents import claude_agent, strip_front_matter
from prism.llm.tools import TOOLS
from prism.workspace import Workspace
from tests.helpers.fake_anthropic import FAKE_KEY, FakeAnthropic, overloaded, text_only, tool_use
from tests.helpers.report import build_workspace

KEY = FAKE_KEY
pytestmark = pytest.mark.usefixtures("claude_env")
TEMPLATES = Path(claude_agents.__file__).parents[1] / "templates" / "agents"


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("ws"), rounds=2)


@pytest.fixture
def ws(base_ws, copy_ws) -> Workspace:
    return copy_ws(base_ws)


def _agent(name: str, fake: FakeAnthropic, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    agent = claude_agent(name)
    agent.client.backoff_base_s = 0.01
    return agent


def _good_analysis(ws: Workspace) -> str:
    return analyst.compose(RoundFacts.load(ws, 2))


def _last_tool_result(request: dict) -> dict:
    return request["messages"][-1]["content"][0]


def test_analyst_request_and_written_file(ws, monkeypatch):
    text = _good_analysis(ws)
    with FakeAnthropic([tool_use("submit_analysis", {"markdown": text}, input_tokens=5000,
                                 output_tokens=700)]) as fake:
        out = _agent("analyst", fake, monkeypatch)(ws, 2)
    sent = fake.requests[0]
    assert sent["system"] == strip_front_matter((TEMPLATES / "analyst.md").read_text())
    assert not sent["system"].startswith("---") and "# Analyst" in sent["system"]
    assert sent["tools"] == [TOOLS["analyst"].spec()]
    assert sent["tools"][0]["input_schema"]["required"] == ["markdown"]
    user = sent["messages"][0]["content"]
    assert "rounds/R02_results.json" in user and "roi_low" in user
    assert '"weekly"' not in user and '"curves"' not in user  # long series trimmed
    assert out.status == "ANALYSIS_DONE" and ws.analysis(2).read_text() == text.strip() + "\n"
    call = out.call
    assert (call.impl, call.input_tokens, call.output_tokens) == ("claude", 5000, 700)
    assert call.cost_usd == pytest.approx((5000 * 2 + 700 * 10) / 1e6) and call.seconds > 0


def test_unknown_numbers_are_sent_back_once(ws, monkeypatch):
    good = _good_analysis(ws)
    bad = good + "\nSocial returns 987.65 per unit.\n"
    with FakeAnthropic([tool_use("submit_analysis", {"markdown": bad}),
                        tool_use("submit_analysis", {"markdown": good})]) as fake:
        out = _agent("analyst", fake, monkeypatch)(ws, 2)
    feedback = _last_tool_result(fake.requests[1])
    assert feedback["type"] == "tool_result" and feedback["is_error"] is True
    assert "987.65" in feedback["content"]
    assert out.call.impl == "claude" and "987.65" not in ws.analysis(2).read_text()


def test_unknown_numbers_twice_falls_back_to_rules(ws, monkeypatch):
    bad = _good_analysis(ws) + "\nSocial returns 987.65 per unit.\n"
    with FakeAnthropic([tool_use("submit_analysis", {"markdown": bad})] * 3) as fake:
        out = _agent("analyst", fake, monkeypatch)(ws, 2)
    assert len(fake.requests) == 2  # one retry with the list, then the rules
    written = ws.analysis(2).read_text()
    assert "987.65" not in written and "rule-based Analyst" in written
    assert out.call.impl == "fallback" and "987.65" in out.call.note and out.call.input_tokens == 2400


def test_text_only_reply_is_asked_for_the_tool(ws, monkeypatch):
    with FakeAnthropic([text_only("Here is my analysis: all good."),
                        tool_use("submit_analysis", {"markdown": _good_analysis(ws)})]) as fake:
        out = _agent("analyst", fake, monkeypatch)(ws, 2)
    assert out.call.impl == "claude" and out.call.calls == 2
    second = fake.requests[1]["messages"]
    assert second[1] == {"role": "assistant", "content": [{"type": "text", "text": "Here is my analysis: all good."}]}
    assert "submit_analysis" in second[2]["content"]


def test_invalid_tool_input_is_rejected_with_the_schema_error(ws, monkeypatch):
    with FakeAnthropic([tool_use("submit_analysis", {"text": "wrong key"}),
                        tool_use("submit_analysis", {"markdown": _good_analysis(ws)})]) as fake:
        out = _agent("analyst", fake, monkeypatch)(ws, 2)
    assert "markdown" in _last_tool_result(fake.requests[1])["content"]
    assert out.status == "ANALYSIS_DONE"


def test_over_long_analysis_is_rejected_before_writing(ws, monkeypatch):
    long = _good_analysis(ws) + "\n" + "word " * 500
    with FakeAnthropic([tool_use("submit_analysis", {"markdown": long})] * 3) as fake:
        out = _agent("analyst", fake, monkeypatch)(ws, 2)
    assert "under 400" in _last_tool_result(fake.requests[1])["content"]
    assert out.call.impl == "fallback" and "word word" not in ws.analysis(2).read_text()


def _review_input(ws: Workspace, passed_override: dict[str, bool] | None = None, verdict: str = "APPROVED",
                  reason: str = "") -> dict:
    checks = compute_checks(ws, 2, ws.analysis(2).read_text())
    over = passed_override or {}
    return {"checks": [{"name": c.name, "passed": over.get(c.name, c.passed), "note": "looked at it"}
                       for c in checks], "verdict": verdict, "reason": reason}


def test_critic_cannot_pass_a_failed_check(ws, monkeypatch):
    analyst.run(ws, 2)
    checks = compute_checks(ws, 2, ws.analysis(2).read_text())
    failed = [c.name for c in checks if not c.passed]
    assert failed == ["model health"]  # the fixture's Bayesian diagnostics fail the gates
    with FakeAnthropic([tool_use("submit_review", _review_input(ws, {"model health": True})),
                        tool_use("submit_review", _review_input(ws)),
                        tool_use("submit_review", _review_input(ws, verdict="REVISE", reason="name the model"))]) as fake:
        out = _agent("critic", fake, monkeypatch)(ws, 2)
    assert "cannot pass" in _last_tool_result(fake.requests[1])["content"]
    assert "verdict is REVISE: model health" in _last_tool_result(fake.requests[2])["content"]  # never a plain pass
    assert '"model health"' in fake.requests[0]["messages"][0]["content"]  # computed checks shown
    review = ws.review(2).read_text()
    assert "| model health | FAIL |" in review and "reviewer: looked at it" in review
    assert parse_verdict(review) == out.status and out.status.startswith("REVISE: model health")


def test_critic_revise_needs_reason_and_first_review_of_unhandled_failure_is_revise(ws, monkeypatch):
    (ws.analysis(2)).write_text("# Analysis\n\nSearch returns a lot.\n")  # acknowledges nothing
    with FakeAnthropic([tool_use("submit_review", _review_input(ws, verdict="APPROVED")),
                        tool_use("submit_review", _review_input(ws, verdict="REVISE",
                                                                reason="state the diagnostics"))]) as fake:
        out = _agent("critic", fake, monkeypatch)(ws, 2)
    assert "verdict is REVISE" in _last_tool_result(fake.requests[1])["content"]
    assert out.status.startswith("REVISE: sample size") and "model health" in out.status
    assert out.status.endswith("; state the diagnostics")  # Claude's reason added to the computed ones
    assert parse_verdict(ws.review(2).read_text()) == out.status


def test_reporter_output_must_keep_the_reporting_rules(ws, monkeypatch):
    from prism.agents import reporter

    facts = RoundFacts.load(ws, 2)
    good = reporter.compose(facts, [], [])
    best = facts.ranked[0]
    jargon = good.replace("## The answer\n", "## The answer\n\nThe ridge regression says so.\n", 1)
    no_heading = good.replace(reporter.HEADINGS["actions"], "## Next steps")
    with FakeAnthropic([tool_use("submit_report", {"markdown": jargon}),
                        tool_use("submit_report", {"markdown": no_heading}),
                        tool_use("submit_report", {"markdown": good})]) as fake:
        out = _agent("reporter", fake, monkeypatch)(ws, 2)
    assert "jargon outside the appendix: 'ridge'" in _last_tool_result(fake.requests[1])["content"]
    assert "heading missing: ## What to do" in _last_tool_result(fake.requests[2])["content"]
    assert out.status == "REPORT_DONE" and ws.report_md.read_text() == good
    assert fmt(best.roi) in ws.report_md.read_text()
    assert "rounds/R02_results.json" in fake.requests[0]["messages"][0]["content"]


def test_proofreader_edits_are_reverified(ws, monkeypatch):
    facts = RoundFacts.load(ws, 2)
    best = facts.ranked[0]
    report = f"# Report\n\n{best.label} returns {fmt(best.roi + 0.5)} per unit.\n"
    ws.report_md.write_text(report)
    wrong = {"find": fmt(best.roi + 0.5), "replace": "123.45", "reason": "typo"}
    missing = {"find": "not in the report", "replace": "x", "reason": "?"}
    right = {"find": fmt(best.roi + 0.5), "replace": fmt(best.roi), "reason": "ROI in the results"}
    with FakeAnthropic([tool_use("submit_corrections", {"edits": [wrong]}),
                        tool_use("submit_corrections", {"edits": [missing]}),
                        tool_use("submit_corrections", {"edits": [right], "notes": "one fix"})]) as fake:
        out = _agent("proofreader", fake, monkeypatch)(ws, 2)
    assert "123.45" in _last_tool_result(fake.requests[1])["content"]
    assert "not found" in _last_tool_result(fake.requests[2])["content"]
    shown = fake.requests[0]["messages"][0]["content"]
    assert f"match no result (Prism's check)\n```\n{fmt(best.roi + 0.5)}" in shown  # Prism's own check
    assert out.status == "PROOFREAD_CORRECTED"
    assert ws.report_md.read_text() == f"# Report\n\n{best.label} returns {fmt(best.roi)} per unit.\n"
    proof = ws.proofread(2).read_text()
    assert f"{fmt(best.roi + 0.5)} → {fmt(best.roi)}" in proof and proof.rstrip().endswith("PROOFREAD_CORRECTED")


def test_explorer_readiness_must_match_rubric(ws, monkeypatch):
    from prism.llm.tools import computed_exploration

    computed, score = computed_exploration(ws)
    wrong = {"markdown": "The data look fine.", "readiness": 1 if score != 1 else 2, "actions": []}
    right = {"markdown": "Search and social carry most of the spend.", "readiness": score,
             "actions": ["check the flagged weeks"]}
    with FakeAnthropic([tool_use("submit_exploration", wrong), tool_use("submit_exploration", right)]) as fake:
        out = _agent("explorer", fake, monkeypatch)(ws, 1)
    assert f"computed rubric score {score}" in _last_tool_result(fake.requests[1])["content"]
    text = ws.exploration().read_text()
    assert text.startswith(computed.rstrip()) and "## Interpretation" in text and "- check the flagged weeks" in text
    assert out.status == "EXPLORATION_DONE" and out.extra["readiness"] == score


def test_overloaded_api_falls_back_and_key_never_written(ws, monkeypatch):
    with FakeAnthropic([overloaded("0")] * 40) as fake:
        out = _agent("analyst", fake, monkeypatch)(ws, 2)
    assert len(fake.requests) == 4  # the client's attempts, then the rules
    assert out.call.impl == "fallback" and "529" in out.call.note and out.call.input_tokens == 0
    assert "rule-based Analyst" in ws.analysis(2).read_text()
    for path in ws.root.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="ignore"), path


def test_missing_key_is_exit_2_input_error(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(InputError, match="ANTHROPIC_API_KEY"):
        claude_agent("analyst")


def test_every_agent_has_a_tool_and_a_prompt():
    from prism.agents.base import AGENT_NAMES

    assert sorted(TOOLS) == sorted(AGENT_NAMES)
    for name in AGENT_NAMES:
        spec = TOOLS[name].spec()
        assert spec["input_schema"]["type"] == "object" and "$defs" not in str(spec)
        assert claude_agents.system_prompt(name).startswith(f"# {name.capitalize()}")


def test_tuner_change_is_validated_then_applied(ws, monkeypatch):
    import json

    from prism.workspace import load_state, save_state

    state = load_state(ws)
    state.reverted_changes = ["adstock.max_lag=4"]
    save_state(ws, state)
    lag = json.loads(ws.config.read_text())["adstock"]["max_lag"]
    steps = [
        ({"decision": "change", "key": "data.kpi", "value": "orders", "rule": "r", "evidence": "e"}, "not tunable"),
        ({"decision": "change", "key": "adstock.decay", "value": 2.0, "rule": "r", "evidence": "e"}, "out of bounds"),
        ({"decision": "change", "key": "adstock.max_lag", "value": 4, "rule": "r", "evidence": "e"}, "reverted"),
    ]
    good = {"decision": "change", "key": "adstock.max_lag", "value": lag + 4, "rule": "longer memory",
            "evidence": f"max lag {lag} may cut carry-over short"}
    with FakeAnthropic([tool_use("propose_config_change", s) for s, _ in steps]
                       + [tool_use("propose_config_change", good)]) as fake:
        monkeypatch.setattr(claude_agents, "MAX_TURNS", 4)  # three rejections, then the valid one
        out = _agent("tuner", fake, monkeypatch)(ws, 3)
    for request, (_, why) in zip(fake.requests[1:], steps):
        assert why in _last_tool_result(request)["content"]
    assert "candidate changes" in fake.requests[0]["messages"][0]["content"]
    assert out.status == "CONFIG_UPDATED" and out.extra["change_key"] == f"adstock.max_lag={lag + 4}"
    assert json.loads(ws.config.read_text())["adstock"]["max_lag"] == lag + 4
    assert f"+ adstock.max_lag: {lag + 4}" in ws.tuning(3).read_text()


def test_tuner_no_change_writes_the_note(ws, monkeypatch):
    before = ws.config.read_text()
    answer = {"decision": "no_change", "rule": "objective stopped improving", "evidence": "nothing left to try"}
    with FakeAnthropic([tool_use("propose_config_change", answer)]) as fake:
        out = _agent("tuner", fake, monkeypatch)(ws, 3)
    assert out.status == "NO_CHANGE" and ws.config.read_text() == before
    assert ws.tuning(3).read_text().rstrip().endswith("NO_CHANGE")


def test_spent_loop_budget_sends_later_agents_to_the_rules(ws, monkeypatch):
    from prism.llm.client import TokenBudget

    budget = TokenBudget(limit=1000)
    with FakeAnthropic([tool_use("submit_analysis", {"markdown": _good_analysis(ws)})]) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        first = claude_agent("analyst", budget=budget)(ws, 2)
        second = claude_agent("critic", budget=budget)(ws, 2)
    assert first.call.impl == "claude" and budget.used == 1500
    assert len(fake.requests) == 1 and second.call.impl == "fallback" and "budget" in second.call.note
    assert parse_verdict(ws.review(2).read_text()) == second.status


def test_workspace_prompt_file_wins_over_the_packaged_one(ws, monkeypatch):
    (ws.root / "agents").mkdir()
    (ws.root / "agents" / "analyst.md").write_text("---\nname: analyst\ndescription: d\ntools: Read\n---\n"
                                                   "# Analyst\n\nHouse rules: name the brand.\n")
    with FakeAnthropic([tool_use("submit_analysis", {"markdown": _good_analysis(ws)})]) as fake:
        _agent("analyst", fake, monkeypatch)(ws, 2)
    assert fake.requests[0]["system"] == "# Analyst\n\nHouse rules: name the brand.\n"


def test_critic_may_doubt_a_passed_check_but_the_table_stays_computed(ws, monkeypatch):
    from prism.orchestration.guards import check_review
    from prism.workspace import load_state, save_state

    analyst.run(ws, 2)
    answer = _review_input(ws, {"sign correctness": False}, verdict="REVISE", reason="explain the search ROI")
    answer["checks"] = [{**c, "note": "search looks too good"} if c["name"] == "sign correctness" else c
                        for c in answer["checks"]]
    with FakeAnthropic([tool_use("submit_review", answer)]) as fake:
        out = _agent("critic", fake, monkeypatch)(ws, 2)
    review = ws.review(2).read_text()
    assert "| sign correctness | PASS |" in review and "reviewer would fail it: search looks too good" in review
    assert out.status.startswith("REVISE: model health") and out.status.endswith("; explain the search ROI")
    state = load_state(ws)
    state.round = 2
    save_state(ws, state)
    assert check_review(ws) == []  # the deterministic guard accepts Claude's review


def test_a_true_figure_quoted_for_another_channel_is_sent_back(ws, monkeypatch):
    """Claude's analysis and report go through the claim guard, as the session's do: another channel's ROI,
    though a value of the round, is not this channel's (the old check took any value of the round)."""
    facts = RoundFacts.load(ws, 2)
    roi = {q.channel: q for q in claims.book(ws, facts).values if q.key == f"{q.channel}.roi"}
    a, b = [ch for ch in facts.channels if ch in roi][:2]
    assert abs(roi[a].value - roi[b].value) > 0.05  # the two figures are told apart
    good = _good_analysis(ws)
    bad = good + f"\n{facts.label(a)} returns {roi[b].shown} per unit of spend.\n"
    with FakeAnthropic([tool_use("submit_analysis", {"markdown": bad}),
                        tool_use("submit_analysis", {"markdown": good})]) as fake:
        out = _agent("analyst", fake, monkeypatch)(ws, 2)
    feedback = _last_tool_result(fake.requests[1])
    assert feedback["is_error"] is True and "not their subject's value" in feedback["content"]
    assert facts.label(a) in feedback["content"]
    assert out.call.impl == "claude" and ws.analysis(2).read_text() == good.strip() + "\n"
