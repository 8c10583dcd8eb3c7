"""One output tool per agent, and the validation of every tool input BEFORE Prism writes anything.

Claude never writes a file and never runs code: it calls its agent's tool, the input is parsed against the
tool's pydantic model (whose JSON schema is what Claude was shown), checked against the round's computed
facts, and only then written by the same writers the rule-based agents use. A rejected input raises
`ToolRejected`, whose message goes back to Claude as the tool_result error so it can correct itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prism.agents import analyst, explorer, proofreader, tuner
from prism.agents.base import AgentOutcome
from prism.analysis import checks, claims
from prism.analysis.checks import HEADINGS
from prism.analysis.facts import RoundFacts
from prism.analysis.numbers import INTERPRETATION, extract, known_values, matches
from prism.errors import InputError
from prism.schemas import Status, reject, revise
from prism.workspace import Workspace, read_weekly, write_text

MAX_EDITS = 50  # a proofreading pass that rewrites more than this is not proofreading


class ToolRejected(Exception):
    """A tool input that failed validation; `unknown` lists numbers found in no result."""

    def __init__(self, message: str, unknown: list[str] | None = None):
        super().__init__(message)
        self.unknown = unknown or []


class ToolInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Exploration(ToolInput):
    markdown: str = Field(description="The interpretation section of the EDA report, markdown. Quote only "
                                      "numbers from the computed exploration you were given.")
    readiness: int = Field(ge=1, le=5, description="The readiness score; must equal the computed rubric score.")
    actions: list[str] = Field(default_factory=list, description="Specific actions before modelling.")


class ConfigChange(ToolInput):
    decision: Literal["change", "no_change"]
    key: str | None = Field(None, description="Dotted config key, e.g. 'adstock.decay' or "
                                              "'adstock.channel_decays.google_paid_search'; one key only.")
    value: float | int | str | bool | list | dict | None = Field(
        None, description="The new value of that key (a list or object for keys such as baseline.event_weeks).")
    rule: str = Field(description="Which tuning rule fired (one line).")
    evidence: str = Field(description="The evidence from the results, quoting only numbers that are in them.")


class Analysis(ToolInput):
    markdown: str = Field(description="The whole analysis file, markdown, under 400 words, every number "
                                      "from the round's results.")


class CheckNote(ToolInput):
    name: str = Field(description="The check's name exactly as computed.")
    passed: bool = Field(description="Your verdict on this check; a computed FAIL cannot become PASS.")
    note: str = Field("", description="A reason you add to the computed evidence (optional).")


class Review(ToolInput):
    checks: list[CheckNote]
    verdict: Literal["APPROVED", "REVISE", "REJECTED"]
    reason: str = Field("", description="For REVISE: what the Analyst must change; for REJECTED (final review "
                                        "only): what the revision still does not address.")


class Report(ToolInput):
    markdown: str = Field(description="The whole results/report.md for a CMO, markdown, every number from the "
                                      "results with its range and a confidence word.")


class Edit(ToolInput):
    find: str = Field(description="Exact text in report.md to replace (must occur in it).")
    replace: str = Field(description="The corrected text.")
    reason: str = Field(description="Why: the value it must match, or the jargon removed.")


class Corrections(ToolInput):
    edits: list[Edit] = Field(default_factory=list, max_length=MAX_EDITS)
    notes: str = Field("", description="What you checked; findings you did not edit.")


@dataclass(frozen=True)
class AgentTool:
    """An agent's output tool: name, schema (from the pydantic model), and the validated writer."""

    agent: str
    name: str
    description: str
    model: type[ToolInput]
    apply: Callable[[Workspace, int, bool, Any], AgentOutcome]

    def spec(self) -> dict[str, Any]:
        """The tool definition sent to the Messages API."""
        return {"name": self.name, "description": self.description,
                "input_schema": inline_refs(self.model.model_json_schema())}

    def accept(self, ws: Workspace, round_no: int, revision: bool, raw: dict[str, Any] | None) -> AgentOutcome:
        """Parse, validate and write; ToolRejected (nothing written) when any check fails."""
        try:
            data = self.model.model_validate(raw or {})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(input)'}: {e['msg']}" for e in exc.errors())
            raise ToolRejected(f"{self.name} input does not match its schema: {problems}") from None
        return self.apply(ws, round_no, revision, data)


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve pydantic's `$defs`/`$ref` so the tool schema is one self-contained object."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(dict(defs[node["$ref"].split("/")[-1]]))
            return {k: resolve(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [resolve(x) for x in node]
        return node

    return resolve(schema)


# ------------------------------------------------------------------------------------------ numbers
def unknown_in(text: str, ws: Workspace, round_no: int, extra: list[float] | None = None,
               need_results: bool = True) -> list[str]:
    """Numbers in `text` matching no value of the round (results when present, metadata, config, state)."""
    facts = RoundFacts.load(ws, round_no, need_results=need_results)
    values = known_values(ws, round_no, facts) + list(extra or [])
    return [f.text.strip() for f in extract(text) if not matches(f, values)]


def require_known_numbers(text: str, ws: Workspace, round_no: int, extra: list[float] | None = None,
                          need_results: bool = True) -> None:
    """Every number in `text` must match a value of the round (or `extra`); else ToolRejected naming them."""
    unknown = unknown_in(text, ws, round_no, extra, need_results)
    if unknown:
        raise ToolRejected("these numbers match no value in the results: " + ", ".join(unknown)
                           + ". Use only numbers from the results you were given, or leave the figure out.",
                           unknown=unknown)


def require_bound_figures(text: str, ws: Workspace, round_no: int) -> None:
    """Every figure must be its own subject's value (channel, model, metric: `prism facts`), as the session's
    guard and the rule-based Proofreader demand; a true figure quoted for another channel is refused."""
    facts = RoundFacts.load(ws, round_no)
    wrong = claims.check(text, facts)
    if wrong:
        raise ToolRejected("these figures are not their subject's value: " + "; ".join(p.message for p in wrong)
                           + ". Quote each channel's own figure (the keys are in the facts you were given).",
                           unknown=[p.claim.found.text.strip() for p in wrong])


def numbers_in(text: str) -> list[float]:
    return [f.value for f in extract(text)]


# ------------------------------------------------------------------------------------------ writers
def computed_exploration(ws: Workspace) -> tuple[str, int]:
    """The rule-based Explorer's statistics and rubric score: the facts Claude interprets."""
    facts = RoundFacts.load(ws, 1, need_results=False)
    return explorer.compose(facts, read_weekly(ws, facts.cfg))


def apply_exploration(ws: Workspace, round_no: int, revision: bool, data: Exploration) -> AgentOutcome:
    computed, score = computed_exploration(ws)
    if data.readiness != score:
        raise ToolRejected(f"readiness must be the computed rubric score {score}, not {data.readiness}")
    narrative = data.markdown.strip()
    if data.actions:
        narrative += "\n\n### Actions\n" + "\n".join(f"- {a.strip()}" for a in data.actions)
    require_known_numbers(narrative, ws, round_no, extra=numbers_in(computed), need_results=False)
    write_text(ws.exploration(), computed.rstrip() + f"\n\n{INTERPRETATION}\n\n" + narrative + "\n")
    return AgentOutcome(status=Status.EXPLORATION_DONE, path=ws.exploration(), detail=f"readiness {score}/5",
                        extra={"readiness": score})


def apply_config_change(ws: Workspace, round_no: int, revision: bool, data: ConfigChange) -> AgentOutcome:
    """The rule-based Tuner's revert comes first (deterministic, idempotent); then Claude's one change."""
    said = f"{data.rule} {data.evidence}"
    if data.decision == "no_change":
        require_known_numbers(said, ws, round_no - 1)
        body = [f"Rule fired: {data.rule}", "", f"Evidence: {data.evidence}", "", "No change to config.json."]
        return tuner.keep_config(ws, round_no, body, restore=False)
    if not data.key:
        raise ToolRejected("decision 'change' needs a key")
    try:
        return tuner.change_config(ws, round_no, data.key, data.value, data.rule, data.evidence,
                                   check=lambda c: require_known_numbers(said, ws, round_no - 1, extra=_change_values(c)),
                                   restore=False)
    except InputError as exc:
        raise ToolRejected(f"change rejected: {exc}") from None


def _change_values(change: tuner.Change) -> list[float]:
    """The old and new value of a change may be quoted although no result holds them."""
    flat: list[float] = []
    for v in (change.old, change.new):
        items = v.values() if isinstance(v, dict) else [v]
        flat += [float(x) for x in items if isinstance(x, (int, float)) and not isinstance(x, bool)]
    return flat


def apply_analysis(ws: Workspace, round_no: int, revision: bool, data: Analysis) -> AgentOutcome:
    text = data.markdown.strip() + "\n"
    words = analyst.word_count(text)
    if words >= analyst.MAX_WORDS:
        raise ToolRejected(f"the analysis has {words} words; it must be under {analyst.MAX_WORDS}")
    require_bound_figures(text, ws, round_no)
    write_text(ws.analysis(round_no), text)
    return AgentOutcome(status=Status.ANALYSIS_DONE, path=ws.analysis(round_no), detail=f"{words} words")


def apply_review(ws: Workspace, round_no: int, revision: bool, data: Review) -> AgentOutcome:
    analysis = checks.reviewed_text(ws, round_no, ws.analysis(round_no).read_text(encoding="utf-8"), revision)
    computed = checks.compute_checks(ws, round_no, analysis)
    notes = {n.name: n for n in data.checks}
    missing = [c.name for c in computed if c.name not in notes]
    strange = sorted(set(notes) - {c.name for c in computed})
    if missing or strange:
        raise ToolRejected(f"give one entry per computed check; missing: {missing}, unknown: {strange}")
    passed_failed = [c.name for c in computed if not c.passed and notes[c.name].passed]
    if passed_failed:
        raise ToolRejected(f"you cannot pass a check that failed on the numbers: {', '.join(passed_failed)}")
    computed_verdict, unhandled = checks.verdict(computed, analysis, revision)
    if revision and data.verdict == Status.REVISE:
        raise ToolRejected("this is the review after the one revision: decide APPROVED when every point is "
                           "addressed, else REJECTED with what is not")
    if not revision and data.verdict == Status.REJECTED:
        raise ToolRejected("REJECTED is for the review after the revision; now ask for the revision: REVISE")
    if unhandled and data.verdict == Status.APPROVED:
        raise ToolRejected(f"these checks failed and the analysis does not handle them, so the verdict is "
                           f"{computed_verdict.split(':')[0]}: " + ", ".join(c.name for c in unhandled))
    if data.verdict != Status.APPROVED and not (data.reason.strip() or unhandled):
        raise ToolRejected(f"{data.verdict} needs a reason")
    reviewed = [checks.Check(c.name, c.passed, c.evidence + _reviewer_note(c, notes[c.name])) for c in computed]
    require_known_numbers(" ".join(n.note for n in data.checks) + " " + data.reason, ws, round_no,
                          extra=numbers_in(" ".join(c.evidence for c in computed) + " " + analysis))
    reasons = [checks.point(c) for c in unhandled] + ([data.reason.strip()] if data.reason.strip()
                                                                 else [])
    decide = reject if data.verdict == Status.REJECTED else revise
    status = checks.approval(computed) if data.verdict == Status.APPROVED else decide("; ".join(reasons))
    write_text(ws.review(round_no), checks.render(round_no, reviewed, status, unhandled, revision))
    return AgentOutcome(status=status, path=ws.review(round_no),
                        detail=f"{sum(c.passed for c in reviewed)}/{len(reviewed)} checks pass",
                        extra={"open_issues": [c.name for c in reviewed if not c.passed]})


def _reviewer_note(check: checks.Check, note: CheckNote) -> str:
    """Claude's reason beside the computed evidence; the PASS/FAIL stays computed (the guard checks it)."""
    text = note.note.strip()
    if check.passed and not note.passed:
        return f"; reviewer would fail it: {text or 'no reason given'}"
    return f"; reviewer: {text}" if text else ""


def apply_report(ws: Workspace, round_no: int, revision: bool, data: Report) -> AgentOutcome:
    """The renderer's headings, no jargon before the appendix, every channel, the caveats, known numbers."""
    text = data.markdown.strip() + "\n"
    facts = RoundFacts.load(ws, round_no)
    problems = [] if text.startswith("# ") else ["the report must start with a '# ' title"]
    problems += [f"heading missing: {h}" for h in checks.required_headings(facts) if h not in text]
    problems += proofreader.jargon(text) + proofreader.missing_channels(text, facts)
    problems += [f"missing caveat — {c.name}: {c.evidence}" for c in checks.text_checks(facts, text) if not c.passed]
    if problems:
        raise ToolRejected("the report breaks the reporting rules: " + "; ".join(problems))
    require_bound_figures(text, ws, round_no)
    write_text(ws.report_md, text)
    return AgentOutcome(status=Status.REPORT_DONE, path=ws.report_md)


def apply_corrections(ws: Workspace, round_no: int, revision: bool, data: Corrections) -> AgentOutcome:
    """Apply each edit only if its target exists and it adds no unknown number; then the rule-based
    Proofreader's review re-verifies the whole corrected report (and fixes what is still off)."""
    original = ws.report_md.read_text(encoding="utf-8")
    text, edits = original, []
    for e in data.edits:
        at = text.find(e.find) if e.find else -1
        if at < 0:
            raise ToolRejected(f"edit target not found in report.md: {e.find[:80]!r}")
        edits.append(proofreader.Edit(text.count("\n", 0, at) + 1, e.find, e.replace, e.reason))
        text = text[:at] + e.replace + text[at + len(e.find):]
    require_known_numbers(" ".join(e.replace for e in data.edits) + " " + data.notes, ws, round_no,
                          extra=numbers_in(original))
    facts = RoundFacts.load(ws, round_no)
    corrected, rule_edits, issues = proofreader.review(text, facts, ws)
    edits += rule_edits
    if corrected != original:
        write_text(ws.report_md, corrected)
    status = Status.PROOFREAD_CORRECTED if edits else Status.PROOFREAD_CLEAN
    if data.notes.strip():
        issues = issues + [f"proofreader note: {data.notes.strip()}"]
    write_text(ws.proofread(round_no), proofreader.render(round_no, original, edits, issues, status))
    return AgentOutcome(status=status, path=ws.proofread(round_no),
                        detail=f"{len(edits)} edit(s), {len(issues)} issue(s)",
                        extra={"edits": len(edits), "issues": issues})


TOOLS: dict[str, AgentTool] = {
    t.agent: t for t in (
        AgentTool("explorer", "submit_exploration",
                  "Submit your interpretation of the computed data exploration, the readiness score and the "
                  "actions. Prism writes rounds/R01_data_exploration.md.", Exploration, apply_exploration),
        AgentTool("tuner", "propose_config_change",
                  "Propose ONE change to config.json for the next round, or no_change. Prism validates the key, "
                  "its bounds and the revert history, then writes config.json and the tuning file.",
                  ConfigChange, apply_config_change),
        AgentTool("analyst", "submit_analysis",
                  "Submit the round's analysis (markdown, under 400 words). Prism checks every number against "
                  "the results, then writes rounds/R{NN}_analysis.md.", Analysis, apply_analysis),
        AgentTool("critic", "submit_review",
                  "Submit the review: one entry per computed check, then APPROVED, REVISE with a reason or (the "
                  "final review only) REJECTED with what the revision does not address. Prism writes rounds/R{NN}_review.md.", Review, apply_review),
        AgentTool("reporter", "submit_report",
                  "Submit the CMO report (markdown). Prism checks every number against the results, then "
                  "writes results/report.md.", Report, apply_report),
        AgentTool("proofreader", "submit_corrections",
                  "Submit the edits to results/report.md (exact find/replace pairs), or none. Prism applies "
                  "them, re-verifies every number and writes rounds/R{NN}_proofread.md.",
                  Corrections, apply_corrections),
    )
}
