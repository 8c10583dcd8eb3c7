"""Google Meridian beside Prism's three panel fits, on the same simulated panels with known truth.

Meridian (google-meridian 2.1.0, its default model spec and priors) is the anchor: a geo hierarchy is its
core. It is an optional, bench-only install in its own venv (it caps numpy < 2.4 and pandas < 3, which Prism's
stack does not allow), never part of the test command:

    PYENV_VERSION=3.12.1 python -m venv bench/.meridian-venv
    bench/.meridian-venv/bin/pip install "google-meridian[jax]==2.1.0"

This script runs under Prism's venv: it simulates each panel (`realistic_panel(seed)`, the seeds of
bench/panel_accuracy.py), hands Meridian the training weeks (the same window Prism's ROI is scored on) in a
fresh process of the Meridian venv, and reads its national ROI draws (`Analyzer.roi`, geos aggregated).
Meridian is given the market's size as its population (a user would give the real one) and spend as both
media and spend. Prism's rows are read from bench/panel_accuracy_rows.csv (run that first). Printed: median
|national ROI error| and 90 % coverage of Meridian, of each Prism model and of their mean, on the panels
all of them finished. Meridian samples 2 chains × (500 adapt, 300 burn-in, 500 kept) unless `--quick`.

    .venv/bin/python bench/panel_anchor.py [--seeds 2216 2209 ...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MERIDIAN_PYTHON = ROOT / "bench" / ".meridian-venv" / "bin" / "python"
ROWS = ROOT / "bench" / "panel_anchor_rows.csv"
SAMPLING = {"n_chains": 2, "n_adapt": 500, "n_burnin": 300, "n_keep": 500}
QUICK_SAMPLING = {"n_chains": 2, "n_adapt": 200, "n_burnin": 100, "n_keep": 200}
TIMEOUT_S = 5400


def meridian_fit(frame_csv: str, spec_json: str, out_json: str) -> None:
    """Inside the Meridian venv: fit Meridian's defaults on the long table, write its national ROI draws."""
    import numpy as np
    import pandas as pd
    from meridian.analysis import analyzer
    from meridian.data import data_frame_input_data_builder as builder
    from meridian.model import model

    spec = json.loads(Path(spec_json).read_text())
    frame = pd.read_csv(frame_csv)
    channels, controls, geo = spec["channels"], spec["controls"], spec["market_column"]
    data = (builder.DataFrameInputDataBuilder(kpi_type="revenue")
            .with_kpi(frame, kpi_col=spec["kpi"], time_col="date", geo_col=geo)
            .with_population(frame.drop_duplicates(geo), population_col="population", geo_col=geo)
            .with_controls(frame, control_cols=controls, time_col="date", geo_col=geo)
            .with_media(frame, media_cols=channels, media_spend_cols=channels, media_channels=channels,
                        time_col="date", geo_col=geo)
            .build())
    mmm = model.Meridian(input_data=data)
    started = time.perf_counter()
    mmm.sample_posterior(seed=spec["seed"], **spec["sampling"])
    roi = np.asarray(analyzer.Analyzer(mmm).roi())  # (chain, draw, channel), geos aggregated
    roi = roi.reshape(-1, roi.shape[-1])
    rhat = analyzer.Analyzer(mmm).get_rhat()
    Path(out_json).write_text(json.dumps({
        "seconds": time.perf_counter() - started, "roi": roi.mean(axis=0).tolist(),
        "roi_low": np.quantile(roi, 0.05, axis=0).tolist(), "roi_high": np.quantile(roi, 0.95, axis=0).tolist(),
        "rhat_max": float(max(float(np.nanmax(np.asarray(v))) for v in rhat.values()))}))


def run_meridian(seed: int, quick: bool) -> dict:
    """Simulate panel `seed`, fit Meridian on its training weeks in the Meridian venv, return its figures."""
    import resource

    from prism.data.simulate_panel import MARKET_COLUMN, realistic_panel
    from prism.models.base import holdout_weeks
    from prism.schemas import Config

    sim = realistic_panel(seed)
    weeks = sim.spend.shape[0]
    cfg = Config.model_validate({"data": {"path": "x.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels}})
    n_train = weeks - holdout_weeks(weeks, cfg)
    dates = sorted(sim.frame["date"].unique())[:n_train]
    frame = sim.frame[sim.frame["date"].isin(dates)].copy()
    frame["population"] = frame[MARKET_COLUMN].map(dict(zip(sim.markets, sim.notes["size"]))) * 1e6
    with tempfile.TemporaryDirectory(prefix="prism-meridian-") as tmp:
        paths = [Path(tmp) / name for name in ("panel.csv", "spec.json", "out.json")]
        frame.to_csv(paths[0], index=False)
        paths[1].write_text(json.dumps({"channels": sim.channels, "controls": sim.controls, "kpi": sim.kpi,
                                        "market_column": MARKET_COLUMN, "seed": seed,
                                        "sampling": QUICK_SAMPLING if quick else SAMPLING}))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([str(MERIDIAN_PYTHON), __file__, "--meridian", *map(str, paths)], capture_output=True,
                              text=True, timeout=TIMEOUT_S)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode:
            return {"seed": seed, "status": "failed", "reason": (proc.stderr.strip().splitlines() or ["?"])[-1][:200]}
        out = json.loads(paths[2].read_text())
    truth = sim.national_roi(slice(0, n_train))
    return {"seed": seed, "status": "ok", "reason": "", "cpu_seconds": (after.ru_utime + after.ru_stime)
            - (before.ru_utime + before.ru_stime), "rhat_max": out["rhat_max"], "quick": quick,
            **{f"{k}:{ch}": out[k][c] for k in ("roi", "roi_low", "roi_high") for c, ch in enumerate(sim.channels)},
            **{f"truth:{ch}": t for ch, t in truth.items()}}


def meridian_scores(rows) -> "pd.DataFrame":
    """One row per seed and channel: Meridian's |ROI error| and whether its 90 % interval covers the truth."""
    import pandas as pd

    out = []
    for row in rows[rows["status"] == "ok"].to_dict("records"):
        for key in [k for k in row if k.startswith("truth:") and not pd.isna(row[k])]:
            ch, true = key.split(":", 1)[1], row[key]
            out.append({"seed": row["seed"], "channel": ch, "model": "meridian",
                        "error": abs(row[f"roi:{ch}"] - true) / true,
                        "covered": row[f"roi_low:{ch}"] <= true <= row[f"roi_high:{ch}"]})
    return pd.DataFrame(out)


def paired(both: "pd.DataFrame", resamples: int = 2000, seed: int = 0) -> str:
    """The models' mean against Meridian, panel by panel, and how far a handful of panels decides it: the
    difference of the two median errors with a 90 % interval from resampling whole panels (a channel's error
    shares its panel's data, so panels, not channels, are the independent units)."""
    import numpy as np

    wide = both[both["model"].isin(["mean", "meridian"])].pivot_table(
        index=["seed", "channel"], columns="model", values="error")[["mean", "meridian"]].dropna()
    seeds = wide.index.get_level_values("seed")
    per_panel = wide.groupby(level="seed").median()
    closer = int((per_panel["mean"] < per_panel["meridian"]).sum())
    rng = np.random.default_rng(seed)
    groups = [wide.loc[k].to_numpy() for k in sorted(set(seeds))]
    diffs = []
    for _ in range(resamples):
        pick = np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        diffs.append(100 * (np.median(pick[:, 0]) - np.median(pick[:, 1])))
    lo, hi = np.percentile(diffs, [5, 95])
    point = 100 * (wide["mean"].median() - wide["meridian"].median())
    return (f"the models' mean minus Meridian: {point:+.1f} points of median error (90 % over resampled panels "
            f"{lo:+.1f} to {hi:+.1f}); the mean's median error is lower on {closer} of {len(per_panel)} panels")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meridian", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--seeds", nargs="+", type=int)
    parser.add_argument("--quick", action="store_true", help="Meridian with 200 adapt, 100 burn-in, 200 kept")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    if args.meridian:
        meridian_fit(*args.meridian)
        return
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from bench._table import bench_table, show
    from bench.panel_accuracy import BENCH_SEEDS, read_rows, scored
    from prism.workspace import write_csv

    if not args.table_only and not MERIDIAN_PYTHON.exists():
        sys.exit(f"{MERIDIAN_PYTHON}: no Meridian venv (see this script's docstring)")
    rows = pd.read_csv(ROWS) if ROWS.exists() else pd.DataFrame(columns=["seed", "status"])
    for seed in ([] if args.table_only else args.seeds or list(BENCH_SEEDS)):
        if seed in set(rows["seed"]):
            continue
        rows = pd.concat([rows, pd.DataFrame([run_meridian(seed, args.quick)])], ignore_index=True)
        write_csv(ROWS, rows)
        print(f"done meridian {seed}: {rows.iloc[-1]['status']} {rows.iloc[-1]['reason']}", file=sys.stderr, flush=True)
    prism = scored(read_rows())
    prism = prism[prism["form"] == "panel"]
    anchor = meridian_scores(rows)
    common = sorted(set(anchor["seed"]) & set(prism.groupby("seed")["model"].nunique().pipe(lambda n: n[n >= 4].index)))
    both = pd.concat([prism[prism["seed"].isin(common)], anchor[anchor["seed"].isin(common)]])
    t = bench_table(f"National ROI against truth on {len(common)} simulated panels (seeds {common}): Meridian's "
                    f"defaults beside Prism's panel fits", ("model", "median |ROI err| %", "90 % coverage",
                                                            "channels", "CPU s (median)"), ("model",))
    cpu = rows[rows["status"] == "ok"].set_index("seed")["cpu_seconds"] if len(anchor) else pd.Series(dtype=float)
    for model, part in both.groupby("model", sort=False):
        cover = "" if model == "mean" else f"{100 * part['covered'].astype(float).mean():.0f} %"
        seconds = f"{cpu.reindex(common).median():.0f}" if model == "meridian" and len(cpu) else ""
        t.add_row(model, f"{100 * part['error'].median():.1f}", cover, str(len(part)), seconds)
    failed = rows[rows["status"] != "ok"]
    note = "; ".join(f"Meridian failed on {r.seed}: {r.reason}" for r in failed.itertuples()) or "Meridian ran on all"
    note += "; " + paired(both)
    show(t, note + ("; Meridian quick sampling" if bool(rows.get("quick", pd.Series([False])).any()) else ""),
         width=150)


if __name__ == "__main__":
    main()
