"""Find the numbers in a text that match no value of the round (results, metadata, config, derived facts).

A printed number matches a value when the value rounds to it at the printed precision (2.35 matches
2.3461; "1.2m" matches 1,234,567; "45%" also matches a stored share of 0.45). Small counts, years of the
data window and the method's own thresholds are known values too.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass

from prism.analysis import checks, facts as F
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
PLAN_FILE = "optimization.csv"  # the optimizer's plan (planning layer, above this one: read as a file)
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


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
    state = load_state(ws)
    vals += json_numbers({"rounds": [r.model_dump(mode="json") for r in state.rounds], "best": state.best_objective})
    vals += [f.value for r in state.rounds for f in extract(r.change)]  # values the Tuner set
    vals += _plan_values(ws)
    return [v for v in vals if v == v]  # drop NaN


def _plan_values(ws: Workspace) -> list[float]:
    """Every number of results/optimization.csv, which the report's "What to do" quotes."""
    path = ws.result(PLAN_FILE)
    if not path.exists():
        return []
    frame = read_csv(path, required=("channel",))
    return [float(v) for v in frame.select_dtypes("number").to_numpy().ravel()]


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
