"""Shared helpers for CLI tests: a small valid weekly table and an in-process `prism` runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism.cli import main


def weekly_frame(weeks: int = 60, seed: int = 1) -> pd.DataFrame:
    """A small valid weekly table: date, revenue (KPI), two spend channels, one control."""
    rng = np.random.default_rng(seed)
    tv = rng.uniform(1000, 5000, weeks).round(2)
    search = rng.uniform(500, 2000, weeks).round(2)
    price = rng.normal(10, 1, weeks).round(3)
    revenue = (20000 + 2 * tv + 3 * search - 300 * price + rng.normal(0, 500, weeks)).round(2)
    return pd.DataFrame({"date": pd.date_range("2022-01-03", periods=weeks, freq="W-MON").strftime("%Y-%m-%d"),
                         "tv_spend": tv, "search_spend": search, "price": price, "revenue": revenue})


class Cli:
    """Runs `prism.cli.main` in-process and keeps its exit code and output."""

    def __init__(self, capsys: pytest.CaptureFixture, ws: Path):
        self.capsys, self.ws = capsys, ws

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([*args, "--workdir", str(self.ws)])
        out, err = self.capsys.readouterr()
        return int(exc.value.code), out, err

    def fails(self, *args: str, says: list[str]) -> str:
        """Assert a clean exit-2 failure whose single line contains every string in `says`."""
        code, out, err = self(*args)
        message = err.strip()
        assert code == 2, f"exit {code}: {out}{err}"
        assert "Traceback" not in out + err
        assert "\n" not in message, message
        for part in says:
            assert part in message, f"{part!r} not in {message!r}"
        return message

    def workspace_files(self) -> set[str]:
        return {p.name for p in self.ws.iterdir()} if self.ws.exists() else set()
