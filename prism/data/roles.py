"""Detect each column's role (date, KPI, channel, control, event, exposure, entity) from its name, dtype and values.

Precedence: command-line overrides (column names or glob patterns), then data-dictionary roles, then
detection. Outcome-like columns (revenue, orders, conversions, ...) never become channels or controls: the
best one is the KPI (revenue-like first) and the rest are recorded as alternatives. Holiday, event and
season dummies are events (baseline), never channels; an exposure column (impressions, clicks, …) with a
spend twin is recorded beside its channel, never a control (see `column_kinds`).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from prism.data.numbers import to_numbers

from prism.data.column_kinds import MediaKind, event_reason, is_binary, is_calendar, media_kinds, tokens
from prism.errors import InputError
from prism.schemas import ColumnRole

SAMPLE_ROWS = 500
DISTINCT_SAMPLE = 20_000  # rows sampled to count a column's distinct values
DATE_PARSE_SHARE = 0.9
NUMERIC_PARSE_SHARE = 0.8
MAX_ENTITIES = 200
MIN_DISTINCT_CHANNEL_VALUES = 5
CONFIG_ORIGIN = "in config.json"
UNNAMED_SPEND = "unnamed spend"  # guess: a channel only when no column has a spend-like name

DATE_TOKENS = {"date", "week", "day", "ds", "period", "time", "timestamp", "datetime", "dt", "month"}
REVENUE_TOKENS = {"revenue", "revenues", "sales", "gmv", "turnover", "income", "rev", "profit", "bookings"}
CONVERSION_TOKENS = {"orders", "order", "conversions", "conversion", "transactions", "purchases", "signups",
                     "leads", "installs", "units", "subscriptions", "customers", "acquisitions", "volume"}
GENERIC_KPI_NAMES = {"y", "kpi", "target", "outcome", "response"}
DERIVED_TOKENS = {"per", "rate", "ratio", "avg", "average", "share", "pct", "percent", "aov", "roas", "roi",
                  "cpa", "cpc", "cpm", "ctr", "margin"}
AGGREGATE_TOKENS = {"all", "total", "gross"}
SPEND_TOKENS = {"spend", "spent", "cost", "costs", "budget", "investment", "adspend", "media", "s",
                "depenses", "depense", "gasto", "gastos", "kosten", "ausgaben", "spesa", "spese"}  # non-English spend
PLATFORM_TOKENS = {"google", "meta", "facebook", "fb", "instagram", "ig", "tiktok", "youtube", "yt", "search",
                   "sem", "ppc", "shopping", "pmax", "display", "video", "tv", "ctv", "ott", "radio", "print",
                   "ooh", "outdoor", "social", "affiliate", "affiliates", "linkedin", "snapchat", "pinterest",
                   "twitter", "bing", "amazon", "programmatic", "podcast", "influencer", "dv360", "criteo",
                   "adwords", "ads", "sponsorship", "cinema", "paid"}
COMPETITOR_TOKENS = {"competitor", "competitors", "competition"}
CONTROL_TOKENS = {"price", "promo", "promotion", "holiday", "event", "temperature", "weather",
                  "discount", "covid", "macro", "gdp", "cpi", "unemployment", "index", "sentiment", "stock"}
ID_TOKENS = {"id", "idx"}
ROW_INDEX_NAME = re.compile(r"^(?:unnamed: ?\d+|index|)$", re.IGNORECASE)
MAX_EVENT_LABELS = 30  # a text events column has a few labels (Robyn: na, event1, event2)
GLOB_CHARS = set("*?[")
SINGULAR = {"channels": "channel", "controls": "control", "events": "event", "ignore": "ignored"}
ENTITY_TOKENS = {"brand", "region", "market", "geo", "country", "store", "territory", "entity", "dma", "state",
                 "city", "channel_group", "organisation", "organization", "client", "account", "shop"}

MARKET_TOKENS = {"region", "market", "geo", "country", "territory", "dma", "state", "city", "province", "county",
                 "metro", "area", "zone"}  # an entity column so named holds markets: a regional panel
MARKET_ROLE = "market"  # data dictionary / knowledge layer role of a market column


@dataclass
class Overrides:
    """Roles fixed by the user (command line or config.json); None = detect."""

    date: str | None = None
    kpi: str | None = None
    channels: list[str] | None = None
    controls: list[str] | None = None
    entity_column: str | None = None
    events: list[str] | None = None
    ignore: list[str] | None = None
    origin: str = "on the command line"

    def given(self) -> list[str]:
        """Names of the role options set (what a re-discover in a workspace re-applies)."""
        return [f.name for f in fields(self) if f.name != "origin" and getattr(self, f.name) is not None]


@dataclass
class Roles:
    """The detected roles and, per column, the role with its confidence and reason (for metadata.json)."""

    date: str
    kpi: str
    channels: list[str]
    controls: list[str]
    entity_column: str | None
    kpi_alternatives: list[str] = field(default_factory=list)
    markets: bool = False  # the entity column names markets (a regional panel), not brands or businesses
    events: list[str] = field(default_factory=list)
    events_text: str | None = None
    exposures: dict[str, str] = field(default_factory=dict)  # exposure column → its spend channel
    table: list[ColumnRole] = field(default_factory=list)


def detect_roles(frame: pd.DataFrame, overrides: Overrides, hints: dict[str, str] | None = None,
                 source: str = "data") -> Roles:
    """Assign roles to the columns of a raw table; overrides and dictionary hints win over detection."""
    overrides = resolve_overrides(frame, overrides, source)
    given = _given(overrides)  # the user's roles win over the dictionary's and over every guess
    said = {c: (hints or {})[c] for c in frame.columns if c in (hints or {})}  # in the data's column order
    hints = {c: r for c, r in said.items() if c not in given}
    table: dict[str, ColumnRole] = {}
    for col in overrides.ignore or []:
        _set(table, col, "ignored", 1.0, f"set {overrides.origin} (--ignore)")
    fixed = given | set(hints)
    date = _pick_date(frame, overrides, hints, table, source, given)
    entity = _pick_entity(frame, date, overrides, hints, table, given)
    free = [c for c in frame.columns if c not in (date, entity) and c not in (overrides.ignore or [])]
    numeric = [c for c in free if _is_numeric_like(frame[c])]
    kpi, alternatives = _pick_kpi(numeric, overrides, hints, fixed, table, source)
    events, text = _pick_events(frame, [c for c in free if c not in (kpi, *alternatives)], overrides, hints, table,
                                given)
    rest = [c for c in numeric if c != kpi and c not in alternatives and c not in events]
    channels, controls, exposures = _split_channels_controls(frame, rest, overrides, hints, table, source, given)
    markets = bool(entity) and is_market_column(entity, said)
    if markets:
        controls = _drop_market_constants(frame, entity, controls, fixed, table)
    for col in frame.columns:
        table.setdefault(col, ColumnRole(column=col, role="ignored", confidence=0.6,
                                         reason="not numeric" if col not in numeric else "not used"))
    return Roles(date=date, kpi=kpi, channels=channels, controls=controls, entity_column=entity,
                 markets=markets, kpi_alternatives=alternatives, events=events, events_text=text, exposures=exposures,
                 table=[table[c] for c in frame.columns])


def _drop_market_constants(frame: pd.DataFrame, market: str, controls: list[str], fixed: set[str],
                           table: dict[str, ColumnRole]) -> list[str]:
    """Guessed controls that never change within a market (a geo's population): on a panel the market
    intercepts absorb them, so as a control they only make the fit singular; summed or for one market they
    are a constant. A control the user or the dictionary named stays."""
    keep = []
    for col in controls:
        values = pd.to_numeric(frame[col], errors="coerce")
        if col not in fixed and frame[market].nunique() > 1 and values.groupby(frame[market]).nunique().max() <= 1:
            _set(table, col, "ignored", 0.7, "constant within each market: the market intercepts absorb it")
        else:
            keep.append(col)
    return keep


def expand(patterns: list[str] | None, columns: list[str], option: str, source: str) -> list[str] | None:
    """Column names and glob patterns (`mdsp_*`) → the matching columns in the data's order.

    An exact column name wins over reading it as a pattern; a name or pattern matching nothing is bad input.
    """
    if patterns is None:
        return None
    out: list[str] = []
    for pat in patterns:
        if pat in columns:
            hits = [pat]
        elif GLOB_CHARS & set(pat):
            hits = [c for c in columns if fnmatch.fnmatchcase(c, pat)]
            if not hits:
                raise InputError(f"{source}: {option} pattern '{pat}' matches no column; columns are "
                                 f"{', '.join(columns)}")
        else:
            raise InputError(f"{source}: {option} names column '{pat}', which is not in the data; columns are "
                             f"{', '.join(columns)}")
        out += [c for c in hits if c not in out]
    return out


def resolve_overrides(frame: pd.DataFrame, o: Overrides, source: str) -> Overrides:
    """Overrides with patterns expanded; every named column must exist and have one role only."""
    cols = [str(c) for c in frame.columns]
    for option, col in (("--date", o.date), ("--kpi", o.kpi), ("--entity-column", o.entity_column)):
        if col is not None:
            expand([col], cols, option, source)
    o = replace(o, **{k: expand(getattr(o, k), cols, f"--{k}", source)
                      for k in ("channels", "controls", "events", "ignore")})
    lists = {k: set(getattr(o, k) or []) for k in ("channels", "controls", "events", "ignore")}
    if o.kpi and any(o.kpi in v for v in lists.values()):
        raise InputError(f"{source}: KPI column '{o.kpi}' cannot also be a channel, control, event or ignored")
    names = list(lists)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = sorted(lists[a] & lists[b])
            if both:
                raise InputError(f"{source}: column(s) {', '.join(both)} cannot be both {SINGULAR[a]} and "
                                 f"{SINGULAR[b]} (given as --{a} and --{b})")
    return o


def _given(o: Overrides) -> set[str]:
    """Every column the user named under some role: no guess for another role may take it (a role the user
    gives wins over any guess; `--controls holiday` once left holiday guessed as an event too)."""
    lists = [*(o.channels or []), *(o.controls or []), *(o.events or []), *(o.ignore or [])]
    return {c for c in [o.date, o.kpi, o.entity_column, *lists] if c}


def _set(table: dict[str, ColumnRole], col: str, role: str, confidence: float, reason: str,
         paired_with: str | None = None) -> None:
    table[col] = ColumnRole(column=col, role=role, confidence=round(confidence, 2), reason=reason,
                            paired_with=paired_with)


# ------------------------------------------------------------------------------------------- date


def _pick_date(frame: pd.DataFrame, o: Overrides, hints: dict[str, str], table: dict, source: str,
               given: set[str]) -> str:
    if o.date:
        _set(table, o.date, "date", 1.0, f"set {o.origin}")
        return o.date
    hinted = [c for c, r in hints.items() if r == "date"]
    if hinted:
        _set(table, hinted[0], "date", 0.95, "data dictionary")
        return hinted[0]
    scored = [(s, c, why) for c in frame.columns if c not in given for s, why in [_date_score(frame[c])] if s > 0]
    if not scored:
        raise InputError(f"{source}: no date column recognised; pass --date COLUMN")
    score, col, why = max(scored, key=lambda t: t[0])
    _set(table, col, "date", score, why)
    return col


def _date_score(col: pd.Series) -> tuple[float, str]:
    named = bool(DATE_TOKENS & set(tokens(str(col.name))))
    if pd.api.types.is_datetime64_any_dtype(col):
        return (0.99 if named else 0.95), "datetime values"
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return 0.0, ""
    sample = col.dropna().astype(str).head(SAMPLE_ROWS)
    if sample.empty:
        return 0.0, ""
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed", utc=True)  # utc: mixed offsets
    share = float(parsed.notna().mean())
    if share < DATE_PARSE_SHARE:
        return 0.0, ""
    return (0.98 if named else 0.8) * share, f"{share:.0%} of values parse as dates" + (", date-like name" if named else "")


# ----------------------------------------------------------------------------------------- entity


def is_market_column(col: str, hints: dict[str, str]) -> bool:
    """Whether an entity column names markets (geo, region, DMA, state, country…, or marked `market` in the data
    dictionary or knowledge layer): those become a panel; brands, stores or clients stay separate entities."""
    return hints.get(col) == MARKET_ROLE or bool(MARKET_TOKENS & set(tokens(col)))


def _pick_entity(frame: pd.DataFrame, date: str, o: Overrides, hints: dict[str, str], table: dict,
                 given: set[str]) -> str | None:
    if o.entity_column:
        _set(table, o.entity_column, "entity", 1.0, f"set {o.origin}")
        return o.entity_column
    if o.origin == CONFIG_ORIGIN:  # config.json without an entity column means: none
        return None
    hinted = [c for c, r in hints.items() if r in ("entity", MARKET_ROLE)]
    if hinted:
        _set(table, hinted[0], "entity", 0.95, "data dictionary")
        return hinted[0]
    candidates = []
    for col in frame.columns:
        if col == date or col in given or _is_numeric_like(frame[col]) or frame[col].isna().any() or event_reason(col):
            continue
        n = int(frame[col].nunique())
        if 2 <= n <= MAX_ENTITIES and n * 2 <= len(frame):
            candidates.append((bool(ENTITY_TOKENS & set(tokens(col))), n, col))
    if not candidates:
        return None
    named, n, col = max(candidates)
    if not named and frame[date].is_unique:  # one row per date: a text column is a note, not an entity
        return None
    _set(table, col, "entity", 0.9 if named else 0.7, f"{n} distinct labels" + (", entity-like name" if named else ""))
    return col


# -------------------------------------------------------------------------------------------- KPI


def _kpi_score(col: str) -> float:
    """How outcome-like a name is: revenue-like > generic KPI names > conversion counts; 0 = not an outcome."""
    toks = set(tokens(col))
    if toks & (DERIVED_TOKENS | CONTROL_TOKENS | COMPETITOR_TOKENS | SPEND_TOKENS - {"s"}):
        return 0.0
    if toks & REVENUE_TOKENS:
        score = 3.0
    elif col.lower() in GENERIC_KPI_NAMES:
        score = 2.5
    elif toks & CONVERSION_TOKENS:
        score = 2.0
    else:
        return 0.0
    if len(toks) == 1:
        score += 0.5
    if toks & AGGREGATE_TOKENS:
        score -= 0.2
    return score


def _pick_kpi(numeric: list[str], o: Overrides, hints: dict[str, str], fixed: set[str],
              table: dict, source: str) -> tuple[str, list[str]]:
    scores = {c: _kpi_score(c) for c in numeric}
    candidates = sorted((c for c in numeric if scores[c] > 0 and (c not in fixed or hints.get(c) == "kpi")),
                        key=lambda c: -scores[c])
    hinted = [c for c, r in hints.items() if r == "kpi"]
    if o.kpi:
        kpi, conf, why = o.kpi, 1.0, f"set {o.origin}"
    elif hinted:
        kpi, conf, why = hinted[0], 0.95, "data dictionary"
    elif candidates:
        kpi = candidates[0]
        tie = len(candidates) > 1 and scores[candidates[1]] == scores[kpi]
        conf = min(0.95, 0.3 + 0.2 * scores[kpi]) - (0.2 if tie else 0.0)
        why = "revenue-like name" if set(tokens(kpi)) & REVENUE_TOKENS else "outcome-like name"
    else:
        raise InputError(f"{source}: no KPI column recognised (no revenue, sales, orders or conversions column); "
                         f"pass --kpi COLUMN")
    _set(table, kpi, "kpi", conf, why)
    alternatives = [c for c in candidates if c != kpi and c not in fixed]
    for c in alternatives:
        _set(table, c, "kpi_alternative", 0.8, f"outcome-like name; not used as channel or control (KPI is '{kpi}')")
    return kpi, alternatives


# ------------------------------------------------------------------------------------------ events


def _pick_events(frame: pd.DataFrame, cols: list[str], o: Overrides, hints: dict[str, str], table: dict,
                 given: set[str]) -> tuple[list[str], str | None]:
    """(0/1 event dummies, the text events column): holiday/event/season columns that go into the baseline."""
    if o.events is not None:
        chosen = [(c, 1.0, f"set {o.origin}") for c in o.events]
    elif any(r == "event" for r in hints.values()):
        chosen = [(c, 0.95, "data dictionary") for c, r in hints.items() if r == "event"]
    else:
        chosen = [(c, *g) for c in cols if c not in hints and c not in given for g in [_event_guess(frame[c], c)] if g]
    dummies, text = [], None
    for col, conf, why in chosen:
        if _is_numeric_like(frame[col]):
            dummies.append(col)
            _set(table, col, "event", conf, why)
        elif text is None:
            text = col
            _set(table, col, "event", conf, f"{why}; text labels one-hot encoded (na/empty = no event)")
        else:
            _set(table, col, "ignored", 0.7, f"a second text events column (the first is '{text}')")
    return dummies, text


def _event_guess(col: pd.Series, name: str) -> tuple[float, str] | None:
    """(confidence, reason) for a holiday/event/season dummy or a text events column; None otherwise."""
    why = event_reason(name)
    if why is None:
        return None
    if _is_numeric_like(col):
        return (0.9, f"0/1 dummy, {why}") if is_binary(col) else None
    labels = col.dropna().astype(str).str.strip().nunique()
    return (0.85, f"text column, {why}") if 1 <= labels <= MAX_EVENT_LABELS else None


# ------------------------------------------------------------------------------ channels, controls


def _split_channels_controls(frame: pd.DataFrame, cols: list[str], o: Overrides, hints: dict[str, str],
                             table: dict, source: str, given: set[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """(channels, controls, exposure → channel): exposures twinned with a chosen channel sit beside it."""
    kinds = media_kinds(frame, [c for c in cols if _media_candidate(c)])
    for c in [c for c in cols if hints.get(c) == "exposure"]:
        kinds[c] = MediaKind("exposure", kinds[c].partner if c in kinds else None, 0.95, "data dictionary")
    guesses = {c: _guess(frame[c], c, kinds.get(c)) for c in cols}
    channels = _chosen(o.channels, hints, "channel", guesses, table, o.origin, exclude=given)
    controls = _chosen(o.controls, hints, "control", guesses, table, o.origin, exclude=given | set(channels))
    if not channels:
        raise InputError(f"{source}: no spend channel recognised (no column named like *_spend, *_cost, tv, "
                         f"search, meta, ...); pass --channels COL1,COL2")
    exposures = {}
    for c in cols:
        if c in channels or c in controls or c in table:
            continue
        role, conf, why = guesses[c]
        twin = kinds[c].partner if role == "exposure" else None
        if twin in channels:
            exposures[c] = twin
            _set(table, c, "exposure", conf, why, paired_with=twin)
        elif role == "exposure":
            _set(table, c, "ignored", conf, f"{why}; not modelled (no spend channel beside it)")
        else:
            _set(table, c, "ignored", conf if role == "ignored" else 0.7,
                 why if role == "ignored" else f"looks like a {role} but was not chosen")
    return channels, controls, exposures


def _media_candidate(name: str) -> bool:
    """Whether a column may be spend or exposure at all (not a ratio, calendar, id or competitor column)."""
    toks = set(tokens(name))
    return not (toks & (DERIVED_TOKENS | COMPETITOR_TOKENS | ID_TOKENS) or is_calendar(name))


def _chosen(given: list[str] | None, hints: dict[str, str], role: str, guesses: dict, table: dict,
            origin: str, exclude: frozenset[str] | set[str] = frozenset()) -> list[str]:
    if given is not None:
        for c in given:
            _set(table, c, role, 1.0, f"set {origin}")
        return list(given)
    hinted = [c for c, r in hints.items() if r == role and c not in exclude]
    if hinted:
        for c in hinted:
            _set(table, c, role, 0.95, "data dictionary")
        return hinted
    free = {c: g for c, g in guesses.items() if c not in exclude and c not in hints}
    picked = [c for c, (r, _, _) in free.items() if r == role]
    if role == "channel" and not picked:  # no spend-like names: value-shaped columns are the channels
        picked = [c for c, (r, _, _) in free.items() if r == UNNAMED_SPEND]
    elif role == "control":  # spend names exist: an unnamed non-negative series (e.g. newsletter) is a control
        picked = [c for c, (r, _, _) in free.items() if r in (role, UNNAMED_SPEND)]
    for c in picked:
        guessed, conf, why = guesses[c]
        if role == "control" and guessed == UNNAMED_SPEND:
            conf, why = 0.6, "continuous series without a spend or media name (the file names its spend): a driver"
        _set(table, c, role, conf, why)
    return picked


def _guess(col: pd.Series, name: str, kind: MediaKind | None = None) -> tuple[str, float, str]:
    """(role, confidence, reason) for a numeric column that is neither date, outcome nor event."""
    toks = set(tokens(name))
    values = to_numbers(col)
    if _saved_row_index(values, name):
        return "ignored", 0.95, "row numbers 0..n-1: a pandas index left in the file, not data; dropped"
    if toks & DERIVED_TOKENS:
        return "ignored", 0.7, "derived ratio (per/rate/share), neither spend nor a driver"
    if toks & ID_TOKENS:
        return "ignored", 0.7, "id column"
    if is_calendar(name):
        return "ignored", 0.8, "calendar column (year, quarter, week number, …); models add their own trend and seasonality"
    if toks & COMPETITOR_TOKENS:  # a competitor's spend or sales drives our KPI from outside: a control
        return "control", 0.85, "competitor activity"
    if kind is not None:  # negative or all-zero spend is for prepare to report or drop, not a control
        return ("channel" if kind.kind == "spend" else "exposure"), kind.confidence, kind.reason
    if toks & SPEND_TOKENS:
        return "channel", 0.95, "spend-like name"
    if toks & PLATFORM_TOKENS:
        return "channel", 0.85, "media platform name"
    if not values.max() > values.min():
        return "ignored", 0.9, "constant column"
    if toks & CONTROL_TOKENS:
        return "control", 0.85, "control-like name"
    if (values < 0).any():
        return "control", 0.7, "takes negative values"
    distinct = int(values.sample(min(len(values), DISTINCT_SAMPLE), random_state=0).nunique())
    if distinct >= MIN_DISTINCT_CHANNEL_VALUES:
        return UNNAMED_SPEND, 0.5, "non-negative continuous values (no spend-like name)"
    return "control", 0.6, f"only {distinct} distinct values (flag)"


def _saved_row_index(values: pd.Series, name: str) -> bool:
    """An unnamed (`Unnamed: 0`) or `index` column counting the rows 0..n-1 or 1..n: a DataFrame's index written
    by `to_csv`, once taken as a control."""
    if not ROW_INDEX_NAME.match(name.strip()):
        return False
    rows = np.arange(len(values))
    return bool(values.notna().all()) and any(np.array_equal(values.to_numpy(), rows + k) for k in (0, 1))


def _is_numeric_like(col: pd.Series) -> bool:
    """Numeric dtype, or text that is mostly numbers (so a typo in a spend column is reported, not skipped)."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return True
    if pd.api.types.is_datetime64_any_dtype(col):
        return False
    sample = col.dropna().head(SAMPLE_ROWS)
    if sample.empty:
        return False
    return float(to_numbers(sample).notna().mean()) >= NUMERIC_PARSE_SHARE
