"""`ct score` and `ct predictions`: batch scoring of unlabelled data and the late labels joined to it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.cli.output import emit_json, fmt_number, open_workspace_for, table
from pipeline.core.errors import CTError
from pipeline.core.settings import Settings


def _print_scored(entry: dict[str, Any], prefix: str = "scored") -> None:
    """One line per scored batch, ending in what was predicted as the task has it (see ``summary_line``)."""
    from pipeline.monitoring.batch_scoring import summary_line

    rejected = f", {entry['rejected_rows']} row(s) set aside" if entry.get("rejected_rows") else ""
    print(
        f"{prefix} {entry['source_file']} as batch {entry['batch_id']} with {entry['model_name']} "
        f"v{entry['model_version']}: {entry['rows']} rows{rejected}, {summary_line(entry)}"
    )


def cmd_score(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.monitoring.batch_scoring import score_file, score_pending_batches

    ws = open_workspace_for(settings)
    if args.file:
        scored, new = score_file(ws, Path(args.file))
        if args.json:
            emit_json({**scored.to_dict(), "scored_now": new})
        else:
            _print_scored(scored.to_dict(), "scored" if new else "already scored:")
            print(f"predictions: {ws.store.uri(scored.predictions_key)}")
        return 0
    out = score_pending_batches(ws)
    if args.json:
        emit_json(out)
        return 0
    if out["waiting"]:
        print(f"no champion yet: {out['waiting']} file(s) wait in {settings.scoring}")
    for entry in out["scored"]:
        _print_scored(entry)
    for q in out["quarantined"]:
        print(f"quarantined {q['file']} ({q['code']}): {q['message']}\n  kept in {q['path']}")
    if not (out["scored"] or out["quarantined"] or out["waiting"] or out["already_scored"]):
        print(f"nothing to score: no complete file in {settings.scoring}")
    return 0


def _list(ws: Any, args: argparse.Namespace) -> int:
    from pipeline.monitoring.batch_scoring import batch_overview
    from pipeline.monitoring.label_join import labelled_rows

    # newest first, as every history ``ct`` prints
    batches = sorted(
        batch_overview(ws, lambda b: labelled_rows(ws, b)), key=lambda b: b["first_scored_at"], reverse=True
    )
    if args.json:
        emit_json(batches)
        return 0
    if not batches:
        print(f"no batch scored yet; drop unlabelled files into {ws.settings.scoring} and run `ct score`")
        return 0
    # a regression scoring has no score: its column shows the mean prediction
    mean = "mean prediction" if ws.config.dataset.task == "regression" else "mean score"
    print(
        table(
            ["batch", "source", "rows", "scored by", "first scored", "labelled rows", mean, "drift share"],
            [
                [
                    b["batch_id"],
                    b["source_file"],
                    b["rows"],
                    ", ".join(f"v{s['model_version']}" for s in b["scorings"]),
                    b["first_scored_at"][:19],
                    b["labelled_rows"],
                    fmt_number(_mean(b["scorings"][-1])),
                    fmt_number(b["scorings"][-1]["drift_share"], ".0%"),
                ]
                for b in batches
            ],
        )
    )
    return 0


def _mean(scoring: dict[str, Any]) -> float | None:
    """The mean score of a scoring, or its mean prediction (regression)."""
    return scoring["mean_score"] if scoring.get("mean_score") is not None else scoring.get("mean_prediction")


def _show(ws: Any, args: argparse.Namespace) -> int:
    from pipeline.monitoring.batch_scoring import list_scored, summary_line
    from pipeline.monitoring.label_join import labelled_rows, list_joins, window_size

    if not args.batch:
        raise CTError("ct predictions show needs a batch id (see `ct predictions list`)")
    scorings = [s for s in list_scored(ws) if s.batch_id.startswith(args.batch)]
    ids = sorted({s.batch_id for s in scorings})
    if len(ids) != 1:
        raise CTError(
            f"batch {args.batch!r}: {'no' if not ids else 'more than one'} scored batch matches"
            f"{' (' + ', '.join(ids) + ')' if ids else ''}; see `ct predictions list`"
        )
    batch_id = ids[0]
    scorings.reverse()  # newest first, as every history ``ct`` prints
    joins = [j for j in reversed(list_joins(ws)) if batch_id in j["batches"]]
    data: dict[str, Any] = {
        "batch_id": batch_id,
        "scorings": [{**s.to_dict(), "predictions_uri": ws.store.uri(s.predictions_key)} for s in scorings],
        "labelled_rows": labelled_rows(ws, batch_id),
        "label_joins": [
            {
                "label_file": j["label_file"],
                "sha256": j["sha256"],
                "joined_at": j["joined_at"],
                "rows_for_this_batch": j["batches"][batch_id],
                "windows": j["windows"],
            }
            for j in joins
        ],
    }
    if args.json:
        emit_json(data)
        return 0
    first = scorings[-1]
    print(
        f"batch {batch_id}: {first.source_file} (sha256 {first.source_sha256[:16]}…), {first.rows} rows; "
        f"{data['labelled_rows']} with a late label"
    )
    for s in data["scorings"]:
        print(
            f"  {s['model_name']} v{s['model_version']} (artifact {s['artifact_sha256'][:12]}…) at {s['scored_at']}: "
            f"{summary_line(s)}, drift share {fmt_number(s['drift_share'], '.0%')}\n"
            f"    {s['predictions_uri']}"
        )
    for j in data["label_joins"]:
        windows = "; ".join(
            f"v{w['model_version']} "
            + (
                w["skipped"]
                if "skipped" in w
                else f"{w['value']:.3f} [{w['lower']:.3f}, {w['upper']:.3f}] {window_size(w)}"
            )
            for w in j["windows"]
        )
        print(f"  labels {j['label_file']} at {j['joined_at'][:19]}: {j['rows_for_this_batch']} rows; window {windows}")
    return 0


def _join(ws: Any, args: argparse.Namespace) -> int:
    from pipeline.monitoring.label_join import join_pending_labels, window_size

    out = join_pending_labels(ws)
    if args.json:
        emit_json(out)
        return 0
    if out["waiting"]:
        print(f"no batch scored yet: {out['waiting']} label file(s) wait in {ws.settings.labels}")
    for j in out["joined"]:
        print(
            f"joined {j['label_file']}: {j['matched']} of {j['rows']} rows to {len(j['batches'])} batch(es); "
            f"{j['unmatched']} unmatched, {j['already_labelled']} already labelled, {j['bad_rows']} bad"
            + (f" (kept in {j['rejected_rows_path']})" if j["rejected_rows_path"] else "")
        )
        for w in j["windows"]:
            print(
                f"  v{w['model_version']}: "
                + (
                    w["skipped"]
                    if "skipped" in w
                    else f"{w['value']:.3f} [{w['lower']:.3f}, {w['upper']:.3f}] "
                    f"{window_size(w)}" + ("" if w["counted"] else " (below monitoring.min_samples)")
                )
            )
        if j["training_file"]:
            print(f"  {j['training_file']['rows']} labelled rows -> {j['training_file']['path']}")
    for q in out["quarantined"]:
        print(f"quarantined {q['file']} ({q['code']}): {q['message']}\n  kept in {q['path']}")
    if not (out["joined"] or out["quarantined"] or out["waiting"] or out["already_joined"]):
        print(f"nothing to join: no complete file in {ws.settings.labels}")
    return 0


def cmd_predictions(args: argparse.Namespace, settings: Settings) -> int:
    ws = open_workspace_for(settings)
    return {"list": _list, "show": _show, "join": _join}[args.action](ws, args)


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    p = sub.add_parser("score", help="score the unlabelled batches waiting in scoring/ (or FILE) with the champion")
    p.add_argument("file", nargs="?", help="score this CSV/Parquet file where it lies instead")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("predictions", help="scored batches (list, show BATCH) and joining late labels (join)")
    p.add_argument("action", nargs="?", default="list", choices=["list", "show", "join"])
    p.add_argument("batch", nargs="?", help="batch id or prefix (show)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predictions)
