"""Measure the Bayesian models' ROI-prior scale on the realistic simulator (issue 10, part 2).

For each candidate `ROI_PRIOR_MEDIA_SHARE` (the share of the KPI that all media together would explain at
the prior's scale) and each seed of `realistic_case`, fit pymc and lightweight_mmm with small draws
(1 chain × 300 tune + 300 draws: enough for medians over many channels, not for a production fit) and
print per scale × model: median |ROI error|, 90 % interval coverage, share of channels flagged
prior-driven, and median media-share error (points). Per-channel rows (with contraction and shift, the
input for the prior-driven thresholds) go to `--out` as CSV.

    python bench/prior_scale.py --seeds 101 102 103 104 --scales 0.5 0.25 0.15 --out /tmp/prior_scale.csv
"""

from __future__ import annotations

import argparse
import time
import numpy as np
import pandas as pd

from prism.models.pool import process_pool

SEEDS = (101, 102, 103, 104, 105)
SCALES = (0.5, 0.25, 0.15)
MODELS = ("pymc", "lightweight_mmm")
SMALL_DRAWS = {"pymc": {"chains": 1, "draws": 300, "tune": 300},
               "lightweight_mmm": {"chains": 1, "samples": 300, "warmup": 300}}


def fit_case(seed: int, scale: float, model: str) -> list[dict]:
    """One realistic case, one model, one prior scale: a row per channel with truth, estimate, evidence."""
    from prism.data.simulate import realistic_case
    from prism.models import posterior
    from prism.models.base import ModelData, channel_summary
    from prism.models.registry import load
    from prism.schemas import Config

    posterior.ROI_PRIOR_MEDIA_SHARE = scale
    sim = realistic_case(seed)
    cfg = Config.model_validate({"data": {"path": "sim.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls},
                                 model: SMALL_DRAWS[model], "seed": seed})
    data = ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg)
    truth = sim.true_roi(slice(0, data.n_train))
    true_pct = sim.true_contribution_pct(slice(0, data.n_train))
    started = time.perf_counter()
    channels = channel_summary(load(model).fit(data, cfg), data)
    seconds = time.perf_counter() - started
    share = sim.spend_share()
    rows = []
    for i, ch in enumerate(sim.channels):
        c, ev = channels[ch], channels[ch].evidence
        rows.append({"seed": seed, "scale": scale, "model": model, "channel": ch, "weeks": data.n_weeks,
                     "flighting": sim.notes["flighting"][i], "spend_share": share[ch],
                     "true_roi": truth[ch], "roi": c.roi, "roi_low": c.roi_low, "roi_high": c.roi_high,
                     "abs_err": abs(c.roi - truth[ch]) / truth[ch],
                     "covered": c.roi_low <= truth[ch] <= c.roi_high,
                     "true_pct": true_pct[ch], "pct": c.contribution_pct,
                     "contraction": ev.contraction, "shift": ev.prior_shift_sd, "rel_width": ev.rel_width,
                     "prior_driven": ev.prior_driven, "seconds": seconds})
    return rows


def table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per scale × model: the figures the choice of default rests on."""
    def media_err(part: pd.DataFrame) -> float:
        per_case = part.groupby("seed").agg(est=("pct", "sum"), true=("true_pct", "sum"))
        return float((per_case["est"] - per_case["true"]).abs().median())

    out = []
    for (scale, model), part in rows.groupby(["scale", "model"]):
        out.append({"media_share_prior": scale, "model": model, "channels": len(part),
                    "median_roi_err_pct": 100 * part["abs_err"].median(),
                    "coverage_pct": 100 * part["covered"].mean(),
                    "prior_driven_pct": 100 * part["prior_driven"].mean(),
                    "media_pct_err_points": media_err(part)})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--scales", type=float, nargs="+", default=list(SCALES))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="prior_scale_rows.csv")
    args = parser.parse_args()
    jobs = [(s, k, m) for s in args.seeds for k in args.scales for m in args.models]
    with process_pool(args.workers) as pool:
        rows = [r for part in pool.map(fit_case, *zip(*jobs)) for r in part]
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out, index=False)
    with pd.option_context("display.width", 160, "display.precision", 2):
        print(table(frame).to_string(index=False))
    print(f"\nrows: {args.out}; seconds per fit (median): {np.median(frame['seconds']):.0f}")


if __name__ == "__main__":
    main()
