"""Pull the knowledge layer into metadata.json: on every `discover`, each loop round and `prism knowledge pull`.

Source (config.json `knowledge.source`, or a flag): `local` reads knowledge/ and the field definitions,
`notion` reads the four databases over the local files, `none` keeps what metadata.json has. A Notion
pull that fails (no network, 401, 5xx) gives ONE warning and keeps the last good knowledge: discover
and the loop never stop for Notion. Bad local files are bad input (exit 2) like bad data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

from prism.errors import InputError
from prism.knowledge import local, notion
from prism.schemas import BusinessContext, Config, FieldDefinition, Knowledge, Metadata
from prism.workspace import Workspace, read_model, write_json

Source = Literal["notion", "local", "none"]
M = TypeVar("M", FieldDefinition, BusinessContext)
WARNING_PREFIX = "knowledge:"


@dataclass
class Pulled:
    """What a pull left in metadata.json, and the one warning to show when it fell back."""

    knowledge: Knowledge
    warning: str | None = None


def pull(ws: Workspace, source: Source | None = None, databases: dict[str, str] | None = None) -> Pulled:
    """Refresh metadata.json's knowledge layer from the configured source (or `source`, `databases` for this pull)."""
    if not ws.metadata.exists():
        raise InputError(f"{ws.metadata}: file not found (run `prism discover` first)")
    cfg = read_model(ws.config, Config)
    if databases:
        cfg = cfg.model_copy(update={"knowledge": cfg.knowledge.model_copy(
            update={"databases": {**cfg.knowledge.databases, **databases}})})
    meta = read_model(ws.metadata, Metadata)
    outcome = fetch(ws, cfg, meta.knowledge, source or cfg.knowledge.source)
    save(ws, meta, outcome)
    return outcome


def fetch(ws: Workspace, cfg: Config, previous: Knowledge, source: Source) -> Pulled:
    """The new knowledge (or the previous one, with a warning, when Notion cannot be read)."""
    if source == "none":
        return Pulled(previous)
    found = local.read_local(ws, cfg)
    if source == "local":
        return Pulled(_checked(found, cfg))
    try:
        remote = notion.pull(cfg.knowledge)
    except notion.NotionUnavailable as exc:
        when = previous.pulled_at.isoformat(timespec="minutes") if previous.pulled_at else "never"
        return Pulled(previous, f"{WARNING_PREFIX} Notion pull failed, kept the last good knowledge "
                                f"(pulled {when}): {exc}")
    return Pulled(_checked(over(found, remote), cfg))


def over(base: Knowledge, top: Knowledge) -> Knowledge:
    """`top` over `base`: a field or context value Notion leaves empty keeps the local one; Notion's rows win."""
    fields = dict(base.fields)
    for col, f in top.fields.items():
        fields[col] = _merged(base.fields.get(col), f, FieldDefinition)
    return top.model_copy(update={
        "source": f"{top.source} over {base.source}" if base.source else top.source, "fields": fields,
        "business_context": _merged(base.business_context, top.business_context, BusinessContext),
        "known_issues": top.known_issues or base.known_issues, "experiments": top.experiments or base.experiments,
        "notes": base.notes + top.notes})


def _merged(base: M | None, top: M, model: type[M]) -> M:
    """`top`'s given values over `base`'s."""
    if base is None:
        return top
    return model(**{**base.model_dump(exclude_none=True), **top.model_dump(exclude_none=True)})


def _checked(knowledge: Knowledge, cfg: Config) -> Knowledge:
    """Notes for what names no column of the data (a renamed column, a typo), so nothing is silently unused."""
    columns = {cfg.data.date_column, cfg.data.kpi, *cfg.data.channels, *cfg.data.controls}
    notes = list(knowledge.notes)
    stray = sorted(set(knowledge.fields) - columns)
    if stray:
        notes.append(f"field definitions for column(s) not modelled: {', '.join(stray)}")
    for kind, named in (("known issue", [i.column for i in knowledge.known_issues]),
                        ("experiment", [e.channel for e in knowledge.experiments])):
        unknown = sorted({c for c in named if c and c not in columns})
        if unknown:
            notes.append(f"{kind}(s) name column(s) not in the data: {', '.join(unknown)}")
    return knowledge.model_copy(update={"notes": notes})


def save(ws: Workspace, meta: Metadata, outcome: Pulled) -> None:
    """Write the knowledge into metadata.json; business labels from it name the columns in reports."""
    labels = {**meta.labels, **{c: f.label for c, f in outcome.knowledge.fields.items() if f.label}}
    warnings = [w for w in meta.warnings if not w.startswith(WARNING_PREFIX)]
    warnings += [outcome.warning] if outcome.warning else []
    write_json(ws.metadata, meta.model_copy(update={"knowledge": outcome.knowledge, "labels": labels,
                                                    "warnings": warnings}))


def modelled_fields(meta: Metadata, cfg: Config) -> list[FieldDefinition]:
    """A definition for every modelled column (what init-notion writes into Field Definitions)."""
    d = cfg.data
    roles = {d.date_column: "date", d.kpi: "kpi", **{c: "channel" for c in d.channels},
             **{c: "control" for c in d.controls}}
    out = []
    for col, role in roles.items():
        known = meta.knowledge.fields.get(col)
        base = {"column": col, "label": meta.label(col), "role": role}
        out.append(FieldDefinition(**{**base, **(known.model_dump(exclude_none=True) if known else {})}))
    return out
