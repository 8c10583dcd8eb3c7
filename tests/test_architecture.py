"""The layer contract in pyproject.toml holds, and an upward import or a cycle breaks it (so CI fails)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_layer_contract_is_kept():
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 kept, 0 broken" in out.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("prism/data/roles.py", "import prism.analysis.facts", "prism.data is not allowed to import prism.analysis"),
    ("prism/agents/critic.py", "import prism.report.build", "prism.agents is not allowed to import prism.report"),
    ("prism/orchestration/registry.py", "import prism.orchestration.loop", "No cycles are allowed in prism.orchestration"),
    ("prism/agents/proofreader.py", "import prism.agents.reporter", "prism.agents.proofreader is not allowed to import"),
])
def test_upward_import_or_cycle_breaks_the_contract(tmp_path, module, line, broken):
    shutil.copytree(ROOT / "prism", tmp_path / "prism", ignore=shutil.ignore_patterns("__pycache__", "sample_data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    out = _lint(tmp_path)
    assert out.returncode != 0
    assert broken in out.stdout, out.stdout


def test_one_stage_table_declares_every_state_stage():
    from typing import get_args

    from prism.orchestration.stages import STAGES
    from prism.schemas import Stage

    assert [*STAGES, "done"] == list(get_args(Stage))
    assert all(s.next in STAGES or s.next == "done" for s in STAGES.values())
    assert {s.agent for s in STAGES.values() if s.agent} == {"explorer", "tuner", "analyst", "critic", "reporter",
                                                             "proofreader"}
