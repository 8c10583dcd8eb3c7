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
from prism.analysis.facts import RoundFacts
from prism.workspace import load_state
from tests.helpers.cli import Cli
from tests.helpers.loop import make_ws
from tests.test_loop_machine import fake_models  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[1]
# The commands the old program.md gave a session for one round without a revision (the session):
# step, explore, check-numbers, step, step, check-numbers, analyze --record-only, critique, critique --check,
# check-numbers, report --record-only, proofread, proofread --check, report --render-only.
OLD_COMMANDS_PER_ROUND = 14


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


def _printed_record(out: str) -> str | None:
    m = re.search(r"record: (prism [^\n(]*?)\s*(?:\(|$)", out, re.M)
    return m.group(1).strip() if m else None


def _replay(cli, ws, rounds: int) -> dict[int, list[str]]:
    """Play the session: `prism next --json` at the start of each round, then what each command prints."""
    commands: dict[int, list[str]] = {}
    while True:
        code, out, _ = cli("next", "--json")
        step = json.loads(out)
        if step["finished"]:
            return commands
        n = step["round"] + (1 if step["stage"] == "done" else 0)
        log = commands.setdefault(n, ["prism next --json"])
        while True:
            if step["stage"] == "tune":
                first = _first_candidate(cli, ws, step["round"])
                argv = ["tune", "--set", f"{first.key}={json.dumps(first.new)}", "--rule", first.rule,
                        "--evidence", first.evidence]
            elif step.get("record"):
                _write_turn(ws, step)
                argv = step["record"].split()[1:]
            else:
                argv = ["loop", "--step", "--rounds", str(rounds)]
            code, out, err = cli(*argv)
            assert code == 0, (argv, out, err)
            log.append("prism " + " ".join(argv))
            record = _printed_record(out)
            if record is None:  # a finished round (or loop): the next round starts with `prism next`
                break
            st = load_state(ws)
            step = {"round": st.round, "stage": st.stage, "record": record}


def _first_candidate(cli, ws, n: int):
    """The session reads `prism tune --candidates` and takes the first (the rules' choice)."""
    from prism.agents.tuner import candidate_changes

    code, out, _ = cli("tune", "--candidates")
    first = candidate_changes(ws, n)[0]
    assert code == 0 and "evidence from round 1" in out and first.rule[:20] in " ".join(out.split())
    return first


def test_replay_driven_by_next_halves_the_commands(tmp_path, fake_models, capsys):  # noqa: F811
    ws, sim = make_ws(tmp_path / "w", weeks=156, n_channels=3)
    fake_models(ws, sim, objectives={1: 12.0, 2: 11.0})
    cli = Cli(capsys, ws.root)
    code, out, _ = cli("status")
    assert code == 0 and "ready: discover done, next:" in out
    commands = _replay(cli, ws, rounds=2)
    state = load_state(ws)
    assert [r.status for r in state.rounds] == ["done", "done"]
    assert state.stopped_reason and "round 2 of 2" in state.stopped_reason
    for n, cmds in commands.items():
        revisions = sum("--revision" in c or "--final" in c for c in cmds)
        assert len(cmds) - revisions <= OLD_COMMANDS_PER_ROUND / 2, cmds
    by = {(c.agent, c.by) for r in state.rounds for c in r.agents}
    assert {("explorer", "session"), ("critic", "session"), ("proofreader", "session"), ("tuner", "session")} <= by
    code, out, _ = cli("next")
    assert "the loop is finished" in out and "round 2 of 2" in out
    assert ws.round_file(2, "report").read_text() == ws.report_md.read_text()  # the snapshot is the proofread copy


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
