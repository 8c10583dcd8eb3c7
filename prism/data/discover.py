"""The `discover` stage: detect roles, write config.json once, weekly.parquet and metadata.json every run.

config.json belongs to the Tuner once written, so an existing one is never overwritten: a later run
re-profiles the data that config.json names (`refresh_metadata`). metadata.json always describes the
data the models fit — its KPI is config.json's KPI, its `data_hash` the hash of weekly.parquet, the one
clean weekly table every later stage reads. Only discover (or `prism prepare` in a workspace) reads the
raw source, so a data change reaches the models only through a new discover, which says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from prism.data.dictionary import Dictionary, find_dictionary, read_dictionary
from prism.data.prepare import Prepared, frame_hash, prepare, prepare_config
from prism.data.profile import build_profile
from prism.data.roles import CONFIG_ORIGIN, Overrides, Roles, detect_roles
from prism.data.sources import (RawTable, SourceSpec, approve_source, confine_to_workspace, has_variables, load_source,
                                mask_url, resolve_path)
from prism.errors import InputError
from prism.schemas import BaselineConfig, Config, DataConfig, Knowledge, Metadata
from prism.workspace import Workspace, read_model, write_json, write_weekly

LOW_CONFIDENCE = 0.6
CHANNEL_SETTINGS = (("adstock", "channel_decays"), ("saturation", "channel_half"), ("saturation", "channel_slope"),
                    ("roi_priors", None))  # config sections keyed by channel


@dataclass
class PrepareOptions:
    """How rows become weeks (mirrors the DataConfig keys of the same names)."""

    entity: str | None = None
    aggregate_entities: bool = False
    week_anchor: str = "MON"
    fill_gaps: bool = False


@dataclass
class Discovery:
    """What a discover run produced, for the CLI summary."""

    config: Config
    metadata: Metadata
    prepared: Prepared
    config_written: bool
    changes: list[str] = field(default_factory=list)  # what a re-discover with role flags changed
    previous_hash: str | None = None  # data_hash of the metadata.json this run replaced

    @property
    def change_note(self) -> str | None:
        """'data changed: old → new' when the weekly table differs from the one the last discover wrote."""
        new = self.metadata.data_hash
        if self.previous_hash is None or self.previous_hash == new:
            return None
        return f"the weekly table changed since the last discover (data or roles): data_hash {self.previous_hash} → {new}"


def discover(ws: Workspace, spec: SourceSpec | None, overrides: Overrides, options: PrepareOptions,
             dictionary: str | None = None) -> Discovery:
    """Write config.json if there is none (from `spec` + detection), then metadata.json.

    With an existing config.json and no role override, `spec` is not used: the data config.json names is
    re-profiled (metadata.json matches what the models fit). With role overrides (`--channels 'mdsp_*'`,
    `--ignore`, …) the roles are re-applied: config.json's data section and event columns are rewritten,
    the model settings kept, and `Discovery.changes` says what changed.
    """
    if ws.config.exists():
        if overrides.given():
            return _reapply(ws, read_model(ws.config, Config), spec, overrides, dictionary)
        return refresh_metadata(ws)
    if spec is None:
        raise InputError(f"{ws.config} does not exist: pass --path FILE (or --url/--query) to discover a dataset")
    spec = absolute_spec(spec, Path.cwd())
    dic = _dictionary(dictionary, spec, ws.root)
    raw, roles, data, baseline, prepared = prepare_source(spec, overrides, options, dic)
    cfg = Config(data=data.model_copy(update={"channels": prepared.channels,
                                               "path": _portable(data.path, ws.root)}), baseline=baseline)
    approve_source(spec, ws.root)  # named on the command line: config.json may point outside the workspace
    return _write(ws, cfg, raw, prepared, roles, dic)


def set_currency(ws: Workspace, code: str) -> Config:
    """Record the currency amounts are in (`--currency`) in config.json; a code that is not ISO 4217 is bad input."""
    cfg = read_model(ws.config, Config)
    code = code.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise InputError(f"--currency: '{code}' is not an ISO 4217 code (three letters, e.g. EUR, USD, GBP)")
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"currency": code})})
    write_json(ws.config, cfg)
    return cfg


def _dictionary(explicit: str | None, spec: SourceSpec, root: Path) -> Dictionary | None:
    dict_path = find_dictionary(explicit, spec.path if spec.source != "gsheet" else None, root)
    return read_dictionary(dict_path) if dict_path else None


def _write(ws: Workspace, cfg: Config, raw: RawTable, prepared: Prepared, roles: Roles, dic: Dictionary | None,
           changes: list[str] | None = None) -> Discovery:
    previous = _previous_metadata(ws)
    metadata = build_metadata(cfg, raw, prepared, roles, dic, previous.knowledge if previous else None)
    write_weekly(ws, prepared.frame)
    write_json(ws.config, cfg)
    write_json(ws.metadata, metadata)
    return Discovery(cfg, metadata, prepared, config_written=True, changes=changes or [],
                     previous_hash=previous.data_hash if previous else None)


def _reapply(ws: Workspace, cfg: Config, spec: SourceSpec | None, overrides: Overrides,
             dictionary: str | None) -> Discovery:
    """Detect roles again under the new overrides; date, KPI and entity column stay unless given anew."""
    d = cfg.data
    if spec:
        spec = absolute_spec(spec, Path.cwd())
        approve_source(spec, ws.root)
    else:
        confine_to_workspace(SourceSpec.from_config(d), ws.root)
        spec = replace(SourceSpec.from_config(d), path=_located(d.path, ws))
    overrides = replace(overrides, date=overrides.date or d.date_column, kpi=overrides.kpi or d.kpi,
                        entity_column=overrides.entity_column or d.entity_column or d.market_column)
    options = PrepareOptions(entity=d.entity, aggregate_entities=d.aggregate_entities, week_anchor=d.week_anchor,
                             fill_gaps=d.fill_gaps)
    dic = _dictionary(dictionary or d.dictionary, spec, ws.root)
    raw, roles, data, baseline, prepared = prepare_source(spec, overrides, options, dic)
    data = data.model_copy(update={"channels": prepared.channels, "path": _portable(data.path, ws.root)})
    new, changes = with_roles(cfg, data, baseline, raw.name)
    return _write(ws, new, raw, prepared, roles, dic, changes or ["no role changed"])


def _located(path: str | None, ws: Workspace) -> str | None:
    """A config path relative to the workspace, as an absolute path (the source is loaded from the cwd)."""
    if path is None or "://" in path or Path(path).is_absolute():
        return path
    return str((ws.root / path).resolve())


def with_roles(cfg: Config, data: DataConfig, baseline: BaselineConfig, name: str) -> tuple[Config, list[str]]:
    """config.json with a new data section and event columns; model settings kept, except per-channel settings
    of channels that are gone. Returns the config and one line per change."""
    old = cfg.data
    changes = [f"{key}: {before!r} → {after!r}" for key, before, after in
               (("date", old.date_column, data.date_column), ("kpi", old.kpi, data.kpi)) if before != after]
    changes += _list_change("channels", old.channels, data.channels)
    changes += _list_change("controls", old.controls, data.controls)
    changes += _list_change("events", cfg.baseline.event_columns, baseline.event_columns)
    if cfg.baseline.events_text_column != baseline.events_text_column:
        changes.append(f"events text column: {cfg.baseline.events_text_column!r} → {baseline.events_text_column!r}")
    dump = cfg.model_dump()
    dump["data"] = data.model_dump()
    dump["baseline"].update(event_columns=baseline.event_columns, events_text_column=baseline.events_text_column)
    for section, key in CHANNEL_SETTINGS:
        mapping = dump[section][key] if key else dump[section]
        for ch in [c for c in mapping if c not in data.channels]:
            del mapping[ch]
            changes.append(f"{section}{'.' + key if key else ''}: dropped the setting for '{ch}' (no longer a channel)")
    if data.market_column and dump["scales"]:
        dump["scales"] = {}
        changes.append("scales: dropped the refresh's fixed scales (a market panel scales each market by its own spend)")
    try:
        return Config.model_validate(dump), changes
    except ValidationError as exc:
        raise InputError(f"{name}: the new roles make config.json invalid: {exc.errors()[0]['msg']}") from None


def _list_change(what: str, before: list[str], after: list[str]) -> list[str]:
    added = [c for c in after if c not in before]
    removed = [c for c in before if c not in after]
    out = [f"{what} added: {', '.join(added)}"] if added else []
    return out + ([f"{what} removed: {', '.join(removed)}"] if removed else [])


def prepare_source(spec: SourceSpec, overrides: Overrides, options: PrepareOptions, dic: Dictionary | None = None
                   ) -> tuple[RawTable, Roles, DataConfig, BaselineConfig, Prepared]:
    """Load a source given on the command line (paths relative to the current folder), detect roles, prepare."""
    raw = load_source(spec, Path.cwd())
    roles = detect_roles(raw.frame, overrides, dic.roles if dic else None, raw.name)
    data = data_config(spec, roles, options, dic.path if dic else None, raw.name)
    baseline = BaselineConfig(event_columns=roles.events, events_text_column=roles.events_text)
    prepared = prepare(raw, data, baseline)
    for role in roles.table:
        if role.column in prepared.dropped_channels:
            role.role, role.reason = "ignored", "zero spend in every week: dropped"
    return raw, roles, data, baseline, prepared


def refresh_metadata(ws: Workspace) -> Discovery:
    """Reload the data config.json names: rewrite weekly.parquet and metadata.json; config.json is never touched."""
    cfg = read_model(ws.config, Config)
    raw, prepared = prepare_config(cfg, ws.root)
    d = cfg.data
    dict_path = find_dictionary(d.dictionary, d.path if d.source != "gsheet" else None, ws.root)
    dic = read_dictionary(dict_path) if dict_path else None
    b = cfg.baseline
    events = [*b.event_columns, *([b.events_text_column] if b.events_text_column else [])]
    fixed = Overrides(date=d.date_column, kpi=d.kpi, channels=d.channels, controls=d.controls,
                      entity_column=d.entity_column or d.market_column, events=events, origin=CONFIG_ORIGIN)
    roles = detect_roles(raw.frame, fixed, dic.roles if dic else None, raw.name)
    previous = _previous_metadata(ws)
    metadata = build_metadata(cfg, raw, prepared, roles, dic, previous.knowledge if previous else None)
    write_weekly(ws, prepared.frame)
    write_json(ws.metadata, metadata)
    return Discovery(cfg, metadata, prepared, config_written=False,
                     previous_hash=previous.data_hash if previous else None)


def _portable(path: str | None, root: Path) -> str | None:
    """A data file inside the workspace is stored relative to it, so the workspace can be moved."""
    if path is None or not Path(path).is_absolute() or not Path(path).is_relative_to(root):
        return path
    return str(Path(path).relative_to(root))


def absolute_spec(spec: SourceSpec, base: Path) -> SourceSpec:
    """Store a file path (or SQLite/DuckDB file URL) that still works from the workspace: absolute."""
    if spec.source in ("csv", "parquet", "excel", "json") and spec.path:
        spec = replace(spec, path=str(resolve_path(spec.path, base).resolve()))
    if spec.source == "sql" and spec.url and not has_variables(spec.url):  # a $VAR stays a reference in files
        from prism.data.sources import expand_url

        spec = replace(spec, url=expand_url(spec.url, base))
    return spec


def data_config(spec: SourceSpec, roles: Roles, options: PrepareOptions, dictionary: str | None,
                name: str) -> DataConfig:
    """The data section for config.json; a role conflict (e.g. a column both channel and control) is bad input.

    A market column (`Roles.markets`) becomes the panel dimension unless `--entity` or `--aggregate` says
    otherwise; any other entity column keeps today's rule (one entity, or all summed)."""
    panel = roles.markets and options.entity is None and not options.aggregate_entities
    try:
        return DataConfig(
            source=spec.source, path=spec.path, query=spec.query, url=spec.url, sheet=spec.sheet,
            project=spec.project, date_column=roles.date, kpi=roles.kpi, channels=roles.channels,
            controls=roles.controls, entity_column=None if panel else roles.entity_column, entity=options.entity,
            market_column=roles.entity_column if panel else None, aggregate_entities=options.aggregate_entities, week_anchor=options.week_anchor,
            fill_gaps=options.fill_gaps, dictionary=dictionary,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{name}: data.{key or '(roles)'}: {err['msg']}") from None


def build_metadata(cfg: Config, raw: RawTable, prepared: Prepared, roles: Roles, dic: Dictionary | None,
                   previous: Knowledge | None) -> Metadata:
    """metadata.json: profile of the modelled table, roles with confidence, labels and the knowledge layer."""
    profile = build_profile(prepared, cfg.data)
    knowledge = previous or Knowledge()
    if dic:
        knowledge = knowledge.model_copy(update={"source": dic.path, "fields": {**knowledge.fields, **dic.fields}})
    warnings = list(profile.warnings)
    warnings += [f"role of '{r.column}' ({r.role}) is uncertain (confidence {r.confidence:.2f}): {r.reason}"
                 for r in roles.table if r.role in ("date", "kpi", "channel", "control") and r.confidence < LOW_CONFIDENCE]
    if dic:
        missing = sorted(set(dic.fields) - set(raw.frame.columns))
        if missing:
            warnings.append(f"data dictionary {dic.path} describes column(s) not in the data: {', '.join(missing)}")
    return Metadata(
        generated_at=datetime.now(timezone.utc),
        dataset=_dataset(cfg.data, raw),
        data_hash=frame_hash(prepared.frame),
        kpi=cfg.data.kpi,
        kpi_alternatives=[c for c in roles.kpi_alternatives if c != cfg.data.kpi],
        roles=roles.table,
        exposures={ch: [e for e, c in roles.exposures.items() if c == ch] for ch in set(roles.exposures.values())},
        labels=dic.labels if dic else {},
        profile=profile,
        knowledge=knowledge,
        warnings=warnings,
    )


def _dataset(data: DataConfig, raw: RawTable) -> dict:
    where = {"path": data.path} if data.path else {}
    if data.url:
        where["url"] = mask_url(data.url)
    if data.query:
        where["query"] = data.query
    return {"source": data.source, **where, "name": Path(data.path).stem if data.path else data.source,
            "raw_rows": len(raw.frame), "raw_columns": [str(c) for c in raw.frame.columns], "notes": raw.notes}


def workspace_knowledge(ws: Workspace) -> Knowledge | None:
    """metadata.json's knowledge layer (the last good pull survives a refresh); None without a readable file."""
    previous = _previous_metadata(ws)
    return previous.knowledge if previous else None


def _previous_metadata(ws: Workspace) -> Metadata | None:
    """The metadata.json being replaced: its knowledge (business context, known issues added by other
    commands) survives the refresh, and its data_hash tells whether the data changed."""
    if not ws.metadata.exists():
        return None
    try:
        return read_model(ws.metadata, Metadata)
    except InputError:
        return None
