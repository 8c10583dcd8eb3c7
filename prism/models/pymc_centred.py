"""The pymc panel's saturation, sampled where the data pin it: a pymc-marketing component and the way back.

Why: with pymc-marketing's own Hill (asymptote β, half κ, slope s) a 40-market panel mixed badly. Every
market's intercept traded off against the shared curve (bulk ESS 5–10 from 300 draws) and NUTS took about 64
leapfrog steps a draw. The component here draws the same curves in other coordinates, in pymc-marketing's
MMM through its documented extension point (a saturation class with one function and its default priors):
- `saturation_beta` is each market's effect at the reference spend (the channel's mean spend per head), which
  the data pin, instead of the asymptote, which trades off against κ and s;
- each market's media term is centred at its own mean spend, so its intercept is its level there and no
  longer moves with the curve.
On that panel NUTS then takes about 31 steps a draw and the intercepts are no longer the slowest parameters.
Prism reads the posterior back in its usual terms: asymptotes (`asymptotes`) and a media-free baseline
(`centred_media`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prism.models.draws import MARKET_DIM
from prism.models.transforms import saturation

SHAPE_NAMES = {"hill": {"saturation_kappa": "half", "saturation_slope": "slope"}, "logistic": {"saturation_lam": "lam"}}


def centred_saturation(kind: str, reference: pd.Series, market_mean: pd.DataFrame):
    """pymc-marketing's Hill (`kind` "hill") or logistic saturation with `beta` the effect at `reference` (scaled
    spend by channel) and each market's term centred at its mean scaled spend `market_mean` (markets × channels):
    β · (f(x) − f(x̄_g)) ÷ f(reference), f the curve with asymptote 1."""
    import pymc as pm
    import pytensor.tensor as pt
    import pytensor.xtensor as ptx
    from pymc_marketing.serialization import serialization
    from pymc_marketing.mmm import HillSaturation, LogisticSaturation

    def centred(curve, x, beta, **shape):
        coords = pm.modelcontext(None).coords  # the model's own order of markets and channels
        channels, markets = list(coords["channel"]), list(coords[MARKET_DIM])
        ref = ptx.as_xtensor(pt.as_tensor(reference.loc[channels].to_numpy()), dims=("channel",))
        mean = ptx.as_xtensor(pt.as_tensor(market_mean.loc[markets, channels].to_numpy()), dims=(MARKET_DIM, "channel"))
        unit = lambda v: curve(v, beta=1.0, **shape)  # noqa: E731
        return beta * (unit(x) - unit(mean)) / unit(ref)

    class CentredHill(HillSaturation):
        lookup_name = "prism_centred_hill"

        def function(self, x, slope, kappa, beta, *, dim: str | None = None):
            return centred(super().function, x, beta, slope=slope, kappa=kappa)

    class CentredLogistic(LogisticSaturation):
        lookup_name = "prism_centred_logistic"

        def function(self, x, lam, beta, *, dim: str | None = None):
            return centred(super().function, x, beta, lam=lam)

    cls = CentredHill if kind == "hill" else CentredLogistic
    serialization.register(cls)  # the MMM serialises its components into the fit's attributes
    return cls()


def unit_curve(kind: str, draws: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The curve with asymptote 1 at scaled spend `x` ((C,) → (S, C); (G, C) → (S, G, C)) for (S, C) draws of
    pymc-marketing's shape parameters."""
    shape = {ours: draws[theirs] for theirs, ours in SHAPE_NAMES[kind].items()}
    if x.ndim == 2:
        shape = {k: v[:, None, :] for k, v in shape.items()}
    return saturation(kind)(x[None], **shape)


def asymptotes(kind: str, draws: dict[str, np.ndarray], reference: np.ndarray) -> np.ndarray:
    """(S, G, C) each market's asymptote from its sampled effect at the reference spend (`saturation_beta`)."""
    return draws["saturation_beta"] / unit_curve(kind, draws, reference)[:, None, :]


def centred_media(kind: str, draws: dict[str, np.ndarray], asymptote: np.ndarray, market_mean: np.ndarray
                  ) -> np.ndarray:
    """(S, G, C) what the centring moved into each market's intercept: the asymptote × the curve at the market's
    mean spend."""
    return asymptote * unit_curve(kind, draws, market_mean)
