"""Hardening, runs and processes (issue 14 classes 2, 9, 10): a failed run never replaces good results,
killed loops leave no worker and no temp folder, the loop lock admits exactly one of two simultaneous loops,
and short data is judged the same by discover and run."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.loop import make_ws
from tests.helpers.cli import Cli, weekly_frame

from prism.data.prepare import MIN_TRAIN_WEEKS, MIN_WEEKS
from prism.errors import LockedError
from prism.models.base import ModelData
from prism.schemas import Config
from prism.workspace import Workspace, load_state, loop_lock, read_model, read_weekly

ROOT = Path(__file__).parents[1]
WAIT_S = 90


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _discovered(cli: Cli, weeks: int = 60) -> Workspace:
    cli.ws.mkdir()
    weekly_frame(weeks).to_csv(cli.ws / "data.csv", index=False)
    code, out, err = cli("discover", "--path", str(cli.ws / "data.csv"))
    assert code == 0, out + err
    return Workspace(cli.ws)


def _good_results(ws: Workspace) -> None:
    """Stand-ins for a good round's outputs: whatever their content, a failed run must leave them as they are."""
    for path in (ws.round_results(1), ws.latest, ws.result("model_fit.csv")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"good results of round 1 in {path.name}\n")


# ---------------------------------------------------------------------- class 2: good results kept


def test_infinite_value_in_the_data_is_refused_before_any_result_is_touched(cli: Cli) -> None:
    ws = _discovered(cli)
    _good_results(ws)
    text = (ws.root / "data.csv").read_text().splitlines()
    cells = text[8].split(",")
    cells[1] = "inf"  # tv_spend of data row 8
    (ws.root / "data.csv").write_text("\n".join([*text[:8], ",".join(cells), *text[9:]]) + "\n")
    before = _snapshot(ws.root)
    cli.fails("discover", says=["column 'tv_spend' row 8", "value inf is not finite"])
    assert _snapshot(ws.root) == before


def test_a_run_where_every_model_fails_keeps_the_good_results_and_logs_the_attempt(cli: Cli) -> None:
    ws = _discovered(cli)
    cfg = json.loads(ws.config.read_text())
    cfg["adstock"] = {"type": "weibull", "decay": 0.3}  # ridge refuses a fixed decay for a Weibull adstock
    ws.config.write_text(json.dumps(cfg))
    _good_results(ws)
    before = _snapshot(ws.root)
    code, out, err = cli("run", "--round", "1", "--models", "ridge")
    assert code == 1
    assert err.strip().splitlines()[-1].endswith("logged in " + str(ws.round_file(1, "failed_run", "json")))
    after = _snapshot(ws.root)
    logged = json.loads(after.pop("rounds/R01_failed_run.json"))
    assert after == before
    assert logged["models"]["ridge"]["status"] == "failed" and "adstock.decay" in logged["models"]["ridge"]["reason"]


# ------------------------------------------------------------------------------- class 9: processes


def _workers(ws: Path) -> list[int]:
    """Pids of model workers running for this workspace."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"prism.models.worker" in cmd and str(ws).encode() in cmd:
            pids.append(int(proc.name))
    return pids


def _until(check, timeout: float = WAIT_S) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture()
def fitting_loop(tmp_path: Path):
    """A `prism loop` whose ridge fit lasts long enough to be killed mid-fit; yields (process, ws, tmp dir)."""
    ws, _ = make_ws(tmp_path / "ws", weeks=104, n_channels=3, models=["ridge"])
    cfg = json.loads(ws.config.read_text())
    cfg["ridge"] = {"bootstrap": 5000, "search_budget": 5000}
    ws.config.write_text(json.dumps(cfg))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp)}
    # started as a script's background job is (`prism loop … &`: SIGINT ignored), which Prism must undo
    proc = subprocess.Popen([sys.executable, "-m", "prism", "loop", "--rounds", "1", "-w", str(ws.root)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert _until(lambda: _workers(ws.root) and list(tmp.glob("prism-run-*"))), "no worker started"
        yield proc, ws, tmp
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pid in _workers(ws.root):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"])
def test_killed_loop_leaves_no_worker_and_no_temp_folder(fitting_loop, sig: signal.Signals) -> None:
    proc, ws, tmp = fitting_loop
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert _until(lambda: not _workers(ws.root), timeout=10), "model worker outlived the loop"
    assert _until(lambda: not list(tmp.iterdir()), timeout=10), list(tmp.iterdir())
    if sig != signal.SIGKILL:  # SIGTERM is handled like Ctrl-C: one line saying where it stopped, lock released
        err = proc.stderr.read()
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1] == (
            "stopped: round 1, stage run did not finish; `prism loop` resumes there")
        assert not ws.lock.exists()
        last = load_state(ws).history[-1]  # the time the stopped stage ran is recorded, the stage is not
        assert (last["stage"], last["status"]) == ("run", "interrupted") and last["seconds"] > 0
        assert "run" not in load_state(ws).rounds[-1].timings
    else:
        assert proc.returncode == -signal.SIGKILL


def _take_lock(root: str, barrier, results, release) -> None:
    """One contender: wait for the other, take the lock the loop takes, report, hold until told."""
    barrier.wait()
    try:
        with loop_lock(Workspace(root)):
            results.put("ran")
            release.wait(10)
    except LockedError:
        results.put("locked")


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # children only lock
def test_two_loops_started_at_the_same_instant_exactly_one_runs(tmp_path: Path) -> None:
    """50 tries, two processes released by one barrier onto `loop_lock` (the lock `prism loop` holds)."""
    ctx = multiprocessing.get_context("fork")  # forkserver re-imports per child: 360 s instead of 5 s
    for attempt in range(50):
        barrier, results, release = ctx.Barrier(2), ctx.Queue(), ctx.Event()
        procs = [ctx.Process(target=_take_lock, args=(str(tmp_path), barrier, results, release)) for _ in range(2)]
        for p in procs:
            p.start()
        outcomes = sorted(results.get(timeout=20) for _ in procs)
        release.set()
        for p in procs:
            p.join(10)
        assert outcomes == ["locked", "ran"], f"try {attempt + 1}: {outcomes}"
    assert not Workspace(tmp_path).lock.exists()


def test_a_lock_left_by_a_killed_loop_does_not_block(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.lock.write_text("999999")  # a pid that no longer holds anything
    with loop_lock(ws):
        assert ws.lock.read_text() == str(os.getpid())
    assert not ws.lock.exists()


# ----------------------------------------------------------------------------------- class 10: small


def test_too_few_weeks_are_refused_by_discover(cli: Cli) -> None:
    cli.ws.mkdir()
    weekly_frame(MIN_WEEKS - 1).to_csv(cli.ws / "data.csv", index=False)
    cli.fails("discover", "--path", str(cli.ws / "data.csv"),
              says=[f"only {MIN_WEEKS - 1} weeks", f"at least {MIN_WEEKS} are needed"])
    assert not (cli.ws / "config.json").exists()


@pytest.mark.parametrize("weeks", [MIN_WEEKS, 26, 27])
def test_whatever_discover_accepts_run_can_split(cli: Cli, weeks: int) -> None:
    """20–27 weeks passed discover but `run` refused every one of them with the default 8-week holdout."""
    ws = _discovered(cli, weeks)
    cfg = read_model(ws.config, Config)
    data = ModelData.from_frame(read_weekly(ws, cfg), cfg)  # what `prism run` does before any worker starts
    assert data.n_train >= MIN_TRAIN_WEEKS and data.n_test >= 4 and data.n_train + data.n_test == weeks


def test_hand_set_round_does_not_make_report_claim_no_change(cli: Cli) -> None:
    ws = _discovered(cli)
    ws.state.write_text(json.dumps({"round": 3, "stage": "done"}))
    code, out, err = cli("report")
    assert "NO_CHANGE" not in out + err
    assert code == 2 and len(err.strip().splitlines()) == 1
