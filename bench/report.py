"""Wall time of `prism report` on the bundled brand data: the Reporter plus rendering every deliverable.

Target: ≤ 10 s for `prism report` (process start-up included). The workspace comes from a real
`prism demo` run (offline agents), or pass one with --workdir.
Usage: python bench/report.py [--workdir DIR] [--repeat 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

TARGET_SECONDS = 10.0


def _demo(rounds: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="prism-bench-report-")) / "demo"
    cmd = [sys.executable, "-m", "prism", "demo", "--workdir", str(root), "--rounds", str(rounds), "--quick"]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        sys.exit(f"prism demo failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}")
    return root


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wall(args: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run: on a shared machine the CPU time is the steadier figure."""
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), _child_cpu()
        proc = subprocess.run([sys.executable, "-m", "prism", *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        cpus.append(_child_cpu() - c0)
        if proc.returncode != 0:
            sys.exit(f"prism {' '.join(args)} failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}")
    return walls, cpus


def _stages(root: Path) -> dict[str, float]:
    """In-process seconds per rendering step (imports excluded)."""
    from prism.report import charts, deck, html, xlsx
    from prism.report.inputs import load_inputs
    from prism.workspace import Workspace

    out: dict[str, float] = {}
    t = time.perf_counter()
    inp = load_inputs(Workspace(root))
    out["load"] = time.perf_counter() - t
    t = time.perf_counter()
    paths = charts.render_charts(inp, Path(tempfile.mkdtemp()))
    out[f"charts ({len(paths)})"] = time.perf_counter() - t
    for name, build in (("deck", lambda: deck.build_deck(inp, paths)), ("html", lambda: html.build_html(inp, paths)),
                        ("xlsx", lambda: xlsx.build_workbook(inp))):
        t = time.perf_counter()
        build()
        out[name] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, default=None, help="an existing workspace (default: run prism demo)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="demo rounds when no --workdir is given")
    args = ap.parse_args()
    root = args.workdir or _demo(args.rounds)
    console = Console(width=120)
    table = Table(title=f"prism report on {root}: wall seconds (process start-up included)")
    for col in ("command", "runs", "wall median", "wall min", "wall max", "CPU median", "target"):
        table.add_column(col, justify="left" if col == "command" else "right")
    rows = {"prism report --render-only": ["report", "--render-only", "--workdir", str(root)],
            "prism report (Reporter + render)": ["report", "--workdir", str(root)]}
    worst = 0.0
    for label, cmd in rows.items():
        times, cpus = _wall(cmd, args.repeat)
        worst = max(worst, statistics.median(times))
        table.add_row(label, str(len(times)), f"{statistics.median(times):.2f}", f"{min(times):.2f}",
                      f"{max(times):.2f}", f"{statistics.median(cpus):.2f}", f"{TARGET_SECONDS:.0f}")
    console.print(table)
    load = os.getloadavg()[0]
    console.print(f"load average during the runs: {load:.1f} on {os.cpu_count()} cores"
                  + (" (busy machine: wall times are inflated; CPU time is the steadier figure)"
                     if load > (os.cpu_count() or 1) else ""))
    stages = Table(title="render steps in process (seconds)")
    stages.add_column("step")
    stages.add_column("seconds", justify="right")
    for step, secs in _stages(root).items():
        stages.add_row(step, f"{secs:.2f}")
    console.print(stages)
    verdict = "meets" if worst <= TARGET_SECONDS else "misses"
    console.print(f"median wall time {worst:.2f} s: {verdict} the {TARGET_SECONDS:.0f} s target")


if __name__ == "__main__":
    main()
