"""Claims bound to their subject: every figure in an agent's text is checked against the value of the
channel, model and metric its sentence names, not against the round's numbers as a bag.

`quotable()` lists every figure an agent may quote for a round, each with the key the guard checks it
against (`prism facts` prints the same list). `check()` reads each sentence (or table row) of a text:
its channels (column, label or alias), its models, the round it names, and per figure the metric the
words around it name (ROI, mROI, share of spend, share of the KPI, contribution, interval bound, spend,
test cost, weeks, …). A figure about a channel must match one of that channel's values for that metric
at the printed rounding; a figure with no channel must match a round-level value; a sentence naming an
earlier round may quote that round's values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prism.analysis import checks
from prism.analysis import numbers as N
from prism.analysis.facts import PLAIN_METHOD, RoundFacts, fmt
from prism.schemas import MARKET_SPLIT
from prism.workspace import Workspace, load_state, read_csv

# Metric words in a figure's neighbourhood, in the order they are tried. `after`: the text right after the
# figure; `before`: the text between the previous figure (or the sentence start) and this one.
AFTER = (
    ("relative", r"^\s*%\s*of\s+(?:its|the|their)\s+(?:return|roi|estimate)"),  # "±44% of its return"
    ("spend_share", r"^\s*%?\s*(?:of|in)\s+(?:the\s+|its\s+|total\s+|all\s+)*(?:media\s+)?(?:spend|budget|investment)"),
    ("kpi_share", r"^\s*%?\s*of\s+(?:the\s+|its\s+|total\s+|all\s+)*(?:{kpi})"),
    ("weeks", r"^\s*(?:-\s*)?weeks?\b"),
    ("saturation", r"^\s*%?\s*saturat"),
    ("roi", r"^\s*(?:{unit})?\s*(?:per|for\s+(?:every|each))\s"),
    ("ratio", r"^\s*(?:×|x\b|times\b)"),  # "1.7 × the ROI": a ratio, not a bound or a return
)
BEFORE = (
    ("mroi", r"mroi|marginal|next\s+(?:unit|euro|dollar|pound)|one\s+more|extra\s+(?:unit|euro|dollar|pound)"),
    ("interval", r"range|interval|between|as\s+(?:low|high)\s+as|up\s+to|bound"),
    ("roi", r"\broi\b|return|pays?\s+back|\bback\b|\byield"),
    ("saturation", r"saturat"),
    ("test_cost", r"\bcost"),
    ("change", r"\b(?:cut|rais|increas|reduc|mov|shift|chang|lower|grow|trim|add)\w*"),
    ("kpi_share", r"contribut|\bdr[io]ve|\bgenerat|\bbr[io]ught|share\s+of\s+(?:the\s+)?(?:{kpi})"),
    ("spend", r"\bspen[dt]|budget|invest"),
    ("weeks", r"\bweeks?\b"),
)
# A figure's metric (as the text names it) → the metrics of the values it may be.
ALLOWED = {
    "roi": {"roi"}, "interval": {"interval", "roi", "kpi_change", "test_cost", "spend"},  # a range of any amount "mroi": {"mroi"}, "kpi_share": {"kpi_share", "contribution"},
    "spend_share": {"spend_share", "change"}, "saturation": {"saturation"}, "weeks": {"weeks"},
    "test_cost": {"test_cost", "spend"}, "change": {"change", "spend_share", "kpi_change", "spend", "test_cost"},
    "spend": {"spend", "test_cost", "spend_share"},
}
METRIC_WORDS = {"roi": "ROI", "interval": "interval bound", "mroi": "mROI", "kpi_share": "share of the KPI", "contribution": "contribution",
                "spend_share": "share of spend", "spend": "spend", "saturation": "saturation", "weeks": "weeks",
                "test_cost": "test cost", "change": "change", "kpi_change": "KPI change", "other": "other figure"}
HEADLINE = {"roi": "roi", "mroi": "mroi_mean", "kpi_share": "contribution_pct", "spend_share": "spend_share",
            "saturation": "saturation_pct", "spend": "spend"}  # metric → the key a claim most likely meant
MODEL_NAMES = {m: (m.split("_")[0], PLAIN_METHOD[m].removeprefix("the ")) for m in PLAIN_METHOD}
BAYESIAN_WORD = "bayesian"
ROUND_REF = re.compile(r"\b(?:round\s+|r)0?(\d{1,2})\b", re.IGNORECASE)
RANGE_JOIN = re.compile(r"^\s*(?:%\s*)?(?:to|–|—|-|and)\s*[$€£]?$")  # "1.2 to 3.4": the second takes the first's metric
RANGE_START = re.compile(r"^\s*%?\s*(?:to|–|—)\s*[$€£]?\d")  # "returns 1.2 to 3.4": the first bound of a range
FOLLOWING = re.compile(r"^[^;:()]{0,40}$")  # a figure before any channel binds to one that follows within this
TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}")
WINDOW = 48  # characters before a figure that may name its metric


@dataclass(frozen=True)
class Quotable:
    """One figure an agent may quote: its key (what the guard calls it), subject, metric and value."""

    key: str
    value: float
    metric: str
    channel: str | None = None
    model: str | None = None
    round: int | None = None

    @property
    def shown(self) -> str:
        return fmt(self.value) if abs(self.value) < 1e4 else f"{self.value:,.0f}"


@dataclass(frozen=True)
class Claim:
    """A figure as the text states it, with the subject read from its sentence."""

    found: N.Found
    channel: str | None
    metric: str | None
    models: tuple[str, ...]
    rounds: tuple[int, ...]


@dataclass(frozen=True)
class Problem:
    """A figure that matches none of its subject's values; `expected` is the nearest one it should be."""

    claim: Claim
    subject: str
    expected: Quotable | None
    owner: Quotable | None = None  # the value it does match, of another subject

    @property
    def message(self) -> str:
        found = self.claim.found.text.strip()
        text = f"{self.subject}: {found} is not its value"
        if self.expected is not None:
            text += f" (expected {self.expected.shown}, key {self.expected.key})"
        if self.owner is not None:
            text += f"; {found} is {self.owner.key}"
        return text


@dataclass
class Book:
    """Quotable figures of a round (and of the earlier rounds a text may name), indexed for the check."""

    facts: RoundFacts
    values: list[Quotable]
    earlier: dict[int, list[Quotable]] = field(default_factory=dict)

    def of(self, channel: str | None, rounds: tuple[int, ...] = ()) -> list[Quotable]:
        pool = self.values + [q for r in rounds for q in self._round(r)]
        return [q for q in pool if q.channel == channel]

    def _round(self, r: int) -> list[Quotable]:
        if r not in self.earlier:
            ws, path = self.facts.ws, self.facts.ws.round_results(r)
            self.earlier[r] = [] if r == self.facts.round_no or not path.exists() else [
                Quotable(f"R{r:02d}.{q.key}", q.value, q.metric, q.channel, q.model, r)
                for q in quotable(ws, r, RoundFacts.load(ws, r), with_round_level=False)]
        return self.earlier[r]


# ------------------------------------------------------------------------------------------ the facts
def quotable(ws: Workspace, round_no: int, facts: RoundFacts | None = None,
             with_round_level: bool = True) -> list[Quotable]:
    """Every figure an agent may quote about the round: per channel and metric, then round-level ones."""
    facts = facts or RoundFacts.load(ws, round_no, need_results=ws.round_results(round_no).exists())
    out: list[Quotable] = []
    if facts.results is not None:
        for ch in facts.channel_facts:
            out += _channel(facts, ch)
    out += _rows(ws, facts)
    out += _exploration(ws, facts)
    if with_round_level:
        out += _round_level(ws, facts)
    return out


def _channel(facts: RoundFacts, ch: str) -> list[Quotable]:
    f, res = facts.channel_facts[ch], facts.results
    q = lambda key, value, metric, model=None: Quotable(f"{ch}.{key}" + (f".{model}" if model else ""),  # noqa: E731
                                                        float(value), metric, ch, model)
    out = [q("roi", f.roi, "roi"), q("roi_low", f.roi_low, "interval"), q("roi_high", f.roi_high, "interval"),
           q("roi_range_width", f.roi_high - f.roi_low, "other"),
           q("roi_minus_portfolio", f.roi - facts.portfolio_roi, "other"),
           q("spend", f.spend, "spend"), q("spend_share", f.spend_share, "spend_share"),
           q("contribution_pct", f.contribution_pct, "kpi_share"), q("saturation_pct", f.saturation_pct, "saturation")]
    for name, m in facts.ok_models.items():
        c = m.channels.get(ch)
        if c is None:
            continue
        out += [q("roi", c.roi, "roi", name), q("roi_low", c.roi_low, "interval", name),
                q("roi_high", c.roi_high, "interval", name),
                q("mroi", c.mroi, "mroi", name), q("contribution", c.contribution, "contribution", name),
                q("contribution_pct", c.contribution_pct, "kpi_share", name), q("spend", c.spend, "spend", name),
                q("saturation_pct", c.saturation_pct, "saturation", name)]
        out += [q(f"params.{k}", v, "other", name) for k, v in c.params.items()]
        if c.evidence is not None:
            ev = c.evidence.model_dump(mode="json")
            out += [q(k, v, "roi" if k == "prior_roi_mean" else "other", name)
                    for k, v in ev.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    out += [q("mroi_mean", sum(x.value for x in out if x.key.startswith(f"{ch}.mroi.")) /
              max(1, sum(x.key.startswith(f"{ch}.mroi.") for x in out)), "mroi")]
    if f.cv is not None:
        out.append(q("agreement_cv", f.cv, "other"))
    if res.combined.get(ch) is not None:
        c = res.combined[ch]
        out += [q("combined.roi", c.roi, "roi"), q("combined.roi_low", c.roi_low, "interval"),
                q("combined.roi_high", c.roi_high, "interval")]
    if ch in res.uncalibrated:
        u = res.uncalibrated[ch]
        out += [q("roi_without_tests", u.roi, "roi"), q("roi_without_tests_low", u.roi_low, "interval"),
                q("roi_without_tests_high", u.roi_high, "interval")]
    out += [q("lift_moved_pct", e.moved_pct, "change") for e in facts.lift_effects if e.channel == ch and e.moved_pct is not None]
    fd = facts.meta.knowledge.fields.get(ch)
    if fd is not None:
        out += [q(f"benchmark.{k}", v, "interval" if "roi" in k else "other") for k, v in fd.model_dump(mode="json").items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)]
    stats = facts.meta.profile.columns.get(ch)
    if stats is not None:
        out += [q(f"profile.{k}", v, "spend") for k, v in stats.model_dump(mode="json").items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)]
    out += [Quotable(f"{a}~{b}.correlation", r, "other", c) for a, b, r in facts.collinear_pairs for c in (a, b) if c == ch]
    if ch in facts.vif:
        out.append(q("vif", facts.vif[ch], "other"))
    return out


ROW_METRICS = {  # columns of the per-channel CSVs the report quotes → metric
    "test_plan.csv": {"weeks": "weeks", "spend_change_pct": "change", "expected_halfwidth_pct": "other", "cost": "test_cost",
                      "kpi_forgone": "test_cost", "kpi_forgone_low": "test_cost", "kpi_forgone_high": "test_cost"},
    "optimization.csv": {"current": "spend", "recommended": "spend", "change_pct": "change", "if_confirmed": "spend",
                         "expected_kpi_change": "kpi_change", "expected_kpi_change_low": "kpi_change",
                         "expected_kpi_change_high": "kpi_change"},
    "audit.csv": {"recovery_error_pct": "other", "coverage": "other"},
}


def _rows(ws: Workspace, facts: RoundFacts) -> list[Quotable]:
    """The audit's, the test plans' and the optimizer's figures, each bound to its channel (or the total row)."""
    out = []
    channels = set(facts.channels)
    for name, metrics in ROW_METRICS.items():
        path = ws.result(name)
        if not path.exists():
            continue
        frame = read_csv(path, required=("channel",))
        for row in frame.to_dict("records"):
            ch = row["channel"] if row["channel"] in channels else None
            tag = f"{row.get('model')}." if "model" in row and ch else ""
            tag += f"{row['design']}." if row.get("design") == MARKET_SPLIT else ""  # a channel's second plan
            for col, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
                    metric = metrics.get(col, "other")
                    out.append(Quotable(f"{ch or row['channel']}.{name.removesuffix('.csv')}.{tag}{col}", float(value),
                                        metric if ch else "other", ch))
    return out


def _exploration(ws: Workspace, facts: RoundFacts) -> list[Quotable]:
    """The figures Prism computed in the exploration, bound to the channel their sentence names."""
    path = ws.exploration()
    if not path.exists():
        return []
    computed = path.read_text(encoding="utf-8").partition(N.INTERPRETATION)[0]
    return [Quotable(f"{c.channel or 'round'}.exploration.{i}", c.found.value, c.metric or "other", c.channel)
            for i, c in enumerate(claims(computed, facts))]


def _round_level(ws: Workspace, facts: RoundFacts) -> list[Quotable]:
    """Figures bound to no channel: the named ones an agent quotes (fit, media share, portfolio return,
    sizes), then method constants, counts, diagnostics, profile, config, state and the plans' totals."""
    named: dict[str, float] = {"weeks": facts.weeks, "parameters": facts.n_parameters, "channels": len(facts.channels),
                               "weeks_needed": N.F.WEEKS_PER_PARAMETER * facts.n_parameters}
    other = list(N.METHOD_CONSTANTS) + list(range(0, N.SMALL_COUNT + 1)) + [float(facts.round_no)]
    if facts.results is not None:
        res = facts.results
        named.update({"train_weeks": res.train_weeks, "holdout_weeks": res.holdout_weeks,
                      "models_ok": len(facts.ok_models), "portfolio_roi": facts.portfolio_roi,
                      "media_share": facts.mean_media_share})
        if res.objective is not None:
            named["objective"] = res.objective
        if res.channel_average_roi is not None:
            named["channel_average_roi"] = res.channel_average_roi
        for m, model in facts.ok_models.items():
            named[f"portfolio_roi.{m}"] = facts.portfolio_roi_by_model[m]
            named[f"media_share.{m}"] = facts.media_share(m)
            named.update({f"fit.{m}.{k}": v for k, v in (model.fit.model_dump() if model.fit else {}).items()
                          if v is not None})
        dumped = res.model_dump(mode="json", exclude={"agreement", "combined", "confidence", "uncalibrated"})
        for m in dumped["models"].values():
            m.pop("channels", None)
        other += N.json_numbers(dumped)
    prof = facts.meta.profile.model_dump(mode="json", exclude={"correlations"})
    prof["columns"] = {k: v for k, v in prof["columns"].items() if k not in facts.channels}
    other += N.json_numbers(prof) + N.json_numbers(facts.cfg.model_dump(mode="json"))
    other += N.json_numbers(facts.meta.knowledge.model_dump(mode="json", exclude={"fields"}))
    other += N._years(facts.meta.profile.start, facts.meta.profile.end)
    state = load_state(ws)
    other += N.json_numbers({"rounds": [r.model_dump(mode="json") for r in state.rounds], "best": state.best_objective})
    other += [f.value for r in state.rounds for f in N.extract(r.change)]
    out = [Quotable(f"round.{k}", float(v), "other") for k, v in named.items()]
    return out + [Quotable("round.other", v, "other") for v in other if v == v]


# ------------------------------------------------------------------------------------------ reading
def _spans(sentence: str, names: dict[str, tuple[str, ...]]) -> list[tuple[int, int, str]]:
    """(start, end, key) of each name in the sentence; the longest wins where two overlap."""
    hits = sorted(((m.start(), m.end(), key) for key, ns in names.items() for n in ns if n
                   for m in re.finditer(rf"(?<!\w){re.escape(n)}", sentence)), key=lambda h: (h[0], -(h[1] - h[0])))
    out: list[tuple[int, int, str]] = []
    for h in hits:
        if not out or h[0] >= out[-1][1]:
            out.append(h)
    return out


def _nearest(spans: list[tuple[int, int, str]], pos: int, text: str = "", since: int = 0) -> tuple[int, int, str] | None:
    """The name before the figure closest to it (and not before `since`), else one right after it in the same
    clause ("At 3.1, TV ...")."""
    before = [s for s in spans if since <= s[0] and s[1] <= pos]
    if before:
        return before[-1]
    after = [s for s in spans if s[0] >= pos]
    return after[0] if after and FOLLOWING.match(text[pos:after[0][0]]) else None


def _metric(before: str, after: str, kpi: str, unit: str, heading: bool = False) -> str | None:
    for name, pattern in AFTER:
        if re.search(pattern.format(kpi=kpi, unit=unit), after):
            return name
    hits = [(m.end(), -i, name) for i, (name, pattern) in enumerate(BEFORE)
            for m in re.finditer(pattern.format(kpi=kpi), before)]
    if not hits:
        return None
    # prose: the metric word nearest the figure ("its return (it moves 1.2m"); a column heading: its first word
    # ("Return per EUR of spend")
    return (min(hits, key=lambda h: (h[0], h[1])) if heading else max(hits))[2]


def _units(facts: RoundFacts) -> tuple[str, str]:
    """Regex alternatives for the KPI's names and the spend unit's names."""
    kpi = {facts.meta.kpi, facts.meta.label(facts.meta.kpi), "revenue", "sales", "kpi", "orders", "conversions"}
    unit = {facts.spend_unit, "unit", "euro", "dollar", "pound", "€", "$", "£"}
    alt = lambda words: "|".join(re.escape(w.lower()) for w in sorted(words, key=len, reverse=True) if w)  # noqa: E731
    return alt(kpi), alt(unit)


def claims(text: str, facts: RoundFacts) -> list[Claim]:
    """Every figure in the text with the channel, models, rounds and metric its sentence gives it."""
    names = {ch: checks.names(facts, ch) for ch in facts.channels}
    kpi, unit = _units(facts)
    out: list[Claim] = []
    header: list[str] | None = None
    for start, line in _lines(text):
        if line.lstrip().startswith("|"):
            cells = _cells(line)
            if TABLE_RULE.match(line.strip()):
                continue
            if header is None:
                header = [c[1].lower() for c in cells]
                out += _sentence_claims(line, start, names, kpi, unit)  # a header's own figures ("90% range")
                continue
            out += _row_claims(cells, start, header, names, kpi, unit)
            continue
        header = None
        for m in N.SENTENCE.finditer(line):
            out += _sentence_claims(m.group(), start + m.start(), names, kpi, unit)
    return out


def _lines(text: str) -> list[tuple[int, str]]:
    pos, out = 0, []
    for line in text.split("\n"):
        out.append((pos, line))
        pos += len(line) + 1
    return out


def _cells(line: str) -> list[tuple[int, str]]:
    """(offset in the line, text) of each table cell."""
    return [(m.start(), m.group()) for m in re.finditer(r"[^|]+", line) if m.group().strip()]


def _models(sentence: str) -> list[tuple[int, int, str]]:
    names = dict(MODEL_NAMES)
    names[BAYESIAN_WORD] = (BAYESIAN_WORD,)
    return _spans(sentence, names)


def _model_of(spans: list[tuple[int, int, str]], pos: int, text: str, since: int = 0) -> tuple[str, ...]:
    """The model named for a figure in its clause (from `since`), else none."""
    hit = _nearest(spans, pos, text, since)
    m = hit[2] if hit else None
    return ("pymc", "lightweight_mmm") if m == BAYESIAN_WORD else ((m,) if m else ())


def _sentence_claims(sentence: str, offset: int, names: dict, kpi: str, unit: str) -> list[Claim]:
    low = sentence.lower()
    rounds = tuple(int(m.group(1)) for m in ROUND_REF.finditer(low))
    masked = ROUND_REF.sub(lambda m: " " * len(m.group()), sentence)
    chans, models = _spans(low, names), _models(low)
    out: list[Claim] = []
    prev_end, prev_metric = 0, None
    for f in N.extract(masked):
        before = low[max(prev_end, f.start - WINDOW):f.start]
        after = low[f.end:f.end + 30]
        joined = out and RANGE_JOIN.match(low[prev_end:f.start])
        metric = prev_metric if joined else _metric(before, after, kpi, unit)
        if metric == "roi" and (joined or RANGE_START.match(after)):
            metric = "interval"  # "returns 1.2 to 3.4": the bounds of a range, not the return itself
        if f.percent and metric in ("roi", "interval", "mroi"):
            metric = None  # a return is never a percentage: "48% range" names something else
        moved = N.Found(f.text, f.value, f.tol, f.percent, f.start + offset, f.end + offset)
        chan = _nearest(chans, f.start, low)
        clause = low.rfind(";", 0, f.start) + 1  # a model named in an earlier clause is about other figures
        out.append(Claim(moved, chan[2] if chan else None, metric, _model_of(models, f.start, low, clause), rounds))
        prev_end, prev_metric = f.end, metric
    return out


def _row_claims(cells: list[tuple[int, str]], offset: int, header: list[str], names: dict, kpi: str,
                unit: str) -> list[Claim]:
    """A table row: its channel is the one a cell names, each figure's metric and model its column's."""
    row = " | ".join(c[1] for c in cells).lower()
    chans = _spans(row, names)
    channel = chans[0][2] if chans else None  # a row is about the channel it names first
    rounds = tuple(int(m.group(1)) for m in ROUND_REF.finditer(row))
    out = []
    for i, (at, cell) in enumerate(cells):
        head = header[i] if i < len(header) else ""
        col_metric = _metric(head, "", kpi, unit, heading=True)
        model = _model_of(_models(head), len(head), head)
        for c in _sentence_claims(cell, offset + at, names, kpi, unit):
            out.append(Claim(c.found, c.channel or channel, c.metric or col_metric, c.models or model, rounds))
    return out


# ------------------------------------------------------------------------------------------ judging
def book(ws: Workspace, facts: RoundFacts) -> Book:
    return Book(facts, quotable(ws, facts.round_no, facts))


def check(text: str, facts: RoundFacts, book_: Book | None = None) -> list[Problem]:
    """The figures in `text` that match none of their subject's values."""
    book_ = book_ or book(facts.ws, facts)
    return [p for c in claims(text, facts) if (p := judge(c, book_)) is not None]


def judge(claim: Claim, book_: Book) -> Problem | None:
    """None when the figure matches its subject's value for its metric (any value of the round when it has no
    channel); else the problem with the value it should have been."""
    rounds = tuple(r for r in claim.rounds if r != book_.facts.round_no)
    round_level = book_.of(None, rounds)
    if claim.channel is None:
        pool = round_level
        subject = "round-level figure"
    else:
        own = [q for q in book_.of(claim.channel, rounds) if _model_ok(q, claim.models)]
        allowed = ALLOWED.get(claim.metric or "")
        pool = [q for q in own if q.metric in allowed] if allowed else own + round_level
        subject = f"{book_.facts.label(claim.channel)} {METRIC_WORDS.get(claim.metric or '', 'figure')}"
        subject += f" ({', '.join(claim.models)})" if claim.models else ""
    if N.matches(claim.found, [q.value for q in pool]):
        return None
    expected = _headline(claim, pool) or _nearest_value(claim.found, pool if claim.channel else [])
    others = [q for q in book_.values if q.channel not in (None, claim.channel) and N.matches(claim.found, [q.value])]
    owner = min(others, key=lambda q: q.metric not in ALLOWED.get(claim.metric or "", ()), default=None)
    return Problem(claim, subject, expected, owner)


def _headline(claim: Claim, pool: list[Quotable]) -> Quotable | None:
    """The figure a sentence about this channel and metric most likely meant (its mean, or its model's)."""
    name = HEADLINE.get(claim.metric or "")
    if claim.channel is None or name is None:
        return None
    keys = [f"{claim.channel}.{name}.{m}" for m in claim.models] or [f"{claim.channel}.{name}"]
    return next((q for q in pool if q.key in keys), None)


def _model_ok(q: Quotable, models: tuple[str, ...]) -> bool:
    return not models or q.model is None or q.model in models


def _nearest_value(found: N.Found, pool: list[Quotable]) -> Quotable | None:
    if not pool:
        return None
    scale = 100.0 if found.percent else 1.0
    return min(pool, key=lambda q: min(abs(abs(q.value) - found.value), abs(abs(q.value) * scale - found.value)))


# ------------------------------------------------------------------------------------------ `prism facts`
def short(value: float) -> str:
    """A figure as an agent may print it: 1.2m, 85k, 3.08 (the guard reads each at its rounding)."""
    a = abs(value)
    if a == float("inf"):  # a test plan that leaves its channel undecided
        return "inf" if value > 0 else "-inf"
    if a >= 1e6:
        return f"{value / 1e6:,.1f}m"
    if a >= 1e4:
        return f"{value / 1e3:,.0f}k"
    return f"{value:.0f}" if float(value).is_integer() else fmt(value)


def screen(book_: Book) -> list[str]:
    """One screen: per channel (best return first) its figures by metric, each with the key it is checked
    against (`ch.` stands for the channel's column), then the round-level figures."""
    facts = book_.facts
    by_key = {q.key: q for q in book_.values if q.key != "round.other"}
    lines = [f"Round {facts.round_no}: the figures you may quote. A figure belongs to the channel (and model) its "
             "sentence names; `prism check-numbers FILE` checks it against the key in brackets."]
    for f in facts.ranked:
        ch = f.channel
        get = lambda key: by_key.get(f"{ch}.{key}")  # noqa: E731
        models = ", ".join(f"{m} {fmt(v)}" for m, v in f.roi_by_model.items())
        lines += [f"{f.label} ({ch}): confidence {f.confidence}, agreement {f.agreement}, {f.n_models} model(s)",
                  f"  ROI {fmt(f.roi)} [ch.roi] · range {fmt(f.roi_low)} to {fmt(f.roi_high)} [ch.roi_low, ch.roi_high]"
                  f" · by model: {models} [ch.roi.<model>]",
                  f"  mROI {fmt(get('mroi_mean').value)} [ch.mroi_mean] · share of spend {f.spend_share:.1f}% "
                  f"[ch.spend_share] · share of KPI {f.contribution_pct:.1f}% [ch.contribution_pct] · spend "
                  f"{short(f.spend)} [ch.spend] · saturation {f.saturation_pct:.0f}% [ch.saturation_pct]"]
        plans = [q for q in book_.values if q.channel == ch and ".test_plan." in q.key]
        for name, split in (("test", False), ("market-split test", True)):
            plan = [q for q in plans if (f".{MARKET_SPLIT}." in q.key) == split]
            if plan:
                lines.append(f"  {name}: " + ", ".join(f"{q.key.rsplit('.', 1)[1]} {short(q.value)}" for q in plan)
                             + f" [ch.test_plan.{f'<model>.{MARKET_SPLIT}.' if split else ''}<column>]")
    rl = {k.removeprefix("round."): q.value for k, q in by_key.items() if k.startswith("round.")
          and ".exploration." not in k}
    lines.append("All channels: " + " · ".join(f"{k} {short(v)}" for k, v in rl.items() if not k.startswith("fit."))
                 + " [round.<name>]")
    fits = sorted({k.split(".")[1] for k in rl if k.startswith("fit.")})
    for m in fits:
        lines.append(f"Fit of {m}: " + ", ".join(f"{k.split('.')[2]} {fmt(v)}" for k, v in rl.items()
                                                 if k.startswith(f"fit.{m}.")) + f" [round.fit.{m}.<name>]")
    return lines


def as_json(book_: Book) -> dict:
    """Every quotable figure of the round (`prism facts --json`): channel → key → value, then round-level."""
    facts = book_.facts
    out: dict = {"round": facts.round_no, "channels": {}, "round_level": {}}
    for f in facts.ranked:
        out["channels"][f.channel] = {"label": f.label, "confidence": f.confidence, "agreement": f.agreement,
                                      "facts": {}}
    for q in book_.values:
        if q.channel in out["channels"]:
            out["channels"][q.channel]["facts"][q.key] = {"value": q.value, "metric": q.metric, "model": q.model}
        elif q.key != "round.other" and q.channel is None:
            out["round_level"][q.key] = q.value
    return out
