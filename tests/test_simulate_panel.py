"""The panel simulator's truth: what the panel fits and their benchmarks are scored against."""

import numpy as np
import pytest

from prism.data.simulate_panel import MARKET_COLUMN, PROMO_COLUMN, realistic_panel, simulate_panel


@pytest.fixture(scope="module")
def sim():
    return simulate_panel(n_markets=10, weeks=60, n_channels=4, seed=901, regional=1)


def test_long_table_has_one_row_per_market_week(sim):
    frame = sim.frame
    assert len(frame) == 10 * 60
    assert not frame.duplicated(["date", MARKET_COLUMN]).any()
    assert list(frame.columns[:2]) == ["date", MARKET_COLUMN]
    assert {*sim.channels, *sim.controls, sim.kpi} <= set(frame.columns)


def test_market_truth_is_the_drawn_roi_and_national_is_the_pooled_ratio(sim):
    market = sim.market_roi()
    for g, m in enumerate(sim.markets):
        for c, ch in enumerate(sim.channels):
            if sim.spend[:, g, c].sum() > 0:
                assert market[m][ch] == pytest.approx(sim.drawn_roi[g, c], rel=1e-9)
            else:
                assert np.isnan(market[m][ch])
    national = sim.national_roi()
    spend = sim.spend.sum(axis=0)
    weights = spend / spend.sum(axis=0)  # national ROI = spend-weighted mean of market ROIs
    for c, ch in enumerate(sim.channels):
        assert national[ch] == pytest.approx(np.nansum(weights[:, c] * sim.drawn_roi[:, c]), rel=1e-9)
    window = sim.national_roi(slice(0, 40))
    assert window != national  # a window's truth is its own ratio, not the all-weeks one


def test_markets_differ_in_size_and_regional_channels_are_off_somewhere(sim):
    kpi = sim.frame.groupby(MARKET_COLUMN)[sim.kpi].mean()
    assert kpi.max() / kpi.min() > 5
    regional = sim.spend[:, :, -1]
    assert (regional.sum(axis=0) == 0).any() or (regional == 0).mean() > 0.3
    assert (sim.spend[:, :, 0] > 0).mean() > 0.7  # a national channel runs nearly everywhere
    assert sim.frame[PROMO_COLUMN].isin([0.0, 1.0]).all() and sim.frame[PROMO_COLUMN].sum() > 0


def test_pair_is_collinear_nationally_less_within_markets(sim):
    national = sim.spend.sum(axis=1)
    assert np.corrcoef(national[:, 0], national[:, 1])[0, 1] > 0.8
    within = [np.corrcoef(sim.spend[:, g, 0], sim.spend[:, g, 1])[0, 1] for g in range(len(sim.markets))]
    assert np.median(within) < np.corrcoef(national[:, 0], national[:, 1])[0, 1]


def test_summed_table_adds_markets(sim):
    summed = sim.summed()
    assert len(summed) == 60
    assert summed[sim.kpi].sum() == pytest.approx(sim.frame[sim.kpi].sum())
    assert summed[sim.channels[0]].sum() == pytest.approx(sim.spend[:, :, 0].sum(), rel=1e-9)


def test_same_seed_same_panel_other_seed_other_panel():
    a, b = simulate_panel(seed=902, weeks=30, n_markets=3), simulate_panel(seed=902, weeks=30, n_markets=3)
    assert a.frame.equals(b.frame)
    assert not a.frame.equals(simulate_panel(seed=903, weeks=30, n_markets=3).frame)


def test_realistic_panel_draws_its_shape():
    sim = realistic_panel(904)
    assert 12 <= len(sim.markets) <= 20 and 52 <= sim.spend.shape[0] <= 130
    with pytest.raises(ValueError):
        simulate_panel(n_channels=3, regional=4)


def test_the_truth_earns_any_spend_plan_as_it_earned_the_data() -> None:
    """`media(spend)` (what bench/test_plans.py --panel carries a test out with) reproduces the simulated
    contributions, and a market gone dark earns nothing from that channel there."""
    sim = simulate_panel(n_markets=4, weeks=40, n_channels=3, seed=904, regional=0)
    np.testing.assert_allclose(sim.media(sim.spend), sim.contributions, rtol=1e-12)
    dark = sim.spend.copy()
    dark[:, 1, 0] = 0.0
    media = sim.media(dark)
    assert media[:, 1, 0].max() == 0.0 and np.allclose(media[:, 0], sim.contributions[:, 0])
    np.testing.assert_allclose(sim.base + sim.contributions.sum(axis=2), sim.frame.pivot(
        index="date", columns=MARKET_COLUMN, values=sim.kpi).to_numpy(), atol=6 * sim.noise_sd.max())
