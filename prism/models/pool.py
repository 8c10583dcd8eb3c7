"""Worker pools for refits (the audit, the test plans, the benchmarks): fresh processes, one BLAS thread each.

The model runner starts each model's process with one BLAS thread (`prism.models.worker.worker_env`); these
pools do the same. Their refits share the cores, and a second BLAS thread per process only spins against
the others: on 209 weeks × 10 channels the audit's refits took 54 s with two threads and 13 s with one.
This module imports nothing heavy, so a pool's processes start without loading Prism's data stack. Left
through Ctrl-C or SIGTERM, a pool kills its processes instead of finishing the queued refits.

A process costs about 1.25 CPU s before its first refit (it imports numpy, scipy, pandas and Prism's
models), so the loop opens one pool for all its audits and test plans (`shared_pool`) instead of one each.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from multiprocessing import get_context
from typing import Callable, Iterator

JOIN_SECONDS = 5
MAX_JOBS = 4  # parallel refits; more waste work on test-plan candidates dropped early
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class RefitCounter:
    """Refits submitted and finished in the pools opened under `watch_refits`, told to a listener."""

    def __init__(self, listener: Callable[[int, int], None]):
        self.listener, self.submitted, self.done = listener, 0, 0
        self._lock = threading.Lock()

    def add(self, future: Future) -> None:
        with self._lock:
            self.submitted += 1
        self.listener(self.submitted, self.done)
        future.add_done_callback(self._finished)

    def _finished(self, future: Future) -> None:
        with self._lock:  # a cancelled refit never ran: it leaves the total
            self.submitted -= future.cancelled()
            self.done += not future.cancelled()
        self.listener(self.submitted, self.done)


_COUNTER: ContextVar[RefitCounter | None] = ContextVar("refit_counter", default=None)
_SHARED: ContextVar["RefitPool | None"] = ContextVar("shared_pool", default=None)


@contextmanager
def watch_refits(listener: Callable[[int, int], None]) -> Iterator[RefitCounter]:
    """Tell `listener(submitted, done)` about every refit of the pools opened inside the block (a progress
    bar of the audit and the test plans, without their code knowing about progress)."""
    counter = RefitCounter(listener)
    token = _COUNTER.set(counter)
    try:
        yield counter
    finally:
        _COUNTER.reset(token)
        counter.listener = lambda submitted, done: None  # a refit ending after the block (shared pool) is not told


class RefitPool(ProcessPoolExecutor):
    """A process pool that, left through an exception (Ctrl-C, SIGTERM, an error), ends its processes at once.

    The standard pool's exit waits for every task already queued (the audit queues all of its refits), so a
    Ctrl-C during the audit used to take as long as the refits still to run."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = super().submit(fn, *args, **kwargs)
        counter = _COUNTER.get()
        if counter is not None:
            counter.add(future)
        return future

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            return super().__exit__(exc_type, exc, tb)
        self.stop_now()
        return False

    def live_cpu(self) -> float:
        """CPU seconds of the pool's processes that have not been waited for yet (the operating system counts
        a process in the parent's children's time only once it is waited for)."""
        return sum(process_cpu(p.pid) for p in list((self._processes or {}).values()))

    def stop_now(self) -> None:
        """Cancel what has not started and kill the processes running the rest."""
        processes = list((self._processes or {}).values())  # the pool's own record of its processes
        self.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.kill()
        for proc in processes:
            proc.join(JOIN_SECONDS)


def refit_jobs(most: int = MAX_JOBS) -> int:
    """Parallel refits on this machine: one per core, at most `most`."""
    return min(most, os.cpu_count() or 1)


def new_pool(jobs: int, **options) -> RefitPool:
    """A pool of `jobs` spawned processes, each limited to one BLAS thread before it runs a task."""
    return RefitPool(jobs, mp_context=get_context("spawn"), initializer=one_blas_thread, **options)


@contextmanager
def process_pool(jobs: int, **options) -> Iterator[RefitPool]:
    """The pool `shared_pool` opened around this block, else a new one of `jobs` processes for the block.

    On a shared pool a caller keeps at most its `jobs` refits in flight: a refit still queued when the block
    ends would delay the next step's, and the pool is not closed at the block's end to drop it."""
    shared = _SHARED.get()
    if shared is not None:
        yield shared
        return
    with new_pool(jobs, **options) as pool:
        yield pool


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (0 once it is gone), from /proc where there is one."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shared_cpu() -> float:
    """`live_cpu` of the pool `shared_pool` holds open here (0 without one): a loop's CPU per stage adds it."""
    shared = _SHARED.get()
    return 0.0 if shared is None else shared.live_cpu()


@contextmanager
def shared_pool(jobs: int) -> Iterator[None]:
    """One pool for every `process_pool` block inside (the loop's audits and test plans, round after round);
    its processes start at the first refit, so a loop whose steps all come from the cache starts none."""
    with new_pool(jobs) as pool:
        token = _SHARED.set(pool)
        try:
            yield
        finally:
            _SHARED.reset(token)


def one_blas_thread() -> None:
    """Pool initializer: one thread for every BLAS loaded now or later; a thread count the person running
    Prism set is kept."""
    if any(k in os.environ for k in ONE_BLAS_THREAD):
        return
    os.environ.update(ONE_BLAS_THREAD)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
