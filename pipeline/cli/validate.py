"""`ct validate`: show (or compute) the validation of a snapshot, and (re)generate the suite."""

from __future__ import annotations

import argparse
from typing import Any

from pipeline.cli.output import emit_json, open_workspace_for, table
from pipeline.core.errors import ConfigError
from pipeline.core.settings import Settings

_MESSAGE_WIDTH = 100


def _shown(summary: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The stable JSON of a validation: per check name/severity/outcome, per feature the drift verdict."""
    drift = summary.get("drift") or {}
    return {
        **extra,
        "snapshot_id": summary.get("snapshot_id"),
        "reference_snapshot_id": summary.get("reference_snapshot_id"),
        "passed": summary.get("passed"),
        "new_rows": summary.get("new_rows"),
        "failed_checks": summary.get("failed_checks"),
        "checks": [
            {
                "name": c["name"],
                "severity": c["severity"],
                "outcome": c.get("outcome") or ("passed" if c["passed"] else "failed"),
                "message": c["message"],
            }
            for c in summary.get("checks", [])
        ],
        "features": [
            {
                k: f.get(k)
                for k in (
                    "feature",
                    "kind",
                    "test",
                    "score",
                    "p_value",
                    "adjusted_p_value",
                    "effect_size",
                    "threshold",
                    "drifted",
                )
            }
            for f in drift.get("features", [])
        ],
        "drift_share": drift.get("drift_share"),
        "dataset_drifted": drift.get("dataset_drifted"),
        "drifted_features": summary.get("drifted_features", []),
        "label_contract": summary.get("label_contract"),
        "suite": summary.get("suite"),
        "data_docs_uri": summary.get("data_docs_uri"),
        "statistics": summary.get("statistics"),
    }


def _clip(text: str) -> str:
    return text if len(text) <= _MESSAGE_WIDTH else text[: _MESSAGE_WIDTH - 1] + "…"


def _num(x: Any) -> str:
    return "—" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


def _print(data: dict[str, Any]) -> None:
    where = (
        f"stored validation #{data['validation_id']} ({data['created_at']})"
        if data["stored"]
        else "computed now (not stored)"
    )
    print(
        f"snapshot {data['snapshot_id']} vs reference {data['reference_snapshot_id'] or 'none'}: "
        f"{'PASSED' if data['passed'] else 'FAILED'} on {data['new_rows']} new rows; {where}"
    )
    for note in data.get("notes") or []:
        print(f"note: {note}")
    print(
        table(
            ["check", "severity", "outcome", "message"],
            [[c["name"], c["severity"], c["outcome"], _clip(c["message"])] for c in data["checks"]],
        )
    )
    if data["features"]:
        print(f"\ndrift (share {data['drift_share']:.0%}):")
        print(
            table(
                ["feature", "test", "score", "p-value", "effect size", "threshold", "drifted"],
                [
                    [
                        f["feature"],
                        f["test"],
                        _num(f["score"]),
                        _num(f["adjusted_p_value"] or f["p_value"]),
                        _num(f["effect_size"]),
                        _num(f["threshold"]),
                        "yes" if f["drifted"] else "no",
                    ]
                    for f in data["features"]
                ],
            )
        )
    for label, key in (("report", "report_uri"), ("Data Docs", "data_docs_uri")):
        if data.get(key):
            print(f"{label}: {data[key]}")


def _regenerate_suite(ws: Any, snapshot_ref: str, as_json: bool) -> int:
    from pipeline.data.snapshots import read_manifest
    from pipeline.quality.part_stats import StatisticsCache, summarise
    from pipeline.quality.suite import (
        generate_suite,
        load_suite,
        save_suite,
        suite_location,
        write_overrides_template,
    )

    snapshot = read_manifest(ws.store, ws.meta.get_snapshot(snapshot_ref).id)
    cache = StatisticsCache(ws.store, ws.config)
    summary = summarise(cache.for_parts(snapshot.parts), ws.config)
    location = suite_location(ws.settings, ws.config)
    path = location.target
    existed = path.exists()
    save_suite(generate_suite(ws.config, summary, snapshot.id), path, replace_existing=True)
    write_overrides_template(location.overrides, ws.config.dataset.name)
    effective = load_suite(location, ws.config)  # proves the overrides still apply to the new suite
    assert effective is not None
    info = {
        "path": str(path),
        "replaced": existed,
        "generated_from": snapshot.id,
        "rows": summary.rows,
        "expectations": len(effective.expectations),
        "overrides_path": str(location.overrides),
        **cache.describe(),
    }
    if as_json:
        emit_json(info)
    else:
        print(
            f"{'replaced' if existed else 'wrote'} expectation suite {path} from snapshot {snapshot.id} "
            f"({summary.rows} rows, {len(effective.expectations)} expectations with overrides applied"
            f"{'; previous version kept as ' + path.name + '.bak' if existed else ''})\n"
            f"change expectations in {location.overrides}"
        )
    return 0


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    ws = open_workspace_for(settings)
    if args.suite_from:
        return _regenerate_suite(ws, args.suite_from, args.json)
    if not args.snapshot:
        raise ConfigError("ct validate needs a SNAPSHOT (or --suite-from SNAPSHOT to regenerate the suite)")
    snapshot = ws.meta.get_snapshot(args.snapshot)
    reference = ws.meta.get_snapshot(args.reference).id if args.reference else None
    stored = None if args.recompute else ws.meta.latest_validation(snapshot.id)
    if stored is not None and (reference is None or stored.reference_snapshot_id == reference):
        data = _shown(
            stored.summary,
            validation_id=stored.id,
            stored=True,
            created_at=stored.created_at,
            report_uri=stored.report_uri,
        )
    else:
        from pipeline.quality.snapshot_validation import recompute_validation

        redone = recompute_validation(ws, snapshot.id, reference)
        data = _shown(
            redone.run.report.to_dict(),
            validation_id=None,
            stored=False,
            created_at=None,
            report_uri=None,
            notes=list(redone.notes),
            reproduces=redone.stored.id if redone.stored else None,
            reproduced=redone.reproduced,
        )
    if args.json:
        emit_json(data)
    else:
        _print(data)
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    p = sub.add_parser(
        "validate",
        help="show or compute the validation of a snapshot; regenerate the suite",
        description="Show the stored validation of SNAPSHOT, or compute it (nothing is stored) when "
        "there is none for that reference. --recompute computes it again against the "
        "reference the stored result used, and says whether it reproduces it. "
        "--suite-from regenerates the expectation suite.",
    )
    p.add_argument("snapshot", nargs="?", help="snapshot id or a unique prefix")
    p.add_argument(
        "--reference", help="reference snapshot (default: the stored result's, else the champion's training snapshot)"
    )
    p.add_argument(
        "--recompute",
        action="store_true",
        help="compute again, against the stored result's reference (not today's champion), and say "
        "whether the verdict is reproduced",
    )
    p.add_argument(
        "--suite-from",
        metavar="SNAPSHOT",
        help="(re)generate the expectation suite from this snapshot (the old file is kept as .bak)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)
