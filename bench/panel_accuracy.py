"""Panel fits against the same data summed to one national series, on simulated panels with known truth.

Each panel (`realistic_panel(seed)`: 12–20 markets of different sizes, 52–130 weeks, 4–6 channels of which
1–2 regional, a market promo, a collinear pair) is fitted by each model twice, in a fresh process each (as
`prism run` does, one BLAS thread): its panel form (`fit_panel`) and its national form on the markets summed
(`PanelData.national()`, what `--aggregate` fits). Both are scored on the national ROI over the training
weeks (true contributions summed over markets ÷ spend summed): median |ROI error|, the share of channels
whose 90 % interval covers the truth, and the share labelled `high` by the product's label
(`confidence.channel_confidence` on the three models' results, with collinear pairs from the spend
correlation; no audit) with the median error of those. Rows are kept in `bench/panel_accuracy_rows.csv`
so that a run adds seeds to the earlier ones; the table is printed from all rows.

    .venv/bin/python bench/panel_accuracy.py [--seeds 2201 2202 ...] [--models pymc ...] [--jobs 1]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._table import bench_table, show  # noqa: E402
from prism.analysis.confidence import HIGH, channel_confidence  # noqa: E402
from prism.analysis.compare import channel_agreement  # noqa: E402
from prism.data.profile import COLLINEAR_ABS_R  # noqa: E402
from prism.data.simulate_panel import MARKET_COLUMN, realistic_panel  # noqa: E402
from prism.report.tables import mean_roi  # noqa: E402
from prism.schemas import MODEL_NAMES, Config, ModelResult, Results  # noqa: E402
from prism.workspace import write_csv  # noqa: E402

BENCH_SEEDS = tuple(range(2201, 2227))  # no test uses these (the panel tests use 9101–9199); 2221–2226 added later
ROWS = ROOT / "bench" / "panel_accuracy_rows.csv"
FORMS = ("panel", "national")
TIMEOUT_S = 3600
KEY = ["seed", "model", "form"]


def bench_config(sim) -> Config:
    """The product's defaults for the simulated panel (a market column, the simulator's controls)."""
    return Config.model_validate({"data": {"path": "panel.csv", "date_column": "date", "kpi": sim.kpi,
                                           "channels": sim.channels, "controls": sim.controls,
                                           "market_column": MARKET_COLUMN}})


def fit_one(seed: int, model: str, form: str) -> dict:
    """Fit one model in this process; its national channel results, CPU seconds and peak RSS as JSON."""
    import resource
    import time

    from prism.models.base import summarize
    from prism.models.panel import PanelData, summarize_panel
    from prism.models.registry import load, panel_fit

    sim = realistic_panel(seed)
    cfg = bench_config(sim)
    data = PanelData.from_frame(sim.frame, cfg)
    module = load(model)
    started = time.perf_counter()
    if form == "panel":
        result = summarize_panel(panel_fit(model)(data, cfg, quick=False), data, time.perf_counter() - started, False)
    else:
        result = summarize(module.fit(data.national(), cfg, quick=False), data.national(),
                           time.perf_counter() - started, False)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"result": result.model_dump(mode="json", exclude={"weekly", "curves"}),
            "cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024.0,
            "truth": sim.national_roi(slice(0, data.n_train)), "weeks": data.n_weeks, "train_weeks": data.n_train,
            "markets": data.n_markets, "collinear": sorted(collinear(sim, form))}


def collinear(sim, form: str) -> set[str]:
    """Channels in a pair whose spend correlates beyond the profile's threshold, in the table the form fits
    (the stacked market-weeks for a panel, the summed weeks for the national series)."""
    table = sim.frame if form == "panel" else sim.summed()
    corr = table[sim.channels].corr().abs().to_numpy(copy=True)
    np.fill_diagonal(corr, 0.0)
    return {ch for c, ch in enumerate(sim.channels) if corr[c].max() > COLLINEAR_ABS_R}


def spawn(seed: int, model: str, form: str) -> list[dict]:
    """Fit in a fresh process (one BLAS thread, as `prism run`'s workers) and return its rows, one per channel."""
    from prism.models.worker import worker_env

    cmd = [sys.executable, __file__, "--one", str(seed), model, form]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=TIMEOUT_S, env=worker_env())
    except subprocess.TimeoutExpired:
        return [{"seed": seed, "model": model, "form": form, "status": "failed", "reason": f"over {TIMEOUT_S} s"}]
    if proc.returncode:
        reason = (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]
        return [{"seed": seed, "model": model, "form": form, "status": "failed", "reason": reason}]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    result = out["result"]
    base = {"seed": seed, "model": model, "form": form, "status": "ok", "reason": "", "weeks": out["weeks"],
            "train_weeks": out["train_weeks"], "markets": out["markets"], "cpu_seconds": out["cpu_seconds"],
            "peak_rss_mb": out["peak_rss_mb"], "rhat_max": result["diagnostics"].get("rhat_max"),
            "ess_bulk_min": result["diagnostics"].get("ess_bulk_min")}
    return [{**base, "channel": ch, "true_roi": truth, "collinear": ch in out["collinear"],
             "result": json.dumps(result)} for ch, truth in out["truth"].items()]


def read_rows() -> pd.DataFrame:
    return pd.read_csv(ROWS) if ROWS.exists() else pd.DataFrame(columns=[*KEY, "status"])


def run(seeds: list[int], models: list[str], jobs: int) -> pd.DataFrame:
    """Fit what the rows lack, saving after each fit (a stopped run keeps what it finished)."""
    from concurrent.futures import ThreadPoolExecutor

    rows = read_rows()
    done = set(map(tuple, rows[KEY].drop_duplicates().itertuples(index=False))) if len(rows) else set()
    todo = [(s, m, f) for s in seeds for m in models for f in FORMS if (s, m, f) not in done]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for new in pool.map(lambda job: spawn(*job), todo):
            rows = pd.concat([rows, pd.DataFrame(new)], ignore_index=True)
            write_csv(ROWS, rows)
            print(f"done {new[0]['seed']} {new[0]['model']} {new[0]['form']}: {new[0]['status']}", file=sys.stderr,
                  flush=True)
    return rows


def results_of(part: pd.DataFrame) -> Results:
    """One panel's fits of one form as the `Results` the product labels."""
    models = {}
    for model, rows in part.groupby("model", sort=False):
        ok = rows["status"].eq("ok").all()
        models[model] = (ModelResult.model_validate(json.loads(rows["result"].iloc[0])) if ok
                         else ModelResult(status="failed", reason=str(rows["reason"].iloc[0])))
    first = part.iloc[0]
    channels = list(dict.fromkeys(part["channel"].dropna()))
    return Results(round=1, data_hash=f"bench-{first.seed}", config_hash="default",
                   created_at=datetime.now(timezone.utc), kpi="kpi", channels=channels, weeks=int(first.weeks),
                   train_weeks=int(first.train_weeks), holdout_weeks=int(first.weeks - first.train_weeks),
                   models=models)


def scored(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per seed, form, channel and model (plus the models' mean): error, coverage, the channel's label."""
    out = []
    ok = rows[rows["status"] == "ok"]
    for (seed, form), part in ok.groupby(["seed", "form"]):
        res = results_of(part)
        res.agreement = channel_agreement(res)
        pairs = set(part.loc[part["collinear"].astype(bool), "channel"])
        labels = channel_confidence(res, pairs)
        truth = dict(zip(part["channel"], part["true_roi"]))
        for ch, true in truth.items():
            for model, r in res.ok_models().items():
                c = r.channels[ch]
                out.append({"seed": seed, "form": form, "channel": ch, "model": model, "truth": true,
                            "error": abs(c.roi - true) / true, "covered": c.roi_low <= true <= c.roi_high,
                            "label": labels[ch].label})
            headline = mean_roi(res, ch)
            out.append({"seed": seed, "form": form, "channel": ch, "model": "mean", "truth": true,
                        "error": abs(headline - true) / true, "covered": math.nan, "label": labels[ch].label})
    return pd.DataFrame(out)


def table(rows: pd.DataFrame, models: list[str]):
    s = scored(rows)
    t = bench_table(f"Panel fit vs the same data summed to one series — national ROI against truth, "
                    f"{s['seed'].nunique() if len(s) else 0} simulated panels", (
        "model", "panel median |err| %", "summed median |err| %", "ratio", "panel 90 % coverage",
        "summed 90 % coverage", "panel CPU s (median)", "panel peak RSS MB (max)", "r̂ max", "ESS min"), ("model",))
    for model in [*models, "mean"]:
        p, n = (s[(s["model"] == model) & (s["form"] == f)] for f in FORMS)
        fits = rows[(rows["model"] == model) & (rows["form"] == "panel") & (rows["status"] == "ok")].drop_duplicates(
            "seed")
        fmt = lambda v, f: "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, f)  # noqa: E731
        med = lambda part: 100 * float(part["error"].median()) if len(part) else math.nan  # noqa: E731
        cover = lambda part: (f"{100 * part['covered'].astype(float).mean():.0f} %"  # noqa: E731
                              if len(part) and model != "mean" else "")
        t.add_row(model, fmt(med(p), ".1f"), fmt(med(n), ".1f"),
                  fmt(med(p) / med(n) if len(n) and med(n) else math.nan, ".2f"), cover(p), cover(n),
                  fmt(float(fits["cpu_seconds"].median()) if len(fits) else math.nan, ".0f"),
                  fmt(float(fits["peak_rss_mb"].max()) if len(fits) else math.nan, ".0f"),
                  fmt(float(fits["rhat_max"].max()) if len(fits) else math.nan, ".3f"),
                  fmt(float(fits["ess_bulk_min"].min()) if len(fits) else math.nan, ".0f"))
    return t, s


def label_lines(s: pd.DataFrame) -> str:
    """How many channels each form labels `high`, and how right those were (the models' mean ROI)."""
    lines = []
    for form in FORMS:
        part = s[(s["model"] == "mean") & (s["form"] == form)]
        high = part[part["label"] == HIGH]
        far = f", {100 * (high['error'] > 0.5).mean():.0f} % more than 50 % off" if len(high) else ""
        err = f", median |err| {100 * high['error'].median():.1f} %" if len(high) else ""
        lines.append(f"{form}: {len(high)} of {len(part)} channels `high`{err}{far}")
    return "; ".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(BENCH_SEEDS))
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--jobs", type=int, default=1, help="fits side by side (each fit runs 2 chains)")
    parser.add_argument("--table-only", action="store_true", help="print the table from the saved rows")
    args = parser.parse_args()
    if args.one:
        seed, model, form = args.one
        print(json.dumps(fit_one(int(seed), model, form)))
        return
    rows = read_rows() if args.table_only else run(args.seeds, args.models, args.jobs)
    rows = rows[rows["model"].isin(args.models)]
    t, s = table(rows, args.models)
    show(t, label_lines(s) + "; the label caps panels under 104 training weeks at `medium` (short history)",
         width=170)


if __name__ == "__main__":
    main()
