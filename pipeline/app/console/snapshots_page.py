"""The console's snapshot pages: every snapshot, one snapshot's schema and statistics, and a diff of two.

What ``ct snapshots list|show|lineage|diff`` print, as pages: the list reads the snapshot index, the
model versions and the newest validations once each and joins them in memory, so it stays fast with
hundreds of snapshots. One snapshot's page reads its manifest and, for the per-column statistics,
the statistics validation stored for each part (``pipeline.quality.part_stats``); a part without
them is read and summarised in memory (nothing is written: the console only reads). The diff is
``pipeline.data.snapshots.diff_snapshots``, the CLI's own, so the page and ``ct snapshots diff``
always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.app.console.html import render_page
from pipeline.app.console.links import Links
from pipeline.app.console.stored import number
from pipeline.app.workspace import Workspace
from pipeline.data.snapshot_lineage import snapshot_lineage
from pipeline.data.snapshots import Snapshot, diff_snapshots, load_parts, read_manifest
from pipeline.quality.part_stats import (
    NumericPiece,
    PartStats,
    StatisticsCache,
    add_counts,
    compute_part_stats,
    label_pieces,
    label_totals,
    merge_moments,
)
from pipeline.registry.base import ModelVersion, ValidationRecord

TOP_LEVELS = 5
"""Categories shown per categorical column (the rest are summed as "other")."""
NUMERIC_STATS = ("mean", "std", "min", "max", "null_share")
"""The summaries of a numeric column a diff compares (``diff_snapshots``'s)."""
VALIDATIONS_PER_SNAPSHOT = 3
PAGE_SIZE = 100
"""Snapshots per page of the list: a page reads the validations of its own snapshots only."""
"""How many validations per listed snapshot are read to find each one's latest (one query in all)."""


# -- read models -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VersionRef:
    """A model version trained on a snapshot."""

    model: str
    version: int
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationRef:
    """A snapshot's latest validation and its verdict."""

    id: int
    passed: bool
    warnings: int
    drifted_features: tuple[str, ...]
    created_at: str


@dataclass(frozen=True)
class SnapshotRow:
    """One row of the snapshot list."""

    id: str
    dataset: str
    parent: str | None
    rows: int
    parts: int
    created_at: str
    versions: tuple[VersionRef, ...]
    validation: ValidationRef | None


@dataclass(frozen=True)
class SnapshotsView:
    """Every snapshot (of one dataset when asked), newest first."""

    dataset: str | None
    datasets: tuple[str, ...]
    snapshots: tuple[SnapshotRow, ...]
    """This page's snapshots (at most ``PAGE_SIZE``)."""
    total: int = 0
    """Snapshots in all (of the dataset)."""
    page: int = 1
    pages: int = 1
    first: int = 1
    """The position (1 = newest) of this page's first snapshot."""


@dataclass(frozen=True)
class SchemaColumn:
    """One stored column: its storage type and what it is to the model."""

    name: str
    type: str
    role: str
    """``id``, ``feature`` (numeric, categorical or datetime: ``kind``), ``label`` or ``other``."""
    kind: str = ""


@dataclass(frozen=True)
class LevelShare:
    level: str
    count: int
    share: float


@dataclass(frozen=True)
class ColumnStats:
    """Statistics of one column over the whole snapshot."""

    name: str
    role: str
    kind: str
    """``numeric`` (min, mean, std, max) or ``categorical`` (the top levels with their shares)."""
    rows: int
    nulls: int
    min: float | None = None
    mean: float | None = None
    std: float | None = None
    max: float | None = None
    levels: tuple[LevelShare, ...] = ()
    distinct: int = 0
    other_share: float = 0.0
    """Share of the non-null values outside the top levels shown."""


@dataclass(frozen=True)
class PartRow:
    id: str
    rows: int
    ingested_at: str | None
    source: str
    source_sha256: str | None
    """None for rows read from a table (``source`` is then ``<source>:<table>``)."""


@dataclass(frozen=True)
class SourceRow:
    """A landing file (or table) whose rows the snapshot holds."""

    name: str
    kind: str
    sha256: str | None
    size: int
    parts: int
    rows: int
    archive_path: str | None
    watermark: str | None


@dataclass(frozen=True)
class SnapshotView:
    """One snapshot: schema, per-column statistics, parts, source files and what was trained on it."""

    id: str
    dataset: str
    parent: str | None
    rows: int
    created_at: str
    manifest_uri: str
    schema: tuple[SchemaColumn, ...]
    statistics: tuple[ColumnStats, ...]
    statistics_source: str
    """Where the statistics came from: the stored statistics of its parts, or the parts themselves."""
    parts: tuple[PartRow, ...]
    sources: tuple[SourceRow, ...]
    versions: tuple[VersionRef, ...]
    validation: ValidationRef | None


@dataclass(frozen=True)
class SchemaChange:
    column: str
    change: str
    """``added``, ``removed`` or ``changed``."""
    type_a: str | None
    type_b: str | None


@dataclass(frozen=True)
class StatChange:
    """One numeric summary of a column in both snapshots (``a`` → ``b``)."""

    column: str
    stat: str
    a: float | None
    b: float | None
    change: float | None


@dataclass(frozen=True)
class NumericChange:
    """A numeric column's mean, std, min, max and null share in both snapshots."""

    column: str
    stats: tuple[StatChange, ...]


@dataclass(frozen=True)
class LevelChange:
    """The share of one level (or ``(null)``) of a categorical column in both snapshots."""

    column: str
    level: str
    a: float | None
    b: float | None
    change: float | None


@dataclass(frozen=True)
class SnapshotDiff:
    """What changed from ``a`` to ``b`` (``ct snapshots diff``)."""

    rows_a: int
    rows_b: int
    rows_added: int
    rows_removed: int
    parts_added: tuple[PartRow, ...]
    parts_removed: tuple[PartRow, ...]
    schema: tuple[SchemaChange, ...]
    numeric: tuple[NumericChange, ...]
    levels: tuple[LevelChange, ...]


@dataclass(frozen=True)
class SnapshotDiffView:
    """The diff page: the two snapshots chosen (by default the newest and its parent) and the diff."""

    a: str | None
    b: str | None
    choices: tuple[str, ...]
    """Snapshot ids for the pickers, newest first."""
    diff: SnapshotDiff | None
    message: str
    """Why there is no diff (empty store, a first snapshot), else empty."""


# -- building ----------------------------------------------------------------------------------------
def _validation_ref(record: ValidationRecord) -> ValidationRef:
    s = record.summary
    warnings = int((s.get("failed_checks") or {}).get("warn", 0))
    return ValidationRef(
        id=record.id,
        passed=record.passed,
        warnings=warnings,
        drifted_features=tuple(s.get("drifted_features") or ()),
        created_at=record.created_at,
    )


def _versions_by_snapshot(versions: Sequence[ModelVersion]) -> dict[str, list[VersionRef]]:
    index: dict[str, list[VersionRef]] = {}
    for mv in versions:
        index.setdefault(mv.snapshot_id, []).append(VersionRef(mv.name, mv.version, tuple(mv.aliases)))
    return index


def build_snapshots(ws: Workspace, dataset: str | None, page: int = 1) -> SnapshotsView:
    """The snapshots newest first, ``PAGE_SIZE`` per page, with the versions trained on each and its
    latest validation verdict."""
    every = ws.meta.list_snapshots(dataset or None)
    pages = max(1, -(-len(every) // PAGE_SIZE))
    page = min(max(1, page), pages)
    start = (page - 1) * PAGE_SIZE
    records = every[start : start + PAGE_SIZE]
    versions = _versions_by_snapshot(ws.meta.list_model_versions())
    latest: dict[str, ValidationRecord] = {}
    if records:
        ids = [r.id for r in records]
        for record in ws.meta.list_validations(limit=VALIDATIONS_PER_SNAPSHOT * len(ids), snapshot_ids=ids):
            latest.setdefault(record.snapshot_id, record)  # newest first
    datasets = tuple(sorted({r.dataset for r in records} | ({dataset} if dataset else set())))
    rows = tuple(
        SnapshotRow(
            id=r.id,
            dataset=r.dataset,
            parent=r.parent,
            rows=r.rows,
            parts=r.parts,
            created_at=r.created_at,
            versions=tuple(versions.get(r.id, ())),
            validation=_validation_ref(latest[r.id]) if r.id in latest else None,
        )
        for r in records
    )
    return SnapshotsView(
        dataset=dataset or None,
        datasets=datasets,
        snapshots=rows,
        total=len(every),
        page=page,
        pages=pages,
        first=start + 1,
    )


def _schema(ws: Workspace, snapshot: Snapshot) -> tuple[SchemaColumn, ...]:
    d = ws.config.dataset
    kinds = (
        dict.fromkeys(d.numeric_names, "numeric")
        | dict.fromkeys(d.categorical_names, "categorical")
        | dict.fromkeys(d.datetime_names, "datetime")
    )
    out = []
    for name, kind in snapshot.schema:
        if name in d.id_columns:
            out.append(SchemaColumn(name, kind, "id"))
        elif name == d.label:
            out.append(SchemaColumn(name, kind, "label", "categorical" if d.is_classification else "numeric"))
        elif name in kinds:
            out.append(SchemaColumn(name, kind, "feature", kinds[name]))
        else:
            out.append(SchemaColumn(name, kind, "other"))
    return tuple(out)


def _part_statistics(ws: Workspace, snapshot: Snapshot) -> tuple[list[PartStats], str]:
    """Each part's statistics: stored ones where validation left them, else computed now (not stored)."""
    cache = StatisticsCache(ws.store, ws.config)
    stats, computed = [], 0
    for part in snapshot.parts:
        if ws.store.exists(cache.part_key(part.id)):
            stats.append(cache.get(part))
        else:
            stats.append(compute_part_stats(part.id, load_parts(ws.store, [part], snapshot.id), ws.config))
            computed += 1
    n = len(snapshot.parts)
    if not computed:
        return stats, f"the stored statistics of its {n} part(s)"
    if computed == n:
        return stats, f"its {n} part(s), read now (no stored statistics)"
    return stats, f"the stored statistics of {n - computed} part(s) and {computed} part(s) read now"


def _numeric_stats(name: str, role: str, pieces: Sequence[NumericPiece], rows: int) -> ColumnStats:
    n, mean, std = merge_moments(pieces)
    finite = [p for p in pieces if p.count]
    return ColumnStats(
        name=name,
        role=role,
        kind="numeric",
        rows=rows,
        nulls=rows - n,
        min=min((p.min for p in finite), default=None),
        mean=number(mean) if n else None,
        std=number(std) if n else None,
        max=max((p.max for p in finite), default=None),
    )


def _level_stats(name: str, role: str, counts: dict[str, int], rows: int) -> ColumnStats:
    valid = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    top = tuple(LevelShare(k, v, v / valid) for k, v in ordered[:TOP_LEVELS]) if valid else ()
    return ColumnStats(
        name=name,
        role=role,
        kind="categorical",
        rows=rows,
        nulls=rows - valid,
        levels=top,
        distinct=len(counts),
        other_share=(sum(v for _, v in ordered[TOP_LEVELS:]) / valid) if valid else 0.0,
    )


def _statistics(ws: Workspace, snapshot: Snapshot, stats: Sequence[PartStats]) -> tuple[ColumnStats, ...]:
    d = ws.config.dataset
    rows = snapshot.rows
    present = {name for name, _ in snapshot.schema}
    out = []
    for name in d.numeric_names:
        if name in present:
            out.append(_numeric_stats(name, "feature", [s.numeric[name] for s in stats if name in s.numeric], rows))
    for name in d.categorical_names:
        if name in present:
            out.append(_level_stats(name, "feature", add_counts(s.categorical.get(name, {}) for s in stats), rows))
    if d.label in present:
        if d.is_classification:
            out.append(_level_stats(d.label, "label", label_totals(stats), rows))
        else:
            out.append(_numeric_stats(d.label, "label", label_pieces(stats), rows))
    return tuple(out)


def _part_row(part: dict[str, Any]) -> PartRow:
    """A part as the manifest (and the diff) stores it."""
    source = part["source"]
    return PartRow(
        id=part["id"],
        rows=int(part["rows"]),
        ingested_at=part.get("ingested_at"),
        source=source["name"],
        source_sha256=None if source.get("watermark") is not None else source["sha256"],
    )


def build_snapshot(ws: Workspace, snapshot_id: str) -> SnapshotView:
    """One snapshot's page (an unknown id raises ``NotFound`` naming it)."""
    record = ws.meta.get_snapshot(snapshot_id)
    snapshot = read_manifest(ws.store, record.id)
    lineage = snapshot_lineage(ws, record.id)
    part_stats, source = _part_statistics(ws, snapshot)
    validation = ws.meta.latest_validation(record.id)
    return SnapshotView(
        id=record.id,
        dataset=record.dataset,
        parent=record.parent,
        rows=snapshot.rows,
        created_at=record.created_at,
        manifest_uri=str(lineage["manifest_uri"]),
        schema=_schema(ws, snapshot),
        statistics=_statistics(ws, snapshot, part_stats),
        statistics_source=source,
        parts=tuple(_part_row(p.to_dict()) for p in snapshot.parts),
        sources=tuple(
            SourceRow(
                name=s["name"],
                kind=s["kind"],
                sha256=s["sha256"],
                size=int(s["size"]),
                parts=int(s["parts"]),
                rows=int(s["rows"]),
                archive_path=s["archive_path"],
                watermark=s.get("watermark"),
            )
            for s in lineage["sources"]
        ),
        versions=tuple(VersionRef(m["name"], m["version"], tuple(m["aliases"])) for m in lineage["models"]),
        validation=_validation_ref(validation) if validation else None,
    )


def _diff(raw: dict[str, Any]) -> SnapshotDiff:
    """``diff_snapshots``'s answer as the page's rows (what ``ct snapshots diff`` prints)."""
    schema, columns, rows = raw["schema"], raw["columns"], raw["rows"]
    changes = (
        [SchemaChange(c["column"], "added", None, c["type"]) for c in schema["added"]]
        + [SchemaChange(c["column"], "removed", c["type"], None) for c in schema["removed"]]
        + [SchemaChange(c["column"], "changed", c["a"], c["b"]) for c in schema["changed"]]
    )
    numeric, levels = [], []
    for name, col in columns.items():
        if col["kind"] == "numeric":
            stats = tuple(
                StatChange(name, stat, col["a"][stat], col["b"][stat], col["change"][stat]) for stat in NUMERIC_STATS
            )
            numeric.append(NumericChange(name, stats))
            continue
        la, lb = col["a"]["levels"], col["b"]["levels"]
        levels += [
            LevelChange(name, level, la.get(level), lb.get(level), col["change"][level]) for level in sorted({*la, *lb})
        ]
        if col["a"]["null_share"] or col["b"]["null_share"]:
            levels.append(
                LevelChange(name, "(null)", col["a"]["null_share"], col["b"]["null_share"], col["change"]["null_share"])
            )
    return SnapshotDiff(
        rows_a=int(rows["a"]),
        rows_b=int(rows["b"]),
        rows_added=int(raw["rows_added"]),
        rows_removed=int(raw["rows_removed"]),
        parts_added=tuple(_part_row(p) for p in raw["parts_added"]),
        parts_removed=tuple(_part_row(p) for p in raw["parts_removed"]),
        schema=tuple(changes),
        numeric=tuple(numeric),
        levels=tuple(levels),
    )


def build_snapshot_diff(ws: Workspace, a: str | None, b: str | None) -> SnapshotDiffView:
    """The diff of ``a`` and ``b``; ``b`` defaults to the newest snapshot and ``a`` to ``b``'s parent."""
    chosen_a = ws.meta.get_snapshot(a) if a else None  # an unknown id is a 404 naming it
    chosen_b = ws.meta.get_snapshot(b) if b else None
    records = ws.meta.list_snapshots()
    choices = tuple(r.id for r in records)
    if not records:
        return SnapshotDiffView(None, None, choices, None, "There are no snapshots yet: nothing to compare.")
    rec_b = chosen_b or records[0]
    rec_a = chosen_a or (ws.meta.get_snapshot(rec_b.parent) if rec_b.parent else None)
    if rec_a is None:
        return SnapshotDiffView(
            None,
            rec_b.id,
            choices,
            None,
            f"Snapshot {rec_b.id} is the first of its dataset (it has no parent); choose another to compare with.",
        )
    raw = diff_snapshots(
        ws.store, read_manifest(ws.store, rec_a.id), read_manifest(ws.store, rec_b.id), ws.config.dataset
    )
    return SnapshotDiffView(rec_a.id, rec_b.id, choices, _diff(raw), "")


# -- rendering ---------------------------------------------------------------------------------------
def render_snapshots(view: SnapshotsView, links: Links) -> str:
    """The snapshot list page."""
    return render_page("snapshots.html.j2", links=links, title="Snapshots", section="snapshots", view=view)


def render_snapshot(view: SnapshotView, links: Links) -> str:
    """One snapshot's page."""
    return render_page("snapshot.html.j2", links=links, title=f"Snapshot {view.id}", section="snapshots", view=view)


def render_snapshot_diff(view: SnapshotDiffView, links: Links) -> str:
    """The diff page."""
    title = f"Snapshot diff {view.a} → {view.b}" if view.diff else "Snapshot diff"
    return render_page("snapshot_diff.html.j2", links=links, title=title, section="snapshots", view=view)
