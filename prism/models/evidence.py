"""Evidence per channel: did the data decide this ROI, or the prior (Bayesian) or the penalty (ridge)?

Cross-model agreement is not evidence on its own: models that share structure and priors agree where the
data is silent. What separates a measured ROI from an assumed one is whether the data moved it:
- Bayesian models: the ROI's prior is obtained by pushing draws from the model's OWN prior through the
  same decomposition as the posterior; contraction = 1 − posterior sd ÷ prior sd, shift = |posterior mean
  − prior mean| ÷ prior sd. A channel that neither narrowed nor moved is `prior_driven`.
- Ridge: the share of bootstrap resamples whose coefficient sits at the zero bound; a channel at zero in
  most resamples is `zero_effect` (the penalty, not the data, set it). Its penalty is a Gaussian prior
  around the pooled ROI of all media, so its contraction (ridge.pool_contraction: the data's precision
  against the penalty's) says the same as the Bayesian models' does; a channel below
  PRIOR_DRIVEN_CONTRACTION is `prior_driven`: its ROI is the pool's, whatever its interval.
The thresholds live here and only here; docs/concepts/confidence.md gives the measurements behind them.
"""

from __future__ import annotations

import numpy as np

from prism.schemas import ChannelEvidence

PRIOR_DRAWS = 500  # prior draws pushed through the decomposition (the sd's sampling error is ≈ 3 %)
PRIOR_DRIVEN_CONTRACTION = 0.3  # posterior sd still above 70 % of the prior sd ...
PRIOR_DRIVEN_SHIFT = 0.5  # ... and the mean moved less than half a prior sd
ZERO_EFFECT_SHARE = 0.5  # ridge: coefficient at the zero bound in more than half the resamples
ZERO_COEF = 1e-12


def _rel_width(draws: np.ndarray) -> np.ndarray:
    """(C,) (q95 − q05) ÷ |mean|; NaN where the mean is 0."""
    mean = draws.mean(axis=0)
    width = np.quantile(draws, 0.95, axis=0) - np.quantile(draws, 0.05, axis=0)
    return np.where(np.abs(mean) > 0, width / np.where(np.abs(mean) > 0, np.abs(mean), 1.0), np.nan)


def _num(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def is_prior_driven(contraction: float, shift: float) -> bool:
    """The posterior is still the prior: barely narrower and barely moved."""
    return contraction < PRIOR_DRIVEN_CONTRACTION and shift < PRIOR_DRIVEN_SHIFT


def posterior_evidence(post: np.ndarray, prior: np.ndarray) -> list[ChannelEvidence]:
    """Per channel from (S, C) posterior and (P, C) prior ROI draws of the same decomposition."""
    prior_mean, prior_sd = prior.mean(axis=0), prior.std(axis=0)
    safe_sd = np.where(prior_sd > 0, prior_sd, np.nan)
    contraction = 1.0 - post.std(axis=0) / safe_sd
    shift = np.abs(post.mean(axis=0) - prior_mean) / safe_sd
    width = _rel_width(post)
    return [ChannelEvidence(source="posterior", rel_width=_num(width[c]), prior_roi_mean=_num(prior_mean[c]),
                            prior_roi_sd=_num(prior_sd[c]), contraction=_num(contraction[c]),
                            prior_shift_sd=_num(shift[c]),
                            prior_driven=bool(is_prior_driven(contraction[c], shift[c])))
            for c in range(post.shape[1])]


def bootstrap_evidence(roi: np.ndarray, at_zero: np.ndarray, contraction: np.ndarray | None = None
                       ) -> list[ChannelEvidence]:
    """Per channel from (S, C) bootstrap ROI draws, (S, C) flags of a coefficient at the zero bound and the
    (C,) contraction against the penalty (None: not measured)."""
    width, sd, zero = _rel_width(roi), roi.std(axis=0), at_zero.mean(axis=0)
    pooled = np.zeros(roi.shape[1], bool) if contraction is None else contraction < PRIOR_DRIVEN_CONTRACTION
    return [ChannelEvidence(source="bootstrap", rel_width=_num(width[c]), bootstrap_sd=_num(sd[c]),
                            zero_share=float(zero[c]), zero_effect=bool(zero[c] > ZERO_EFFECT_SHARE),
                            contraction=None if contraction is None else _num(contraction[c]),
                            prior_driven=bool(pooled[c]))
            for c in range(roi.shape[1])]


def channel_evidence(roi: np.ndarray, prior_roi: np.ndarray | None = None, at_zero: np.ndarray | None = None,
                     contraction: np.ndarray | None = None) -> list[ChannelEvidence]:
    """Evidence from whatever the model kept: prior draws (Bayesian), zero-bound flags and the contraction
    against the penalty (ridge), else the interval width alone (a point estimate such as MAP has no spread
    to judge)."""
    if roi.shape[0] < 2:
        return [ChannelEvidence(source="point") for _ in range(roi.shape[1])]
    if prior_roi is not None:
        return posterior_evidence(roi, prior_roi)
    if at_zero is not None:
        return bootstrap_evidence(roi, at_zero, contraction)
    width = _rel_width(roi)
    return [ChannelEvidence(source="posterior", rel_width=_num(w)) for w in width]
