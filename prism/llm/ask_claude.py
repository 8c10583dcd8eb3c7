"""Claude routes and phrases `prism ask`; every number still comes from the rule-based answer functions.

Claude gets the question, the channels and one tool, `query_prism` (intent, channels, changes, period,
budget). Prism runs the same answer function the rule-based router would and returns its text and
figures as the tool result; Claude then phrases the answer. Every number in that text must match a
figure of the tool results or a value of the round (`prism.analysis.numbers`); otherwise Claude is told
which numbers are unknown and tries again, and when it still fails (or the API fails) the rule-based
answer is printed instead, marked as such.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prism.analysis.numbers import extract, json_numbers, known_values, matches
from prism.errors import InputError
from prism.llm import ask_router as R
from prism.llm.ask import Answer, AskContext, answer, jsonable, respond, valid_channels
from prism.llm.client import ClaudeClient, LLMError
from prism.llm.tools import inline_refs
from prism.planning.names import matches as channel_matches

TOOL_NAME = "query_prism"
MAX_TURNS = 5  # tool calls and rephrasings together
EARLIER_TURNS = 3  # a chat's previous questions and answers shown with the next question
SYSTEM = (
    "You answer a marketing analyst's question about their marketing mix model (Prism). Call the "
    f"{TOOL_NAME} tool with the question's intent and parameters; Prism computes the answer from the model "
    "results and returns its text and figures. Then reply in plain English, at most four sentences, with no "
    "heading. Use ONLY numbers that appear in the tool results (rounded as they are there); never compute or "
    "invent a number. If the tool says a channel or period is unknown, say so and list the valid ones."
)


class Query(BaseModel):
    """What Claude asks Prism to compute (the tool's input schema)."""

    model_config = ConfigDict(extra="forbid")
    intent: Literal[R.SCENARIO, R.BUDGET, R.TRUST, R.DRIVERS, R.SATURATION, R.CONTRIBUTION, R.ROI, R.SUMMARY,
                    R.HELP]
    channels: list[str] = Field(default_factory=list, description="Channel column names or labels asked about.")
    changes_pct: dict[str, float] = Field(default_factory=dict, description="Scenario: channel → % change, "
                                                                            "e.g. {\"meta_facebook\": -20}.")
    period: str | None = Field(None, description="Drivers or contribution: e.g. 'Q4 2023', '2023', 'December', "
                                                 "'last 8 weeks'.")
    budget: float | None = Field(None, description="Budget question: total spend over the horizon.")
    weeks: int | None = Field(None, ge=1, le=104, description="Planning horizon in weeks (default 13).")


TOOL = {"name": TOOL_NAME, "description": "Compute the answer to the question from Prism's results and kept draws.",
        "input_schema": inline_refs(Query.model_json_schema())}


def to_question(ctx: AskContext, text: str, raw: dict[str, Any] | None) -> R.Question:
    """Claude's tool input as a routed question (names resolved the same fuzzy way as the rules do)."""
    query = Query.model_validate(raw or {})
    q = R.Question(text=text, intent=query.intent, amount=query.budget, weeks=query.weeks)
    for name in [*query.channels, *query.changes_pct]:
        hits = channel_matches(name, ctx.channels, ctx.labels)
        if not hits:
            q.unknown_name = name
        elif hits[0] not in q.channels:
            q.channels.append(hits[0])
    q.changes = {channel_matches(k, ctx.channels, ctx.labels)[0]: v for k, v in query.changes_pct.items()
                 if channel_matches(k, ctx.channels, ctx.labels)}
    if query.period and ctx.dates is not None:
        q.period, q.period_text = R.period(query.period.lower(), ctx.dates)
        q.period_text = q.period_text or (None if q.period else query.period)
    return q


def _prompt(ctx: AskContext, text: str, earlier: list[tuple[str, str]]) -> str:
    """The question with the data's channels, KPI and weeks, after the chat's earlier turns (for follow-ups
    such as "and display?")."""
    span = f"{ctx.dates.min():%Y-%m-%d} to {ctx.dates.max():%Y-%m-%d}" if ctx.dates is not None else "unknown"
    before = "".join(f"Q: {q}\nA: {a}\n" for q, a in earlier[-EARLIER_TURNS:])
    return ((f"Earlier in this chat:\n{before}\n" if before else "")
            + f"Question: {text}\n\n{valid_channels(ctx)}\nKPI: {ctx.results.kpi}. Weeks in the data: {span}.\n"
            f"Intents: {', '.join(R.INTENTS)} (or help when the question is none of these).")


def _known(ctx: AskContext) -> list[float]:
    try:
        return known_values(ctx.ws, ctx.results.round, ctx.facts)
    except InputError:
        return []


def unknown_numbers(text: str, values: list[float]) -> list[str]:
    return [f.text.strip() for f in extract(text) if not matches(f, values)]


def claude_answer(ctx: AskContext, text: str, client: ClaudeClient | None = None,
                  earlier: list[tuple[str, str]] | None = None) -> Answer:
    """Claude's phrasing of the answer the tool computed; the rule-based answer when that cannot be had.
    `earlier`: a chat's (question, answer) turns so far."""
    try:
        client = client or ClaudeClient()
        return _converse(ctx, text, client, earlier or []) or _rules(ctx, text, "Claude gave no checked answer")
    except LLMError as exc:
        return _rules(ctx, text, str(exc))


def _rules(ctx: AskContext, text: str, why: str) -> Answer:
    result = respond(ctx, text)[1]
    result.facts = {**result.facts, "claude": why}
    return result


def _converse(ctx: AskContext, text: str, client: ClaudeClient, earlier: list[tuple[str, str]]) -> Answer | None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": _prompt(ctx, text, earlier)}]
    last: Answer | None = None
    values = _known(ctx)
    for _ in range(MAX_TURNS):
        reply = client.call(SYSTEM, messages, TOOL)
        messages.append({"role": "assistant", "content": reply.content})
        if reply.tool_name == TOOL_NAME:
            content, last = _run_tool(ctx, text, reply.tool_input)
            if last is not None:
                values += json_numbers(last.facts) + [f.value for f in extract(last.text)]
            messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": reply.tool_use_id,
                                                          "content": content, "is_error": last is None}]})
            continue
        if last is None:
            return None  # Claude answered without asking Prism: nothing checked to phrase
        unknown = unknown_numbers(reply.text, values)
        if reply.text and not unknown:
            return Answer(text, last.intent, reply.text, last.channels, last.facts, phrased_by="claude")
        messages.append({"role": "user", "content": "These numbers match no figure in the tool results: "
                         + ", ".join(unknown or ["(empty answer)"]) + ". Rewrite the answer using only the "
                         "tool's figures, or leave the figure out."})
    return None


def _run_tool(ctx: AskContext, text: str, raw: dict[str, Any] | None) -> tuple[str, Answer | None]:
    try:
        result = answer(ctx, to_question(ctx, text, raw))
    except ValidationError as exc:
        return f"{TOOL_NAME} input does not match its schema: {exc.errors()[0]['msg']}", None
    except InputError as exc:
        return f"{TOOL_NAME} could not compute it: {exc}", None
    return json.dumps(jsonable({"answer": result.text, "intent": result.intent, "figures": result.facts}),
                      allow_nan=False), result
