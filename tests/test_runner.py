"""`prism run`: result files and columns, one model timing out or crashing, bad config → exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from prism.data.simulate import simulate
from prism.models.runner import FIT_COLUMNS, failed_run_path, run_models
from prism.models.worker import BLAS_THREADS_KEY, worker_env
from prism.schemas import Results
from prism.workspace import Workspace, read_model, write_json, write_weekly


def _workspace(root: Path, **settings) -> Workspace:
    """A small simulated dataset and a config.json that fits ridge with light settings."""
    sim = simulate(weeks=104, n_channels=3, seed=2)
    sim.write(root / "data.csv")
    cfg = {"data": {"path": "data.csv", "date_column": "date", "kpi": sim.kpi, "channels": sim.channels,
                    "controls": sim.controls},
           "models": ["ridge"], "ridge": {"bootstrap": 20, "search_budget": 10}, **settings}
    write_json(root / "config.json", cfg)
    ws = Workspace(root)
    write_weekly(ws, sim.frame.assign(date=pd.to_datetime(sim.frame["date"])))  # what discover writes
    return ws


def test_run_writes_results_files(tmp_path):
    ws = _workspace(tmp_path)
    write_json(ws.state, {"round": 3})
    res = run_models(ws)
    assert res.round == 3 and ws.round_results(3).exists()
    latest = read_model(ws.latest, Results)
    assert latest.models["ridge"].status == "ok" and latest.data_hash and latest.config_hash
    assert latest.objective == latest.models["ridge"].fit.cv_mape > 0
    assert latest.models["ridge"].diagnostics[BLAS_THREADS_KEY] == 1  # a second BLAS thread only spins (worker.py)
    assert json.loads(ws.round_results(3).read_text()) == json.loads(ws.latest.read_text())
    fit = pd.read_csv(ws.result("model_fit.csv"))
    assert list(fit.columns) == FIT_COLUMNS and fit.loc[0, "model"] == "ridge" and fit.loc[0, "status"] == "ok"
    assert 0 < fit.loc[0, "r2"] <= 1


def test_worker_env_keeps_a_thread_count_the_person_set(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = worker_env()
    assert env["OPENBLAS_NUM_THREADS"] == "4" and env["OMP_NUM_THREADS"] == "1"


def test_timeout_and_crash_fail_only_that_model(tmp_path):
    """pymc cannot even import in 1 s; a Weibull adstock with a fixed decay makes ridge refuse its config."""
    ws = _workspace(tmp_path, models=["ridge", "pymc"], timeouts={"ridge": 300, "pymc": 1})
    res = run_models(ws, round_no=1)
    assert res.models["pymc"].status == "failed" and res.models["pymc"].reason == "timed out after 1 s"
    assert res.models["ridge"].status == "ok"

    cfg = json.loads(ws.config.read_text())
    cfg["adstock"] = {"type": "weibull", "decay": 0.3}
    write_json(ws.config, cfg)
    res = run_models(ws, round_no=2, models=["ridge"])
    assert res.models["ridge"].status == "failed"
    assert res.models["ridge"].reason.startswith("InputError: config.json: adstock.decay")
    assert res.models["pymc"].status == "skipped"
    fit = pd.read_csv(ws.result("model_fit.csv"))
    assert list(fit["status"]) == ["ok", "failed"]  # a run in which no model ran keeps round 1's table
    assert not ws.round_results(2).exists() and failed_run_path(ws, 2).exists()


def test_bad_config_exits_2(tmp_path):
    ws = _workspace(tmp_path, ridge={"bootstrap": 20, "serch_budget": 10})
    proc = subprocess.run([sys.executable, "-m", "prism", "run", "-w", str(ws.root)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "config.json" in proc.stderr and "serch_budget" in proc.stderr and "Traceback" not in proc.stderr
    assert not ws.latest.exists()
