"""Benchmark: every console page on a store of 200 model versions and 500 snapshots (issue 17).

The issue asks that each page render in under a second with 200 versions and 500 snapshots in
the store. Training 200 models would take an hour, so the store is grown from a real one: the
churn demo's three batches run through the loop in this process (ingest, champion scoring,
training; about 30 s), then :func:`seed_store` adds clones through the metadata store API in the
order the loop would have made them. Each new snapshot gets a manifest (a real one's parts under
the clone's id) and a validation (a real summary pointing at the clone); every few snapshots a
version is trained on it (real metrics and evaluation with a small shift, so charts differ), with
its decision and model report; some versions are promoted, some moves rolled back (a ledger of
about 50 rows); the champion of the moment scores each snapshot into live windows; alerts are
copies of the real ones.

The console app is built as the Airflow plugin builds it, without Airflow's auth (every request
is the user ``bench``), and with the plugin's per-request ``open_workspace(settings)``: each
request reads the config and opens a fresh metadata store, so that cost is in every number.
Each page and its ``/api`` JSON twin is requested ``--repeat`` times after one warm-up, first
in process (``fastapi.testclient.TestClient``), then over HTTP through uvicorn on 127.0.0.1
(``--port``, default 18471; the server runs in a thread of this process). A page that fails is
a row with its status (500 while a page is still a placeholder), never a crash. A page whose
warm-up took over ``--slow`` seconds is timed once more only, to keep the run short (``n``).

Run:

    .venv/bin/python -m bench.console_pages                          # seed in a temp dir, time every page
    .venv/bin/python -m bench.console_pages --home /tmp/ct-console   # keep the seeded store; reuse it next time
    .venv/bin/python -m bench.console_pages --home /tmp/ct-console --profile snapshots   # where one page's time goes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pipeline.app.demo_home import demo_settings
from pipeline.app.workspace import Workspace, code_version, open_workspace
from pipeline.core.settings import Settings
from pipeline.data.snapshots import manifest_key
from pipeline.monitoring.live_performance import window_key
from pipeline.registry.alert import Alert
from pipeline.registry.base import CHAMPION, ModelVersion, NewModelVersion, SnapshotRecord

log = logging.getLogger("bench.console_pages")

PORT = 18471
SEEDED_MARK = "bench-console-seeded.json"
"""Written in ``--home`` once seeded: its counts; a later run with the same home reuses the store."""
PACKAGES = ("fastapi", "starlette", "uvicorn", "httpx", "jinja2", "sqlalchemy", "pydantic")


# -- the store -----------------------------------------------------------------------------


def run_demo_batches(home: Path) -> Settings:
    """The churn demo's three batches through ingest, champion scoring and training, in process."""
    from pipeline.app.demo_churn import run_churn_demo_in_process

    return run_churn_demo_in_process(home)[0]


@dataclass(frozen=True)
class SeedCounts:
    """What the store holds, counted back from it (not what the seeding meant to write)."""

    versions: int
    snapshots: int
    validations: int
    ledger: int
    alerts: int
    windows: int


@dataclass(frozen=True)
class SeedTargets:
    """Totals the store should reach; what is there already counts towards them."""

    versions: int = 200
    snapshots: int = 500
    ledger: int = 50
    alerts: int = 300
    windows_per_snapshot: int = 2
    failed_share: float = 0.05
    """Share of the cloned validations that fail (their snapshots get no version)."""
    seed: int = 17


def _spread(i: int, total: int, slots: int) -> int:
    """How many of ``total`` items fall on slot ``i`` of ``slots`` when spread evenly."""
    return 0 if slots <= 0 else (i + 1) * total // slots - i * total // slots


def _hex(*parts: object, n: int = 16) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:n]


def _shift(value: Any, delta: float) -> Any:
    """``value`` with every float moved by ``delta`` (kept in [0, 1] when it was), ints and the rest as they are."""
    if isinstance(value, dict):
        return {k: _shift(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, delta) for v in value]
    if isinstance(value, float) and not isinstance(value, bool):
        if 0.0 <= value <= 1.0:
            return min(1.0, max(0.0, value + delta))
        return value * (1.0 + delta)
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _window_templates(ws: Workspace, model: str) -> list[dict[str, Any]]:
    keys = [k for k in ws.store.list(f"monitoring/{model}") if "/joined-files/" not in k and k.endswith(".json")]
    return [json.loads(ws.store.get(k)) for k in keys]


def count_store(ws: Workspace) -> SeedCounts:
    """Count what the store holds for the configured model."""
    model = ws.config.model.name
    return SeedCounts(
        versions=len(ws.meta.list_model_versions(model)),
        snapshots=len(ws.meta.list_snapshots()),
        validations=len(ws.meta.list_validations(limit=1_000_000)),
        ledger=len(ws.meta.promotion_history(model)),
        alerts=len(ws.meta.list_alerts()),
        windows=len(_window_templates(ws, model)),
    )


def seed_store(ws: Workspace, targets: SeedTargets = SeedTargets()) -> SeedCounts:
    """Grow a real store to ``targets`` with clones of its own records, in the order the loop makes them.

    Needs at least one snapshot (with its manifest), one validation and one version of the
    configured model to copy; alerts and live windows are copied only when there are some.
    Snapshots continue the dataset's chain; each cloned snapshot gets its manifest (a real one's
    parts under the new id) and a validation against its parent. Versions are trained on evenly
    spread snapshots whose validation passed, each with a decision and its model report; ledger
    moves are spread over the versions (every seventh a rollback); the champion of the moment
    scores each new snapshot into ``windows_per_snapshot`` live windows. Returns the counts.
    """
    from pipeline.reporting.pages import write_model_report  # jinja and the plots: only when seeding

    meta, store, model = ws.meta, ws.store, ws.config.model.name
    rng = random.Random(targets.seed)
    snapshots = list(reversed(meta.list_snapshots()))  # oldest first
    validations = list(reversed(meta.list_validations(limit=1_000_000)))
    versions = list(reversed(meta.list_model_versions(model)))
    if not (snapshots and validations and versions):
        raise ValueError("seed_store copies real records: the store needs a snapshot, a validation and a version")
    manifests = {s.id: json.loads(store.get(manifest_key(s.id))) for s in snapshots}
    ledger = meta.promotion_history(model)
    evidence = ledger[-1].evidence if ledger else {}
    alerts = meta.list_alerts()
    windows = _window_templates(ws, model)
    before = count_store(ws)

    new_snapshots = max(targets.snapshots - before.snapshots, 0)
    new_versions = max(targets.versions - before.versions, 0)
    new_moves = max(targets.ledger - before.ledger, 0)
    new_alerts = max(targets.alerts - before.alerts, 0)
    failing = {i for i in range(new_snapshots) if rng.random() < targets.failed_share}
    trainable = [i for i in range(new_snapshots) if i not in failing] or list(range(new_snapshots))
    if new_versions and not trainable:
        raise ValueError(f"{new_versions} versions wanted but no snapshots to add: raise targets.snapshots")
    versions_on = {trainable[i]: _spread(i, new_versions, len(trainable)) for i in range(len(trainable))}
    configs = [_hex("bench-config", k) for k in range(4)]

    parent = snapshots[-1].id
    made = 0  # versions made so far (for the spread of ledger moves)
    moves = 0
    champion = meta.get_alias(model, CHAMPION)
    for i in range(new_snapshots):
        template = snapshots[i % len(snapshots)]
        snapshot_id = _hex("bench-snapshot", targets.seed, i)
        manifest = {**manifests[template.id], "id": snapshot_id, "parent": parent, "created_at": _now()}
        store.put(manifest_key(snapshot_id), json.dumps(manifest, indent=2).encode())
        meta.record_snapshot(
            SnapshotRecord(
                id=snapshot_id,
                dataset=template.dataset,
                parent=parent,
                rows=template.rows,
                parts=template.parts,
                manifest_uri=store.uri(manifest_key(snapshot_id)),
                created_at=manifest["created_at"],
            )
        )
        passed = i not in failing
        summary = {
            **validations[-1 if not passed else i % len(validations)].summary,
            "snapshot_id": snapshot_id,
            "reference_snapshot_id": parent,
            "passed": passed,
            "run_id": f"bench-run-{i}",
        }
        source = validations[i % len(validations)]
        validation = meta.record_validation(snapshot_id, parent, passed, summary, source.report_uri)

        for k in range(versions_on.get(i, 0)):
            base = versions[(made + k) % len(versions)]
            delta = 0.03 * (rng.random() - 0.5) + 0.01 * ((made % 20) / 20 - 0.5)
            mv, _ = meta.register_model(
                NewModelVersion(
                    name=model,
                    snapshot_id=snapshot_id,
                    config_hash=configs[(made + k) % len(configs)],
                    spec_name=base.spec_name,
                    params=base.params,
                    metrics=_shift(base.metrics, delta),
                    evaluation=_shift(base.evaluation, delta),
                    artifact_uri=base.artifact_uri,
                    artifact_sha256=base.artifact_sha256,
                    validation_id=validation.id,
                    trigger={**base.trigger, "run_id": f"bench-run-{i}", "snapshot_id": snapshot_id},
                    code_version=base.code_version,
                    lineage=base.lineage,
                    feature_schema=base.feature_schema,
                    environment=base.environment,
                )
            )
            made += 1
            # moves spread over the versions, the first clone promoted and the newest few still challengers
            move = _spread(new_versions - made, new_moves, new_versions) > 0 and moves < new_moves
            decision = {
                "reason": "bench: a clone of a real version",
                "checks": [],
                **(base.decision or {}),
                "promote": move,
                "champion_version": champion.version if champion else None,
            }
            meta.record_decision(model, mv.version, decision)
            write_model_report(store, replace(mv, decision=decision))
            if move:
                moves += 1
                if moves % 7 == 0 and len(meta.promotion_history(model)) > 1:
                    meta.rollback_alias(model, CHAMPION, "bench: the newer champion was rolled back", "bench")
                else:
                    meta.set_alias(model, CHAMPION, mv.version, decision.get("reason", "bench"), evidence, "ct")
                champion = meta.get_alias(model, CHAMPION)

        if champion is not None and windows:
            for k in range(targets.windows_per_snapshot):
                window = _shift(windows[(i + k) % len(windows)], 0.02 * (rng.random() - 0.5))
                window_id = _hex("bench-window", targets.seed, i, k, n=64)
                window.update(window_id=window_id, model_version=champion.version, observed_at=_now())
                store.put(window_key(model, champion.version, window_id), json.dumps(window).encode())

        for k in range(_spread(i, new_alerts, new_snapshots) if alerts else 0):
            a = alerts[(i + k) % len(alerts)]
            meta.record_alert(
                Alert(
                    kind=a.kind,  # type: ignore[arg-type]  # a stored kind is one of Alert's kinds
                    severity=a.severity,  # type: ignore[arg-type]
                    title=a.title,
                    message=a.message,
                    dedupe_key=f"{a.dedupe_key}:bench-{i}-{k}"[:255],
                    details=a.details,
                    source=a.source,
                ),
                delivery_status=a.delivery_status,
            )
        parent = snapshot_id
    return count_store(ws)


# -- timing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    name: str
    path: str


@dataclass(frozen=True)
class Timing:
    page: str
    path: str
    status: int
    bytes: int
    n: int
    median_ms: float
    max_ms: float
    error: str = ""


def pages_to_time(ws: Workspace) -> list[Page]:
    """Every page of the console on this store, each ``/ui`` page followed by its ``/api`` twin.

    The version page is the champion's (the longest: a decision with its checks), compared with
    the newest version; the snapshot page and diff are the newest snapshot's (against its
    parent); the validation page is the newest validation.
    """
    from pipeline.app.console.links import Links

    links, model = Links(), ws.config.model.name
    versions = ws.meta.list_model_versions(model)
    champion: ModelVersion | None = ws.meta.get_alias(model, CHAMPION) or (versions[0] if versions else None)
    newest = versions[0] if versions else None
    snapshots = ws.meta.list_snapshots()
    validations = ws.meta.list_validations(limit=1)
    ui: list[Page] = [Page("models", links.models())]
    if champion is not None and newest is not None:
        other = newest.version if newest.version != champion.version else max(champion.version - 1, 1)
        ui += [
            Page("version", links.version(model, champion.version)),
            Page("report", links.report(model, champion.version)),
            Page("compare", links.compare(model, champion.version, other)),
        ]
    ui.append(Page("snapshots", links.snapshots()))
    if snapshots:
        ui.append(Page("snapshot", links.snapshot(snapshots[0].id)))
        ui.append(Page("snapshot diff", links.snapshot_diff(snapshots[0].parent or snapshots[0].id, snapshots[0].id)))
    ui.append(Page("validations", links.validations()))
    if validations:
        ui.append(Page("validation", links.validation(validations[0].id)))
    ui.append(Page("monitoring", links.monitoring()))
    out: list[Page] = []
    for p in ui:
        out.append(p)
        if p.name != "report":  # the report is a stored HTML page: no JSON twin
            out.append(Page(f"{p.name} (json)", "/api/" + p.path.split("/ui/", 1)[1]))
    return out


def time_pages(get: Callable[[str], tuple[int, int, str]], pages: list[Page], repeat: int, slow: float) -> list[Timing]:
    """Request each page once to warm up, then ``repeat`` times (once if the warm-up took ``slow`` s)."""
    out = []
    for p in pages:
        start = time.perf_counter()
        status, size, error = get(p.path)
        warm = time.perf_counter() - start
        samples = []
        for _ in range(1 if warm > slow else repeat):
            start = time.perf_counter()
            status, size, error = get(p.path)
            samples.append(time.perf_counter() - start)
        out.append(
            Timing(
                p.name,
                p.path,
                status,
                size,
                len(samples),
                statistics.median(samples) * 1000,
                max(samples) * 1000,
                error,
            )
        )
    return out


def in_process_getter(app: Any) -> Callable[[str], tuple[int, int, str]]:
    """GET through the app in this process; an exception from a page is a 500 row naming it."""
    with warnings.catch_warnings():  # starlette's note that its test client will move to httpx2
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    client = TestClient(app, raise_server_exceptions=True)

    def get(path: str) -> tuple[int, int, str]:
        try:
            r = client.get(path, follow_redirects=False)
        except Exception as err:  # a page that raises (a placeholder's NotImplementedError): its row says so
            return 500, 0, f"{type(err).__name__}: {err}".rstrip(": ")
        return r.status_code, len(r.content), "" if r.status_code < 400 else r.text[:120]

    return get


@contextmanager
def uvicorn_server(app: Any, port: int) -> Iterator[str | None]:
    """The app served by uvicorn on 127.0.0.1:``port`` in a thread; yields its URL (None if it did not start)."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="bench-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}" if server.started else None
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def http_getter(url: str) -> tuple[Callable[[str], tuple[int, int, str]], Callable[[], None]]:
    import httpx

    client = httpx.Client(base_url=url, timeout=120, follow_redirects=False)

    def get(path: str) -> tuple[int, int, str]:
        try:
            r = client.get(path)
        except httpx.TransportError:
            # uvicorn closes the connection after a page raised; the next request finds it gone once
            try:
                r = client.get(path)
            except httpx.TransportError as err:
                return 0, 0, f"{type(err).__name__}: {err}"
        return r.status_code, len(r.content), "" if r.status_code < 400 else r.text[:120]

    return get, client.close


def print_table(title: str, rows: list[Timing]) -> None:
    print(f"\n{title}")
    head = ("page", "path", "status", "bytes", "n", "median ms", "max ms", "< 1 s")
    cells = [
        (
            t.page,
            t.path,
            str(t.status),
            f"{t.bytes:,}",
            str(t.n),
            f"{t.median_ms:.0f}",
            f"{t.max_ms:.0f}",
            "yes" if t.status == 200 and t.median_ms < 1000 else ("no" if t.status == 200 else "—"),
        )
        for t in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    right = {2, 3, 4, 5, 6}

    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))

    print(fmt(head))
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print(fmt(c))
    errors = {(t.status, t.error) for t in rows if t.status >= 400 or t.status == 0}
    for status, error in sorted(errors):
        print(f"  {status}: {error or '(no message)'}")


def profile_page(app: Any, pages: list[Page], name: str) -> int:
    """Where one page's time goes: the project's costliest calls in a request after a warm-up, and the hot spots.

    FastAPI runs a sync route (and the access check) in a worker thread, out of the profiler's
    sight; here they run inline in this thread instead, through httpx's ASGI transport.
    """
    import asyncio
    import cProfile
    import pstats
    from unittest import mock

    import httpx

    chosen = [p for p in pages if p.name == name]
    if not chosen:
        sys.exit(f"no page {name!r}; the pages are: {', '.join(p.name for p in pages)}")

    async def inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    async def fetch() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            return (await client.get(chosen[0].path)).status_code

    with (
        mock.patch("fastapi.routing.run_in_threadpool", inline),
        mock.patch("fastapi.dependencies.utils.run_in_threadpool", inline),
    ):
        asyncio.run(fetch())
        profiler = cProfile.Profile()
        status = profiler.runcall(asyncio.run, fetch())
    print(f"{chosen[0].path}: status {status}")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(r"/pipeline/", 25)  # the project's calls, outermost first
    stats.sort_stats("tottime").print_stats(15)  # where the time is spent, whoever spends it
    return 0


# -- main ----------------------------------------------------------------------------------


def _versions() -> str:
    out = []
    for name in PACKAGES:
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} —")
    return ", ".join(out)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _median_ms(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def prepare(home: Path, targets: SeedTargets) -> tuple[Settings, SeedCounts]:
    """The seeded store in ``home``: made there now, or the one an earlier run left (its mark)."""
    settings = demo_settings(home)
    mark = home / SEEDED_MARK
    if mark.exists():
        counts = SeedCounts(**json.loads(mark.read_text()))
        print(f"store: reusing {home} ({mark.name})")
        return settings, counts
    if home.exists() and any(home.iterdir()):
        sys.exit(f"{home} holds files and no {SEEDED_MARK}: give --home a new or empty directory")
    start = time.perf_counter()
    run_demo_batches(home)
    demo = time.perf_counter() - start
    start = time.perf_counter()
    counts = seed_store(open_workspace(settings), targets)
    seeded = time.perf_counter() - start
    mark.write_text(json.dumps(asdict(counts)))
    print(f"store: demo loop {demo:.1f} s, seeding {seeded:.1f} s, in {home}")
    return settings, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="keep the seeded store here (reused when seeded already)")
    parser.add_argument("--versions", type=int, default=SeedTargets.versions)
    parser.add_argument("--snapshots", type=int, default=SeedTargets.snapshots)
    parser.add_argument("--ledger", type=int, default=SeedTargets.ledger, help="promotion ledger rows")
    parser.add_argument("--alerts", type=int, default=SeedTargets.alerts)
    parser.add_argument("--repeat", type=int, default=5, help="requests per page after one warm-up")
    parser.add_argument("--slow", type=float, default=3.0, help="time a page once only if its warm-up took longer (s)")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--no-http", action="store_true", help="skip the uvicorn run")
    parser.add_argument("--profile", metavar="PAGE", help="profile one page (its name in the table), then stop")
    parser.add_argument("-v", "--verbose", action="store_true", help="the pipeline's log while seeding")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(name)s: %(message)s")

    print(
        f"machine: {os.cpu_count()} cores, load average {_load()} (1/5/15 min), Python {platform.python_version()}, "
        f"{platform.platform(terse=True)}; no Airflow (the plugin's app without its auth)"
    )
    print(f"packages: {_versions()}; code {code_version()}")
    targets = SeedTargets(versions=args.versions, snapshots=args.snapshots, ledger=args.ledger, alerts=args.alerts)
    with tempfile.TemporaryDirectory(prefix="ct-console-bench-") as tmp:
        settings, counts = prepare(args.home or Path(tmp) / "home", targets)
        print(
            f"store: {counts.versions} versions, {counts.snapshots} snapshots, {counts.validations} validations, "
            f"{counts.ledger} ledger rows, {counts.alerts} alerts, {counts.windows} live windows"
        )
        from pipeline.app.console.api import ConsoleAccess, build_console_app

        ws = open_workspace(settings)
        pages = pages_to_time(ws)
        opening = _median_ms(lambda: open_workspace(settings).meta, 20)
        print(
            f"per request: open_workspace(settings) + its metadata store, as the plugin does: {opening:.0f} ms median"
        )
        app = build_console_app(
            lambda: open_workspace(settings), ConsoleAccess(reader=lambda: "bench", operator=lambda: "bench")
        )
        if args.profile:
            return profile_page(app, pages, args.profile)
        start = time.perf_counter()
        rows = time_pages(in_process_getter(app), pages, args.repeat, args.slow)
        print_table(f"in process (TestClient), {time.perf_counter() - start:.0f} s, load {_load()}", rows)
        if not args.no_http:
            with uvicorn_server(app, args.port) as url:
                if url is None:
                    print(f"\nover HTTP: uvicorn did not start on 127.0.0.1:{args.port} (port taken?); rows skipped")
                else:
                    get, close = http_getter(url)
                    try:
                        start = time.perf_counter()
                        rows = time_pages(get, pages, args.repeat, args.slow)
                    finally:
                        close()
                    print_table(
                        f"over HTTP (uvicorn {url} + httpx), {time.perf_counter() - start:.0f} s, load {_load()}", rows
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
