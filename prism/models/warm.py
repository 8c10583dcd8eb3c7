"""Warm starts: a refresh's refit starts each engine from the approved fit instead of its priors' centre.

The refit sees the approved weeks plus a few new ones, with the approved scales (`scales.py`), so the
approved parameters sit next to the new optimum in the same units. Each engine starts there as far as its
library allows:
- ridge: the first carry-over search (L-BFGS-B on the reference curve, `fit_transforms`) starts at the
  approved fit's optimum of that search (its diagnostics `reference_carry`) with short first steps; the
  penalties are still weighted at the prior centre and the second search starts where the first ended,
  as in a cold fit, so the refit solves the same problems, from closer;
- lightweight_mmm: NumPyro's `init_to_value` with the approved medians of the media parameters, the other
  sites `init_to_median` as in a cold fit;
- pymc: none; it refits cold. PyMC's way in (`pm.sample(initvals=...)`, which becomes nutpie's
  `initial_points`; `find_MAP(start=...)`) builds the start through `make_initial_point_fn`, which with
  PyMC 6.3 cannot take a per-channel value for pymc-marketing 1.3's dimension-named (xtensor) variables:
  a NumPy array fails as "non-scalar TensorVariable cannot be converted to XTensorVariable without dims",
  and an xtensor constant as a forbidden XTensorVariable → TensorVariable conversion
  (tests/test_warm_start.py keeps checking this, so that the day it works is noticed).
The priors stay where they were: a warm start changes where the search or the chains begin, not the model.
"""

from __future__ import annotations

import numpy as np

from prism.models.draws import KeptDraws
from prism.schemas import FixedScale, ModelResult, WarmStart

# KeptDraws parameter → the engine's own name for it (same scaled units once the scales are fixed)
SITES: dict[str, dict[str, str]] = {
    "lightweight_mmm": {"decay": "lag_weight", "coef": "coef_media", "half": "half_max_effective_concentration",
                        "slope": "slope"},
}
RIDGE_CARRY = "carry"  # ridge's decay, or Weibull scale in weeks
REFERENCE_CARRY_KEY = "reference_carry"  # ridge's diagnostics entry: the first search's optimum, per free channel
WARM_KEY = "warm_start"  # diagnostics entry: the approved round and the values that started the fit


def warm_start(kd: KeptDraws, result: ModelResult, fixed: FixedScale, round_no: int) -> WarmStart | None:
    """Where the refit of the approved fit (`kd`, `result`) starts, in the engine's names and units, one
    value per channel: ridge's first search optimum (None for a fit that did not record it), lightweight_mmm's
    posterior medians of its media parameters (under the refit's fixed scales: its coefficient is on the
    KPI divided by `fixed.kpi`); None for an engine that cannot start elsewhere (pymc)."""
    if kd.model == "ridge":
        found = result.diagnostics.get(REFERENCE_CARRY_KEY)
        if found is None:
            return None
        carry = np.median(kd.adstock_params["scale" if kd.adstock_type == "weibull" else "decay"], axis=0)
        return WarmStart(round=round_no, values={RIDGE_CARRY: [found.get(ch, float(v))  # a fixed carry: its value
                                                               for ch, v in zip(kd.channels, carry)]})
    if kd.model not in SITES:
        return None
    named = {**kd.adstock_params, **kd.saturation_params, "coef": kd.coef / fixed.kpi}
    return WarmStart(round=round_no, values={site: np.median(named[k], axis=0).tolist()
                                             for k, site in SITES[kd.model].items() if k in named})


def arrays(warm: WarmStart | None) -> dict[str, np.ndarray]:
    """The values as float arrays by engine name (empty without a warm start)."""
    return {k: np.asarray(v, dtype=float) for k, v in warm.values.items()} if warm else {}


def note(warm: WarmStart, used: list[str]) -> dict[str, object]:
    """The diagnostics entry: the approved round and the values of it that started the fit."""
    return {"round": warm.round, "start": {k: warm.values[k] for k in sorted(used)}}
