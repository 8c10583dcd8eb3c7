"""Pydantic schemas for the workspace files: config.json, metadata.json, state.json and results.

These are the contract between stages (DESIGN.md). Every read validates; unknown keys in config.json are
rejected so that a typo names itself instead of being silently ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MODEL_NAMES: tuple[str, ...] = ("ridge", "pymc", "lightweight_mmm")
ModelName = Literal["ridge", "pymc", "lightweight_mmm"]
PRIOR_DRIVEN = "prior-driven"  # evidence flag: the posterior is still the prior
ZERO_EFFECT = "no effect found"  # evidence flag: ridge's coefficient at zero in most resamples
SourceKind = Literal["csv", "parquet", "excel", "json", "sql", "bigquery", "gsheet"]


class Strict(BaseModel):
    """Base for hand-editable files: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Open(BaseModel):
    """Base for machine-written files: extra keys are kept (DESIGN: more keys are welcome)."""

    model_config = ConfigDict(extra="allow")


# ----------------------------------------------------------------------------------------- config.json


class DataConfig(Strict):
    """Where the data comes from and what each column is."""

    source: SourceKind = "csv"
    path: str | None = None
    query: str | None = None
    url: str | None = Field(None, description="SQLAlchemy URL for source 'sql'")
    sheet: str | None = Field(None, description="Excel sheet or Google Sheets worksheet")
    project: str | None = Field(None, description="BigQuery project")
    date_column: str
    kpi: str
    channels: list[str] = Field(min_length=1)
    controls: list[str] = Field(default_factory=list)
    entity_column: str | None = None
    entity: str | None = Field(None, description="the entity value modelled, when the data has several")
    aggregate_entities: bool = False
    week_anchor: Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"] = "MON"
    fill_gaps: bool = False
    dictionary: str | None = Field(None, description="optional data_dictionary.csv")

    @model_validator(mode="after")
    def _source_has_location(self) -> "DataConfig":
        if self.source in ("csv", "parquet", "excel", "json") and not self.path:
            raise ValueError(f"source '{self.source}' needs data.path")
        if self.source == "sql" and not (self.url and self.query):
            raise ValueError("source 'sql' needs data.url and data.query")
        if self.source == "bigquery" and not self.query:
            raise ValueError("source 'bigquery' needs data.query")
        if self.source == "gsheet" and not self.path:
            raise ValueError("source 'gsheet' needs data.path (the sheet key or URL)")
        overlap = set(self.channels) & set(self.controls)
        if overlap:
            raise ValueError(f"column(s) {sorted(overlap)} cannot be both channel and control")
        return self


class AdstockConfig(Strict):
    """Carry-over of spend into later weeks."""

    type: Literal["geometric", "weibull", "delayed"] = "geometric"
    max_lag: int = Field(8, ge=1, le=52)
    decay: float | None = Field(None, ge=0.0, le=0.95, description="global decay; None lets models learn it")
    channel_decays: dict[str, float] = Field(default_factory=dict)

    @field_validator("channel_decays")
    @classmethod
    def _decays_in_range(cls, v: dict[str, float]) -> dict[str, float]:
        for ch, d in v.items():
            if not 0.0 <= d <= 0.95:
                raise ValueError(f"decay for '{ch}' must be within [0, 0.95], got {d}")
        return v


class SaturationConfig(Strict):
    """Diminishing returns. `half` is in units of the channel's mean adstocked training spend."""

    type: Literal["hill", "logistic"] = "hill"
    half: float | None = Field(None, gt=0.0, le=10.0, description="global Hill half-saturation; None = learn")
    slope: float | None = Field(None, gt=0.0, le=5.0, description="global Hill slope; None = learn")
    channel_half: dict[str, float] = Field(default_factory=dict)
    channel_slope: dict[str, float] = Field(default_factory=dict)


class RidgeConfig(Strict):
    alpha: float | None = Field(None, gt=0.0, description="None = chosen by time-series CV")
    positive: bool = True
    bootstrap: int = Field(200, ge=0, le=5000)
    block_length: int | None = Field(None, ge=1, description="moving-block length; None = about T^(1/3)")
    search_budget: int = Field(60, ge=1, le=5000, description="objective evaluations for the transform search")


class PymcConfig(Strict):
    # numpyro × 1000 draws on the 132 × 8 brand: 17 s, r̂ 1.004, bulk ESS 873; on the 208 × 5 simulator: 25 s,
    # ESS 793, median ROI error 9.6 %. nutpie (12 s) fell short of ESS 400 on the simulator with 750 draws, and
    # PyMC's own sampler (the reference, 12 s warm) compiles C code on a fresh machine. See bench/models.py.
    draws: int = Field(1000, ge=10, le=20000)
    tune: int = Field(500, ge=10, le=20000)
    chains: int = Field(2, ge=1, le=8)
    sampler: Literal["numpyro", "nutpie", "pymc"] = "numpyro"
    target_accept: float = Field(0.9, gt=0.5, lt=1.0)


class LightweightConfig(Strict):
    samples: int = Field(600, ge=10, le=20000)  # 500 gave bulk ESS ≈ 360 on the simulator; the target is 400
    warmup: int = Field(500, ge=10, le=20000)
    chains: int = Field(2, ge=1, le=8)
    target_accept: float = Field(0.85, gt=0.5, lt=1.0)


class RoiPrior(Strict):
    """Expected ROI range for a channel (knowledge layer hook for the Bayesian priors)."""

    low: float = Field(ge=0.0)
    high: float = Field(gt=0.0)


class Config(Strict):
    """config.json: written once by discover, then owned by the Tuner."""

    data: DataConfig
    models: list[ModelName] = Field(default_factory=lambda: list(MODEL_NAMES), min_length=1)
    adstock: AdstockConfig = Field(default_factory=AdstockConfig)
    saturation: SaturationConfig = Field(default_factory=SaturationConfig)
    holdout_weeks: int | None = Field(None, ge=1, description="None = about 10 % of weeks, at least 8")
    fourier_order: int = Field(2, ge=0, le=10)
    trend: bool = True
    seed: int = 42
    timeouts: dict[ModelName, int] = Field(
        default_factory=lambda: {"ridge": 300, "pymc": 900, "lightweight_mmm": 900}
    )
    ridge: RidgeConfig = Field(default_factory=RidgeConfig)
    pymc: PymcConfig = Field(default_factory=PymcConfig)
    lightweight_mmm: LightweightConfig = Field(default_factory=LightweightConfig)
    roi_priors: dict[str, RoiPrior] = Field(default_factory=dict)
    agents: dict[Literal["explorer", "tuner", "analyst", "critic", "reporter", "proofreader"],
                 Literal["rules", "claude"]] = Field(
        default_factory=dict, description="per-agent implementation for `prism loop --agents mixed` (default rules)")

    @model_validator(mode="after")
    def _channel_keys_known(self) -> "Config":
        known = set(self.data.channels)
        for where, mapping in (
            ("adstock.channel_decays", self.adstock.channel_decays),
            ("saturation.channel_half", self.saturation.channel_half),
            ("saturation.channel_slope", self.saturation.channel_slope),
            ("roi_priors", self.roi_priors),
        ):
            unknown = sorted(set(mapping) - known)
            if unknown:
                raise ValueError(f"{where} names unknown channel(s) {unknown}; channels are {sorted(known)}")
        return self


# --------------------------------------------------------------------------------------- metadata.json


class ColumnRole(Open):
    column: str
    role: Literal["date", "kpi", "kpi_alternative", "channel", "control", "entity", "ignored"]
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str = ""


class ColumnStats(Open):
    column: str
    dtype: str
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    total: float | None = None
    zero_share: float | None = None
    missing_share: float = 0.0
    corr_kpi: float | None = None


class Profile(Open):
    rows: int
    weeks: int
    start: str
    end: str
    frequency: str
    entity_column: str | None = None
    entities: list[str] = Field(default_factory=list)
    columns: dict[str, ColumnStats] = Field(default_factory=dict)
    correlations: dict[str, dict[str, float]] = Field(default_factory=dict)
    gaps: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class FieldDefinition(Open):
    column: str
    label: str | None = None
    role: str | None = None
    unit: str | None = None
    description: str | None = None
    expected_roi_min: float | None = None
    expected_roi_max: float | None = None
    adstock_decay: float | None = None


class KnownIssue(Open):
    issue: str
    severity: Literal["high", "medium", "low"] = "medium"
    action: str | None = None


class Knowledge(Open):
    """The knowledge layer: field definitions, business context, known issues, channel benchmarks."""

    source: str | None = None
    fields: dict[str, FieldDefinition] = Field(default_factory=dict)
    business_context: dict[str, str] = Field(default_factory=dict)
    known_issues: list[KnownIssue] = Field(default_factory=list)


class Metadata(Open):
    """metadata.json: refreshed by discover every round."""

    generated_at: datetime
    dataset: dict[str, Any] = Field(default_factory=dict)
    data_hash: str
    kpi: str
    kpi_alternatives: list[str] = Field(default_factory=list)
    roles: list[ColumnRole] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    profile: Profile
    knowledge: Knowledge = Field(default_factory=Knowledge)
    warnings: list[str] = Field(default_factory=list)

    def label(self, column: str) -> str:
        """Business label of a column (dictionary or knowledge layer), else a tidied column name."""
        if column in self.labels:
            return self.labels[column]
        field = self.knowledge.fields.get(column)
        if field and field.label:
            return field.label
        return column.replace("_", " ").strip().title()


# ------------------------------------------------------------------------------------------- results


class ChannelEvidence(Open):
    """How far the data, not the prior or the penalty, decided a channel's ROI (models/evidence.py).

    Bayesian models fill the prior fields (the same decomposition run on draws from the model's own prior);
    ridge fills the bootstrap fields. `prior_driven` / `zero_effect` are the flags the reports show.
    """

    source: Literal["posterior", "bootstrap", "point"]
    rel_width: float | None = Field(None, description="(roi_high − roi_low) ÷ |roi| of the 90 % interval")
    prior_roi_mean: float | None = None
    prior_roi_sd: float | None = None
    contraction: float | None = Field(None, description="1 − posterior sd ÷ prior sd of the ROI")
    prior_shift_sd: float | None = Field(None, description="|posterior mean − prior mean| ÷ prior sd")
    bootstrap_sd: float | None = Field(None, description="sd of the ROI across bootstrap resamples")
    zero_share: float | None = Field(None, description="share of resamples with the channel's coefficient at 0")
    prior_driven: bool = False
    zero_effect: bool = False

    @property
    def flag(self) -> str:
        """The word a reader sees beside the ROI, empty when the data decided it."""
        return PRIOR_DRIVEN if self.prior_driven else ZERO_EFFECT if self.zero_effect else ""


class ChannelResult(Open):
    roi: float
    roi_low: float
    roi_high: float
    contribution: float
    contribution_pct: float
    mroi: float
    saturation_pct: float
    spend: float
    params: dict[str, float] = Field(default_factory=dict)
    evidence: ChannelEvidence | None = None


class FitMetrics(Open):
    r2: float
    mape_train: float
    mape_test: float | None = None
    cv_mape: float | None = None


class Weekly(Open):
    """Weekly series over all weeks (training then holdout); `train_weeks` marks the split."""

    dates: list[str]
    actual: list[float]
    fitted: list[float]
    fitted_low: list[float] = Field(default_factory=list)
    fitted_high: list[float] = Field(default_factory=list)
    baseline: list[float]
    contributions: dict[str, list[float]]
    train_weeks: int


class ResponseCurve(Open):
    """Average weekly contribution against average weekly spend, scaling the channel's own spend."""

    spend: list[float]
    kpi: list[float]
    kpi_low: list[float]
    kpi_high: list[float]
    current_spend: float


class ModelResult(Open):
    status: Literal["ok", "failed", "skipped"]
    reason: str | None = None
    engine: str = ""
    version: str = ""
    seconds: float = 0.0
    quick: bool = False
    fit: FitMetrics | None = None
    diagnostics: dict[str, Any] = Field(default_factory=dict)
    channels: dict[str, ChannelResult] = Field(default_factory=dict)
    weekly: Weekly | None = None
    curves: dict[str, ResponseCurve] = Field(default_factory=dict)


class Agreement(Open):
    label: Literal["high", "medium", "low", "n/a"]
    cv: float | None = None
    n_models: int
    models: list[str] = Field(default_factory=list)
    mean_roi: float | None = None
    sign_disagree: bool = False
    intervals_overlap: bool = True
    note: str = ""


class Results(Open):
    """results/latest.json and rounds/R{NN}_results.json."""

    round: int
    data_hash: str
    config_hash: str
    created_at: datetime
    kpi: str
    channels: list[str]
    weeks: int
    train_weeks: int
    holdout_weeks: int
    quick: bool = False
    objective: float | None = Field(None, description="tuning objective: CV MAPE inside the training weeks")
    models: dict[str, ModelResult]
    agreement: dict[str, Agreement] = Field(default_factory=dict)

    def ok_models(self) -> dict[str, ModelResult]:
        """The models that really ran."""
        return {k: m for k, m in self.models.items() if m.status == "ok"}


# --------------------------------------------------------------------------------------------- state


Stage = Literal[
    "discover", "explore", "tune", "run", "compare", "analyze", "critique", "revise", "recritique",
    "report", "proofread", "done",
]


class Decision(Open):
    """An audit-trail entry for a human checkpoint."""

    round: int
    checkpoint: str
    decision: Literal["approve", "edit", "stop"]
    by: str = Field(description="'user' or why no one approved: 'auto-approve', 'no-terminal'")
    at: datetime
    note: str = ""


class AgentCall(Open):
    agent: str
    impl: Literal["rules", "claude", "fallback"]
    stage: str | None = None
    model: str | None = None
    calls: int = 0
    seconds: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    note: str = ""


class RoundRecord(Open):
    round: int
    status: Literal["running", "done", "stopped"] = "running"
    change: str = "baseline"
    change_key: str | None = Field(None, description="the Tuner's change as KEY=VALUE (what a revert undoes)")
    verdicts: dict[str, str] = Field(default_factory=dict)
    objective: float | None = None
    test_mape: dict[str, float | None] = Field(default_factory=dict)
    high_agreement: int | None = None
    artifacts: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    agents: list[AgentCall] = Field(default_factory=list)
    readiness: int | None = None
    channels: int | None = None
    model_status: dict[str, str] = Field(default_factory=dict)
    open_issues: list[str] = Field(default_factory=list)
    render_note: str | None = None

    @property
    def verdict(self) -> str:
        """The Critic's last word on the round: after a revision the re-critique decides."""
        return self.verdicts.get("recritique") or self.verdicts.get("critic") or ""


class State(Open):
    """state.json: where the loop is, what each round did, and the audit trail."""

    round: int = 0
    stage: Stage = "discover"
    rounds: list[RoundRecord] = Field(default_factory=list)
    best_round: int | None = None
    best_objective: float | None = None
    reverted_changes: list[str] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)
    stopped_reason: str | None = None
    pending_checkpoint: str | None = None
