"""Every worker pool (audit, test plans, benchmarks) runs one BLAS thread per process, like the model runner."""

from __future__ import annotations

from prism.models.pool import process_pool


def blas_threads() -> int:
    """Run in a pool process: the most threads a loaded BLAS will use there (numpy loads OpenBLAS)."""
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_info

    return max(lib["num_threads"] for lib in threadpool_info())


def test_pool_processes_run_one_blas_thread(monkeypatch) -> None:
    for key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(key, raising=False)
    with process_pool(2) as pool:
        assert [f.result() for f in [pool.submit(blas_threads) for _ in range(4)]] == [1, 1, 1, 1]


def test_a_thread_count_the_user_set_is_kept(monkeypatch) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    with process_pool(1) as pool:
        assert pool.submit(blas_threads).result() == 2


def test_an_interrupted_pool_ends_its_processes_at_once() -> None:
    """Ctrl-C inside the pool's block: the running tasks are killed and the queued ones dropped, not awaited."""
    import time

    started = time.monotonic()
    try:
        with process_pool(2) as pool:
            futures = [pool.submit(time.sleep, 30) for _ in range(6)]
            futures[0].running() or time.sleep(0.5)
            processes = list(pool._processes.values())
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert time.monotonic() - started < 20
    assert processes and all(_gone(p.pid) for p in processes)


def _gone(pid: int) -> bool:
    """The OS has no such running process. Not `Process.is_alive()`: when the pool's own manager thread reaps a
    killed worker first, the Process object can no longer wait for it and reports it alive for ever."""
    import os
    from pathlib import Path

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z"  # killed, not yet reaped


def test_watched_pools_report_refits_submitted_and_done() -> None:
    from prism.models.pool import watch_refits

    seen: list[tuple[int, int]] = []
    with watch_refits(lambda submitted, done: seen.append((submitted, done))):
        with process_pool(2) as pool:
            assert list(pool.map(abs, [-1, -2, -3])) == [1, 2, 3]
    assert seen[-1] == (3, 3) and (1, 0) in seen


def test_a_shared_pool_runs_both_steps_on_the_same_processes() -> None:
    """A round's audit and test plans: two `process_pool` blocks inside `shared_pool` start the processes once
    (each start costs about a CPU second of imports); outside it each block has its own."""
    import os

    from prism.models.pool import shared_pool

    def pids(jobs: int) -> set[int]:
        with process_pool(jobs) as pool:
            return set(pool.map(_slow_pid, range(4 * jobs)))

    with shared_pool(2):
        first, second = pids(2), pids(2)
    assert first == second and len(first) == 2 and os.getpid() not in first
    assert pids(2).isdisjoint(first)


def _slow_pid(_: int) -> int:
    import os
    import time

    time.sleep(0.05)  # long enough that both processes take tasks
    return os.getpid()


def test_a_shared_pools_cpu_is_counted_while_its_processes_live() -> None:
    """The loop's pool lives across stages, and the OS counts a process's CPU in its parent's only once it is
    waited for: the loop's CPU per stage adds the live processes' CPU (`shared_cpu`)."""
    from prism.models.pool import shared_cpu, shared_pool

    assert shared_cpu() == 0.0
    with shared_pool(1):
        with process_pool(1) as pool:
            pool.submit(_spin, 0.5).result()
        assert 0.4 <= shared_cpu() < 5


def _spin(seconds: float) -> None:
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
