"""`prism portfolio` on Ray against the same entities run one after another; then a two-node cluster.

For 1, 4 and 12 simulated brands (70 weeks × 3 channels each) it times: the entities fitted one after
another in this process (`run_entity`, the Ray task's own body, no Ray), the same through `run_portfolio`
on a local Ray with one CPU (the same parallelism, so the difference is Ray's overhead), and on a local Ray
with every core. Ray's start-up (ray.init and the first worker importing Prism) is paid once per run and
printed apart; the overhead per entity is (Ray wall − sequential wall) ÷ entities on a started Ray. Then a
head and a worker node are started with `ray start --block` on this machine (one CPU each) and 4 entities
run through `--address`. Each round is ridge-only and quick (no audit), stated in the table: the shortest
real round, so Ray's overhead is the largest share it can be. Target: overhead ≤ 10 % per entity.

    nice -n 10 .venv/bin/python bench/portfolio.py [--sizes 1,4,12] [--repeat 2] [--two-node 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from prism.data.simulate import simulate  # noqa: E402
from prism.orchestration.entity import RoundOptions  # noqa: E402
from prism.orchestration.portfolio import entity_task, folders, run_portfolio  # noqa: E402
from rich.console import Console  # noqa: E402

SETTINGS = {"models": ["ridge"], "ridge": {"bootstrap": 100, "search_budget": 20}}
TARGET_PCT = 10.0
HEAD_PORT = 6391  # not Ray's default, so a cluster someone else runs here is never joined
QUIET = Console(quiet=True)


def brands(folder: Path, n: int) -> Path:
    frames = [simulate(weeks=70, n_channels=3, seed=100 + i).frame.assign(brand=f"brand {i:02d}") for i in range(n)]
    path = folder / f"brands_{n}.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def options(path: Path) -> RoundOptions:
    return RoundOptions(spec={"source": "csv", "path": str(path)},
                        overrides={"kpi": "revenue", "entity_column": "brand"},
                        prepare={"aggregate_entities": False, "week_anchor": "MON", "fill_gaps": False},
                        settings=SETTINGS, quick=True)


def sequential(folder: Path, path: Path, n: int) -> float:
    """The Ray task's own function called in this process, one entity after another (imports done first, as
    a started Ray's workers have them)."""
    _warm()
    names = [f"brand {i:02d}" for i in range(n)]
    t0 = time.perf_counter()
    for name, sub in folders(names).items():
        outcome = entity_task(str(folder / "entities" / sub), name, sub, options(path))
        assert outcome.status == "ok", outcome
    return time.perf_counter() - t0


def on_ray(folder: Path, path: Path, address: str | None = None) -> tuple[float, int]:
    """Wall seconds of `run_portfolio` and the CPUs the Ray it ran on had."""
    t0 = time.perf_counter()
    run = run_portfolio(folder, "brand", options(path), address=address, console=QUIET)
    assert all(o.status == "ok" for o in run.outcomes), run.outcomes
    return time.perf_counter() - t0, run.cpus


def started_ray(cpus: int) -> float:
    """A local Ray with `cpus`, each worker having imported what an entity's round imports; its seconds."""
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray.get([ray.remote(num_cpus=1)(_warm).remote() for _ in range(cpus)])
    return time.perf_counter() - t0


def _warm() -> None:
    import prism.analysis.compare  # noqa: F401
    import prism.data.discover  # noqa: F401
    import prism.models.runner  # noqa: F401
    import prism.orchestration.entity  # noqa: F401


def sizes_table(work: Path, sizes: list[int], repeat: int) -> list[list[str]]:
    """Per size, the fastest of `repeat` alternating runs of each kind: on a shared machine the minimum is
    the run least disturbed by the others' load."""
    import ray

    rows = []
    for n in sizes:
        path = brands(work, n)
        seq, one, many, startup = [], [], [], []
        for r in range(repeat):
            seq.append(sequential(work / f"seq{n}_{r}", path, n))
            startup.append(started_ray(1))
            one.append(on_ray(work / f"ray1_{n}_{r}", path)[0])
            ray.shutdown()
            started_ray(os.cpu_count() or 1)
            many.append(on_ray(work / f"rayN_{n}_{r}", path)[0])
            ray.shutdown()
        seq, one, many, startup = min(seq), min(one), min(many), min(startup)
        per = (one - seq) / n
        rows.append([str(n), f"{seq:.1f}", f"{one:.1f}", f"{per:+.2f}", f"{per / (seq / n) * 100:+.1f} %",
                     f"{startup:.1f}", f"{many:.1f}", f"{seq / many:.2f}×"])
    return rows


def two_nodes(work: Path, n: int) -> list[str]:
    """Head and worker started with `ray start --block` (stopped by their own process ids afterwards)."""
    import ray

    ray_cli = str(Path(sys.executable).with_name("ray"))
    temp = tempfile.mkdtemp(prefix="ray-bench-")
    common = ["--block", "--num-cpus", "1", "--disable-usage-stats"]
    head = subprocess.Popen([ray_cli, "start", "--head", "--port", str(HEAD_PORT), "--include-dashboard", "false",
                             "--temp-dir", temp, *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        address = f"127.0.0.1:{HEAD_PORT}"
        _wait_nodes(address, 1)
        worker = subprocess.Popen([ray_cli, "start", "--address", address, *common],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_nodes(address, 2)
        path = brands(work, n)
        wall, cpus = on_ray(work / "two_nodes", path, address=address)
        return [f"{n} entities via --address (head + worker, 1 CPU each)", str(cpus), f"{wall:.1f}"]
    finally:
        for proc in (worker, head):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=60)
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_nodes(address: str, count: int, timeout: float = 120.0) -> None:
    import ray

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            alive = sum(node["Alive"] for node in ray.nodes())
            ray.shutdown()
            if alive >= count:
                return
        except Exception:  # the head is not up yet
            pass
        time.sleep(2)
    raise RuntimeError(f"Ray at {address}: {count} node(s) not up after {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,12")
    parser.add_argument("--two-node", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="alternating runs per size; the fastest counts")
    args = parser.parse_args()
    from bench._table import bench_table, show

    work = Path(tempfile.mkdtemp(prefix="prism-portfolio-bench-"))
    try:
        rows = sizes_table(work, [int(s) for s in args.sizes.split(",")], args.repeat)
        table = bench_table(f"Portfolio on Ray vs one after another (ridge-only quick rounds, 70 weeks × 3 channels; "
                            f"fastest of {args.repeat})",
                            ["entities", "sequential s", "Ray 1 CPU s", "overhead s/entity", "overhead %",
                             "Ray start-up s (once)", f"Ray {os.cpu_count()} CPU s", "speed-up"], ["entities"])
        for row in rows:
            table.add_row(*row)
        show(table, f"target: overhead ≤ {TARGET_PCT:.0f} % per entity on a started Ray", width=150)
        if args.two_node:
            cluster = bench_table("Two Ray nodes on this machine (ray start --head; ray start --address)",
                                  ["run", "CPUs Ray had", "wall s"], ["run"])
            cluster.add_row(*two_nodes(work, args.two_node))
            show(cluster, width=150)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
