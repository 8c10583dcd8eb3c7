"""The Claude client against the fake Messages API: retries, timeouts, budget, costs, key redaction."""

from __future__ import annotations

import time

import pytest

from prism.errors import InputError
from prism.llm import client as llm
from tests.helpers.fake_anthropic import (FAKE_KEY, FakeAnthropic, error, overloaded, rate_limited, server_error, slow,
                                  text_only, tool_use)

KEY = FAKE_KEY
pytestmark = pytest.mark.usefixtures("claude_env")
TOOL = {"name": "submit_analysis", "description": "d",
        "input_schema": {"type": "object", "properties": {"markdown": {"type": "string"}},
                         "required": ["markdown"]}}
MESSAGES = [{"role": "user", "content": "hello"}]


def _client(fake: FakeAnthropic, monkeypatch, **kw) -> llm.ClaudeClient:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    return llm.ClaudeClient(backoff_base_s=0.01, **kw)


def test_tool_use_reply_usage_cost_and_request_shape(monkeypatch):
    with FakeAnthropic([tool_use("submit_analysis", {"markdown": "hi"}, input_tokens=1000,
                                 output_tokens=500)]) as fake:
        reply = _client(fake, monkeypatch).call("SYSTEM PROMPT", MESSAGES, TOOL)
    assert reply.tool_name == "submit_analysis" and reply.tool_input == {"markdown": "hi"}
    assert (reply.input_tokens, reply.output_tokens, reply.attempts) == (1000, 500, 1)
    assert reply.cost_usd == pytest.approx((1000 * 2 + 500 * 10) / 1e6)  # default model's list price
    sent = fake.requests[0]
    assert sent["model"] == llm.DEFAULT_MODEL and sent["system"] == "SYSTEM PROMPT"
    assert sent["tools"] == [TOOL] and sent["messages"] == MESSAGES
    assert "temperature" not in sent and "tool_choice" not in sent  # rejected by current models
    auth = fake.headers[0].get("x-api-key") or fake.headers[0].get("authorization", "")
    assert KEY in auth  # the key travels only in the auth header


def test_model_from_env_then_argument(monkeypatch):
    monkeypatch.setenv("PRISM_CLAUDE_MODEL", "claude-haiku-4-5")
    with FakeAnthropic([tool_use("submit_analysis", {"markdown": "a"})] * 2) as fake:
        assert _client(fake, monkeypatch).call("s", MESSAGES, TOOL).cost_usd == pytest.approx(
            (1200 * 1 + 300 * 5) / 1e6)
        _client(fake, monkeypatch, model="claude-opus-5-5").call("s", MESSAGES, TOOL)
    assert [r["model"] for r in fake.requests] == ["claude-haiku-4-5", "claude-opus-5-5"]


def test_unknown_model_costs_nothing_rather_than_a_guess():
    assert llm.price("claude-sonnet-5-5-20261001") == (2.0, 10.0)
    assert llm.cost_usd("my-private-model", 10_000, 10_000) == 0.0


@pytest.mark.parametrize("failure", [rate_limited("0"), overloaded("0"), server_error()])
def test_transient_errors_are_retried(monkeypatch, failure):
    with FakeAnthropic([failure, failure, tool_use("submit_analysis", {"markdown": "ok"})]) as fake:
        reply = _client(fake, monkeypatch).call("s", MESSAGES, TOOL)
    assert reply.attempts == 3 and len(fake.requests) == 3 and reply.tool_input == {"markdown": "ok"}


def test_retry_after_is_honoured(monkeypatch):
    with FakeAnthropic([rate_limited("0.4"), tool_use("submit_analysis", {"markdown": "ok"})]) as fake:
        started = time.monotonic()
        _client(fake, monkeypatch).call("s", MESSAGES, TOOL)
    assert time.monotonic() - started >= 0.4


def test_retry_after_beyond_cap_gives_up(monkeypatch):
    with FakeAnthropic([rate_limited("3600")]) as fake, pytest.raises(llm.LLMError, match="retry-after"):
        _client(fake, monkeypatch).call("s", MESSAGES, TOOL)
    assert len(fake.requests) == 1


def test_persistent_overload_fails_after_max_attempts(monkeypatch):
    with FakeAnthropic([overloaded(None)] * 10) as fake, pytest.raises(llm.LLMError, match="529"):
        _client(fake, monkeypatch, max_attempts=3).call("s", MESSAGES, TOOL)
    assert len(fake.requests) == 3


def test_bad_request_is_not_retried(monkeypatch):
    with FakeAnthropic([error(400, "invalid_request_error", "tools.0: bad schema")]) as fake, \
            pytest.raises(llm.LLMError, match="bad schema"):
        _client(fake, monkeypatch).call("s", MESSAGES, TOOL)
    assert len(fake.requests) == 1


def test_slow_reply_past_timeout_is_retried_then_fails(monkeypatch):
    late = slow(tool_use("submit_analysis", {"markdown": "late"}), 1.5)
    with FakeAnthropic([late, late]) as fake, pytest.raises(llm.LLMError, match="no reply within"):
        _client(fake, monkeypatch, timeout_s=0.3, max_attempts=2).call("s", MESSAGES, TOOL)
    assert len(fake.requests) == 2


def test_text_only_reply_has_no_tool_input(monkeypatch):
    with FakeAnthropic([text_only("I think the ROI is fine.")]) as fake:
        reply = _client(fake, monkeypatch).call("s", MESSAGES, TOOL)
    assert reply.tool_input is None and reply.text == "I think the ROI is fine."


def test_token_budget_stops_further_calls(monkeypatch):
    budget = llm.TokenBudget(limit=2000)
    reply = tool_use("submit_analysis", {"markdown": "a"}, input_tokens=1500, output_tokens=600)
    with FakeAnthropic([reply, reply]) as fake:
        client = _client(fake, monkeypatch, budget=budget)
        client.call("s", MESSAGES, TOOL)
        assert budget.used == 2100
        with pytest.raises(llm.BudgetExceeded):
            client.call("s", MESSAGES, TOOL)
    assert len(fake.requests) == 1


def test_missing_key_is_input_error(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(InputError, match="ANTHROPIC_API_KEY"):
        llm.ClaudeClient()


def test_key_never_in_error_text(monkeypatch):
    echo = error(401, "authentication_error", f"invalid x-api-key {KEY}")
    with FakeAnthropic([echo]) as fake, pytest.raises(llm.LLMError) as caught:
        _client(fake, monkeypatch).call("s", MESSAGES, TOOL)
    assert KEY not in str(caught.value) and "[redacted]" in str(caught.value)
    assert llm.redact(f"key sk-ant-other-XYZ and {KEY}") == "key [redacted] and [redacted]"
