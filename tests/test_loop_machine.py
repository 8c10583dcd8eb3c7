"""The loop's state machine in-process, with the model stages replaced by crafted results.

These isolate the orchestration (transitions, revision cycle, NO_CHANGE stop, revert across rounds,
checkpoint audit trail, records) from model fitting; test_loop.py runs the real models.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from rich.console import Console

from tests.helpers.loop import crafted_results, make_ws
from prism.errors import InputError
from prism.orchestration.loop import round_table, run_loop, short_change
from prism.orchestration.stages import next_stage
from prism.workspace import load_state, read_json


@pytest.fixture
def fake_models(monkeypatch):
    """run_models / run_compare doubles: results near the truth; objective from a per-round script."""
    script: dict[int, float] = {}
    calls: list[int] = []

    def install(ws, sim, objectives=None, **kw):
        script.update(objectives or {})

        def run_models(ws_, round_no=None, models=None, quick=False, console=None):
            calls.append(round_no)
            return crafted_results(ws_, sim, round_no=round_no, objective=script.get(round_no, 12.0), **kw)

        def run_compare(ws_, round_no=None):
            from prism.schemas import Results
            from prism.workspace import read_model

            return read_model(ws_.round_results(round_no), Results)

        monkeypatch.setattr("prism.models.runner.run_models", run_models)
        monkeypatch.setattr("prism.analysis.compare.run_compare", run_compare)
        return calls

    return install


def _quiet() -> Console:
    return Console(file=open("/dev/null", "w"))


def test_transitions():
    assert next_stage("discover", 1, "") == "explore" and next_stage("discover", 2, "") == "tune"
    assert next_stage("tune", 2, "NO_CHANGE") == "done"
    assert next_stage("critique", 1, "REVISE: x") == "revise" and next_stage("critique", 1, "APPROVED") == "report"
    assert next_stage("recritique", 1, "APPROVED") == "report" and next_stage("proofread", 1, "") == "done"


def test_rounds_records_best_round_and_revert(tmp_path, fake_models):
    ws, sim = make_ws(tmp_path, weeks=156, n_channels=3)
    calls = fake_models(ws, sim, objectives={1: 10.0, 2: 14.0, 3: 9.0})
    state = run_loop(ws, 3, console=_quiet())
    assert calls == [1, 2, 3]
    assert [r.status for r in state.rounds] == ["done"] * 3
    r1, r2, r3 = state.rounds
    assert r1.change == "baseline" and r1.readiness is not None
    assert r2.change_key and r2.change_key in state.reverted_changes  # round 2 made it worse than round 1
    assert r3.change.startswith(f"revert {r2.change_key}")
    assert state.best_round == 3 and state.best_objective == 9.0
    assert r1.high_agreement == 3 and r1.test_mape == {"ridge": 7.0, "pymc": 7.0, "lightweight_mmm": 7.0}
    res1 = read_json(ws.round_results(1))
    assert r1.high_confidence == sum(c["label"] == "high" for c in res1["confidence"].values())
    cells = [[c for c in col._cells] for col in round_table(state).columns]
    assert [h.header for h in round_table(state).columns][4] == "high confidence"
    assert cells[4][0] == f"{r1.high_confidence}/3"
    assert "results/report.md" in r3.artifacts and ws.round_file(3, "report").exists()
    assert {a.agent for a in r1.agents} == {"explorer", "analyst", "critic", "reporter", "proofreader"}
    cfg3 = read_json(ws.round_file(3, "config", "json"))
    key = r2.change_key.split("=")[0].split(".")
    assert cfg3[key[0]].get(key[1]) == read_json(ws.round_file(1, "config", "json"))[key[0]].get(key[1])
    # asking again with the same number of rounds does nothing more
    assert len(run_loop(ws, 3, console=_quiet()).rounds) == 3 and calls == [1, 2, 3]


def test_stops_early_on_no_change(tmp_path, fake_models, monkeypatch):
    ws, sim = make_ws(tmp_path, weeks=156, n_channels=3)
    fake_models(ws, sim)
    from prism.agents import tuner

    monkeypatch.setattr(tuner, "candidate_changes", lambda ws_, n: [])
    state = run_loop(ws, 4, console=_quiet())
    assert len(state.rounds) == 2 and state.rounds[1].change == "NO_CHANGE"
    assert state.rounds[1].status == "stopped" and "NO_CHANGE" in state.stopped_reason
    assert "NO_CHANGE" in ws.tuning(2).read_text()
    again = run_loop(ws, 4, console=_quiet())  # asking again: the Tuner looks again (knowledge may have changed)
    assert len(again.rounds) == 2 and again.rounds[1].change == "NO_CHANGE" and again.stopped_reason
    assert len(run_loop(ws, 2, console=_quiet()).history) == len(again.history)  # 2 rounds done: nothing runs


def test_revision_cycle_when_the_critic_asks(tmp_path, fake_models, monkeypatch):
    ws, sim = make_ws(tmp_path, weeks=156, n_channels=3)
    fake_models(ws, sim)
    from prism.agents import analyst

    real = analyst.compose
    monkeypatch.setattr(analyst, "compose", lambda facts, reason=None: real(facts, reason) if reason
                        else "# Round 1 analysis\n\nThe models rank channels.\n")
    state = run_loop(ws, 1, console=_quiet())
    v = state.rounds[0].verdicts
    assert v["critic"].startswith("REVISE:") and v["revise"] == "ANALYSIS_DONE" and v["recritique"] == "APPROVED"
    assert "Response to the review" in ws.analysis(1).read_text()


def test_checkpoint_audit_trail_auto_approve(tmp_path, fake_models):
    ws, sim = make_ws(tmp_path, weeks=156, n_channels=3)
    fake_models(ws, sim)
    state = run_loop(ws, 2, auto_approve=True, console=_quiet())
    got = [(d.round, d.checkpoint, d.decision, d.by) for d in state.decisions]
    assert got == [(1, "exploration", "approve", "auto-approve"), (1, "report", "approve", "auto-approve"),
                   (2, "tuning", "approve", "auto-approve"), (2, "report", "approve", "auto-approve")]
    assert json.loads(ws.state.read_text())["decisions"][0]["at"]


def test_a_failed_model_is_said_in_the_report(tmp_path, fake_models):
    ws, sim = make_ws(tmp_path, weeks=156, n_channels=3)
    fake_models(ws, sim, failed={"pymc": "timed out after 1 s"})
    state = run_loop(ws, 1, console=_quiet())
    assert state.rounds[0].model_status["pymc"] == "failed"
    report = ws.report_md.read_text()
    assert "Only 2 of 3 methods ran this round" in report and "timed out after 1 s" in report


def test_bad_agents_value_is_refused(tmp_path, fake_models):
    ws, sim = make_ws(tmp_path, weeks=156, n_channels=3)
    with pytest.raises(InputError, match="--agents"):
        run_loop(ws, 1, agents="robots", console=_quiet())
    assert not ws.state.exists()


def test_interactive_checkpoints_edit_and_stop(tmp_path, fake_models, monkeypatch):
    ws, sim = make_ws(tmp_path, weeks=156, n_channels=3)
    fake_models(ws, sim)
    read, write = os.pipe()  # the answers typed at the terminal, the tuning value after its `edit`
    os.write(write, b"approve\napprove\napprove\nedit\n0.5\nstop\n")
    os.close(write)
    monkeypatch.setattr(sys, "stdin", os.fdopen(read))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    state = run_loop(ws, 2, checkpoints=True, console=_quiet())
    got = [(d.round, d.checkpoint, d.decision) for d in state.decisions]
    assert got == [(1, "exploration", "approve"), (1, "report", "approve"), (1, "approval", "approve"),
                   (2, "tuning", "edit"), (2, "report", "stop")]
    assert all(d.by.startswith("user:") for d in state.decisions)
    assert json.loads(ws.round_file(2, "config", "json").read_text())["adstock"]["decay"] == 0.5
    assert state.rounds[1].change_key == "adstock.decay=0.5" and "edited at checkpoint" in ws.tuning(2).read_text()
    assert "stopped by the user" in state.stopped_reason and state.pending_checkpoint == "report"
    assert not ws.round_file(2, "proofread").exists()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)  # resumed later without a terminal
    state = run_loop(ws, 2, checkpoints=True, console=_quiet())
    assert state.decisions[-1].by == "no-terminal" and state.rounds[1].status == "done"


def test_page_answers_checkpoints_once_and_its_edits_are_checked(tmp_path, fake_models, monkeypatch):
    """A loop with `--page` waits for `prism serve`'s answer files: a bad config edit is refused with the
    question kept open, a good one is written, and the answered question takes no second answer."""
    import threading
    import time

    from prism.serve import live

    ws, sim = make_ws(tmp_path, weeks=156, n_channels=3)
    fake_models(ws, sim)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)  # no terminal: only the page can answer
    loop = threading.Thread(target=run_loop, args=(ws, 1), kwargs={"checkpoints": True, "page": True,
                                                                    "console": _quiet()})
    loop.start()

    def question(name, error=""):
        for _ in range(300):
            q = live.pending(ws)
            if q is not None and q.checkpoint == name and q.error.startswith(error):
                return q
            time.sleep(0.05)
        raise AssertionError(f"no {name} checkpoint with error {error!r}")

    q = question("exploration")
    assert json.loads(q.edit_text) == json.loads(ws.config.read_text()) and q.edit == "config"
    before = ws.config.read_text()
    live.answer(ws, q.id, "edit", "ana", json.dumps({**json.loads(before), "fourier_order": "many"}))
    assert question("exploration", error=f"{ws.config}: fourier_order:").id == q.id
    assert ws.config.read_text() == before  # the refused edit never landed
    live.answer(ws, q.id, "edit", "ana", json.dumps({**json.loads(before), "fourier_order": 3}))
    report = question("report")
    with pytest.raises(live.Busy):  # a second tab answering the exploration again
        live.answer(ws, q.id, "approve", "bob")
    assert json.loads(ws.config.read_text())["fourier_order"] == 3
    live.answer(ws, report.id, "approve", "ana")
    live.answer(ws, question("approval").id, "stop", "ana")
    loop.join(30)
    state = load_state(ws)
    got = [(d.checkpoint, d.decision, d.by, d.note) for d in state.decisions]
    assert got == [("exploration", "edit", "user:ana",
                    "answered on the prism serve page; config.json edited after the exploration"),
                   ("report", "approve", "user:ana", "answered on the prism serve page"),
                   ("approval", "stop", "user:ana", "answered on the prism serve page")]
    assert not ws.checkpoint.exists() and not ws.checkpoint_answer.exists() and not ws.progress.exists()


def test_claude_session_steps_record_only_and_tune_set(tmp_path, fake_models):
    from prism.orchestration.loop import run_stage, set_change

    ws, sim = make_ws(tmp_path, weeks=156, n_channels=3)
    fake_models(ws, sim)
    state = run_loop(ws, 2, steps=4, console=_quiet())  # discover, explore, run, compare
    assert state.stage == "analyze"
    with pytest.raises(InputError, match="file not found"):
        run_stage(ws, "analyze", record_only=True, console=_quiet())
    ws.analysis(1).write_text("# Round 1 analysis\n\nWritten in a Claude session.\n")
    assert run_stage(ws, "analyze", record_only=True, console=_quiet()) == "ANALYSIS_DONE"
    state = run_loop(ws, 2, steps=6, console=_quiet())  # critique, revise, recritique, report, proofread, discover
    assert state.rounds[0].agents[1].impl == "claude" and state.rounds[0].verdicts["recritique"] == "APPROVED"
    assert (state.round, state.stage) == (2, "tune")
    assert set_change(ws, "adstock.max_lag", "4", "shorter lag", "learned decays are short").startswith("CONFIG_UPDATED")
    state = run_loop(ws, 2, steps=0, console=_quiet())
    assert state.stage == "run" and state.rounds[1].change_key == "adstock.max_lag=4"
    assert "Rule fired: shorter lag" in ws.tuning(2).read_text()


def test_stage_commands_name_what_is_missing_instead_of_crashing(tmp_path, capsys):
    from prism.cli import main

    ws, _ = make_ws(tmp_path / "w")
    for argv, expect in ((["proofread"], "report.md"), (["loop", "--record-only"], "prism loop --step")):
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--workdir", str(ws.root)])
        assert exit_.value.code == 2, argv
        assert expect in capsys.readouterr().err


def test_knowledge_layer_figures_may_be_quoted(tmp_path):
    from prism.analysis.numbers import unknown_numbers
    from prism.schemas import FieldDefinition, Metadata
    from prism.workspace import read_model, write_json

    ws, sim = make_ws(tmp_path / "w")
    crafted_results(ws, sim)
    text = "The benchmark range for TV is 1.37 to 4.81 per unit."
    assert unknown_numbers(text, ws, 1) == ["1.37", "4.81"]
    meta = read_model(ws.metadata, Metadata)
    meta.knowledge.fields["tv_spend"] = FieldDefinition(column="tv_spend", expected_roi_min=1.37, expected_roi_max=4.81)
    write_json(ws.metadata, meta)
    assert unknown_numbers(text, ws, 1) == []


def test_a_change_with_a_list_of_dates_is_one_short_cell():
    """The demo's event change listed four dates and ran the rounds table's change column 18 lines tall."""
    change = "baseline.event_weeks: {} → {spike: ['2022-05-30', '2023-05-22', '2023-05-29', '2024-05-27']}"
    assert short_change(change) == "baseline.event_weeks: {} → {spike: [4 values]}"
    assert short_change("adstock.decay: learned → 0.5") == "adstock.decay: learned → 0.5"


def test_an_approval_at_the_checkpoint_is_what_prism_approve_records(tmp_path, fake_models, monkeypatch, capsys):
    """Approving at the loop's last checkpoint marks the round approved in decisions.jsonl with who, when and
    why (as `prism approve` does: hashes, packages, the weekly table kept), and `prism history` lists it."""
    import pandas as pd

    from prism.analysis import governance
    from prism.data.prepare import frame_hash
    from prism.models import runner
    from prism.models.manifest import write_manifest
    from prism.schemas import Config
    from prism.workspace import read_model, write_json
    from tests.helpers.cli import Cli

    ws, sim = make_ws(tmp_path, weeks=156, n_channels=3)
    fake_models(ws, sim)
    crafted = runner.run_models

    def run_with_manifest(ws_, round_no=None, **kw):
        """The crafted results on the real weekly table, with the manifest every `prism run` writes."""
        res = crafted(ws_, round_no=round_no, **kw)
        cfg = read_model(ws_.config, Config)
        frame = pd.read_parquet(ws_.weekly)
        res.data_hash = frame_hash(frame)
        write_json(ws_.round_results(round_no), res)
        write_json(ws_.latest, res)
        write_manifest(ws_, res, cfg, pd.DatetimeIndex(pd.to_datetime(frame[cfg.data.date_column])))
        return res

    monkeypatch.setattr("prism.models.runner.run_models", run_with_manifest)
    read, write = os.pipe()  # the answers typed at the terminal: exploration, report, approval
    os.write(write, b"approve\napprove\napprove\n")
    os.close(write)
    monkeypatch.setattr(sys, "stdin", os.fdopen(read))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("prism.orchestration.loop.login_name", lambda: "ana")
    before = governance.now()
    state = run_loop(ws, 1, checkpoints=True, console=_quiet())
    assert [(d.checkpoint, d.decision, d.by) for d in state.decisions][-1] == ("approval", "approve", "user:ana")
    (entry,) = [e for e in governance.read_log(ws) if e["kind"] == "approval"]
    manifest = governance.read_manifest(ws, 1)
    assert (entry["round"], entry["by"], entry["reason"]) == (1, "ana", "approved at the loop's approval checkpoint")
    assert before <= entry["at"] <= governance.now()
    assert entry["data_hash"] == manifest.data_hash and entry["packages"] == manifest.packages
    assert governance.approved_round(ws) == 1 and ws.weekly_snapshot(1).exists()  # where `prism refresh` starts
    hist = governance.history(ws)
    assert hist[["round", "approved_by", "approved_at"]].values.tolist() == [[1, "ana", entry["at"]]]
    code, out, _ = Cli(capsys, ws.root)("history")
    assert code == 0 and "Approved models" in out and "│ ana" in out
