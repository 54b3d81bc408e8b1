"""``ct``: run and inspect the continuous-training loop from a terminal.

Every read command takes ``--json`` and then prints stable field names only. Paths and URLs
come from ``CT_HOME``, ``CT_CONFIG`` and ``CT_DATABASE_URL`` (see ``settings.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pipeline.errors import CTError
from pipeline.settings import Settings, load_settings

log = logging.getLogger("ct")


# -- output helpers -----------------------------------------------------------------------------
def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain fixed-width text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def snapshot_json(rec: Any) -> dict[str, Any]:
    return {"id": rec.id, "parent": rec.parent, "rows": rec.rows, "created_at": rec.created_at,
            "dataset": rec.dataset, "parts": rec.parts, "manifest_uri": rec.manifest_uri}


def model_json(mv: Any, full: bool = False) -> dict[str, Any]:
    d = {"name": mv.name, "version": mv.version, "aliases": list(mv.aliases), "snapshot_id": mv.snapshot_id,
         "metrics": mv.metrics, "created_at": mv.created_at, "trigger": mv.trigger,
         "spec_name": mv.spec_name, "config_hash": mv.config_hash, "code_version": mv.code_version,
         "artifact_uri": mv.artifact_uri, "artifact_sha256": mv.artifact_sha256,
         "validation_id": mv.validation_id, "decision": mv.decision}
    if full:
        d.update({"params": mv.params, "evaluation": mv.evaluation, "lineage": mv.lineage})
    return d


def fmt_metric(m: dict[str, float] | None) -> str:
    if not m:
        return "—"
    return f"{m['value']:.3f} [{m['lower']:.3f}, {m['upper']:.3f}]"


# -- commands -----------------------------------------------------------------------------------
def _workspace(settings: Settings):
    from pipeline.workspace import open_workspace

    return open_workspace(settings)


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.config import dump_config
    from pipeline.onboarding import infer_config, read_sample

    sample_path = Path(args.from_sample)
    sample = read_sample(sample_path)
    name = args.name or sample_path.stem.replace(" ", "_")
    config = infer_config(sample, args.label, name)
    target = Path(args.output) if args.output else (settings.config_path if os.environ.get("CT_CONFIG") else settings.home / "pipeline.yaml")
    if target.exists() and not args.force:
        raise CTError(f"{target} exists already; pass --force to overwrite it or --output to write elsewhere")
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Inferred by `ct init` from {sample_path.name} ({len(sample)} rows). Review it: add ranges\n"
              f"# (min/max) to numeric features, check the identifier columns and the label contract.\n")
    target.write_text(header + dump_config(config), encoding="utf-8")
    (settings.landing).mkdir(parents=True, exist_ok=True)
    d = config.dataset
    print(f"wrote {target}\n  label {d.label!r}: classes {list(d.classes)} (positive {d.positive_class!r})\n"
          f"  identifiers: {list(d.id_columns) or 'none'}\n  numeric: {d.numeric_names}\n"
          f"  categorical: {[f'{c.name} ({len(c.levels)} levels)' for c in d.features.categorical]}\n"
          f"Drop CSV or Parquet files into {settings.landing}/ and run `ct run` (or let the DAGs pick them up).")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.local_run import run_landing

    outcome = run_landing(settings, spec=args.spec, force=args.force, reason=args.reason or "",
                          trigger="manual" if args.force else "new_data",
                          echo=(lambda _line: None) if args.json else print)
    if args.json:
        emit_json(outcome.to_dict())
    elif not outcome.ok:
        for line in outcome.errors:
            print(f"error: {line}", file=sys.stderr)
        print(f"full log: {outcome.logs[-1] if outcome.logs else '—'}", file=sys.stderr)
    return 0 if outcome.ok else 1


def cmd_snapshots(args: argparse.Namespace, settings: Settings) -> int:
    ws = _workspace(settings)
    if args.action == "list":
        records = ws.meta.list_snapshots()
        if args.json:
            emit_json([snapshot_json(r) for r in records])
        else:
            print(table(["id", "parent", "rows", "parts", "created_at"],
                        [[r.id, r.parent or "—", r.rows, r.parts, r.created_at] for r in records]) if records
                  else "no snapshots yet")
        return 0
    from pipeline.snapshots import read_manifest

    rec = ws.meta.get_snapshot(args.id)
    manifest = read_manifest(ws.store, rec.id)
    validation = ws.meta.latest_validation(rec.id)
    data = {**snapshot_json(rec), "schema": [list(c) for c in manifest.schema],
            "part_list": [p.to_dict() for p in manifest.parts],
            "validation": validation.to_dict() if validation else None}
    if args.json:
        emit_json(data)
        return 0
    print(f"snapshot {rec.id} ({rec.dataset}): {rec.rows} rows in {rec.parts} part(s), parent {rec.parent or '—'}, "
          f"created {rec.created_at}\nmanifest: {rec.manifest_uri}")
    print(table(["part", "rows", "source file", "source sha256"],
                [[p.id[:16], p.rows, p.source.name, p.source.sha256[:16]] for p in manifest.parts]))
    if validation:
        s = validation.summary
        print(f"validation #{validation.id}: {'passed' if validation.passed else 'FAILED'}; drifted "
              f"{s.get('drifted_features') or 'none'}; label contract held: {s.get('label_contract_held')}; "
              f"report {validation.report_uri}")
    return 0


def _model_ref(ws: Any, ref: list[str]) -> tuple[str, int]:
    if len(ref) == 1:
        name, version = ws.config.model.name, ref[0]
    elif len(ref) == 2:
        name, version = ref
    else:
        raise CTError("expected [NAME] VERSION, e.g. `ct models show 3` or `ct models show churn-classifier 3`")
    try:
        return name, int(str(version).lstrip("v"))
    except ValueError:
        raise CTError(f"version must be a number like 3 or v3, got {version!r}") from None


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    ws = _workspace(settings)
    primary = ws.config.promotion.primary_metric
    if args.action == "list":
        versions = ws.meta.list_model_versions(args.name)
        if args.json:
            emit_json([model_json(v) for v in versions])
        else:
            print(table(["name", "version", "aliases", "snapshot", primary + " (95% CI)", "trigger", "created_at"],
                        [[v.name, v.version, ",".join(v.aliases) or "—", v.snapshot_id,
                          fmt_metric(v.metrics.get(primary)), v.trigger.get("kind"), v.created_at]
                         for v in versions]) if versions else "no model versions yet")
        return 0
    name, version = _model_ref(ws, args.ref)
    mv = ws.meta.get_model_version(name, version)
    if args.json:
        emit_json(model_json(mv, full=True))
        return 0
    from pipeline.reports import model_report_key

    print(f"{mv.name} v{mv.version}  aliases: {', '.join(mv.aliases) or '—'}\n"
          f"  snapshot {mv.snapshot_id}, spec {mv.spec_name}, config {mv.config_hash}, code {mv.code_version}\n"
          f"  trigger: {json.dumps(mv.trigger)}\n  artifact: {mv.artifact_uri} (sha256 {mv.artifact_sha256[:16]}…)\n"
          f"  created {mv.created_at}; report {ws.store.uri(model_report_key(mv.name, mv.version))}")
    cv = mv.evaluation.get("cross_validation", {})
    print(table(["metric", "holdout (95% CI)", "CV mean ± std"],
                [[m, fmt_metric(e), f"{cv[m]['mean']:.3f} ± {cv[m]['std']:.3f}" if m in cv else "—"]
                 for m, e in mv.metrics.items()]))
    if mv.decision:
        print(f"decision: {'promoted' if mv.decision['promote'] else 'not promoted'} — {mv.decision['reason']}")
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.registry.sql import SqlMetadataStore

    store = SqlMetadataStore(settings.database_url, create=True)
    print(f"metadata schema is up to date in {store.safe_url}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.demo_run import run_demo

    return run_demo(settings, fresh=not args.keep)


def cmd_airflow(args: argparse.Namespace, settings: Settings) -> int:
    import subprocess

    from pipeline.airflow_runner import airflow_binary, airflow_env, ensure_airflow_db

    env = airflow_env(settings)
    ensure_airflow_db(env)
    if args.args:
        return subprocess.run([airflow_binary(), *args.args], env=env).returncode
    for key, value in sorted(env.items()):
        if key.startswith(("AIRFLOW", "CT_")):
            print(f"export {key}={value}")
    return 0


# -- parser -------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ct", description="Continuous training for tabular models on Airflow.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="infer a config for a new dataset from a sample file")
    p.add_argument("--from-sample", required=True, metavar="FILE", help="CSV or Parquet sample")
    p.add_argument("--label", required=True, metavar="COLUMN", help="the label column")
    p.add_argument("--name", help="dataset name (default: the file name)")
    p.add_argument("--output", help="where to write (default: $CT_CONFIG or $CT_HOME/pipeline.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing config")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("run", help="ingest the landing area and train through the DAGs (embedded Airflow)")
    p.add_argument("--spec", help="model spec name from the config")
    p.add_argument("--force", action="store_true", help="retrain and promote even if not better (recorded)")
    p.add_argument("--reason", help="why (recorded with a forced run)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("snapshots", help="list and show snapshots")
    s = p.add_subparsers(dest="action", required=True)
    q = s.add_parser("list")
    q.add_argument("--json", action="store_true")
    q = s.add_parser("show")
    q.add_argument("id", help="snapshot id or a unique prefix")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_snapshots)

    p = sub.add_parser("models", help="list and show model versions")
    s = p.add_subparsers(dest="action", required=True)
    q = s.add_parser("list")
    q.add_argument("--name", help="only this model")
    q.add_argument("--json", action="store_true")
    q = s.add_parser("show")
    q.add_argument("ref", nargs="+", metavar="[NAME] VERSION")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("db", help="metadata database maintenance")
    s = p.add_subparsers(dest="action", required=True)
    s.add_parser("upgrade", help="create or migrate the metadata schema")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("demo", help="generate demo batches and drive them through the DAGs")
    p.add_argument("--keep", action="store_true", help="keep earlier demo data instead of starting fresh")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("airflow", help="run an airflow command with this project's environment")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_airflow)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args, load_settings()) or 0)
    except CTError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
