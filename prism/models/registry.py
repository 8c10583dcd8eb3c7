"""Model name → module, imported only when that model runs (each model's heavy stack stays in its process)."""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES: dict[str, str] = {
    "ridge": "prism.models.ridge",
    "pymc": "prism.models.pymc",
    "lightweight_mmm": "prism.models.lightweight",
}


def load(name: str) -> ModuleType:
    """The model module for `name` (exposes `fit(data, cfg, quick)` and `ENGINE`)."""
    try:
        return importlib.import_module(MODULES[name])
    except KeyError:
        raise ValueError(f"unknown model '{name}'; known: {sorted(MODULES)}") from None
