"""program.md and agents/*.md: one source of truth, commands that exist, files the stages write, front
matter Claude Code accepts, and the same thresholds as the rule-based agents' code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from prism.agents import analyst, explorer, proofreader, reporter, tuner
from prism.analysis import anomalies
from prism.analysis import checks, facts
from prism.schemas import CONVERGENCE
from prism.agents.base import AGENT_NAMES
from prism.cli import app
from prism.cli.claude_cmds import PROMPT_TARGETS, init_workspace, prompt_files
from prism.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "prism" / "templates"
CLAUDE_CODE_TOOLS = {"Read", "Write", "Edit", "Bash", "Glob", "Grep"}
RETURNS = {"explorer": ["EXPLORATION_DONE"], "tuner": ["CONFIG_UPDATED", "NO_CHANGE"],
           "analyst": ["ANALYSIS_DONE"], "critic": ["APPROVED", "REVISE: <reason>"], "reporter": ["REPORT_DONE"],
           "proofreader": ["PROOFREAD_CLEAN", "PROOFREAD_CORRECTED"]}
PROMPT_FILES = ("program.md", "agents/<name>.md", ".claude/agents/<name>.md")


def _prompts() -> dict[str, str]:
    out = {"program.md": (TEMPLATES / "program.md").read_text()}
    out.update({f"agents/{n}.md": (TEMPLATES / "agents" / f"{n}.md").read_text() for n in AGENT_NAMES})
    return out


def test_repo_copies_are_the_packaged_templates():
    for rel, text in _prompts().items():
        assert (REPO / rel).read_text() == text, f"{rel} drifted from prism/templates/{rel}: copy it over"


def test_pyproject_ships_the_templates():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"templates/*.md"' in pyproject and '"templates/agents/*.md"' in pyproject


def _commands() -> dict:
    group = typer.main.get_command(app)
    return dict(group.commands)


def _invocations(text: str) -> list[str]:
    """Every `prism ...` command named in backticks (table cells and prose alike)."""
    return [m.group(1) for m in re.finditer(r"`(prism [^`]+)`", text)]


def test_every_named_command_exists_with_its_options():
    commands = _commands()
    seen = set()
    for rel, text in _prompts().items():
        for call in _invocations(text):
            words = call.split()
            name = words[1]
            assert name in commands, f"{rel}: `{call}` names no prism command"
            opts = {o for p in commands[name].params for o in (*p.opts, *p.secondary_opts)}
            for flag in (w.split("=")[0] for w in words[2:] if w.startswith("--")):
                assert flag in opts, f"{rel}: `{call}` uses {flag}, which `prism {name}` does not have"
            seen.add(name)
    assert {"status", "loop", "explore", "tune", "analyze", "critique", "report", "proofread", "discover",
            "check-numbers"} <= seen


def _workspace_files() -> set[str]:
    """Every file the stages write, with the round as R{NN} (the documented workspace table)."""
    ws = Workspace("/w")
    n = 7
    paths = [ws.config, ws.metadata, ws.state, ws.exploration(), ws.tuning(n), ws.round_results(n), ws.analysis(n),
             ws.review(n), ws.round_file(n, "review_first"), ws.round_file(n, "report"), ws.proofread(n), ws.latest,
             ws.report_md]
    paths += [ws.result(f) for f in ("roi_comparison.csv", "contribution_comparison.csv", "model_fit.csv",
                                     "report.pptx", "report.html", "report.xlsx", "optimization.csv", "test_plan.csv",
                                     "refresh.json", "refresh.csv")]
    return {str(p.relative_to(ws.root)).replace("R07", "R{NN}") for p in paths} | {"results/*.csv"}


def test_every_named_file_is_one_the_stages_write():
    known = _workspace_files() | set(PROMPT_FILES) | {f"agents/{n}.md" for n in AGENT_NAMES}
    for rel, text in _prompts().items():
        for name in re.findall(r"`([\w./{}<>*-]+\.(?:md|json|csv|pptx|html|xlsx))`", text):
            assert name in known, f"{rel} names `{name}`, which no stage writes"


def _front_matter(text: str) -> dict:
    yaml = pytest.importorskip("yaml")
    assert text.startswith("---\n")
    return yaml.safe_load(text[4:text.index("\n---", 4)])


@pytest.mark.parametrize("name", AGENT_NAMES)
def test_agent_file_front_matter_body_and_return(name):
    text = (TEMPLATES / "agents" / f"{name}.md").read_text()
    meta = _front_matter(text)
    assert meta["name"] == name and len(meta["description"]) > 40
    assert {t.strip() for t in meta["tools"].split(",")} <= CLAUDE_CODE_TOOLS
    body = text[text.index("\n---", 4) + 4:]
    for heading in ("## Inputs", "## Output", "## Return"):
        assert heading in body
    returns = body[body.index("## Return"):]
    for status in RETURNS[name]:
        assert status in returns


def _num(x: float) -> str:
    return f"{x:g}"


def test_prompt_thresholds_match_the_code():
    p = {n: " ".join((TEMPLATES / "agents" / f"{n}.md").read_text().split()) for n in AGENT_NAMES}  # unwrap
    expected = {
        "explorer": [f"|z| > {_num(explorer.KPI_ANOMALY_Z)}", f"|z| > {_num(explorer.SPEND_ANOMALY_Z)}",
                     f"{_num(100 * explorer.SPARSE_ZERO_SHARE)} %", f"{_num(100 * explorer.FLIGHTED_ZERO_SHARE)} %",
                     f"under {explorer.WEEKS_MIN_YEAR} weeks", f"under {facts.MIN_WEEKS_CAVEAT}",
                     f"|r| > {_num(facts.COLLINEAR_R)}", f"VIF > {_num(facts.COLLINEAR_VIF)}"],
        "analyst": [f"under {analyst.MAX_WORDS} words", f"top {analyst.TOP_N}", f"r-hat > {_num(CONVERGENCE.max_rhat)}"],
        "critic": [f"R² ≥ {_num(checks.THRESHOLDS.overfit_r2)}", f"{_num(checks.THRESHOLDS.overfit_test_ratio)}×",
                   f"{_num(checks.THRESHOLDS.overfit_test_gap)} points", f"below {_num(checks.THRESHOLDS.media_share_min)} %",
                   f"above {_num(checks.THRESHOLDS.media_share_max)} %", f"|r| > {_num(facts.COLLINEAR_R)}",
                   f"VIF > {_num(facts.COLLINEAR_VIF)}", f"weeks < {facts.MIN_WEEKS_CAVEAT}",
                   f"{facts.WEEKS_PER_PARAMETER} × parameters", f"r-hat > {_num(CONVERGENCE.max_rhat)}",
                   f"below {CONVERGENCE.min_ess:.0f}"],
        "tuner": [f"at most {tuner.MAX_DRAWS}", f"multiply it by {_num(tuner.ALPHA_FACTORS[0])}",
                  f"rounded to {_num(tuner.DECAY_ROUND)}", f"below {_num(tuner.SHORT_DECAY)}",
                  f"to {tuner.SHORT_LAG}", f"± {_num(tuner.DECAY_STEP)}", f"add {tuner.LAG_STEP}",
                  f"at {_num(tuner.DEFAULT_HALF)} (the mean spend)", f"at {_num(tuner.DEFAULT_SLOPE)} when",
                  *[f"× {_num(f)}" for f in tuner.HALF_FACTORS], f"± {_num(tuner.SLOPE_STEP)}",
                  f"× {_num(tuner.ALPHA_FACTORS[1])}", *[f"`{k}`" for k in tuner.TUNABLE],
                  {2: "double its draws"}.get(tuner.DRAWS_FACTOR, f"draws × {tuner.DRAWS_FACTOR}"),
                  f"at most {tuner.MAX_TIMEOUT} s", f"not below {tuner.MIN_CUT_DRAWS}",
                  f"|z| > {_num(anomalies.KPI_ANOMALY_Z)} on the training weeks", f"within {anomalies.RECUR_DAYS} days",
                  f"at least {anomalies.MIN_YEARS} years", f"with {tuner.DUMMY_CONTROLS_MIN} or more 0/1",
                  f"`{anomalies.EVENT_PREFIX}"],
        "reporter": [*reporter.HEADINGS.values(), f"below {_num(reporter.SATURATED_PCT)} %",
                     ", ".join(proofreader.JARGON), f"|r| > {_num(facts.COLLINEAR_R)}"],
    }
    for name, needles in expected.items():
        for needle in needles:
            assert needle in p[name], f"agents/{name}.md does not state `{needle}` (the code's threshold)"


def test_init_writes_a_claude_code_workspace(tmp_path):
    written, kept = init_workspace(tmp_path)
    assert len(written) == 1 + len(PROMPT_TARGETS) * len(AGENT_NAMES) and not kept
    for rel, text in prompt_files().items():
        assert (tmp_path / rel).read_text() == text
    assert (tmp_path / ".claude/agents/critic.md").read_text() == (TEMPLATES / "agents/critic.md").read_text()
    (tmp_path / "agents/analyst.md").write_text("my own analyst")
    written, kept = init_workspace(tmp_path)
    assert not written and (tmp_path / "agents/analyst.md").read_text() == "my own analyst"
    init_workspace(tmp_path, force=True)
    assert (tmp_path / "agents/analyst.md").read_text() == (TEMPLATES / "agents/analyst.md").read_text()


def test_init_and_check_numbers_through_the_cli(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "ws"
    run = subprocess.run([sys.executable, "-m", "prism", "init", str(target)], capture_output=True, text=True)
    assert run.returncode == 0 and (target / "program.md").exists() and (target / ".claude/agents").is_dir()
    missing = subprocess.run([sys.executable, "-m", "prism", "check-numbers", "nope.md", "-w", str(target)],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.md: file not found" in missing.stderr


def test_prompts_point_to_facts_and_recommend_only_on_high_confidence():
    for rel, text in _prompts().items():
        flat = " ".join(text.split())
        assert "`prism facts" in flat, f"{rel} does not point to `prism facts`"
        assert "solid enough to act on" not in flat and "--validate" not in flat
        if rel.startswith("agents/"):
            assert "R{NN}_results.json" not in flat, f"{rel} still sends the agent to the results JSON"
    for name in ("program.md", "agents/reporter.md"):
        flat = " ".join(_prompts()[name].split())
        assert "only on `high` confidence" in flat or "only for channels with `high` confidence" in flat
