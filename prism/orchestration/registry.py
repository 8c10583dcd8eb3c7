"""Which implementation plays each agent: the rule-based module or Claude.

`--agents rules|claude|mixed`; for `mixed` the per-agent choice lives in config.json's `agents` key
(e.g. `{"analyst": "claude", "reporter": "claude"}`; agents not named there use the rules).
"""

from __future__ import annotations

import importlib
from typing import Any

from prism.agents.base import AGENT_NAMES, Agent
from prism.errors import InputError
from prism.schemas import Config

IMPLS = ("rules", "claude", "mixed")


def get_agent(name: str, impl: str, **opts: Any) -> Agent:
    """The agent `name` as `impl` ("rules" or "claude"; resolve "mixed" with `impl_for` first)."""
    if name not in AGENT_NAMES:
        raise InputError(f"unknown agent '{name}'; agents are {', '.join(AGENT_NAMES)}")
    if impl == "rules":
        return importlib.import_module(f"prism.agents.{name}").run
    if impl == "claude":
        from prism.llm.claude_agents import claude_agent

        return claude_agent(name, model=opts.get("model"), budget=opts.get("budget"))
    raise InputError(f"unknown agent implementation '{impl}'; choose one of {', '.join(IMPLS)}")


def impl_for(name: str, impl: str, cfg: Config) -> str:
    """The concrete implementation of one agent under a loop-wide choice."""
    if impl not in IMPLS:
        raise InputError(f"--agents: unknown value '{impl}'; choose one of {', '.join(IMPLS)}")
    return cfg.agents.get(name, "rules") if impl == "mixed" else impl  # type: ignore[call-overload]


def check_ready(impl: str, cfg: Config) -> None:
    """A loop with any Claude agent needs the API key: refused before any stage runs or state.json moves."""
    if any(impl_for(n, impl, cfg) == "claude" for n in AGENT_NAMES):
        from prism.llm.client import api_key

        api_key()


def shared_budget(impl: str, cfg: Config) -> Any:
    """One token budget for every Claude agent of a loop (None when no agent is Claude)."""
    if all(impl_for(n, impl, cfg) == "rules" for n in AGENT_NAMES):
        return None
    from prism.llm.client import TokenBudget

    return TokenBudget()
