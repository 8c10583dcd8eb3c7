"""Model name → module, imported only when that model runs (each model's heavy stack stays in its process)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Callable

MODULES: dict[str, str] = {
    "ridge": "prism.models.ridge",
    "pymc": "prism.models.pymc",
    "lightweight_mmm": "prism.models.lightweight",
}


PANEL_MODULES: dict[str, str] = {"ridge": "prism.models.ridge_panel"}  # panel forms kept in a module of their own


def panel_fit(name: str) -> Callable | None:
    """The model's `fit_panel(data: PanelData, cfg, quick) -> Fitted`, None when it has no panel form yet:
    from its own module, else from its panel module (`PANEL_MODULES`)."""
    own = getattr(load(name), "fit_panel", None)
    if own is not None or name not in PANEL_MODULES:
        return own
    return importlib.import_module(PANEL_MODULES[name]).fit_panel


def load(name: str) -> ModuleType:
    """The model module for `name` (exposes `fit(data, cfg, quick)` and `ENGINE`)."""
    try:
        return importlib.import_module(MODULES[name])
    except KeyError:
        raise ValueError(f"unknown model '{name}'; known: {sorted(MODULES)}") from None
