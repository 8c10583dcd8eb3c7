"""A role the user gives wins over any guess (issue 21 item 8): whichever role discover would have guessed for a
column (event, channel, control, KPI alternative, entity), naming it under another role on the command line
puts it there, and no other role keeps it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers.cli import Cli, weekly_frame

from prism.schemas import Config, Metadata


def _frame() -> pd.DataFrame:
    """Date, revenue, two spend channels, a price index, a 0/1 holiday dummy, an orders count and a note."""
    frame = weekly_frame(60).rename(columns={"price": "price_index"})
    rng = np.random.default_rng(3)
    return frame.assign(holiday=(np.arange(60) % 10 == 0).astype(int),
                        orders=(frame["revenue"] / 50 + rng.normal(0, 5, 60)).round(0))


def _discovered(cli: Cli, tmp_path: Path, *flags: str) -> tuple[Config, dict[str, str]]:
    path = tmp_path / "data.csv"
    _frame().to_csv(path, index=False)
    code, out, err = cli("discover", "--path", str(path), *flags)
    assert code == 0, out + err
    cfg = Config.model_validate_json(cli.ws.joinpath("config.json").read_text())
    meta = Metadata.model_validate_json(cli.ws.joinpath("metadata.json").read_text())
    return cfg, {r.column: r.role for r in meta.roles}


def _places(cfg: Config, column: str) -> list[str]:
    """Every role config.json gives `column` (exactly one is right)."""
    d = cfg.data
    found = [("date", [d.date_column]), ("kpi", [d.kpi]), ("channel", d.channels), ("control", d.controls),
             ("event", cfg.baseline.event_columns)]
    return [role for role, cols in found if column in cols]


def test_a_guessed_event_given_as_control_is_a_control(cli: Cli, tmp_path: Path) -> None:
    """`--controls price_index,holiday` exited 1 with a pydantic traceback: discover had guessed an event."""
    cfg, roles = _discovered(cli, tmp_path, "--controls", "price_index,holiday")
    assert cfg.data.controls == ["price_index", "holiday"]
    assert _places(cfg, "holiday") == ["control"] and roles["holiday"] == "control"


@pytest.mark.parametrize("flag, column, role", [
    ("--channels", "holiday", "channel"),          # guessed: event
    ("--controls", "tv_spend", "control"),         # guessed: channel
    ("--events", "price_index", "event"),          # guessed: control
    ("--channels", "orders", "channel"),           # guessed: KPI alternative
    ("--controls", "orders", "control"),           # guessed: KPI alternative
], ids=["event-as-channel", "channel-as-control", "control-as-event", "kpi-alt-as-channel", "kpi-alt-as-control"])
def test_any_role_given_beats_the_guess(cli: Cli, tmp_path: Path, flag: str, column: str, role: str) -> None:
    cfg, roles = _discovered(cli, tmp_path, flag, column)
    assert _places(cfg, column) == [role] and roles[column] == role


def test_a_given_kpi_beats_the_guessed_kpi_and_channel(cli: Cli, tmp_path: Path) -> None:
    cfg, roles = _discovered(cli, tmp_path, "--kpi", "orders")
    assert _places(cfg, "orders") == ["kpi"] and _places(cfg, "revenue") == []
    assert roles["revenue"] == "kpi_alternative"


def test_a_given_role_beats_the_guess_on_rediscover(cli: Cli, tmp_path: Path) -> None:
    """Re-applying roles in a workspace that has config.json: the same rule."""
    _discovered(cli, tmp_path)
    cfg, roles = _discovered(cli, tmp_path, "--controls", "price_index,holiday")
    assert _places(cfg, "holiday") == ["control"] and roles["holiday"] == "control"
    assert cfg.baseline.event_columns == []


def test_a_given_role_beats_the_data_dictionary(cli: Cli, tmp_path: Path) -> None:
    """The dictionary says holiday is an event and tv_spend a channel; the command line says otherwise."""
    cli.ws.mkdir()
    cli.ws.joinpath("data_dictionary.csv").write_text("column,label,role\nholiday,Holiday,event\n"
                                                      "tv_spend,TV,channel\nsearch_spend,Search,channel\n")
    cfg, roles = _discovered(cli, tmp_path, "--controls", "holiday,tv_spend")
    assert _places(cfg, "holiday") == ["control"] and _places(cfg, "tv_spend") == ["control"]
    assert cfg.data.channels == ["search_spend"] and roles["tv_spend"] == "control"
