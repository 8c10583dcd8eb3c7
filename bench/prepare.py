"""Benchmark: load + weekly aggregation + discover on a multi-entity daily file and a 1M-row transaction file.

Each case runs in a fresh process so that its peak resident memory (VmHWM) is its own; the
table shows the time of each stage and the peak memory, against the target (1M rows: < 10 s, < 1.5 GB).

    .venv/bin/python bench/prepare.py [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

CHANNELS = ["tv_spend", "radio_spend", "print_spend", "ooh_spend", "search_spend", "shopping_spend", "meta_spend",
            "tiktok_spend", "youtube_spend", "affiliate_spend"]
REGIONS = ["north", "south", "east", "west", "central"]
TARGET_SECONDS = 10.0
TARGET_GB = 1.5


def daily_file(folder: Path, years: int = 3) -> Path:
    """5 regions × 3 years of days × 10 channels, one control, revenue and orders (≈ 5,500 rows)."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2021-01-04", periods=365 * years, freq="D")
    frames = []
    for region in REGIONS:
        spend = rng.gamma(2.0, 200.0, size=(len(days), len(CHANNELS))).round(2)
        revenue = 5000 + spend @ rng.uniform(0.5, 3.0, len(CHANNELS)) + rng.normal(0, 300, len(days))
        frames.append(pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "region": region,
                                    **dict(zip(CHANNELS, spend.T)), "price": rng.normal(20, 1, len(days)).round(2),
                                    "orders": (revenue / 50).round(), "revenue": revenue.round(2)}))
    path = folder / "daily_5x10.csv"
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path


def transaction_file(folder: Path, rows: int) -> Path:
    """One row per order over 3 years (time-stamped, 5 regions); media cost lines sit in about 5 % of rows."""
    rng = np.random.default_rng(1)
    seconds = np.sort(rng.integers(0, 3 * 365 * 86400, rows))
    stamps = pd.Timestamp("2021-01-04") + pd.to_timedelta(seconds, unit="s")
    spend = np.where(rng.random((rows, len(CHANNELS))) < 0.05, rng.gamma(2.0, 50.0, (rows, len(CHANNELS))), 0.0)
    frame = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "region": rng.choice(REGIONS, rows),
                          "revenue": rng.gamma(2.0, 40.0, rows).round(2), **dict(zip(CHANNELS, spend.round(2).T))})
    path = folder / f"transactions_{rows}.csv"
    frame.to_csv(path, index=False)
    return path


def peak_rss_kb() -> int:
    """Peak resident memory of this process: VmHWM on Linux (ru_maxrss would include the parent's peak
    before the fork), else ru_maxrss."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(path: str, queue: mp.Queue) -> None:
    """Run in a fresh process: time each stage of discover and report the peak RSS."""
    from prism.data.discover import PrepareOptions, data_config
    from prism.data.prepare import prepare
    from prism.data.profile import build_profile
    from prism.data.roles import Overrides, detect_roles
    from prism.data.sources import SourceSpec, load_source

    base_kb = peak_rss_kb()
    spec = SourceSpec("csv", path=path)
    times = {}
    t0 = time.perf_counter()
    raw = load_source(spec, Path("."))
    times["load"] = time.perf_counter() - t0
    t = time.perf_counter()
    roles = detect_roles(raw.frame, Overrides(), None, raw.name)
    times["roles"] = time.perf_counter() - t
    t = time.perf_counter()
    data = data_config(spec, roles, PrepareOptions(aggregate_entities=True), None, raw.name)
    prepared = prepare(raw, data)
    times["weekly"] = time.perf_counter() - t
    t = time.perf_counter()
    build_profile(prepared, data)
    times["profile"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    peak_kb = peak_rss_kb()
    queue.put({"rows": len(raw.frame), "weeks": len(prepared.frame), "frequency": prepared.frequency,
               "channels": len(prepared.channels), "times": times, "peak_mb": peak_kb / 1024,
               "delta_mb": (peak_kb - base_kb) / 1024})


def run_case(path: Path) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=measure, args=(str(path), queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the transaction file")
    parser.add_argument("--keep", type=Path, help="write the generated files here instead of a temp folder")
    args = parser.parse_args()
    console = Console(width=160)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        with console.status("Generating the input files…"):
            files = {"daily, 5 entities × 10 channels": daily_file(folder),
                     f"transactions, {args.rows:,} rows": transaction_file(folder, args.rows)}
        table = Table(title="prism prepare + discover benchmark (CSV, entities summed)")
        for col in ("case", "rows", "MB on disk", "weeks", "freq", "load s", "roles s", "weekly s", "profile s",
                    "total s", "peak RSS MB", "Δ RSS MB (after imports)"):
            table.add_column(col, justify="right" if col != "case" else "left")
        for name, path in files.items():
            with console.status(f"Measuring {name}…"):
                r = run_case(path)
            t = r["times"]
            table.add_row(name, f"{r['rows']:,}", f"{path.stat().st_size / 1e6:.1f}", str(r["weeks"]), r["frequency"],
                          *(f"{t[k]:.2f}" for k in ("load", "roles", "weekly", "profile", "total")),
                          f"{r['peak_mb']:.0f}", f"{r['delta_mb']:.0f}")
        console.print(table)
        console.print(f"target for 1M rows: total < {TARGET_SECONDS:g} s and peak < {TARGET_GB:g} GB "
                      f"({TARGET_GB * 1024:.0f} MB); machine: {mp.cpu_count()} CPU cores")


if __name__ == "__main__":
    main()
