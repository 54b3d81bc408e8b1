"""``ct demo``: drive generated batches through the real DAGs and summarise what happened.

Three projects, one per task type: churn (binary, three batches: a producer's broken file and a
drift among them), house prices (regression) and support-ticket priority (multiclass), each with a
normal first batch and a drifting one (``pipeline/app/demo_datasets.py``). It runs in a data
directory of its own (``pipeline/app/demo_home.py``), never in the user's ``CT_HOME``; churn lives at
its root and the other two in ``projects/<name>/`` beside it. The other two run in processes of
their own alongside churn, each with its own Airflow home (``airflow-<name>``), because a run's
time is mostly Airflow starting task processes on one core: side by side the three take about
the time churn takes alone plus half again, instead of three times it. Their output is printed,
whole, after churn's.
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from pipeline.app.demo_churn import BATCH_NOTES, drop_churn_batch
from pipeline.app.demo_datasets import DEMO_DATASETS, DemoDataset
from pipeline.app.demo_home import default_demo_home, demo_environment, demo_settings, prepare_demo_home
from pipeline.app.local_runner import RunOutcome
from pipeline.app.stages.plan import find_trained_version
from pipeline.core.redaction import redact_url
from pipeline.core.settings import Settings
from pipeline.core.storage import atomic_write_bytes
from pipeline.modeling.promotion import stored_checks

log = logging.getLogger(__name__)

METRIC_TITLES = {"roc_auc": "ROC AUC", "f1": "F1", "rmse": "RMSE", "r2": "R²"}
DATASET_BATCHES = (0, 2)
"""Which batches of each other demo dataset are dropped: the first, then the drifting one (batch 3)."""


@dataclass(frozen=True)
class DemoProject:
    """One project the demo drives: its stores, its batches and the two metrics its summary shows."""

    title: str
    settings: Settings
    batches: tuple[tuple[str, Callable[[Settings], list[str]]], ...]
    """(note, drop) per batch: ``drop`` writes the batch into the landing area and names its files."""
    metrics: tuple[str, str]


def _drop_dataset_batch(settings: Settings, demo: DemoDataset, index: int) -> list[str]:
    """One batch of another demo dataset, dropped as churn's are: a CSV half, a Parquet half, ``_SUCCESS``."""
    frame = demo.batch(index)
    folder = settings.landing / f"batch-{index + 1:03d}"
    half = len(frame) // 2
    names = [f"{demo.file_prefix}-{index + 1}a.csv", f"{demo.file_prefix}-{index + 1}b.parquet"]
    atomic_write_bytes(folder / names[0], frame.iloc[:half].to_csv(index=False).encode())
    frame.iloc[half:].to_parquet(folder / names[1], index=False)
    (folder / "_SUCCESS").touch()
    return names


def _dataset_project(demo_home: Path, demo: DemoDataset) -> DemoProject:
    """A demo dataset as a project of its own under ``projects/<name>/``, with its config written there."""
    home = demo_home / "projects" / demo.name
    home.mkdir(parents=True, exist_ok=True)
    settings = replace(demo_settings(home), config_path=home / "pipeline.yaml")
    atomic_write_bytes(settings.config_path, demo.config_yaml().encode())
    config = demo.config()
    primary = config.promotion.primary_metric
    second = "r2" if config.dataset.task == "regression" else "accuracy"
    batches = tuple((demo.notes[i], partial(_drop_dataset_batch, demo=demo, index=i)) for i in DATASET_BATCHES)
    return DemoProject(
        title=f"{demo.name} ({config.dataset.task})", settings=settings, batches=batches, metrics=(primary, second)
    )


def _churn_project(settings: Settings) -> DemoProject:
    """Churn, at the demo home's root (the bundled config)."""
    return DemoProject(
        title="churn (binary)",
        settings=settings,
        batches=tuple((note, partial(drop_churn_batch, index=i)) for i, note in enumerate(BATCH_NOTES)),
        metrics=("roc_auc", "f1"),
    )


def dataset_airflow_home(demo_home: Path, name: str) -> Path:
    """The Airflow home of a demo dataset's project (kept between demo runs, like churn's)."""
    return demo_home / f"airflow-{name}"


def _run_dataset_project(demo_home: str, name: str) -> tuple[DemoProject, list[list[Any]], str]:
    """Run one demo dataset's project in this (child) process; its rows and everything it printed."""
    os.environ["AIRFLOW_HOME"] = str(dataset_airflow_home(Path(demo_home), name))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        project = _dataset_project(Path(demo_home), DEMO_DATASETS[name])
        rows = _run_project(project)
    return replace(project, batches=()), rows, printed.getvalue()


def _summary_row(
    settings: Settings, batch: str, outcome: RunOutcome, quarantined: int, metrics: Sequence[str]
) -> list[Any]:
    from pipeline.app.workspace import open_workspace
    from pipeline.cli.output import fmt_metric

    ws = open_workspace(settings)
    sid = outcome.snapshot_id
    validation = ws.meta.latest_validation(sid) if sid else None
    mv = find_trained_version(ws, sid) if sid else None
    summary = validation.summary if validation else {}
    drifted = summary.get("drifted_features") or []
    label = summary.get("label_contract") or {}
    held = summary.get("label_contract_held")
    label_text = "—" if held is None else ("held" if held else "BROKEN " + _broken_label(label))
    decision = mv.decision if mv else None
    return [
        batch,
        sid or "—",
        quarantined,
        ", ".join(drifted) if drifted else ("none" if validation else "—"),
        label_text,
        f"v{mv.version}" if mv else "—",
        *(fmt_metric(mv.metrics.get(m)) if mv else "—" for m in metrics),
        _why(decision),
    ]


def _broken_label(contract: dict[str, Any]) -> str:
    """What broke the label contract, briefly: the class shares, or (regression) its first reason."""
    shares = contract.get("observed_shares") or {}
    if shares:
        return " ".join(f"{k}={v:.2f}" for k, v in shares.items())
    return str(contract.get("message", "")).split(";")[0][:60]


def _why(decision: dict[str, Any] | None) -> str:
    """A short account of the promotion decision for the summary table."""
    if not decision:
        return "—"
    verdict = "yes" if decision["promote"] else "no"
    for check in stored_checks(decision):
        if check.kind == "non_inferiority":
            return (
                f"{verdict}: vs v{decision['champion_version']} Δ{check.difference:+.3f} "
                f"[{check.lower:+.3f}, {check.upper:+.3f}], margin {check.threshold:.4g}"
            )
    return f"{verdict}: {decision['reason']}"


def inspect_commands(settings: Settings) -> list[str]:
    """Shell commands that inspect the demo's registry, exactly as the demo prints them.

    ``CT_HOME`` names the demo's home; a ``CT_CONFIG``, ``CT_DATABASE_URL`` or ``CT_DATA_URL`` in
    the user's environment would point the command at the user's config or registry instead, so
    each one that is set is overridden with the demo's own value in the printed line.
    """
    import os
    import shlex

    from pipeline.cli.output import ct_command

    env = [f"CT_HOME={shlex.quote(str(settings.home))}"]
    for key, value in (
        ("CT_CONFIG", str(settings.config_path)),
        ("CT_DATABASE_URL", settings.database_url),
        ("CT_DATA_URL", settings.data_url),
    ):
        if os.environ.get(key):
            env.append(f"{key}={shlex.quote(value)}")
    prefix = " ".join(env) + " " + ct_command()
    return [f"{prefix} models list", f"{prefix} models show 1"]


def run_demo(settings: Settings, fresh: bool = True, home: Path | None = None) -> int:
    """Generate the demo batches and run each through ct_ingest and ct_train; print a summary.

    ``settings`` are the user's: the demo only takes their ``CT_HOME`` to place its own home
    (``home``, default ``$CT_HOME/demo``) beside it; see ``pipeline/app/demo_home.py``.
    """
    target = prepare_demo_home(home or default_demo_home(settings), settings.home, fresh=fresh)
    with demo_environment(target):
        return _run_batches(demo_settings(target), settings)


def _quarantined(settings: Settings) -> set[str]:
    return {p.name for p in settings.quarantine.glob("*/*")} if settings.quarantine.exists() else set()


def _run_project(project: DemoProject) -> list[list[Any]]:
    """Drop each batch of ``project`` and run it through the DAGs; one summary row per batch."""
    from pipeline.app.local_runner import run_landing

    settings, rows = project.settings, []
    print(f"\n### {project.title} in {settings.home}")
    for number, (note, drop) in enumerate(project.batches, start=1):
        t0 = time.perf_counter()
        before = _quarantined(settings)
        names = drop(settings)
        print(f"\n== batch {number}/{len(project.batches)}: {note} — dropped {', '.join(names)}")
        outcome = run_landing(settings, echo=lambda line: print(f"   {line}"))
        quarantined = len([n for n in _quarantined(settings) - before if not n.endswith(".json")])
        if not outcome.ok:
            print(f"   batch {number} FAILED: {'; '.join(outcome.errors)} (log: {outcome.logs[-1]})")
        rows.append(_summary_row(settings, f"{number} ({note})", outcome, quarantined, project.metrics))
        print(f"   batch {number} done in {time.perf_counter() - t0:.1f}s")
    return rows


def _run_batches(settings: Settings, user: Settings) -> int:
    from pipeline.cli.output import table

    started = time.perf_counter()
    print(
        f"CT demo in its own directory {settings.home} (metadata {redact_url(settings.database_url)}); "
        f"your data in {user.home} is not touched"
    )
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no state shared with this one
    with ProcessPoolExecutor(max_workers=len(DEMO_DATASETS), mp_context=spawn) as pool:
        others = [pool.submit(_run_dataset_project, str(settings.home), name) for name in DEMO_DATASETS]
        churn = _churn_project(settings)
        summaries = [(churn, _run_project(churn))]
        for future in others:
            project, rows, printed = future.result()
            print(f"\n(ran alongside churn in a process of its own){printed}", end="")
            summaries.append((project, rows))
    projects = [project for project, _ in summaries]
    for project, rows in summaries:
        primary, second = (METRIC_TITLES.get(m, m) for m in project.metrics)
        print(f"\nSummary: {project.title}")
        header = ["batch", "snapshot", "quarantined", "drifted features", "label contract", "model"]
        print(table([*header, f"{primary} (95% CI)", f"{second} (95% CI)", "champion? why"], rows))
    print(f"\nDemo finished in {time.perf_counter() - started:.0f}s. Inspect it with")
    for project in projects:
        listing, showing = inspect_commands(project.settings)
        print(f"  {listing}\n  {showing}")
    print(f"Reports are under {settings.reports} and projects/*/reports/.")
    print(
        f"In the Airflow UI (Continuous training → Models, Validation, Monitoring): "
        f"CT_HOME={settings.home} make airflow"
    )
    return 0
