"""Progress shown while the loop works: a row per stage, and a bar with time left for the refits inside one.

The audit and the test plans refit ridge hundreds of times; `refit_bar` counts them through the pools they
open (`prism.models.pool.watch_refits`), so their code knows nothing about progress.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from prism.models.pool import watch_refits


def loop_progress(console: Console) -> Progress:
    """Spinner, what is running, a bar and count when there is one, time spent and time left."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                    TextColumn("{task.fields[count]}"), TimeElapsedColumn(), TextColumn("{task.fields[left]}"),
                    console=console, transient=True)


def add_row(progress: Progress, label: str) -> int:
    """A row without a known total (a stage): the bar pulses."""
    return progress.add_task(label, total=None, count="", left="")


def time_left(elapsed: float, done: int, total: int) -> str:
    """`~M:SS left` from the pace so far; empty until one refit is done."""
    if done == 0 or total <= done:
        return ""
    seconds = round(elapsed / done * (total - done))
    return f"~{seconds // 60}:{seconds % 60:02d} left"


@contextmanager
def refit_bar(progress: Progress | None, label: str) -> Iterator[None]:
    """A bar of the refits the block's pools run: done of submitted, and an estimate of the time left (the
    test plans submit as they go, so their total grows while they run)."""
    if progress is None:
        yield
        return
    task, started = add_row(progress, label), time.perf_counter()

    def show(submitted: int, done: int) -> None:
        progress.update(task, total=max(submitted, 1), completed=done, count=f"{done}/{submitted} refits",
                        left=time_left(time.perf_counter() - started, done, submitted))

    try:
        with watch_refits(show):
            yield
    finally:
        progress.remove_task(task)
