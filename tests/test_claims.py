"""The claim-level numbers guard (analysis/claims.py) and `prism facts` on a demo-like workspace: eight
channels, three models, two rounds, the report written by the real Reporter (tests/helpers/report.py)."""

from __future__ import annotations

import json
import random

import pytest

from prism.agents import analyst
from prism.analysis import claims
from prism.analysis.facts import RoundFacts, fmt
from prism.orchestration.guards import number_problems
from tests.helpers.cli import Cli
from tests.helpers.report import build_workspace


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Eight channels like the demo's (the fixture's simulated truth), round 2 current."""
    ws = build_workspace(tmp_path_factory.mktemp("claims"), rounds=2, n_channels=8)
    facts = RoundFacts.load(ws, 2)
    return ws, facts, claims.book(ws, facts)


def _passes(text: str, demo) -> bool:
    _, facts, book = demo
    return not claims.check(text, facts, book)


def test_a_channels_roi_quoted_for_another_channel_is_refused_every_time(demo):
    _, facts, book = demo
    cf = list(facts.channel_facts.values())
    assert len(cf) == 8
    tried = 0
    for a in cf:
        assert _passes(f"{a.label} returned {fmt(a.roi)} per unit of spend.", demo)
        assert _passes(f"{a.channel} has an ROI of {fmt(a.roi)}.", demo)  # by column name too
        for b in cf:
            if fmt(a.roi) == fmt(b.roi):
                continue
            tried += 1
            problems = claims.check(f"{a.label} returned {fmt(b.roi)} per unit of spend.", facts, book)
            assert len(problems) == 1, (a.label, b.label)
            msg = problems[0].message
            assert a.label in msg and "ROI" in msg and fmt(b.roi) in msg and f"{b.channel}.roi" in msg
    assert tried >= 50


def test_invented_figures_pass_at_most_one_time_in_twenty(demo):
    _, facts, _ = demo
    rng = random.Random(23)
    cf = list(facts.channel_facts.values())
    texts = [f"{rng.choice(cf).label} returned {rng.uniform(0.3, 5.0):.2f} per unit of spend." for _ in range(100)]
    assert sum(_passes(t, demo) for t in texts) <= 5


def test_subject_model_metric_and_round_bind_the_figure(demo):
    ws, facts, book = demo
    tv, search = facts.channel_facts["tv_spend"], facts.channel_facts["search_spend"]
    ridge, pymc = tv.roi_by_model["ridge"], tv.roi_by_model["pymc"]
    assert _passes(f"The quick method puts the return of TV at {fmt(ridge)}; pymc at {fmt(pymc)}.", demo)
    assert not _passes(f"Ridge puts the return of TV at {fmt(pymc)}.", demo)  # another model's figure
    assert _passes(f"TV takes {tv.spend_share:.1f}% of spend and drives {tv.contribution_pct:.1f}% of revenue.", demo)
    assert not _passes(f"TV takes {tv.contribution_pct:.1f}% of spend.", demo)  # the share of the KPI as spend
    assert _passes(f"TV returns {fmt(tv.roi_low)} to {fmt(tv.roi_high)}.", demo)  # a range's bounds
    assert not _passes(f"TV returned {fmt(tv.roi_high)}.", demo)  # a bound is not the return
    assert not _passes(f"Revenue rose by {fmt(tv.roi)}.", demo)  # no subject: round-level values only
    assert _passes(f"All media together return {fmt(facts.portfolio_roi)}.", demo)
    assert not _passes(f"| Channel | Return |\n|---|---|\n| Search | {fmt(tv.roi)} |", demo)  # a table row
    assert _passes(f"| Channel | Return |\n|---|---|\n| Search | {fmt(search.roi)} |", demo)
    old = RoundFacts.load(ws, 1).channel_facts["tv_spend"].roi
    assert fmt(old) != fmt(tv.roi)
    assert _passes(f"In round 1 TV returned {fmt(old)}.", demo)  # an earlier round, named
    assert not _passes(f"TV returned {fmt(old)}.", demo)


def test_the_rule_based_writers_pass_and_the_guard_names_the_subject(demo, copy_ws):
    ws, facts, book = demo
    assert claims.check(ws.report_md.read_text(), facts, book) == []
    assert claims.check(analyst.compose(facts), facts, book) == []
    ws = copy_ws(ws)
    tv, search = RoundFacts.load(ws, 2).channel_facts["tv_spend"], RoundFacts.load(ws, 2).channel_facts["search_spend"]
    ws.analysis(2).write_text(f"# Round 2 analysis\n\nSearch returned {fmt(tv.roi)} per unit of spend.\n")
    failures = number_problems(ws, ws.analysis(2), 2).failures
    assert len(failures) == 1 and search.label in failures[0] and fmt(tv.roi) in failures[0]
    assert f"expected {fmt(search.roi)}" in failures[0]


def test_prism_facts_lists_every_channel_with_its_keys(demo, capsys):
    ws, facts, _ = demo
    cli = Cli(capsys, ws.root)
    code, out, _ = cli("facts")
    assert code == 0 and len(out.splitlines()) <= 40
    for f in facts.channel_facts.values():
        assert f"{f.label} ({f.channel}): confidence {f.confidence}" in out and f"ROI {fmt(f.roi)} [ch.roi]" in out
    code, out, _ = cli("facts", "--json")
    data = json.loads(out)
    assert data["round"] == 2 and set(data["channels"]) == set(facts.channels)
    tv = data["channels"]["tv_spend"]["facts"]
    assert tv["tv_spend.roi"]["value"] == pytest.approx(facts.channel_facts["tv_spend"].roi)
    assert data["round_level"]["round.portfolio_roi"] == pytest.approx(facts.portfolio_roi)
