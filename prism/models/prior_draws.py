"""Draws from a NumPyro model's own prior distributions, made with numpy instead of JAX.

lightweight_mmm's prior-driven check needs 1,000 draws of each media parameter from the prior the model
samples. NumPyro's `Predictive` compiles the whole model and JAX's Gamma and Beta samplers into an XLA
program for that, about 7 CPU s per fit whenever the program is not in the compilation cache: the first
fit of every new dataset, and every loop round that changes the model's shapes. The distributions are
taken from the same objects the model samples (`lightweight._media_priors`), so the prior is specified
once; only drawing them moves to numpy (tests/test_lightweight_prior.py compares the two).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def numpy_prior_draws(priors: dict[str, Any], n_draws: int, n_channels: int, seed: int) -> dict[str, np.ndarray]:
    """{site: (n_draws, n_channels) draws} of per-channel NumPyro distributions, in the order given."""
    rng = np.random.default_rng(seed)
    return {name: draw(prior, rng, (n_draws, n_channels)) for name, prior in priors.items()}


def draw(prior: Any, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """`shape` draws of one NumPyro distribution whose parameters broadcast to `shape`'s last axes."""
    import numpyro.distributions as dist

    def param(value: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=float), shape)

    if isinstance(prior, dist.Beta):
        return rng.beta(param(prior.concentration1), param(prior.concentration0))
    if isinstance(prior, dist.Gamma):
        return rng.gamma(param(prior.concentration), 1.0 / param(prior.rate))
    if isinstance(prior, dist.HalfNormal):
        return np.abs(rng.normal(0.0, param(prior.scale)))
    if isinstance(prior, dist.LogNormal):
        return np.exp(rng.normal(param(prior.loc), param(prior.scale)))
    if isinstance(prior, dist.LeftTruncatedDistribution) and isinstance(prior.base_dist, dist.Normal):
        from scipy.stats import truncnorm

        loc, scale = param(prior.base_dist.loc), param(prior.base_dist.scale)
        return truncnorm.rvs((param(prior.low) - loc) / scale, np.inf, loc=loc, scale=scale, random_state=rng)
    raise TypeError(f"no numpy draw for a NumPyro {type(prior).__name__} prior")
