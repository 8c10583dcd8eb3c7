"""The table every benchmark prints, and the machine's load printed under it: timings on a shared machine
are read with the load they ran under."""

from __future__ import annotations

import os
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table


def bench_table(title: str, columns: Iterable[str], text_columns: Iterable[str]) -> Table:
    """A table whose `text_columns` are left-aligned and every other (a figure) right-aligned."""
    table, left = Table(title=title), set(text_columns)
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right")
    return table


def show(table: Table, note: str = "", width: int | None = None) -> None:
    """Print the table, then `note` with the load average now and the CPU count."""
    console = Console(width=width)
    console.print(table)
    load = f"load average (1, 5, 15 min) now {os.getloadavg()}; {os.cpu_count()} CPUs"
    console.print(f"{note}; {load}" if note else load)
