"""Claude as any of the six agents, with the same `run(ws, round_no, revision)` signature as the rules.

One agent call = a short conversation: system prompt = the body of `agents/<name>.md` (the workspace's
copy when `prism init` put one there, else the packaged template), user message = the files the agent
reads (`prism.llm.context`), and the answer only through the agent's tool (`prism.llm.tools`). A reply
without the tool, or with an input the validation rejects, is sent back with the reason; numbers that
match no result get exactly one such retry. When Claude still gives no usable answer (or the API fails
after its retries, or the loop's token budget is spent) the rule-based agent runs instead and both the
round file and `AgentCall(impl="fallback")` in state.json say so.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from prism.agents.base import AGENT_NAMES, AgentOutcome
from prism.errors import InputError
from prism.llm import context
from prism.llm.client import ClaudeClient, LLMError, Reply, TokenBudget, Usage, redact
from prism.llm.tools import TOOLS, ToolRejected
from prism.schemas import AgentCall
from prism.workspace import Workspace, write_text

MAX_TURNS = 3  # Claude gets three tries at a valid tool call before the rules take over
MAX_NUMBER_RETRIES = 1  # unknown numbers: one retry with the list, then the rules
FALLBACK_NOTE = "_Fallback: written by the rule-based {agent} (Claude gave no usable answer; reason in state.json)._"


class AgentFailed(Exception):
    """Claude answered, but never with a tool input that passed validation."""


def claude_agent(name: str, model: str | None = None, budget: TokenBudget | int | None = None) -> "ClaudeAgent":
    """The Claude implementation of agent `name`; needs ANTHROPIC_API_KEY (InputError, exit 2, if absent)."""
    if name not in AGENT_NAMES:
        raise InputError(f"unknown agent '{name}'; agents are {', '.join(AGENT_NAMES)}")
    shared = budget if isinstance(budget, TokenBudget) else TokenBudget(budget)
    return ClaudeAgent(name, ClaudeClient(model=model, budget=shared))


def system_prompt(name: str, ws: Workspace | None = None) -> str:
    """The body of agents/<name>.md (front matter removed): the workspace's copy first, else the package's."""
    local = ws.root / "agents" / f"{name}.md" if ws is not None else None
    if local is not None and local.exists():
        text = local.read_text(encoding="utf-8")
    else:
        text = resources.files("prism").joinpath("templates", "agents", f"{name}.md").read_text(encoding="utf-8")
    return strip_front_matter(text)


def strip_front_matter(text: str) -> str:
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            return text[end + 4:].lstrip("\n")
    return text


@dataclass
class ClaudeAgent:
    """Callable like a rule-based agent: `agent(ws, round_no, revision) -> AgentOutcome`."""

    name: str
    client: ClaudeClient

    def __call__(self, ws: Workspace, round_no: int, revision: bool = False) -> AgentOutcome:
        usage = Usage()
        try:
            outcome = self._converse(ws, round_no, revision, usage)
            impl, note = "claude", f"{usage.calls} call(s)"
        except (LLMError, AgentFailed) as exc:
            outcome = self._rules(ws, round_no, revision)
            impl, note = "fallback", redact(f"rule-based {self.name} ran: {exc}")
            mark_fallback(outcome, self.name)
        outcome.call = AgentCall(agent=self.name, impl=impl, seconds=round(usage.seconds, 3),
                                 input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                                 cost_usd=usage.cost_usd, note=note, model=self.client.model, calls=usage.calls)
        return outcome

    def _converse(self, ws: Workspace, round_no: int, revision: bool, usage: Usage) -> AgentOutcome:
        tool = TOOLS[self.name]
        system = system_prompt(self.name, ws)
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": context.build(self.name, ws, round_no, revision, tool.name)}]
        number_retries, problem = 0, "no answer"
        for _ in range(MAX_TURNS):
            reply = self.client.call(system, messages, tool.spec())
            usage.add(reply)
            if reply.tool_name != tool.name:
                problem = f"replied without calling {tool.name}"
                messages += [_assistant(reply), {"role": "user", "content": _tool_results(
                    reply, f"Answer only by calling the tool `{tool.name}`.")}]
                continue
            try:
                return tool.accept(ws, round_no, revision, reply.tool_input)
            except ToolRejected as exc:
                problem = str(exc)
                if exc.unknown:
                    number_retries += 1
                    if number_retries > MAX_NUMBER_RETRIES:
                        break
                messages += [_assistant(reply), {"role": "user", "content": _tool_results(reply, problem)}]
        raise AgentFailed(f"no valid {tool.name} after {usage.calls} call(s): {problem}")

    def _rules(self, ws: Workspace, round_no: int, revision: bool) -> AgentOutcome:
        module = importlib.import_module(f"prism.agents.{self.name}")
        return module.run(ws, round_no, revision=revision)


def mark_fallback(outcome: AgentOutcome, agent: str) -> None:
    """Say in the file the rule-based agent wrote that it stood in for Claude."""
    path = outcome.path
    if path is None or path.suffix != ".md" or not path.exists():
        return
    text = path.read_text(encoding="utf-8").rstrip("\n")
    write_text(path, text + "\n\n" + FALLBACK_NOTE.format(agent=agent.capitalize()) + "\n")


def _assistant(reply: Reply) -> dict[str, Any]:
    """The assistant turn as sent back: its blocks unchanged, minus empty text blocks (the API rejects them)."""
    blocks = [b for b in reply.content if not (b.get("type") == "text" and not b.get("text", "").strip())]
    return {"role": "assistant", "content": blocks or [{"type": "text", "text": "(no text)"}]}


def _tool_results(reply: Reply, message: str) -> list[dict[str, Any]] | str:
    """Every tool_use needs a tool_result in the next user turn; the message rides on them as an error."""
    ids = [b["id"] for b in reply.content if b.get("type") == "tool_use"]
    if not ids:
        return message
    return [{"type": "tool_result", "tool_use_id": i, "is_error": True, "content": message} for i in ids]
