"""What kind of column a wide marketing file holds, judged by name and values: event dummies, calendar
columns, and spend columns paired with their exposure columns (impressions, clicks, GRPs, reach, views).

Why it exists: a retailer's weekly file (measured in issue 11) had, per channel, a spend column and an
impressions column under two prefixes (`mdsp_tv`, `mdip_tv`), ~20 holiday dummies (`hldy_Mother's Day`),
~15 seasonality dummies (`seas_week_40`) and calendar columns (`yr_nbr`, `wk_in_yr_nbr`). Word lists alone
took an impressions column and holiday dummies as channels (the `s` of "Mother's" read as the Robyn spend
suffix) and dropped `hldy_New Year's Day` as a calendar column. Here event dummies are recognised first,
the spend/exposure naming scheme is learnt from the file itself (a shared suffix under two prefixes, or a
shared stem under two suffixes), and a column is calendar only when every word of its name is calendar-ish.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

EVENT_TOKENS = {"hldy", "hol", "hols", "holiday", "holidays", "event", "events", "evt", "seas", "season",
                "seasonal", "seasonality", "festive", "festival"}
HOLIDAY_NAMES = ("newyear", "christmas", "blackfriday", "cybermonday", "thanksgiving", "easter", "valentine",
                 "halloween", "laborday", "labourday", "memorialday", "independenceday", "july4", "4thofjuly",
                 "fourthofjuly", "primeday", "martinlutherking", "presidentsday", "veteransday", "columbusday",
                 "mothersday", "fathersday", "greenmonday", "boxingday", "superbowl", "diwali", "ramadan",
                 "hanukkah", "lunarnewyear", "chinesenewyear", "goodfriday", "singlesday", "backtoschool",
                 "stpatrick", "blackweek", "dayafterchristmas", "pentecost", "whitsun", "carnival")
HOLIDAY_SHORT = {"xmas", "nye", "mlk", "eid", "bf", "cm"}
CALENDAR_WORDS = {"t", "trend", "year", "years", "yr", "quarter", "qtr", "month", "mth", "mon", "week", "weeks",
                  "wk", "day", "days", "dayofyear", "doy", "weekofyear", "woy", "dow", "weekday", "dayofweek",
                  "prd", "period", "fiscal", "id", "idx"}
CALENDAR_FILLERS = {"nbr", "num", "number", "no", "in", "of", "index", "start", "end", "iso"}
SPEND_WORDS = {"spend", "spent", "cost", "costs", "budget", "investment", "adspend", "s", "sp", "spd", "usd",
               "eur", "gbp", "dollars"}
EXPOSURE_WORDS = {"impressions", "impression", "imps", "imp", "impr", "clicks", "click", "clk", "reach", "grp",
                  "grps", "trp", "trps", "views", "view", "i", "p", "frequency", "freq", "exposure", "exposures",
                  "visits", "sends", "opens", "circulation", "insertions"}
SPEND_HINTS = ("spend", "cost", "sp", "budget", "inv")  # inside an abbreviated marker such as `mdsp`
EXPOSURE_HINTS = ("imp", "ip", "click", "clk", "grp", "trp", "reach", "view", "exp")
SCALE_RATIO = 10.0  # exposure columns run at least this many times the values of their spend twin…
SCALE_AGREEMENT = 0.75  # …in at least this share of pairs, for the value scale alone to decide
MIN_SCHEME_PAIRS = 2  # a prefix/suffix pair must be shared by this many channels to be a naming scheme


def tokens(name: str) -> list[str]:
    """Lower-case word tokens of a column name: `metaFacebook_Spend` → ['meta', 'facebook', 'spend'].

    A possessive `'s` stays part of its word (`Mother's Day` → ['mothers', 'day']): read alone it would be
    the Robyn spend suffix `_S`.
    """
    name = re.sub(r"['’]s\b", "s", str(name))
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()  # dépenses_télé → depenses_tele
    return [t.lower() for t in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)]


def is_binary(values: pd.Series) -> bool:
    """0/1 (or True/False) with both values present: a dummy."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    return not v.empty and bool(v.isin((0, 1)).all()) and v.nunique() == 2


def event_reason(name: str) -> str | None:
    """Why a column's name says holiday/event/season (None when it does not)."""
    toks = set(tokens(name))
    hit = toks & EVENT_TOKENS
    if hit:
        return f"event word '{sorted(hit)[0]}' in the name"
    squashed = "".join(tokens(name))
    named = next((h for h in HOLIDAY_NAMES if h in squashed), None) or next(iter(toks & HOLIDAY_SHORT), None)
    return f"named holiday ('{named}')" if named else None


def is_calendar(name: str) -> bool:
    """Every word of the name is a calendar word (year, quarter, week number, …): never a holiday name."""
    toks = tokens(name)
    return bool(toks) and set(toks) <= CALENDAR_WORDS | CALENDAR_FILLERS and bool(set(toks) & CALENDAR_WORDS)


# ------------------------------------------------------------------------------------ spend vs exposure


@dataclass(frozen=True)
class MediaKind:
    """A column's media kind: 'spend' or 'exposure', its twin column (if any), confidence and reason."""

    kind: str
    partner: str | None
    confidence: float
    reason: str


def media_kinds(frame: pd.DataFrame, columns: list[str]) -> dict[str, MediaKind]:
    """Spend and exposure columns among `columns`: known words first, then the file's own naming scheme."""
    found = _by_words(frame, columns)
    rest = [c for c in columns if c not in found]
    found.update(_by_scheme(frame, rest))
    return found


def _word_kind(toks: list[str]) -> str | None:
    if set(toks) & SPEND_WORDS:
        return "spend"
    if set(toks) & EXPOSURE_WORDS:
        return "exposure"
    return None


def _by_words(frame: pd.DataFrame, columns: list[str]) -> dict[str, MediaKind]:
    """Columns named with spend or exposure words, twinned by the stem left without those words."""
    kinds = {c: _word_kind(tokens(c)) for c in columns}
    stem = {c: tuple(t for t in tokens(c) if t not in SPEND_WORDS | EXPOSURE_WORDS) for c in columns}
    spend_by_stem = defaultdict(list)
    for c, k in kinds.items():
        if k == "spend" and stem[c]:
            spend_by_stem[stem[c]].append(c)
    out: dict[str, MediaKind] = {}
    for c, k in kinds.items():
        twins = spend_by_stem.get(stem[c], []) if k == "exposure" else []
        if k == "exposure" and len(twins) == 1:
            ratio = _scale_ratio(frame, twins[0], c)
            out[c] = MediaKind("exposure", twins[0], 0.9, f"exposure word in the name; spend twin '{twins[0]}'"
                               + (f" (values {ratio:.0f}× larger)" if ratio >= SCALE_RATIO else ""))
            out.setdefault(twins[0], MediaKind("spend", c, 0.95, f"spend word in the name; exposure twin '{c}'"))
        elif k == "exposure":
            out[c] = MediaKind("exposure", None, 0.7, "exposure word in the name (impressions/clicks/GRPs), "
                                                      "no spend twin")
    return out


def _scale_ratio(frame: pd.DataFrame, spend: str, exposure: str) -> float:
    s = pd.to_numeric(frame[spend], errors="coerce").abs().mean()
    e = pd.to_numeric(frame[exposure], errors="coerce").abs().mean()
    return float(e / s) if s and s > 0 and np.isfinite(e) else float("nan")


def _by_scheme(frame: pd.DataFrame, columns: list[str]) -> dict[str, MediaKind]:
    """Two markers (prefixes or suffixes) that share several channel names: one is spend, the other exposure."""
    out: dict[str, MediaKind] = {}
    for position in (0, -1):
        groups: dict[tuple[str, ...], dict[str, str]] = defaultdict(dict)
        for c in columns:
            toks = tokens(c)
            if len(toks) >= 2 and c not in out:
                key = tuple(toks[1:] if position == 0 else toks[:-1])
                groups[key][toks[position]] = c
        pairs = Counter((a, b) for g in groups.values() for a in g for b in g if a < b)
        for (a, b), n in pairs.most_common():
            if n >= MIN_SCHEME_PAIRS:
                out.update(_scheme(frame, columns, position, a, b, groups, out))
    return out


def _scheme(frame: pd.DataFrame, columns: list[str], position: int, a: str, b: str,
            groups: dict[tuple[str, ...], dict[str, str]], taken: dict[str, MediaKind]) -> dict[str, MediaKind]:
    """Decide which marker of (a, b) is spend, by its letters or else by the value scale of the twins."""
    twins = [(g[a], g[b]) for g in groups.values() if a in g and b in g and g[a] not in taken and g[b] not in taken]
    ratios = [_scale_ratio(frame, x, y) for x, y in twins]
    spend, how, conf = _spend_marker(a, b, ratios)
    if spend is None:
        return {}
    exposure = b if spend == a else a
    where = "prefix" if position == 0 else "suffix"
    marker = (lambda m: f"'{m}_'") if position == 0 else (lambda m: f"'_{m}'")
    out: dict[str, MediaKind] = {}
    for x, y in twins:
        s, e = (x, y) if spend == a else (y, x)
        out[s] = MediaKind("spend", e, conf, f"spend {where} {marker(spend)} ({how}); exposure twin '{e}'")
        out[e] = MediaKind("exposure", s, conf, f"exposure {where} {marker(exposure)} ({how}); spend twin '{s}'")
    for c in columns:  # the scheme's columns without a twin keep their kind
        toks = tokens(c)
        if c in out or c in taken or len(toks) < 2:
            continue
        if toks[position] == spend:
            out[c] = MediaKind("spend", None, conf - 0.1, f"spend {where} {marker(spend)} ({how}); no exposure twin")
        elif toks[position] == exposure:
            out[c] = MediaKind("exposure", None, conf - 0.1,
                               f"exposure {where} {marker(exposure)} ({how}); no spend twin")
    return out


def _spend_marker(a: str, b: str, ratios: list[float]) -> tuple[str | None, str, float]:
    """(the spend marker, how it was decided, confidence).

    The letters decide alone only when they point both ways (`mdsp` spend-like, `mdip` exposure-like); a
    one-sided hint (`display` holds `sp`) needs the value scale to agree, and the scale may decide alone.
    """
    spend_like = {m: any(h in m for h in SPEND_HINTS) and not any(h in m for h in EXPOSURE_HINTS) for m in (a, b)}
    exposure_like = {m: any(h in m for h in EXPOSURE_HINTS) and not any(h in m for h in SPEND_HINTS) for m in (a, b)}
    both_ways = [m for m, n in ((a, b), (b, a)) if spend_like[m] and exposure_like[n]]
    one_way = [m for m, n in ((a, b), (b, a)) if spend_like[m] or exposure_like[n]]
    by_scale = _spend_by_scale(a, b, ratios)
    if len(both_ways) == 1:
        agrees = by_scale == both_ways[0]
        return both_ways[0], "name" + (" and value scale" if agrees else ""), 0.95 if agrees else 0.85
    if len(one_way) == 1 and by_scale == one_way[0]:
        return by_scale, "name and value scale", 0.9
    if by_scale is not None and not one_way:
        return by_scale, f"value scale: the twins run ≥ {SCALE_RATIO:g}× larger", 0.75
    return None, "", 0.0


def _spend_by_scale(a: str, b: str, ratios: list[float]) -> str | None:
    """The marker whose columns are the smaller ones (spend), when most pairs differ ≥ SCALE_RATIO×."""
    logs = [math.log10(r) for r in ratios if np.isfinite(r) and r > 0]  # log10(b-side mean / a-side mean)
    larger_b = sum(lg >= math.log10(SCALE_RATIO) for lg in logs)
    larger_a = sum(lg <= -math.log10(SCALE_RATIO) for lg in logs)
    if logs and max(larger_a, larger_b) >= SCALE_AGREEMENT * len(logs):
        return a if larger_b > larger_a else b
    return None
