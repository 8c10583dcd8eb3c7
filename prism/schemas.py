"""Pydantic schemas for the workspace files: config.json, metadata.json, state.json and results.

These are the contract between stages (docs/architecture/layers.md). Every read validates; unknown keys in config.json are
rejected so that a typo names itself instead of being silently ignored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

MODEL_NAMES: tuple[str, ...] = ("ridge", "pymc", "lightweight_mmm")
ModelName = Literal["ridge", "pymc", "lightweight_mmm"]
HalfSaturation = Annotated[float, Field(gt=0.0, le=10.0)]
HillSlope = Annotated[float, Field(gt=0.0, le=5.0)]
Decay = Annotated[float, Field(ge=0.0, le=0.95)]
Seconds = Annotated[int, Field(ge=1, le=86_400)]
ALL_MARKETS = "all"  # --market all: every market of a regional panel apart (planning across markets)
PRIOR_DRIVEN = "prior-driven"  # evidence flag: the posterior is still the prior
ZERO_EFFECT = "no effect found"  # evidence flag: ridge's coefficient at zero in most resamples
SourceKind = Literal["csv", "parquet", "excel", "json", "sql", "bigquery", "gsheet"]


class Strict(BaseModel):
    """Base for hand-editable files: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False,
                              use_attribute_docstrings=True)  # a field's docstring is its description (docs)


class Open(BaseModel):
    """Base for machine-written files: extra keys are kept (the results contract: more keys are welcome)."""

    model_config = ConfigDict(extra="allow")


# ----------------------------------------------------------------------------------------- config.json


class DataConfig(Strict):
    """Where the data comes from and what each column is."""

    source: SourceKind = "csv"
    """where the data is: a file (csv, parquet, excel, json), a SQL query, BigQuery or a Google Sheet"""
    path: str | None = None
    """the data file (relative to the workspace when inside it), or the sheet key or URL"""
    query: str | None = None
    """the SQL query for sources sql and bigquery"""
    url: str | None = Field(None, description="SQLAlchemy URL for source 'sql'")
    sheet: str | None = Field(None, description="Excel sheet or Google Sheets worksheet")
    project: str | None = Field(None, description="BigQuery project")
    date_column: str
    """the week (or day) column"""
    kpi: str
    """the outcome the models explain, e.g. revenue"""
    channels: list[str] = Field(min_length=1)
    """the spend columns, one per channel"""
    controls: list[str] = Field(default_factory=list)
    """other drivers of the KPI (price, promotion, macro data)"""
    entity_column: str | None = None
    """the column that names brands, regions or markets"""
    entity: str | None = Field(None, description="the entity value modelled, when the data has several")
    aggregate_entities: bool = False
    """sum every entity into one series instead of picking one"""
    market_column: str | None = None
    """the column naming the markets of a regional panel (fitted with partial pooling); None = one national series"""
    week_anchor: Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"] = "MON"
    """the weekday each week starts on when daily rows are summed into weeks"""
    fill_gaps: bool = False
    """fill missing weeks with zero spend instead of refusing them"""
    dictionary: str | None = Field(None, description="optional data_dictionary.csv")
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$",
                                 description="ISO 4217 code of spend and KPI amounts (`prism discover --currency`)")

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
        if self.market_column and self.market_column == self.entity_column:
            raise ValueError(f"'{self.market_column}' cannot be both data.market_column and data.entity_column")
        overlap = set(self.channels) & set(self.controls)
        if overlap:
            raise ValueError(f"column(s) {sorted(overlap)} cannot be both channel and control")
        for role, col in (("KPI", self.kpi), ("date column", self.date_column)):
            if col in self.channels or col in self.controls:
                raise ValueError(f"the {role} '{col}' cannot also be a channel or control")
        for where, cols in (("channels", self.channels), ("controls", self.controls)):
            twice = sorted({c for c in cols if cols.count(c) > 1})
            if twice:
                raise ValueError(f"data.{where} lists {twice} more than once")
        return self


class AdstockConfig(Strict):
    """Carry-over of spend into later weeks."""

    type: Literal["geometric", "weibull", "delayed"] = "geometric"
    """carry-over shape"""
    max_lag: int = Field(8, ge=1, le=52)
    """carry-over length in weeks"""
    decay: Decay | None = Field(None, description="global decay; None lets models learn it")
    channel_decays: dict[str, Decay] = Field(default_factory=dict)
    """fixed decay per channel"""
    decay_priors: dict[str, Decay] = Field(
        default_factory=dict, description="per-channel prior centre of a decay the models still learn")


class SaturationConfig(Strict):
    """Diminishing returns. `half` is in units of the channel's mean adstocked training spend."""

    type: Literal["hill", "logistic"] = "hill"
    """diminishing-returns curve"""
    half: HalfSaturation | None = Field(None, description="global Hill half-saturation; None = learn")
    slope: HillSlope | None = Field(None, description="global Hill slope; None = learn")
    channel_half: dict[str, HalfSaturation] = Field(default_factory=dict)
    """fixed Hill half-saturation per channel"""
    channel_slope: dict[str, HillSlope] = Field(default_factory=dict)
    """fixed Hill slope per channel"""


class RidgeConfig(Strict):
    alpha: float | None = Field(None, gt=0.0, description="None = chosen by time-series CV")
    positive: bool = True
    """media coefficients constrained to be non-negative"""
    bootstrap: int = Field(200, ge=0, le=5000)
    """moving-block bootstrap resamples behind the intervals"""
    block_length: int | None = Field(None, ge=1, description="moving-block length; None = about T^(1/3)")
    search_budget: int = Field(60, ge=1, le=5000, description="objective evaluations for the transform search")


class PymcConfig(Strict):
    # nutpie (numba-compiled gradient) × 1500 draws on 209 weeks × 10 channels × 50 controls: 65 CPU s, r̂ 1.007,
    # bulk ESS 512, no divergences, against numpyro × 1000 draws at 390 CPU s (its JAX gradient of this graph cost
    # 0.7–1.5 ms, nutpie's numba one ≈ 0.25 ms). nutpie draws are less independent (ESS 418 from 1000, so 1500);
    # target_accept 0.8 lost ESS (305) and diverged. Brand: 48 CPU s, ESS 938; simulator: ESS 689. bench/models.py.
    draws: int = Field(1500, ge=10, le=20000)
    """NUTS draws kept per chain"""
    tune: int = Field(500, ge=10, le=20000)
    """NUTS tuning steps per chain"""
    chains: int = Field(2, ge=1, le=8)
    """NUTS chains"""
    sampler: Literal["numpyro", "nutpie", "pymc"] = "nutpie"
    """NUTS implementation"""
    target_accept: float = Field(0.9, gt=0.5, lt=1.0)
    """NUTS target acceptance rate"""


class LightweightConfig(Strict):
    # 500 gave bulk ESS ≈ 360 on the simulator; 600 gave 219 on 209 × 10 × 50 controls (one coef_media; 526 with
    # another seed) and 1500 gave 918 there, r̂ 1.006, for ≈ 24 CPU s more: the target is 400
    samples: int = Field(1500, ge=10, le=20000)
    """NUTS draws kept per chain (compiled programs are kept in ~/.cache/prism/jax)"""
    warmup: int = Field(500, ge=10, le=20000)
    """NUTS warm-up steps per chain"""
    chains: int = Field(2, ge=1, le=8)
    """NUTS chains"""
    target_accept: float = Field(0.85, gt=0.5, lt=1.0)
    """NUTS target acceptance rate"""


class RoiPrior(Strict):
    """Expected ROI range for a channel (knowledge layer hook for the Bayesian priors)."""

    low: float = Field(ge=0.0)
    high: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> "RoiPrior":
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g})")
        return self


class BaselineConfig(Strict):
    """Events and holidays in the baseline: each gets its own coefficient and shows as `events`, never as media.

    `holidays` is a country code of the `holidays` package ("US", "GB", "DE", …); each holiday is one event,
    active in the week that contains it plus `holiday_window` = [weeks before, weeks after]. `event_columns`
    are the data's own 0/1 dummies, `events_text_column` a text column whose labels are one-hot encoded
    (`na`/empty = no event), `event_weeks` named events on given dates (e.g. promo weeks).
    """

    holidays: str | None = Field(None, description="country code for public holidays, e.g. 'US'; None = none")
    holiday_window: tuple[int, int] = Field((0, 0), description="[weeks before, weeks after] each holiday")
    event_columns: list[str] = Field(default_factory=list)
    """the data's own 0/1 event dummies"""
    events_text_column: str | None = None
    """a text column of event labels, one-hot encoded (na or empty = no event)"""
    event_weeks: dict[str, list[str]] = Field(default_factory=dict)
    """named events on dates (YYYY-MM-DD): the week holding each date is active"""

    @field_validator("holidays")
    @classmethod
    def _known_country(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import holidays

        if v.upper() not in holidays.list_supported_countries():
            raise ValueError(f"unknown holiday country '{v}'; use a code such as US, GB, DE, FR")
        return v.upper()

    @field_validator("holiday_window")
    @classmethod
    def _window(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not all(0 <= w <= 4 for w in v):
            raise ValueError(f"holiday_window weeks must be within 0..4, got {list(v)}")
        return v

    @field_validator("event_weeks")
    @classmethod
    def _dates(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        from datetime import date

        for name, days in v.items():
            if not name.strip() or not days:
                raise ValueError(f"event_weeks entry '{name}' needs a name and at least one date")
            for d in days:
                try:
                    date.fromisoformat(d)
                except ValueError:
                    raise ValueError(f"event_weeks.{name}: '{d}' is not a YYYY-MM-DD date") from None
        return v


class KnowledgeConfig(Strict):
    """Where `discover` pulls the knowledge layer from. A database is named by its id or by its title."""

    source: Literal["notion", "local", "none"] = "local"
    """where discover pulls the knowledge layer from"""
    databases: dict[Literal["fields", "context", "issues", "experiments"], str] = Field(
        default_factory=dict, description="Notion database id or title per table; unset = the default title")


GateAction = Literal["block", "warn"]


class GateRule(Strict):
    """One release gate of `prism refresh`: what fails it (`limit`) and whether a failure blocks the release."""

    action: GateAction = "warn"
    limit: float = Field(ge=0.0)


class Gates(Strict):
    """config.json `gates`: what a refresh must pass before its results replace the approved ones (each `block` or
    `warn`; a blocking failure keeps the approved results current)."""

    convergence: GateRule = Field(default_factory=lambda: GateRule(action="block", limit=0))
    """at most `limit` models that ran for the approved round fail in the refit, or fail sampler gates their approved fit passed"""
    holdout_error: GateRule = Field(default_factory=lambda: GateRule(action="block", limit=5.0))
    """a refitted model's holdout MAPE exceeds the approved model's error on the new weeks by at most `limit` points"""
    forecast_coverage: GateRule = Field(default_factory=lambda: GateRule(action="warn", limit=0.7))
    """at least `limit` of the new weeks lie inside the approved model's 90 % forecast interval"""
    roi_moves: GateRule = Field(default_factory=lambda: GateRule(action="warn", limit=0))
    """at most `limit` channels whose new ROI leaves the approved interval"""
    confidence_downgrades: GateRule = Field(default_factory=lambda: GateRule(action="warn", limit=0))
    """at most `limit` channels whose confidence label drops"""


class FixedScale(Strict):
    """A model's KPI and spend divisors fixed from an approved fit, so a refresh does not rescale the model."""

    kpi: float | None = Field(None, gt=0.0, description="KPI divisor (pymc: max, lightweight_mmm: mean); ridge has none")
    channels: dict[str, Annotated[float, Field(gt=0.0)]] = Field(default_factory=dict)


class WarmStart(Strict):
    """Where a refresh's refit of one model starts: the approved fit's per-channel medians, named as the engine
    names them (the worker's `--warm` file; see prism/models/warm.py)."""

    round: int = Field(ge=1, description="the approved round the values come from")
    values: dict[str, list[float]]


class Config(Strict):
    """config.json: written once by discover, then owned by the Tuner."""

    data: DataConfig
    models: list[ModelName] = Field(default_factory=lambda: list(MODEL_NAMES), min_length=1)
    """which models run"""
    adstock: AdstockConfig = Field(default_factory=AdstockConfig)
    saturation: SaturationConfig = Field(default_factory=SaturationConfig)
    holdout_weeks: int | None = Field(None, ge=1, description="None = about 10 % of weeks, at least 8")
    fourier_order: int = Field(2, ge=0, le=10)
    """yearly seasonality terms (sine/cosine pairs)"""
    trend: bool = True
    """a linear trend in the baseline"""
    seed: int = Field(42, ge=0, le=2**32 - 1)  # numpy and JAX seeds are unsigned 32-bit
    """seed of every random draw: same seed, same numbers"""
    timeouts: dict[ModelName, Seconds] = Field(
        default_factory=lambda: {"ridge": 300, "pymc": 900, "lightweight_mmm": 900}
    )
    """per-model time limit in seconds; past it the model is reported failed"""
    ridge: RidgeConfig = Field(default_factory=RidgeConfig)
    pymc: PymcConfig = Field(default_factory=PymcConfig)
    lightweight_mmm: LightweightConfig = Field(default_factory=LightweightConfig)
    roi_priors: dict[str, RoiPrior] = Field(default_factory=dict)
    """expected ROI range per channel ({"low": …, "high": …}): ridge's penalty centre and the Bayesian ROI prior; unset: the knowledge layer's ranges"""
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    gates: Gates = Field(default_factory=Gates)
    scales: dict[ModelName, FixedScale] = Field(
        default_factory=dict, description="written by `prism refresh`: the approved fit's scales, kept across refits")
    agents: dict[Literal["explorer", "tuner", "analyst", "critic", "reporter", "proofreader"],
                 Literal["rules", "claude"]] = Field(
        default_factory=dict, description="per-agent implementation for `prism loop --agents mixed` (default rules)")

    @model_validator(mode="after")
    def _channel_keys_known(self) -> "Config":
        known = set(self.data.channels)
        for where, mapping in (
            ("adstock.channel_decays", self.adstock.channel_decays),
            ("adstock.decay_priors", self.adstock.decay_priors),
            ("saturation.channel_half", self.saturation.channel_half),
            ("saturation.channel_slope", self.saturation.channel_slope),
            ("roi_priors", self.roi_priors),
            *((f"scales.{m}.channels", s.channels) for m, s in self.scales.items()),
        ):
            unknown = sorted(set(mapping) - known)
            if unknown:
                raise ValueError(f"{where} names unknown channel(s) {unknown}; channels are {sorted(known)}")
        if self.scales and self.data.market_column:
            raise ValueError(f"scales ({', '.join(sorted(self.scales))}): fixed scales are a national refresh's and a "
                             f"market panel ('{self.data.market_column}') scales each market by its own spend; "
                             f"remove them")
        b = self.baseline
        events = set(b.event_columns) | set(b.event_weeks) | {b.events_text_column} - {None}
        clash = sorted(events & (known | set(self.data.controls) | {self.data.kpi, self.data.date_column}))
        if clash:
            raise ValueError(f"baseline event column(s) or event_weeks name(s) {clash} are already the date, KPI, "
                             f"a channel or a control")
        if set(b.event_weeks) & set(b.event_columns):
            raise ValueError(f"event_weeks name(s) {sorted(set(b.event_weeks) & set(b.event_columns))} are also "
                             f"event_columns; rename them")
        return self


# --------------------------------------------------------------------------------------- metadata.json


class ColumnRole(Open):
    column: str
    role: Literal["date", "kpi", "kpi_alternative", "channel", "control", "event", "exposure", "entity", "ignored"]
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str = ""
    paired_with: str | None = Field(None, description="an exposure column's spend channel")


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


class MarketProfile(Open):
    """One market of a regional panel as discover found it."""

    size: float = Field(description="the market's share of the KPI (its mean share over the weeks)")
    weeks: int = Field(description="weeks of data the market has")


class Profile(Open):
    rows: int
    weeks: int
    start: str
    end: str
    frequency: str
    entity_column: str | None = None
    entities: list[str] = Field(default_factory=list)
    market_column: str | None = None
    markets: dict[str, MarketProfile] = Field(default_factory=dict, description="market → its size and weeks")
    columns: dict[str, ColumnStats] = Field(default_factory=dict)
    correlations: dict[str, dict[str, float]] = Field(default_factory=dict)
    gaps: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class FieldDefinition(Open):
    """One column as the business describes it (data dictionary, fields.csv or Notion's Field Definitions)."""

    column: str
    label: str | None = None
    role: str | None = None
    unit: str | None = None
    description: str | None = None
    expected_roi_min: float | None = Field(None, ge=0.0)
    expected_roi_max: float | None = Field(None, gt=0.0)
    adstock_decay: float | None = Field(None, ge=0.0, le=0.95, description="carry-over benchmark (geometric decay)")

    @model_validator(mode="after")
    def _range_ordered(self) -> "FieldDefinition":
        lo, hi = self.expected_roi_min, self.expected_roi_max
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"expected_roi_min {lo} is above expected_roi_max {hi}")
        return self


Severity = Literal["high", "medium", "low"]


class KnownIssue(Open):
    """A data problem the business knows about; `start`/`end` (ISO dates) name the weeks it touches."""

    issue: str
    column: str | None = None
    start: str | None = None
    end: str | None = None
    severity: Severity = "medium"
    action: str | None = None


class BusinessContext(Open):
    """What the brand is and how it sells; other keys are kept as given."""

    brand: str | None = None
    market: str | None = None
    currency: str | None = Field(None, description="ISO 4217 code, e.g. EUR; amounts in reports carry it")
    seasonality_notes: str | None = None
    typical_media_share: float | None = Field(None, ge=0.0, le=100.0, description="% of the KPI media drives")
    purchase_cycle: str | None = None

    @property
    def spend_unit(self) -> str:
        """What one unit of spend is called in reports: the currency code, else 'unit'."""
        return self.currency or "unit"


class Experiment(Open):
    """A lift test: the KPI a spend change caused over a period, with its standard error."""

    channel: str
    start: str
    end: str
    spend: float = Field(ge=0.0)
    incremental_kpi: float
    incremental_kpi_se: float = Field(gt=0.0)


class Knowledge(Open):
    """The knowledge layer: field definitions, business context, known issues, experiments; where and when from."""

    source: str | None = None
    pulled_at: datetime | None = None
    fields: dict[str, FieldDefinition] = Field(default_factory=dict)
    business_context: BusinessContext = Field(default_factory=BusinessContext)
    known_issues: list[KnownIssue] = Field(default_factory=list)
    experiments: list[Experiment] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="what the last pull skipped or could not read")

    def roi_ranges(self, channels: list[str]) -> dict[str, tuple[float, float]]:
        """Expected ROI (min, max) of the channels whose field definition gives both ends."""
        return {ch: (f.expected_roi_min, f.expected_roi_max) for ch in channels
                if (f := self.fields.get(ch)) and f.expected_roi_min is not None and f.expected_roi_max is not None}

    def decay_benchmarks(self, channels: list[str]) -> dict[str, float]:
        """Carry-over benchmarks of the channels that have one."""
        return {ch: f.adstock_decay for ch in channels if (f := self.fields.get(ch)) and f.adstock_decay is not None}


LABEL_SUFFIXES = ("_spend", "_cost", "_s")  # spend markers, not part of the channel's name
LABEL_PREFIXES = ("mdsp_", "mdip_")  # media spend / media impressions markers of the classic MMM files
ACRONYMS = frozenset({"tv", "ctv", "ott", "ooh", "dooh", "seo", "ppc", "crm", "sms", "pr", "kpi", "roi"})
# Common media abbreviations that make a whole channel name ("mdsp_vidtr" → TV), as planners write them.
MEDIA_ABBREVIATIONS = {"dm": "Direct mail", "vidtr": "TV", "viddig": "Online video", "audtr": "Radio",
                       "auddig": "Digital audio", "sem": "Search", "so": "Social", "on": "Online display",
                       "inst": "Inserts", "nsp": "Newspaper", "fb": "Facebook", "ig": "Instagram", "yt": "YouTube",
                       "sea": "Search", "dooh": "Digital out of home", "olv": "Online video"}


def readable_label(column: str) -> str:
    """A business label from a column name alone: `tv_S` → TV, `facebook_spend` → Facebook, `ooh_cost` → OOH,
    `mdsp_vidtr` → TV, `mdsp_dm` → Direct mail."""
    base = column.strip()
    suffix = next((x for x in LABEL_SUFFIXES if base.lower().endswith(x) and len(base) > len(x)), "")
    base = base[:len(base) - len(suffix)]
    prefix = next((x for x in LABEL_PREFIXES if base.lower().startswith(x) and len(base) > len(x)), "")
    base = base[len(prefix):]
    if base.lower() in MEDIA_ABBREVIATIONS:
        return MEDIA_ABBREVIATIONS[base.lower()]
    words = [w for w in re.split(r"[_\s]+", base) if w]
    return " ".join(w.upper() if w.lower() in ACRONYMS else w[:1].upper() + w[1:] for w in words) or column


class Metadata(Open):
    """metadata.json: refreshed by discover every round."""

    generated_at: datetime
    dataset: dict[str, Any] = Field(default_factory=dict)
    data_hash: str
    kpi: str
    kpi_alternatives: list[str] = Field(default_factory=list)
    roles: list[ColumnRole] = Field(default_factory=list)
    exposures: dict[str, list[str]] = Field(default_factory=dict, description="channel → its exposure columns")
    labels: dict[str, str] = Field(default_factory=dict)
    profile: Profile
    knowledge: Knowledge = Field(default_factory=Knowledge)
    warnings: list[str] = Field(default_factory=list)

    def label(self, column: str) -> str:
        """Business label of a column (dictionary or knowledge layer), else one read from its name."""
        if column in self.labels:
            return self.labels[column]
        field = self.knowledge.fields.get(column)
        if field and field.label:
            return field.label
        return readable_label(column)


def currency_of(cfg: "Config | None", meta: "Metadata | None") -> str | None:
    """The currency amounts are in: `prism discover --currency` (config.json), else the knowledge layer's
    business context; None when neither says (reports then write "per unit")."""
    given = cfg.data.currency if cfg is not None else None
    return given or (meta.knowledge.business_context.currency if meta is not None else None)


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
    contraction: float | None = Field(None, description="1 − posterior sd ÷ prior sd of the ROI (ridge: of its "
                                                        "coefficient, against the penalty's pull to the pooled ROI)")
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
    baseline: list[float] = Field(description="non-media fit without the events: intercept, trend, season, controls")
    contributions: dict[str, list[float]]
    train_weeks: int
    events: list[float] = Field(default_factory=list, description="all events and holidays together (empty: none)")
    event_contributions: dict[str, list[float]] = Field(default_factory=dict)


class ResponseCurve(Open):
    """Average weekly contribution against average weekly spend, scaling the channel's own spend."""

    spend: list[float]
    kpi: list[float]
    kpi_low: list[float]
    kpi_high: list[float]
    current_spend: float


class EventResult(Open):
    """One event's (holiday, dummy, promo week) part of the KPI over the training weeks."""

    contribution: float
    contribution_pct: float
    weeks: int = Field(description="training weeks in which the event is active")


class MarketChannel(Open):
    """One channel in one market of a panel fit, over the training weeks (90 % interval); a market that did
    not spend on the channel has no return there (None: JSON has no NaN)."""

    roi: float | None
    roi_low: float | None
    roi_high: float | None
    contribution: float
    spend: float


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
    events: dict[str, EventResult] = Field(default_factory=dict)
    markets: dict[str, dict[str, MarketChannel]] = Field(
        default_factory=dict, description="panel fits: market → channel → its own ROI (national figures above)")


class Agreement(Open):
    label: Literal["high", "medium", "low", "n/a"]
    cv: float | None = None
    n_models: int
    models: list[str] = Field(default_factory=list)
    mean_roi: float | None = None
    sign_disagree: bool = False
    intervals_overlap: bool = True
    note: str = ""


class Combined(Open):
    """One channel across the models that ran: what a report quotes as its likely range (never recomputed)."""

    roi: float = Field(description="mean ROI across the models")
    roi_low: float = Field(description="5 % quantile of the models' ROI draws pooled with equal weight (`pooled`), "
                                       "else the lowest 90 % interval bound of any model")
    roi_high: float = Field(description="95 % quantile of the pooled draws (`pooled`), else the highest bound")
    pooled: bool = Field(False, description="the range is the 90 % interval of the pooled draws (the round kept "
                                            "every model's draws); false: the envelope of the models' intervals")
    confidence: str = Field(description="the calibrated label (Results.confidence), else the facts' word")


class Uncalibrated(Open):
    """A tested channel's ROI without its lift tests: what the data alone say, beside the calibrated figure."""

    roi: float
    roi_low: float
    roi_high: float
    model: str = Field(description="the estimator refitted without the tests")
    method: str = Field(description="how the figure was obtained, as the report states it")


class ChannelConfidence(Open):
    """The calibrated label readers see (analysis/confidence.py) and, unless `high`, why not."""

    label: Literal["high", "medium", "low"]
    reason: str = ""
    why: list[str] = Field(default_factory=list, description="reason codes (analysis/confidence.py WHY_*)")


# test_plan.csv's designs: a national spend change, on/off flighting, no test, a market split (readers of the
# table compare with these without importing the simulation that writes it)
SPEND_CHANGE, FLIGHTING, NO_TEST, MARKET_SPLIT = "spend_change", "flighting", "none", "market_split"


class TestPlan(Open):
    """A row of results/test_plan.csv: the smallest test that would settle a channel (analysis/test_plan.py)."""

    __test__ = False  # not a pytest class, whatever its name
    channel: str
    design: Literal["spend_change", "flighting", "none", "market_split"]
    weeks: int = Field(ge=0)
    spend_change_pct: float = Field(ge=-100.0)
    expected_halfwidth_pct: float = Field(description="half-width of the 90 % interval, % of the ROI, that 9 "
                                                      "in 10 simulated tests achieved (NaN: no test; inf: the tests left "
                                                      "its ROI undecided, at the pooled ROI or at zero)")
    cost: float = Field(ge=0.0, description="spend moved, currency")
    achievable: bool = True
    markets_treated: str | None = Field(None, description="market_split: the markets whose spend changes, '; '-joined")
    markets_control: str | None = Field(None, description="market_split: the markets kept as control, '; '-joined")
    control_fit_pct: float | None = Field(None, description="market_split: the synthetic control's error over the "
                                                            "history, % of the treated markets' mean KPI")

    @field_validator("markets_treated", "markets_control", "control_fit_pct", mode="before")
    @classmethod
    def _blank(cls, v: object) -> object:
        """A national design's empty cell (read back from the CSV as NaN) is no value."""
        return None if isinstance(v, float) and v != v else v

    @field_validator("markets_control")
    @classmethod
    def _split_names_markets(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("design") == "market_split" and not (v and info.data.get("markets_treated")):
            raise ValueError("a market_split row names its treated and control markets")
        return v


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
    markets: list[str] = Field(default_factory=list, description="the panel's markets; empty for national data")
    quick: bool = False
    objective: float | None = Field(None, description="tuning objective: mean out-of-sample MAPE inside the "
                                                           "training weeks over the models that ran")
    models: dict[str, ModelResult]
    agreement: dict[str, Agreement] = Field(default_factory=dict)
    combined: dict[str, Combined] = Field(default_factory=dict, description="channel → combined interval (compare)")
    channel_average_roi: float | None = Field(None, description="mean of the channels' combined ROI (compare)")
    confidence: dict[str, ChannelConfidence] = Field(default_factory=dict)
    uncalibrated: dict[str, Uncalibrated] = Field(
        default_factory=dict, description="tested channel → its ROI refitted without the lift tests (run models)")

    def ok_models(self) -> dict[str, ModelResult]:
        """The models that really ran."""
        return {k: m for k, m in self.models.items() if m.status == "ok"}

    def likely_range(self, channel: str) -> tuple[float, float, bool]:
        """(low, high, pooled) of the channel's likely range, the one every deliverable quotes: the 90 % interval
        of the models' draws pooled with equal weight, as compare stored it (`combined`); before compare, or for
        a round without kept draws, the envelope of the models' 90 % intervals (pooled False: the reports then
        call it that, not a 90 % interval)."""
        comb = self.combined.get(channel)
        if comb is not None and comb.pooled:
            return comb.roi_low, comb.roi_high, True
        rows = [m.channels[channel] for m in self.ok_models().values() if channel in m.channels]
        return float(min(r.roi_low for r in rows)), float(max(r.roi_high for r in rows)), False


# --------------------------------------------------------------------------------------------- state


class Diag(StrEnum):
    """The diagnostics keys the models write and every reader uses, one name each."""

    RHAT_MAX = "rhat_max"
    ESS_BULK_MIN = "ess_bulk_min"
    DIVERGENCES = "divergences"
    CHAINS = "chains"
    DRAWS = "draws"
    CONVERGED = "converged"


@dataclass(frozen=True)
class GateFailure:
    """One convergence gate a model's sampler failed: which figure, its value and the limit."""

    model: str
    key: Diag
    value: float
    limit: float

    def __str__(self) -> str:
        if self.key is Diag.RHAT_MAX:
            return f"{self.model}: r-hat {self.value:.3f} > {self.limit:g}"
        if self.key is Diag.DIVERGENCES:
            return f"{self.model}: {int(self.value)} divergent transitions"
        return f"{self.model}: effective sample size {self.value:.0f} < {self.limit:.0f}"


@dataclass(frozen=True)
class Convergence:
    """The one convergence definition: the models' `converged` flag, the Critic's health gates, the Tuner's
    sampler moves and the reports all read it (Vehtari et al. 2021: r̂ ≤ 1.01, bulk ESS ≥ 400)."""

    max_rhat: float = 1.01
    min_ess: float = 400.0
    max_divergences: int = 0

    def failures(self, model: str, diagnostics: dict[str, Any]) -> list[GateFailure]:
        """The gates a model's diagnostics fail (a figure the sampler could not compute fails none)."""
        rhat, div, ess = (_finite(diagnostics.get(k)) for k in (Diag.RHAT_MAX, Diag.DIVERGENCES, Diag.ESS_BULK_MIN))
        out = []
        if rhat is not None and rhat > self.max_rhat:
            out.append(GateFailure(model, Diag.RHAT_MAX, rhat, self.max_rhat))
        if div is not None and div > self.max_divergences:
            out.append(GateFailure(model, Diag.DIVERGENCES, div, self.max_divergences))
        if ess is not None and ess < self.min_ess:
            out.append(GateFailure(model, Diag.ESS_BULK_MIN, ess, self.min_ess))
        return out

    def converged(self, diagnostics: dict[str, Any]) -> bool:
        """Several chains, every figure computed and no gate failed."""
        figures = [_finite(diagnostics.get(k)) for k in (Diag.RHAT_MAX, Diag.DIVERGENCES, Diag.ESS_BULK_MIN)]
        return (diagnostics.get(Diag.CHAINS) or 0) > 1 and None not in figures and not self.failures("", diagnostics)


CONVERGENCE = Convergence()


def _finite(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


class Status(StrEnum):
    """The status words each stage ends with: agents write them, the loop branches on them, agents/*.md name them."""

    METADATA_REFRESHED = "METADATA_REFRESHED"
    EXPLORATION_DONE = "EXPLORATION_DONE"
    CONFIG_UPDATED = "CONFIG_UPDATED"
    NO_CHANGE = "NO_CHANGE"
    ANALYSIS_DONE = "ANALYSIS_DONE"
    APPROVED = "APPROVED"
    REVISE = "REVISE"  # written as "REVISE: <reason>" (see revise())
    REJECTED = "REJECTED"  # the final review when a point is still not addressed: "REJECTED: <what>" (reject())
    REPORT_DONE = "REPORT_DONE"
    PROOFREAD_CLEAN = "PROOFREAD_CLEAN"
    PROOFREAD_CORRECTED = "PROOFREAD_CORRECTED"


REVISE_PREFIX = f"{Status.REVISE}:"
REJECT_PREFIX = f"{Status.REJECTED}:"
PROOFREAD_STATUSES = (Status.PROOFREAD_CLEAN, Status.PROOFREAD_CORRECTED)
_PREFIXED = {Status.REVISE: REVISE_PREFIX, Status.REJECTED: REJECT_PREFIX}
# the lines an agent's artifact may end with (REVISE and REJECTED carry their reason after the colon)
STATUS_LINES = tuple(_PREFIXED.get(s, str(s)) for s in Status if s is not Status.METADATA_REFRESHED)


def revise(reason: str) -> str:
    """The Critic's verdict asking the Analyst for a revision."""
    return f"{REVISE_PREFIX} {reason}"


def reject(reason: str) -> str:
    """The Critic's final verdict when the revision left a point it raised unaddressed."""
    return f"{REJECT_PREFIX} {reason}"


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


EditKind = Literal["config", "value", "report"]


class CheckpointRequest(Open):
    """.prism-checkpoint.json: the checkpoint a loop waits at, for a page to show and answer."""

    id: str = Field(description="unique per question: an answer names it, so a stale page cannot answer the next one")
    round: int
    checkpoint: str
    asked_at: datetime
    preview: str = Field("", description="the start of what is proposed (markdown)")
    edit: EditKind | None = Field(None, description="what `edit` changes: config.json, the Tuner's value, report.md")
    edit_key: str = ""
    edit_text: str = Field("", description="the current text an edit starts from")
    error: str = Field("", description="why the last edit was not accepted")


class CheckpointAnswer(Open):
    """.prism-answer.json: a page's answer to the checkpoint `id`."""

    id: str
    decision: Literal["approve", "edit", "stop"]
    by: str = Field(description="'user:<name>', like the terminal's")
    at: datetime
    edit_text: str = ""


class AgentCall(Open):
    agent: str
    impl: Literal["rules", "claude", "fallback"]
    by: Literal["session", "rules", "claude-api"] | None = Field(
        None, description="who wrote the artifact: a Claude terminal session, the rule-based agent or Claude via the API")
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
    high_confidence: int | None = Field(None, description="channels labelled high confidence (what the plans act on)")
    artifacts: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    cpu: dict[str, float] = Field(default_factory=dict)  # stage → CPU s of the loop and the workers it waited for
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


def best_round(rounds: Iterable[RoundRecord]) -> RoundRecord | None:
    """The round with the lowest tuning objective (the earlier on a tie) among rounds that ran their models."""
    scored = [r for r in rounds if r.objective is not None]
    return min(scored, key=lambda r: (r.objective, r.round)) if scored else None


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
    rounds_target: int | None = Field(None, description="the rounds asked for (`prism loop --rounds N`)")
    deliverable_round: int | None = Field(None, description="the round results/ and config.json hold once the "
                                                            "loop stopped: the best round (orchestration/handoff.py)")
    pending_checkpoint: str | None = None


# ------------------------------------------------------------------------------ refresh and governance


class Verdict(StrEnum):
    """results/refresh.json `verdict`."""

    STABLE = "stable"
    DRIFT = "drift"
    BLOCKED = "blocked"


class GateResult(Open):
    """One release gate as a refresh judged it."""

    name: str
    action: GateAction
    passed: bool
    value: float | None = None
    limit: float
    reason: str


class ForecastCheck(Open):
    """The approved model's forecast of the new weeks from their actual spend, against what came in."""

    weeks: int
    start: str
    end: str
    coverage: float = Field(description="share of new weeks inside the 90 % forecast interval")
    mape: float
    bias_pct: float = Field(description="mean (actual − forecast) ÷ mean forecast × 100")
    chi2_p: float = Field(description="p-value of the standardised misses (small: the forecast missed)")
    missed: bool
    actual_total: float
    forecast_total: float
    forecast_total_low: float
    forecast_total_high: float
    models: list[str]


class Suspect(Open):
    """A candidate for a forecast miss: how strongly its adstocked input explains the residuals."""

    name: str
    z: float
    change_pct: float = Field(description="the effect change that would explain the misses, % of its forecast")


class RefreshReport(Open):
    """results/refresh.json."""

    verdict: Verdict
    approved_round: int
    round: int
    created_at: datetime
    new_weeks: list[str]
    restated_weeks: list[str] = Field(default_factory=list)
    forecast: ForecastCheck
    gates_passed: list[GateResult] = Field(default_factory=list)
    gates_failed: list[GateResult] = Field(default_factory=list)
    suspects: list[Suspect] = Field(default_factory=list)
    flagged: list[str] = Field(default_factory=list, description="channels flagged in refresh.csv")
    current_round: int = Field(description="the round whose results are current after this refresh")
    outcomes: list[dict[str, Any]] = Field(default_factory=list, description="decisions whose weeks came in")


class Manifest(Open):
    """rounds/R{NN}_manifest.json: what reproduces a round (data, config, packages, seeds)."""

    round: int
    created_at: datetime
    data_hash: str
    config_hash: str
    config: dict[str, Any]
    packages: dict[str, str]
    python: str
    seeds: dict[str, int]
    models: dict[str, str] = Field(description="model → status")
    weeks: int
    first_week: str
    last_week: str
