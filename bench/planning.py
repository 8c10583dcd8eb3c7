"""Timings of the planning layer: the optimizer at 8 channels × 1,000 pooled draws and on a real ridge
run's kept draws, `prism ask` answers, and the start-up of `prism ask` as a fresh process.

Targets (issue 13): optimize < 3 s; an answer < 1 s after start-up; `prism ask` start-up < 1.5 s.
Pooled: `KeptDraws` (geometric adstock + Hill) around the simulator's true curves, two models of 500
draws each. Real: `prism discover` + `prism run --models ridge` on the bundled brand data (8 channels),
then the optimizer, scenarios and questions read rounds/R01_draws/ridge.nc as `prism optimize` does.
On a shared machine the CPU column is the steadier figure (wall time waits for the other processes).
Usage: python bench/planning.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._table import bench_table, show  # noqa: E402

from prism.data.simulate import simulate  # noqa: E402
from prism.planning.outputs import load_sources, open_planner  # noqa: E402
from prism.planning.plan import Planner, PlanRequest  # noqa: E402
from prism.workspace import Workspace  # noqa: E402
from tests.helpers.planning import from_simulation  # noqa: E402

TARGETS = {"optimize": 3.0, "ask": 1.0, "startup": 1.5}
QUESTIONS = ("What is the ROI of Facebook vs Google Search?", "Which channels are saturated?",
             "What drove revenue in Q4?", "What if we cut facebook by 20%?", "How should I split 500k next month?",
             "Can I trust the Instagram number?")
SAMPLE = ROOT / "prism" / "sample_data" / "conjura_apparel_brand_weekly.csv"


def timed(fn, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `fn()` over `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


Row = tuple[str, float, float, float]  # what, wall s, CPU s, target s


def optimize_rows(repeat: int) -> list[Row]:
    sim = simulate(weeks=130, n_channels=8, seed=1)
    models = {"ridge": from_simulation(sim, 500, seed=1), "pymc": from_simulation(sim, 500, seed=2)}
    high = dict.fromkeys(sim.channels, "high")
    rows = []
    for name, kw, req in (
        ("optimize, mean (8 ch × 1,000 draws)", {"confidence": high}, PlanRequest()),
        ("optimize, cvar", {"confidence": high}, PlanRequest(objective="cvar")),
        ("optimize, confidence caps (2 solves)", {}, PlanRequest()),
        ("optimize, --target-mroi 1.2", {"confidence": high}, PlanRequest(target_mroi=1.2)),
    ):
        wall, cpu = timed(lambda: Planner(models, **kw).optimize(req), repeat)  # fresh planner: no cached curves
        rows.append((name, wall, cpu, TARGETS["optimize"]))
    return rows


def real_workspace() -> Path:
    """A workspace with a real ridge run on the bundled brand data (its kept draws on disk)."""
    root = Path(tempfile.mkdtemp(prefix="prism-bench-plan-"))
    shutil.copy(SAMPLE, root / "data.csv")
    for args in (["discover", "--source", "csv", "--path", str(root / "data.csv")], ["run", "--models", "ridge"], ["compare"]):
        proc = subprocess.run([sys.executable, "-m", "prism", *args, "--workdir", str(root)], capture_output=True,
                              text=True, cwd=ROOT, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            sys.exit(f"prism {args[0]} failed: {proc.stderr[-1000:]}")
    return root


def real_rows(root: Path, repeat: int) -> list[Row]:
    ws = Workspace(root)
    sources = load_sources(ws)
    n = sum(src.n_draws for src in sources.values())
    kd = sources["ridge"]
    label = f"real ridge draws ({len(kd.channels)} ch × {n} draws, max_lag {kd.max_lag})"
    rows = [(f"optimize, {label}", *timed(lambda: open_planner(ws).optimize(PlanRequest()), repeat),
             TARGETS["optimize"]),
            (f"optimize + scenarios, {label}", *timed(lambda: _plan_and_scenarios(ws), repeat), TARGETS["optimize"])]
    return rows


def _plan_and_scenarios(ws: Workspace) -> None:
    planner = open_planner(ws)
    planner.scenarios(PlanRequest(), optimum=planner.optimize(PlanRequest()))


def ask_rows(root: Path, repeat: int) -> list[Row]:
    from prism.llm.ask import AskContext, respond

    ws = Workspace(root)
    rows = []
    for q in QUESTIONS:
        wall, cpu = timed(lambda: respond(AskContext(ws), q), repeat)  # fresh context: files and draws re-read
        rows.append((f"ask: {q}", wall, cpu, TARGETS["ask"]))
    return rows


def startup_rows(root: Path, repeat: int) -> list[Row]:
    """Fresh processes: the start-up alone (target 1.5 s) and a whole `prism ask` (start-up + an answer: 2.5 s)."""
    ask = [sys.executable, "-m", "prism", "ask"]
    whole = TARGETS["startup"] + TARGETS["ask"]
    cmds = {"python -c 'import prism.cli'": ([sys.executable, "-c", "import prism.cli"], TARGETS["startup"]),
            "prism ask --help (start-up)": ([*ask, "--help"], TARGETS["startup"]),
            "prism ask (saturation), whole process": ([*ask, "Which channels are saturated?", "--workdir", str(root)],
                                                      whole)}
    rows = []
    for name, (cmd, target) in cmds.items():
        walls, cpus = [], []
        for _ in range(repeat):
            t, c = time.perf_counter(), _child_cpu()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL)
            walls.append(time.perf_counter() - t)
            cpus.append(_child_cpu() - c)
            if proc.returncode != 0:
                sys.exit(f"{name} failed: {proc.stderr[-1000:]}")
        rows.append((name, statistics.median(walls), statistics.median(cpus), target))
    return rows


def _child_cpu() -> float:
    """CPU seconds of finished child processes: on a shared machine the steadier figure than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = real_workspace()
    rows = optimize_rows(args.repeat) + real_rows(root, args.repeat) + ask_rows(root, args.repeat)
    rows += startup_rows(root, args.repeat)
    table = bench_table(f"Planning timings (median of {args.repeat})", ("what", "wall s", "CPU s", "target s", "ok"),
                        ("what",))
    for name, wall, cpu, target in rows:
        table.add_row(name, f"{wall:.2f}", f"{cpu:.2f}", f"{target:g}", "yes" if wall < target else "no")
    show(table)


if __name__ == "__main__":
    main()
