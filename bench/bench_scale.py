"""Benchmark: time and peak memory of ingest, snapshot, validation and drift at 100k, 1M and 10M rows.

Issue 19's bar for this 2-core machine: ingest + snapshot + validation of 10M rows (20 numeric + 5
categorical features, a binary label) under 90 s, no stage above 3 GB peak RSS, and the time from
1M to 10M rows growing no worse than 12x. For each row count, each repetition starts from an empty
workspace (SQLite metadata, a ``file://`` data root in ``--workdir``) and runs every stage in its
own subprocess, started from a tiny launcher so that ``RUSAGE_CHILDREN`` is that stage's peak RSS:

* ``ingest``: the N-row CSV through the public ingest stage (``ingest_landing``): parse, check,
  write the snapshot parts and the manifest;
* ``validate``: the public validation stage (``validate_snapshot``) on that first snapshot: no
  champion yet, so every row is checked against a suite generated from it (per-part statistics,
  label contract, parity, Data Docs), with nothing to measure drift against;
* ``append``: a second CSV of N/10 rows ingested on top (not part of the bar; shown for scale);
* ``drift``: the new N/10 rows validated against the first snapshot as the reference
  (``compute_validation``, what the stage runs once there is a champion): suite, drift of all 25
  features against the reference profiles (merged from the cached per-part statistics), label
  contract.

The median of ``--repeat`` runs (3) is reported with every run's time. Generated CSVs (10M rows is
~1.9 GB) are written once under ``--workdir`` (default ``/tmp/ct-bench-scale``); ``--clean``
deletes the whole directory at the end. Run:

    .venv/bin/python -m bench.bench_scale --quick       # 100k and 1M rows
    .venv/bin/python -m bench.bench_scale               # 100k, 1M and 10M rows (the recorded run)
    .venv/bin/python -m bench.bench_scale --rows 1M,3M --stages ingest,validate
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STAGES = ("ingest", "validate", "append", "drift")
BAR_STAGES = ("ingest", "validate")
"""Stages whose times add up to the issue's "ingest + snapshot + validation" figure."""
GOAL_SECONDS = 90.0
GOAL_RSS_BYTES = 3 * 1024**3
GOAL_GROWTH = 12.0
GOAL_ROWS, GROWTH_FROM = 10_000_000, 1_000_000
APPEND_SHARE = 10
"""The appended batch has N / APPEND_SHARE rows."""


def parse_rows(text: str) -> int:
    """A row count written as ``250000``, ``100k``, ``1M`` or ``2.5m``."""
    raw = text.strip().lower().replace("_", "").replace(",", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(raw[-1:], 1)
    number = raw[:-1] if factor != 1 else raw
    try:
        value = float(number) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"row count {text!r}: expected e.g. 100000, 100k or 10M") from None
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"row count {text!r}: expected a whole number of rows >= 1")
    return int(value)


def rows_label(rows: int) -> str:
    """``100k``, ``1M``, ``10M`` (exact), else the number with separators."""
    for factor, suffix in ((1_000_000, "M"), (1_000, "k")):
        if rows % factor == 0:
            return f"{rows // factor}{suffix}"
    return f"{rows:,}"


@dataclass(frozen=True)
class StageRun:
    """One run of one stage in its own process: wall time of the stage's call and the process's peak RSS."""

    stage: str
    rows: int
    seconds: float
    peak_rss_bytes: int
    details: dict[str, Any]


@dataclass(frozen=True)
class StageSummary:
    """The runs of one stage at one row count: median time and the largest peak RSS seen."""

    stage: str
    rows: int
    median_seconds: float
    all_seconds: tuple[float, ...]
    peak_rss_bytes: int


def summarise(runs: Sequence[StageRun]) -> list[StageSummary]:
    """Group runs by (rows, stage), in first-seen order: median seconds and the worst peak RSS."""
    groups: dict[tuple[int, str], list[StageRun]] = {}
    for run in runs:
        groups.setdefault((run.rows, run.stage), []).append(run)
    return [
        StageSummary(
            stage=stage,
            rows=rows,
            median_seconds=statistics.median(r.seconds for r in group),
            all_seconds=tuple(r.seconds for r in group),
            peak_rss_bytes=max(r.peak_rss_bytes for r in group),
        )
        for (rows, stage), group in groups.items()
    ]


@dataclass(frozen=True)
class GoalCheck:
    """One goal of the issue, what was measured against it, and whether it holds."""

    goal: str
    measured: str
    held: bool | None
    """None when the run did not measure what the goal needs (e.g. no 10M rows in a quick run)."""


def check_goals(summaries: Sequence[StageSummary]) -> list[GoalCheck]:
    """The issue's three goals against the medians: 10M-row time, peak RSS per stage, 1M->10M growth."""
    by = {(s.rows, s.stage): s for s in summaries}
    checks: list[GoalCheck] = []
    bar = [by.get((GOAL_ROWS, stage)) for stage in BAR_STAGES]
    if all(bar):
        total = sum(s.median_seconds for s in bar if s)
        checks.append(
            GoalCheck(
                f"{' + '.join(BAR_STAGES)} at {rows_label(GOAL_ROWS)} rows < {GOAL_SECONDS:.0f} s",
                f"{total:.1f} s",
                total < GOAL_SECONDS,
            )
        )
    else:
        checks.append(
            GoalCheck(
                f"{' + '.join(BAR_STAGES)} at {rows_label(GOAL_ROWS)} rows < {GOAL_SECONDS:.0f} s", "not measured", None
            )
        )
    worst = max(summaries, key=lambda s: s.peak_rss_bytes, default=None)
    checks.append(
        GoalCheck(
            f"no stage above {GOAL_RSS_BYTES / 1024**3:.0f} GiB peak RSS",
            f"largest {worst.peak_rss_bytes / 1024**2:,.0f} MiB ({worst.stage}, {rows_label(worst.rows)} rows)"
            if worst
            else "not measured",
            worst.peak_rss_bytes <= GOAL_RSS_BYTES if worst else None,
        )
    )
    for stage in (*STAGES, "+".join(BAR_STAGES)):
        parts = stage.split("+")
        small = [by.get((GROWTH_FROM, p)) for p in parts]
        large = [by.get((GOAL_ROWS, p)) for p in parts]
        if not (all(small) and all(large)):
            continue
        ratio = growth(sum(s.median_seconds for s in small if s), sum(s.median_seconds for s in large if s))
        checks.append(
            GoalCheck(
                f"{stage}: {rows_label(GROWTH_FROM)} -> {rows_label(GOAL_ROWS)} rows at most {GOAL_GROWTH:.0f}x time",
                f"{ratio:.1f}x",
                ratio <= GOAL_GROWTH,
            )
        )
    return checks


def growth(small_seconds: float, large_seconds: float) -> float:
    """How many times longer the large run took (inf when the small one took no time)."""
    return large_seconds / small_seconds if small_seconds > 0 else float("inf")


def format_table(summaries: Sequence[StageSummary], checks: Sequence[GoalCheck]) -> str:
    """The printed result: one line per (rows, stage), then the goals with their verdicts."""
    lines = [f"{'rows':>6} {'stage':9} {'median s':>9} {'peak RSS':>10} {'s/M rows':>9}  all runs (s)"]
    for s in summaries:
        data_rows = s.rows // APPEND_SHARE if s.stage in ("append", "drift") else s.rows
        per_million = s.median_seconds / (data_rows / 1e6)
        lines.append(
            f"{rows_label(s.rows):>6} {s.stage:9} {s.median_seconds:>9.2f} {s.peak_rss_bytes / 1024**2:>6,.0f} MiB "
            f"{per_million:>9.2f}  {[round(x, 2) for x in s.all_seconds]}"
        )
    lines.append("")
    for c in checks:
        verdict = {True: "OK", False: "MISSED", None: "—"}[c.held]
        lines.append(f"{verdict:7} {c.goal}: {c.measured}")
    return "\n".join(lines)


# -- the stages, each run in a child process -----------------------------------------------------------


def _workspace(home: Path) -> Any:
    from bench.bench_snapshots import _workspace as snapshots_workspace

    return snapshots_workspace(home)


def _land(ws: Any, csv: Path) -> None:
    """Put ``csv`` in the landing area: a hard link when possible (set-up, not timed)."""
    ws.settings.landing.mkdir(parents=True, exist_ok=True)
    target = ws.settings.landing / csv.name
    try:
        os.link(csv, target)
    except OSError:
        shutil.copy(csv, target)


def _run_stage(args: argparse.Namespace) -> dict[str, Any]:
    """In a child: run one stage on the workspace at ``--home`` and time the stage's call alone."""
    import pipeline.app.stages  # noqa: F401  (every stage pays for the same imports, outside the timing)
    from pipeline.app.stages import ingest_landing
    from pipeline.app.stages.validate import validate_snapshot
    from pipeline.data.snapshots import read_manifest
    from pipeline.quality.snapshot_validation import compute_validation

    ws = _workspace(Path(args.home))
    if args.child in ("ingest", "append"):
        _land(ws, Path(args.file))
        start = time.perf_counter()
        out = ingest_landing(ws)
        seconds = time.perf_counter() - start
        if not out.created or out.quarantined:
            raise SystemExit(f"ingest of {args.file} did not create a clean snapshot: {out}")
        return {"seconds": seconds, "snapshot_id": out.snapshot_id, "rows": out.rows, "new_rows": out.new_rows}
    if args.child == "validate":
        start = time.perf_counter()
        outcome = validate_snapshot(ws, args.snapshot)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "passed": outcome.passed, "parts_read": outcome.parts_read}
    reference = read_manifest(ws.store, args.reference)
    start = time.perf_counter()
    run = compute_validation(ws, args.snapshot, reference)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "passed": run.report.passed,
        "new_rows": run.report.new_rows,
        "drifted": run.report.drifted_features,
        "statistics": run.report.statistics,
    }


# A tiny launcher runs the stage child, so RUSAGE_CHILDREN holds exactly that child's peak, not the
# (data-generating) benchmark process it would otherwise be forked from.
LAUNCHER = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if done.returncode:
    sys.stderr.write(done.stderr[-4000:])
    sys.exit(done.returncode)
print(json.dumps({"child": json.loads(done.stdout.strip().splitlines()[-1]),
                  "children_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_child(stage: str, rows: int, home: Path, **options: str) -> StageRun:
    """Run one stage in a fresh process (through the launcher) and read back its report."""
    cmd = [sys.executable, "-m", "bench.bench_scale", "--child", stage, "--home", str(home)]
    for key, value in options.items():
        cmd += [f"--{key}", value]
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False
    )
    if done.returncode:
        raise RuntimeError(f"stage {stage} at {rows:,} rows failed:\n{done.stderr}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    child = report["child"]
    return StageRun(
        stage=stage,
        rows=rows,
        seconds=float(child.pop("seconds")),
        peak_rss_bytes=int(report["children_maxrss_kb"]) * 1024,
        details=child,
    )


def run_rows(rows: int, stages: Sequence[str], workdir: Path, repetition: int) -> list[StageRun]:
    """One repetition at ``rows``: a fresh workspace, the chosen stages in order, then the workspace deleted."""
    from bench.bench_snapshots import write_file

    data = workdir / "data"
    base = data / f"base_{rows}.csv"
    extra = max(1, rows // APPEND_SHARE)
    delta = data / f"append_{extra}.csv"
    if not base.exists():
        write_file(base, rows, seed=1)
    if ("append" in stages or "drift" in stages) and not delta.exists():
        write_file(delta, extra, seed=10_000_019, first_id=rows)
    home = workdir / f"home_{rows}_{repetition}"
    shutil.rmtree(home, ignore_errors=True)
    runs: list[StageRun] = []
    try:
        first = run_child("ingest", rows, home, file=str(base))
        snapshot = str(first.details["snapshot_id"])
        if "ingest" in stages:
            runs.append(first)
        if "validate" in stages:
            runs.append(run_child("validate", rows, home, snapshot=snapshot))
        if "append" in stages or "drift" in stages:
            appended = run_child("append", rows, home, file=str(delta))
            if "append" in stages:
                runs.append(appended)
            if "drift" in stages:
                runs.append(
                    run_child("drift", rows, home, snapshot=str(appended.details["snapshot_id"]), reference=snapshot)
                )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", default="100k,1M,10M", help="comma-separated row counts (default 100k,1M,10M)")
    p.add_argument("--quick", action="store_true", help="100k and 1M rows only")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {','.join(STAGES)}")
    p.add_argument("--repeat", type=int, default=3, help="runs per stage and row count; the median is reported")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/ct-bench-scale"))
    p.add_argument("--clean", action="store_true", help="delete --workdir (generated CSVs) at the end")
    p.add_argument("--json", type=Path, help="also write every run as JSON here")
    p.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    p.add_argument("--home", help=argparse.SUPPRESS)
    p.add_argument("--file", help=argparse.SUPPRESS)
    p.add_argument("--snapshot", help=argparse.SUPPRESS)
    p.add_argument("--reference", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        result = _run_stage(args)
        result["self_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps(result))
        return 0
    sizes = [100_000, 1_000_000] if args.quick else [parse_rows(x) for x in args.rows.split(",")]
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        p.error(f"unknown stages {unknown}; choose from {', '.join(STAGES)}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()
    runs: list[StageRun] = []
    try:
        for rows in sizes:
            for repetition in range(args.repeat):
                got = run_rows(rows, stages, args.workdir, repetition)
                for r in got:
                    print(
                        f"  {rows_label(rows):>5} run {repetition + 1}: {r.stage:9} {r.seconds:8.2f} s "
                        f"{r.peak_rss_bytes / 1024**2:7,.0f} MiB",
                        flush=True,
                    )
                runs.extend(got)
    finally:
        if args.clean:
            shutil.rmtree(args.workdir, ignore_errors=True)
    summaries = summarise(runs)
    print(
        f"\nmachine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}; "
        f"started {started}; load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
        f"median of {args.repeat} run(s); 20 numeric + 5 categorical features, CSV input"
    )
    print(format_table(summaries, check_goals(summaries)))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in runs], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
