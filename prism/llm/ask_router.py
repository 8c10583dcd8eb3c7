"""Rule-based routing of a plain-English question: its intent, the channels, period, change and budget it names.

Patterns are tried in a fixed priority (a what-if about ROI is a scenario; "can I trust the ROI" is
trust), so the router is predictable and its table below reads as the specification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from prism.planning.constraints import check_change_pct
from prism.planning.names import matches, mentioned

SCENARIO, BUDGET, TRUST, DRIVERS, SATURATION, CONTRIBUTION, ROI, SUMMARY, HELP = (
    "scenario", "budget", "trust", "drivers", "saturation", "contribution", "roi", "summary", "help")
INTENTS = (SCENARIO, BUDGET, TRUST, DRIVERS, SATURATION, CONTRIBUTION, ROI, SUMMARY)

PATTERNS: dict[str, tuple[str, ...]] = {
    SCENARIO: (r"\bwhat (?:if|happens if|would happen if)\b", r"\bif we (?:cut|cuts|reduce|increase|raise|double|halve|"
               r"drop|boost|stop|pause|add|spend|move|shift)\b", r"\bimpact of (?:cutting|reducing|increasing|raising|"
               r"doubling|halving|stopping|pausing)\b", r"\b(?:cut|cutting|reduce|reducing|increase|increasing|raise|"
               r"raising|boost|boosting) \w+(?: \w+)? by \d", r"\bscenario\b"),
    BUDGET: (r"\bhow should (?:i|we) (?:split|allocate|spend|divide|invest|distribute)\b", r"\ballocat", r"\bbudget",
             r"\boptimal (?:mix|split|spend)\b", r"\bbest (?:mix|split)\b", r"\bwhere should (?:i|we) (?:put|spend|invest)\b",
             r"\breallocat", r"\bmedia plan\b", r"\bhow much should (?:i|we) spend\b"),
    TRUST: (r"\btrust", r"\breliab", r"\bconfiden", r"\bbelieve\b", r"\bhow sure\b", r"\buncertain", r"\btest plan\b",
            r"\bshould (?:i|we) test\b", r"\bhow solid\b", r"\bcredible\b", r"\brobust\b"),
    DRIVERS: (r"\bdr(?:o|i)ve\b", r"\bdriv(?:er|ers|ing)\b", r"\bwhat caused\b", r"\bwhy (?:did|were|was)\b",
              r"\bexplain (?:the )?(?:sales|revenue|kpi)\b", r"\bbehind (?:the )?(?:spike|dip|drop|growth)\b"),
    SATURATION: (r"\bsaturat", r"\bdiminishing\b", r"\bheadroom\b", r"\broom to (?:grow|scale)\b", r"\bmaxed\b",
                 r"\bceiling\b", r"\bscale (?:up|further)\b", r"\bspend more\b"),
    CONTRIBUTION: (r"\bcontribut", r"\bhow much (?:revenue|sales|kpi|of)\b", r"\bshare of (?:revenue|sales|kpi)\b",
                   r"\bincremental\b", r"\b(?:came|comes|come) from\b", r"\bdecompos"),
    ROI: (r"\broi\b", r"\broas\b", r"\breturns?\b", r"\befficien", r"\bbest[- ]performing\b", r"\bworst\b",
          r"\bvs\.?\b", r"\bversus\b", r"\bcompare\b", r"\bperform", r"\bpays? (?:back|off)\b", r"\bmroi\b",
          r"\bmarginal\b", r"\bworth it\b", r"\bbest channel\b"),
    SUMMARY: (r"\bsummar", r"\boverview\b", r"\btl;?dr\b", r"\bwhat should (?:i|we) do\b", r"\bkey (?:findings|takeaways)\b",
              r"\bheadlines?\b", r"\bexecutive\b", r"\bbottom line\b", r"\bbig picture\b"),
}

MONTHS = {m: i for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                      "september", "october", "november", "december"), start=1)}
MONTH_ABBR = {m[:3]: i for m, i in MONTHS.items()}
CHANGE_WORDS = {"double": 100.0, "doubling": 100.0, "halve": -50.0, "halving": -50.0, "stop": -100.0,
                "stopping": -100.0, "pause": -100.0, "pausing": -100.0, "turn off": -100.0, "switch off": -100.0}
DOWN = re.compile(r"\b(?:cut|cuts|cutting|reduce|reducing|lower|lowering|drop|dropping|decrease|decreasing|less|"
                  r"down|trim|trimming|fewer)\b")
NUMBER = r"[-+−]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?|nan|inf(?:inity)?)"  # read whole: 1e3 is 1000
PCT = re.compile(rf"(?<![\w.])({NUMBER})\s*(?:%|percent|per cent|pct)")
AMOUNT = re.compile(r"(?<![\w.])([$€£])?\s?(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(k|m|bn|thousand|million|billion)?\b"
                    r"(?!\s*(?:%|percent|weeks?|months?|days?))", re.IGNORECASE)
SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
HORIZON = ((re.compile(r"\bnext (\d+) weeks?\b"), 1.0), (re.compile(r"\bnext (\d+) months?\b"), 52 / 12),
           (re.compile(r"\bnext (\d+) quarters?\b"), 13.0))
HORIZON_WORDS = {"next week": 1, "next month": 4, "next quarter": 13, "next half": 26, "next year": 52,
                 "this quarter": 13, "this month": 4}
PER_WEEK = re.compile(r"\b(?:per|a|each) week\b|\bweekly\b")
NAME_AFTER = re.compile(r"\b(?:of|on|in|for|cut|cutting|increase|raise|reduce|trust|about|into|vs\.?|versus)\s+"
                        r"(?:the\s+|our\s+)?"
                        r"([A-Za-z][\w\-]*)")
GENERIC = frozenset({"sales", "revenue", "kpi", "spend", "budget", "media", "channel", "channels", "each", "every",
                     "all", "it", "them", "this", "that", "these", "those", "our", "my", "the", "a", "an", "q1", "q2",
                     "q3", "q4", "last", "next", "total", "marketing", "number", "numbers", "results", "model",
                     "models", "plan", "mix", "roi", "return", "returns", "money", "which", "what", "terms", "general",
                     "week", "weeks", "month", "months", "quarter", "year", "spending", "ads", "advertising", "here",
                     "there", "data", "estimate", "estimates", "figures", "performance", "more", "less"})


@dataclass(frozen=True)
class Period:
    label: str
    start: pd.Timestamp
    end: pd.Timestamp


@dataclass
class Question:
    """A routed question: what is asked and about what."""

    text: str
    intent: str
    channels: list[str] = field(default_factory=list)
    changes: dict[str, float] = field(default_factory=dict)  # channel → % change (scenarios)
    amount: float | None = None  # budget over the horizon
    weeks: int | None = None
    period: Period | None = None
    period_text: str | None = None  # a period was named but is not in the data
    unknown_name: str | None = None  # a channel-like word that matches no channel


def intent_of(text: str) -> str:
    low = text.lower()
    return next((i for i in INTENTS if any(re.search(p, low) for p in PATTERNS[i])), HELP)


def route(text: str, channels: list[str], labels: dict[str, str], dates: pd.DatetimeIndex | None = None) -> Question:
    """Parse a question against the data's channels (fuzzy) and weeks."""
    q = Question(text=text, intent=intent_of(text), channels=mentioned(text, channels, labels))
    low = text.lower()
    if q.intent == SCENARIO:
        q.changes = changes(low, channels, labels)
    if q.intent == BUDGET:
        q.amount, q.weeks = budget_amount(low)
    if dates is not None and len(dates):
        q.period, q.period_text = period(low, dates)
    q.unknown_name = unknown_name(text, channels, labels)
    return q


def changes(low: str, channels: list[str], labels: dict[str, str]) -> dict[str, float]:
    """{channel: % change} per clause: "cut facebook by 20% and raise search by 10%"."""
    out: dict[str, float] = {}
    for clause in re.split(r"\band\b|,|;|\bwhile\b|\bbut\b", low):
        chans = mentioned(clause, channels, labels)
        pct = _clause_change(clause)
        if chans and pct is not None:
            out.update(dict.fromkeys(chans, pct))
    return out


def _clause_change(clause: str) -> float | None:
    for word, pct in CHANGE_WORDS.items():
        if re.search(rf"\b{word}\b", clause):
            return pct
    m = PCT.search(clause)
    if not m:
        return None
    value = float(m.group(1).replace("−", "-"))
    value = -abs(value) if DOWN.search(clause) else value
    return check_change_pct(value, f"{m.group(1)}%", "ask")


def budget_amount(low: str) -> tuple[float | None, int | None]:
    """(total budget over the horizon, horizon weeks) from "split 500k next month" / "50k a week"."""
    weeks = next((int(round(float(m.group(1)) * per)) for rx, per in HORIZON if (m := rx.search(low))), None)
    weeks = weeks or next((w for phrase, w in HORIZON_WORDS.items() if phrase in low), None)
    amounts = [float(m.group(2).replace(",", "")) * SCALE.get((m.group(3) or "").lower(), 1.0)
               for m in AMOUNT.finditer(low) if m.group(1) or m.group(3)]
    amount = max(amounts) if amounts else None
    if amount is not None and PER_WEEK.search(low):
        amount *= weeks or 13
    return amount, weeks


def period(low: str, dates: pd.DatetimeIndex) -> tuple[Period | None, str | None]:
    """The weeks a question names ("Q4", "Q4 2023", "2023", "December", "last 8 weeks"), or what it named."""
    last = dates.max()
    if m := re.search(r"\blast (\d+) weeks?\b", low):
        n = int(m.group(1))
        return Period(f"the last {n} weeks", dates[-min(n, len(dates))], last), None
    if re.search(r"\blast quarter\b", low):
        return Period("the last 13 weeks", dates[-min(13, len(dates))], last), None
    if m := re.search(r"\bq([1-4])(?:\s*(?:of\s*)?'?(\d{4}|\d{2}))?\b", low):
        return _quarter(int(m.group(1)), m.group(2), dates)
    month = re.search(r"\b(" + "|".join(list(MONTHS) + list(MONTH_ABBR)) + r")\b(?:\s+(\d{4}))?", low)
    if month and month.group(1) != "may" or (month and month.group(2)):
        return _month(MONTHS.get(month.group(1)) or MONTH_ABBR[month.group(1)], month.group(2), dates)
    if m := re.search(r"\b(19\d{2}|20\d{2})\b", low):
        year = int(m.group(1))
        span = dates[dates.year == year]
        return (Period(str(year), span.min(), span.max()), None) if len(span) else (None, str(year))
    return None, None


def _quarter(q: int, year: str | None, dates: pd.DatetimeIndex) -> tuple[Period | None, str | None]:
    years = sorted({d.year for d in dates if (d.month - 1) // 3 + 1 == q})
    y = int(year) + (2000 if year and len(year) == 2 else 0) if year else (years[-1] if years else None)
    span = dates[(dates.year == y) & ((dates.month - 1) // 3 + 1 == q)] if y else dates[:0]
    label = f"Q{q} {y}" if y else f"Q{q}"
    return (Period(label, span.min(), span.max()), None) if len(span) else (None, label)


def _month(month: int, year: str | None, dates: pd.DatetimeIndex) -> tuple[Period | None, str | None]:
    years = sorted({d.year for d in dates if d.month == month})
    y = int(year) if year else (years[-1] if years else None)
    span = dates[(dates.year == y) & (dates.month == month)] if y else dates[:0]
    name = pd.Timestamp(2000, month, 1).strftime("%B")
    label = f"{name} {y}" if y else name
    return (Period(label, span.min(), span.max()), None) if len(span) else (None, label)


def unknown_name(text: str, channels: list[str], labels: dict[str, str]) -> str | None:
    """A word placed where a channel goes ("the ROI of TikTok") that names no channel and is not generic."""
    for m in NAME_AFTER.finditer(text):
        word = m.group(1)
        low = word.lower()
        if low in GENERIC or low in MONTHS or low in MONTH_ABBR or re.match(r"\d", word):
            continue
        if not mentioned(word, channels, labels) and not matches(word, channels, labels):  # "Mdsp": a shared word
            return word
    return None
