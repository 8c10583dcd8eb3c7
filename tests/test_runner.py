"""`prism run`: result files and columns, one model timing out or crashing, bad config → exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

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


def test_worker_env_leaves_numbas_optimisation_level_alone(monkeypatch):
    """At NUMBA_OPT=0 pymc's fit of the bundled brand took 101.5 CPU s every time (numba cached nothing of it);
    at numba's default, 51.8 the first time and 17.5 once cached, and a 20-market panel no longer timed out."""
    monkeypatch.delenv("NUMBA_OPT", raising=False)
    assert "NUMBA_OPT" not in worker_env()


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


NUMPYRO_RUN = """
import sys
from prism.models.posterior import parallel_chain_method
method = parallel_chain_method(2)
import jax, numpyro, numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS
def model():
    numpyro.sample("x", dist.Normal(0.0, 1.0))
MCMC(NUTS(model), num_warmup=100, num_samples=150, num_chains=2, chain_method=method, progress_bar=True).run(
    jax.random.PRNGKey(0))
"""


def _child_env(xla_flags: str | None = None) -> dict[str, str]:
    """A model process's environment with only the given XLA_FLAGS: a device count in the shell's would run a
    child's two chains one after another (one bar, 250 of 250)."""
    env = {k: v for k, v in worker_env().items() if k != "XLA_FLAGS"}
    return env | ({"XLA_FLAGS": xla_flags} if xla_flags else {})


CHAIN_METHOD_RUN = """
import json, os
from prism.models.posterior import parallel_chain_method
method = parallel_chain_method(2)
import jax
print(json.dumps([method, jax.local_device_count(), os.environ.get("XLA_FLAGS")]))
"""


@pytest.mark.parametrize("given", [None, "--xla_force_host_platform_device_count=1"])
def test_chain_method_asks_for_devices_and_leaves_the_environment_as_it_was(given) -> None:
    """Two chains get two CPU devices (side by side) unless the person set a device count, and XLA_FLAGS is put
    back once the backend has read it, so no process started afterwards inherits this one's count (with one
    device a child's chains ran one after another, and the runner's bar read one chain's draws)."""
    out = subprocess.run([sys.executable, "-c", CHAIN_METHOD_RUN], capture_output=True, text=True,
                         env=_child_env(given), check=True, timeout=120)
    method, devices, flags = json.loads(out.stdout.strip().splitlines()[-1])
    side_by_side = given is None and (os.cpu_count() or 1) >= 2
    assert (method, devices) == (("parallel", 2) if side_by_side else ("sequential", 1))
    assert flags == given


def test_the_runner_reads_numpyros_draws_from_the_worker_log(tmp_path):
    """The runner's bar shows a sampler's draws done: NumPyro's own progress lines, as a worker logs them
    (chains side by side, or one chain's warm-up then kept draws), summed over the chains."""
    from prism.models.runner import Job, chain_draws

    def draws_in(log):
        return chain_draws(Job("lightweight_mmm", 60, tmp_path / "out.json", log, tmp_path / "draws.nc"))

    log = tmp_path / "lightweight_mmm.log"
    with log.open("wb") as out:
        subprocess.run([sys.executable, "-c", NUMPYRO_RUN], stdout=out, stderr=subprocess.STDOUT, check=True,
                       env=_child_env(), timeout=300)
    assert draws_in(log) == (500, 500)  # 2 chains × (100 warm-up + 150 draws), all done
    mid = tmp_path / "mid.log"
    mid.write_text("Compiling.. :   0%|          | 0/800 [00:00<?, ?it/s]\r"
                   "Running chain 0:  40%|████      | 320/800 [00:09<00:14, 34.1it/s]\r"
                   "Running chain 1:  35%|███▌      | 280/800 [00:09<00:15, 30.2it/s]\n"
                   "Running chain 0:  45%|████▌     | 360/800 [00:10<00:13, 34.0it/s]\r")
    assert draws_in(mid) == (640, 1600)
    one = tmp_path / "one.log"
    one.write_text("warmup:  20%|██        | 160/800 [00:02<00:08, 80it/s, 7 steps of size 3.1e-01. acc. prob=0.79]\r"
                   "sample:  70%|███████   | 560/800 [00:07<00:03, 80it/s, 7 steps of size 3.1e-01. acc. prob=0.90]\r")
    assert draws_in(one) == (560, 800)
    assert draws_in(tmp_path / "ridge.log") is None  # no log yet, or a model without draws to count


def test_chains_run_one_after_another_are_counted_together(tmp_path):
    """Where NumPyro runs the chains in turn (one unnamed bar that starts from 0 again for each chain), the
    runner's count banks a chain when the bar falls back and totals every chain's draws: 2 chains × 250 read
    250 of 500 at the first chain's end, not 250 of 250. Named bars (side by side) are summed as before."""
    from prism.models.runner import Job, chain_draws

    log = tmp_path / "lightweight_mmm.log"
    job = Job("lightweight_mmm", 60, tmp_path / "out.json", log, tmp_path / "draws.nc", chains=2)
    seen = []
    for line in ["warmup:  40%|████      | 100/250 [", "sample: 100%|██████████| 250/250 [",
                 "warmup:   5%|▍         | 12/250 [", "sample:  60%|██████    | 150/250 [",
                 "sample: 100%|██████████| 250/250 ["]:
        with log.open("a") as out:
            out.write(line + "00:01<00:01, 80it/s]\r")
        job.drawn = chain_draws(job)
        seen.append(job.drawn)
    assert seen == [(100, 500), (250, 500), (262, 500), (400, 500), (500, 500)]
    log.write_text("Running chain 0:  40%|████      | 320/800 [00:09<00:14, 34.1it/s]\r"
                   "Running chain 1:  35%|███▌      | 280/800 [00:09<00:15, 30.2it/s]\r")
    assert chain_draws(Job("lightweight_mmm", 60, tmp_path / "o.json", log, tmp_path / "d.nc", chains=2)) == (600, 1600)
