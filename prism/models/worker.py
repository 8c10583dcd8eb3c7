"""Run one model in this process and write its ModelResult JSON: `python -m prism.models.worker`.

The runner starts one worker per model so that a crash, a hang or a memory blow-up of one model's stack
(PyMC, JAX) cannot take the others down. The worker reads the weekly table the runner prepared (so all
models see the same rows) and the workspace's config.json, fits, goes through the shared `summarize` and
writes the model's kept draws (`--draws`, netCDF) before its result. A failure is still written as a
`failed` result with its reason, and the exit code is 1.

Each worker gets one BLAS thread (`worker_env`): three workers share the machine's cores, and OpenBLAS's
second thread only spins against them. On 209 weeks × 10 channels × 50 controls ridge took 9 CPU s (7.6 s
wall) with one thread against 91 CPU s (115 s wall) with the default two, started on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

import pandas as pd

from prism.models import experiments
from prism.models.base import Fitted, summarize
from prism.models.panel import NO_PANEL_FORM, PanelData, model_data, summarize_panel
from prism.models.priors import INFORMED_KEY, informed_priors, workspace_config
from prism.models.pool import ONE_BLAS_THREAD
from prism.models.registry import load, panel_fit
from prism.schemas import Config, Experiment, ModelResult, WarmStart
from prism.workspace import Workspace, read_model, write_json

RUN_DIR_PREFIX = "prism-run-"  # the runner's temp folder; an orphaned worker removes it
WATCH_SECONDS = 0.2
PR_SET_PDEATHSIG = 1  # prctl option: the signal this process gets when its parent dies (Linux)
BLAS_THREADS_KEY = "blas_threads"


QUIET_IN_CI = ("CI", "PYTEST_XDIST_WORKER")  # NumPyro drops its progress lines when it sees these


def worker_env() -> dict[str, str]:
    """The environment a model's process starts with: one BLAS thread (see the module docstring), unless the
    person running Prism set the thread counts themselves. Read by BLAS when it loads, so it must be set here.
    Numba's optimisation level is left at its default: at level 0 nutpie's gradient for pymc's model ran
    slower and numba cached none of it, so every fit paid for it again (docs/benchmarks.md).
    Without the CI markers: the worker's output is its private log, whose draws the runner's bar reads."""
    env = {k: v for k, v in os.environ.items() if k not in QUIET_IN_CI}
    return {**env, **{k: v for k, v in ONE_BLAS_THREAD.items() if k not in env}}


def blas_threads() -> int:
    """The most threads any loaded BLAS/OpenMP library will use in this process (recorded with the result)."""
    from threadpoolctl import threadpool_info

    return max((lib["num_threads"] for lib in threadpool_info()), default=1)


def run_one(name: str, frame: pd.DataFrame, cfg: Config, quick: bool,
            tests: list[tuple[str, Experiment]] = (), warm: WarmStart | None = None) -> tuple[ModelResult, Fitted | None]:
    """Fit model `name` on the weekly table (calibrated by `tests`, started at a refresh's `warm` values:
    only a model that can warm-start gets them, prism/models/warm.py) and summarise it like every model.

    A panel (config.json names a market column) goes to the model's `fit_panel`; a model without one is
    `skipped`, never fitted nationally under its name."""
    module = load(name)
    data = model_data(frame, cfg)
    panel = isinstance(data, PanelData)
    fit_markets = panel_fit(name) if panel else None
    if panel and fit_markets is None:
        return ModelResult(status="skipped", reason=NO_PANEL_FORM, quick=quick), None
    data = replace(data, lifts=experiments.lifts(list(tests), data.channels, data.dates))
    started = time.perf_counter()
    warm_kw = {"warm": warm} if warm else {}  # pymc's fit has no warm start (prism/models/warm.py)
    fitted = fit_markets(data, cfg, quick=quick) if panel else module.fit(data, cfg, quick=quick, **warm_kw)
    if data.lifts:
        fitted.diagnostics[experiments.EXPERIMENTS_KEY] = experiments.report(
            data.lifts, fitted.draws, getattr(module, "CALIBRATES", False))
    seconds = time.perf_counter() - started
    summary = summarize_panel(fitted, data, seconds, quick) if panel else summarize(fitted, data, seconds, quick)
    return summary, fitted


def failure_reason(exc: BaseException) -> str:
    """One line: the exception type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def die_with_parent(parent: int, run_dir: Path) -> None:
    """End this worker (and any sampler processes it started) as soon as the runner that started it is gone.

    A killed `prism loop` used to leave its worker fitting and its temp folder behind, and a resumed loop
    then fitted beside the orphan. The kernel sends SIGTERM when the parent dies (Linux), and a watchdog
    thread catches what that misses (another OS, the parent gone before this line ran).
    """
    signal.signal(signal.SIGTERM, lambda *_: _end(run_dir if os.getppid() != parent else None))
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the watchdog alone
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        _end(run_dir)

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()


def _end(orphaned_run_dir: Path | None) -> None:
    """Kill this worker's process group; an orphan also removes the run's temp folder (no runner will)."""
    if orphaned_run_dir is not None and orphaned_run_dir.name.startswith(RUN_DIR_PREFIX):
        shutil.rmtree(orphaned_run_dir, ignore_errors=True)
    os.killpg(os.getpgrp(), signal.SIGKILL)  # the runner starts each worker as its own process group


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--frame", type=Path, required=True, help="weekly table (parquet) from the runner")
    parser.add_argument("--out", type=Path, required=True, help="where to write the ModelResult JSON")
    parser.add_argument("--draws", type=Path, required=True, help="where to write the kept draws (netCDF)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--warm", type=Path, help="a refresh's warm start (WarmStart JSON)")
    parser.add_argument("--parent", type=int, help="the runner's pid: the worker ends when it is gone")
    args = parser.parse_args(argv)
    if args.parent:
        die_with_parent(args.parent, args.frame.parent)
    started = time.perf_counter()
    try:
        ws = Workspace(args.workdir)
        own, cfg = workspace_config(ws)  # knowledge-layer priors, config entries first
        tests = experiments.used(ws)  # checked by `prism run` / `prism loop` (prism.knowledge.experiments)
        warm = read_model(args.warm, WarmStart) if args.warm else None
        result, fitted = run_one(args.model, pd.read_parquet(args.frame), cfg, args.quick, tests, warm)
        if fitted is not None:
            result.diagnostics[INFORMED_KEY] = informed_priors(own, cfg, args.model)
            result.diagnostics[BLAS_THREADS_KEY] = blas_threads()
            (fitted.panel_draws or fitted.draws).to_netcdf(args.draws)
        write_json(args.out, result)
    except Exception as exc:  # reported as the model's failure, never swallowed: the traceback goes to stderr
        traceback.print_exc()
        write_json(args.out, ModelResult(status="failed", reason=failure_reason(exc), quick=args.quick,
                                         seconds=round(time.perf_counter() - started, 2)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
