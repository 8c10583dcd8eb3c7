"""Calibrate the confidence label against known truth: fits its width thresholds and prints the tables.

`realistic_case(seed)` for a fixed BENCH seed list (disjoint from every seed the tests use)
gives datasets with unmodelled promotions, tiny and always-on channels, on/off flighting, collinear pairs,
52–260 weeks, geometric and delayed carry-over, Hill and logistic truth and 2–10 % noise. Each dataset is
fitted with every model at the default config, each fit in a fresh process exactly as `prism run`'s
worker does (`prism.models.worker.run_one`). One row per channel and model (its ROI, interval, evidence,
convergence, whether the channel is in a collinear pair, the true ROI over the training weeks, and with
`--audit` the recoverability verdict on ridge's rows) goes to bench/calibration_rows.csv as each fit
ends, so a partial run is usable and the thresholds can be refitted without refitting models.

The label is the product's, per channel across the models: the rows of one dataset become a `Results`,
compare's `channel_agreement` fills its agreement, `confidence.Signals.from_results` gathers the signals
and `confidence.rule` labels them (what `confidence.channel_confidence` does); the error is that of the
report's headline ROI (`report.tables.mean_roi`) against the truth.

The thresholds are judged out of sample: they are fitted on the odd seeds and the even seeds are labelled
with them, and the reverse; the two held-out tables are what the label is worth on data it was not fitted
to. The constants shipped in analysis/confidence.py follow one stated rule (`shipped_thresholds`): each
threshold is the stricter (narrower) of the two halves' fits.

    .venv/bin/python bench/calibration.py [--jobs N] [--audit]   # fit all models, write the rows, fit, print
    .venv/bin/python bench/calibration.py --models ridge --audit  # refit ridge only, merge its rows
    .venv/bin/python bench/calibration.py --resume                # fit only the pairs the rows lack
    .venv/bin/python bench/calibration.py --stale --models pymc lightweight_mmm  # refit rows drawn at old settings
    .venv/bin/python bench/calibration.py --rows-only             # refit thresholds from the saved rows

Every model runs at the product's defaults (pymc: nutpie, 2 × 1500 draws; lightweight_mmm 2 × 1500 samples;
`--pymc-draws N` overrides pymc's draws to time a cheaper run, and the rows record draws and convergence).
Panel datasets join the national ones (unless `--no-panels`, and when their rows exist): the panel fits of
bench/panel_accuracy.py (`realistic_panel(seed)`, seeds 2201–2226, rows in bench/panel_accuracy_rows.csv),
labelled the same way from their national results. Their seeds split into the same odd and even halves, so
each threshold is fitted on national and panel channels together, meeting the targets on each kind (`meets_high`:
pooled, many right panel channels would carry a width that lets far-off national ones through), and the
held-out tables are printed for each kind and for both.

The last table is in bench/calibration_table.txt.
"""

from __future__ import annotations

import argparse
import math
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
import sys
import time
from concurrent.futures import as_completed
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prism.analysis import confidence  # noqa: E402
from prism.analysis.compare import channel_agreement  # noqa: E402
from prism.data.profile import COLLINEAR_ABS_R  # noqa: E402
from prism.data.simulate import realistic_case  # noqa: E402
from prism.report.tables import mean_roi  # noqa: E402
from prism.schemas import (CONVERGENCE, MODEL_NAMES, PRIOR_DRIVEN, ZERO_EFFECT, ChannelEvidence,  # noqa: E402
                           ChannelResult, Config, Diag, ModelResult, Results)
from prism.workspace import write_csv  # noqa: E402
from prism.models.pool import process_pool

BENCH_SEEDS = tuple(range(301, 333))  # 32 datasets; no test uses these (tests/test_calibration.py checks)
ROWS = ROOT / "bench" / "calibration_rows.csv"
FAR_OFF = 0.5  # "more than 50 % off"
MIN_HIGH = 5  # fewest `high` channels the targets are judged on
GRID = np.round(np.arange(0.1, 3.01, 0.05), 2)  # candidate width thresholds (× the ROI)
COVERAGE_TARGET = (0.85, 0.97)
AUDIT_K = 20
PANEL_ROWS = ROOT / "bench" / "panel_accuracy_rows.csv"  # bench/panel_accuracy.py's fits (panel and summed)
NATIONAL, PANEL = "national", "panel"
HALVES = ("odd", "even")  # the thresholds are fitted on one half of the seeds and judged on the other
OK = "ok"
EVIDENCE_FIELDS = ("rel_width", "contraction", "prior_shift_sd", "zero_share", "prior_driven", "zero_effect")
KEY = ["seed", "model"]


# ------------------------------------------------------------------------------------------- fitting


def bench_config(sim, pymc_draws: int | None = None) -> Config:
    """The default config a user gets for this dataset (only the columns named); `pymc_draws` overrides
    pymc's draws when the default is too slow for the bench's machine."""
    cfg = Config.model_validate({"data": {"path": "bench.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls}})
    if pymc_draws:
        cfg.pymc.draws = pymc_draws
    return cfg


def collinear(frame: pd.DataFrame, channels: list[str]) -> set[str]:
    """Channels in a pair whose spend correlates beyond the profile's threshold (as discover's profile)."""
    corr = frame[channels].corr().fillna(0.0)
    return {a for a in channels for b in channels if a != b and abs(corr.loc[a, b]) > COLLINEAR_ABS_R}


def fit_case(seed: int, model: str, audit: bool = False, pymc_draws: int | None = None) -> list[dict]:
    """Fit one model on one dataset in this (fresh) process; one row per channel, failures included."""
    from prism.models.worker import failure_reason, run_one

    sim = realistic_case(seed)
    cfg = bench_config(sim, pymc_draws)
    frame = sim.frame.assign(date=pd.to_datetime(sim.frame["date"]))
    started = time.perf_counter()
    try:
        result, _ = run_one(model, frame, cfg, quick=False)
    except Exception as exc:  # a model that cannot run is a failed row, as in `prism run`
        result = ModelResult(status="failed", reason=failure_reason(exc))
    seconds = time.perf_counter() - started
    verdicts = _audit(sim, cfg, frame, result) if audit and result.status == OK else {}
    return case_rows(seed, model, sim, result, seconds, verdicts)


def _audit(sim, cfg: Config, frame: pd.DataFrame, result: ModelResult) -> dict[str, tuple[str, float]]:
    """The recoverability audit from this model's fitted world, as `prism audit` runs it: channel → (verdict, error %)."""
    from prism.analysis.audit import build_world, recover
    from prism.models.base import ModelData

    data = ModelData.from_frame(frame, cfg)
    world = build_world(data, result.weekly, {ch: c.roi for ch, c in result.channels.items()})
    table = recover(world, cfg, AUDIT_K, seed=cfg.seed, jobs=1)
    return {r.channel: (r.verdict, r.recovery_error_pct) for r in table.itertuples()}


def case_rows(seed: int, model: str, sim, result: ModelResult, seconds: float,
              verdicts: dict[str, tuple[str, float]]) -> list[dict]:
    """One row per channel: the dataset's truth and traits, the model's estimate, evidence and convergence."""
    from prism.models.base import holdout_weeks

    cfg = bench_config(sim)
    train = len(sim.frame) - holdout_weeks(len(sim.frame), cfg)
    truth, share, paired = sim.true_roi(slice(0, train)), sim.spend_share(), collinear(sim.frame, sim.channels)
    diag = result.diagnostics
    rows = []
    for i, ch in enumerate(sim.channels):
        c = result.channels.get(ch)
        ev = c.evidence if c is not None and c.evidence is not None else ChannelEvidence(source="point")
        rows.append({
            "seed": seed, "weeks": len(sim.frame), "train_weeks": train, "channel": ch, "model": model,
            "status": result.status if c is not None else "failed", "reason": result.reason or "",
            "flighting": sim.notes["flighting"][i], "spend_share": share[ch], "collinear": ch in paired,
            "true_roi": truth[ch], "roi": c.roi if c else math.nan, "roi_low": c.roi_low if c else math.nan,
            "roi_high": c.roi_high if c else math.nan, "evidence_source": ev.source,
            **{f: getattr(ev, f) for f in EVIDENCE_FIELDS},
            "rhat_max": diag.get(Diag.RHAT_MAX), "ess_bulk_min": diag.get(Diag.ESS_BULK_MIN),
            "divergences": diag.get(Diag.DIVERGENCES), "converged": CONVERGENCE.converged(diag),
            "chains": diag.get(Diag.CHAINS), "draws": diag.get(Diag.DRAWS),
            "seconds": round(seconds, 1), "audit": verdicts.get(ch, ("", None))[0],
            "audit_error_pct": verdicts.get(ch, ("", None))[1]})
    return rows


def merge_rows(old: pd.DataFrame, new: pd.DataFrame, key: list[str] = KEY) -> pd.DataFrame:
    """`old` with every fit (`key`: seed and model) that `new` has replaced by `new`'s rows."""
    if old.empty:
        return new.reset_index(drop=True)
    stale = old.set_index(key).index.isin(new.set_index(key).index)
    merged = pd.concat([old[~stale], new], ignore_index=True)
    return merged.sort_values([*key, "channel"], kind="stable").reset_index(drop=True)


def current_pairs(rows: pd.DataFrame, pymc_draws: int | None = None) -> set[tuple[int, str]]:
    """The Bayesian (seed, model) pairs whose rows were drawn at today's default draws (`--stale` skips them);
    ridge rows carry no draws, so `--stale` always refits ridge when it is asked for."""
    if rows.empty:
        return set()
    defaults = Config.model_validate({"data": {"path": "x.csv", "date_column": "date", "kpi": "y", "channels": ["a"]}})
    want = {"pymc": pymc_draws or defaults.pymc.draws, "lightweight_mmm": defaults.lightweight_mmm.samples}
    fresh = rows[rows["model"].map(want).eq(rows["draws"])]
    return set(map(tuple, fresh[KEY].drop_duplicates().to_numpy().tolist()))


def read_rows(path: Path = ROWS) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=True) if path.exists() else pd.DataFrame()


def run_fits(seeds: list[int], models: list[str], jobs: int, audit: bool, pymc_draws: int | None = None,
             path: Path = ROWS, resume: bool = False, stale: bool = False) -> None:
    """Fit every (seed, model) in a fresh process each (as `prism run` does); merge rows into `path` as each ends."""
    tasks = [(s, m) for s in seeds for m in models]  # dataset by dataset, so a partial run has whole datasets
    if resume or stale:
        done = current_pairs(read_rows(path), pymc_draws) if stale else \
            set(map(tuple, read_rows(path)[KEY].drop_duplicates().to_numpy().tolist())) if path.exists() else set()
        tasks = [t for t in tasks if t not in done]
    with process_pool(jobs, max_tasks_per_child=1) as pool:
        futures = {pool.submit(fit_case, s, m, audit and m == "ridge", pymc_draws): (s, m) for s, m in tasks}
        for done, fut in enumerate(as_completed(futures), 1):
            seed, model = futures[fut]
            rows = pd.DataFrame(fut.result())
            write_csv(path, merge_rows(read_rows(path), rows))
            print(f"[{done}/{len(tasks)}] seed {seed} {model}: {rows['status'].iloc[0]} in {rows['seconds'].iloc[0]} s",
                  file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- labelling


def results_of(part: pd.DataFrame) -> Results:
    """One dataset's rows as the `Results` the product labels (models that failed count as failed)."""
    first = part.iloc[0]
    models = {}
    for model, rows in part.groupby("model", sort=False):
        if (rows["status"] != OK).any():
            models[model] = ModelResult(status="failed", reason=str(rows["reason"].iloc[0]))
            continue
        models[model] = ModelResult(status=OK, channels={r["channel"]: _channel(r) for r in rows.to_dict("records")})
    channels = list(dict.fromkeys(part["channel"]))
    return Results(round=1, data_hash=f"bench-{first.seed}", config_hash="default", created_at=datetime.now(timezone.utc),
                   kpi="kpi", channels=channels, weeks=int(first.weeks), train_weeks=int(first.train_weeks),
                   holdout_weeks=int(first.weeks - first.train_weeks), models=models)


def _channel(r: dict) -> ChannelResult:
    ev = ChannelEvidence(source=r["evidence_source"], **{f: _value(r[f]) for f in EVIDENCE_FIELDS})
    return ChannelResult(roi=r["roi"], roi_low=r["roi_low"], roi_high=r["roi_high"], contribution=math.nan,
                         contribution_pct=math.nan, mroi=math.nan, saturation_pct=math.nan, spend=math.nan, evidence=ev)


def _value(v):
    """A CSV cell as the evidence field: NaN → None, numpy bools → bool."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _audit_of(part: pd.DataFrame) -> dict[str, dict[str, str]]:
    """{channel: {model: verdict}} from the rows that carry an audit verdict."""
    if "audit" not in part:
        return {}
    done = part[part["audit"].astype("string").fillna("") != ""]
    return {ch: dict(zip(g["model"], g["audit"])) for ch, g in done.groupby("channel")}


def complete(rows: pd.DataFrame) -> pd.DataFrame:
    """The datasets every model in the rows has rows for (a partial run labels only whole datasets)."""
    models = rows.groupby("seed")["model"].nunique()
    return rows[rows["seed"].isin(models[models == rows["model"].nunique()].index)]


def channel_signals(rows: pd.DataFrame, audit: bool = True) -> pd.DataFrame:
    """One row per dataset and channel: the product's signals, its headline ROI, the truth and the error."""
    out = []
    for seed, part in rows.groupby("seed"):
        res = results_of(part)
        res.agreement = channel_agreement(res)
        verdicts = _audit_of(part) if audit else {}
        first = part.drop_duplicates("channel")
        truth, paired = dict(zip(first["channel"], first["true_roi"])), dict(zip(first["channel"], first["collinear"]))
        for ch in res.channels:
            headline = mean_roi(res, ch)
            if headline is None:
                continue
            true = float(truth[ch])
            sig = confidence.Signals.from_results(res, ch, bool(paired[ch]), verdicts.get(ch))
            out.append(_channel_row(seed, NATIONAL, ch, sig, headline, true))
    return pd.DataFrame(out)


def _channel_row(seed: int, kind: str, channel: str, sig, headline: float, true: float) -> dict:
    """One channel's signals, headline ROI, error against the truth and its label in each width case."""
    return {"seed": int(seed), "kind": kind, "channel": channel, "signals": sig, "roi": headline,
            "true_roi": float(true), "error": abs(headline - true) / abs(true), "width": sig.width,
            "agreement": sig.agreement, "n_models": sig.n_models,
            **{f"label_{k}": confidence.rule(sig, h, m).label for k, (h, m) in WIDTH_CASES.items()}}


def panel_signals(path: Path = PANEL_ROWS) -> pd.DataFrame:
    """One row per panel dataset and channel, as `channel_signals`: the panel fits' national results, labelled
    the way the product labels a panel round (no audit; collinear pairs from the stacked market-weeks)."""
    from bench.panel_accuracy import results_of as panel_results

    rows = pd.read_csv(path)
    rows = rows[(rows["form"] == PANEL) & (rows["status"] == OK)]
    out = []
    for seed, part in rows.groupby("seed"):
        if part["model"].nunique() < len(MODEL_NAMES):
            continue  # a dataset is labelled only when every model has fitted it, as the national ones
        res = panel_results(part)
        res.agreement = channel_agreement(res)
        first = part.drop_duplicates("channel")
        for ch, true, paired in zip(first["channel"], first["true_roi"], first["collinear"].astype(bool)):
            sig = confidence.Signals.from_results(res, ch, bool(paired))
            out.append(_channel_row(seed, PANEL, ch, sig, mean_roi(res, ch), true))
    return pd.DataFrame(out)


def all_signals(rows: pd.DataFrame, panels: bool = True) -> pd.DataFrame:
    """The national datasets' channels and, when bench/panel_accuracy_rows.csv exists, the panels': the set
    the thresholds are fitted and judged on."""
    chans = channel_signals(rows)
    return pd.concat([chans, panel_signals()], ignore_index=True) if panels and PANEL_ROWS.exists() else chans


# The rule reads the width only against the two thresholds: its label in each of these three cases is the
# label under any thresholds (the fit tries a hundred pairs without calling the rule a hundred times).
WIDTH_CASES = {"narrow": (math.inf, math.inf), "between": (-math.inf, math.inf), "wide": (-math.inf, -math.inf)}


def labelled(chans: pd.DataFrame, high_width: float, medium_width: float) -> pd.DataFrame:
    """The channels with the label `confidence.rule` gives them under these thresholds."""
    width = chans["width"].to_numpy(dtype=float)
    labels = np.where(width <= high_width, chans["label_narrow"],
                      np.where(width <= medium_width, chans["label_between"], chans["label_wide"]))
    return chans.assign(label=labels)


def meets_high(part: pd.DataFrame) -> bool:
    """At least MIN_HIGH `high` channels, and the targets met on national and panel data alike: a width that
    many accurate panel channels would carry must not let far-off national ones through, nor the reverse."""
    sel = part[part["label"] == confidence.HIGH]
    return len(sel) >= MIN_HIGH and all(
        kind["error"].median() <= confidence.TARGET_MEDIAN_ERROR
        and (kind["error"] > FAR_OFF).mean() <= confidence.TARGET_FAR_OFF_SHARE for _, kind in sel.groupby("kind"))


def medium_ok(part: pd.DataFrame) -> bool:
    sel = part[part["label"] == confidence.MEDIUM]
    return sel.empty or (sel["error"] > FAR_OFF).mean() <= confidence.MEDIUM_FAR_OFF_SHARE


def fit_thresholds(chans: pd.DataFrame) -> tuple[float, float] | None:
    """Widest `high` width meeting the targets (median ≤ 15 %, ≤ 5 % more than 50 % off, on national and panel
    data alike; ≥ 5 channels), then the widest `medium` width at which at most half the medium channels are
    more than 50 % off.
    None when no width meets the `high` targets: the rows cannot support a fit (too few datasets, or
    the label's other signals let far-off channels through), which the bench says rather than inventing one."""
    high = max((w for w in GRID if meets_high(labelled(chans, w, w))), default=None)
    if high is None:
        return None
    medium = max((w for w in GRID[GRID >= high] if medium_ok(labelled(chans, high, w))), default=high)
    return float(high), float(medium)


def half(chans: pd.DataFrame, name: str) -> pd.DataFrame:
    """The channels of the odd or the even seeds."""
    return chans[chans["seed"] % 2 == (1 if name == "odd" else 0)]


def held_out(chans: pd.DataFrame) -> list[tuple[str, str, tuple[float, float] | None, pd.DataFrame]]:
    """Per half: (the half judged, the half fitted, the thresholds fitted there, the judged half's channels
    labelled with them; none labelled when the fitted half supports no fit). This is the label's worth on
    data it was not fitted to."""
    out = []
    for name, other in zip(HALVES, reversed(HALVES)):
        fitted = fit_thresholds(half(chans, other))
        out.append((name, other, fitted, labelled(half(chans, name), *fitted) if fitted else half(chans, name).iloc[:0]))
    return out


def shipped_thresholds(chans: pd.DataFrame) -> tuple[float, float] | None:
    """The rule for the constants in analysis/confidence.py: fit each half of the seeds alone and ship, for each
    threshold, the stricter (narrower) width of the two fits. Why: a fit on all datasets is judged on the
    data it was fitted to; either half's fit meets the targets on its own half, and the narrower of two widths
    lets fewer channels through, so it is the one less likely to have been fitted to one half's luck. None
    when either half supports no fit."""
    fits = [fit_thresholds(half(chans, name)) for name in HALVES]
    if None in fits:
        return None
    return min(f[0] for f in fits), min(f[1] for f in fits)


# ------------------------------------------------------------------------------------------- tables


def label_table(chans: pd.DataFrame, title: str):
    from rich.table import Table

    table = Table(title=title)
    for col in ("label", "channels", "median |ROI err| %", "> 50 % off"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label in confidence.LABELS:
        sel = chans[chans["label"] == label]
        table.add_row(label, str(len(sel)), f"{100 * sel['error'].median():.1f}" if len(sel) else "–",
                      f"{(sel['error'] > FAR_OFF).mean():.0%}" if len(sel) else "–")
    return table


WIDTH_BINS = (0.0, 0.5, 1.0, 2.0, np.inf)


def signal_groups(chans: pd.DataFrame) -> dict[str, pd.Series]:
    """Each signal the label reads, as a grouping of the channels (to see which ones predict the error)."""
    sig = chans["signals"]
    flagged = lambda word: sig.map(lambda s: ",".join(sorted(s.flags.get(word, []))) or "none")  # noqa: E731
    return {"dataset": chans["kind"], "width": pd.cut(chans["width"], WIDTH_BINS, right=False).astype(str),
            "agreement": chans["agreement"], "prior-driven in": flagged(PRIOR_DRIVEN),
            "no effect in": flagged(ZERO_EFFECT), "collinear": sig.map(lambda s: str(s.collinear)),
            "short history": sig.map(lambda s: str(s.train_weeks < confidence.SHORT_HISTORY_WEEKS)),
            "audit": sig.map(lambda s: ",".join(sorted(set(s.audit.values()))) or "none")}


def signal_table(chans: pd.DataFrame):
    """Channel count, median |error| and share > 50 % off per value of each signal."""
    from rich.table import Table

    table = Table(title="Which signals predict the error of the headline ROI (all labels)")
    for col in ("signal", "value", "channels", "median |ROI err| %", "> 50 % off"):
        table.add_column(col, justify="left" if col in ("signal", "value") else "right")
    for name, groups in signal_groups(chans).items():
        for value, part in chans.groupby(groups.to_numpy()):
            table.add_row(name, str(value), str(len(part)), f"{100 * part['error'].median():.1f}",
                          f"{(part['error'] > FAR_OFF).mean():.0%}")
    return table


def model_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model: datasets fitted and converged, 90 % coverage, relative width, median |ROI error| of its own ROI."""
    out = []
    for model, part in rows.groupby("model"):
        ok = part[part["status"] == OK]
        covered = (ok["roi_low"] <= ok["true_roi"]) & (ok["true_roi"] <= ok["roi_high"])
        width = ok["rel_width"].replace([np.inf, -np.inf], np.nan).dropna()
        per_seed = part.drop_duplicates("seed")
        out.append({"model": model, "datasets": len(per_seed), "failed": int((per_seed["status"] != OK).sum()),
                    "converged": int(per_seed["converged"].astype(bool).sum()), "channels": len(ok),
                    "coverage": covered.mean() if len(ok) else math.nan,
                    "mean_width": width.mean() if len(width) else math.nan,
                    "median_width": width.median() if len(width) else math.nan,
                    "median_err": ((ok["roi"] - ok["true_roi"]).abs() / ok["true_roi"].abs()).median(),
                    "median_seconds": per_seed["seconds"].median(),
                    "draws": ", ".join(f"{n}×{d:g}" for d, n in per_seed["draws"].value_counts().items())})
    return pd.DataFrame(out)


def model_table(rows: pd.DataFrame):
    from rich.table import Table

    lo, hi = COVERAGE_TARGET
    table = Table(title=f"Per model: 90 % coverage (target {lo:.0%}–{hi:.0%}) and relative width of the interval")
    for col in ("model", "datasets", "failed", "converged", "channels", "90 % coverage", "mean rel. width",
                "median rel. width", "median |ROI err| %", "median s", "datasets × draws per chain"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in model_stats(rows).itertuples():
        table.add_row(r.model, str(r.datasets), str(r.failed), str(r.converged), str(r.channels),
                      f"{r.coverage:.0%}", f"{r.mean_width:.2f}", f"{r.median_width:.2f}",
                      f"{100 * r.median_err:.1f}", f"{r.median_seconds:.0f}", r.draws)
    return table


# ------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="fits in parallel (each in its own process)")
    parser.add_argument("--rows-only", action="store_true", help="refit from the saved rows, fitting no model")
    parser.add_argument("--resume", action="store_true", help="skip the (seed, model) pairs the rows already have")
    parser.add_argument("--stale", action="store_true", help="fit only the pairs whose rows were drawn at "
                        "other than today's default draws (ridge is always refitted when asked for)")
    parser.add_argument("--rows", type=Path, default=ROWS, help="the rows file (default bench/calibration_rows.csv)")
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES),
                        help="fit only these models; their rows replace the saved ones, the others are kept")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(BENCH_SEEDS),
                        help="a subset of the bench seeds (e.g. to time two datasets)")
    parser.add_argument("--audit", action="store_true", help=f"also run the recoverability audit (K={AUDIT_K}) "
                        "from ridge's fit on each dataset; the label reads its verdict")
    parser.add_argument("--no-panels", action="store_true", help="leave out the panel datasets (bench/"
                        "panel_accuracy_rows.csv): fit and judge on the national ones alone")
    parser.add_argument("--pymc-draws", type=int, default=0, help="pymc's draws per chain (default 0: the "
                        "config's default; the rows record draws and convergence)")
    args = parser.parse_args(argv)
    if set(args.seeds) - set(BENCH_SEEDS):
        parser.error(f"--seeds must come from the bench list {BENCH_SEEDS[0]}–{BENCH_SEEDS[-1]} (the tests use others)")
    return args


def main() -> None:
    args = parse_args()
    from rich.console import Console

    if not args.rows_only:
        load = os.getloadavg()
        run_fits(args.seeds, args.models, args.jobs, args.audit, args.pymc_draws, args.rows, args.resume,
                 args.stale)
        print(f"load average before {load}, after {os.getloadavg()}; {os.cpu_count()} CPUs, {args.jobs} job(s)",
              file=sys.stderr)
    rows = complete(read_rows(args.rows))
    chans = all_signals(rows, panels=not args.no_panels)
    models = ", ".join(sorted(rows["model"].unique()))
    console = Console(width=160)
    console.print(model_table(rows))
    console.print(signal_table(chans))
    for name, other, fitted, part in held_out(chans):
        if not fitted:
            console.print(f"the {other} seeds support no fit: nothing to judge on the {name} seeds")
            continue
        for kind, sel in _kinds(part):
            console.print(label_table(sel, f"Held out: the {sel['seed'].nunique()} {name}-seed {kind} datasets "
                                           f"labelled with the thresholds fitted on the {other} seeds "
                                           f"({_pair(fitted)}); {models}"))
    shipped = shipped_thresholds(chans)
    targets = (f"targets: high median |error| ≤ {confidence.TARGET_MEDIAN_ERROR:.0%}, ≤ "
               f"{confidence.TARGET_FAR_OFF_SHARE:.0%} more than 50 % off, at least {MIN_HIGH} channels")
    fits = "; ".join(f"{name} seeds fit {_pair(fit_thresholds(half(chans, name)))}" for name in HALVES)
    console.print(f"{fits}; shipped (the stricter of the two): {_pair(shipped)}; confidence.py has "
                  f"{_pair((confidence.HIGH_WIDTH, confidence.MEDIUM_WIDTH))}; {targets}")


def _kinds(chans: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The channels by kind of dataset (realistic_case national series, realistic_panel panels), then all."""
    names = {NATIONAL: "national (realistic_case)", PANEL: "panel (realistic_panel)"}
    parts = [(names[k], chans[chans["kind"] == k]) for k in (NATIONAL, PANEL) if (chans["kind"] == k).any()]
    return parts + ([("national and panel", chans)] if len(parts) > 1 else [])


def _pair(fitted: tuple[float, float] | None) -> str:
    return f"high width ≤ {fitted[0]:.2f}, medium ≤ {fitted[1]:.2f}" if fitted else "no fit"

if __name__ == "__main__":
    main()
