"""The Tuner acts on what the Explorer found: unmodelled promo weeks become events and both the objective and
the ROI error against the simulator's truth improve; timed-out and failed models are findings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.helpers.loop import crafted_results, make_ws
from prism.agents import tuner
from prism.data.discover import PrepareOptions, discover
from prism.data.roles import Overrides
from prism.data.simulate import simulate
from prism.data.sources import SourceSpec
from prism.models.base import holdout_weeks
from prism.orchestration.loop import run_loop
from prism.schemas import Config, Results, State
from prism.workspace import Workspace, load_state, read_model, save_state, write_json

PROMO_WEEKS = (20,)   # late May, every year, recorded in no column
PROMO_LIFT = 0.6
DUMMY = "flag_"


def _roi_error(ws, sim, round_no: int) -> float:
    res = read_model(ws.round_results(round_no), Results)
    cfg = read_model(ws.config, Config)
    n_train = len(sim.frame) - holdout_weeks(len(sim.frame), cfg)
    truth = sim.true_roi(slice(0, n_train))
    chans = res.models["ridge"].channels
    return float(np.median([abs(chans[c].roi - t) / t for c, t in truth.items()]))


@pytest.mark.slow  # two ridge rounds: about 25 s of CPU
def test_loop_models_promo_weeks_as_events(tmp_path):
    ws, sim = make_ws(tmp_path, weeks=156, n_channels=3, models=["ridge"], recurring_promos=PROMO_WEEKS,
                      promo_lift=PROMO_LIFT)
    cfg = json.loads(ws.config.read_text())
    cfg["ridge"]["bootstrap"] = 20
    write_json(ws.config, cfg)
    run_loop(ws, 2, quick=True)
    state = load_state(ws)
    r1, r2 = state.rounds[0], state.rounds[1]
    assert (r2.change_key or "").startswith("baseline.event_weeks=")
    events = read_model(ws.config, Config).baseline.event_weeks
    promo = set(sim.notes["promo_dates"])
    assert any(set(days) <= promo and len(days) >= 2 for days in events.values()), events
    assert r2.objective < r1.objective
    assert _roi_error(ws, sim, 2) < _roi_error(ws, sim, 1)
    print(f"objective {r1.objective:.2f} → {r2.objective:.2f} %, median ROI error "
          f"{_roi_error(ws, sim, 1):.3f} → {_roi_error(ws, sim, 2):.3f}")


@pytest.fixture()
def dummy_ws(tmp_path):
    """A workspace whose controls include six 0/1 holiday-like dummies."""
    sim = simulate(weeks=156, n_channels=3, seed=1)
    frame = sim.frame.assign(**{f"{DUMMY}{i}": (np.arange(156) % 52 == 5 * i + 3).astype(int) for i in range(6)})
    frame.to_csv(tmp_path / "data.csv", index=False)
    ws = Workspace(tmp_path / "ws")
    discover(ws, SourceSpec(source="csv", path=str(tmp_path / "data.csv")),
             Overrides(date="date", kpi=sim.kpi, channels=sim.channels,
                       controls=[*sim.controls, *[f"{DUMMY}{i}" for i in range(6)]]), PrepareOptions())
    return ws, sim


def test_timed_out_model_gets_time_then_fewer_draws_and_a_finding(dummy_ws):
    ws, sim = dummy_ws
    crafted_results(ws, sim, failed={"pymc": "timed out after 900 s", "lightweight_mmm": "crashed: boom"})
    save_state(ws, State(round=2, stage="tune"))
    cands = tuner.candidate_changes(ws, 2)
    assert [(c.key, c.new) for c in cands[:2]] == [("timeouts.pymc", 1800), ("pymc.draws", 750)]  # half of 1500
    assert "timed out after 900 s" in cands[0].evidence
    out = tuner.run(ws, 2)
    note = ws.tuning(2).read_text()
    assert out.extra["change_key"] == "timeouts.pymc=1800"
    assert "lightweight_mmm failed in round 1: crashed: boom" in note and "pymc failed in round 1" in note


def test_dummy_controls_become_events_and_country_adds_holidays(dummy_ws):
    ws, sim = dummy_ws
    crafted_results(ws, sim)
    save_state(ws, State(round=2, stage="tune"))
    cands = tuner.candidate_changes(ws, 2)
    by_key = {c.key: c for c in reversed(cands)}  # each key's first-ranked candidate
    moved = by_key["baseline.event_columns"].new
    assert moved == [f"{DUMMY}{i}" for i in range(6)]
    assert "baseline.holidays" not in by_key  # no country known: none guessed
    assert {("fourier_order", 3), ("fourier_order", 1), ("saturation.type", "logistic")} <= {(c.key, c.new) for c in cands if not isinstance(c.new, (list, dict))}
    tuner.apply_change(ws, 2, by_key["baseline.event_columns"], "r", "e")
    cfg = read_model(ws.config, Config)
    assert cfg.baseline.event_columns == moved and cfg.data.controls == sim.controls
    meta = json.loads(ws.metadata.read_text())
    meta["knowledge"]["business_context"] = {"country": "GB"}
    write_json(ws.metadata, meta)
    holidays = next(c for c in tuner.candidate_changes(ws, 2) if c.key == "baseline.holidays")
    assert holidays.new == "GB" and "GB" in holidays.evidence


def test_quick_fits_get_no_sampler_changes(dummy_ws):
    """--quick ignores the sampler settings, so doubling its draws would waste a round."""
    ws, sim = dummy_ws
    res = crafted_results(ws, sim, diagnostics={"lightweight_mmm": {"rhat_max": 1.08, "ess_bulk_min": 26.0,
                                                                    "divergences": 0, "chains": 2}})
    save_state(ws, State(round=2, stage="tune"))
    assert tuner.candidate_changes(ws, 2)[0].key == "lightweight_mmm.samples"
    res.models["lightweight_mmm"].quick = True
    write_json(ws.round_results(1), res)
    assert all(c.rule.split(":")[0] != "sampler draws" for c in tuner.candidate_changes(ws, 2))


def test_recurring_anomalies_come_from_the_training_weeks_only():
    from prism.analysis.anomalies import recurring_events

    dates = pd.Series(pd.date_range("2021-01-04", periods=156, freq="W-MON"))
    kpi = pd.Series(100.0 + np.random.default_rng(0).normal(0.0, 2.0, 156))
    kpi[[20, 72]] += 40.0   # late May 2021 and 2022: recurring, in the training weeks
    kpi[[0, 52]] += 40.0    # early January 2021 and 2022 ...
    kpi[[51]] += 40.0       # ... and late December 2021: one event across the new year
    kpi[[150]] += 80.0      # a spike in the holdout alone: never an event
    events = {e.name: e.dates for e in recurring_events(kpi, dates, n_train=120)}
    may = next(d for n, d in events.items() if n.startswith("kpi_spike_may"))
    assert may == ("2021-05-24", "2022-05-23", "2023-05-22")  # 2023 projected onto the holdout
    winter = next(d for n, d in events.items() if not n.startswith("kpi_spike_may"))
    assert {"2021-01-04", "2021-12-27", "2022-01-03"} <= set(winter) and len(events) == 2
    assert all(str(dates[150].date()) not in d for d in events.values())
