"""`prism ask` / `prism chat`: routing of many phrasings, answers from the results and draws, unknown
channels and periods, the chat history, and Claude through the fake Messages API with the number check."""

from __future__ import annotations

import io
import json

import pytest

from prism.cli import main
from prism.llm import ask as A
from prism.llm import ask_session as S
from prism.llm import ask_router as R
from prism.llm.ask_claude import claude_answer
from prism.llm.client import ClaudeClient
from prism.planning.names import mentioned, resolve
from prism.errors import InputError
from prism.workspace import Workspace
from tests.helpers.fake_anthropic import FakeAnthropic, server_error, text_only, tool_use
from tests.helpers.planning import workspace_with_draws
from tests.helpers.report import build_workspace

CONJURA = ["google_search", "google_shopping", "google_pmax", "google_display", "google_video", "meta_facebook",
           "meta_instagram", "meta_other"]
TV, SEARCH, SOCIAL, DISPLAY = "tv_spend", "search_spend", "social_spend", "display_spend"

# (question, intent, channels named in order)
PHRASINGS = [
    ("What is the ROI of TV?", R.ROI, [TV]),
    ("ROI of TV vs Search?", R.ROI, [TV, SEARCH]),
    ("Compare social and display", R.ROI, [SOCIAL, DISPLAY]),
    ("Which channel has the best return?", R.ROI, []),
    ("What's our ROAS on search?", R.ROI, [SEARCH]),
    ("Which channel performs worst?", R.ROI, []),
    ("Is display worth it?", R.ROI, [DISPLAY]),
    ("How efficient is social spend?", R.ROI, [SOCIAL]),
    ("What is the marginal return of TV?", R.ROI, [TV]),
    ("Does tv pay back?", R.ROI, [TV]),
    ("Which channels are saturated?", R.SATURATION, []),
    ("Is search saturated?", R.SATURATION, [SEARCH]),
    ("Where are we hitting diminishing returns?", R.SATURATION, []),
    ("Is there headroom in display?", R.SATURATION, [DISPLAY]),
    ("Can we spend more on TV?", R.SATURATION, [TV]),
    ("What if we cut social by 20%?", R.SCENARIO, [SOCIAL]),
    ("What happens if we increase TV by 10 percent?", R.SCENARIO, [TV]),
    ("What if we double display?", R.SCENARIO, [DISPLAY]),
    ("if we cut tv by 15% and raise search by 10%, what happens to revenue?", R.SCENARIO, [TV, SEARCH]),
    ("What would happen if we pause social?", R.SCENARIO, [SOCIAL]),
    ("Impact of cutting display by 30%", R.SCENARIO, [DISPLAY]),
    ("What if we halve TV spend", R.SCENARIO, [TV]),
    ("What drove sales in Q4?", R.DRIVERS, []),
    ("What drove revenue in 2022?", R.DRIVERS, []),
    ("What were the drivers of sales in Q1 2022?", R.DRIVERS, []),
    ("Why did sales drop in March?", R.DRIVERS, []),
    ("What caused the spike in the last 8 weeks?", R.DRIVERS, []),
    ("How much did TV contribute?", R.CONTRIBUTION, [TV]),
    ("What share of revenue comes from search?", R.CONTRIBUTION, [SEARCH]),
    ("How much revenue came from display in 2022?", R.CONTRIBUTION, [DISPLAY]),
    ("What is the incremental revenue from social?", R.CONTRIBUTION, [SOCIAL]),
    ("Show me the contribution by channel", R.CONTRIBUTION, []),
    ("How should I split 500k next month?", R.BUDGET, []),
    ("How should we allocate the budget next quarter?", R.BUDGET, []),
    ("What is the optimal mix?", R.BUDGET, []),
    ("Where should we put an extra 50k?", R.BUDGET, []),
    ("Should we reallocate money from TV to search?", R.BUDGET, [TV, SEARCH]),
    ("Can I trust the TV number?", R.TRUST, [TV]),
    ("How reliable is the search ROI?", R.TRUST, [SEARCH]),
    ("How confident are we in display?", R.TRUST, [DISPLAY]),
    ("Should we test social?", R.TRUST, [SOCIAL]),
    ("How sure are you about TV?", R.TRUST, [TV]),
    ("Give me an executive summary", R.SUMMARY, []),
    ("Summarize the results", R.SUMMARY, []),
    ("What should we do?", R.SUMMARY, []),
    ("What are the key findings?", R.SUMMARY, []),
    ("tl;dr?", R.SUMMARY, []),
    ("Hello there", R.HELP, []),
]


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("ask"), rounds=1)


@pytest.fixture
def ws(base_ws, tmp_path, monkeypatch) -> Workspace:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return workspace_with_draws(base_ws, tmp_path / "w", monkeypatch)


@pytest.fixture
def ctx(ws) -> A.AskContext:
    return A.AskContext(ws)


def test_at_least_forty_phrasings_route_to_their_intent_and_channels(ctx):
    assert len(PHRASINGS) >= 40
    wrong = [(text, q.intent, q.channels) for text, intent, chans in PHRASINGS
             if ((q := _route(ctx, text)).intent, q.channels) != (intent, chans)]
    assert not wrong


def test_fuzzy_names_against_columns_and_labels():
    labels = {"meta_facebook": "Facebook Ads", "google_pmax": "Performance Max"}
    assert resolve("facebook", CONJURA) == "meta_facebook"
    assert resolve("Facebok", CONJURA) == "meta_facebook"
    assert resolve("performance max", CONJURA, labels) == "google_pmax"
    assert resolve("search", CONJURA) == "google_search"
    assert mentioned("what if we cut Facebook and Instagram by 20%", CONJURA) == ["meta_facebook", "meta_instagram"]
    assert mentioned("ROI of google", CONJURA) == []  # several Google channels: none is named
    with pytest.raises(InputError, match="could mean"):
        resolve("google", CONJURA)


def _route(ctx: A.AskContext, text: str) -> R.Question:
    return R.route(text, ctx.channels, ctx.labels, ctx.dates)


def test_scenario_parameters_and_budget_amounts(ctx):
    q = _route(ctx, "if we cut tv by 15% and raise search by 10%, what happens?")
    assert q.changes == {TV: -15.0, SEARCH: 10.0}
    assert _route(ctx, "What if we double display?").changes == {DISPLAY: 100.0}
    q = _route(ctx, "How should I split 500k next month?")
    assert (q.amount, q.weeks) == (500_000.0, 4)
    q = _route(ctx, "How should we allocate $40,000 a week over the next 8 weeks?")
    assert (q.amount, q.weeks) == (320_000.0, 8)


def test_scenario_answer_matches_the_planner(ctx):
    q, ans = A.respond(ctx, "What if we cut social by 20%?")
    planner = ctx.planner(13)
    mean, low, high = planner.outcome(planner.moves(["social_spend=-20%"])).summary
    assert ans.facts["kpi_change"] == pytest.approx(mean) and mean < 0 and low < mean < high
    assert A.money(mean) in ans.text and "carry-over" in ans.text


def test_budget_answer_spends_the_amount(ctx):
    ans = A.respond(ctx, "How should I split 200k next month?")[1]
    rows = ans.facts["plan"]
    assert sum(r["recommended"] for r in rows if r["channel"] != "total") == pytest.approx(200_000, rel=1e-3)


def test_drivers_compare_the_period_with_the_rest(ctx):
    ans = A.respond(ctx, "What drove sales in Q1 2022?")[1]
    w = ctx.weekly
    inside = (w.index >= "2022-01-01") & (w.index <= "2022-03-31")
    assert ans.facts["kpi_week_in"] == pytest.approx(w.loc[inside, "actual"].mean())
    assert ans.facts["difference"]["baseline"] == pytest.approx(w.loc[inside, "baseline"].mean()
                                                                 - w.loc[~inside, "baseline"].mean())


@pytest.mark.parametrize("question, expected", [
    ("Can I trust the TikTok number?", "No channel matches 'TikTok'"),
    ("What is the ROI of TikTok?", "No channel matches 'TikTok'"),
    ("What drove sales in Q4 2015?", "no weeks in Q4 2015"),
    ("What if we cut radio by 20%?", "No channel matches 'radio'"),
])
def test_unknown_channel_or_period_lists_the_valid_ones(ctx, question, expected):
    text = A.respond(ctx, question)[1].text
    assert expected in text
    assert "tv_spend" in text or "2021-01-04" in text


def test_cli_ask_json_and_unknown_channel_exit_zero(ws, capsys):
    with pytest.raises(SystemExit) as done:
        main(["ask", "Can I trust the TikTok number?", "--workdir", str(ws.root), "--json"])
    assert done.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["intent"] == R.TRUST and "No channel matches 'TikTok'" in out["text"]


def test_chat_keeps_history_and_follow_ups(ws):
    chat = S.Chat(ws)
    first = chat.ask("What if we cut social by 20%?")
    second = chat.ask("and display?")
    assert second.intent == R.SCENARIO and second.facts["changes_pct"] == {DISPLAY: -20.0}
    again = S.Chat(ws)  # a new session reads the history back
    assert [h["question"] for h in again.history] == ["What if we cut social by 20%?", "and display?"]
    assert again.history[0]["answer"] == first.text


# ------------------------------------------------------------------------------------------ Claude
KEY = "sk-ant-ask-SECRET-7"


def _client(fake, monkeypatch) -> ClaudeClient:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    return ClaudeClient(backoff_base_s=0.01, max_attempts=2)


def test_claude_routes_through_the_tool_and_its_numbers_are_checked(ctx, monkeypatch):
    rules = A.respond(ctx, "What if we cut social by 20%?")[1]
    good = f"Cutting social by 20% would cost about {A.money(rules.facts['kpi_change'])} of revenue."
    script = [tool_use("query_prism", {"intent": "scenario", "changes_pct": {"social": -20}}),
              text_only("It would cost 987.65 of revenue."), text_only(good)]
    with FakeAnthropic(script) as fake:
        ans = claude_answer(ctx, "what happens if social loses a fifth of its budget", _client(fake, monkeypatch))
    assert ans.phrased_by == "claude" and ans.text == good and ans.intent == R.SCENARIO
    assert ans.facts["kpi_change"] == pytest.approx(rules.facts["kpi_change"])
    tool_result = fake.requests[1]["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and json.loads(tool_result["content"])["intent"] == R.SCENARIO
    assert "987.65" in fake.requests[2]["messages"][-1]["content"]  # the unknown number was sent back


def test_claude_that_keeps_inventing_numbers_falls_back_to_the_rules(ctx, monkeypatch):
    script = [tool_use("query_prism", {"intent": "roi", "channels": ["TV"]})] + [text_only("ROI is 42.42.")] * 4
    with FakeAnthropic(script) as fake:
        ans = claude_answer(ctx, "roi of tv?", _client(fake, monkeypatch))
    assert ans.phrased_by == "rules" and ans.text == A.respond(ctx, "roi of tv?")[1].text


def test_claude_api_failure_falls_back_to_the_rules(ctx, monkeypatch):
    with FakeAnthropic([server_error(), server_error()]) as fake:
        ans = claude_answer(ctx, "Which channels are saturated?", _client(fake, monkeypatch))
    assert ans.phrased_by == "rules" and ans.intent == R.SATURATION and "HTTP 500" in ans.facts["claude"]
    assert KEY not in ans.facts["claude"]


def test_chat_with_claude_sends_the_session_so_far_and_keeps_the_history(ws, monkeypatch):
    ctx = A.AskContext(ws)
    social = A.respond(ctx, "What if we cut social by 20%?")[1]
    display = A.respond(ctx, "What if we cut display by 20%?")[1]
    first = f"Cutting social by 20% would cost about {A.money(social.facts['kpi_change'])} of revenue."
    second = f"Display would cost about {A.money(display.facts['kpi_change'])}."
    script = [tool_use("query_prism", {"intent": "scenario", "changes_pct": {"social": -20}}), text_only(first),
              tool_use("query_prism", {"intent": "scenario", "changes_pct": {"display": -20}}), text_only(second)]
    with FakeAnthropic(script) as fake:
        _client(fake, monkeypatch)  # the key and the fake's URL in the environment, as a user's shell has them
        chat = S.Chat(ws)
        assert chat.ask("What if we cut social by 20%?").text == first
        assert chat.ask("and display?").text == second
    follow_up = fake.requests[2]["messages"][0]["content"]
    assert follow_up.startswith(f"Earlier in this chat:\nQ: What if we cut social by 20%?\nA: {first}\n")
    assert "Question: and display?" in follow_up
    saved = S.Chat(ws).history
    assert [(h["question"], h["phrased_by"]) for h in saved] == [("What if we cut social by 20%?", "claude"),
                                                                  ("and display?", "claude")]


@pytest.mark.parametrize("question, expected", [("What drove sales in Q4 2015?", "no weeks in Q4 2015"),
                                                ("ROI of radio?", "No channel matches 'radio'")])
def test_cli_ask_unknown_period_or_channel_exits_zero_with_the_valid_ones(ws, capsys, question, expected):
    with pytest.raises(SystemExit) as done:
        main(["ask", question, "--workdir", str(ws.root)])
    out = capsys.readouterr().out
    assert done.value.code == 0 and expected in " ".join(out.split())


def test_cli_ask_with_a_key_is_phrased_by_claude_through_the_tool(ws, capsys, monkeypatch):
    rules = A.respond(A.AskContext(ws), "Which channels are saturated?")[1]
    reply = rules.text.split(". ")[0] + "."  # the rules' first sentence: its numbers are the tool's
    with FakeAnthropic([tool_use("query_prism", {"intent": "saturation"}), text_only(reply)]) as fake:
        _client(fake, monkeypatch)
        with pytest.raises(SystemExit) as done:
            main(["ask", "Which channels are saturated?", "--workdir", str(ws.root), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert done.value.code == 0 and out["phrased_by"] == "claude" and out["text"] == reply
    assert fake.requests[0]["tools"][0]["name"] == "query_prism"


def test_cli_chat_answers_until_an_empty_line_and_keeps_the_history(ws, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("Which channels are saturated?\nand display?\n\n"))
    with pytest.raises(SystemExit) as done:
        main(["chat", "--workdir", str(ws.root)])
    assert done.value.code == 0
    history = json.loads(ws.chat_history.read_text())
    assert [h["question"] for h in history] == ["Which channels are saturated?", "and display?"]
    assert history[1]["intent"] == R.SATURATION  # the follow-up kept the previous question's intent
    assert " ".join(history[0]["answer"].split()[:4]) in " ".join(capsys.readouterr().out.split())


def test_numbered_channels_are_not_misspellings_of_each_other():
    """"cut Channel0 by 20%" names Channel0 alone: a digit is never a typo (it matched Channel0–3)."""
    chans = ["Channel0", "Channel1", "Channel2", "Channel3"]
    q = R.route("what if we cut Channel0 by 20%", chans, {})
    assert q.channels == ["Channel0"] and q.changes == {"Channel0": -20.0}
    assert R.route("what if we cut facebok by 10%", ["meta_facebook", "tv"], {}).changes == {"meta_facebook": -10.0}
