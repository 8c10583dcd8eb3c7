"""Turn a raw table into the one clean weekly table every model uses.

Steps: check the named columns exist → pick or aggregate the entity → parse dates → make the value columns
numeric → detect the frequency → sum daily or transaction rows into weeks → report gaps → drop channels
with no spend → refuse data no model can learn from. Every refusal is an `InputError` naming the column,
row (data rows counted from 1, header excluded) or value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from prism.data.dates import parse_date_text
from prism.data.events import data_event_columns, one_hot
from prism.data.numbers import shown, to_numbers
from prism.data.sources import RawTable, SourceSpec, confine_to_workspace, load_source
from prism.errors import InputError
from prism.schemas import BaselineConfig, Config, DataConfig
from prism.workspace import group_weeks

MIN_TRAIN_WEEKS = 20
MIN_HOLDOUT_WEEKS = 4  # short data: the default holdout (about 10 %, at least 8) shrinks down to this
MIN_WEEKS = MIN_TRAIN_WEEKS + MIN_HOLDOUT_WEEKS  # what `prism run` needs with its default holdout
MIN_WEEKS_PER_CHANNEL = 8  # fewer weeks per channel: the models cannot separate the channels
MAX_KPI_ZERO_SHARE = 0.5  # MAPE and shares of KPI are undefined on a KPI that is mostly zero
RECOMMENDED_WEEKS = 52
MAX_KPI_MISSING_SHARE = 0.10
TRANSACTION_ROWS_PER_DATE = 1.5  # more rows than this per date (and entity) = transaction-level data
DAILY_MAX_STEP_DAYS = 1.0
WEEKLY_STEP_DAYS = 7
DAYS_PER_WEEK = 7
MAX_LISTED = 5
HASH_DECIMALS = 9
ANCHORS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
MAX_MARKETS = 100  # more markets than this: sum them or map them to regions (a panel fit grows with markets)
MARKET_SCALE_SPREAD = 1000.0  # markets whose KPI levels differ by more than this are named


@dataclass
class Prepared:
    """The weekly table plus what preparing it found, for the profile and the CLI summary."""

    frame: pd.DataFrame
    channels: list[str]
    dropped_channels: list[str]
    frequency: str
    rows: int
    entities: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # the weekly table's event columns (after the controls)
    market_weeks: dict[str, int] = field(default_factory=dict)  # panels: weeks of data each market had
    market_column: str | None = None  # panels: the frame's second column, one row per market and week

    @property
    def weeks(self) -> int:
        return int(self.frame.iloc[:, 0].nunique())

    @property
    def kpi(self) -> str:
        return str(self.frame.columns[2 if self.market_column else 1])


def prepare_config(cfg: Config, base_dir: Path) -> tuple[RawTable, Prepared]:
    """Load and prepare the data config.json names; relative paths resolve against `base_dir`.

    A channel named in config.json that has no spend at all is an error here (not a silent drop), because
    the models must fit exactly the channels config.json lists.
    """
    spec = SourceSpec.from_config(cfg.data)
    confine_to_workspace(spec, Path(base_dir))
    raw = load_source(spec, Path(base_dir))
    prepared = prepare(raw, cfg.data, cfg.baseline)
    if prepared.dropped_channels:
        raise InputError(f"{raw.name}: channel(s) {', '.join(prepared.dropped_channels)} in config.json "
                         f"data.channels have zero spend in every week; remove them from data.channels")
    return raw, prepared


def frame_hash(frame: pd.DataFrame) -> str:
    """Stable short hash of a weekly table: same columns and values → same hash (results.data_hash).

    Floats are rounded first so that the last-bit differences of text round trips (JSON, CSV) do not count.
    """
    values = pd.util.hash_pandas_object(_rounded(frame), index=False).to_numpy().tobytes()
    digest = hashlib.sha256("|".join(map(str, frame.columns)).encode() + values)
    return digest.hexdigest()[:16]


def prepare(raw: RawTable, data: DataConfig, baseline: BaselineConfig | None = None, appended: bool = False
            ) -> Prepared:
    """Raw rows → clean weekly table per `data` (roles, entity choice, anchor, gap filling); with a market
    column, one weekly table per market stacked into a panel (`prepare_panel`).

    The baseline's event columns come along (a text events column as one-hot columns): a week has an event
    when any of its rows has it. `appended` rows extend a table already modelled (`prism refresh`): they
    may be few, and a channel idle in all of them is kept (it is idle, not unknown).
    """
    baseline = baseline or BaselineConfig()
    if data.market_column:
        return prepare_panel(raw, data, baseline)
    return _prepare_series(raw, data, baseline, keep_channels=appended, appended=appended)


def _prepare_series(raw: RawTable, data: DataConfig, baseline: BaselineConfig, keep_channels: bool = False,
                    appended: bool = False) -> Prepared:
    """One weekly series; `keep_channels` keeps channels without spend (a panel's market may have none);
    `appended` rows need not be long enough to fit on their own."""
    name = raw.name
    _require_columns(raw, data, baseline)
    frame, entities = _select_entity(raw.frame, data, name)
    warnings = list(raw.notes)
    dates = parse_dates(frame[data.date_column], data.date_column, name)
    values = _numeric_values(frame, [data.kpi, *data.channels, *data.controls, *baseline.event_columns], name)
    if baseline.events_text_column:
        values = values.join(one_hot(frame[baseline.events_text_column]))
    events = data_event_columns(list(values.columns), baseline)
    values[events] = values[events].fillna(0.0)
    _check_negative_spend(values, data.channels, name)
    _check_kpi_missing(values[data.kpi], data.kpi, name)
    warnings += _fill_missing_spend(values, data.channels)
    keys = frame[data.entity_column].astype(str) if data.entity_column and data.aggregate_entities else None
    frequency = detect_frequency(dates, keys, name)
    warnings += _uneven_entities(dates, keys)
    if frequency == "weekly":
        weekly = _weekly_as_is(dates, values, data, keys, name)
    else:
        weekly, note = _to_weeks(dates, values, data, frequency)
        warnings += note
        missing_kpi = int(values[data.kpi].isna().sum())
        if missing_kpi:
            warnings.append(f"{missing_kpi} {frequency} row(s) without '{data.kpi}' were left out of the weekly sums")
    weekly, gaps, gap_notes = _handle_gaps(weekly, data)
    weekly[events] = weekly[events].fillna(0.0)
    warnings += gap_notes
    warnings += _interpolate(weekly, [data.kpi, *data.controls])
    if not appended:
        _check_length_and_kpi(weekly, data, name, warnings)
    channels, dropped = ((list(data.channels), []) if keep_channels
                         else _drop_zero_channels(weekly, data.channels, warnings, name))
    out = weekly.reset_index().rename(columns={"index": data.date_column, "week": data.date_column})
    out = out[[data.date_column, data.kpi, *channels, *data.controls, *events]]
    return Prepared(frame=out, channels=channels, dropped_channels=dropped, frequency=frequency, rows=len(frame),
                    entities=entities, gaps=gaps, warnings=warnings, events=events)


# ------------------------------------------------------------------------------------------ panels


def prepare_panel(raw: RawTable, data: DataConfig, baseline: BaselineConfig) -> Prepared:
    """A regional panel: every market prepared as its own weekly series (the same checks, errors naming
    the market), then stacked on the weeks they share. A market lacking some of those weeks is filled
    (`fill_gaps`) or dropped; a market with too few rows is dropped; each is said in one line."""
    name, col = raw.name, data.market_column
    _require_columns(raw, data, baseline)
    labels = _market_labels(raw.frame[col], col, name)
    markets = sorted(labels.unique())
    if len(markets) > MAX_MARKETS:
        raise InputError(f"{name}: market column '{col}' holds {len(markets)} markets (at most {MAX_MARKETS} fit as a "
                         f"panel); pass --aggregate to sum them into one national series, or map them to fewer "
                         f"regions in a column of their own and pass --entity-column REGION_COLUMN")
    single = data.model_copy(update={"market_column": None, "entity_column": None, "entity": None,
                                     "aggregate_entities": False})
    counts = labels.value_counts()
    short = [m for m in markets if counts[m] < MIN_WEEKS]
    parts = {m: _prepare_series(RawTable(raw.frame[labels == m], f"{name}, market '{m}'"), single, baseline,
                                keep_channels=True) for m in markets if m not in short}
    notes = list(raw.notes)
    if short:
        notes.append(f"market(s) {_listed(short)} dropped: fewer than {MIN_WEEKS} rows each")
    if not parts:
        raise InputError(f"{name}: no market in '{col}' has {MIN_WEEKS} rows of data ({len(markets)} markets)")
    frame, parts, gap_notes = _stack_markets(parts, data)
    notes += gap_notes + _shared_notes(parts) + _scale_note(frame, data)
    channels, dropped = _drop_zero_channels(frame, data.channels, notes, name)
    notes += _channels_missing_in_markets(frame, channels, col)
    first = next(iter(parts.values()))
    order = [data.date_column, col, data.kpi, *channels, *data.controls, *first.events]
    return Prepared(frame=frame[order], channels=channels, dropped_channels=dropped, frequency=first.frequency,
                    rows=len(raw.frame), entities=sorted(frame[col].unique()),
                    gaps=sorted(set().union(*(p.gaps for p in parts.values()))), warnings=notes,
                    events=first.events, market_weeks={m: len(p.frame) - len(p.gaps) * data.fill_gaps for m, p in parts.items()}, market_column=col)


def national_frame(frame: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """A panel's weekly table summed over markets (KPI and spend summed, controls averaged, events the
    largest), as `--aggregate` would have prepared it: what national profiles and checks read."""
    channels = [c for c in data.channels if c in frame.columns]
    weekly = group_weeks(frame.drop(columns=[data.market_column]), data.date_column, [data.kpi, *channels],
                         list(data.controls))
    return weekly.reset_index()


def _market_labels(column: pd.Series, col: str, name: str) -> pd.Series:
    """The market of each row as text; an empty one is bad input naming its row."""
    empty = column.isna() | (column.astype(str).str.strip() == "")
    if empty.any():
        i = int(empty.to_numpy().nonzero()[0][0])
        raise InputError(f"{name}: market column '{col}' row {_row(column, i)} is empty ({int(empty.sum())} such rows)")
    return column.astype(str).str.strip()


def _stack_markets(parts: dict[str, Prepared], data: DataConfig
                   ) -> tuple[pd.DataFrame, dict[str, Prepared], list[str]]:
    """The markets on the weeks any of them has: a market lacking some is filled (fill_gaps) or dropped.
    Returns the stacked table, the markets kept and what was done."""
    col, date = data.market_column, data.date_column
    weeks = sorted(set().union(*(set(p.frame[date]) for p in parts.values())))
    lacking = {m: len(weeks) - len(p.frame) for m, p in parts.items() if len(p.frame) < len(weeks)}
    notes = []
    if lacking and not data.fill_gaps:
        if len(lacking) == len(parts):
            raise InputError(f"market column '{col}': every market lacks some of the {len(weeks)} weeks; pass "
                             f"--fill-gaps to fill them with zero spend")
        notes.append(f"market(s) {_listed(sorted(lacking))} dropped: they lack some of the {len(weeks)} weeks "
                     f"the others have; pass --fill-gaps to keep them with zero spend in those weeks")
        parts = {m: p for m, p in parts.items() if m not in lacking}
        weeks = sorted(set().union(*(set(p.frame[date]) for p in parts.values())))
    elif lacking:
        notes.append(f"market(s) {_listed(sorted(lacking))}: {sum(lacking.values())} missing market-week(s) filled "
                     f"with zero spend and interpolated KPI/controls")
    frames = [_on_weeks(p.frame, weeks, data).assign(**{col: m}) for m, p in parts.items()]
    stacked = pd.concat(frames, ignore_index=True).sort_values([date, col], kind="stable").reset_index(drop=True)
    return stacked, parts, notes


def _on_weeks(frame: pd.DataFrame, weeks: list, data: DataConfig) -> pd.DataFrame:
    """One market's weekly rows on the panel's weeks: no spend and no event where it had no row, KPI and
    controls interpolated."""
    out = frame.set_index(data.date_column).reindex(pd.DatetimeIndex(weeks, name=data.date_column))
    filled = [c for c in out.columns if c not in (data.kpi, *data.controls)]
    out[filled] = out[filled].fillna(0.0)
    for c in [data.kpi, *data.controls]:
        out[c] = out[c].interpolate(limit_direction="both")
    return out.reset_index()


def _shared_notes(parts: dict[str, Prepared]) -> list[str]:
    """Each market's preparation notes once, with the markets they concern (not one line per market)."""
    where: dict[str, list[str]] = {}
    for m, p in parts.items():
        for note in p.warnings:
            where.setdefault(note, []).append(m)
    return [f"{note} ({'every market' if len(ms) == len(parts) else 'market(s) ' + _listed(ms)})"
            for note, ms in where.items()]


def _scale_note(frame: pd.DataFrame, data: DataConfig) -> list[str]:
    """Markets whose KPI levels differ by over MARKET_SCALE_SPREAD× are named: the panel models scale each
    market by its own KPI level, but a reader should know the small ones weigh little nationally."""
    level = frame.groupby(data.market_column)[data.kpi].apply(lambda k: k.abs().mean())
    small = level[level > 0].min() if (level > 0).any() else 0.0
    if small <= 0 or level.max() / small <= MARKET_SCALE_SPREAD:
        return []
    return [f"market KPI levels differ by {level.max() / small:,.0f}× ('{level.idxmax()}' against "
            f"'{level[level > 0].idxmin()}'); each market is modelled on its own scale"]


def _channels_missing_in_markets(frame: pd.DataFrame, channels: list[str], col: str) -> list[str]:
    """A channel with no spend in some markets: its ROI there is not measured (the panel pools it)."""
    spend = frame.groupby(col)[channels].sum()
    return [f"channel '{ch}' has no spend in market(s) {_listed(list(spend.index[spend[ch] == 0]))}: no ROI there"
            for ch in channels if (spend[ch] == 0).any()]


# ---------------------------------------------------------------------------------------- columns


def _require_columns(raw: RawTable, data: DataConfig, baseline: BaselineConfig) -> None:
    wanted = [("data.date_column", data.date_column), ("data.kpi", data.kpi)]
    wanted += [("data.channels", c) for c in data.channels] + [("data.controls", c) for c in data.controls]
    wanted += [("baseline.event_columns", c) for c in baseline.event_columns]
    if baseline.events_text_column:
        wanted.append(("baseline.events_text_column", baseline.events_text_column))
    if data.entity_column:
        wanted.append(("data.entity_column", data.entity_column))
    present = set(raw.frame.columns)
    for key, col in wanted:
        if col not in present:
            raise InputError(f"{raw.name}: column '{col}' ({key}) not found; columns are "
                             f"{', '.join(map(str, raw.frame.columns))}")


def _select_entity(frame: pd.DataFrame, data: DataConfig, name: str) -> tuple[pd.DataFrame, list[str]]:
    """Keep one entity, or all when aggregating; several entities without a choice is an error."""
    if not data.entity_column:
        if data.entity is not None:
            raise InputError(f"{name}: data.entity='{data.entity}' given but no entity column is set "
                             f"(pass --entity-column COLUMN)")
        return frame, []
    labels = frame[data.entity_column].astype(str)
    entities = sorted(labels.unique())
    if data.entity is not None:
        if data.entity not in entities:
            raise InputError(f"{name}: entity '{data.entity}' not found in column '{data.entity_column}'; "
                             f"entities are {_listed(entities)}")
        return frame[labels == data.entity], entities
    if len(entities) > 1 and not data.aggregate_entities:
        raise InputError(f"{name}: column '{data.entity_column}' holds {len(entities)} entities "
                         f"({_listed(entities)}); pass --entity VALUE to model one or --aggregate to sum them")
    return frame, entities


def parse_dates(column: pd.Series, col: str, name: str) -> pd.Series:
    """Datetimes from a column, the day/month order decided from the whole column; a bad value is named."""
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column
    else:
        parsed = parse_date_text(column.astype("string").str.strip(), col, name)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):  # one time line: drop the zone after converting to UTC
        parsed = parsed.dt.tz_convert(None)
    bad = parsed.isna()
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        value = column.iloc[row]
        what = "is empty" if pd.isna(value) else f"value {shown(value)} is not a date"
        raise InputError(f"{name}: date column '{col}' row {_row(column, row)}: {what} "
                         f"({int(bad.sum())} unparseable)")
    return parsed


def _numeric_values(frame: pd.DataFrame, cols: list[str], name: str) -> pd.DataFrame:
    """KPI, channels, controls and event dummies as floats; text that is not a number, or an infinite value, is named."""
    out = {}
    for col in dict.fromkeys(cols):
        raw = frame[col]
        num = to_numbers(raw)
        text = raw.astype("string").str.strip()
        bad = (num.isna() & raw.notna() & (text != "")) | np.isinf(num)
        if bad.any():
            i = bad.to_numpy().nonzero()[0][0]
            what = "is not finite" if np.isinf(num.iloc[i]) else "is not a number"
            raise InputError(f"{name}: column '{col}' row {_row(raw, i)}: value {shown(raw.iloc[i])} {what} "
                             f"({int(bad.sum())} such values)")
        out[col] = num
    return pd.DataFrame(out, index=frame.index)


def _check_negative_spend(values: pd.DataFrame, channels: list[str], name: str) -> None:
    for ch in channels:
        neg = (values[ch] < 0).to_numpy()
        if neg.any():
            rows = [_row(values, i) for i in neg.nonzero()[0]]
            raise InputError(f"{name}: channel '{ch}' has negative spend in {len(rows)} row(s): rows "
                             f"{_listed(rows)}")


def _check_kpi_missing(kpi: pd.Series, col: str, name: str) -> None:
    share = float(kpi.isna().mean())
    if share > MAX_KPI_MISSING_SHARE:
        rows = [_row(kpi, i) for i in kpi.isna().to_numpy().nonzero()[0]]
        raise InputError(f"{name}: KPI column '{col}' is missing in {share:.0%} of rows (more than "
                         f"{MAX_KPI_MISSING_SHARE:.0%} allowed): rows {_listed(rows)}")


def _fill_missing_spend(values: pd.DataFrame, channels: list[str]) -> list[str]:
    notes = []
    for ch in channels:
        n = int(values[ch].isna().sum())
        if n:
            values[ch] = values[ch].fillna(0.0)
            notes.append(f"channel '{ch}': {n} empty value(s) read as zero spend")
    return notes


# -------------------------------------------------------------------------------------- frequency


def detect_frequency(dates: pd.Series, keys: pd.Series | None, name: str) -> str:
    """'weekly', 'daily' or 'transaction' (several rows per day or time stamps); else an error."""
    codes, labels = pd.factorize(keys) if keys is not None else (np.zeros(len(dates), dtype=np.int64), [""])
    frame = pd.DataFrame({"d": dates.to_numpy(), "k": codes})  # integer keys: fast on millions of rows
    unique_dates = np.sort(frame["d"].unique())
    step = _median_step_days(unique_dates)
    has_time = bool((dates != dates.dt.normalize()).any())
    rows_per_date = len(frame) / max(1, len(frame.drop_duplicates()))
    if step <= DAILY_MAX_STEP_DAYS and (has_time or rows_per_date >= TRANSACTION_ROWS_PER_DATE):
        return "transaction"
    _check_duplicates(frame, list(labels), dates, name)
    if step <= DAILY_MAX_STEP_DAYS:
        return "daily"
    if step == WEEKLY_STEP_DAYS:
        return "weekly"
    raise InputError(f"{name}: dates are {step:g} days apart (median); Prism needs weekly, daily or "
                     f"transaction-level data")


def _median_step_days(unique_dates: np.ndarray) -> float:
    if len(unique_dates) < 2:
        return 0.0
    return float(np.median(np.diff(unique_dates)) / np.timedelta64(1, "D"))


def _check_duplicates(frame: pd.DataFrame, labels: list[str], dates: pd.Series, name: str) -> None:
    dup = frame.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    first = frame[dup].iloc[0]
    same = (frame["d"] == first["d"]) & (frame["k"] == first["k"])
    rows = [_row(dates, i) for i in same.to_numpy().nonzero()[0]]
    label = labels[int(first["k"])]
    entity = f" for entity '{label}'" if label != "" else ""
    hint = "" if label != "" else " (if the data has several entities, name their column with --entity-column)"
    raise InputError(f"{name}: duplicate date {pd.Timestamp(first['d']).date()}{entity} in rows {_listed(rows)}"
                     f"{hint}")


def _weekly_as_is(dates: pd.Series, values: pd.DataFrame, data: DataConfig, keys: pd.Series | None,
                  name: str) -> pd.DataFrame:
    """Weekly rows keep their own dates (summed over entities when aggregating); off-grid dates are errors."""
    frame = values.assign(week=dates.dt.normalize().to_numpy())
    weekly = _aggregate(frame, data) if keys is not None else frame.set_index("week").sort_index()
    offsets = ((weekly.index - weekly.index[0]).days % WEEKLY_STEP_DAYS).to_numpy()
    if offsets.any():
        bad = weekly.index[offsets.nonzero()[0][0]]
        raise InputError(f"{name}: date {bad.date()} in '{data.date_column}' is not a whole number of weeks after "
                         f"{weekly.index[0].date()}; weekly data needs one date per week on the same weekday")
    return weekly


def _to_weeks(dates: pd.Series, values: pd.DataFrame, data: DataConfig, frequency: str
              ) -> tuple[pd.DataFrame, list[str]]:
    """Sum KPI and spend (average controls) into weeks starting on the anchor day."""
    day = dates.dt.normalize()
    shift = (day.dt.day_of_week - ANCHORS.index(data.week_anchor)) % DAYS_PER_WEEK
    week = day - pd.to_timedelta(shift, unit="D")
    weekly = _aggregate(values.assign(week=week.to_numpy()), data)
    notes = [f"{frequency} data summed into weeks starting {data.week_anchor}"]
    if frequency == "daily":
        days = pd.Series(day.to_numpy()).groupby(week.to_numpy()).nunique()
        partial = [w for w in (days.index[0], days.index[-1]) if days[w] < DAYS_PER_WEEK]
        if partial and len(weekly) > len(set(partial)):
            weekly = weekly.drop(index=list(dict.fromkeys(partial)))
            notes.append(f"dropped partial edge week(s) {', '.join(str(w.date()) for w in dict.fromkeys(partial))} "
                         f"(fewer than 7 days of data)")
        short = [str(w.date()) for w in days.index[1:-1][days.iloc[1:-1] < DAYS_PER_WEEK]]
        if short:
            notes.append(f"{len(short)} week(s) with missing days sum fewer than 7 days: {_listed(short)}")
    return weekly, notes


def _aggregate(frame: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """Per week: KPI and spend summed, controls averaged (a price or temperature does not add up), events
    the largest value (a week with an event day is an event week)."""
    return group_weeks(frame, "week", [data.kpi, *data.channels], list(data.controls))


def _uneven_entities(dates: pd.Series, keys: pd.Series | None) -> list[str]:
    """When entities are summed, one that starts late or stops early makes the total jump: say which."""
    if keys is None:
        return []
    span = pd.DataFrame({"d": dates.to_numpy(), "k": keys.to_numpy()}).groupby("k")["d"].agg(["min", "max"])
    first, last = span["min"].min(), span["max"].max()
    short = span[(span["min"] > first) | (span["max"] < last)]
    return [f"entity '{k}' covers only {r['min'].date()} → {r['max'].date()} of {first.date()} → {last.date()}; "
            f"the summed series jumps where it starts or stops" for k, r in short.iterrows()]


# ------------------------------------------------------------------------------------ weeks checks


def _handle_gaps(weekly: pd.DataFrame, data: DataConfig) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Missing weeks are listed; with fill_gaps they get zero spend and interpolated KPI/controls."""
    full = pd.date_range(weekly.index[0], weekly.index[-1], freq=f"{WEEKLY_STEP_DAYS}D")
    missing = full.difference(weekly.index)
    if missing.empty:
        return weekly, [], []
    gaps = [str(d.date()) for d in missing]
    if not data.fill_gaps:
        return weekly, gaps, [f"{len(gaps)} missing week(s): {_listed(gaps)}; pass --fill-gaps to fill them "
                              f"with zero spend"]
    weekly = weekly.reindex(full)
    weekly[data.channels] = weekly[data.channels].fillna(0.0)
    weekly.index.name = "week"
    return weekly, gaps, [f"{len(gaps)} missing week(s) filled with zero spend and interpolated KPI/controls: "
                          f"{_listed(gaps)}"]


def _interpolate(weekly: pd.DataFrame, cols: list[str]) -> list[str]:
    notes = []
    for col in dict.fromkeys(cols):
        missing = weekly[col].isna()
        if missing.any():
            weekly[col] = weekly[col].interpolate(limit_direction="both")
            dates = [str(d.date()) for d in weekly.index[missing]]
            notes.append(f"'{col}' missing in {len(dates)} week(s) ({_listed(dates)}), linearly interpolated")
    return notes


def _check_length_and_kpi(weekly: pd.DataFrame, data: DataConfig, name: str, warnings: list[str]) -> None:
    n = len(weekly)
    if n < MIN_WEEKS:
        raise InputError(f"{name}: only {n} weeks of data; at least {MIN_WEEKS} are needed ({MIN_TRAIN_WEEKS} to "
                         f"fit and {MIN_HOLDOUT_WEEKS} held out to test)")
    if n < RECOMMENDED_WEEKS:
        warnings.append(f"only {n} weeks of data (fewer than {RECOMMENDED_WEEKS}): yearly seasonality cannot be "
                        f"separated from media effects")
    kpi = weekly[data.kpi]
    if kpi.nunique() <= 1:
        raise InputError(f"{name}: KPI column '{data.kpi}' is constant ({shown(kpi.iloc[0])} in every week); "
                         f"there is nothing to explain")
    zero = int((kpi == 0).sum())
    if zero > MAX_KPI_ZERO_SHARE * n:
        raise InputError(f"{name}: KPI column '{data.kpi}' is zero in {zero} of {n} weeks; errors in % and "
                         f"shares of the KPI need a KPI that is mostly non-zero")
    negative = [str(d.date()) for d in weekly.index[(kpi < 0).to_numpy()]]
    if negative:
        warnings.append(f"KPI '{data.kpi}' is negative in {len(negative)} week(s) ({_listed(negative)}): check "
                        f"for refunds or returns netted into it")
    if len(data.channels) * MIN_WEEKS_PER_CHANNEL > n:
        warnings.append(f"{len(data.channels)} channels over {n} weeks: fewer than {MIN_WEEKS_PER_CHANNEL} weeks "
                        f"per channel, so effects will be poorly separated and fits slow; merge small channels")


def _drop_zero_channels(weekly: pd.DataFrame, channels: list[str], warnings: list[str], name: str
                        ) -> tuple[list[str], list[str]]:
    dropped = [ch for ch in channels if not (weekly[ch] != 0).any()]
    for ch in dropped:
        warnings.append(f"channel '{ch}' has zero spend in every week and was dropped")
    kept = [ch for ch in channels if ch not in dropped]
    if not kept:
        raise InputError(f"{name}: every channel ({', '.join(channels)}) has zero spend throughout")
    return kept, dropped


# ----------------------------------------------------------------------------------------- helpers


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    floats = frame.select_dtypes("float").columns
    return frame.assign(**{c: frame[c].round(HASH_DECIMALS) for c in floats})


def _row(obj: pd.Series | pd.DataFrame, position: int) -> int:
    """Data row number (1 = first row after the header) of a position in a filtered frame."""
    label = obj.index[position]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else position + 1


def _listed(items: list) -> str:
    shown = ", ".join(str(i) for i in items[:MAX_LISTED])
    return shown + (f", … ({len(items)} in all)" if len(items) > MAX_LISTED else "")
