"""Each model's ROI error against known truth on clean and on realistic data, side by side: prints one table.

A change that helps on messy data can cost accuracy where the data speak clearly (issue 21, item 14: the ROI
prior's media share, the centred trend and the sampler settings were all chosen on realistic cases), so both
kinds are read in one table, per model:

- clean (fitted here): `simulate(208 weeks, 5 channels, 2 % noise)` at the simulator's default media share
  (35 %), on CLEAN_SEEDS;
- retail (fitted here, `--kinds retail`): `tests/retail_like.py` (209 weeks × 10 channels × 50 controls,
  media 20 %) on RETAIL_SEEDS;
- realistic (read, not fitted): the calibration bench's rows (bench/calibration_rows.csv: `realistic_case`
  datasets with unmodelled promotions, tiny and always-on channels, collinear pairs, 52–260 weeks, 2–10 %
  noise, media 15–45 %), so the messy figure is the one the confidence label is calibrated on, at the
  settings those rows were fitted with (the table says how many fits met the convergence gate).

The seed lists are this bench's own (no test and no other bench uses them). Each fit runs at the default
config in a fresh process with one BLAS thread, as `prism run`'s workers do; its rows (one per channel: truth,
estimate, 90 % interval, convergence) are merged into `--rows` as it ends, so `--resume` continues a partial
run and `--rows-only` reprints the table. The figure is the median |ROI error| over all channels of a kind
(training weeks, as Prism's ROI), with the 90 % interval's coverage and how many fits met the convergence gate.

    .venv/bin/python bench/clean_accuracy.py [--jobs 2] [--kinds clean retail] [--models pymc ...] [--resume]
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._table import bench_table, show  # noqa: E402
from bench.calibration import OK, merge_rows, read_rows  # noqa: E402
from prism.schemas import CONVERGENCE, MODEL_NAMES, Config  # noqa: E402
from prism.workspace import write_csv  # noqa: E402

CLEAN_SEEDS = (501, 502, 503, 504, 505, 506)
RETAIL_SEEDS = (521,)
CLEAN_WEEKS, CLEAN_CHANNELS, CLEAN_NOISE = 208, 5, 0.02
TARGET_CLEAN_ERROR = 0.20
FITTED = ("clean", "retail")
KINDS = ("clean", "realistic", "retail")
ROWS = ROOT / "bench" / "clean_accuracy_rows.csv"
KEY = ["kind", "seed", "model"]


def dataset(kind: str, seed: int):
    """(weekly frame with datetime dates, Config at the defaults, truth over the training weeks: channel → ROI)."""
    from prism.data.simulate import simulate
    from prism.models.base import holdout_weeks
    from tests.retail_like import retail_like

    if kind == "clean":
        sim = simulate(weeks=CLEAN_WEEKS, n_channels=CLEAN_CHANNELS, seed=seed, noise=CLEAN_NOISE)
    elif kind == "retail":
        sim = retail_like(seed)
    else:
        raise ValueError(f"unknown kind '{kind}'; fitted here: {list(FITTED)}")
    cfg = Config.model_validate({"data": {"path": "bench.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls}})
    train = len(sim.frame) - holdout_weeks(len(sim.frame), cfg)
    truth = sim.true_roi(train) if kind == "retail" else sim.true_roi(slice(0, train))
    return sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg, truth


def realistic_rows() -> pd.DataFrame:
    """The calibration bench's fitted rows (realistic_case datasets) in this bench's columns."""
    rows = read_rows()
    rows = rows[rows["status"] == OK]
    return rows.assign(kind="realistic")[[*KEY, "channel", "true_roi", "roi", "roi_low", "roi_high", "converged",
                                          "seconds"]]


def fit_case(kind: str, seed: int, model: str) -> list[dict]:
    """Fit one model on one dataset in this (fresh) process; one row per channel."""
    from prism.models.worker import run_one

    frame, cfg, truth = dataset(kind, seed)
    started = time.perf_counter()
    result, _ = run_one(model, frame, cfg, quick=False)
    seconds = time.perf_counter() - started
    converged = CONVERGENCE.converged(result.diagnostics)  # the Bayesian gate (ridge has no chains: n/a)
    return [{"kind": kind, "seed": seed, "model": model, "channel": ch, "true_roi": true,
             "roi": result.channels[ch].roi, "roi_low": result.channels[ch].roi_low,
             "roi_high": result.channels[ch].roi_high, "converged": converged, "seconds": round(seconds, 1)}
            for ch, true in truth.items()]


def run_fits(tasks: list[tuple[str, int, str]], jobs: int, path: Path) -> None:
    """Fit every (kind, seed, model) in its own process; merge each fit's rows into `path` as it ends."""
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        futures = {pool.submit(fit_case, *task): task for task in tasks}
        for done, fut in enumerate(as_completed(futures), 1):
            rows = pd.DataFrame(fut.result())
            old = pd.read_csv(path) if path.exists() else pd.DataFrame()
            write_csv(path, merge_rows(old, rows, KEY))
            print(f"[{done}/{len(tasks)}] {futures[fut]}: {rows['seconds'].iloc[0]} s", file=sys.stderr, flush=True)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model and kind: datasets, converged fits, channels, median |ROI error|, 90 % coverage."""
    rows = rows.assign(error=(rows["roi"] - rows["true_roi"]).abs() / rows["true_roi"].abs(),
                       covered=(rows["roi_low"] <= rows["true_roi"]) & (rows["true_roi"] <= rows["roi_high"]))
    fits = rows.drop_duplicates(KEY)
    out = rows.groupby(["model", "kind"]).agg(channels=("error", "size"), error=("error", "median"),
                                              coverage=("covered", "mean"))
    out["datasets"] = fits.groupby(["model", "kind"]).size()
    out["converged"] = fits.groupby(["model", "kind"])["converged"].sum()
    return out


def table(rows: pd.DataFrame, title: str):
    """One row per model; per kind: median |ROI error| %, coverage and converged fits of datasets."""
    stats = summary(rows)
    kinds = [k for k in KINDS if k in stats.index.get_level_values("kind")]
    cols = ["model"] + [f"{k} {what}" for k in kinds for what in ("median |ROI err| %", "90 % cov.", "converged")]
    out = bench_table(title, cols, ["model"])
    for model in [m for m in MODEL_NAMES if m in stats.index.get_level_values("model")]:
        cells = []
        for kind in kinds:
            if (model, kind) not in stats.index:
                cells += ["", "", ""]
                continue
            s = stats.loc[(model, kind)]
            target = f" (≤ {TARGET_CLEAN_ERROR:.0%})" if kind == "clean" else ""
            gate = "n/a" if model == "ridge" else f"{int(s.converged)}/{int(s.datasets)}"
            cells += [f"{100 * s.error:.1f}{target}", f"{s.coverage:.0%}", gate]
        out.add_row(model, *cells)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="fits in parallel (each in its own process)")
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--kinds", nargs="+", choices=FITTED, default=list(FITTED),
                        help="what to fit here (the realistic figures are read from bench/calibration_rows.csv)")
    parser.add_argument("--rows", type=Path, default=ROWS, help="the rows file (default bench/clean_accuracy_rows.csv)")
    parser.add_argument("--resume", action="store_true", help="skip the fits the rows already have")
    parser.add_argument("--rows-only", action="store_true", help="print the table from the saved rows")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    seeds = {"clean": CLEAN_SEEDS, "retail": RETAIL_SEEDS}
    tasks = [(k, s, m) for k in args.kinds for s in seeds[k] for m in args.models]
    load = os.getloadavg()
    if not args.rows_only:
        if args.resume and args.rows.exists():
            done = set(map(tuple, pd.read_csv(args.rows)[KEY].drop_duplicates().to_numpy().tolist()))
            tasks = [t for t in tasks if t not in done]
        run_fits(tasks, args.jobs, args.rows)
    fitted = pd.read_csv(args.rows) if args.rows.exists() else pd.DataFrame(columns=KEY)
    rows = pd.concat([fitted, realistic_rows()], ignore_index=True)
    rows = rows[rows["model"].isin(args.models)]
    title = (f"ROI error vs known truth — clean {CLEAN_WEEKS}×{CLEAN_CHANNELS} ({CLEAN_NOISE:.0%} noise, seeds "
             f"{CLEAN_SEEDS[0]}–{CLEAN_SEEDS[-1]}), realistic_case (bench/calibration_rows.csv), "
             f"retail-like {', '.join(map(str, RETAIL_SEEDS))}")
    show(table(rows, title), f"default config; load average before {load}, {args.jobs} job(s)", width=170)

if __name__ == "__main__":
    main()
