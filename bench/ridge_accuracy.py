"""Ridge accuracy against known truth: prints one table.

Rows: the clean simulator (208 weeks × 5 channels, 4 % noise) per seed and on average — median |ROI
error| over the training weeks, the share of channels whose 90 % interval covers the true ROI and the
mean interval width ÷ the true ROI; the
retail-like case (209 weeks × 10 channels × 50 controls, most of them 0/1 dummies, ROIs 3–20, see
tests/retail_like.py) per seed — the share of channels at ROI ≈ 0, the median error and whether the
three largest true-ROI channels come out clearly positive; and the bundled brand (132 × 8) for speed.
Seconds are ridge.fit + the shared summary with the default config (200 resamples). The seed lists
are fixed here and differ from every seed the tests use.

    .venv/bin/python bench/ridge_accuracy.py [--jobs N]
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # one thread per fit: on a shared
    os.environ.setdefault(_var, "1")  # 2-core machine, threaded SVDs thrashed and took 3× longer
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prism.data.simulate import simulate  # noqa: E402
from prism.models import ridge  # noqa: E402
from prism.models.base import ModelData, summarize  # noqa: E402
from prism.schemas import Config  # noqa: E402
from prism.models.pool import process_pool
from tests.retail_like import retail_like  # noqa: E402

SAMPLE = ROOT / "prism" / "sample_data" / "conjura_apparel_brand_weekly.csv"
CLEAN_SEEDS = (101, 102, 103, 104, 105, 106, 107, 108)
RETAIL_SEEDS = (201, 202, 203)
CLEAN_WEEKS, CLEAN_CHANNELS, CLEAN_NOISE = 208, 5, 0.04
ZERO_ROI_SHARE = 0.05  # "≈ 0": below 5 % of the channel's true ROI
TOP_CHANNELS = 3
TARGET_ERROR_PCT, TARGET_SECONDS = 20.0, 10.0


def _config(frame: pd.DataFrame, kpi: str, channels: list[str], controls: list[str]) -> Config:
    return Config.model_validate({"data": {"path": "bench.csv", "date_column": "date", "kpi": kpi,
                                           "channels": channels, "controls": controls}})


def _fit(frame: pd.DataFrame, cfg: Config):
    data = ModelData.from_frame(frame.assign(date=pd.to_datetime(frame["date"])), cfg)
    started = time.perf_counter()
    fitted = ridge.fit(data, cfg)
    result = summarize(fitted, data, time.perf_counter() - started, False)
    return data, fitted, result, time.perf_counter() - started


def _scores(result, truth: dict[str, float]) -> dict:
    roi = np.array([result.channels[c].roi for c in truth])
    true = np.array(list(truth.values()))
    covered = [result.channels[c].roi_low <= t <= result.channels[c].roi_high for c, t in truth.items()]
    width = [(result.channels[c].roi_high - result.channels[c].roi_low) / t for c, t in truth.items()]
    top = np.argsort(true)[-TOP_CHANNELS:]
    return {"err": 100 * float(np.median(np.abs(roi - true) / true)), "cover": float(np.mean(covered)),
            "width": float(np.mean(width)),
            "zero": float(np.mean(roi < ZERO_ROI_SHARE * true)),
            "top_positive": bool(np.all(roi[top] > 0.25 * true[top]))}


def run_case(case: tuple[str, int]) -> dict:
    """Fit one dataset ('clean', 'retail' or 'brand') and return its row."""
    kind, seed = case
    if kind == "brand":
        frame = pd.read_csv(SAMPLE)
        channels = [c for c in frame.columns if c.startswith(("google_", "meta_"))]
        _, fitted, _, seconds = _fit(frame, _config(frame, "revenue", channels, []))
        return {"kind": kind, "seed": "", "seconds": seconds, "alpha": fitted.diagnostics["alpha"]}
    if kind == "clean":
        sim = simulate(weeks=CLEAN_WEEKS, n_channels=CLEAN_CHANNELS, seed=seed, noise=CLEAN_NOISE)
        frame, cfg = sim.frame, _config(sim.frame, sim.kpi, sim.channels, sim.controls)
    else:
        sim = retail_like(seed)
        frame, cfg = sim.frame, _config(sim.frame, sim.kpi, sim.channels, sim.controls)
    data, fitted, result, seconds = _fit(frame, cfg)
    truth = sim.true_roi(slice(0, data.n_train)) if kind == "clean" else sim.true_roi(data.n_train)
    return {"kind": kind, "seed": seed, "seconds": seconds, "alpha": fitted.diagnostics["alpha"],
            **_scores(result, truth)}


def _table(rows: list[dict]):
    from rich.table import Table

    table = Table(title=f"Ridge vs known truth — clean {CLEAN_WEEKS}×{CLEAN_CHANNELS} ({CLEAN_NOISE:.0%} noise), "
                        "retail-like 209×10×50, bundled 132×8")
    for col in ("data", "seed", "median |ROI err| %", "90 % coverage", "mean rel. width", "channels at ROI≈0",
                "top-3 positive",
                "alpha", "seconds"):
        table.add_column(col, justify="left" if col in ("data", "seed") else "right")
    fmt = lambda r, k, f: format(r[k], f) if k in r else ""  # noqa: E731
    for kind in ("clean", "retail", "brand"):
        part = [r for r in rows if r["kind"] == kind]
        for r in part:
            table.add_row(kind, str(r["seed"]), fmt(r, "err", ".1f"), fmt(r, "cover", ".0%"), fmt(r, "width", ".2f"),
                          fmt(r, "zero", ".0%"),
                          {True: "yes", False: "NO"}.get(r.get("top_positive"), ""), f"{r['alpha']:.3g}",
                          f"{r['seconds']:.1f}")
        if len(part) > 1:
            mean = lambda k: float(np.mean([r[k] for r in part]))  # noqa: E731
            target = f" (≤ {TARGET_ERROR_PCT:.0f})" if kind == "clean" else ""
            table.add_row(f"[b]{kind} mean[/b]", f"{len(part)} seeds", f"{mean('err'):.1f}{target}",
                          f"{mean('cover'):.0%}", f"{mean('width'):.2f}", f"{mean('zero'):.0%}",
                          f"{sum(r['top_positive'] for r in part)}/{len(part)}", "", f"{mean('seconds'):.1f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="fits in parallel (timings are per fit)")
    args = parser.parse_args()
    from rich.console import Console

    cases = [("clean", s) for s in CLEAN_SEEDS] + [("retail", s) for s in RETAIL_SEEDS] + [("brand", 0)]
    load_before = os.getloadavg()
    with process_pool(args.jobs) as pool:
        rows = list(pool.map(run_case, cases))
    console = Console(width=150)
    console.print(_table(rows))
    console.print(f"targets: clean median |ROI error| ≤ {TARGET_ERROR_PCT:.0f} %, brand ≤ {TARGET_SECONDS:.0f} s. "
                  f"load average before {load_before}, after {os.getloadavg()}; {os.cpu_count()} CPUs, "
                  f"{args.jobs} job(s)")


if __name__ == "__main__":
    main()
