"""Channel names as people write them: fuzzy matching against the data's columns and business labels.

"facebook" finds `meta_facebook`, "tv" finds `tv_spend`, "facebok" still finds it. A name that fits
no channel, or several equally, is bad input whose message lists the valid channels.
"""

from __future__ import annotations

import difflib
import re

from prism.errors import InputError
from prism.schemas import readable_label

NOISE = frozenset({"spend", "spends", "cost", "costs", "channel", "channels", "ads", "ad", "advertising",
                   "media", "the", "budget", "campaign", "campaigns", "amount"})
TYPO_RATIO = 0.84  # difflib ratio for a misspelt word ("facebok" ~ "facebook")
MIN_TYPO_LEN = 5  # short words are not typo-matched ("tv" must be written "tv")


def tokens(text: str) -> list[str]:
    """Lower-case words of a name or a question, noise words dropped."""
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t and t not in NOISE]


def _names(channels: list[str], labels: dict[str, str] | None) -> dict[str, set[str]]:
    """Each channel's words: its column, its business label and the label read from the column ("TV" for
    `mdsp_vidtr` even when a dictionary calls it something else)."""
    labels = labels or {}
    return {ch: set(tokens(ch)) | set(tokens(labels.get(ch, ""))) | set(tokens(readable_label(ch))) for ch in channels}


def _similar(a: str, b: str) -> bool:
    """Equal, or a misspelling of the same word; numbers are never misspelt ("channel0" is not "channel1")."""
    if a == b:
        return True
    return (min(len(a), len(b)) >= MIN_TYPO_LEN and re.findall(r"\d+", a) == re.findall(r"\d+", b)
            and difflib.SequenceMatcher(None, a, b).ratio() >= TYPO_RATIO)


def matches(name: str, channels: list[str], labels: dict[str, str] | None = None) -> list[str]:
    """Channels `name` may mean, best first: exact column, then every word of the name in the channel's."""
    if name in channels:
        return [name]
    want = tokens(name)
    if not want:
        return []
    names = _names(channels, labels)
    hits = [ch for ch, have in names.items() if all(any(_similar(w, h) for h in have) for w in want)]
    return sorted(hits, key=lambda ch: len(names[ch]))


def resolve(name: str, channels: list[str], labels: dict[str, str] | None = None, where: str = "") -> str:
    """The one channel `name` means; InputError listing the channels when none or several fit."""
    hits = matches(name, channels, labels)
    names = _names(channels, labels)
    if len(hits) > 1 and len(names[hits[0]]) < len(names[hits[1]]):
        hits = hits[:1]  # "search" → search_spend rather than google_paid_search
    prefix = f"{where}: " if where else ""
    if not hits:
        raise InputError(f"{prefix}unknown channel '{name}'; channels are: {', '.join(channels)}")
    if len(hits) > 1:
        raise InputError(f"{prefix}'{name}' could mean {', '.join(hits)}; write one of them")
    return hits[0]


def mentioned(text: str, channels: list[str], labels: dict[str, str] | None = None) -> list[str]:
    """Channels a free-text question names, in the order it names them.

    A channel is named by all the words of its column name, or by a word no other channel has
    ("facebook" names meta_facebook; "google" alone names none when several channels are Google's).
    """
    words = tokens(text)
    names = _names(channels, labels)
    counts: dict[str, int] = {}
    for have in names.values():
        for t in have:
            counts[t] = counts.get(t, 0) + 1
    found: dict[str, int] = {}
    for ch, have in names.items():
        full = set(tokens(ch))
        at = [i for i, w in enumerate(words) if any(_similar(w, t) for t in full)]
        if full and len({t for t in full if any(_similar(w, t) for w in words)}) == len(full):
            found[ch] = min(at)
            continue
        own = [i for i, w in enumerate(words) for t in have if counts[t] == 1 and _similar(w, t) and not t.isdigit()]
        if own:
            found[ch] = min(own)
    return sorted(found, key=found.get)
