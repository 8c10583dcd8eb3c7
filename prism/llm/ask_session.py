"""`prism ask` and `prism chat` sessions: the rule-based router by default, Claude when a key is set.

Above both `ask` (the rules) and `ask_claude` (routing and phrasing through the same functions), so
neither imports the other.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from prism.errors import InputError
from prism.llm import ask_router as R
from prism.llm.ask import Answer, AskContext, respond
from prism.schemas import ALL_MARKETS
from prism.workspace import Workspace, read_json, write_json

HISTORY_KEEP = 200  # chat turns kept in the workspace


def claude_enabled() -> bool:
    return bool(os.environ.get("ANTHROPIC_API_KEY", "").strip())


def answer_question(ws: Workspace, text: str, market: str | None = None) -> Answer:
    """`prism ask`: rule-based by default; with ANTHROPIC_API_KEY Claude routes and phrases. With `market`
    (a regional panel's), what-if and budget answers plan on that market's draws."""
    if market == ALL_MARKETS:
        raise InputError("--market all: ask plans one market at a time; `prism optimize --market all` moves "
                         "budget between markets")
    return answer_in(AskContext(ws, market), text)


def answer_in(ctx: AskContext, text: str) -> Answer:
    """One question against files already read (`prism serve` keeps the context, and its planners' loaded
    draws, between questions)."""
    if claude_enabled():
        from prism.llm.ask_claude import claude_answer

        answer = claude_answer(ctx, text)
    else:
        answer = respond(ctx, text)[1]
    ctx.keep_responses()
    return answer


class Chat:
    """A question-and-answer session; every turn is appended to the workspace's chat history."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.ctx = AskContext(ws)
        self.previous: R.Question | None = None  # the rules' last question, for follow-ups
        self.turns: list[tuple[str, str]] = []  # this session's (question, answer), Claude's context for follow-ups
        path = ws.chat_history
        self.history: list[dict[str, Any]] = read_json(path) if path.exists() else []

    def ask(self, text: str) -> Answer:
        if claude_enabled():
            from prism.llm.ask_claude import claude_answer

            result = claude_answer(self.ctx, text, earlier=self.turns)
        else:
            try:
                self.previous, result = respond(self.ctx, text, self.previous)
            except InputError as exc:  # a question Prism cannot price: `ask` exits 2, a chat answers and goes on
                result = Answer(text, R.HELP, str(exc))
        self.turns.append((text, result.text))
        self.history.append({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "question": text,
                             "intent": result.intent, "answer": result.text, "phrased_by": result.phrased_by})
        write_json(self.ws.chat_history, self.history[-HISTORY_KEEP:])
        return result
