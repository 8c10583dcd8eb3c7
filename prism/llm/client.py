"""A thin layer over the `anthropic` SDK: one tool-use call with timeouts, retries, a token budget and costs.

WHY our own retry loop instead of the SDK's: every attempt, wait and failure is counted and reported per
agent, `retry-after` is honoured with a cap, and a failure ends as one `LLMError` whose text never carries
the API key. The SDK itself runs with `max_retries=0`.

Model choice: `--model` > `PRISM_CLAUDE_MODEL` > `DEFAULT_MODEL`. The request leaves out sampling
parameters, assistant prefill and forced `tool_choice` because current models reject them (400); the
agent prompt asks for the one tool instead and a text-only reply is retried by the caller.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import anthropic

from prism.errors import InputError

KEY_ENV = "ANTHROPIC_API_KEY"
MODEL_ENV = "PRISM_CLAUDE_MODEL"
BUDGET_ENV = "PRISM_CLAUDE_TOKEN_BUDGET"
TIMEOUT_ENV = "PRISM_CLAUDE_TIMEOUT"

DEFAULT_MODEL = "claude-sonnet-5-5"  # the current Sonnet (SDK 2.12 model list); fast and $2/$10 per MTok
DEFAULT_TOKEN_BUDGET = 600_000  # input + output tokens for one `prism loop` (≈ 4 rounds × 7 agent calls)
DEFAULT_TIMEOUT_S = 180.0  # one HTTP request; adaptive thinking on a long analysis can take a while
CONNECT_TIMEOUT_S = 10.0
MAX_OUTPUT_TOKENS = 8_000
MAX_ATTEMPTS = 4  # one call + three retries on 429 / 5xx / 529 / timeout
BACKOFF_BASE_S = 1.0  # exponential: 1, 2, 4 s ... when the server gives no retry-after
BACKOFF_MAX_S = 30.0
RETRY_AFTER_MAX_S = 60.0  # a longer retry-after ends the call instead of stalling the loop
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

# USD per million tokens (input, output), Anthropic's published list prices on 2026-11-23.
# Cost in state.json is an estimate: cache and batch discounts are not applied.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "claude-fable-5-2": (10.0, 50.0),
    "claude-fable-5-1": (10.0, 50.0),
    "claude-fable-5": (10.0, 50.0),
    "claude-opus-5-5": (4.0, 20.0),
    "claude-opus-5": (5.0, 25.0),
    "claude-opus-4": (5.0, 25.0),  # 4-5 … 4-8
    "claude-sonnet-5-5": (2.0, 10.0),
    "claude-sonnet-5": (2.0, 10.0),
    "claude-sonnet-4": (3.0, 15.0),  # 4-5, 4-6
    "claude-haiku-5-5": (1.0, 5.0),
    "claude-haiku-4-5": (1.0, 5.0),
}

_KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")


class LLMError(Exception):
    """A Claude call that did not give a usable answer (after retries); the message is redacted."""

    def __init__(self, message: str):
        super().__init__(redact(message))


class BudgetExceeded(LLMError):
    """The loop's token budget is spent: the remaining stages run rule-based."""


def redact(text: str) -> str:
    """Remove the API key (the env value and anything shaped like one) from a text."""
    key = os.environ.get(KEY_ENV, "")
    if key:
        text = text.replace(key, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def api_key() -> str:
    """The API key, only ever from the environment; absent is bad input (exit 2)."""
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise InputError(f"--agents claude needs the {KEY_ENV} environment variable (it is not set)")
    return key


def resolve_model(model: str | None = None) -> str:
    """`--model` beats `PRISM_CLAUDE_MODEL` beats the documented default."""
    return model or os.environ.get(MODEL_ENV, "").strip() or DEFAULT_MODEL


def price(model: str) -> tuple[float, float] | None:
    """(input, output) USD per MTok: exact id first, then the longest known prefix; None if unknown."""
    for prefix in sorted(PRICES_PER_MTOK, key=len, reverse=True):
        if model == prefix or model.startswith(prefix + "-"):
            return PRICES_PER_MTOK[prefix]
    return None


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    """Estimated list-price cost of one call; 0.0 for a model with no price on file."""
    rates = price(model)
    if rates is None:
        return 0.0
    return round((input_tokens * rates[0] + output_tokens * rates[1]) / 1_000_000, 6)


class TokenBudget:
    """Input + output tokens one loop may spend; shared by every Claude agent of that loop."""

    def __init__(self, limit: int | None = None):
        self.limit = limit if limit is not None else _env_number(BUDGET_ENV, DEFAULT_TOKEN_BUDGET, int, "a whole number of tokens")
        self.used = 0
        self._lock = threading.Lock()

    def check(self) -> None:
        if self.used >= self.limit:
            raise BudgetExceeded(f"token budget spent ({self.used} of {self.limit} tokens)")

    def charge(self, tokens: int) -> None:
        with self._lock:
            self.used += tokens


@dataclass
class Reply:
    """One assistant turn: the tool call it made (if any), its text, and what it cost."""

    content: list[dict[str, Any]]
    stop_reason: str | None
    tool_name: str | None
    tool_input: dict[str, Any] | None
    tool_use_id: str | None
    text: str
    input_tokens: int
    output_tokens: int
    seconds: float
    cost_usd: float
    attempts: int


@dataclass
class Usage:
    """Running totals for one agent's calls in one round (what goes into AgentCall)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    cost_usd: float = 0.0

    def add(self, reply: Reply) -> None:
        self.calls += 1
        self.input_tokens += reply.input_tokens
        self.output_tokens += reply.output_tokens
        self.seconds += reply.seconds
        self.cost_usd = round(self.cost_usd + reply.cost_usd, 6)


class ClaudeClient:
    """Messages API with one tool, retried on rate limits, server errors, overload and timeouts."""

    def __init__(self, model: str | None = None, budget: TokenBudget | None = None,
                 timeout_s: float | None = None, max_attempts: int = MAX_ATTEMPTS,
                 backoff_base_s: float = BACKOFF_BASE_S):
        self.model = resolve_model(model)
        self.budget = budget or TokenBudget()
        self.timeout_s = timeout_s if timeout_s is not None else _env_number(TIMEOUT_ENV, DEFAULT_TIMEOUT_S, float, "a number of seconds")
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self._sdk = anthropic.Anthropic(
            api_key=api_key(), max_retries=0,
            timeout=anthropic.Timeout(self.timeout_s, connect=CONNECT_TIMEOUT_S),
        )

    def call(self, system: str, messages: list[dict[str, Any]], tool: dict[str, Any]) -> Reply:
        """Send one request (retrying transient failures); raise LLMError when no answer comes."""
        self.budget.check()
        started = time.monotonic()
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                message = self._sdk.messages.create(
                    model=self.model, max_tokens=MAX_OUTPUT_TOKENS, system=system,
                    messages=messages, tools=[tool],
                )
            except anthropic.APIStatusError as exc:
                last = f"HTTP {exc.status_code}: {_error_message(exc)}"
                if exc.status_code not in RETRY_STATUS or attempt == self.max_attempts:
                    break
                wait = self._wait_s(attempt, exc.response.headers)
                if wait is None:
                    last += " (retry-after too long)"
                    break
                time.sleep(wait)
            except anthropic.APITimeoutError:
                last = f"no reply within {self.timeout_s:g} s"
                if attempt == self.max_attempts:
                    break
                time.sleep(self._backoff(attempt))
            except anthropic.APIConnectionError as exc:
                last = f"connection failed: {exc}"
                if attempt == self.max_attempts:
                    break
                time.sleep(self._backoff(attempt))
            else:
                return self._reply(message, time.monotonic() - started, attempt)
        raise LLMError(f"Claude call failed after {attempt} attempt(s): {last}")

    def _reply(self, message: Any, seconds: float, attempts: int) -> Reply:
        usage = message.usage
        tokens_in, tokens_out = int(usage.input_tokens or 0), int(usage.output_tokens or 0)
        self.budget.charge(tokens_in + tokens_out)
        content = [block.model_dump(mode="json", exclude_none=True) for block in message.content]
        tool = next((b for b in content if b.get("type") == "tool_use"), None)
        text = "\n".join(b.get("text", "") for b in content if b.get("type") == "text").strip()
        return Reply(
            content=content, stop_reason=message.stop_reason,
            tool_name=tool["name"] if tool else None,
            tool_input=tool.get("input") if tool else None,
            tool_use_id=tool["id"] if tool else None,
            text=text, input_tokens=tokens_in, output_tokens=tokens_out, seconds=round(seconds, 3),
            cost_usd=cost_usd(self.model, tokens_in, tokens_out), attempts=attempts,
        )

    def _wait_s(self, attempt: int, headers: Any) -> float | None:
        """retry-after(-ms) when the server sends one (None if too long), else exponential backoff."""
        retry_after = _retry_after_s(headers)
        if retry_after is None:
            return self._backoff(attempt)
        return None if retry_after > RETRY_AFTER_MAX_S else max(retry_after, 0.0)

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_base_s * 2 ** (attempt - 1), BACKOFF_MAX_S)


def _retry_after_s(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value is not None:
            try:
                return float(value) / scale
            except ValueError:
                continue
    return None


def _error_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    kind, text = error.get("type", ""), error.get("message", "")
    return f"{kind}: {text}" if kind or text else type(exc).__name__


def _env_number(name: str, default: float, kind: type, what: str) -> Any:
    """A number from the environment (`kind` int or float), the default when unset; a bad value names itself."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise InputError(f"{name}={raw!r} is not {what}") from None
