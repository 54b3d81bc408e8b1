"""`ct run`, `ct demo` and `ct airflow`: drive the DAGs on the embedded default."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pipeline.cli.output import (
    emit_json,
)
from pipeline.core.errors import CTError
from pipeline.core.settings import Settings


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.app.local_runner import run_landing

    if args.force and not (args.reason or "").strip():
        raise CTError(
            "`ct run --force` needs a reason (--reason TEXT): a forced run can promote a model that is "
            "not better, and the reason is written to the registry and the ledger, as with "
            "`ct models promote`"
        )

    outcome = run_landing(
        settings,
        spec=args.spec,
        force=args.force,
        reason=args.reason or "",
        trigger="manual" if args.force else "new_data",
        echo=(lambda _line: None) if args.json else print,
    )
    if args.json:
        emit_json(outcome.to_dict())
    elif not outcome.ok:
        for line in outcome.errors:
            print(f"error: {line}", file=sys.stderr)
        print(f"full log: {outcome.logs[-1] if outcome.logs else '—'}", file=sys.stderr)
    return 0 if outcome.ok else 1


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.cli.demo_run import run_demo

    return run_demo(settings, fresh=not args.keep, home=Path(args.home) if args.home else None)


def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.app.demo_drip import drip, drip_unlabelled, parse_duration

    if args.unlabelled:
        drip_unlabelled(
            settings.scoring, settings.labels, settings.archive, parse_duration(args.every), args.batches, args.rows
        )
        return 0
    drip(settings.landing, settings.archive, parse_duration(args.every), args.batches, args.rows)
    return 0


def cmd_airflow(args: argparse.Namespace, settings: Settings) -> int:
    import subprocess

    from pipeline.app.airflow_runner import airflow_binary, airflow_env, ensure_airflow_db

    env = airflow_env(settings)
    ensure_airflow_db(env)
    if args.args:
        return subprocess.run([airflow_binary(), *args.args], env=env, check=False).returncode  # its exit code is ours
    print(airflow_env_exports(env))
    return 0


def airflow_env_exports(env: dict[str, str]) -> str:
    """The ``AIRFLOW*``/``CT_*`` environment as shell ``export`` lines, secrets never printed.

    A value holding a secret (a URL with a password, a key, a token, a webhook URL) can only have
    come from the caller's environment, so its line re-exports the variable by reference and a
    comment shows it redacted: ``eval "$(ct airflow)"`` still works and the screen shows no secret.
    """
    import shlex

    from pipeline.core.redaction import redact_env_value

    lines = []
    for key, value in sorted(env.items()):
        if not key.startswith(("AIRFLOW", "CT_")):
            continue
        shown = redact_env_value(key, value)
        if shown == value:
            lines.append(f"export {key}={shlex.quote(value)}")
        else:
            lines.append(f'export {key}="${{{key}}}"  # {shown} (secret: taken from your environment, not printed)')
    return "\n".join(lines)


def cmd_standalone(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.app.airflow_runner import run_standalone

    return run_standalone(settings)


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    p = sub.add_parser("run", help="ingest the landing area and train through the DAGs (embedded Airflow)")
    p.add_argument("--spec", help="model spec name from the config")
    p.add_argument("--force", action="store_true", help="retrain and promote even if not better (recorded)")
    p.add_argument("--reason", help="why (required with --force; recorded with the run)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("demo", help="generate demo batches and drive them through the DAGs (in a home of its own)")
    p.add_argument("--keep", action="store_true", help="keep earlier demo data instead of starting fresh")
    p.add_argument(
        "--home",
        help="the demo's own data directory (default $CT_HOME/demo); refused if it holds files the demo did not create",
    )
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("demo-data", help="drip demo batches into the landing area (watch the DAGs pick them up)")
    p.add_argument("--every", default="30s", help="time between batches, e.g. 30s, 2m (default 30s)")
    p.add_argument("--batches", type=int, default=6, help="how many batches (default 6; every third drifts)")
    p.add_argument("--rows", type=int, default=2000, help="rows per batch (default 2000)")
    p.add_argument(
        "--unlabelled",
        action="store_true",
        help="drop batches without labels into scoring/ and their labels into labels/ one interval later",
    )
    p.set_defaults(func=cmd_demo_data)
    p = sub.add_parser(
        "standalone",
        help="a real Airflow (standalone) on 127.0.0.1 with the DAGs unpaused once it "
        "answers; prints the URL and password file in use",
    )
    p.set_defaults(func=cmd_standalone)
    p = sub.add_parser("airflow", help="run an airflow command with this project's environment")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_airflow)
