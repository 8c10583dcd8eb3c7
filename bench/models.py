"""Model speed, convergence and accuracy: prints one table.

Speed rows fit each model on the bundled brand (132 weeks × 8 channels, KPI revenue) with the default
config; pymc is also timed with the other NUTS backends (numpyro, nutpie, PyMC's own sampler = the reference).
Accuracy rows fit each model on the simulator with known truth and report the median absolute ROI error
against `Simulation.true_roi(training weeks)` and the share of channels whose 90 % interval covers the
truth. Every fit runs in its own process (as `prism run` does), so JAX starts fresh each time; seconds
are fit + shared summary inside that process. The machine's load average is printed with the table.

The wide shape (209 weeks × 10 channels × 50 controls: the simulator's 10 continuous controls plus 40
generated 0/1 dummies, each on in one week of the year like a holiday flag and without effect on the KPI)
times the three-model round a retailer's file asks for; its target is 180 s for the round on an idle 2-core
machine. Each row also gives the fit process's CPU seconds (user + system, imports and compilation included) and
the 1-minute load average when it ended: on the shared machine the wall seconds grow with other people's load,
the CPU seconds do not. The NumPyro fits keep their compiled programs in JAX's persistent cache
(posterior.keep_compiled_programs), so a second run costs less than the first: `--cold` times a first round.
`prism run` starts the three models side by side, so on an idle 2-core machine the round takes about the sum
of their CPU seconds ÷ 2 (every Bayesian fit runs its 2 chains on the 2 cores).

The panel shape (`--panel`, or `--panel-only`: 40 markets × 104 weeks × 6 channels from the panel simulator,
one channel regional) times each model's panel fit (`fit_panel`) and the three-model round a regional file
asks for: target 300 s (CPU seconds ÷ 2 on 2 cores) and a peak memory under 6 GB per fit (peak RSS of the fit
process; the three run side by side, so the round's peak is at most their sum).

    .venv/bin/python bench/models.py [--skip-samplers] [--sim-weeks 208] [--wide-only] [--cold] [--models pymc ...]
                                     [--panel | --panel-only]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "prism" / "sample_data" / "conjura_apparel_brand_weekly.csv"
SIM_CHANNELS = 5
SIM_SEED = 0
TARGETS = {"ridge": 10.0, "pymc": 60.0, "lightweight_mmm": 45.0}
WIDE_WEEKS, WIDE_CHANNELS, WIDE_CONTROLS, WIDE_DUMMIES = 209, 10, 10, 40
WIDE_ROUND_TARGET = 180.0
PANEL_MARKETS, PANEL_WEEKS, PANEL_CHANNELS = 40, 104, 6
PANEL_ROUND_TARGET, PANEL_RSS_TARGET_MB = 300.0, 6144.0
MODELS = ("ridge", "pymc", "lightweight_mmm")
SPAWN_TIMEOUT = 900  # the config's default model timeout


def wide_frame():
    """(frame, Simulation): the simulator's 10 × 10-control table plus 40 recurring 0/1 dummy controls."""
    import numpy as np

    from prism.data.simulate import simulate

    sim = simulate(weeks=WIDE_WEEKS, n_channels=WIDE_CHANNELS, n_controls=WIDE_CONTROLS, seed=SIM_SEED)
    rng = np.random.default_rng(SIM_SEED)
    week_of_year = np.arange(WIDE_WEEKS) % 52
    dummies = {f"hldy_{i + 1}": (week_of_year == w).astype(float)
               for i, w in enumerate(rng.choice(52, size=WIDE_DUMMIES, replace=False))}
    return sim.frame.assign(**dummies), sim


def _dataset(name: str, sim_weeks: int):
    """(ModelData, Config, truth or None) for 'brand' or 'sim'."""
    import pandas as pd

    from prism.data.simulate import simulate
    from prism.models.base import ModelData
    from prism.schemas import Config

    if name == "brand":
        frame = pd.read_csv(SAMPLE, parse_dates=["date"])
        channels = [c for c in frame.columns if c.startswith(("google_", "meta_"))]
        cfg = Config.model_validate({"data": {"path": str(SAMPLE), "date_column": "date", "kpi": "revenue",
                                              "channels": channels}})
        return ModelData.from_frame(frame, cfg), cfg, None
    if name == "wide":
        frame, sim = wide_frame()
        controls = [c for c in frame.columns if c not in (*sim.channels, sim.kpi, "date")]
        cfg = Config.model_validate({"data": {"path": "wide.csv", "date_column": "date", "kpi": sim.kpi,
                                              "channels": sim.channels, "controls": controls}})
        data = ModelData.from_frame(frame.assign(date=pd.to_datetime(frame["date"])), cfg)
        return data, cfg, sim.true_roi(slice(0, data.n_train))
    sim = simulate(weeks=sim_weeks, n_channels=SIM_CHANNELS, seed=SIM_SEED)
    cfg = Config.model_validate({"data": {"path": "sim.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls}})
    data = ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg)
    return data, cfg, sim.true_roi(slice(0, data.n_train))


def _panel():
    """(PanelData, Config, national truth) of the 40-market panel."""
    from prism.data.simulate_panel import MARKET_COLUMN, simulate_panel
    from prism.models.panel import PanelData
    from prism.schemas import Config

    sim = simulate_panel(n_markets=PANEL_MARKETS, weeks=PANEL_WEEKS, n_channels=PANEL_CHANNELS, seed=SIM_SEED)
    cfg = Config.model_validate({"data": {"path": "panel.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls,
                                          "market_column": MARKET_COLUMN}})
    data = PanelData.from_frame(sim.frame, cfg)
    return data, cfg, sim.national_roi(slice(0, data.n_train))


def run_one(model: str, dataset: str, sampler: str | None, sim_weeks: int, draws: int = 0) -> dict:
    """Fit one model in this process and return its figures (`draws` > 0: the Bayesian models' kept draws)."""
    import resource

    import numpy as np

    from prism.models.base import summarize
    from prism.models.panel import summarize_panel
    from prism.models.registry import load, panel_fit

    data, cfg, truth = _panel() if dataset == "panel" else _dataset(dataset, sim_weeks)
    if sampler:
        cfg.pymc.sampler = sampler
    if draws:
        cfg.pymc.draws = cfg.lightweight_mmm.samples = draws
    started = time.perf_counter()
    if dataset == "panel":
        result = summarize_panel(panel_fit(model)(data, cfg), data, time.perf_counter() - started, False)
    else:
        result = summarize(load(model).fit(data, cfg), data, time.perf_counter() - started, False)
    seconds = time.perf_counter() - started
    row = {"seconds": seconds, "cpu_seconds": cpu_seconds(), "engine": result.engine,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
           **{k: result.diagnostics.get(k) for k in ("rhat_max", "ess_bulk_min", "divergences")}}
    if truth:
        err = [abs(result.channels[c].roi - t) / t for c, t in truth.items()]
        cover = [result.channels[c].roi_low <= t <= result.channels[c].roi_high for c, t in truth.items()]
        row |= {"median_err_pct": 100 * float(np.median(err)), "coverage": f"{sum(cover)}/{len(cover)}"}
    return row


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its children so far: what the fit cost, whatever the load."""
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def spawn(model: str, dataset: str, sampler: str | None, sim_weeks: int, draws: int = 0) -> dict:
    """Fit in a fresh process started like `prism run`'s workers (same environment: one BLAS thread)."""
    from prism.models.worker import worker_env

    cmd = [sys.executable, __file__, "--one", model, dataset, sampler or "", str(sim_weeks), str(draws)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=SPAWN_TIMEOUT, env=worker_env())
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {SPAWN_TIMEOUT} s"}
    if proc.returncode:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--skip-samplers", action="store_true", help="skip the nutpie and PyMC-sampler rows")
    parser.add_argument("--sim-weeks", type=int, default=208)
    parser.add_argument("--wide-only", action="store_true", help="only the 209 × 10 × 50-control round")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                        help="time only these models (the round rows then read 'incomplete')")
    parser.add_argument("--cold", action="store_true",
                        help="fits start with empty JAX and PyTensor (numba) compile caches: a first round's cost")
    parser.add_argument("--panel", action="store_true", help="also time the 40 × 104 × 6 panel round")
    parser.add_argument("--panel-only", action="store_true", help="only the 40 × 104 × 6 panel round")
    parser.add_argument("--wide-draws", type=int, default=0,
                        help="also time the wide round's Bayesian models with this many draws (fewer but sufficient?)")
    args = parser.parse_args()
    if args.one:
        model, dataset, sampler, weeks, draws = args.one
        print(json.dumps(run_one(model, dataset, sampler or None, int(weeks), int(draws))))
        return

    sys.path.insert(0, str(ROOT))
    from bench._caches import empty_compile_caches
    from bench._table import bench_table, show
    from prism.schemas import PymcConfig

    default_sampler = PymcConfig().sampler
    if args.cold:
        empty_compile_caches()

    national = not (args.wide_only or args.panel_only)
    jobs = [(m, "brand", None, 0) for m in MODELS] if national else []
    if not args.skip_samplers and national:
        jobs += [("pymc", "brand", s, 0) for s in ("numpyro", "nutpie", "pymc") if s != default_sampler]
    if national:
        jobs += [(m, "sim", None, 0) for m in MODELS]
    if not args.panel_only:
        jobs += [(m, "wide", None, 0) for m in MODELS]
    if args.panel or args.panel_only:
        jobs += [(m, "panel", None, 0) for m in MODELS]
    if args.wide_draws:
        jobs += [(m, "wide", None, args.wide_draws) for m in MODELS if m != "ridge"]
    jobs = [job for job in jobs if job[0] in args.models]
    load_before = os.getloadavg()
    table = bench_table(f"Prism models — brand 132×8, simulator {args.sim_weeks}×{SIM_CHANNELS} (seed {SIM_SEED}), "
                        f"wide {WIDE_WEEKS}×{WIDE_CHANNELS}×{WIDE_CONTROLS + WIDE_DUMMIES} controls, "
                        f"panel {PANEL_MARKETS} markets × {PANEL_WEEKS} weeks × {PANEL_CHANNELS} channels",
                        ("model", "data", "sampler", "seconds", "CPU s", "peak RSS MB", "load", "target s", "r̂ max",
                         "ESS bulk min", "divergences", "median |ROI err| %", "90 % coverage"), ("model", "data", "sampler"))
    rounds: dict[str, list[tuple[float, float, float]]] = {"wide": [], "panel": []}  # (wall, CPU s, RSS MB) per fit
    for model, dataset, sampler, draws in jobs:
        row = spawn(model, dataset, sampler, args.sim_weeks, draws)
        label = (sampler or (default_sampler if model == "pymc" else "")) + (f", {draws} draws" if draws else "")
        if "error" in row:
            table.add_row(model, dataset, label, "failed", "", "", "", "", "", "", "", row["error"][:60], "")
            continue
        fmt = lambda v, f: "" if v is None else format(v, f)  # noqa: E731
        if dataset in rounds and not draws:
            rounds[dataset].append((row["seconds"], row["cpu_seconds"], row["peak_rss_mb"]))
        table.add_row(model, dataset, label, f"{row['seconds']:.1f}", f"{row['cpu_seconds']:.1f}",
                      f"{row['peak_rss_mb']:.0f}", f"{os.getloadavg()[0]:.1f}",
                      fmt(TARGETS[model], ".0f") if dataset == "brand" and not sampler else "",
                      fmt(row["rhat_max"], ".3f"), fmt(row["ess_bulk_min"], ".0f"), fmt(row["divergences"], "d"),
                      fmt(row.get("median_err_pct"), ".1f"), row.get("coverage", ""))
        print(f"done {model} {dataset} {label}: {row}", file=sys.stderr, flush=True)
    for dataset, target in (("wide", WIDE_ROUND_TARGET), ("panel", PANEL_ROUND_TARGET)):
        if not rounds[dataset]:
            continue
        complete = len(rounds[dataset]) == len(MODELS)
        wall, cpu, rss = (sum(x) for x in zip(*rounds[dataset]))
        table.add_row("round (sum)", dataset, "", f"{wall:.1f}" if complete else "incomplete", f"{cpu:.1f}",
                      f"{rss:.0f}", "", "", "", "", "", "", "")
        table.add_row("round, idle 2 cores", dataset, "CPU s ÷ 2", f"{cpu / 2:.1f}" if complete else "incomplete",
                      "", f"< {PANEL_RSS_TARGET_MB:.0f}" if dataset == "panel" else "", "", f"{target:.0f}", "", "", "",
                      "", "")
    cache = "empty (--cold)" if args.cold else "the user's (warm after a first run)"
    show(table, f"load average (1, 5, 15 min) before {load_before}; JAX compilation cache: {cache}", width=170)


if __name__ == "__main__":
    main()
