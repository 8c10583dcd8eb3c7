"""Fixtures shared by the test modules; helpers live in tests/helpers and are imported as tests.helpers.*."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pytest

from prism.workspace import Workspace
from tests.helpers.cli import Cli
from tests.helpers.fake_anthropic import FAKE_KEY


@pytest.fixture
def claude_env(monkeypatch) -> str:
    """A fake Anthropic key, and no model or budget override leaking in from the developer's shell."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.delenv("PRISM_CLAUDE_MODEL", raising=False)
    monkeypatch.delenv("PRISM_CLAUDE_TOKEN_BUDGET", raising=False)
    return FAKE_KEY


@pytest.fixture
def copy_ws(tmp_path) -> Callable[[Workspace], Workspace]:
    """A fresh copy of a module-scoped workspace per test, so files one test writes never leak into another."""
    def copy(base: Workspace) -> Workspace:
        shutil.copytree(base.root, tmp_path / "w")
        return Workspace(tmp_path / "w")
    return copy


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, tmp_path: Path) -> Cli:
    """The real `prism` CLI run in-process on a fresh workspace folder (exit code, stdout, stderr)."""
    return Cli(capsys, tmp_path / "ws")
