"""Find the numbers in a text that match no value of the round (results, metadata, config, derived facts).

A printed number matches a value when the value rounds to it at the printed precision (2.35 matches
2.3461; "1.2m" matches 1,234,567; "45%" also matches a stored share of 0.45). Small counts, years of the
data window and the method's own thresholds are known values too.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass

from prism.analysis import checks, facts as F, governance, refresh
from prism.analysis.facts import RoundFacts
from prism.schemas import CONVERGENCE
from prism.workspace import Workspace, load_state, read_csv

SMALL_COUNT = 12  # integers up to this are counts ("3 models", "top 3")
SKIP_KEYS = {"weekly", "curves", "params", "dates"}  # long series: matching against them proves nothing
METHOD_CONSTANTS = (F.INTERVAL_LEVEL, F.COLLINEAR_R, F.COLLINEAR_VIF, F.MIN_WEEKS_CAVEAT, F.WEEKS_PER_PARAMETER,
                    CONVERGENCE.max_rhat, CONVERGENCE.min_ess, *astuple(checks.THRESHOLDS), *F.AGREEMENT_CV, 100.0)
SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}

NUMBER = re.compile(
    r"(?<![\w./])(?P<sign>[-−])?[$€£]?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?P<suffix>\s?%|\s?(?:k|m|bn|thousand|million|billion)\b)?",
    re.IGNORECASE,
)
PLAN_FILES = ("optimization.csv", "test_plan.csv", "refresh.csv")  # the optimizer's plan (planning layer, above
# this one: read as a file), the test plans and the last refresh's stability table
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
INTERPRETATION = "## Interpretation"  # the Explorer's own section, after Prism's computed ones

# The one list of places an agent's figure may come from (program.md states it; a test keeps them equal).
NUMBER_SOURCES = (
    "`rounds/R{NN}_results.json` of the round (the same values as `results/*.csv`), and the figures derived "
    "from it: the combined interval and the channel average",
    "`metadata.json`: the data profile and the knowledge layer",
    "`config.json` and the round records of `state.json` (objectives, changes)",
    "the computed sections of `rounds/R01_data_exploration.md` (above `## Interpretation`)",
    "`results/refresh.json`, `results/refresh.csv` and `decisions.jsonl` (the report's \"Since last time\")",
)
NOT_SOURCES = ("discover's role confidences (every metadata refresh recomputes them)",)

SPELLED = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
           "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "twice": 2, "double": 2, "triple": 3}
RATIO = re.compile(r"(?<![\w.])(?P<n>\d+(?:\.\d+)?|" + "|".join(SPELLED) + r")(?:\s*(?:times\b|×)|x\b)"
                   r"|\b(?P<w>twice|double|triple)\b", re.IGNORECASE)
SPELLED_OUT = re.compile(r"\b(?:" + "|".join(w for w in SPELLED if SPELLED[w] > 3) + r"|hundred|thousand|million|"
                         r"half|a third|a quarter)\b", re.IGNORECASE)  # "two models" is a count, not a figure
SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?](?=\d)[^.!?\n]*)*")  # a sentence; "3.0" does not end it
RATIO_SLACK = 0.1  # "about ten times": a ratio said in words is right within 10 % (or its printed rounding)


@dataclass(frozen=True)
class Found:
    """A number as printed: its text, value, tolerance and position."""

    text: str
    value: float
    tol: float
    percent: bool
    start: int
    end: int


def extract(text: str) -> list[Found]:
    """Numbers in a text, skipping ISO dates and identifiers like R01 or x3."""
    masked = DATE.sub(lambda m: " " * len(m.group()), text)
    out = []
    for m in NUMBER.finditer(masked):
        raw = m.group("num").replace(",", "")
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        suffix = (m.group("suffix") or "").strip().lower()
        scale = SCALE.get(suffix, 1.0)
        value = float(raw) * scale
        out.append(Found(text=m.group(), value=value, tol=0.5 * 10 ** -decimals * scale + 1e-9,
                         percent=suffix == "%", start=m.start(), end=m.end()))
    return out


def known_values(ws: Workspace, round_no: int, facts: RoundFacts | None = None) -> list[float]:
    """Every value a text about this round may quote."""
    facts = facts or RoundFacts.load(ws, round_no)
    vals: list[float] = list(METHOD_CONSTANTS)
    vals += list(range(0, SMALL_COUNT + 1))
    vals += [float(round_no), float(F.WEEKS_PER_PARAMETER * facts.n_parameters)]
    if facts.results is not None:
        vals += json_numbers(facts.results.model_dump(mode="json"))
        vals += facts.derived_values()
    vals += json_numbers(facts.meta.profile.model_dump(mode="json"))
    vals += json_numbers(facts.cfg.model_dump(mode="json"))
    vals += json_numbers(facts.meta.knowledge.model_dump(mode="json"))  # benchmarks the agents are shown
    vals += _years(facts.meta.profile.start, facts.meta.profile.end)
    vals += exploration_values(ws)
    state = load_state(ws)
    vals += json_numbers({"rounds": [r.model_dump(mode="json") for r in state.rounds], "best": state.best_objective})
    vals += [f.value for r in state.rounds for f in extract(r.change)]  # values the Tuner set
    vals += _plan_values(ws)
    vals += json_numbers([*governance.read_log(ws), refresh.read_refresh(ws).model_dump(mode="json")
                          if ws.result("refresh.json").exists() else {}])
    return [v for v in vals if v == v]  # drop NaN


def exploration_values(ws: Workspace) -> list[float]:
    """The figures Prism computed in the exploration (a source for every later file)."""
    path = ws.exploration()
    if not path.exists():
        return []
    computed = path.read_text(encoding="utf-8").partition(INTERPRETATION)[0]
    return [f.value for f in extract(computed)]


@dataclass(frozen=True)
class Ratio:
    """A ratio the text states ("about ten times", "7.7×"): `actual` is None when it cannot be computed."""

    text: str
    value: float
    actual: float | None
    start: int
    end: int

    @property
    def wrong(self) -> bool:
        slack = max(RATIO_SLACK * self.value, 0.5 if float(self.value).is_integer() else 0.05)
        return self.actual is not None and abs(self.actual - self.value) > slack


def ratios(text: str, facts: RoundFacts) -> list[Ratio]:
    """Ratios stated in the text; computable when their sentence names exactly two channels (ROI ratio)."""
    out = []
    for m in re.finditer(SENTENCE, text):
        sentence = m.group()
        low = sentence.lower()
        chans = [ch for ch in facts.channels if checks.mentions(low, facts, ch)] if facts.results else []
        for r in RATIO.finditer(sentence):
            word = (r.group("n") or r.group("w")).lower()
            value = float(SPELLED.get(word, 0) or word)
            actual = None
            if len(chans) == 2:
                a, b = (abs(facts.channel_facts[c].roi) for c in chans)
                actual = max(a, b) / min(a, b) if min(a, b) > 0 else None
            out.append(Ratio(r.group(), value, actual, m.start() + r.start(), m.start() + r.end()))
    return out


def _plan_values(ws: Workspace) -> list[float]:
    """Every number of results/optimization.csv and results/test_plan.csv, which the report's "What to do"
    and "What would settle it" quote."""
    paths = [ws.result(name) for name in PLAN_FILES if ws.result(name).exists()]
    frames = [read_csv(path, required=("channel",)).select_dtypes("number") for path in paths]
    return [float(v) for frame in frames for v in frame.to_numpy().ravel()]


def unknown_numbers(text: str, ws: Workspace, round_no: int) -> list[str]:
    """Numbers in `text` that match no known value of the round within their printed rounding."""
    return unknown_numbers_in(text, known_values(ws, round_no))


def unknown_numbers_in(text: str, values: list[float]) -> list[str]:
    return [f.text.strip() for f in extract(text) if not matches(f, values)]


def matches(found: Found, values: list[float]) -> bool:
    candidates = [abs(v) for v in values]
    if found.percent:
        candidates += [abs(v) * 100.0 for v in values]
    return any(abs(found.value - c) <= found.tol for c in candidates)


def closest(found: Found, values: list[float]) -> float | None:
    """The candidate value nearest to a printed number (for corrections)."""
    if not values:
        return None
    return min(values, key=lambda v: abs(abs(v) - found.value))


def json_numbers(obj: object) -> list[float]:
    """Every number in a JSON-like value, leaving out the long series (SKIP_KEYS)."""
    if isinstance(obj, bool) or obj is None:
        return []
    if isinstance(obj, (int, float)):
        return [float(obj)]
    if isinstance(obj, dict):
        return [v for k, x in obj.items() if k not in SKIP_KEYS for v in json_numbers(x)]
    if isinstance(obj, list):
        return [v for x in obj for v in json_numbers(x)]
    return []


def _years(start: str, end: str) -> list[float]:
    try:
        return [float(y) for y in range(int(start[:4]), int(end[:4]) + 1)]
    except ValueError:
        return []
