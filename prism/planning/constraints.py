"""Per-channel spend limits from the command line, as (lo, hi) weekly arrays in the channel order.

Syntax (every amount is spend over the whole horizon, like `--budget`):
  --bounds tv=0.5x:1.5x        between half and 1.5 times the channel's current spend
  --bounds tv=20k:50k          absolute amounts (k, m and bn suffixes; commas allowed)
  --bounds tv=:2x,search=10k:  open ends: only a maximum, only a minimum
  --max-change 30%             every channel within ±30 % of today's mix scaled to the budget
                               (= its current spend when the budget is unchanged)
  --lock tv                    tv stays at its current spend
Channel names match fuzzily (`prism.planning.names`); a typo names itself with the valid channels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from prism.errors import InputError
from prism.planning.names import resolve

SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "bn": 1e9}
AMOUNT = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<suffix>k|m|bn|x)?$", re.IGNORECASE)
PERCENT = re.compile(r"^(?P<sign>[+-])?(?P<num>\d+(?:\.\d+)?)\s*%?$")


@dataclass(frozen=True)
class Limits:
    """Weekly lower and upper spend per channel (channel order of the source)."""

    lo: np.ndarray
    hi: np.ndarray

    def check(self, channels: list[str]) -> None:
        bad = [ch for ch, lo, hi in zip(channels, self.lo, self.hi) if lo > hi * (1 + 1e-9) + 1e-9]
        if bad:
            raise InputError(f"the limits on {', '.join(bad)} leave no room: the minimum is above the maximum "
                             "(--bounds, --max-change, --lock and the confidence caps combine)")

    def tighten(self, lo: np.ndarray, hi: np.ndarray) -> "Limits":
        return Limits(np.maximum(self.lo, lo), np.minimum(self.hi, hi))


def parse_amount(text: str, current: float, where: str) -> float:
    """A horizon amount: '20000', '20k', '1.5m', '1,500' or a multiple of current spend '0.5x'."""
    m = AMOUNT.match(text.strip().replace(",", ""))
    if not m:
        raise InputError(f"{where}: '{text}' is not an amount (write e.g. 20000, 20k, 1.5m or 0.5x)")
    suffix = (m.group("suffix") or "").lower()
    value = float(m.group("num"))
    return value * current if suffix == "x" else value * SUFFIX[suffix]


def parse_percent(text: str, where: str) -> float:
    """'30%', '30' or '-20%' as a fraction (0.3, -0.2)."""
    m = PERCENT.match(text.strip())
    if not m:
        raise InputError(f"{where}: '{text}' is not a percentage (write e.g. 30%)")
    value = float(m.group("num")) / 100.0
    return -value if m.group("sign") == "-" else value


MAX_RISE_PCT = 1000.0  # a what-if may raise a channel to 11× its spend; beyond, no curve was fitted near it


def check_change_pct(value: float, shown: str, where: str) -> float:
    """A spend change in % that a scenario can price: finite, from −100 % (stop) to +`MAX_RISE_PCT` %."""
    if not np.isfinite(value) or not -100.0 <= value <= MAX_RISE_PCT:
        raise InputError(f"{where}: a change of {shown} cannot be priced; give a change from -100% (stop the "
                         f"channel) to +{MAX_RISE_PCT:g}%")
    return value


def split_items(values: list[str] | None) -> list[str]:
    """Repeated options and comma lists alike: ['tv=1:2x,search=:3x', 'x=..'] → items (commas in numbers kept)."""
    items: list[str] = []
    for v in values or []:
        items += [p.strip() for p in re.split(r",(?=\s*[^\d\s])", v) if p.strip()]
    return items


def parse_bounds(items: list[str], channels: list[str], current_total: np.ndarray,
                 labels: dict[str, str] | None = None) -> dict[str, tuple[float | None, float | None]]:
    """{channel: (min, max)} horizon amounts from `channel=min:max` items."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for item in items:
        name, eq, rng = item.partition("=")
        low, colon, high = rng.partition(":")
        if not eq or not colon or not (low.strip() or high.strip()):
            raise InputError(f"--bounds '{item}': write channel=min:max, e.g. tv=0.5x:1.5x or tv=20k:50k")
        ch = resolve(name.strip(), channels, labels, where=f"--bounds '{item}'")
        cur = float(current_total[channels.index(ch)])
        where = f"--bounds '{item}'"
        out[ch] = (parse_amount(low, cur, where) if low.strip() else None,
                   parse_amount(high, cur, where) if high.strip() else None)
    return out


def build_limits(channels: list[str], current_weekly: np.ndarray, weeks: int, cap_weekly: float,
                 bounds: dict[str, tuple[float | None, float | None]] | None = None,
                 max_change: float | None = None, locks: list[str] | None = None,
                 reference_weekly: np.ndarray | None = None) -> Limits:
    """Weekly limits: [0, cap] by default, then bounds (horizon amounts ÷ weeks), max-change around the
    reference mix (today's, scaled to the budget) and locks (at today's spend)."""
    n = len(channels)
    lo, hi = np.zeros(n), np.full(n, float(cap_weekly))
    for ch, (b_lo, b_hi) in (bounds or {}).items():
        i = channels.index(ch)
        if b_lo is not None:
            lo[i] = b_lo / weeks
        if b_hi is not None:
            hi[i] = b_hi / weeks
    if max_change is not None:
        if max_change < 0:
            raise InputError(f"--max-change {max_change * 100:g}%: must not be negative")
        ref = current_weekly if reference_weekly is None else reference_weekly
        lo = np.maximum(lo, ref * (1 - max_change))
        hi = np.minimum(hi, ref * (1 + max_change))
    for ch in locks or []:
        i = channels.index(ch)
        lo[i] = hi[i] = current_weekly[i]
    limits = Limits(lo, hi)
    limits.check(channels)
    return limits
