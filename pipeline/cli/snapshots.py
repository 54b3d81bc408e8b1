"""`ct snapshots`: list, show, diff, trace and verify snapshots; remove what nothing needs any more."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli.output import (
    emit_json,
    open_workspace_for,
    snapshot_json,
    table,
)
from pipeline.core.settings import Settings


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def _arrow(a: float | None, b: float | None) -> str:
    return _fmt(a) if a == b else f"{_fmt(a)} → {_fmt(b)}"


def _print_diff(diff: dict[str, Any]) -> None:
    print(
        f"snapshot {diff['a']} → {diff['b']}: rows {diff['rows']['a']} → {diff['rows']['b']}; "
        f"+{diff['rows_added']} rows in {len(diff['parts_added'])} part(s) added, "
        f"-{diff['rows_removed']} rows in {len(diff['parts_removed'])} part(s) removed"
    )
    schema = diff["schema"]
    changes = (
        [f"+{c['column']} ({c['type']})" for c in schema["added"]]
        + [f"-{c['column']} ({c['type']})" for c in schema["removed"]]
        + [f"{c['column']}: {c['a']} → {c['b']}" for c in schema["changed"]]
    )
    print(f"schema: {', '.join(changes) if changes else 'unchanged'}")
    numeric = [(n, c) for n, c in diff["columns"].items() if c["kind"] == "numeric"]
    if numeric:
        print(
            table(
                ["column", "mean", "std", "min", "max", "null share"],
                [
                    [n, *(_arrow(c["a"][k], c["b"][k]) for k in ("mean", "std", "min", "max", "null_share"))]
                    for n, c in numeric
                ],
            )
        )
    rows = []
    for name, col in diff["columns"].items():
        if col["kind"] != "categorical":
            continue
        la, lb = col["a"]["levels"], col["b"]["levels"]
        for level in sorted({*la, *lb}):
            rows.append([name, level, _fmt(la.get(level)), _fmt(lb.get(level)), f"{col['change'][level]:+.4f}"])
        if col["a"]["null_share"] or col["b"]["null_share"]:
            rows.append(
                [
                    name,
                    "(null)",
                    _fmt(col["a"]["null_share"]),
                    _fmt(col["b"]["null_share"]),
                    f"{col['change']['null_share'] or 0:+.4f}",
                ]
            )
    if rows:
        print(table(["column", "level", "share a", "share b", "change"], rows))


def _print_lineage(data: dict[str, Any]) -> None:
    print(
        f"snapshot {data['snapshot_id']} ({data['dataset']}): {data['rows']} rows in {len(data['parts'])} part(s), "
        f"parent {data['parent'] or '—'}, created {data['created_at']}\nmanifest: {data['manifest_uri']}"
    )
    print(
        table(
            ["source", "kind", "sha256 / watermark", "parts", "rows", "archived at"],
            [
                [
                    s["name"],
                    s["kind"],
                    (s["sha256"] or "")[:16] or s.get("watermark", ""),
                    s["parts"],
                    s["rows"],
                    s["archive_path"] or "—",
                ]
                for s in data["sources"]
            ],
        )
    )
    models = ", ".join(f"{m['name']} v{m['version']}" for m in data["models"])
    print(f"models trained on it: {models or 'none'}")


def _print_gc(report: dict[str, Any]) -> None:
    verb = "would remove" if report["dry_run"] else "removed"
    print(
        f"kept {len(report['kept_snapshots'])} newest snapshot(s) and {len(report['model_snapshots'])} used by "
        f"model versions; {verb} {len(report['removed_manifests'])} manifest(s) and "
        f"{len(report['removed_parts'])} part(s), {report['bytes_freed']} bytes; {report['kept_parts']} part(s) kept"
        + (f"; {len(report['removed_temp'])} temporary file(s) of killed writes" if report.get("removed_temp") else "")
        + (
            f"; {report['skipped_young']} recent object(s) left for a possibly running ingest"
            if report["skipped_young"]
            else ""
        )
    )
    for snapshot_id in report["removed_manifests"]:
        print(f"  manifest {snapshot_id}")


def _emit(args: argparse.Namespace, data: Any, printer: Any) -> int:
    """``--json``: the data as JSON; otherwise the human-readable printer."""
    if args.json:
        emit_json(data)
    else:
        printer(data)
    return 0


def _cmd_list(args: argparse.Namespace, ws: Any) -> int:
    records = ws.meta.list_snapshots()
    if args.json:
        emit_json([snapshot_json(r) for r in records])
    else:
        several = len({r.dataset for r in records}) > 1  # a dataset column only when it tells them apart
        print(
            table(
                (["dataset"] if several else []) + ["id", "parent", "rows", "parts", "created_at"],
                [
                    ([r.dataset] if several else []) + [r.id, r.parent or "—", r.rows, r.parts, r.created_at]
                    for r in records
                ],
            )
            if records
            else "no snapshots yet"
        )
    return 0


def _cmd_show(args: argparse.Namespace, ws: Any) -> int:
    from pipeline.data.snapshots import read_manifest

    rec = ws.meta.get_snapshot(args.id)
    manifest = read_manifest(ws.store, rec.id)
    validation = ws.meta.latest_validation(rec.id)
    data = {
        **snapshot_json(rec),
        "schema": [list(c) for c in manifest.schema],
        "part_list": [p.to_dict() for p in manifest.parts],
        "validation": validation.to_dict() if validation else None,
    }
    if args.json:
        emit_json(data)
        return 0
    print(
        f"snapshot {rec.id} ({rec.dataset}): {rec.rows} rows in {rec.parts} part(s), parent {rec.parent or '—'}, "
        f"created {rec.created_at}\nmanifest: {rec.manifest_uri}"
    )
    print(
        table(
            ["part", "rows", "ingested_at", "source", "source sha256"],
            [[p.id[:16], p.rows, p.ingested_at or "—", p.source.name, p.source.sha256[:16]] for p in manifest.parts],
        )
    )
    if validation:
        s = validation.summary
        print(
            f"validation #{validation.id}: {'passed' if validation.passed else 'FAILED'}; drifted "
            f"{s.get('drifted_features') or 'none'}; label contract held: {s.get('label_contract_held')}; "
            f"report {validation.report_uri}"
        )
    return 0


def _cmd_diff(args: argparse.Namespace, ws: Any) -> int:
    from pipeline.data.snapshot_lineage import resolve_snapshot
    from pipeline.data.snapshots import diff_snapshots

    diff = diff_snapshots(ws.store, resolve_snapshot(ws, args.a), resolve_snapshot(ws, args.b), ws.config.dataset)
    return _emit(args, diff, _print_diff)


def _cmd_lineage(args: argparse.Namespace, ws: Any) -> int:
    from pipeline.data.snapshot_lineage import snapshot_lineage

    data = snapshot_lineage(ws, args.id)
    return _emit(args, data, _print_lineage)


def _cmd_used_by(args: argparse.Namespace, ws: Any) -> int:
    from pipeline.data.snapshot_lineage import describe_query, models_trained_on

    found = models_trained_on(ws, args.file)
    if args.json:
        emit_json(found)
    elif not found:
        print(f"no registered model version was trained on {describe_query(args.file)}")
    else:
        print(
            table(
                ["model", "version", "aliases", "snapshot", "parts", "rows", "files"],
                [
                    [
                        m["name"],
                        m["version"],
                        ",".join(m["aliases"]) or "—",
                        m["snapshot_id"],
                        len(m["parts"]),
                        m["rows"],
                        ", ".join(f["name"] for f in m["files"]),
                    ]
                    for m in found
                ],
            )
        )
    return 0


def _cmd_gc(args: argparse.Namespace, ws: Any) -> int:
    from pipeline.data.retention import collect_garbage

    report = collect_garbage(ws, args.keep_last, dry_run=args.dry_run, min_age_seconds=args.min_age).to_dict()
    return _emit(args, report, _print_gc)


def verify_report(ws: Any, ids: list[str]) -> dict[str, Any]:
    """Check the given snapshots (default: every manifest in the store): manifests and every part, once each."""
    from pipeline.data.snapshot_lineage import resolve_snapshot
    from pipeline.data.snapshots import list_manifest_ids, manifest_problem, read_manifest, verify_snapshots

    manifests = []
    if ids:
        snapshots = [resolve_snapshot(ws, i) for i in ids]
    else:
        snapshots = []
        for snapshot_id in sorted(list_manifest_ids(ws.store)):
            try:
                snapshots.append(read_manifest(ws.store, snapshot_id))
            except (ValueError, KeyError, TypeError, IndexError) as err:  # not JSON, or not a manifest's shape
                manifests.append({"snapshot_id": snapshot_id, "problem": f"unreadable ({type(err).__name__}: {err})"})
    checked, damaged = verify_snapshots(ws.store, snapshots)
    manifests += [{"snapshot_id": s.id, "problem": p} for s in snapshots if (p := manifest_problem(s))]
    return {
        "snapshots": [s.id for s in snapshots],
        "parts_checked": checked,
        "ok": not damaged and not manifests,
        "damaged_parts": [d.to_dict() for d in damaged],
        "damaged_manifests": manifests,
    }


def _print_verify(report: dict[str, Any]) -> None:
    n = len(report["snapshots"])
    if report["ok"]:
        print(f"{n} snapshot(s), {report['parts_checked']} part(s): all intact (every part's rows hash to its id)")
        return
    print(
        f"{n} snapshot(s), {report['parts_checked']} part(s): {len(report['damaged_parts'])} damaged part(s), "
        f"{len(report['damaged_manifests'])} damaged manifest(s)"
    )
    if report["damaged_parts"]:
        print(
            table(
                ["part", "problem", "source", "snapshots", "file"],
                [
                    [d["part_id"][:16], d["problem"], d["source"], ", ".join(d["snapshots"]), d["uri"]]
                    for d in report["damaged_parts"]
                ],
            )
        )
    for m in report["damaged_manifests"]:
        print(f"manifest {m['snapshot_id']}: {m['problem']}")
    print(
        "Restore each damaged file from a backup of the object store (a part's name is its content hash, so any "
        "intact copy is the right one); until then, training on a snapshot that holds one stops with 'part damaged'."
    )


def _cmd_verify(args: argparse.Namespace, ws: Any) -> int:
    report = verify_report(ws, args.ids)
    _emit(args, report, _print_verify)
    return 0 if report["ok"] else 1


def _cmd_export(args: argparse.Namespace, ws: Any) -> int:
    from pathlib import Path

    from pipeline.data.snapshot_export import export_format, export_snapshot
    from pipeline.data.snapshot_lineage import resolve_snapshot

    target = Path(args.to).expanduser()
    export_format(target)  # a wrong extension is refused before any part is read
    result = export_snapshot(ws.store, resolve_snapshot(ws, args.id), target, force=args.force)
    return _emit(
        args,
        result.to_dict(),
        lambda r: print(
            f"wrote snapshot {r['snapshot_id']} to {r['path']}: {r['rows']} rows, {r['columns']} columns "
            f"({r['format']}, {r['bytes']} bytes)"
        ),
    )


ACTIONS = {
    "export": _cmd_export,
    "list": _cmd_list,
    "show": _cmd_show,
    "diff": _cmd_diff,
    "lineage": _cmd_lineage,
    "used-by": _cmd_used_by,
    "gc": _cmd_gc,
    "verify": _cmd_verify,
}


def cmd_snapshots(args: argparse.Namespace, settings: Settings) -> int:
    return ACTIONS[args.action](args, open_workspace_for(settings))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    p = sub.add_parser("snapshots", help="list, show, diff, trace and verify snapshots; remove unreferenced data")
    s = p.add_subparsers(dest="action", required=True)
    q = s.add_parser("list")
    q.add_argument("--json", action="store_true")
    q = s.add_parser("show")
    q.add_argument("id", help="snapshot id or a unique prefix")
    q.add_argument("--json", action="store_true")
    q = s.add_parser("diff", help="what changed between two snapshots: parts, rows, schema, column summaries")
    q.add_argument("a", help="the older snapshot (id or unique prefix)")
    q.add_argument("b", help="the newer snapshot (id or unique prefix)")
    q.add_argument("--json", action="store_true")
    q = s.add_parser("lineage", help="a snapshot's parts, source files (checksums, archive paths) and models")
    q.add_argument("id", help="snapshot id or a unique prefix")
    q.add_argument("--json", action="store_true")
    q = s.add_parser("used-by", help="which registered model versions were trained on a landing file")
    q.add_argument(
        "file",
        metavar="FILE_OR_SHA",
        help="a path to the file, its SHA-256 (or 8+ leading hex digits), its landed name, or a table source name",
    )
    q.add_argument("--json", action="store_true")
    q = s.add_parser("gc", help="remove parts and manifests no kept snapshot and no model version references")
    q.add_argument(
        "--keep-last",
        type=_positive,
        default=10,
        metavar="N",
        help="keep the newest N snapshots of each dataset (default 10); model snapshots are always kept",
    )
    q.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    q.add_argument(
        "--min-age",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="leave objects younger than this alone: an ingest may still be writing them (default 3600)",
    )
    q.add_argument("--json", action="store_true")
    q = s.add_parser("export", help="write a snapshot's rows (every part, verified) to a .parquet or .csv file")
    q.add_argument("id", help="snapshot id or a unique prefix")
    q.add_argument(
        "--to", required=True, metavar="FILE", help="FILE.parquet or FILE.csv (the extension picks the format)"
    )
    q.add_argument("--force", action="store_true", help="replace FILE if it exists")
    q.add_argument("--json", action="store_true")
    q = s.add_parser("verify", help="re-hash every part of the snapshots and list the damaged ones (exit 1 if any)")
    q.add_argument("ids", nargs="*", metavar="ID", help="snapshot ids or unique prefixes (default: every snapshot)")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_snapshots)
