"""The round loop end to end through the real `prism` CLI: resume after kills, the lock, checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers.loop import make_ws
from prism.workspace import load_state, write_json

pytest.importorskip("prism.models.runner")
pytest.importorskip("prism.analysis.compare")

PRISM = [sys.executable, "-m", "prism"]
PAUSE_TIMEOUT = 120


def _quick_ws(root: Path, **kw):
    ws, sim = make_ws(root, weeks=104, n_channels=3, models=["ridge"], **kw)
    cfg = json.loads(ws.config.read_text())
    cfg["ridge"]["bootstrap"] = 20
    write_json(ws.config, cfg)
    return ws, sim


def _loop(ws, *args: str, pause: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PRISM_PAUSE_AT": pause or ""}
    return subprocess.Popen([*PRISM, "loop", "-w", str(ws.root), "--quick", "--no-render", *args], env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_paused(proc: subprocess.Popen, stage: str) -> None:
    deadline = time.time() + PAUSE_TIMEOUT
    for line in proc.stderr:
        if line.strip() == f"PRISM_PAUSED {stage}":
            return
        assert time.time() < deadline, f"no pause at {stage}"
    out = proc.stdout.read()
    raise AssertionError(f"loop ended before pausing at {stage}: rc {proc.wait()}\n{out}")


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_resume_after_kill_in_every_stage(tmp_path):
    """Killed once in every stage (and with checkpoints on, but no terminal to answer them)."""
    ws, _ = _quick_ws(tmp_path)
    for stage in ("discover", "explore", "run", "compare", "analyze", "critique", "report", "proofread", "tune"):
        proc = _loop(ws, "--rounds", "2", "--checkpoints", pause=stage)
        _wait_paused(proc, stage)
        _kill(proc)
        assert ws.lock.exists()  # the killed loop's lock is left behind; the next run sees it is stale
    done = subprocess.run([*PRISM, "loop", "-w", str(ws.root), "--quick", "--no-render", "--rounds", "2",
                           "--checkpoints"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    state = load_state(ws)
    decisions = [(d.round, d.checkpoint, d.decision, d.by) for d in state.decisions]
    assert decisions == [(1, "exploration", "approve", "no-terminal"), (1, "report", "approve", "no-terminal"),
                         (2, "tuning", "approve", "no-terminal"), (2, "report", "approve", "no-terminal")]
    assert [r.round for r in state.rounds] == [1, 2] and all(r.status == "done" for r in state.rounds)
    for r in state.rounds:
        calls = Counter(a.agent for a in r.agents)
        assert all(n == 1 for n in calls.values()), calls  # nothing recorded twice
        assert {"run", "compare", "analyze", "critique", "report", "proofread"} <= set(r.timings)
    stages = Counter((h["round"], h["stage"]) for h in state.history)
    assert all(n == 1 for n in stages.values()), stages
    before = json.loads(ws.round_file(1, "config", "json").read_text())
    after = json.loads(ws.round_file(2, "config", "json").read_text())
    changed = [k for k in set(before) | set(after) if before.get(k) != after.get(k)]
    assert len(changed) == 1  # one change, applied once although the loop was killed in the Tuner
    for n in (1, 2):
        for f in (ws.analysis(n), ws.review(n), ws.proofread(n), ws.round_file(n, "report"), ws.round_results(n)):
            assert f.exists(), f
    assert ws.exploration().exists() and ws.tuning(2).exists() and not ws.lock.exists()
    status = subprocess.run([*PRISM, "status", "-w", str(ws.root)], capture_output=True, text=True)
    assert status.returncode == 0 and "best" in status.stdout


def test_second_loop_is_refused_while_one_runs(tmp_path):
    ws, _ = _quick_ws(tmp_path)
    proc = _loop(ws, "--rounds", "1", pause="explore")
    try:
        _wait_paused(proc, "explore")
        second = subprocess.run([*PRISM, "loop", "-w", str(ws.root), "--rounds", "1"], capture_output=True,
                                text=True, stdin=subprocess.DEVNULL)
        assert second.returncode == 2 and "another prism loop" in second.stderr
    finally:
        _kill(proc)


@pytest.mark.slow
def test_loop_with_a_failing_model_completes_on_the_others(tmp_path):
    ws, _ = make_ws(tmp_path, weeks=104, n_channels=3)
    cfg = json.loads(ws.config.read_text())
    cfg["timeouts"] = {"ridge": 300, "pymc": 600, "lightweight_mmm": 1}
    write_json(ws.config, cfg)
    run = subprocess.run([*PRISM, "loop", "-w", str(ws.root), "--rounds", "1", "--quick", "--no-render"],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    report = ws.report_md.read_text()
    assert "Only 2 of 3 methods ran this round" in report
    assert "| lightweight_mmm | failed: timed out after 1 s |" in report
    assert "lightweight_mmm failed (timed out after 1 s); this round rests on 2 model(s)" in ws.analysis(1).read_text()


@pytest.mark.slow
def test_full_loop_with_three_models(tmp_path):
    ws, _ = make_ws(tmp_path, weeks=104, n_channels=3)
    cfg = json.loads(ws.config.read_text())
    cfg["pymc"].update({"draws": 100, "tune": 100})
    cfg["lightweight_mmm"].update({"samples": 100, "warmup": 100})
    cfg["ridge"]["bootstrap"] = 50
    write_json(ws.config, cfg)
    run = subprocess.run([*PRISM, "loop", "-w", str(ws.root), "--rounds", "1"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    state = load_state(ws)
    assert len(state.rounds) == 1 and state.best_round == 1 and state.rounds[0].status == "done"
    res = json.loads(ws.round_results(1).read_text())
    assert all(m["status"] == "ok" for m in res["models"].values()), res["models"]
    assert set(res["models"]) == {"ridge", "pymc", "lightweight_mmm"}
    for f in ("roi_comparison.csv", "contribution_comparison.csv", "model_fit.csv", "latest.json", "report.md",
              "report.pptx", "report.html"):
        assert ws.result(f).exists(), f
    assert subprocess.run([*PRISM, "proofread", "--check", "-w", str(ws.root)]).returncode == 0
