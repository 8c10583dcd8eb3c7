"""Calibrate the confidence label against known truth: fits its width thresholds and prints one table.

`realistic_case(seed)` for a fixed BENCH seed list (disjoint from every seed the tests use) gives
datasets with unmodelled promotions, tiny and always-on channels, on/off flighting, collinear pairs,
52–260 weeks, geometric and delayed carry-over, Hill and logistic truth and 2–10 % noise. Each dataset is
fitted with ridge at the default config (200 block-bootstrap resamples); one row per channel and model
(its ROI, interval, evidence, whether the channel is in a collinear pair, the true ROI over the training
weeks) goes to bench/calibration_rows.csv, so the thresholds can be refitted without refitting models:

    .venv/bin/python bench/calibration.py [--jobs N]      # fit the models, write the rows, fit, print
    .venv/bin/python bench/calibration.py --rows-only     # refit thresholds and print from the saved rows

The Bayesian models are not in the saved rows yet: on the 2 shared cores 30 datasets × 2 samplers did not
fit the time given; the rule already reads their evidence (prior-driven, contraction) when they ran.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ridge_accuracy import _config, _fit  # noqa: E402
from prism.analysis import confidence  # noqa: E402
from prism.analysis.facts import COLLINEAR_R  # noqa: E402
from prism.data.simulate import realistic_case  # noqa: E402

BENCH_SEEDS = tuple(range(301, 333))  # 32 datasets; tests use seeds below 300
ROWS = ROOT / "bench" / "calibration_rows.csv"
FAR_OFF = 0.5  # "more than 50 % off"


def _collinear(frame: pd.DataFrame, channels: list[str]) -> set[str]:
    corr = frame[channels].corr().fillna(0.0)
    return {a for a in channels for b in channels if a != b and abs(corr.loc[a, b]) > COLLINEAR_R}


def run_case(seed: int) -> list[dict]:
    """Fit one dataset with ridge; one row per channel."""
    sim = realistic_case(seed)
    data, _, result, _ = _fit(sim.frame, _config(sim.frame, sim.kpi, sim.channels, sim.controls))
    truth = sim.true_roi(slice(0, data.n_train))
    paired = _collinear(sim.frame, sim.channels)
    share = sim.spend_share()
    rows = []
    for ch, true in truth.items():
        r, ev = result.channels[ch], result.channels[ch].evidence
        rows.append({"seed": seed, "weeks": len(sim.frame), "train_weeks": data.n_train, "channel": ch,
                     "model": "ridge",
                     "flighting": sim.notes["flighting"][sim.channels.index(ch)], "spend_share": share[ch],
                     "roi": r.roi, "roi_low": r.roi_low, "roi_high": r.roi_high, "true_roi": true,
                     "rel_width": ev.rel_width, "zero_share": ev.zero_share, "zero_effect": ev.zero_effect,
                     "prior_driven": ev.prior_driven, "contraction": ev.contraction, "collinear": ch in paired})
    return rows


def _scored(rows: pd.DataFrame, high_width: float, medium_width: float) -> pd.DataFrame:
    """Rows with their label under the given thresholds and their |ROI error| (fraction of the truth)."""
    labels = [confidence.rule(confidence.Signals.from_row(r), high_width, medium_width).label
              for r in rows.itertuples()]
    return rows.assign(label=labels, error=(rows["roi"] - rows["true_roi"]).abs() / rows["true_roi"].abs())


def fit_thresholds(rows: pd.DataFrame) -> tuple[float, float]:
    """Widest `high` width meeting the targets (median ≤ 15 %, ≤ 5 % more than 50 % off, ≥ 5 channels),
    then the widest `medium` width at which at most half the medium channels are more than 50 % off."""
    grid = np.round(np.arange(0.1, 3.01, 0.05), 2)
    high = max((w for w in grid if _meets(_scored(rows, w, w), confidence.HIGH)), default=grid[0])
    medium = max((w for w in grid[grid >= high] if _medium_ok(_scored(rows, high, w))), default=high)
    return float(high), float(medium)


def _meets(part: pd.DataFrame, label: str) -> bool:
    sel = part[part["label"] == label]
    return (len(sel) >= 5 and sel["error"].median() <= confidence.TARGET_MEDIAN_ERROR
            and (sel["error"] > FAR_OFF).mean() <= confidence.TARGET_FAR_OFF_SHARE)


def _medium_ok(part: pd.DataFrame) -> bool:
    sel = part[part["label"] == confidence.MEDIUM]
    return sel.empty or (sel["error"] > FAR_OFF).mean() <= confidence.MEDIUM_FAR_OFF_SHARE


def _table(scored: pd.DataFrame, high: float, medium: float):
    from rich.table import Table

    table = Table(title=f"Confidence vs known truth — {scored['seed'].nunique()} realistic_case datasets, "
                        f"ridge; high width ≤ {high:.2f}, medium ≤ {medium:.2f}")
    for col in ("label", "channels", "median |ROI err| %", "> 50 % off"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label in confidence.LABELS:
        sel = scored[scored["label"] == label]
        table.add_row(label, str(len(sel)), f"{100 * sel['error'].median():.1f}" if len(sel) else "–",
                      f"{(sel['error'] > FAR_OFF).mean():.0%}" if len(sel) else "–")
    return table


def _model_table(rows: pd.DataFrame):
    from rich.table import Table

    table = Table(title="Per model: 90 % coverage and interval width")
    for col in ("model", "channels", "90 % coverage", "mean relative width", "median |ROI err| %"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for model, part in rows.groupby("model"):
        covered = (part["roi_low"] <= part["true_roi"]) & (part["true_roi"] <= part["roi_high"])
        err = (part["roi"] - part["true_roi"]).abs() / part["true_roi"].abs()
        table.add_row(str(model), str(len(part)), f"{covered.mean():.0%}", f"{part['rel_width'].mean():.2f}",
                      f"{100 * err.median():.1f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rows-only", action="store_true", help="refit from bench/calibration_rows.csv")
    args = parser.parse_args()
    from rich.console import Console

    if not args.rows_only:
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = pd.DataFrame([r for part in pool.map(run_case, BENCH_SEEDS) for r in part])
        rows.to_csv(ROWS, index=False)
    rows = pd.read_csv(ROWS)
    high, medium = fit_thresholds(rows)
    console = Console(width=150)
    console.print(_model_table(rows))
    console.print(_table(_scored(rows, high, medium), high, medium))
    current = _scored(rows, confidence.HIGH_WIDTH, confidence.MEDIUM_WIDTH)
    console.print(_table(current, confidence.HIGH_WIDTH, confidence.MEDIUM_WIDTH))
    console.print(f"fitted: HIGH_WIDTH = {high}, MEDIUM_WIDTH = {medium} (prism/analysis/confidence.py has "
                  f"{confidence.HIGH_WIDTH}, {confidence.MEDIUM_WIDTH}); targets: high median |error| ≤ "
                  f"{confidence.TARGET_MEDIAN_ERROR:.0%}, ≤ {confidence.TARGET_FAR_OFF_SHARE:.0%} more than 50 % off")


if __name__ == "__main__":
    main()
