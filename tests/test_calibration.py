"""bench/calibration.py: the product's per-channel label on rows with known truth, the threshold fit, the row file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import calibration
from prism.analysis import confidence
from prism.analysis.compare import channel_agreement
from prism.schemas import MODEL_NAMES
from tests.test_simulate import TEST_SEEDS

RNG_SEED = 11
Z90 = 3.29  # a 90 % interval spans 3.29 sd


def row(seed: int, channel: str, model: str, true: float, roi: float, width: float, **extra) -> dict:
    """One saved row as fit_case writes it: a model's ROI with a 90 % interval `width` × the ROI wide."""
    bayes = model != "ridge"
    return {"seed": seed, "weeks": 156, "train_weeks": 140, "channel": channel, "model": model, "status": "ok",
            "reason": "", "collinear": False, "true_roi": true, "roi": roi, "roi_low": roi * (1 - width / 2),
            "roi_high": roi * (1 + width / 2), "evidence_source": "posterior" if bayes else "bootstrap",
            "rel_width": width, "contraction": 0.8 if bayes else np.nan, "prior_shift_sd": 2.0 if bayes else np.nan,
            "zero_share": np.nan if bayes else 0.0, "prior_driven": False, "zero_effect": False, "audit": "",
            **extra}


def synthetic_rows(n_seeds: int = 40, n_channels: int = 5) -> pd.DataFrame:
    """Datasets where each channel's precision sets both its interval width and how far the models are off
    together (they share structure, so they agree on a wrong figure as easily as on a right one)."""
    rng = np.random.default_rng(RNG_SEED)
    rows = []
    for seed in range(n_seeds):
        for c in range(n_channels):
            true, width = rng.uniform(0.5, 4.0), rng.uniform(0.2, 3.0)
            shared = rng.normal(0, width / Z90)
            for model in MODEL_NAMES:
                roi = true * (1 + shared + rng.normal(0, 0.05))
                rows.append(row(seed, f"ch{c}", model, true, roi, width))
    return pd.DataFrame(rows)


def test_the_threshold_fit_meets_the_targets_and_is_the_widest_that_does() -> None:
    chans = calibration.channel_signals(synthetic_rows())
    high, medium = calibration.fit_thresholds(chans)
    assert calibration.fit_thresholds(chans[chans["width"] > high]) is None  # only the far-off ones: no fit
    fitted = calibration.labelled(chans, high, medium)
    sel = fitted[fitted["label"] == confidence.HIGH]
    assert len(sel) >= calibration.MIN_HIGH
    assert sel["error"].median() <= confidence.TARGET_MEDIAN_ERROR
    assert (sel["error"] > calibration.FAR_OFF).mean() <= confidence.TARGET_FAR_OFF_SHARE
    wider = round(high + 0.05, 2)
    assert not calibration.meets_high(calibration.labelled(chans, wider, wider))
    assert calibration.GRID[0] < high <= medium
    assert (fitted[fitted["label"] == confidence.LOW]["error"] > calibration.FAR_OFF).mean() > 0.3


def test_a_width_must_meet_the_targets_on_national_and_panel_data_alike() -> None:
    """Many right panel channels must not carry a width that lets far-off national ones through: pooled, the
    national misses hide in the panel's hits, so the fit would ship a width the national data cannot bear."""
    chans = calibration.channel_signals(synthetic_rows())
    high, _ = calibration.fit_thresholds(chans)
    wider = round(high + 0.5, 2)
    national = calibration.labelled(chans, wider, wider)
    assert not calibration.meets_high(national)
    right = national[national["label"] == confidence.HIGH].assign(kind=calibration.PANEL, error=0.05)
    hits = pd.concat([right.assign(seed=right["seed"] + 1000 * k) for k in range(1, 20)])
    pooled = pd.concat([national, hits], ignore_index=True)
    sel = pooled[pooled["label"] == confidence.HIGH]
    assert (sel["error"] > calibration.FAR_OFF).mean() <= confidence.TARGET_FAR_OFF_SHARE  # pooled, it would pass
    assert sel["error"].median() <= confidence.TARGET_MEDIAN_ERROR
    assert not calibration.meets_high(pooled)
    assert calibration.meets_high(pooled[pooled["kind"] == calibration.PANEL])


def test_the_bench_label_is_the_products_per_channel_label() -> None:
    """Across the three models: the bench's labels are `confidence.channel_confidence`'s for the same results,
    the headline is the mean over the models that ran, and a failed model is left out."""
    rows = pd.DataFrame([
        *(row(1, "tv", m, 2.0, 2.0 + d, 0.1) for m, d in zip(MODEL_NAMES, (-0.1, 0.0, 0.1))),  # narrow, agree
        *(row(1, "radio", m, 1.0, 1.0, 0.1, prior_driven=m != "ridge") for m in MODEL_NAMES),
        *(row(1, "search", m, 1.0, r, 0.4) for m, r in zip(MODEL_NAMES, (0.2, 1.0, 2.5))),  # disagree
        *(row(2, "tv", m, 2.0, 1.0 if m == "pymc" else 2.0, 0.1) for m in MODEL_NAMES),
    ])
    rows.loc[(rows["seed"] == 2) & (rows["model"] == "pymc"), ["status", "reason"]] = ["failed", "timed out"]
    chans = calibration.labelled(calibration.channel_signals(rows), confidence.HIGH_WIDTH, confidence.MEDIUM_WIDTH)
    got = {(r.seed, r.channel): r.label for r in chans.itertuples()}
    assert got == {(1, "tv"): "high", (1, "radio"): "low", (1, "search"): "low", (2, "tv"): "high"}
    for seed, part in rows.groupby("seed"):
        res = calibration.results_of(part)
        res.agreement = channel_agreement(res)
        product = confidence.channel_confidence(res)
        assert {ch: c.label for ch, c in product.items()} == {ch: got[(seed, ch)] for ch in res.channels}
    seed2 = chans[chans["seed"] == 2].iloc[0]
    assert seed2["n_models"] == 2 and seed2["roi"] == pytest.approx(2.0) and seed2["error"] == pytest.approx(0.0)
    search = chans[(chans["seed"] == 1) & (chans["channel"] == "search")].iloc[0]
    assert search["roi"] == pytest.approx((0.2 + 1.0 + 2.5) / 3)


def test_thresholds_are_judged_on_the_half_they_were_not_fitted_on_and_the_stricter_fit_ships() -> None:
    chans = calibration.channel_signals(synthetic_rows(n_seeds=60))
    odd, even = (calibration.fit_thresholds(calibration.half(chans, h)) for h in ("odd", "even"))
    assert odd != even  # the halves disagree, so the rule has something to choose
    assert calibration.shipped_thresholds(chans) == (min(odd[0], even[0]), min(odd[1], even[1]))
    (judged, fitted_on, fitted, part), _ = calibration.held_out(chans)
    assert (judged, fitted_on, fitted) == ("odd", "even", even)
    assert set(part["seed"] % 2) == {1} and len(part) == len(calibration.half(chans, "odd"))
    expected = calibration.labelled(calibration.half(chans, "odd"), *even)["label"]
    assert part["label"].tolist() == expected.tolist()
    no_fit = chans[(chans["seed"] % 2 == 1) | (chans["width"] > max(odd[0], even[0]))]  # even: only far-off ones
    assert calibration.fit_thresholds(calibration.half(no_fit, "even")) is None
    assert calibration.shipped_thresholds(no_fit) is None and calibration.held_out(no_fit)[0][3].empty


def test_an_audit_verdict_on_the_rows_caps_the_label() -> None:
    rows = pd.DataFrame([row(1, "tv", m, 2.0, 2.0, 0.1, audit="not" if m == "ridge" else "") for m in MODEL_NAMES])
    chans = calibration.labelled(calibration.channel_signals(rows), confidence.HIGH_WIDTH, confidence.MEDIUM_WIDTH)
    assert chans["label"].tolist() == [confidence.LOW]
    blind = calibration.channel_signals(rows, audit=False)
    assert calibration.labelled(blind, confidence.HIGH_WIDTH, confidence.MEDIUM_WIDTH)["label"].tolist() == ["high"]


def test_refitting_some_models_replaces_only_their_rows() -> None:
    old = pd.DataFrame([row(s, "tv", m, 2.0, 1.0, 0.3) for s in (301, 302) for m in MODEL_NAMES])
    new = pd.DataFrame([row(302, "tv", "ridge", 2.0, 1.9, 0.3)])
    merged = calibration.merge_rows(old, new)
    assert len(merged) == len(old)
    assert merged.set_index(["seed", "model"]).loc[(302, "ridge"), "roi"] == 1.9
    assert (merged[merged["model"] != "ridge"]["roi"] == 1.0).all()
    assert (merged.set_index(["seed", "model"]).loc[(301, "ridge"), "roi"] == 1.0)


def test_a_partial_run_labels_only_the_datasets_every_model_has_fitted() -> None:
    rows = pd.DataFrame([*(row(301, "tv", m, 2.0, 2.0, 0.1) for m in MODEL_NAMES), row(302, "tv", "ridge", 2.0, 2.0, 0.1)])
    assert calibration.complete(rows)["seed"].unique().tolist() == [301]


def test_bench_seeds_are_not_test_seeds() -> None:
    assert len(calibration.BENCH_SEEDS) >= 30
    assert not set(calibration.BENCH_SEEDS) & set(TEST_SEEDS)
    assert calibration.parse_args(["--seeds", "301", "302"]).seeds == [301, 302]
    with pytest.raises(SystemExit):
        calibration.parse_args(["--seeds", str(TEST_SEEDS[0])])
