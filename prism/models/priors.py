"""The priors a run really uses: config.json's, with the knowledge layer's benchmarks where it gives none.

Computed at run time from metadata.json's knowledge (never written back into config.json, which the Tuner
owns): an expected ROI range becomes the channel's `roi_priors` entry (ridge: the centre of its penalty;
pymc and lightweight_mmm: the ROI prior), a carry-over benchmark its `adstock.decay_priors` entry (the
centre of the decay prior; a decay the config fixes stays fixed). An explicit config entry always wins.
Every model's diagnostics record which channels' priors were informed and by what.
"""

from __future__ import annotations

from prism.schemas import Config, Knowledge, RoiPrior

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


def informed_priors(own: Config, used: Config, model: str) -> dict[str, dict[str, str]]:
    """{"roi": {channel: origin}, "decay": {channel: origin}} for the priors `model` took from config or knowledge."""
    ad = used.adstock
    no_learned = model in FIXED_CARRY_MODELS and (ad.decay is not None or ad.type == "weibull")
    fixed = set(used.data.channels) if no_learned else set(ad.channel_decays)
    origin = lambda ch, given: FROM_CONFIG if ch in given else FROM_KNOWLEDGE  # noqa: E731
    return {"roi": {ch: origin(ch, own.roi_priors) for ch in sorted(used.roi_priors)},
            "decay": {ch: origin(ch, own.adstock.decay_priors) for ch in sorted(ad.decay_priors) if ch not in fixed}}
