"""The reproducibility manifest every `prism run` writes: `rounds/R{NN}_manifest.json`.

A round is reproducible from its weekly table (`data_hash`), its effective config (`config_hash`, and the
config itself), the package versions that fitted it and the seeds each engine drew with. `prism history`
lists these for the approved rounds; `prism refresh` refits with the approved round's config from here.
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from importlib import metadata

import pandas as pd

from prism.schemas import Config, Manifest, Results
from prism.workspace import Workspace, write_json

PACKAGES = ("prism-mmm", "numpy", "pandas", "scipy", "scikit-learn", "pymc", "pymc-marketing", "pytensor", "jax",
            "numpyro", "arviz", "xarray")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a fit depends on ("not installed" where one is missing)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_manifest(ws: Workspace, res: Results, cfg: Config, dates: pd.DatetimeIndex) -> Manifest:
    """Write the round's manifest beside its results: `cfg` is config.json as the round ran it (its hash is the
    effective config's, knowledge-layer priors included, as in the results)."""
    manifest = Manifest(
        round=res.round, created_at=datetime.now(timezone.utc), data_hash=res.data_hash, config_hash=res.config_hash,
        config=cfg.model_dump(mode="json"), packages=package_versions(), python=platform.python_version(),
        seeds={name: cfg.seed for name in res.models},  # every engine draws from config.json's seed
        models={name: m.status for name, m in res.models.items()}, weeks=len(dates),
        first_week=str(dates[0].date()), last_week=str(dates[-1].date()))
    write_json(ws.manifest(res.round), manifest)
    return manifest
