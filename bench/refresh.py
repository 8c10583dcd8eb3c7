"""`prism refresh` on simulated data with known truth: false alarms on unchanged weeks, detection of a change.

Per seed: the simulator draws `--weeks` + 13 weeks; ridge is fitted and approved on the first `--weeks`;
then two refreshes bring the 13 new weeks: unchanged (a false alarm is any verdict but `stable`, or any
channel flagged), and with one channel's true effect doubled in them (detected when the verdict is `drift`
and that channel is flagged; `named extra` counts other channels flagged beside it). The doubled channel is
the one with the largest true contribution in the new weeks, then the second largest on odd seeds, so the
doubled effect is a realistic few per cent of the KPI. Seeds 100 and up (the tests use others).

    .venv/bin/python bench/refresh.py [--seeds 8] [--first-seed 100] [--weeks 130] [--channels 4] [--quick]
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from bench._table import bench_table, show  # noqa: E402
from prism.analysis import governance  # noqa: E402
from prism.data.discover import PrepareOptions, discover  # noqa: E402
from prism.data.roles import Overrides  # noqa: E402
from prism.data.simulate import simulate  # noqa: E402
from prism.data.sources import SourceSpec  # noqa: E402
from prism.models.runner import run_models  # noqa: E402
from prism.orchestration.refresh import run_refresh  # noqa: E402
from prism.schemas import Verdict  # noqa: E402
from prism.workspace import Workspace  # noqa: E402

FIRST_SEED = 100
NEW_WEEKS = 13
QUIET = Console(quiet=True)


def approved_workspace(root: Path, sim, weeks: int, quick: bool) -> Workspace:
    sim.frame.iloc[:weeks].to_csv(root / "data.csv", index=False)
    ws = Workspace(root / "ws")
    discover(ws, SourceSpec(source="csv", path=str(root / "data.csv")),
             Overrides(date="date", kpi=sim.kpi, channels=sim.channels, controls=sim.controls), PrepareOptions())
    run_models(ws, models=["ridge"], quick=quick, console=QUIET)
    governance.approve(ws, None, "bench", "bench/refresh.py")
    return ws


def refreshed(base: Workspace, frame, where: Path):
    """The refresh report on a copy of the approved workspace."""
    ws = Workspace(shutil.copytree(base.root, where / "copy"))
    frame.to_csv(where / "new.csv", index=False)
    try:
        return run_refresh(ws, str(where / "new.csv"), False, QUIET)
    finally:
        shutil.rmtree(ws.root)


def one_seed(seed: int, weeks: int, channels: int, quick: bool) -> dict:
    sim = simulate(weeks=weeks + NEW_WEEKS, n_channels=channels, seed=seed)
    ranked = sim.contributions.iloc[weeks:].sum().sort_values(ascending=False).index
    doubled = str(ranked[seed % 2])
    changed = sim.frame.copy()
    changed.loc[weeks:, sim.kpi] += sim.contributions[doubled].iloc[weeks:].to_numpy()
    share = float(sim.contributions[doubled].iloc[weeks:].sum() / sim.frame[sim.kpi].iloc[weeks:].sum() * 100)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        base = approved_workspace(Path(tmp), sim, weeks, quick)
        same = refreshed(base, sim.frame, Path(tmp))
        drift = refreshed(base, changed, Path(tmp))
        seconds = time.perf_counter() - t0
    return {"seed": seed, "doubled": doubled, "share": share, "same": same, "drift": drift, "seconds": seconds,
            "false_alarm": same.verdict != Verdict.STABLE or bool(same.flagged),
            "detected": drift.verdict == Verdict.DRIFT and doubled in drift.flagged,
            "extra": len([c for c in drift.flagged if c != doubled])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED, help="not below 100 (the tests' seeds)")
    parser.add_argument("--weeks", type=int, default=130)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="ridge quick mode (fewer resamples)")
    args = parser.parse_args()
    if args.first_seed < FIRST_SEED:
        parser.error(f"--first-seed must be at least {FIRST_SEED}: lower seeds are the tests'")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    rows = [one_seed(s, args.weeks, args.channels, args.quick) for s in seeds]
    table = bench_table(f"prism refresh: {args.weeks} + {NEW_WEEKS} weeks × {args.channels} channels, ridge",
                        ["seed", "doubled", "% of KPI", "unchanged", "flagged", "coverage", "changed", "flagged ",
                         "coverage ", "s"], ["doubled", "unchanged", "flagged", "changed", "flagged "])
    for r in rows:
        same, drift = r["same"], r["drift"]
        table.add_row(str(r["seed"]), r["doubled"], f"{r['share']:.1f}", str(same.verdict), ", ".join(same.flagged),
                      f"{same.forecast.coverage:.0%}", str(drift.verdict), ", ".join(drift.flagged),
                      f"{drift.forecast.coverage:.0%}", f"{r['seconds']:.0f}")
    n = len(rows)
    note = (f"false alarms on unchanged weeks: {sum(r['false_alarm'] for r in rows)}/{n}; doubled channel detected: "
            f"{sum(r['detected'] for r in rows)}/{n}; other channels flagged beside it: "
            f"{sum(r['extra'] for r in rows)} in {n} runs")
    show(table, note, width=170)


if __name__ == "__main__":
    main()
