"""Reporter (rule-based): results/report.md in plain English for a CMO, rewritten every round.

The headings below are the contract with the deck/HTML renderer (agents/reporter.md lists them).
Method words and model names appear only in the appendix (the body says "the quick method" etc.); every
ROI carries its range and its calibrated confidence label (analysis/confidence.py); recommendations name
only `high`-confidence channels, and the headline gives the range by method instead of an average
whenever a method found no effect or repeated its prior.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from prism.agents.base import AgentOutcome
from prism.analysis import checks
from prism.analysis.checks import HEADINGS, Outcome
from prism.analysis.confidence import (
    HIGH, WHY_AUDIT_NOT, WHY_AUDIT_WEAK, WHY_COLLINEAR, WHY_DISAGREE, WHY_PARTLY, WHY_SOME_UNDECIDED,
    WHY_SHORT, WHY_TEST_CONFLICT, WHY_UNDECIDED, WHY_WIDE, WHY_WIDTH,
)
from prism.analysis.since import since_last_time
from prism.analysis.test_plan import geo_note, promise_words, read_plans
from prism.analysis.facts import (AGREEMENT_CV, INTERVAL_LEVEL, PLAIN_METHOD, SATURATED_PCT, ChannelFacts, RoundFacts,
                                 fmt, range_label)
from prism.errors import InputError, TooFewDraws
from prism.knowledge.checks import informed_channels
from prism.schemas import MARKET_SPLIT, NO_TEST, PRIOR_DRIVEN, ZERO_EFFECT, AgentCall, KnownIssue, RoundRecord, Status
from prism.workspace import Workspace, load_state, write_text

PLAIN_ISSUE = {
    "overfitting": "the fit may follow noise in the history more than the real pattern",
    "sign correctness": "a channel shows a negative return, which usually points to a data problem",
    "contribution plausibility": "the share of results credited to marketing is outside the usual range",
    "model health": "one method's estimates did not settle or did not run (see the appendix)",
    "experiment agreement": "a lift test and the history disagree on a channel's effect; check the test and the data",
    "expected roi range": "a channel's return is outside the range the business expected; check the data and the expectation",
}


PLAIN_FLAG = {ZERO_EFFECT: "finds no effect it can tell from zero",
              PRIOR_DRIVEN: "repeats its starting assumption rather than a measurement"}
PLAIN_WHY = {
    WHY_UNDECIDED: "not identifiable from this spend: the methods' figures were not decided by the data",
    WHY_SOME_UNDECIDED: "one method finds no effect or only repeats its starting assumption",
    WHY_AUDIT_NOT: "a test on simulated data shaped like this spend could not recover it",
    WHY_AUDIT_WEAK: "a test on simulated data shaped like this spend recovers it only loosely",
    WHY_DISAGREE: "the methods disagree",
    WHY_PARTLY: "the methods only partly agree",
    WHY_COLLINEAR: "it was bought together with another channel",
    WHY_WIDE: "its likely range is very wide",
    WHY_SHORT: "the history is short",
    WHY_WIDTH: "its likely range is wide",
    WHY_TEST_CONFLICT: "its lift test and the history disagree",
}


def run(ws: Workspace, round_no: int, revision: bool = False) -> AgentOutcome:
    facts = RoundFacts.load(ws, round_no)
    if not facts.ok_models:
        raise InputError(f"{ws.round_results(round_no)}: no model ran successfully; nothing to report")
    text = compose(facts, _open_issues(ws, round_no), _history(ws), _plan(ws, round_no), read_plans(ws, round_no))
    since = since_last_time(ws, round_no, facts.label, facts.label(facts.cfg.data.kpi))
    if since:  # after the answer: what a refresh moved comes before the figures it moved
        text = text.replace(HEADINGS["roi"], "\n".join(since) + "\n" + HEADINGS["roi"], 1)
    write_text(ws.report_md, text)
    return AgentOutcome(status=Status.REPORT_DONE, path=ws.report_md, call=AgentCall(agent="reporter", impl="rules"))


def compose(facts: RoundFacts, open_issues: list[str], history: list[RoundRecord],
            plan: pd.DataFrame | str | None = None, tests: pd.DataFrame | None = None) -> str:
    kpi = facts.label(facts.cfg.data.kpi)
    brand = facts.meta.knowledge.business_context.brand
    title = f"# {brand}: what the marketing returns" if brand else "# What the marketing returns"
    prof = facts.meta.profile
    parts = [title, "", f"{facts.weeks} weeks of data, {prof.start} to {prof.end}. Results measured in {kpi}.", "",
             _answer(facts, kpi), _roi(facts, kpi), _markets(facts), _contribution(facts, kpi), _actions(facts, plan),
             _disagree(facts), _settle(facts, tests), _caveats(facts, open_issues),
             _appendix(facts, open_issues, history)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(parts)).rstrip() + "\n"


def _unit(facts: RoundFacts) -> str:
    """The currency (config.json or the knowledge layer), so every amount says what it is in."""
    return facts.spend_unit


def _confident(facts: RoundFacts) -> list[ChannelFacts]:
    """The channels the report may act on: calibrated `high` confidence (analysis/confidence.py)."""
    return [f for f in facts.ranked if f.confidence == HIGH]


def _answer(facts: RoundFacts, kpi: str) -> str:
    unit = _unit(facts)
    confident = _confident(facts)
    if confident:
        best = confident[0]
        lead = (f"of the channels whose return is pinned down (high confidence), {best.label} returns the most "
                f"({fmt(best.roi)} per {unit})")
    else:
        big = max(facts.channel_facts.values(), key=lambda f: f.spend)
        lead = (f"no channel's return is pinned down well enough to single one out; the largest budget, "
                f"{big.label}, returns {_return(big)} per {unit} ({fmt(big.roi_low)}–{fmt(big.roi_high)})")
    bullets = [
        "- Best returns: " + ", ".join(f"{f.label} {_return(f)} ({fmt(f.roi_low)}–{fmt(f.roi_high)}, "
                                       f"{f.confidence} confidence)" for f in facts.ranked[:3]) + ".",
        f"- {len(confident)} of {len(facts.channel_facts)} channels have high confidence"
        + (f": {', '.join(f.label for f in confident)}." if confident else "; treat every figure as a range."),
        _media_share_line(facts, kpi),
    ]
    return "\n".join([HEADINGS["answer"], "", f"{_headline(facts, kpi)}; {lead}.", *_undecided_lines(facts),
                      "", *bullets, ""])


def _return(f: ChannelFacts) -> str:
    """The average across methods, or the range by method when one method's figure is no effect or its prior."""
    if not f.flags or len(f.roi_by_model) < 2:
        return fmt(f.roi)
    return f"{fmt(min(f.roi_by_model.values()))} to {fmt(max(f.roi_by_model.values()))} depending on the method"


def _headline(facts: RoundFacts, kpi: str) -> str:
    """One average only when every method's figures come from the data; otherwise the range by method."""
    unit, by_model = _unit(facts), facts.portfolio_roi_by_model
    if not facts.undecided_by_model or len(by_model) < 2:
        return f"Each {unit} of marketing spend brought back about {fmt(facts.portfolio_roi)} in {kpi}"
    per = ", ".join(f"{PLAIN_METHOD.get(m, m)} {fmt(v)}" for m, v in by_model.items())
    return (f"Depending on the method, each {unit} of marketing spend brought back between "
            f"{fmt(min(by_model.values()))} and {fmt(max(by_model.values()))} in {kpi} ({per})")


def _undecided_lines(facts: RoundFacts) -> list[str]:
    """Which method found what, in plain words: no effect, or its starting assumption repeated."""
    lines = []
    for model, flags in facts.undecided_by_model.items():
        for flag, chans in flags.items():
            names = ", ".join(facts.label(c) for c in chans)
            lines.append(f"{PLAIN_METHOD.get(model, model).capitalize()} {PLAIN_FLAG[flag]} for {len(chans)} of "
                         f"{len(facts.channel_facts)} channels ({names}).")
    return ["", *lines] if lines else []


def _share_range(facts: RoundFacts, kpi: str) -> tuple[list[float], str]:
    """(the possible media shares by method, a sentence naming any method whose share is impossible)."""
    shares = list(facts.credible_media_shares.values())
    odd = facts.impossible_media_shares
    if not odd:
        return shares, ""
    named = ", ".join(f"{PLAIN_METHOD.get(m, m)} gave media {fmt(v, 1)}%" for m, v in odd.items())
    return shares, f"{named} of {kpi}, which would put baseline demand below zero; that split is not credible and is left out"


def _media_share_line(facts: RoundFacts, kpi: str) -> str:
    shares, odd = _share_range(facts, kpi)
    tail = ("the history is short, so treat figures as indicative." if facts.sample_caveat_needed
            else "the rest is baseline demand.")
    if (facts.undecided_by_model or odd) and len(shares) > 1:
        return (f"- Marketing drove between {fmt(min(shares), 1)}% and {fmt(max(shares), 1)}% of {kpi} depending "
                f"on the method{f' ({odd})' if odd else ''}; {tail}")
    return f"- Marketing drove about {fmt(facts.mean_media_share, 1)}% of {kpi}{f' ({odd})' if odd else ''}; {tail}"


def range_words(facts: RoundFacts) -> str:
    """What the likely range is: the 90 % interval of the models' pooled draws, or (a round without kept draws)
    the span of the models' own intervals, never called a 90 % interval when it is not one."""
    if all(f.range_pooled for f in facts.channel_facts.values()):
        return f"{INTERVAL_LEVEL}% interval of the methods' estimates pooled, each method weighing the same"
    return f"from the lowest to the highest end of the methods' {INTERVAL_LEVEL}% intervals"


def _roi(facts: RoundFacts, kpi: str) -> str:
    rows = [HEADINGS["roi"], "",
            f"Return = {kpi} generated per {_unit(facts)} of spend, with the likely range ({range_words(facts)}).",
            "", f"| Channel | Return per {_unit(facts)} of spend | Likely range | Confidence | Share of spend |",
            "|---|---|---|---|---|"]
    rows += [f"| {f.label} | {_return(f)} | {fmt(f.roi_low)}–{fmt(f.roi_high)} | {f.confidence} | "
             f"{fmt(f.spend_share, 1)}% |" for f in facts.ranked]
    return "\n".join(rows + [""] + _lift_lines(facts))


MAX_MARKET_ROWS = 12  # the largest markets in the table; the rest are counted (results/latest.json has all)


def _markets(facts: RoundFacts) -> str:
    """A regional panel's per-market returns, largest markets first (empty for national data)."""
    rois = facts.market_rois
    if not rois:
        return ""
    sizes = facts.meta.profile.markets
    chans = facts.ranked
    models = [m for m, r in facts.ok_models.items() if r.markets]
    span = (f"{INTERVAL_LEVEL}% interval" if len(models) == 1
            else f"from the lowest to the highest end of the methods' {INTERVAL_LEVEL}% intervals")
    rows = [HEADINGS["markets"], "",
            f"The data holds {len(rois)} markets ('{facts.meta.profile.market_column}'), fitted together: each "
            f"channel's national return above is its contribution summed over the markets ÷ its spend summed over "
            f"them; each market's own return borrows strength from the others (partial pooling), so a market with "
            f"little spend sits near the national figure. Return per {_unit(facts)} of spend with its likely range "
            f"({span}), from {', '.join(models)}.", "",
            "| Market | Share of " + facts.label(facts.cfg.data.kpi) + " | " + " | ".join(f.label for f in chans) + " |",
            "|---|---|" + "---|" * len(chans)]
    for market, per in list(rois.items())[:MAX_MARKET_ROWS]:
        size = sizes[market].size * 100 if market in sizes else float("nan")
        cells = [f"{fmt(per[f.channel][0])} ({fmt(per[f.channel][1])}–{fmt(per[f.channel][2])})"
                 if per[f.channel][0] == per[f.channel][0] else "no spend" for f in chans]
        rows.append(f"| {market} | {fmt(size, 1)}% | " + " | ".join(cells) + " |")
    if len(rois) > MAX_MARKET_ROWS:
        rows += ["", f"The other {len(rois) - MAX_MARKET_ROWS} markets are in results/latest.json (models → markets)."]
    return "\n".join(rows + [""])


def _lift_lines(facts: RoundFacts) -> list[str]:
    """Each tested channel's return with its lift test beside the return without it, and how far the test
    moved it (the same method with and without the test, so the move is the test's alone)."""
    if not facts.lift_effects:
        return []
    unit, method = _unit(facts), PLAIN_METHOD.get(facts.lift_effects[0].without.model, "one method")
    lines = [f"What the lift tests changed (the return without a test: {method} refitted on the same weeks "
             "without it):", ""]
    for e in facts.lift_effects:
        whose = (f"{method}'s estimate" if e.same_model
                 else f"the estimate ({method} without the test, the average with it)")
        moved = (f"; the test moved {whose} by {e.moved_pct:+.0f}% ({fmt(e.moved_from)} to {fmt(e.moved_to)})"
                 if e.moved_pct is not None else "")
        lines.append(f"- {facts.label(e.channel)}, tested {e.windows}: {fmt(e.roi)} per {unit} "
                     f"({range_label(e.range_pooled)} {fmt(e.roi_low)}–{fmt(e.roi_high)}) with the test, {fmt(e.without.roi)} "
                     f"({fmt(e.without.roi_low)}–{fmt(e.without.roi_high)}) without it{moved}.")
    return lines + [""]


def _contribution(facts: RoundFacts, kpi: str) -> str:
    shares, odd = _share_range(facts, kpi)
    parts = ([f"between {fmt(min(shares), 1)}% and {fmt(max(shares), 1)}% depending on the method"]
             if len(shares) > 1 else []) + ([odd] if odd else [])
    spread = f" ({'; '.join(parts)})" if parts else ""
    lines = [HEADINGS["contribution"], "",
             f"Marketing drove about {fmt(facts.mean_media_share, 1)}% of {kpi} over the period{spread}; the rest "
             f"is baseline demand such as season, trend and brand.", ""]
    by_share = sorted(facts.channel_facts.values(), key=lambda f: f.contribution_pct, reverse=True)
    lines += [f"- {f.label}: {fmt(f.contribution_pct, 1)}% of {kpi} from {fmt(f.spend_share, 1)}% of spend."
              for f in by_share]
    return "\n".join(lines + [""])


def _plan(ws: Workspace, round_no: int) -> pd.DataFrame | str:
    """The budget plan (consensus, current budget) written to results/optimization.csv for the report,
    or why there is none (a round whose kept draws cannot be read still gets its report)."""
    from prism.planning.outputs import default_plan  # lazy: the optimizer only when a report is written

    try:
        return default_plan(ws, round_no).frame()
    except TooFewDraws:
        return ("No budget plan this round: the round kept too few draws to plan on (quick results cannot be "
                "planned on; rerun without --quick).")
    except InputError:  # the reason stays out of the prose: paths and counts are not results to quote
        return "No budget plan this round: the round's kept draws could not be read (run `prism optimize`)."


def _plan_lines(plan: pd.DataFrame | str | None, kpi: str) -> list[str]:
    """'What to do' from the optimizer's plan: each move with the KPI change it is expected to bring."""
    if plan is None:
        return []
    if isinstance(plan, str):
        return [plan, ""]
    rows, total = plan.iloc[:-1], plan.iloc[-1]
    rows = rows[(rows["current"] > 0) | (rows["recommended"] > 0)]  # a channel with no spend either way: nothing to do
    verbs = {str(r["channel"]): _verb(r) for _, r in rows.iterrows()}
    kept = [r["label"] for _, r in rows.iterrows() if verbs[str(r["channel"])] == "Keep"]
    if len(kept) == len(rows):  # a plan that moves nothing: one sentence, not a "0 expected (0 to 0)" per channel
        lines = [f"The budget plan for the next quarter keeps every channel at today's spend (in all "
                 f"{fmt(total['current'], 0)}): no move from today's mix is expected to add {kpi}.", ""]
    else:
        lines = [f"A budget plan for the next quarter at today's total spend of {fmt(total['current'], 0)} "
                 f"is expected to add {fmt(total['expected_kpi_change'], 0)} {kpi} "
                 f"({INTERVAL_LEVEL:.0f}% interval {fmt(total['expected_kpi_change_low'], 0)} to "
                 f"{fmt(total['expected_kpi_change_high'], 0)}):", ""]
        lines += [_move_line(r, verbs[str(r["channel"])], kpi) for _, r in rows.iterrows()
                  if verbs[str(r["channel"])] != "Keep"]
        lines += [f"- Keep {', '.join(kept)} at today's spend."] if kept else []
    held = rows[rows["confidence"].astype(str) != "high"]
    if not held.empty:
        one = len(held) == 1
        lines.append(f"- {', '.join(held['label'])} {'stays' if one else 'stay'} close to today's spend until a "
                     f"test confirms {'its' if one else 'their'} return{_if_confirmed(held, one)}.")
    return lines + [""]


def _verb(r: pd.Series) -> str:
    if r["current"] <= 0 < r["recommended"]:  # no change_pct from zero: "Keep … at 0" hid the new spend
        return "Start"
    return "Raise" if r["change_pct"] > 0.05 else "Cut" if r["change_pct"] < -0.05 else "Keep"


def _move_line(r: pd.Series, verb: str, kpi: str) -> str:
    """'- Raise TV from 1,000 to 1,150 (15.0%): 90 revenue expected (40 to 140).'"""
    move = (f"at {fmt(r['recommended'], 0)}" if verb == "Start" else
            f"from {fmt(r['current'], 0)} to {fmt(r['recommended'], 0)} ({fmt(r['change_pct'], 1)}%)")
    return (f"- {verb} {r['label']} {move}: {fmt(r['expected_kpi_change'], 0)} {kpi} expected "
            f"({fmt(r['expected_kpi_change_low'], 0)} to {fmt(r['expected_kpi_change_high'], 0)}).")


def _if_confirmed(held: pd.DataFrame, one: bool) -> str:
    """'; if a test confirmed it, the plan would move X to N': the optimizer's if_confirmed spend, only where it
    differs from the plan's (an unlocked channel the models back no larger move for stays where it is); one
    that a confirmed plan would leave at today's spend is said so, not "moved" to it."""
    from prism.planning.plan import CONFIRMED_GAP, confirmed_moves  # lazy: the optimizer only when a report is written

    rows = confirmed_moves(held)
    today = (rows["if_confirmed"] - rows["current"]).abs() <= CONFIRMED_GAP * rows["current"].abs()
    moves = [f"{r['label']} to {fmt(r['if_confirmed'], 0)}" for _, r in rows[~today].iterrows()]
    keeps = list(rows.loc[today, "label"])
    parts = ([f"move {', '.join(moves)}"] if moves else []) + ([f"keep {', '.join(keeps)} at today's spend"]
                                                                if keeps else [])
    who = "a test confirmed it" if one else "tests confirmed them"
    return f"; if {who}, the plan would {' and '.join(parts)}" if parts else ""


def _actions(facts: RoundFacts, plan: pd.DataFrame | str | None = None) -> str:
    confident = _confident(facts)
    kpi = facts.label(facts.cfg.data.kpi)
    labelled = plan.assign(label=[facts.label(str(c)) for c in plan["channel"]]) \
        if isinstance(plan, pd.DataFrame) else plan
    lines = [HEADINGS["actions"], "", *_plan_lines(labelled, kpi.lower())]
    if not confident:
        lines.append(("No channel's return has high confidence yet, so the plan above only nudges spend close to "
                      "today's, and no larger move is recommended on this evidence"
                      if isinstance(plan, pd.DataFrame) and not plan.empty else
                      "No channel's return has high confidence yet, so no budget move is recommended on this evidence")
                     + "; the next section says why for each channel and what would settle it.")
    avg, unit = facts.portfolio_roi, _unit(facts)
    for f in confident:
        if f.roi > avg and f.saturation_pct < SATURATED_PCT:
            lines.append(f"- Grow {f.label}: it returns {fmt(f.roi)} per {unit}, above the average of {fmt(avg)}, "
                         f"and has room to grow.")
        elif f.roi > avg:
            lines.append(f"- Hold {f.label}: it returns {fmt(f.roi)} per {unit}, above the average of {fmt(avg)}, "
                         f"but is near its ceiling ({fmt(f.saturation_pct, 0)}% of its maximum effect).")
        else:
            lines.append(f"- Review {f.label}: it returns {fmt(f.roi)} per {unit}, below the all-channel average of "
                         f"{fmt(avg)}; test whether a lower budget keeps most of its effect.")
    return "\n".join(lines + [""])


def _disagree(facts: RoundFacts) -> str:
    lines = [HEADINGS["disagree"], ""]
    unsure = [f for f in facts.ranked if f.confidence != HIGH and set(f.why) != {WHY_COLLINEAR}]
    lines += [_uncertain_line(f, _unit(facts)) for f in unsure]
    if unsure:
        lines += ["", "The next section names the test that would settle each of these.", ""]
    for a, b, _ in facts.collinear_pairs:
        lines.append(f"- {facts.label(a)} and {facts.label(b)} were bought together, so the split between them is "
                     f"uncertain. What would settle it: schedule them differently for a while.")
    if len(lines) == 2:
        lines.append("Every channel's return has high confidence: the methods agree and the data pin each down.")
    return "\n".join(lines + [""])


def _uncertain_line(f: ChannelFacts, unit: str) -> str:
    """Why the channel is not high confidence, in plain words, with what each method found."""
    why = "; ".join(PLAIN_WHY[w] for w in f.why if w in PLAIN_WHY) or "the data pin it down only loosely"
    per = ", ".join(f"{PLAIN_METHOD.get(m, m)} {fmt(v)}" for m, v in f.roi_by_model.items())
    found = f" (by method: {per})" if len(f.roi_by_model) > 1 else ""
    return (f"- {f.label} ({f.confidence} confidence): {why}{found}; the likely range runs from {fmt(f.roi_low)} "
            f"to {fmt(f.roi_high)} per {unit}, so its return is uncertain.")


def _settle(facts: RoundFacts, tests: pd.DataFrame | None) -> str:
    """Per channel below high confidence, the smallest test that would pin its return down
    (results/test_plan.csv, simulated on this data), what it costs and how long it takes."""
    lines = [HEADINGS["settle"], ""]
    unsure = [f for f in facts.ranked if f.confidence != HIGH]
    if not unsure:
        return "\n".join(lines + ["Every channel's return has high confidence: no test is needed.", ""])
    records = [] if tests is None else tests.to_dict("records")
    rows = {str(r["channel"]): r for r in records if r["design"] != MARKET_SPLIT}
    splits = {str(r["channel"]): r for r in records if r["design"] == MARKET_SPLIT}
    if not rows:
        lines.append("No test has been sized on this data yet (the simulations run with `prism audit`); in "
                     "general, change one channel's spend on its own for a few weeks, up or down or on and off.")
    else:
        kpi = facts.label(facts.cfg.data.kpi).lower()
        for f in unsure:
            lines.append(_test_line(f, rows.get(f.channel), kpi, _unit(facts)))
            if f.channel in splits:
                lines.append(_test_line(f, splits[f.channel], kpi, _unit(facts), " in some markets"))
        lines += ["", f"Each test keeps every other channel at its usual spend. Its precision is what "
                      f"{promise_words(tests)} simulated runs of the test on this data achieved, sized for a return "
                      f"toward the low end of today's range (for a channel always on at one level, of what the other "
                      f"channels return): a smaller effect is harder to measure."]
    return "\n".join(lines + ["", geo_note(facts.meta), ""])


def _test_line(f: ChannelFacts, row: dict | None, kpi: str, unit: str, where: str = "") -> str:
    """One channel's test in plain words: what to do, for how long, what it costs, what it buys (`where`: a
    market split's words after the channel, its description naming the markets)."""
    head = f"- {f.label} ({f.confidence} confidence){where}"
    if row is None or row["design"] == NO_TEST:
        return f"{head}: no test sized this round ({row['description'] if row else 'not simulated'})."
    sign = 1.0 if row["kpi_forgone"] >= 0 else -1.0  # negative KPI forgone: the test adds KPI
    low, high = sorted((sign * row["kpi_forgone_low"], sign * row["kpi_forgone_high"]))
    units = "units" if unit == "unit" else unit  # "2,887,840 units of spend"; a currency code stays as it is
    moved = (f"it moves {fmt(row['cost'], 0)} {units} of spend and is expected to {'cost' if sign > 0 else 'add'} "
             f"{fmt(sign * row['kpi_forgone'], 0)} {kpi} ({INTERVAL_LEVEL:.0f}% interval {fmt(low, 0)} to "
             f"{fmt(high, 0)})")
    within = f"±{fmt(row['expected_halfwidth_pct'], 0)}% of its return"
    if not math.isfinite(row["expected_halfwidth_pct"]):
        return (f"{head}: no test of up to {int(row['weeks'])} weeks would settle it; even the strongest tried, to "
                f"{row['description']}, left its return undecided in most simulated tests (the estimate stayed "
                f"near the average of all media) ({moved}).")
    if not row["achievable"]:
        return (f"{head}: no test of up to {int(row['weeks'])} weeks is sure to settle it; if its return is toward "
                f"the low end of today's range, the strongest tried, to {row['description']}, would narrow its likely "
                f"range only to about {within} ({moved}).")
    return (f"{head}: {row['description']}; {moved}; afterwards its likely range should be within {within}, even "
            f"if its return is toward the low end of today's range.")  # one sentence: the guard binds ± to the channel


def _caveats(facts: RoundFacts, open_issues: list[str]) -> str:
    lines = [HEADINGS["caveats"], ""]
    if facts.sample_caveat_needed:
        lines.append(f"- Sample size: only {facts.weeks} weeks of data for {len(facts.channels)} channels is a short "
                     f"history; treat the figures as indicative.")
    n_ok, n_all = len(facts.ok_models), len(facts.results.models)
    if n_ok < n_all:
        lines.append(f"- Only {n_ok} of {n_all} methods ran this round; the findings rest on those {n_ok} "
                     f"(the appendix says why).")
    for issue in facts.meta.knowledge.known_issues:
        if issue.severity in ("high", "medium"):
            lines.append(f"- Known data issue ({issue.severity}): {issue.issue}{_issue_scope(facts, issue)}")
    lines += [f"- {PLAIN_ISSUE[name][0].upper()}{PLAIN_ISSUE[name][1:]}." for name in open_issues if name in PLAIN_ISSUE]
    if len(lines) == 2:
        lines.append("- No data caveat beyond the ranges shown.")
    return "\n".join(lines + [""])


def _issue_scope(facts: RoundFacts, issue: KnownIssue) -> str:
    parts = ([facts.label(issue.column)] if issue.column else []) + (
        [f"weeks {issue.start} to {issue.end}"] if issue.start else [])
    return f" ({'; '.join(parts)})" if parts else ""


def _informed(facts: RoundFacts) -> list[str]:
    """Which channels' priors the business's benchmarks set (the knowledge layer), for the method notes."""
    informed = informed_channels(facts.results)
    what = [f"expected ROI ranges for {', '.join(facts.label(c) for c in informed['roi'])}"] if informed["roi"] else []
    what += ([f"carry-over benchmarks for {', '.join(facts.label(c) for c in informed['decay'])}"]
             if informed["decay"] else [])
    return ["", f"Business benchmarks used as priors: {'; '.join(what)}."] if what else []


def _appendix(facts: RoundFacts, open_issues: list[str], history: list[RoundRecord]) -> str:
    lines = [HEADINGS["appendix"], "", "| model | status | R² (train) | MAPE train % | MAPE test % | CV MAPE % |",
             "|---|---|---|---|---|---|"]
    for name, m in facts.results.models.items():
        if m.status == "ok" and m.fit:
            f = m.fit
            test = fmt(f.mape_test, 1) if f.mape_test is not None else "n/a"
            cv = fmt(f.cv_mape, 1) if f.cv_mape is not None else "n/a"
            lines.append(f"| {name} | ok | {fmt(f.r2)} | {fmt(f.mape_train, 1)} | {test} | {cv} |")
        else:
            lines.append(f"| {name} | {m.status}: {(m.reason or '').replace('|', '/')[:120]} | | | | |")
    lines += ["", "ROI by method:", "", "| channel | " + " | ".join(facts.ok_models) + " | agreement | confidence "
              "| why not high |", "|---|" + "---|" * (len(facts.ok_models) + 3)]
    for f in facts.ranked:
        per = " | ".join(fmt(f.roi_by_model[m]) if m in f.roi_by_model else "–" for m in facts.ok_models)
        reason = f.confidence_reason.replace("|", "/") if f.confidence != HIGH else ""
        lines.append(f"| {f.label} | {per} | {f.agreement} | {f.confidence} | {reason} |")
    lines += ["", "Method names used above: " + "; ".join(f"{PLAIN_METHOD.get(m, m)} = {m}" for m in facts.ok_models)
              + ". Confidence combines agreement, the width of the likely range, whether the data moved each "
              "method's estimate off its prior or penalty, collinearity, the recoverability audit and any lift test "
              "the methods calibrated on; its thresholds are fitted on simulated data with known returns "
              "(bench/calibration.py)."]
    lines += ["", f"Method: ROI = contribution ÷ spend over the training weeks; ranges are {INTERVAL_LEVEL}% "
              f"intervals; agreement is the coefficient of variation of ROI across methods (high below "
              f"{AGREEMENT_CV[0]}%, medium {AGREEMENT_CV[0]}–{AGREEMENT_CV[1]}%, low above {AGREEMENT_CV[1]}%). "
              f"Fit is judged on a final block of {facts.results.holdout_weeks} weeks no fit or tuning decision saw."]
    lines += _informed(facts)
    if open_issues:
        lines += ["", "Open issues from the quality review: " + ", ".join(open_issues) + "."]
    if history:
        lines += ["", "| round | change | tuning objective % | verdict |", "|---|---|---|---|"]
        for r in history:
            obj = fmt(r.objective, 2) if r.objective is not None else "n/a"
            lines.append(f"| {r.round} | {r.change} | {obj} | {r.verdict} |")
    return "\n".join(lines + [""])


def _open_issues(ws: Workspace, round_no: int) -> list[str]:
    path = ws.review(round_no)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [c for c in PLAIN_ISSUE if f"| {c} | {Outcome.FAIL} |" in text] + (
        [c for c in checks.TEXT_CHECKS if f"| {c} | {Outcome.FAIL} |" in text])


def _history(ws: Workspace) -> list[RoundRecord]:
    return load_state(ws).rounds
