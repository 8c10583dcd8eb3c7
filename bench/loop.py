"""Wall time of `prism demo` (bundled brand data, offline rule-based agents) per stage and round.

Target: 4 rounds in ≤ 5 minutes on 2 cores. Usage: python bench/loop.py [--rounds 4] [--quick] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

TARGET_SECONDS = 300
STAGES = ("discover", "explore", "tune", "run", "compare", "analyze", "critique", "revise", "recritique",
          "report", "proofread", "render")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", type=Path, default=None, help="workspace to keep (default: a temp folder)")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="prism-bench-")) / "demo"
    cmd = [sys.executable, "-m", "prism", "demo", "--workdir", str(root), "--rounds", str(args.rounds)]
    cmd += ["--quick"] if args.quick else []
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"prism demo failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}")
    state = json.loads((root / "state.json").read_text())
    console = Console()
    table = Table(title=f"prism demo, {args.rounds} rounds{' (quick)' if args.quick else ''}: seconds per stage")
    table.add_column("stage")
    for r in state["rounds"]:
        table.add_column(f"R{r['round']:02d}", justify="right")
    used = [s for s in STAGES if any(s in r["timings"] for r in state["rounds"])]
    for s in used:
        table.add_row(s, *[f"{r['timings'][s]:.1f}" if s in r["timings"] else "" for r in state["rounds"]])
    table.add_row("total", *[f"{sum(r['timings'].values()):.1f}" for r in state["rounds"]])
    console.print(table)
    per_model = {}
    for n in range(1, len(state["rounds"]) + 1):
        res = root / "rounds" / f"R{n:02d}_results.json"
        if res.exists():
            for name, m in json.loads(res.read_text())["models"].items():
                per_model.setdefault(name, []).append(m.get("seconds", 0.0))
    for name, secs in per_model.items():
        console.print(f"{name}: {', '.join(f'{s:.1f}' for s in secs)} s per round")
    verdict = "meets" if wall <= TARGET_SECONDS else "misses"
    console.print(f"wall time {wall:.1f} s for {len(state['rounds'])} round(s) incl. process start-up: "
                  f"{verdict} the {TARGET_SECONDS} s target")


if __name__ == "__main__":
    main()
