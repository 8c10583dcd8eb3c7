"""The `discover` stage: detect roles, write config.json once, write metadata.json every run.

config.json belongs to the Tuner once written, so an existing one is never overwritten: a later run
re-profiles the data that config.json names (`refresh_metadata`). metadata.json always describes the
data the models fit — its KPI is config.json's KPI.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from prism.data.dictionary import Dictionary, find_dictionary, read_dictionary
from prism.data.prepare import Prepared, frame_hash, prepare, prepare_config
from prism.data.profile import build_profile
from prism.data.roles import CONFIG_ORIGIN, Overrides, Roles, detect_roles
from prism.data.sources import RawTable, SourceSpec, load_source, mask_url, resolve_path
from prism.errors import InputError
from prism.schemas import Config, DataConfig, Knowledge, Metadata
from prism.workspace import Workspace, read_model, write_json

LOW_CONFIDENCE = 0.6


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


def discover(ws: Workspace, spec: SourceSpec | None, overrides: Overrides, options: PrepareOptions,
             dictionary: str | None = None) -> Discovery:
    """Write config.json if there is none (from `spec` + detection), then metadata.json.

    With an existing config.json (any later run, `--no-overwrite-config`), `spec` and the overrides are
    not used: the data config.json names is re-profiled instead, so metadata.json matches what the models fit.
    """
    if ws.config.exists():
        cfg = read_model(ws.config, Config)
        metadata, prepared = _refresh(ws, cfg)
        return Discovery(cfg, metadata, prepared, config_written=False)
    if spec is None:
        raise InputError(f"{ws.config} does not exist: pass --path FILE (or --url/--query) to discover a dataset")
    spec = absolute_spec(spec, Path.cwd())
    dict_path = find_dictionary(dictionary, spec.path if spec.source != "gsheet" else None, ws.root)
    dic = read_dictionary(dict_path) if dict_path else None
    raw, roles, data, prepared = prepare_source(spec, overrides, options, dic)
    cfg = Config(data=data.model_copy(update={"channels": prepared.channels,
                                               "path": _portable(data.path, ws.root)}))
    metadata = build_metadata(cfg, raw, prepared, roles, dic, workspace_knowledge(ws))
    write_json(ws.config, cfg)
    write_json(ws.metadata, metadata)
    return Discovery(cfg, metadata, prepared, config_written=True)


def prepare_source(spec: SourceSpec, overrides: Overrides, options: PrepareOptions, dic: Dictionary | None = None
                   ) -> tuple[RawTable, Roles, DataConfig, Prepared]:
    """Load a source given on the command line (paths relative to the current folder), detect roles, prepare."""
    raw = load_source(spec, Path.cwd())
    roles = detect_roles(raw.frame, overrides, dic.roles if dic else None, raw.name)
    data = data_config(spec, roles, options, dic.path if dic else None, raw.name)
    prepared = prepare(raw, data)
    for role in roles.table:
        if role.column in prepared.dropped_channels:
            role.role, role.reason = "ignored", "zero spend in every week: dropped"
    return raw, roles, data, prepared


def refresh_metadata(ws: Workspace) -> Metadata:
    """Re-profile the data config.json names and rewrite metadata.json; config.json is never touched."""
    cfg = read_model(ws.config, Config)
    metadata, _ = _refresh(ws, cfg)
    return metadata


def _refresh(ws: Workspace, cfg: Config) -> tuple[Metadata, Prepared]:
    raw, prepared = prepare_config(cfg, ws.root)
    d = cfg.data
    dict_path = find_dictionary(d.dictionary, d.path if d.source != "gsheet" else None, ws.root)
    dic = read_dictionary(dict_path) if dict_path else None
    fixed = Overrides(date=d.date_column, kpi=d.kpi, channels=d.channels, controls=d.controls,
                      entity_column=d.entity_column, origin=CONFIG_ORIGIN)
    roles = detect_roles(raw.frame, fixed, dic.roles if dic else None, raw.name)
    metadata = build_metadata(cfg, raw, prepared, roles, dic, workspace_knowledge(ws))
    write_json(ws.metadata, metadata)
    return metadata, prepared


def _portable(path: str | None, root: Path) -> str | None:
    """A data file inside the workspace is stored relative to it, so the workspace can be moved."""
    if path is None or not Path(path).is_absolute() or not Path(path).is_relative_to(root):
        return path
    return str(Path(path).relative_to(root))


def absolute_spec(spec: SourceSpec, base: Path) -> SourceSpec:
    """Store a file path (or SQLite/DuckDB file URL) that still works from the workspace: absolute."""
    if spec.source in ("csv", "parquet", "excel", "json") and spec.path:
        spec = replace(spec, path=str(resolve_path(spec.path, base).resolve()))
    if spec.source == "sql" and spec.url and "${" not in spec.url:
        from prism.data.sources import expand_url

        spec = replace(spec, url=expand_url(spec.url, base))
    return spec


def data_config(spec: SourceSpec, roles: Roles, options: PrepareOptions, dictionary: str | None,
                name: str) -> DataConfig:
    """The data section for config.json; a role conflict (e.g. a column both channel and control) is bad input."""
    try:
        return DataConfig(
            source=spec.source, path=spec.path, query=spec.query, url=spec.url, sheet=spec.sheet,
            project=spec.project, date_column=roles.date, kpi=roles.kpi, channels=roles.channels,
            controls=roles.controls, entity_column=roles.entity_column, entity=options.entity,
            aggregate_entities=options.aggregate_entities, week_anchor=options.week_anchor,
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
    if not ws.metadata.exists():
        return None
    try:
        return read_model(ws.metadata, Metadata).knowledge
    except InputError:
        return None
