"""Wall and CPU seconds per stage of the loop: `prism demo`, or one round on the wide retail shape.

    python bench/loop.py                  # prism demo (4 rounds, full models) in a temp folder
    python bench/loop.py --wide           # 209 weeks × 10 channels × 40+ events: one round, then
                                          # `prism optimize` and `prism ask` (wall, CPU, peak memory)
    python bench/loop.py --cold           # with empty JAX and PyTensor (numba) compile caches: a first run

CPU is that of Prism's own processes (the loop and every worker it waited for), read from state.json's
per-stage `cpu` and from the operating system for the whole command. Targets: the demo within 300 CPU s;
on the wide shape a round within 300 s, `prism optimize` within 3 s and `prism ask` within 1 s, each
under 1 GB. The load average is printed: wall times only mean something on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._caches import empty_compile_caches  # noqa: E402

DEMO_CPU_TARGET = 300
WIDE_SEED = 7  # bench seed, apart from the tests' seeds
QUESTION = "what if we cut channel_01 by 20%"
STAGES = ("discover", "explore", "tune", "run", "compare", "analyze", "critique", "revise", "recritique",
          "report", "proofread", "render")  # render's CPU is inside proofread's (the stage that renders)


def timed(cmd: list[str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, stderr tail) of one command and the children it waited for."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, err


def stage_table(root: Path, title: str) -> Table:
    """Per stage and round: wall / CPU seconds from state.json."""
    state = json.loads((root / "state.json").read_text())
    table = Table(title=title)
    table.add_column("stage")
    for r in state["rounds"]:
        table.add_column(f"R{r['round']:02d} wall / CPU s", justify="right")
    for stage in [s for s in STAGES if any(s in r["timings"] for r in state["rounds"])]:
        table.add_row(stage, *[f"{r['timings'][stage]:.1f} / {_cpu(r, stage)}" if stage in r["timings"] else ""
                               for r in state["rounds"]])
    table.add_row("total", *[f"{sum(r['timings'].values()):.1f} / {sum(r.get('cpu', {}).values()):.1f}"
                             for r in state["rounds"]])
    return table


def _cpu(record: dict, stage: str) -> str:
    value = record.get("cpu", {}).get(stage)
    return "–" if value is None else f"{value:.1f}"


def wide_workspace(root: Path) -> None:
    """The wide retail shape (tests/retail_like.py), discovered as a user would: events found by discover."""
    from prism.data.discover import PrepareOptions, discover
    from prism.data.roles import Overrides
    from prism.data.sources import SourceSpec
    from prism.workspace import Workspace
    from tests.retail_like import retail_like

    case = retail_like(WIDE_SEED)
    root.mkdir(parents=True, exist_ok=True)
    case.frame.to_csv(root / "retail.csv", index=False)
    discover(Workspace(root), SourceSpec(source="csv", path=str(root / "retail.csv")),
             Overrides(date="date", kpi=case.kpi, channels=case.channels), PrepareOptions())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--wide", action="store_true", help="one round on the wide retail shape, then optimize and ask")
    ap.add_argument("--keep", type=Path, default=None, help="workspace to keep (default: a temp folder)")
    ap.add_argument("--cold", action="store_true", help="empty JAX and PyTensor (numba) compile caches: a first run")
    args = ap.parse_args()
    console = Console()
    if args.cold:
        console.print(f"compile caches: {empty_compile_caches()}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="prism-bench-")) / ("wide" if args.wide else "demo")
    prism = [sys.executable, "-m", "prism"]
    load = os.getloadavg()
    if args.wide:
        wide_workspace(root)
        wall, cpu, rss, _ = timed([*prism, "loop", "--rounds", "1", "-w", str(root)])
    else:
        wall, cpu, rss, _ = timed([*prism, "demo", "--workdir", str(root), "--rounds", str(args.rounds)])
    what = "wide 209 × 10 × 40+ events, one round" if args.wide else f"prism demo, {args.rounds} rounds"
    console.print(stage_table(root, f"{what}: seconds per stage"))
    console.print(f"{what}: {wall:.1f} s wall, {cpu:.1f} CPU s (Prism's processes), peak RSS {rss:.0f} MB")
    if not args.wide:
        console.print(f"demo CPU target {DEMO_CPU_TARGET} s: {'met' if cpu <= DEMO_CPU_TARGET else 'missed'}")
    else:
        for name, cmd in (("prism optimize", [*prism, "optimize", "-w", str(root)]),
                          ("prism ask", [*prism, "ask", QUESTION, "-w", str(root)])):
            wall, cpu, rss, _ = timed(cmd)
            console.print(f"{name}: {wall:.2f} s wall, {cpu:.2f} CPU s, peak RSS {rss:.0f} MB")
    end = os.getloadavg()
    console.print(f"load average (1 min) {load[0]:.1f} at the start, {end[0]:.1f} at the end; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
