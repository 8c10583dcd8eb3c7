"""Worker pools for refits (the audit, the test plans, the benchmarks): fresh processes, one BLAS thread each.

The model runner starts each model's process with one BLAS thread (`prism.models.worker.worker_env`); these
pools do the same. Their refits share the cores, and a second BLAS thread per process only spins against
the others: on 209 weeks × 10 channels the audit's refits took 54 s with two threads and 13 s with one.
This module imports nothing heavy, so a pool's processes start without loading Prism's data stack.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def process_pool(jobs: int, **options) -> ProcessPoolExecutor:
    """A pool of `jobs` spawned processes, each limited to one BLAS thread before it runs a task."""
    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=one_blas_thread, **options)


def one_blas_thread() -> None:
    """Pool initializer: one thread for every BLAS loaded now or later; a thread count the person running
    Prism set is kept."""
    if any(k in os.environ for k in ONE_BLAS_THREAD):
        return
    os.environ.update(ONE_BLAS_THREAD)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
