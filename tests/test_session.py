"""The Claude terminal session's path, command by command, driven by `prism next` (issue 16).

The model stages are the crafted doubles of test_loop_machine (fake_models); the agent files are written
the way the prompts say, by the rule-based composers standing in for Claude's prose.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from prism.agents import analyst, reporter
from prism.analysis.checks import raised_points
from prism.analysis.facts import RoundFacts
from prism.workspace import load_state
from tests.helpers.cli import Cli
from tests.helpers.loop import make_ws
from tests.test_loop_machine import fake_models  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[1]
# A round without a revision: the Tuner's --set (or the Explorer's record), then analyze, critique, report and
# proofread records; each prints the next turn, and the last one runs Prism's stages into the next round.
MAX_COMMANDS_PER_ROUND = 5


def _write_turn(ws, step: dict) -> None:
    """What the session writes at an agent stage (its prose here comes from the rule-based composers)."""
    n, stage = step["round"], step["stage"]
    if stage == "explore":
        path = ws.exploration()
        path.write_text(path.read_text() + "\n## Interpretation\n\nSpend is steady across the weeks.\n")
    elif stage in ("analyze", "revise"):
        reason = ws.review(n).read_text().splitlines()[-1] if stage == "revise" else None
        ws.analysis(n).write_text(analyst.compose(RoundFacts.load(ws, n), reason))
    elif stage == "report":
        ws.report_md.write_text(reporter.compose(RoundFacts.load(ws, n), [], []))
    # critique, recritique, proofread: Prism wrote the computed part; the session's notes are optional


def _printed_step(out: str) -> dict:
    """What a session command printed for the turn after it (the block `prism next` prints)."""
    if "the loop is finished" in out:
        return {"finished": True}
    head = re.search(r"next: round (\d+)(?: of \d+)?, stage (\w+)", out)
    record = re.search(r"record: (prism [^\n(]*?)\s*(?:\(|$)", out, re.M)
    assert head, out
    return {"finished": False, "round": int(head.group(1)), "stage": head.group(2),
            "record": record.group(1).strip() if record else None, "notes": re.findall(r"note:\s+(.*)", out)}


def _replay(cli, ws, rounds: int) -> dict[int | str, list[str]]:
    """Play the session from `prism next --json`, then only what each command prints: {round: commands}.
    The commands run before round 1 began (no state.json yet) are the start."""
    code, out, _ = cli("next", "--json")
    step = json.loads(out)
    commands: dict[int | str, list[str]] = {"start": ["prism next --json"]}
    while not step["finished"]:
        if step["stage"] == "tune":
            argv = ["tune", *_first_candidate(step["notes"])]
        elif step.get("record"):
            _write_turn(ws, step)
            argv = step["record"].split()[1:]
        else:
            argv = ["loop", "--step", "--rounds", str(rounds)]
        n = load_state(ws).round if ws.state.exists() else 0
        code, out, err = cli(*argv)
        assert code == 0, (argv, out, err)
        commands.setdefault(n or "start", []).append("prism " + " ".join(argv))
        step = _printed_step(out)
    return commands


def _first_candidate(notes: list[str]) -> list[str]:
    """The session takes the first candidate the Tuner's turn printed (the rules' choice), as printed."""
    import shlex

    first = next(n for n in notes if n.startswith("candidate 1: "))
    return shlex.split(first.removeprefix("candidate 1: prism tune "))


def test_replay_driven_by_next_takes_five_commands_a_round(tmp_path, fake_models, capsys):  # noqa: F811
    ws, sim = make_ws(tmp_path / "w", weeks=156, n_channels=3)
    fake_models(ws, sim, objectives={1: 12.0, 2: 11.0})
    cli = Cli(capsys, ws.root)
    code, out, _ = cli("status")
    assert code == 0 and "ready: discover done, next:" in out
    commands = _replay(cli, ws, rounds=2)
    state = load_state(ws)
    assert [r.status for r in state.rounds] == ["done", "done"]
    assert state.stopped_reason and "round 2 of 2" in state.stopped_reason
    assert commands["start"] == ["prism next --json", "prism loop --step --rounds 2"]
    for n in (1, 2):
        assert len(commands[n]) <= MAX_COMMANDS_PER_ROUND, commands[n]
    assert not any("--candidates" in c or "--check" in c or "--validate" in c for c in sum(commands.values(), []))
    by = {(c.agent, c.by) for r in state.rounds for c in r.agents}
    assert {("explorer", "session"), ("critic", "session"), ("proofreader", "session"), ("tuner", "session")} <= by
    code, out, _ = cli("next")
    assert "the loop is finished" in out and "round 2 of 2" in out
    assert ws.round_file(2, "report").read_text() == ws.report_md.read_text()  # the snapshot is the proofread copy
    assert state.deliverable_round == 2


def test_a_losing_last_round_hands_off_the_best_round(tmp_path, fake_models, capsys):  # noqa: F811
    ws, sim = make_ws(tmp_path / "w", weeks=156, n_channels=3)
    fake_models(ws, sim, objectives={1: 11.0, 2: 12.5})
    cli = Cli(capsys, ws.root)
    _replay(cli, ws, rounds=2)
    state = load_state(ws)
    assert state.best_round == 1 and state.deliverable_round == 1
    assert ws.report_md.read_text() == ws.round_file(1, "report").read_text()
    assert ws.config.read_text() == ws.round_file(1, "config", "json").read_text()
    assert json.loads(ws.latest.read_text())["round"] == 1
    change = state.rounds[1].change_key
    assert change and change in state.reverted_changes
    assert "Reverted at the hand-off" in ws.tuning(2).read_text()
    assert any(h.get("stage") == "hand-off" for h in state.history)
    code, out, _ = cli("status")
    assert code == 0 and "deliverable: round 1" in out
    pptx = ws.results_dir / "report.pptx"
    assert pptx.exists() and pptx.stat().st_mtime >= ws.round_file(2, "report").stat().st_mtime


def test_next_prints_no_placeholder(tmp_path, capsys):
    ws, _ = make_ws(tmp_path / "w", weeks=156, n_channels=3)
    step = json.loads(Cli(capsys, ws.root)("next", "--json")[1])
    assert step["run"] == ["prism loop --step --rounds 4"] and "--rounds N" not in json.dumps(step)
    assert any("default" in n for n in step["notes"])


def test_compare_gives_the_combined_interval_and_channel_average(tmp_path):
    from prism.analysis.compare import run_compare
    from tests.helpers.loop import crafted_results

    ws, sim = make_ws(tmp_path / "w", weeks=156, n_channels=3)
    crafted_results(ws, sim)
    res = run_compare(ws, 1)
    ok = res.ok_models().values()
    for ch, c in res.combined.items():
        assert c.roi_low == min(m.channels[ch].roi_low for m in ok)
        assert c.roi_high == max(m.channels[ch].roi_high for m in ok)
        assert c.roi == pytest.approx(sum(m.channels[ch].roi for m in ok) / len(ok))
    assert res.channel_average_roi == pytest.approx(sum(c.roi for c in res.combined.values()) / len(res.combined))
    assert set(res.combined) == set(sim.channels)


@pytest.mark.parametrize("column, label", [("tv_S", "TV"), ("ooh_S", "OOH"), ("facebook_S", "Facebook"),
                                           ("search_spend", "Search"), ("print_cost", "Print"),
                                           ("paid_social_spend", "Paid Social"), ("CTV_spend", "CTV"), ("S", "S")])
def test_readable_labels_with_an_empty_dictionary(column, label):
    from prism.schemas import readable_label

    assert readable_label(column) == label


def test_critic_matches_a_channel_by_its_readable_alias(tmp_path):
    from prism.analysis import checks
    from prism.schemas import Metadata
    from prism.workspace import read_model, write_json
    from tests.helpers.loop import crafted_results

    ws, sim = make_ws(tmp_path / "w", weeks=156, n_channels=3)
    crafted_results(ws, sim)
    meta = read_model(ws.metadata, Metadata)
    ch = sim.channels[0]
    meta.labels[ch] = "Paid Search Ads"  # a dictionary label; the alias from the column name still counts
    write_json(ws.metadata, meta)
    facts = RoundFacts.load(ws, 1)
    alias = ch.split("_")[0]
    assert checks.mentions(f"the return of {alias} is uncertain", facts, ch)
    assert not checks.mentions(f"the return of x{alias} is uncertain", facts, ch)


def test_discover_offers_labels_and_next_says_what_was_dropped(tmp_path, capsys):
    from tests.helpers.cli import weekly_frame

    frame = weekly_frame().rename(columns={"tv_spend": "tv_S", "search_spend": "search_S"})
    frame["stores"] = 5  # constant: discover leaves it out
    (tmp_path / "data.csv").write_text(frame.to_csv(index=False))
    cli = Cli(capsys, tmp_path)
    code, out, err = cli("status")
    assert code == 2 and "prism discover" in err  # nothing discovered yet: says what to run
    code, out, _ = cli("discover", "--path", str(tmp_path / "data.csv"), "--kpi", "revenue")
    assert code == 0 and "tv_S → TV" in out and "search_S → Search" in out
    assert "not modelled: stores (constant column)" in out
    code, out, _ = cli("status")
    assert code == 0 and "ready: discover done, next:" in out
    step = json.loads(cli("next", "--json")[1])
    assert (step["round"], step["stage"], step["run"]) == (1, "discover", ["prism loop --step --rounds 4"])
    assert "not modelled: stores (constant column)" in step["notes"]


def test_record_runs_the_guard_first_and_counts_words_like_wc(tmp_path, fake_models, capsys):  # noqa: F811
    ws, sim = make_ws(tmp_path / "w", weeks=156, n_channels=3)
    fake_models(ws, sim)
    cli = Cli(capsys, ws.root)
    assert cli("loop", "--step", "--rounds", "1")[0] == 0
    ws.exploration().write_text(ws.exploration().read_text() + "\n## Interpretation\n\nSpend grew 98.76 %.\n")
    code, _, err = cli("explore", "--record-only")
    assert code == 1 and "98.76" in err and "not recorded" in err and load_state(ws).stage == "explore"
    assert not load_state(ws).rounds[0].agents
    ws.exploration().write_text(ws.exploration().read_text().replace("98.76", "steadily"))
    code, out, _ = cli("explore", "--record-only")
    assert code == 0 and load_state(ws).stage == "analyze"  # the models ran after the record
    assert "record: prism analyze --record-only" in out and "write:  rounds/R01_analysis.md" in out
    facts = RoundFacts.load(ws, 1)
    good = analyst.compose(facts)
    ws.analysis(1).write_text(good + "word " * (400 - len(good.split())))  # exactly 400 by `wc -w`
    code, _, err = cli("analyze", "--record-only")
    assert code == 1 and "400 words" in err
    ws.analysis(1).write_text(good)
    code, out, _ = cli("analyze", "--record-only")
    assert code == 0 and f"{len(good.split())} words" in out


def test_ratios_are_recomputed_or_flagged(tmp_path):
    from prism.analysis.numbers import ratios
    from prism.orchestration.guards import number_problems
    from tests.helpers.loop import crafted_results

    ws, sim = make_ws(tmp_path / "w", weeks=156, n_channels=3)
    crafted_results(ws, sim)
    facts = RoundFacts.load(ws, 1)
    (a, fa), (b, fb) = list(facts.channel_facts.items())[:2]
    true = max(fa.roi, fb.roi) / min(fa.roi, fb.roi)
    said = [r for r in ratios(f"{fa.label} returns about {round(true) + 3} times more than {fb.label}.", facts)]
    assert len(said) == 1 and said[0].wrong and said[0].actual == pytest.approx(true)
    right = ratios(f"{fa.label} returns {true:.1f}× what {fb.label} returns.", facts)
    assert len(right) == 1 and not right[0].wrong
    loose = ratios("Spend rose ten times over the period.", facts)
    assert loose[0].actual is None and loose[0].value == 10
    ws.analysis(1).write_text(f"{fa.label} returns about {round(true) + 3} times more than {fb.label}.\n"
                              "Spend rose ten times. About half of it went to one channel.\n")
    check = number_problems(ws, ws.analysis(1), 1)
    assert len(check.failures) == 2 and "times" in check.failures[0] and "'half'" in check.failures[1]
    assert any("ten times" in w for w in check.warnings)  # a ratio Prism cannot compute is flagged


def test_check_numbers_uses_the_evidence_round_and_the_exploration(tmp_path, fake_models, capsys):  # noqa: F811
    from prism.analysis.numbers import extract

    ws, sim = make_ws(tmp_path / "w", weeks=156, n_channels=3)
    fake_models(ws, sim, objectives={1: 12.0})
    cli = Cli(capsys, ws.root)
    assert cli("loop", "--rounds", "1")[0] == 0
    computed = ws.exploration().read_text().partition("## Interpretation")[0]
    share = next(f.text for f in extract(computed) if f.percent and f.text not in ws.report_md.read_text())
    ws.analysis(1).write_text(ws.analysis(1).read_text() + f"\nA share of {share} comes from the exploration.\n")
    assert cli("check-numbers", "rounds/R01_analysis.md")[0] == 0
    assert {c.by for c in load_state(ws).rounds[0].agents} == {"rules"}  # the rule-based loop wrote round 1
    assert cli("loop", "--step", "--rounds", "2")[0] == 0  # round 2: the tuning file quotes round 1
    step = json.loads(cli("next", "--json")[1])
    assert step["stage"] == "tune" and step["run"] == [] and step["notes"][0].startswith("candidate 1: prism tune --set ")
    assert step["record"].startswith("prism tune --set") and "prism tune --record-only" in step["notes"][-1]
    objective = f"{load_state(ws).rounds[0].objective:.2f}"
    ws.tuning(2).write_text(f"# Round 2 tuning\n\nRound 1 objective {objective} %: nothing left to try.\nNO_CHANGE\n")
    code, out, _ = cli("check-numbers", "rounds/R02_tuning.md")
    assert code == 0 and "round 1" in out
    code, out, _ = cli("tune", "--record-only")
    state = load_state(ws)
    assert code == 0 and state.stage == "done" and "NO_CHANGE" in state.stopped_reason
    assert "the loop is finished" in out


def test_final_critique_keeps_the_first_review(tmp_path, fake_models, capsys):  # noqa: F811
    ws, sim = make_ws(tmp_path / "w", weeks=156, n_channels=3)
    fake_models(ws, sim)
    cli = Cli(capsys, ws.root)
    for argv in (["loop", "--step", "--rounds", "1"], ["explore", "--record-only"]):
        assert cli(*argv)[0] == 0
    ws.analysis(1).write_text("# Round 1 analysis\n\nThe models ran.\n")  # too thin: the Critic asks for more
    code, out, _ = cli("analyze", "--record-only")
    first = ws.review(1).read_text()
    assert code == 0 and "REVISE" in first and "record: prism critique --record-only" in out
    assert cli("critique", "--record-only")[0] == 0 and load_state(ws).stage == "revise"
    ws.analysis(1).write_text(analyst.compose(RoundFacts.load(ws, 1), raised_points(ws, 1)))  # each point answered
    code, out, _ = cli("analyze", "--revision", "--record-only")
    assert code == 0 and "record: prism critique --final --record-only" in out
    assert ws.round_file(1, "review_first").read_text() == first and ws.review(1).read_text() != first
    assert cli("critique", "--final", "--record-only")[0] == 0
    rec = load_state(ws).rounds[0]
    assert {"rounds/R01_review.md", "rounds/R01_review_first.md"} <= set(rec.artifacts)


def test_program_md_states_the_sources_and_the_confirmations():
    from prism.analysis.numbers import NOT_SOURCES, NUMBER_SOURCES
    from prism.orchestration.stages import STAGES

    text = (ROOT / "prism" / "templates" / "program.md").read_text()
    for line in NUMBER_SOURCES:
        assert f"- {line}\n" in text
    assert all(f"Not a source: {s}" in text for s in NOT_SOURCES)
    assert 'With "no checkpoints", the user still confirms these once, at discover' in text
    assert "the loop is finished" in text and "`prism next`" in text and "`prism tune --candidates`" in text
    for spec in STAGES.values():  # the table's record commands are the stage table's
        if spec.record_command:
            assert f"`{spec.record_command}`" in text


@pytest.mark.slow
def test_a_session_replay_on_robyns_data_hands_off_the_best_round(tmp_path, capsys):
    """Robyn's public weekly file, the quick method only (real fits), two rounds played like a session."""
    import shutil

    from prism.schemas import Config
    from prism.workspace import Workspace, read_model, write_json

    shutil.copyfile(ROOT / "tests" / "data" / "robyn_dt_simulated_weekly.csv", tmp_path / "robyn.csv")
    cli = Cli(capsys, tmp_path / "w")
    code, out, err = cli("discover", "--path", str(tmp_path / "robyn.csv"), "--kpi", "revenue", "--currency", "USD")
    assert code == 0, err
    ws = Workspace(tmp_path / "w")
    cfg = read_model(ws.config, Config)
    ridge = cfg.ridge.model_copy(update={"bootstrap": 20, "search_budget": 8})  # the audit and plans refit it
    write_json(ws.config, cfg.model_copy(update={"models": ["ridge"], "ridge": ridge}))
    commands = _replay(cli, ws, rounds=2)
    state = load_state(ws)
    assert all(len(commands[n]) <= MAX_COMMANDS_PER_ROUND for n in (1, 2)), commands
    best = state.best_round
    assert state.stopped_reason and state.deliverable_round == best
    assert ws.report_md.read_text() == ws.round_file(best, "report").read_text()
    assert ws.config.read_text() == ws.round_file(best, "config", "json").read_text()
    assert "per USD of spend" in ws.report_md.read_text()
    code, out, _ = cli("status")
    assert f"deliverable: round {best}" in out
