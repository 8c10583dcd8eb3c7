"""Hardening, data files (issue 14 classes 1, 3, 6, 7): dates read from the whole column, non-finite and
degenerate values refused or warned, one-line messages, nothing dropped silently. Each case goes through the
real CLI and checks the exit code, the one line and what was (or was not) written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers.cli import Cli, weekly_frame

from prism.data.prepare import MIN_WEEKS_PER_CHANNEL
from prism.schemas import Config, Metadata


def _csv(frame: pd.DataFrame, folder: Path, name: str = "data.csv", **kwargs) -> Path:
    path = folder / name
    frame.to_csv(path, index=False, **kwargs)
    return path


def _discovers(cli: Cli, path: Path, *extra: str) -> tuple[Config, Metadata]:
    code, out, err = cli("discover", "--path", str(path), *extra)
    assert code == 0, out + err
    cfg = Config.model_validate_json(cli.ws.joinpath("config.json").read_text())
    return cfg, Metadata.model_validate_json(cli.ws.joinpath("metadata.json").read_text())


def _refused(cli: Cli, path: Path, says: list[str], *extra: str) -> str:
    message = cli.fails("discover", "--path", str(path), *extra, says=says)
    assert not cli.ws.joinpath("config.json").exists() and not cli.ws.joinpath("metadata.json").exists()
    return message


def _daily(days: int = 420, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tv, search = rng.uniform(100, 500, days), rng.uniform(50, 200, days)
    return pd.DataFrame({"date": pd.date_range("2022-01-03", periods=days, freq="D"), "tv_spend": tv.round(2),
                         "search_spend": search.round(2),
                         "revenue": (2000 + 2 * tv + 3 * search + rng.normal(0, 50, days)).round(2)})


# ------------------------------------------------------------------------------- class 1: dates


def test_daily_day_first_dates_are_not_read_month_first(cli: Cli, tmp_path: Path) -> None:
    """420 days of dd/mm/yy: 60 Monday weeks from 3 January 2022, none invented (was 69 with gaps)."""
    frame = _daily()
    path = _csv(frame.assign(date=frame["date"].dt.strftime("%d/%m/%y")), tmp_path)
    _, meta = _discovers(cli, path)
    assert (meta.profile.weeks, meta.profile.start, meta.profile.gaps) == (60, "2022-01-03", [])


def test_month_first_dates_still_read_month_first(cli: Cli, tmp_path: Path) -> None:
    frame = _daily()
    _, meta = _discovers(cli, _csv(frame.assign(date=frame["date"].dt.strftime("%m/%d/%Y")), tmp_path))
    assert (meta.profile.weeks, meta.profile.start, meta.profile.gaps) == (60, "2022-01-03", [])


def test_an_iso_date_among_day_first_dates_is_a_date(cli: Cli, tmp_path: Path) -> None:
    frame = weekly_frame(60)
    text = pd.to_datetime(frame["date"]).dt.strftime("%d/%m/%Y")
    text.iloc[10] = frame["date"].iloc[10]  # one row written as ISO
    _, meta = _discovers(cli, _csv(frame.assign(date=text), tmp_path))
    assert (meta.profile.weeks, meta.profile.start, meta.profile.gaps) == (60, "2022-01-03", [])


def test_mixed_time_zone_offsets_keep_each_rows_day(cli: Cli, tmp_path: Path) -> None:
    """Summer and winter offsets in one column (was exit 1): each row stays on its own Monday."""
    frame = weekly_frame(60)
    offsets = ["+01:00" if i % 2 else "+02:00" for i in range(60)]
    stamps = [f"{d}T00:00:00{o}" for d, o in zip(frame["date"], offsets)]
    _, meta = _discovers(cli, _csv(frame.assign(date=stamps), tmp_path))
    assert (meta.profile.weeks, meta.profile.start, meta.profile.gaps) == (60, "2022-01-03", [])


def test_ambiguous_day_month_order_is_refused_naming_both_readings(cli: Cli, tmp_path: Path) -> None:
    """Every value fits both orders and neither gives a regular step: refuse, never guess."""
    dates = [f"01/{m:02d}/{y}" for y in (2020, 2021, 2022) for m in range(1, 13)]
    frame = weekly_frame(36).assign(date=dates)
    _refused(cli, _csv(frame, tmp_path), ["date column 'date' is ambiguous", "01/02/2020",
                                          "2020-01-02 (month first)", "2020-02-01 (day first)", "YYYY-MM-DD"])


def test_a_bad_date_is_named_with_its_row(cli: Cli, tmp_path: Path) -> None:
    frame = weekly_frame(60)
    frame.loc[6, "date"] = "31/02/2022"
    _refused(cli, _csv(frame, tmp_path), ["date column 'date' row 7", "'31/02/2022' is not a date"])


# ---------------------------------------------------------------------- class 3: non-finite values


@pytest.mark.parametrize("column, value", [("tv_spend", "inf"), ("revenue", "inf"), ("search_spend", "-inf")])
def test_infinite_values_are_refused_at_discover_naming_the_cell(cli: Cli, tmp_path: Path, column: str,
                                                                 value: str) -> None:
    frame = weekly_frame(60).astype({column: object})
    frame.loc[11, column] = value
    _refused(cli, _csv(frame, tmp_path), [f"column '{column}' row 12", "is not finite"],
             "--kpi", "revenue", "--channels", "tv_spend,search_spend")


def test_a_mostly_zero_kpi_is_refused(cli: Cli, tmp_path: Path) -> None:
    frame = weekly_frame(60)
    frame.loc[5:, "revenue"] = 0.0
    _refused(cli, _csv(frame, tmp_path), ["KPI column 'revenue' is zero in 55 of 60 weeks"])


def test_a_negative_kpi_is_warned(cli: Cli, tmp_path: Path) -> None:
    frame = weekly_frame(60)
    frame.loc[[3, 9], "revenue"] = -150.0
    _, meta = _discovers(cli, _csv(frame, tmp_path))
    assert any("KPI 'revenue' is negative in 2 week(s)" in w and "2022-01-24" in w for w in meta.warnings)


# ------------------------------------------------------------------------- class 6: one-line messages


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_utf16_and_utf32_files_are_read(cli: Cli, tmp_path: Path, encoding: str) -> None:
    """Excel's "Unicode text" (UTF-16 with a BOM) and BOM-less UTF-16 read as text, not as cp1252 with NULs."""
    frame = weekly_frame(60).rename(columns={"tv_spend": "télé_spend"})
    cfg, meta = _discovers(cli, _csv(frame, tmp_path, encoding=encoding))
    assert cfg.data.channels == ["télé_spend", "search_spend"] and meta.profile.weeks == 60


def test_no_pandas_warning_before_the_error_line(cli: Cli, tmp_path: Path) -> None:
    """Mixed free-text dates made pandas warn ("Could not infer format") above Prism's own line."""
    frame = weekly_frame(60)
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%B %d, %Y")
    frame.loc[20, "date"] = "not a day"
    message = _refused(cli, _csv(frame, tmp_path), ["row 21", "'not a day' is not a date"])
    assert message.startswith("error:")


def test_numbers_in_messages_are_plain(cli: Cli, tmp_path: Path) -> None:
    """An Excel serial number in the date column is shown as 44522, not np.int64(44522)."""
    frame = weekly_frame(60).assign(date=np.arange(44522, 44522 + 7 * 60, 7))
    message = _refused(cli, _csv(frame, tmp_path), ["value 44522 is not a date"], "--date", "date")
    assert "np." not in message


# ------------------------------------------------------------------------------ class 7: silent drops


def test_accented_spend_name_is_a_channel(cli: Cli, tmp_path: Path) -> None:
    """`dépenses_télé` split into calendar tokens (`t`) and was ignored; now its letters are read."""
    frame = weekly_frame(60).rename(columns={"tv_spend": "dépenses_télé"})
    cfg, _ = _discovers(cli, _csv(frame, tmp_path))
    assert cfg.data.channels == ["dépenses_télé", "search_spend"]


@pytest.mark.parametrize("fmt", ["{:,.2f}", "${:,.0f}", "€ {:,.2f}"])
def test_thousands_separators_and_currency_are_parsed(cli: Cli, tmp_path: Path, fmt: str) -> None:
    frame = weekly_frame(60)
    tv = frame["tv_spend"].round(0 if "0f" in fmt else 2)
    path = _csv(frame.assign(tv_spend=[fmt.format(v) for v in tv]), tmp_path)
    cfg, meta = _discovers(cli, path)
    assert "tv_spend" in cfg.data.channels
    assert meta.profile.columns["tv_spend"].total == pytest.approx(tv.sum())


def test_a_decimal_comma_is_not_taken_for_thousands(cli: Cli, tmp_path: Path) -> None:
    frame = weekly_frame(60).astype({"tv_spend": object})
    frame.loc[4, "tv_spend"] = "1,5"
    _refused(cli, _csv(frame, tmp_path), ["column 'tv_spend' row 5", "'1,5' is not a number"],
             "--channels", "tv_spend,search_spend")


def test_a_duplicated_header_is_refused(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    frame = weekly_frame(60)
    frame.to_csv(path, index=False, header=["date", "tv_spend", "search_spend", "price", "tv_spend"])
    _refused(cli, path, ["column 'tv_spend' appears twice in the header (columns 2 and 5)"])


def test_a_duplicated_excel_header_is_refused(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    weekly_frame(60).to_excel(path, index=False, header=["date", "tv_spend", "search_spend", "price", "tv_spend"])
    _refused(cli, path, ["column 'tv_spend' appears twice in the header (columns 2 and 5)"])


def test_many_channels_over_few_weeks_are_warned(cli: Cli, tmp_path: Path) -> None:
    """200 channels over 104 weeks passed silently, then timed out after 300 s."""
    rng = np.random.default_rng(2)
    spend = pd.DataFrame(rng.uniform(10, 100, (104, 200)).round(2), columns=[f"ch{i:03d}_spend" for i in range(200)])
    frame = pd.concat([pd.DataFrame({"date": pd.date_range("2022-01-03", periods=104, freq="7D"),
                                     "revenue": rng.uniform(1e4, 2e4, 104).round(2)}), spend], axis=1)
    _, meta = _discovers(cli, _csv(frame, tmp_path))
    assert any(w.startswith("200 channels over 104 weeks") and f"fewer than {MIN_WEEKS_PER_CHANNEL} weeks" in w
               for w in meta.warnings)
    assert json.loads(cli.ws.joinpath("config.json").read_text())["data"]["channels"] == list(spend.columns)


def test_several_empty_headers_are_not_taken_for_a_duplicate(cli: Cli, tmp_path: Path) -> None:
    """Trailing empty columns (a spreadsheet export with trailing commas) stay unnamed, not "duplicated"."""
    path = tmp_path / "data.csv"
    frame = weekly_frame(60)
    lines = frame.to_csv(index=False).splitlines()
    path.write_text("\n".join(line + ",," for line in lines) + "\n")
    cfg, _ = _discovers(cli, path)
    assert cfg.data.channels == ["tv_spend", "search_spend"]
