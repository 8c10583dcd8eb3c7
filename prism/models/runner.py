"""`prism run`: fit the configured models, each in its own process with its own timeout.

A model's crash, hang or timeout marks only that model `failed` with its reason; the others still run.
The models run side by side: much of each worker's time is single-threaded (imports, JAX/PyTensor
compilation, the shared summary), so on the 2-core machine all three on the bundled data (132 weeks ×
8 channels, full settings) took 99.5 s wall in parallel against 216.5 s in sequence (same background load).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.markup import escape
from rich.text import Text

from prism.data.prepare import frame_hash
from prism.errors import InputError
from prism.models import experiments
from prism.models.base import ModelData, check_identifiable
from prism.models.manifest import write_manifest
from prism.models.panel import PanelData, model_data
from prism.models.worker import RUN_DIR_PREFIX, failure_reason, worker_env
from prism.models.priors import config_hash, workspace_config
from prism.schemas import MODEL_NAMES, Config, ModelResult, Results, Uncalibrated, WarmStart
from prism.workspace import (Workspace, csv_bytes, json_bytes, load_state, read_model, read_weekly, write_json,
                             write_together)

RUN_IN_PARALLEL = True
POLL_SECONDS = 0.1
DEFAULT_TIMEOUT_S = 900
FIT_COLUMNS = ["model", "r2", "mape_train", "mape_test", "seconds", "status"]
WORKER = [sys.executable, "-m", "prism.models.worker"]
ONE_BAR = "one chain"  # NumPyro's unnamed bar: the chain running now, where they run one after another
LOG_TAIL_BYTES = 4096  # enough for the latest progress line of every chain
# NumPyro's tqdm bars in a worker's log: "Running chain 1:  40%|…| 320/800 [" (chains side by side) or
# "sample:  40%|…| 320/800 [" (one chain); \r separates the updates
BAR = re.compile(r"(Running chain \d+|warmup|sample):\s*\d+%\|[^|]*\|\s*(\d+)/(\d+) \[")


@dataclass
class Job:
    """One model's worker process and where its result and log go."""

    name: str
    timeout: int
    out: Path
    log: Path
    draws: Path
    warm: Path | None = None  # a refresh's warm start for this model (WarmStart JSON)
    proc: subprocess.Popen | None = None
    started: float = 0.0
    chains: int = 1  # the chains the model samples (a chain ends before the next starts where they run in turn)
    drawn: tuple[int, int] | None = None  # (draws done, draws in all) of a sampler that reports them
    banked: int = 0  # draws of the chains already done, where they run one after another (`chain_draws`)
    result: ModelResult | None = field(default=None)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started if self.started else 0.0


def selected_models(cfg: Config, models: list[str] | None) -> list[str]:
    """The models to run: `models` if given (validated), else config.json's list."""
    if not models:
        return list(cfg.models)
    unknown = sorted(set(models) - set(MODEL_NAMES))
    if unknown:
        raise InputError(f"--models: unknown model(s) {unknown}; known: {list(MODEL_NAMES)}")
    return list(dict.fromkeys(models))


def round_number(ws: Workspace, round_no: int | None) -> int:
    """Explicit round, else state.json's current round, else 1."""
    if round_no is not None:
        if round_no < 1:
            raise InputError(f"--round must be 1 or more, got {round_no}")
        return round_no
    return max(1, load_state(ws).round) if ws.state.exists() else 1


def _start(job: Job, ws: Workspace, frame_path: Path, quick: bool) -> None:
    cmd = [*WORKER, "--model", job.name, "--workdir", str(ws.root), "--frame", str(frame_path),
           "--out", str(job.out), "--draws", str(job.draws), "--parent", str(os.getpid()), *(["--quick"] if quick else []),
           *(["--warm", str(job.warm)] if job.warm else [])]
    with job.log.open("wb") as log:
        job.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=worker_env())
    job.started = time.perf_counter()


def _stop(job: Job) -> None:
    """Kill the worker's whole process group (a sampler may have started children)."""
    try:
        os.killpg(job.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    job.proc.wait()


def _failed(job: Job, reason: str) -> ModelResult:
    return ModelResult(status="failed", reason=reason, seconds=round(job.elapsed, 2))


def _log_end(log: Path) -> str:
    """The end of a worker's log (LOG_TAIL_BYTES), as text; empty when there is no log yet."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _last_log_line(log: Path) -> str:
    """The last line a worker printed (a progress bar redraws its line with \\r: the latest draw counts)."""
    lines = [ln.strip() for ln in _log_end(log).replace("\r", "\n").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _collect(job: Job) -> ModelResult:
    """The worker's result file, or a failure built from its exit code and the last line it printed."""
    code = job.proc.returncode
    if job.out.exists():
        try:
            return read_model(job.out, ModelResult)
        except InputError as exc:
            return _failed(job, f"unreadable result: {exc}")
    last = _last_log_line(job.log)
    how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return _failed(job, f"{how}: {last}" if last else how)


def _poll(job: Job) -> bool:
    """Finish the job if its process ended or its time ran out; True when it has a result."""
    if job.proc.poll() is not None:
        job.result = _collect(job)
        job.result.diagnostics["process_seconds"] = round(job.elapsed, 2)
    elif job.elapsed > job.timeout:
        _stop(job)
        job.result = _failed(job, f"timed out after {job.timeout} s")
    return job.result is not None


def _summed(latest: dict[str, tuple[int, int]]) -> tuple[int, int] | None:
    if not latest:
        return None
    return sum(d for d, _ in latest.values()), sum(t for _, t in latest.values())


def _bars(log: Path) -> dict[str, tuple[int, int]]:
    """Each progress bar's latest (done, total) in the worker's log tail (NumPyro's bars: warm-up and kept draws).

    Reading the tail costs a few microseconds a poll. NumPyro reports every 5 % of a chain's iterations when
    chains run side by side (one named bar per chain); chains run one after another step from Python with one
    unnamed bar at a time."""
    latest: dict[str, tuple[int, int]] = {}
    for m in BAR.finditer(_log_end(log)):
        key = m.group(1) if m.group(1).startswith("Running") else ONE_BAR
        latest[key] = (int(m.group(2)), int(m.group(3)))
    return latest


def chain_draws(job: Job) -> tuple[int, int] | None:
    """(draws done, draws in all) over all of the job's chains, None before the first report or for a model
    without one. Side by side, every chain has its own bar; one
    after another (a 1-core machine, or one XLA device), the one unnamed bar starts from 0 for each chain, so
    a bar that falls back means a chain ended: its draws are banked, and the total is the chains' count × one
    chain's (the bar showed 250 of 250 while the second chain still ran)."""
    latest = _bars(job.log)
    if list(latest) != [ONE_BAR]:
        return _summed(latest)
    done, total = latest[ONE_BAR]
    if job.drawn is not None and done < job.drawn[0] - job.banked:
        job.banked += total
    return job.banked + done, total * job.chains


def _status_text(job: Job) -> str:
    if job.result is None:
        if not job.proc:
            return "[dim]queued"
        return f"[cyan]sampling[/] {job.drawn[0]}/{job.drawn[1]} draws" if job.drawn else "[cyan]running"
    if job.result.status == "ok":
        return f"[green]ok[/] ({job.result.seconds:.1f} s fit)"
    return f"[red]{job.result.status}[/]: {escape(job.result.reason or '')}"


_JOB_WATCH: ContextVar[Callable[[dict[str, str]], None] | None] = ContextVar("job_watch", default=None)


@contextmanager
def watch_jobs(listener: Callable[[dict[str, str]], None]) -> Iterator[None]:
    """Tell `listener({model: status line})` how each model worker of the runs inside the block stands, at every
    poll (a running worker's line ends with the last line its sampler printed): `prism serve` shows it."""
    token = _JOB_WATCH.set(listener)
    try:
        yield
    finally:
        _JOB_WATCH.reset(token)


def _plain_status(job: Job) -> str:
    if job.result is None and job.proc is not None:
        tail = _last_log_line(job.log)[:120]
        return f"running {job.elapsed:.0f} s" + (f" · {tail}" if tail else "")
    return Text.from_markup(_status_text(job)).plain


def run_jobs(jobs: list[Job], ws: Workspace, frame_path: Path, quick: bool, parallel: bool,
             console: Console) -> None:
    """Run the workers (all at once, or one at a time) with a progress row per model: a bar with the time left
    for a sampler that reports its draws (`chain_draws`), the time so far for the others."""
    columns = (SpinnerColumn(), TextColumn("{task.description:<16}"), BarColumn(bar_width=20), TimeElapsedColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=console) as progress:
        rows = {j.name: progress.add_task(j.name, total=1, start=False, status=_status_text(j)) for j in jobs}
        pending, running = list(jobs), []
        try:
            while pending or running:
                while pending and (parallel or not running):
                    job = pending.pop(0)
                    _start(job, ws, frame_path, quick)
                    progress.start_task(rows[job.name])
                    running.append(job)
                for job in list(running):
                    if _poll(job):
                        running.remove(job)
                        progress.update(rows[job.name], completed=job.drawn[1] if job.drawn else 1)
                        progress.stop_task(rows[job.name])
                    else:
                        _show_draws(progress, rows[job.name], job)
                    progress.update(rows[job.name], status=_status_text(job))
                if (watch := _JOB_WATCH.get()) is not None:
                    watch({j.name: _plain_status(j) for j in jobs})
                time.sleep(POLL_SECONDS)
        finally:  # Ctrl-C or an error here must not leave model processes behind
            for job in running:
                _stop(job)


def _show_draws(progress: Progress, task: int, job: Job) -> None:
    """Move a sampling model's bar to its draws done (the bar's time left follows from their rate)."""
    job.drawn = chain_draws(job) or job.drawn
    if job.drawn:
        progress.update(task, completed=job.drawn[0], total=job.drawn[1])


def failed_run_path(ws: Workspace, round_no: int) -> Path:
    """Where a run in which no model succeeded is logged (the round's results are left as they were)."""
    return ws.round_file(round_no, "failed_run", "json")


def objective(models: dict[str, ModelResult]) -> float | None:
    """The tuning objective: mean out-of-sample MAPE (%) inside the training weeks of the models that report one
    (ridge: rolling-origin CV; pymc and lightweight_mmm: PSIS-LOO from their draws; MAP fits report none)."""
    scores = [m.fit.cv_mape for m in models.values() if m.status == "ok" and m.fit and m.fit.cv_mape is not None]
    return float(sum(scores) / len(scores)) if scores else None


def fit_table(res: Results) -> pd.DataFrame:
    rows = []
    for name, m in res.models.items():
        f = m.fit
        rows.append({"model": name, "r2": f.r2 if f else None, "mape_train": f.mape_train if f else None,
                     "mape_test": f.mape_test if f else None, "seconds": m.seconds, "status": m.status})
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def _uncalibrated(ws: Workspace, data: ModelData, cfg: Config, console: Console) -> dict[str, Uncalibrated]:
    """What the data alone say about each tested channel, so the report can show how far its test moved it.

    A secondary figure: when the refit fails, the round keeps its models' results and the report simply has
    no with/without line (the reason is printed, never hidden)."""
    tested = sorted({e.channel for _, e in experiments.used(ws)})
    if not tested:
        return {}
    try:
        return experiments.uncalibrated(data, cfg, tested)
    except Exception as exc:  # noqa: BLE001 - reported, and the round's real results are kept
        console.print(f"[yellow]no ROI without the lift tests this round[/]: {escape(failure_reason(exc))}")
        return {}


def run_models(ws: Workspace, round_no: int | None = None, models: list[str] | None = None,
               quick: bool = False, console: Console | None = None, parallel: bool = RUN_IN_PARALLEL,
               warm: dict[str, WarmStart] | None = None) -> Results:
    """Fit the models; write their draws (rounds/R{NN}_draws/), rounds/R{NN}_results.json, results/latest.json
    and results/model_fit.csv. The data is the workspace's weekly.parquet, never the raw source. `warm`: where
    a refresh starts each model (prism/models/warm.py).

    Only when at least one model ran: a run where every model failed (bad data, a crash) must not replace
    good results, so it is written to `rounds/R{NN}_failed_run.json` beside them instead.
    """
    console = console or Console(stderr=True)
    cfg, effective = workspace_config(ws)
    names = selected_models(cfg, models)
    n = round_number(ws, round_no)
    frame = read_weekly(ws, cfg, markets=True)
    data = model_data(frame, cfg)  # refuses a holdout that leaves too few training weeks
    check_identifiable(len(data.channels), data.n_train, data.y.shape[1] if data.y.ndim > 1 else 1)
    with tempfile.TemporaryDirectory(prefix=RUN_DIR_PREFIX) as tmp:
        frame_path = Path(tmp) / "weekly.parquet"
        frame.to_parquet(frame_path)
        jobs = [Job(name, cfg.timeouts.get(name, DEFAULT_TIMEOUT_S), Path(tmp) / f"{name}.json",
                    Path(tmp) / f"{name}.log", ws.draws_path(n, name),
                    chains=getattr(getattr(cfg, name, None), "chains", 1)) for name in names]
        for job in jobs:
            if warm and job.name in warm:
                job.warm = Path(tmp) / f"{job.name}_warm.json"
                write_json(job.warm, warm[job.name])
        run_jobs(jobs, ws, frame_path, quick, parallel, console)
    results = {j.name: j.result for j in jobs}
    for name in cfg.models:
        results.setdefault(name, ModelResult(status="skipped", reason="not selected with --models", quick=quick))
    res = Results(
        round=n, data_hash=frame_hash(frame), config_hash=config_hash(effective),
        created_at=datetime.now(timezone.utc),
        kpi=cfg.data.kpi, channels=list(cfg.data.channels), weeks=data.n_weeks, train_weeks=data.n_train,
        holdout_weeks=data.n_test, markets=list(data.markets) if isinstance(data, PanelData) else [], quick=quick, objective=objective(results), models=results,
    )
    if not res.ok_models():
        write_json(failed_run_path(ws, n), res)
        return res
    res.uncalibrated = _uncalibrated(ws, data, effective, console)
    for name, result in results.items():  # draws on disk always belong to this round's ok models
        if result.status != "ok":
            ws.draws_path(n, name).unlink(missing_ok=True)
    write_together({ws.round_results(n): json_bytes(res), ws.latest: json_bytes(res),  # all three or none
                    ws.result("model_fit.csv"): csv_bytes(fit_table(res))})
    write_manifest(ws, res, cfg, data.dates)
    return res
