"""The priors a run really uses: config.json's, with the knowledge layer's benchmarks where it gives none.

Computed at run time from metadata.json's knowledge (never written back into config.json, which the Tuner
owns): an expected ROI range becomes the channel's `roi_priors` entry (ridge: the centre of its penalty;
pymc and lightweight_mmm: the ROI prior), a carry-over benchmark its `adstock.decay_priors` entry (the
centre of the decay prior; a decay the config fixes stays fixed). An explicit config entry always wins.
Every model's diagnostics record which channels' priors were informed and by what.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from prism.data.discover import workspace_knowledge
from prism.errors import InputError
from prism.schemas import Config, Knowledge, Results, RoiPrior
from prism.workspace import Workspace, read_model

INFORMED_KEY = "informed_priors"
FROM_CONFIG, FROM_KNOWLEDGE = "config", "knowledge"
FIXED_CARRY_MODELS = ("ridge",)  # where a global config decay or a Weibull adstock leaves no decay to learn


def effective_config(cfg: Config, knowledge: Knowledge | None) -> Config:
    """`cfg` with the knowledge layer's ROI ranges and decay benchmarks added where the config has none."""
    if knowledge is None:
        return cfg
    chans = cfg.data.channels
    roi = {ch: RoiPrior(low=lo, high=hi) for ch, (lo, hi) in knowledge.roi_ranges(chans).items()}
    decays = knowledge.decay_benchmarks(chans)
    adstock = cfg.adstock.model_copy(update={"decay_priors": {**decays, **cfg.adstock.decay_priors}})
    return cfg.model_copy(update={"roi_priors": {**roi, **cfg.roi_priors}, "adstock": adstock})


def config_hash(cfg: Config) -> str:
    """The fingerprint `Results.config_hash` keeps of the effective config a round ran with."""
    return hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:16]


def workspace_config(ws: Workspace, path: Path | None = None) -> tuple[Config, Config]:
    """(config.json — or the config file at `path` —, the effective config a run fits with it): the one
    place the runner, its workers, the audit and the test plans get the config from."""
    own = read_model(path or ws.config, Config)
    return own, effective_config(own, workspace_knowledge(ws))


def round_config(ws: Workspace, res: Results) -> Config:
    """The effective config round `res` ran with, for everything that refits it (audit, test plans): the
    loop's snapshot of the round's config.json when it kept one, else config.json, with the knowledge
    layer's priors. Refuses when that is not what the round ran with (its config_hash differs): a refit
    with other settings would audit another model than the round's."""
    snapshot = ws.round_file(res.round, "config", "json")
    cfg = workspace_config(ws, snapshot if snapshot.exists() else None)[1]
    if config_hash(cfg) != res.config_hash:
        raise InputError(f"{ws.round_results(res.round)}: round {res.round} ran with another config than "
                         f"config.json and the knowledge layer give now; rerun `prism run` to refit with them")
    return cfg


def informed_priors(own: Config, used: Config, model: str) -> dict[str, dict[str, str]]:
    """{"roi": {channel: origin}, "decay": {channel: origin}} for the priors `model` took from config or knowledge."""
    ad = used.adstock
    no_learned = model in FIXED_CARRY_MODELS and (ad.decay is not None or ad.type == "weibull")
    fixed = set(used.data.channels) if no_learned else set(ad.channel_decays)
    origin = lambda ch, given: FROM_CONFIG if ch in given else FROM_KNOWLEDGE  # noqa: E731
    return {"roi": {ch: origin(ch, own.roi_priors) for ch in sorted(used.roi_priors)},
            "decay": {ch: origin(ch, own.adstock.decay_priors) for ch in sorted(ad.decay_priors) if ch not in fixed}}
