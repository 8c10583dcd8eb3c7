"""Model speed, convergence and accuracy: prints one table.

Speed rows fit each model on the bundled brand (132 weeks × 8 channels, KPI revenue) with the default
config; pymc is also timed with the other NUTS backends (numpyro, nutpie, PyMC's own sampler = the reference).
Accuracy rows fit each model on the simulator with known truth and report the median absolute ROI error
against `Simulation.true_roi(training weeks)` and the share of channels whose 90 % interval covers the
truth. Every fit runs in its own process (as `prism run` does), so JAX starts fresh each time; seconds
are fit + shared summary inside that process. The machine's load average is printed with the table.

    .venv/bin/python bench/models.py [--skip-samplers] [--sim-weeks 208]
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
    sim = simulate(weeks=sim_weeks, n_channels=SIM_CHANNELS, seed=SIM_SEED)
    cfg = Config.model_validate({"data": {"path": "sim.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls}})
    data = ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg)
    return data, cfg, sim.true_roi(slice(0, data.n_train))


def run_one(model: str, dataset: str, sampler: str | None, sim_weeks: int) -> dict:
    """Fit one model in this process and return its figures."""
    import numpy as np

    from prism.models.base import summarize
    from prism.models.registry import load

    data, cfg, truth = _dataset(dataset, sim_weeks)
    if sampler:
        cfg.pymc.sampler = sampler
    started = time.perf_counter()
    fitted = load(model).fit(data, cfg)
    result = summarize(fitted, data, time.perf_counter() - started, False)
    seconds = time.perf_counter() - started
    row = {"seconds": seconds, "engine": result.engine, **{k: result.diagnostics.get(k) for k in
                                                          ("rhat_max", "ess_bulk_min", "divergences")}}
    if truth:
        err = [abs(result.channels[c].roi - t) / t for c, t in truth.items()]
        cover = [result.channels[c].roi_low <= t <= result.channels[c].roi_high for c, t in truth.items()]
        row |= {"median_err_pct": 100 * float(np.median(err)), "coverage": f"{sum(cover)}/{len(cover)}"}
    return row


def spawn(model: str, dataset: str, sampler: str | None, sim_weeks: int) -> dict:
    cmd = [sys.executable, __file__, "--one", model, dataset, sampler or "", str(sim_weeks)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--skip-samplers", action="store_true", help="skip the nutpie and PyMC-sampler rows")
    parser.add_argument("--sim-weeks", type=int, default=208)
    args = parser.parse_args()
    if args.one:
        model, dataset, sampler, weeks = args.one
        print(json.dumps(run_one(model, dataset, sampler or None, int(weeks))))
        return

    from rich.console import Console
    from rich.table import Table

    from prism.schemas import PymcConfig

    default_sampler = PymcConfig().sampler

    jobs = [("ridge", "brand", None), ("pymc", "brand", None), ("lightweight_mmm", "brand", None)]
    if not args.skip_samplers:
        jobs += [("pymc", "brand", s) for s in ("numpyro", "nutpie", "pymc") if s != default_sampler]
    jobs += [("ridge", "sim", None), ("pymc", "sim", None), ("lightweight_mmm", "sim", None)]
    load_before = os.getloadavg()
    table = Table(title=f"Prism models — brand 132×8 and simulator {args.sim_weeks}×{SIM_CHANNELS} (seed {SIM_SEED})")
    for col in ("model", "data", "sampler", "seconds", "target s", "r̂ max", "ESS bulk min", "divergences",
                "median |ROI err| %", "90 % coverage"):
        table.add_column(col, justify="left" if col in ("model", "data", "sampler") else "right")
    for model, dataset, sampler in jobs:
        row = spawn(model, dataset, sampler, args.sim_weeks)
        label = sampler or (default_sampler if model == "pymc" else "")
        if "error" in row:
            table.add_row(model, dataset, label, "failed", "", "", "", "", row["error"][:60], "")
            continue
        fmt = lambda v, f: "" if v is None else format(v, f)  # noqa: E731
        table.add_row(model, dataset, label, f"{row['seconds']:.1f}",
                      fmt(TARGETS[model], ".0f") if dataset == "brand" and not sampler else "",
                      fmt(row["rhat_max"], ".3f"), fmt(row["ess_bulk_min"], ".0f"), fmt(row["divergences"], "d"),
                      fmt(row.get("median_err_pct"), ".1f"), row.get("coverage", ""))
        print(f"done {model} {dataset} {label}: {row}", file=sys.stderr, flush=True)
    console = Console(width=170)
    console.print(table)
    console.print(f"load average (1, 5, 15 min): before {load_before}, after {os.getloadavg()}; "
                  f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
