"""The audit's and the test plans' tables are reused while what they read is unchanged, and only then."""

from __future__ import annotations

import json

import pandas as pd

from prism.analysis import audit
from prism.models import ridge
from prism.orchestration.cache import cached_table, refit_key
from prism.workspace import write_json
from tests.helpers.loop import crafted_results, make_ws


def _key(ws, res):
    return refit_key(ws, res, ["ridge"], audit.run_audit, ridge.fit)


def test_the_key_ignores_what_refits_never_read_and_follows_what_they_do(tmp_path) -> None:
    ws, sim = make_ws(tmp_path, weeks=60, n_channels=2)
    res = crafted_results(ws, sim)
    key = _key(ws, res)
    cfg = json.loads(ws.config.read_text())
    write_json(ws.config, {**cfg, "pymc": {**cfg["pymc"], "draws": 3000}, "timeouts": {"pymc": 60}})
    later = res.model_copy(update={"round": 2})
    later.models["ridge"].seconds = 99.0  # a timing moves between equal fits
    later.models["pymc"].channels[sim.channels[0]].roi *= 2  # another model's result: not what the audit reads
    assert _key(ws, later) == key
    write_json(ws.config, {**cfg, "adstock": {**cfg["adstock"], "max_lag": 4}})
    assert _key(ws, later) != key
    write_json(ws.config, cfg)
    later.models["ridge"].channels[sim.channels[0]].roi *= 2
    assert _key(ws, later) != key
    assert _key(ws, res.model_copy(update={"data_hash": "other"})) != key


def test_a_matching_key_copies_the_kept_table_with_its_round(tmp_path) -> None:
    ws, _ = make_ws(tmp_path, weeks=60, n_channels=2)
    calls = []

    def compute() -> None:
        calls.append(1)
        ws.results_dir.mkdir(exist_ok=True)
        pd.DataFrame({"channel": ["a"], "verdict": ["weak"], "round": [1]}).to_csv(ws.result("audit.csv"), index=False)

    assert not cached_table(ws, "audit.csv", "k1", 1, compute)
    assert cached_table(ws, "audit.csv", "k1", 2, compute)
    assert len(calls) == 1 and pd.read_csv(ws.result("audit.csv"))["round"].tolist() == [2]
    assert not cached_table(ws, "audit.csv", "k2", 3, compute) and len(calls) == 2


def test_the_compare_stage_refits_only_when_its_inputs_change(tmp_path, monkeypatch) -> None:
    """The loop's audit (before compare) and test plans (after it) on round 2 with round 1's inputs: nothing
    recomputed."""
    from prism.analysis import test_plan
    from prism.orchestration import loop
    from prism.orchestration.context import LoopContext

    ws, sim = make_ws(tmp_path, weeks=60, n_channels=2)
    calls: list[str] = []

    def fake(name: str, file: str):
        def run(ws_, *args, **kwargs):
            calls.append(name)
            ws_.results_dir.mkdir(exist_ok=True)
            pd.DataFrame({"channel": sim.channels, "round": 0}).to_csv(ws_.result(file), index=False)
        return run

    monkeypatch.setattr(audit, "audit_source", lambda res: "ridge")  # crafted results keep no weekly series
    monkeypatch.setattr(audit, "run_audit", fake("audit", "audit.csv"))
    monkeypatch.setattr(test_plan, "run_plans", fake("plans", "test_plan.csv"))
    ctx = LoopContext(ws)
    for n in (1, 2):
        crafted_results(ws, sim, round_no=n)
        assert loop._audit(ctx, n)
        loop._plans(ctx, n)
    assert calls == ["audit", "plans"]
    assert pd.read_csv(ws.result("test_plan.csv"))["round"].tolist() == [2, 2]
    crafted_results(ws, sim, round_no=3, factors={"ridge": 1.1, "pymc": 1.05, "lightweight_mmm": 0.95})
    assert loop._audit(ctx, 3)
    loop._plans(ctx, 3)
    assert calls == ["audit", "plans", "audit", "plans"]
