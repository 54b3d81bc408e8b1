"""`ct runs pending` and `ct runs requests`: what the loop still has to do, and why.

Everything shown is read from the landing areas and the metadata store, never from Airflow: the
store is the record of pending work (Airflow's Asset events are hints that may be coalesced).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any

from pipeline.cli.output import emit_json, open_workspace_for, table
from pipeline.core.settings import Settings


@dataclass(frozen=True)
class PendingItem:
    """One piece of waiting work: which DAG takes it, what it is, and why it waits."""

    dag: str
    what: str
    why: str
    since: str = ""
    claimed_by: str = ""


def pending_work(ws: Any) -> list[PendingItem]:
    """Waiting files, snapshots not checked by ct_monitor, and unresolved training requests."""
    from pipeline.app.stages import landing_status
    from pipeline.app.stages.monitor import monitor_inputs_waiting, unchecked_snapshots
    from pipeline.app.work_requests import pending_requests

    items: list[PendingItem] = []
    status = landing_status(ws)
    items += [
        PendingItem("ct_ingest", f"landing/{name}", "complete, waiting to be ingested") for name in status["ready"]
    ]
    items += [
        PendingItem(
            "ct_ingest",
            f"landing/{name}",
            f"still being written (or unchanged for less than {status['stable_seconds']} s)",
        )
        for name in status["in_progress"]
    ]
    items += [PendingItem("ct_ingest", f"table {name}", "new rows in the source table") for name in status["tables"]]
    items += [PendingItem("ct_monitor", name, "waiting to be scored or joined") for name in monitor_inputs_waiting(ws)]
    items += [
        PendingItem(
            "ct_monitor",
            f"snapshot {s.id}",
            f"{s.rows} rows; not yet scored by the champion (test, then train)",
            s.created_at,
        )
        for s in reversed(unchecked_snapshots(ws))
    ]
    items += [
        PendingItem(
            "ct_train",
            f"request #{r.id} {r.kind}",
            f"{r.reason} (snapshot {r.snapshot_id or '—'})",
            r.created_at,
            r.claimed_by or "",
        )
        for r in pending_requests(ws)
    ]
    return items


def cmd_pending(args: argparse.Namespace, settings: Settings) -> int:
    items = pending_work(open_workspace_for(settings))
    if args.json:
        emit_json([asdict(i) for i in items])
        return 0
    if not items:
        print(
            "nothing is waiting: every landed file is ingested, every snapshot checked and every training request "
            "resolved"
        )
        return 0
    print(
        table(
            ["dag", "what", "why", "since (UTC)", "claimed by (run not finished)"],
            [[i.dag, i.what, i.why, i.since.replace("+00:00", ""), i.claimed_by or "—"] for i in items],
        )
    )
    return 0


def cmd_requests(args: argparse.Namespace, settings: Settings) -> int:
    ws = open_workspace_for(settings)
    requests = ws.meta.list_work_requests(ws.config.model.name, limit=args.limit)
    if args.json:
        emit_json([r.to_dict() for r in requests])
        return 0
    if not requests:
        print("no training requests yet")
        return 0
    print(
        table(
            ["#", "raised (UTC)", "kind", "snapshot", "status", "by run", "version", "resolution"],
            [
                [
                    r.id,
                    r.created_at.replace("+00:00", ""),
                    r.kind,
                    r.snapshot_id or "—",
                    r.status,
                    r.resolved_by or r.claimed_by or "—",
                    f"v{r.resolved_version}" if r.resolved_version else "—",
                    r.resolution or "—",
                ]
                for r in requests
            ],
        )
    )
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    runs = sub.add_parser("runs", help="work waiting for the DAGs, and the training requests they resolved")
    group = runs.add_subparsers(dest="runs_command", required=True)
    p = group.add_parser("pending", help="what is waiting (files, unchecked snapshots, training requests) and why")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_pending)
    p = group.add_parser(
        "requests", help="training requests, newest first, with the run and version that resolved each"
    )
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_requests)
