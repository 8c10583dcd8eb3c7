"""Progress shown while the loop works: a row per stage, and a bar with time left for the refits inside one;
the same rows kept in a file for `prism serve` (`ProgressFile`).

The audit and the test plans refit ridge hundreds of times; `refit_bar` counts them through the pools they
open (`prism.models.pool.watch_refits`), so their code knows nothing about progress.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from prism.models.pool import watch_refits
from prism.models.runner import watch_jobs
from prism.workspace import Workspace, remove_file, write_json


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


class ProgressFile:
    """What the loop's progress shows, kept in `.prism-progress.json` while the loop runs (every half second
    when it changed): the rows of the loop's bar and, while the models run, each model's status line. It is
    how `prism serve` shows a loop started at the terminal as well as one it started."""

    INTERVAL = 0.5

    def __init__(self, ws: Workspace, progress: Progress):
        self.ws, self.progress = ws, progress
        self.models: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prism-progress-file", daemon=True)
        self._last: dict | None = None

    def snapshot(self) -> dict:
        rows = [{"label": t.description, "done": t.completed, "total": t.total, "count": t.fields.get("count", ""),
                 "left": t.fields.get("left", ""), "seconds": round(t.elapsed or 0.0, 1)}
                for t in list(self.progress.tasks) if t.visible]
        return {"pid": os.getpid(), "rows": rows, "models": dict(self.models)}

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            self.write()

    def write(self) -> None:
        snap = self.snapshot()
        if snap != self._last:
            write_json(self.ws.progress, {**snap, "at": time.time()})
            self._last = snap

    def __enter__(self) -> "ProgressFile":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        remove_file(self.ws.progress)

    @contextmanager
    def models_running(self) -> Iterator[None]:
        """Each model worker's status line while the runner runs them."""
        def seen(status: dict[str, str]) -> None:
            self.models = status

        try:
            with watch_jobs(seen):
                yield
        finally:
            self.models = {}
