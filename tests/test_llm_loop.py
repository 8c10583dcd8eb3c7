"""`prism loop --agents claude` end to end on the bundled data, through the real CLI and `anthropic` client
against the scripted Messages API: a 2-round run with every artifact, and a run where every call is 529."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources

import pytest

from prism.agents import analyst, reporter
from prism.analysis.facts import RoundFacts
from prism.orchestration.guards import check_report, check_review
from prism.workspace import Workspace, load_state
from tests.helpers.fake_anthropic import FakeAnthropic, overloaded, tool_use

KEY = "sk-ant-loop-SECRET-7"
DATA = "conjura_apparel_brand_weekly.csv"
SCRIPTED = "_Drafted by the scripted test model._"
AGENT_STAGES = {"explore": "explorer", "tune": "tuner", "analyze": "analyst", "critique": "critic",
                "report": "reporter", "proofread": "proofreader"}


def _prism(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "prism", *args, "--workdir", str(ws.root)], capture_output=True,
                          text=True, env=full, timeout=600, cwd=ws.root)


@pytest.fixture(scope="module")
def discovered(tmp_path_factory) -> Workspace:
    """The bundled brand, discovered, with ridge only, four of its channels and small search/bootstrap budgets
    (fast rounds)."""
    ws = Workspace(tmp_path_factory.mktemp("claude_loop") / "base")
    ws.root.mkdir()
    with resources.as_file(resources.files("prism").joinpath("sample_data", DATA)) as src:
        shutil.copyfile(src, ws.root / DATA)
    run = _prism(ws, "discover", "--path", DATA, "--kpi", "revenue")
    assert run.returncode == 0, run.stderr
    cfg = json.loads(ws.config.read_text())
    cfg["models"] = ["ridge"]
    cfg["ridge"].update({"bootstrap": 20, "search_budget": 8})
    cfg["data"]["channels"] = cfg["data"]["channels"][:4]  # the audit and test plans refit ridge per channel
    ws.config.write_text(json.dumps(cfg, indent=2))
    return ws


@pytest.fixture
def ws(discovered, copy_ws) -> Workspace:
    return copy_ws(discovered)


def _first_message(request: dict) -> str:
    return request["messages"][0]["content"]


def scripted_claude(ws: Workspace):
    """A model that answers every agent's tool with a valid input built from what it was shown."""

    def answer(request: dict) -> dict:
        tool = request["tools"][0]["name"]
        shown = _first_message(request)
        n = int(re.search(r"Round (\d+) of the Prism loop", shown).group(1))
        revision = "(revision after the review)" in shown
        if tool == "submit_exploration":
            score = int(re.search(r"Readiness score: (\d)/5", shown).group(1))
            return tool_use(tool, {"markdown": "Spend sits in a few channels. " + SCRIPTED, "readiness": score,
                                   "actions": ["confirm the flagged weeks with the brand team"]})
        if tool == "propose_config_change":
            first = re.search(r"^- (\S+) = (.+?) \(now ", shown, re.M)
            if first is None:
                return tool_use(tool, {"decision": "no_change", "rule": "nothing left", "evidence": "no candidate"})
            return tool_use(tool, {"decision": "change", "key": first.group(1), "value": json.loads(first.group(2)),
                                   "rule": "the first candidate", "evidence": "it heads Prism's rule order"})
        facts = RoundFacts.load(ws, n)
        if tool == "submit_analysis":
            return tool_use(tool, {"markdown": analyst.compose(facts) + "\n" + SCRIPTED + "\n"})
        if tool == "submit_review":
            checks = json.loads(re.search(r"## computed checks[^\n]*\n```json\n(.*?)\n```", shown, re.S).group(1))
            unhandled = re.search(r"does not handle\n```\n(.*?)\n```", shown, re.S).group(1)
            verdict = "REVISE" if unhandled != "(none)" and not revision else "APPROVED"
            return tool_use(tool, {"checks": [{"name": c["name"], "passed": c["passed"], "note": "seen"}
                                              for c in checks], "verdict": verdict, "reason": ""})
        if tool == "submit_report":
            return tool_use(tool, {"markdown": reporter.compose(facts, [], []) + "\n" + SCRIPTED + "\n"})
        return tool_use(tool, {"edits": [], "notes": "every number matched"})

    return answer


def _claude_env(fake: FakeAnthropic) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": fake.url, "PRISM_CLAUDE_MODEL": "claude-sonnet-5-5"}


def _assert_key_nowhere(ws: Workspace, *texts: str) -> None:
    for text in texts:
        assert KEY not in text
    for path in ws.root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


@dataclass
class LoopRun:
    ws: Workspace
    fake: FakeAnthropic
    stdout: str
    stderr: str
    returncode: int


@pytest.fixture(scope="module")
def loops(discovered, tmp_path_factory) -> dict[str, LoopRun]:
    """Two 2-round `prism loop --agents claude` runs side by side (they share nothing but the CPU): one
    against the scripted model, one where every call is 529 overloaded."""
    runs = {}
    for name in ("scripted", "overloaded"):
        ws = Workspace(tmp_path_factory.mktemp(name) / "w")
        shutil.copytree(discovered.root, ws.root)
        answer = scripted_claude(ws) if name == "scripted" else (lambda request: overloaded("0"))
        fake = FakeAnthropic(fallback=answer).__enter__()
        render = ["--render"] if name == "scripted" else ["--no-render"]  # decks once are enough
        proc = subprocess.Popen([sys.executable, "-m", "prism", "loop", "--rounds", "2", "--agents", "claude",
                                 "--quick", *render, "--workdir", str(ws.root)], cwd=ws.root, text=True,
                                env={**os.environ, **_claude_env(fake)}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        runs[name] = (ws, fake, proc)
    out = {}
    for name, (ws, fake, proc) in runs.items():
        stdout, stderr = proc.communicate(timeout=600)
        fake.__exit__(None, None, None)
        out[name] = LoopRun(ws, fake, stdout, stderr, proc.returncode)
    return out


@pytest.mark.slow
def test_two_rounds_with_claude_agents(loops):
    run = loops["scripted"]
    ws, fake = run.ws, run.fake
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    tools = fake.tool_names()
    assert tools[0] == "submit_exploration" and "propose_config_change" in tools
    assert {"submit_analysis", "submit_review", "submit_report", "submit_corrections"} <= set(tools)
    assert all(r["model"] == "claude-sonnet-5-5" for r in fake.requests)
    for n in (1, 2):
        for path in (ws.round_results(n), ws.analysis(n), ws.review(n), ws.proofread(n)):
            assert path.exists(), path
        assert SCRIPTED in ws.analysis(n).read_text()
    assert "## Interpretation" in ws.exploration().read_text() and ws.tuning(2).exists()
    assert SCRIPTED in ws.report_md.read_text()
    for name in ("latest.json", "roi_comparison.csv", "contribution_comparison.csv", "model_fit.csv",
                 "report.pptx", "report.html"):
        assert ws.result(name).exists(), name
    state = load_state(ws)
    assert [r.round for r in state.rounds] == [1, 2] and state.stage == "done"
    calls = [c for r in state.rounds for c in r.agents]
    assert calls and all(c.impl == "claude" for c in calls)
    assert all(c.input_tokens > 0 and c.cost_usd > 0 for c in calls)
    assert check_review(ws) == [] and check_report(ws) == []  # Claude's files pass the deterministic guards
    status = _prism(ws, "status")
    assert status.returncode == 0 and "claude" in status.stdout and "cost" in status.stdout
    _assert_key_nowhere(ws, run.stdout, run.stderr, status.stdout)


@pytest.mark.slow
def test_every_call_overloaded_completes_on_rule_based_fallbacks(loops):
    run = loops["overloaded"]
    ws = run.ws
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    state = load_state(ws)
    calls = [c for r in state.rounds for c in r.agents]
    assert calls and all(c.impl == "fallback" and "529" in c.note for c in calls)
    stages = {c.agent for c in calls}
    assert {"explorer", "tuner", "analyst", "critic", "reporter", "proofreader"} <= stages
    for path in (ws.exploration(), ws.tuning(2), ws.analysis(2), ws.review(2), ws.proofread(2), ws.report_md):
        assert "rule-based" in path.read_text() and "Claude gave no usable answer" in path.read_text(), path
    assert len(run.fake.requests) == 4 * len(calls)  # every agent: the client's attempts, then the rules
    _assert_key_nowhere(ws, run.stdout, run.stderr)


def test_claude_agents_without_key_exit_2(ws):
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    run = subprocess.run([sys.executable, "-m", "prism", "explore", "--agents", "claude", "--workdir", str(ws.root)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 2 and "ANTHROPIC_API_KEY" in run.stderr and "Traceback" not in run.stderr
    assert not ws.exploration().exists()
    looped = subprocess.run([sys.executable, "-m", "prism", "loop", "--rounds", "1", "--agents", "claude",
                             "--workdir", str(ws.root)], capture_output=True, text=True, env=env, timeout=300)
    assert looped.returncode == 2 and "ANTHROPIC_API_KEY" in looped.stderr and not ws.exploration().exists()


def test_mixed_agents_follow_config(tmp_path):
    from tests.helpers.report import build_workspace

    fixture = build_workspace(tmp_path / "mixed", rounds=2)
    cfg = json.loads(fixture.config.read_text())
    cfg["agents"] = {"analyst": "claude"}
    fixture.config.write_text(json.dumps(cfg))
    text = analyst.compose(RoundFacts.load(fixture, 2)) + SCRIPTED + "\n"
    with FakeAnthropic([tool_use("submit_analysis", {"markdown": text})]) as fake:
        env = _claude_env(fake)
        analyzed = _prism(fixture, "analyze", "--agents", "mixed", "--model", "claude-haiku-4-5", env=env)
        critiqued = _prism(fixture, "critique", "--agents", "mixed", env=env)
    assert analyzed.returncode == 0 and critiqued.returncode == 0, analyzed.stderr + critiqued.stderr
    assert fake.tool_names() == ["submit_analysis"]  # the Critic stayed rule-based
    assert fake.requests[0]["model"] == "claude-haiku-4-5"  # --model beats PRISM_CLAUDE_MODEL
    assert SCRIPTED in fixture.analysis(2).read_text()
    impls = {c.agent: c.impl for r in load_state(fixture).rounds for c in r.agents}
    assert impls["analyst"] == "claude" and impls["critic"] == "rules"
    writers = {c.agent: c.by for r in load_state(fixture).rounds for c in r.agents}
    assert writers["analyst"] == "claude-api" and writers["critic"] == "rules"
    call = next(c for r in load_state(fixture).rounds for c in r.agents if c.agent == "analyst")
    assert call.cost_usd == pytest.approx((1200 * 1 + 300 * 5) / 1e6)  # Haiku 4.5 list price


def _cli(*args: str) -> int:
    """One `prism` command in this process (no interpreter start-up per command)."""
    from prism.cli import main

    try:
        main(list(args))
    except SystemExit as done:
        return int(done.code or 0)
    return 0


@pytest.mark.slow
def test_program_md_session_protocol_runs_a_round(ws, monkeypatch):
    """The commands program.md gives a Claude Code session, in its order, with the real models and the agent
    files written the way the prompts say (here from the rule-based composers, standing in for Claude's prose)."""
    monkeypatch.chdir(ws.root)
    w = ["--workdir", str(ws.root)]
    assert _cli("next", *w) == 0
    assert _cli("loop", "--step", "--rounds", "1", *w) == 0 and load_state(ws).stage == "explore"  # discover
    ws.exploration().write_text(ws.exploration().read_text() + "\n## Interpretation\n\nSpend is steady.\n")
    assert _cli("explore", "--record-only", *w) == 0 and load_state(ws).stage == "analyze"  # models ran
    ws.analysis(1).write_text(analyst.compose(RoundFacts.load(ws, 1)) + "Search returns 98.76 per unit.\n")
    assert _cli("analyze", "--record-only", *w) == 1  # an invented number is caught, nothing recorded
    ws.analysis(1).write_text(analyst.compose(RoundFacts.load(ws, 1)))
    assert _cli("analyze", "--record-only", *w) == 0
    assert _cli("critique", "--record-only", *w) == 0
    if load_state(ws).stage == "revise":
        assert _cli("analyze", "--revision", "--record-only", *w) == 0
        assert _cli("critique", "--final", "--record-only", *w) == 0
    assert load_state(ws).stage == "report"
    ws.report_md.write_text(reporter.compose(RoundFacts.load(ws, 1), [], []))
    assert _cli("report", "--record-only", *w) == 0
    assert _cli("proofread", "--record-only", *w) == 0
    state = load_state(ws)
    assert state.stage == "done" and [r.round for r in state.rounds] == [1] and state.stopped_reason
    assert {c.agent for c in state.rounds[0].agents} >= {"explorer", "analyst", "critic", "reporter", "proofreader"}
    assert {c.by for c in state.rounds[0].agents} == {"session"}


def test_tune_set_in_a_session_reverts_a_worse_change_first(tmp_path):
    """`prism tune --set` (the Claude session's Tuner) applies the same revert rule as the rule-based one."""
    from tests.helpers.loop import crafted_results, make_ws
    from prism.agents import tuner
    from prism.orchestration.loop import set_change
    from prism.schemas import RoundRecord, State
    from prism.workspace import save_state
    from prism.workspace import write_text

    ws, sim = make_ws(tmp_path, weeks=156, n_channels=4)
    crafted_results(ws, sim, round_no=1, objective=10.0)
    cfg1 = ws.config.read_text()
    write_text(ws.round_file(1, "config", "json"), cfg1)
    save_state(ws, State(round=2, stage="tune", rounds=[RoundRecord(round=1, objective=10.0)]))
    first = tuner.candidate_changes(ws, 2)[0]
    set_change(ws, first.key, json.dumps(first.new), "r", "e")
    write_text(ws.round_file(2, "config", "json"), ws.config.read_text())
    crafted_results(ws, sim, round_no=2, objective=14.0)  # worse than round 1
    state = load_state(ws)
    state.round, state.stage = 3, "tune"
    state.rounds[-1].objective = 14.0
    save_state(ws, state)
    second = next(c for c in tuner.candidate_changes(ws, 3) if c.key != first.key)
    set_change(ws, second.key, json.dumps(second.new), "r", "e")
    state = load_state(ws)
    assert first.ident in state.reverted_changes
    cfg = json.loads(ws.config.read_text())
    assert tuner.get_path(cfg, first.key) == tuner.get_path(json.loads(cfg1), first.key)  # round 2's change undone
    assert "Reverted:" in ws.tuning(3).read_text()
