"""The simulator's realistic options produce what they claim, and its truth is Prism's ROI definition."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from prism.data.simulate import SATURATIONS, carryover, realistic_case, response, simulate
from prism.models.transforms import DelayedAdstock, GeometricAdstock, HillSaturation, LogisticSaturation

TEST_SEEDS = range(900, 912)  # bench/ uses other seeds: nothing here is tuned to the benchmark


def test_flighting_patterns() -> None:
    sim = simulate(weeks=156, n_channels=4, seed=1, flighting=["onoff", "bursty", "steady", "wave"])
    spend = sim.frame[sim.channels]
    assert (spend["tv_spend"] == 0).mean() > 0.2 and (spend["search_spend"] == 0).mean() > 0.5
    assert (spend["social_spend"] > 0).all()
    cv = spend.std() / spend.mean()
    assert cv["social_spend"] < 0.1 < 0.5 < cv["tv_spend"]


@pytest.mark.parametrize("pairs", [1, 2])
def test_collinear_pairs_move_together(pairs: int) -> None:
    sim = simulate(weeks=104, n_channels=5, seed=4, collinear=pairs, flighting="onoff")
    corr = sim.frame[sim.channels].corr().to_numpy()
    assert all(corr[2 * k, 2 * k + 1] >= 0.9 for k in range(pairs))
    assert corr[0, 2] < 0.9  # channels outside a pair stay distinguishable


def test_tiny_channels_are_under_two_percent_of_spend() -> None:
    sim = simulate(weeks=104, n_channels=6, seed=2, tiny_channels=2)
    share = sim.spend_share()
    assert share["radio_spend"] < 0.02 and share["video_spend"] < 0.02
    assert min(share[c] for c in sim.channels[:4]) > 0.02


def test_promo_spikes_are_unmodelled_and_recorded(tmp_path) -> None:
    sim = simulate(weeks=104, n_channels=3, seed=3, promo_weeks=4, noise=0.0)
    weeks = np.flatnonzero(sim.promo)
    assert len(weeks) == 4 and (sim.promo[weeks] > 0.1 * sim.frame["revenue"].mean()).all()
    explained = sim.baseline + sim.contributions.sum(axis=1).to_numpy() + sim.promo
    assert np.allclose(sim.frame["revenue"], explained, atol=0.01)  # noise 0: KPI is exactly the truth's parts
    truth = json.loads(sim.write(tmp_path / "sim.csv").read_text())
    assert len(truth["promo_weeks"]) == 4 and set(truth["promo_weeks"]) <= set(sim.frame["date"])


@pytest.mark.parametrize("adstock", ["geometric", "delayed"])
@pytest.mark.parametrize("curve", SATURATIONS)
def test_true_roi_is_contribution_over_spend_on_the_training_weeks(adstock: str, curve: str) -> None:
    target = [2.0, 0.5, 1.2]
    sim = simulate(weeks=120, n_channels=3, seed=5, adstock=adstock, saturation=curve, roi=target)
    assert list(sim.true_roi().values()) == pytest.approx(target)  # the target holds over all weeks
    n_train = 108
    train = sim.true_roi(slice(0, n_train))
    for ch in sim.channels:
        expected = sim.contributions[ch].iloc[:n_train].sum() / sim.frame[ch].iloc[:n_train].sum()
        assert train[ch] == pytest.approx(expected)


def test_truth_curves_equal_the_models_reference_transforms() -> None:
    """Written apart on purpose, the truth and the models' transforms still mean the same curves."""
    spend = simulate(weeks=60, n_channels=3, seed=6).frame[["tv_spend", "search_spend", "social_spend"]].to_numpy()
    decay, peak = np.array([0.6, 0.2, 0.4]), np.array([1.0, 2.0, 1.5])
    assert np.allclose(carryover(spend, "geometric", decay, peak), GeometricAdstock(max_lag=8)(spend, decay))
    assert np.allclose(carryover(spend, "delayed", decay, peak),
                       DelayedAdstock(max_lag=8, normalize=False)(spend, decay, peak))
    x, half, slope = spend / spend.mean(axis=0), np.array([1.0, 0.8, 1.3]), np.array([1.5, 1.0, 2.0])
    assert np.allclose(response(x, "hill", half, slope), HillSaturation()(x, half, slope))
    assert np.allclose(response(x, "logistic", half, slope), LogisticSaturation()(x, np.log(3.0) / half))


@pytest.mark.parametrize("seed", TEST_SEEDS)
def test_realistic_case_draws_within_its_ranges(seed: int) -> None:
    sim = realistic_case(seed)
    notes = sim.notes
    assert 52 <= len(sim.frame) <= 260 and 4 <= len(sim.channels) <= 10
    assert 0.02 <= notes["noise"] <= 0.10 and notes["promo_weeks"] == int((sim.promo > 0).sum())
    assert sum(share < 0.02 for share in sim.spend_share().values()) >= notes["tiny_channels"]
    assert all(np.isfinite(v) and v > 0 for v in sim.true_roi().values())
    assert realistic_case(seed).frame.equals(sim.frame)


def test_realistic_cases_cover_every_option() -> None:
    notes = [realistic_case(s).notes for s in TEST_SEEDS]
    assert {n["adstock"].split()[0] for n in notes} == {"geometric", "delayed"}
    assert {n["saturation"] for n in notes} == {"hill", "logistic"}
    assert {f for n in notes for f in n["flighting"]} == {"wave", "onoff", "bursty", "steady"}
    assert any(n["collinear"] for n in notes) and any(n["tiny_channels"] for n in notes)


def test_simulator_imports_no_model_code() -> None:
    code = ("import sys, prism.data.simulate; "
            "sys.exit(any(m.startswith('prism.models') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
