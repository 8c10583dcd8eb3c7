"""Recoverability audit speed and verdicts at the demo's shape (132 weeks × 8 channels): prints one table.

Data: `--data brand` is the bundled brand; `--data sim` (default) the simulator at 132 × 8 with mixed
flighting, one tiny always-on channel and the true ROI beside each verdict. Fits ridge once with the
default config (the source world), then times `recover` with K = 20 synthetic series refitted in
parallel processes (ridge, quick mode). Target: ≤ 60 s for K = 20 on 132 × 8.

    .venv/bin/python bench/audit.py [--k 20] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ridge_accuracy import SAMPLE, _config, _fit  # noqa: E402
from prism.analysis import audit  # noqa: E402
from prism.data.simulate import simulate  # noqa: E402

TARGET_SECONDS = 60.0
SIM_SEED = 401  # not a test seed
SIM_FLIGHTING = ("onoff", "wave", "bursty", "wave", "onoff", "steady", "wave", "steady")  # the last one tiny


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=audit.DEFAULT_K)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data", choices=("sim", "brand"), default="sim")
    args = parser.parse_args()
    from bench._table import bench_table, show

    if args.data == "brand":
        frame, truth = pd.read_csv(SAMPLE), {}
        channels, kpi, controls = [c for c in frame.columns if c.startswith(("google_", "meta_"))], "revenue", []
    else:
        sim = simulate(weeks=132, n_channels=8, seed=SIM_SEED, flighting=SIM_FLIGHTING, tiny_channels=1)
        frame, channels, kpi, controls = sim.frame, sim.channels, sim.kpi, sim.controls
    cfg = _config(frame, kpi, channels, controls)
    data, _, result, fit_seconds = _fit(frame, cfg)
    truth = sim.true_roi(slice(0, data.n_train)) if args.data == "sim" else {}
    world = audit.build_world(data, result.weekly, {c: r.roi for c, r in result.channels.items()})
    started = time.perf_counter()
    table = audit.recover(world, cfg, args.k, jobs=args.jobs)
    seconds = time.perf_counter() - started
    out = bench_table(f"Recoverability audit — {args.data} {data.n_weeks}×{len(channels)}, K = {args.k}, "
                      f"{args.jobs} process(es)",
                      ("channel", "flighting", "true ROI", "fitted ROI", "recovery error %", "bias %", "90 % coverage",
                       "verdict"), ("channel", "verdict"))
    for r in table.itertuples():
        kind = SIM_FLIGHTING[channels.index(r.channel)] if truth else ""
        true = f"{truth[r.channel]:.2f}" if truth else ""
        out.add_row(r.channel, kind, true, f"{result.channels[r.channel].roi:.2f}", f"{r.recovery_error_pct:.1f}",
                    f"{r.bias_pct:.1f}", f"{r.coverage:.0%}", r.verdict)
    show(out, f"audit {seconds:.1f} s (target ≤ {TARGET_SECONDS:.0f} s); source ridge fit {fit_seconds:.1f} s",
         width=150)


if __name__ == "__main__":
    main()
