"""Words that must say what the code does (issue 21 item 11): the number of the Critic's checks and its gates,
the lightweight model's priors, the comparison columns (tests/test_docs.py keeps files outside the repository
unnamed)."""

from __future__ import annotations

import re
from pathlib import Path

from prism.analysis import checks
from prism.analysis.compare import COLUMNS
from prism.models import lightweight
from prism.schemas import CONVERGENCE

REPO = Path(__file__).resolve().parents[1]
NUMBER_WORDS = {6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}


def test_the_critic_count_and_gates_are_the_codes() -> None:
    word = NUMBER_WORDS[len(checks.CHECK_NAMES)]
    loop_doc = (REPO / "docs" / "concepts" / "loop.md").read_text()
    critic_md = (REPO / "agents" / "critic.md").read_text()
    assert f"**Critic**: {word} checks" in loop_doc and f"The {word} checks" in critic_md
    assert f"r̂ ≤ {CONVERGENCE.max_rhat:g}" in loop_doc and f"bulk ESS ≥ {CONVERGENCE.min_ess:.0f}" in loop_doc
    assert "r̂ ≤ 1.05" not in loop_doc and not re.search(r"\bsix checks\b", loop_doc + critic_md)
    # every round runs CHECK_NAMES; a round `prism refresh` produced adds the release gates
    assert {*checks.CHECK_NAMES, "release gates"} == {*checks.NUMERIC_CHECKS, *checks.TEXT_CHECKS}


def test_the_lightweight_docstring_states_the_priors_the_code_uses() -> None:
    doc = lightweight.__doc__
    half, slope, expo = lightweight.HALF_PRIOR, lightweight.SLOPE_PRIOR, lightweight.EXPO_TREND_RANGE
    assert f"half_max_effective_concentration ~\n  Gamma({half[0]:g}, {half[1]:g})" in doc
    assert f"slope ~ Gamma({slope[0]:g}, {slope[1]:g})" in doc
    assert f"expo_trend ~ Uniform({expo[0]:g}, {expo[1]:g})" in doc


def test_the_comparison_columns_are_documented_as_written() -> None:
    columns = ",".join(COLUMNS)
    for page in ("docs/architecture/workspace.md", "docs/concepts/models.md", "docs/concepts/confidence.md"):
        text = (REPO / page).read_text()
        listed = re.findall(r"`(channel,ridge,[a-z_,]+)`", text)
        assert listed and all(cols == columns for cols in listed), (page, listed)
