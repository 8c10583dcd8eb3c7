"""What every loop stage needs: the workspace, the agent choice and how to talk to the user.

Its own module so that the loop and its checkpoints both use it without importing each other.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from rich.console import Console

from prism.agents.base import AgentOutcome
from prism.orchestration.registry import get_agent, impl_for, shared_budget
from prism.schemas import Config
from prism.workspace import Workspace, read_model


@dataclass
class LoopContext:
    """What every stage needs: the workspace, the agent choice and how to talk to the user."""

    ws: Workspace
    agents: str = "rules"
    model: str | None = None
    quick: bool = False
    render: bool = True
    checkpoints: bool = False
    auto_approve: bool = False
    console: Console = field(default_factory=Console)
    page: bool = False  # checkpoints wait for `prism serve`'s page even without a terminal
    progress: Any = None  # the loop's rich Progress while it drives the rounds (refit bars join it)
    _budget: Any = None  # one token budget for every Claude agent of this loop, made on first use

    @property
    def terminal(self) -> bool:
        """A person at a terminal can answer the checkpoints."""
        return sys.stdin.isatty()

    def agent(self, name: str) -> tuple[Callable[..., AgentOutcome], str]:
        cfg = read_model(self.ws.config, Config)
        impl = impl_for(name, self.agents, cfg)
        if impl == "claude" and self._budget is None:
            self._budget = shared_budget(self.agents, cfg)
        return get_agent(name, impl, model=self.model, budget=self._budget), impl
