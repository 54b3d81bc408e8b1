"""Benchmark: ``ct serve`` against MLflow's scoring server on the same scikit-learn model (issue 18).

The issue's goals: p99 latency of a single-row request at most 10 ms at 200 requests/s, and at
least twice MLflow's throughput, for the demo churn champion on this machine's 2 cores. Both
servers answer the same model in the same run, each with ``--workers`` uvicorn worker processes
(default 2) on 127.0.0.1:

- ``ct serve`` (port 18510) on a home where the churn demo's three batches ran through the loop in
  this process (``run_churn_demo_in_process``, about 25 s), or on ``--home`` (an existing
  ``CT_HOME`` with a champion, used as it is). Requests carry a bearer token the bench generates.
  Every answer is logged as in production (the prediction log is part of the cost).
- MLflow (port 18511), installed by the bench into ``.bench-venvs/mlflow/`` (git-ignored; reused
  when present) with the project's pins of scikit-learn, pandas, numpy, scipy and joblib from
  ``requirements.txt``, so the champion's joblib file loads there unchanged. It is never a
  dependency of the project. The champion is loaded here (checksum verified), handed to that venv
  as a joblib file and saved with ``mlflow.sklearn.save_model(pyfunc_predict_fn="predict_proba",
  signature=...)``: MLflow then answers class probabilities (both columns) with its input schema
  enforced, as ``ct serve`` answers the positive class's probability and label after checking the
  version's feature schema. The champion is a plain scikit-learn ``Pipeline``; were it ever to
  pickle a class of the ``pipeline`` package, the export names the missing module (make it
  importable there with ``pip install --no-deps -e .`` into that venv). Served with
  ``mlflow models serve --env-manager local -w <workers>``.

Both servers run at once (an idle one costs next to nothing) and each phase runs on one, then the
other, ``--rounds`` times (2): the 2 cores are shared with whatever else runs on the machine, and
interleaving lets both servers meet the same background load; the ratio is the median over rounds.
Before timing, one request of each payload goes to both servers and their scores must agree (same
model, same rows): a mismatch stops the bench. The load generator is raw asyncio HTTP/1.1 over
keep-alive connections in this process (it shares the 2 cores with the server, for both servers
alike), bounded by a request count AND a time limit per phase:

- warm-up: a few hundred requests of each payload, not counted;
- open loop, 1 row at ``--rate`` requests/s (200) and 100 rows at ``--batch-rate`` (20): latency
  is measured from each request's scheduled start, so a server that falls behind is charged its
  queueing (no coordinated omission);
- closed loop, ``--concurrency`` connections sending back to back, 1 row and 100 rows: the
  maximum throughput, and the latency at that load.

A failure (status other than 200, a timeout, a reset) is counted per kind, never raised. The table
gives server, payload, load, requests, ok, p50, p99, throughput; then ct/MLflow throughput ratios.

Run:

    .venv/bin/python -m bench.bench_serving                      # demo home in a temp dir, both servers
    .venv/bin/python -m bench.bench_serving --home /tmp/ct-serve # reuse (or keep) a home with a champion
    .venv/bin/python -m bench.bench_serving --skip-mlflow        # ct serve only
    .venv/bin/python -m bench.bench_serving --profile 300        # ct serve (one process) under cProfile
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

log = logging.getLogger("bench.bench_serving")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CT_PORT = 18510
MLFLOW_PORT = 18511
MLFLOW_VERSION = "3.17.2"
MLFLOW_VENV = PROJECT_ROOT / ".bench-venvs" / "mlflow"
PINNED_FOR_MLFLOW = ("scikit-learn", "pandas", "numpy", "scipy", "joblib", "threadpoolctl", "cloudpickle")
"""Taken from requirements.txt into MLflow's venv, so the champion's joblib file loads there as here."""
CT_MAIN = "import sys; from pipeline.cli import main; sys.exit(main())"
"""``ct`` run by this interpreter on this checkout (the venv's ``ct`` script may belong to another one);
``-c`` rather than ``-m pipeline.cli`` so that cProfile can run it from a file (see ``ct_serve_command``)."""
LATENCY_GOAL_MS = 10.0
THROUGHPUT_GOAL = 2.0


# -- statistics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated linearly between closest ranks
    (numpy's default); NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within [0, 100], got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class PhaseResult:
    """One load phase against one server: what was sent, what came back, how fast."""

    server: str
    payload: str
    load: str
    sent: int
    ok: int
    p50_ms: float
    p99_ms: float
    throughput: float
    """Successful requests per second over the phase (first send to last answer)."""
    errors: dict[str, int] = field(default_factory=dict)
    round: int = 1

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def summarize(
    server: str,
    payload: str,
    load: str,
    latencies_s: Sequence[float],
    errors: Counter[str],
    sent: int,
    elapsed_s: float,
) -> PhaseResult:
    """A phase's result from its successful requests' latencies (seconds) and its failures."""
    ms = [x * 1000 for x in latencies_s]
    return PhaseResult(
        server=server,
        payload=payload,
        load=load,
        sent=sent,
        ok=len(ms),
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
        throughput=len(ms) / elapsed_s if elapsed_s > 0 else math.nan,
        errors=dict(errors),
    )


def schedule(rate: float, count: int, max_seconds: float) -> list[float]:
    """Start offsets (seconds) of an open-loop phase: ``count`` requests at ``rate`` per second,
    cut at ``max_seconds``."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    return [i / rate for i in range(count) if i / rate < max_seconds]


def throughput_ratios(results: Sequence[PhaseResult], ct: str = "ct serve", other: str = "mlflow") -> dict[str, float]:
    """ct's closed-loop throughput over the other server's in the same round, per payload; the
    median over rounds (NaN when the other server had no throughput)."""
    per_payload: dict[str, list[float]] = {}
    for r in results:
        if r.server != ct or not r.load.startswith("closed"):
            continue
        twin = next(
            (o for o in results if o.server == other and (o.payload, o.load, o.round) == (r.payload, r.load, r.round)),
            None,
        )
        if twin is not None:
            ratio = r.throughput / twin.throughput if twin.throughput > 0 else math.nan
            per_payload.setdefault(r.payload, []).append(ratio)
    return {payload: percentile(ratios, 50) for payload, ratios in per_payload.items()}


# -- HTTP/1.1 over keep-alive connections ----------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A prepared request: the same bytes sent every time, on a connection to ``host:port``."""

    host: str
    port: int
    raw: bytes

    @classmethod
    def post_json(cls, host: str, port: int, path: str, body: Any, headers: dict[str, str] | None = None) -> Target:
        data = json.dumps(body, separators=(",", ":")).encode()
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        return cls(host, port, ("\r\n".join(lines) + "\r\n\r\n").encode() + data)


class HttpError(Exception):
    """A response this client cannot read (the connection is then reopened)."""


class Connection:
    """One keep-alive connection; :meth:`send` writes the request and reads the whole response."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.target.host, self.target.port)
        return self

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            await self.open()
        assert self.writer is not None and self.reader is not None
        self.writer.write(self.target.raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        try:
            status = int(head[9:12])
        except ValueError as err:
            raise HttpError(f"not an HTTP status line: {head[:40]!r}") from err
        length, chunked, close = None, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                body += await self.reader.readexactly(size + 2)
                if size == 0:
                    break
            body = body[:-2]
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            raise HttpError("a response without Content-Length or chunked encoding")
        if close:
            self.close()
        return status, body


def _error_kind(err: BaseException) -> str:
    return "timeout" if isinstance(err, TimeoutError) else type(err).__name__


async def _open_loop(target: Target, rate: float, count: int, max_seconds: float, connections: int) -> tuple:
    offsets = schedule(rate, count, max_seconds)
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection(target).open())
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    start = time.perf_counter()
    deadline = start + max_seconds + 2.0  # late answers get 2 s past the last send, then time out
    last = start

    async def one(scheduled: float) -> None:
        nonlocal last
        conn = await pool.get()
        try:
            status, _ = await asyncio.wait_for(conn.send(), timeout=max(deadline - time.perf_counter(), 0.001))
            if status == 200:
                latencies.append(time.perf_counter() - scheduled)
            else:
                errors[f"HTTP {status}"] += 1
            last = max(last, time.perf_counter())
        except Exception as err:
            errors[_error_kind(err)] += 1
            conn.close()
        finally:
            pool.put_nowait(conn)

    tasks = []
    for offset in offsets:
        scheduled = start + offset
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    return latencies, errors, len(offsets), last - start


async def _closed_loop(target: Target, concurrency: int, count: int, max_seconds: float) -> tuple:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    remaining = count
    start = time.perf_counter()
    deadline = start + max_seconds
    last = start

    async def worker() -> None:
        nonlocal remaining, last
        conn = Connection(target)
        try:
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                t0 = time.perf_counter()
                try:
                    status, _ = await asyncio.wait_for(conn.send(), timeout=max(deadline + 2.0 - t0, 0.001))
                except Exception as err:
                    errors[_error_kind(err)] += 1
                    conn.close()
                    continue
                t1 = time.perf_counter()
                last = max(last, t1)
                if status == 200:
                    latencies.append(t1 - t0)
                else:
                    errors[f"HTTP {status}"] += 1
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, count - remaining, last - start


def open_loop(
    server: str, payload: str, target: Target, rate: float, count: int, max_seconds: float, connections: int = 32
) -> PhaseResult:
    """``count`` requests at ``rate``/s (cut at ``max_seconds``), latency from each scheduled start."""
    lat, err, sent, elapsed = asyncio.run(_open_loop(target, rate, count, max_seconds, connections))
    return summarize(server, payload, f"open {rate:g}/s", lat, err, sent, elapsed)


def closed_loop(
    server: str, payload: str, target: Target, concurrency: int, count: int, max_seconds: float
) -> PhaseResult:
    """``concurrency`` connections sending back to back until ``count`` requests or ``max_seconds``."""
    lat, err, sent, elapsed = asyncio.run(_closed_loop(target, concurrency, count, max_seconds))
    return summarize(server, payload, f"closed c={concurrency}", lat, err, sent, elapsed)


def request_once(target: Target) -> tuple[int, Any]:
    """One request on a fresh connection: status and parsed JSON body (text when not JSON)."""

    async def go() -> tuple[int, bytes]:
        conn = await Connection(target).open()
        try:
            return await asyncio.wait_for(conn.send(), timeout=30)
        finally:
            conn.close()

    status, body = asyncio.run(go())
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


# -- the model, the rows and the two servers --------------------------------------------------


@dataclass(frozen=True)
class Champion:
    """The served model version and where its files are."""

    home: Path
    model_name: str
    version: int
    artifact_key: str
    artifact_sha256: str
    env: dict[str, str]
    """``CT_*`` variables that point ``ct`` at this home's config, registry and store."""


def find_champion(home: Path | None, workdir: Path) -> Champion:
    """The champion of ``home`` (an existing CT_HOME), or of the churn demo run in ``workdir/home``."""
    from pipeline.app.workspace import open_workspace
    from pipeline.core.settings import load_settings
    from pipeline.registry.base import CHAMPION

    if home is None or not home.exists() or not any(home.iterdir()):
        from pipeline.app.demo_churn import run_churn_demo_in_process

        home = (home or workdir / "home").resolve()
        log.warning("running the churn demo's three batches in %s (about 25 s)", home)
        settings = run_churn_demo_in_process(home)[0]
    else:
        settings = load_settings({**os.environ, "CT_HOME": str(home)})
        if not os.environ.get("CT_DATABASE_URL") and not (home / "ct.db").exists():
            raise SystemExit(f"--home {home}: no ct.db there and no CT_DATABASE_URL; run the demo or pass a home")
    ws = open_workspace(settings)
    model = ws.config.model.name
    mv = ws.meta.get_alias(model, CHAMPION)
    if mv is None:
        raise SystemExit(f"{home}: model {model} has no champion to serve; run the loop first (ct demo / ct run)")
    env = {
        "CT_HOME": str(settings.home),
        "CT_CONFIG": str(settings.config_path),
        "CT_DATABASE_URL": settings.database_url,
        "CT_DATA_URL": settings.data_url,
    }
    return Champion(settings.home, model, mv.version, mv.artifact_uri, mv.artifact_sha256, env)


def sample_rows(n: int) -> list[dict[str, Any]]:
    """``n`` rows of the demo's churn data as a client sends them: id and feature columns, no label,
    no missing values (JSON numbers as floats for the double columns)."""
    from pipeline.app.demo_data import DEMO_BATCHES, generate_batch
    from pipeline.core.config import load_config
    from pipeline.core.settings import BUNDLED_CONFIG

    dataset = load_config(BUNDLED_CONFIG).dataset
    frame = generate_batch(DEMO_BATCHES[0]).drop(columns=[dataset.label]).dropna()
    if len(frame) < n:
        raise SystemExit(f"the demo batch has {len(frame)} complete rows, fewer than the {n} asked for")
    rows = json.loads(frame.head(n).to_json(orient="records"))
    numeric = set(frame.select_dtypes("number").columns)
    return [{k: float(v) if k in numeric else v for k, v in row.items()} for row in rows]


@dataclass
class Server:
    """A server process in its own process group, its log in ``log_path``."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int = signal.SIGTERM

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, self.stop_signal)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@contextmanager
def running(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    log_path: Path,
    ready_url: str,
    token: str | None,
    stop_signal: int = signal.SIGTERM,
) -> Iterator[Server]:
    """Start ``cmd``, wait until ``ready_url`` answers 200 (60 s), yield it, stop it (``stop_signal``,
    then SIGKILL after 20 s)."""
    log.warning("starting %s: %s", name, " ".join(cmd))
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=PROJECT_ROOT
        )
    server = Server(name, proc, log_path, stop_signal)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode} before it was ready:\n{server.tail()}")
            request = urllib.request.Request(ready_url, headers={"Authorization": f"Bearer {token}"} if token else {})
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not answer 200 on {ready_url} within 60 s:\n{server.tail()}")
            time.sleep(0.25)
        yield server
    finally:
        server.stop()


def requirement_pins(names: Sequence[str], requirements: Path = PROJECT_ROOT / "requirements.txt") -> list[str]:
    """``name==version`` for each of ``names`` as pinned in ``requirements`` (a pip-compile file)."""
    pins: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", line.strip())
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    missing = [n for n in names if n.lower() not in pins]
    if missing:
        raise SystemExit(f"{requirements}: no pin for {missing}; the MLflow venv needs the project's versions")
    return [f"{n}=={pins[n.lower()]}" for n in names]


def ensure_mlflow_venv(venv: Path = MLFLOW_VENV) -> Path:
    """MLflow's own virtualenv (created on first use, about a minute; reused after): its python."""
    python = venv / "bin" / "python"
    pins = [f"mlflow=={MLFLOW_VERSION}", *requirement_pins(PINNED_FOR_MLFLOW)]
    stamp = venv / ".bench-pins"
    if python.exists() and stamp.exists() and stamp.read_text() == "\n".join(pins):
        return python
    log.warning("installing %s into %s (separate from the project's venv)", " ".join(pins), venv)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *pins], check=True)
    stamp.write_text("\n".join(pins))
    return python


_EXPORT = """
import json, sys
import joblib, pandas as pd
import mlflow.sklearn
from mlflow.models import infer_signature

model_file, rows_file, out = sys.argv[1:4]
try:
    model = joblib.load(model_file)
except ModuleNotFoundError as err:
    sys.exit(f"the champion pickles {err.name!r}, not importable in MLflow's venv: pip install --no-deps -e . there")
sample = pd.DataFrame(json.loads(open(rows_file).read()))
signature = infer_signature(sample, model.predict_proba(sample))
mlflow.sklearn.save_model(
    model, out, serialization_format="cloudpickle", pyfunc_predict_fn="predict_proba", signature=signature
)
"""


def export_to_mlflow(python: Path, champion: Champion, rows: list[dict[str, Any]], workdir: Path) -> Path:
    """Save the champion as an MLflow model in ``workdir/mlflow-model`` (checksum verified on load here)."""
    import joblib

    from pipeline.app.workspace import open_workspace
    from pipeline.core.settings import load_settings
    from pipeline.registry.artifacts import ArtifactStore

    ws = open_workspace(load_settings(champion.env))
    model = ArtifactStore(ws.store).load(champion.artifact_key, champion.artifact_sha256)
    model_file, rows_file, out = workdir / "champion.joblib", workdir / "rows.json", workdir / "mlflow-model"
    joblib.dump(model, model_file)
    rows_file.write_text(json.dumps(rows))
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([str(python), "-c", _EXPORT, str(model_file), str(rows_file), str(out)], check=True)
    return out


# -- the two servers' requests and answers ------------------------------------------------------


def ct_body(rows: list[dict[str, Any]]) -> Any:
    """``POST /predict`` of ``ct serve``: one row as a JSON object, a batch as a list of them."""
    return rows[0] if len(rows) == 1 else rows


def ct_scores(answer: Any) -> list[float]:
    """The positive class's probabilities in a ``ct serve`` answer."""
    items = answer.get("predictions", answer) if isinstance(answer, dict) else answer
    items = items if isinstance(items, list) else [items]
    return [float(p["score"]) for p in items]


def mlflow_body(rows: list[dict[str, Any]]) -> Any:
    return {"dataframe_records": rows}


def mlflow_scores(answer: Any) -> list[float]:
    """MLflow's ``predict_proba`` answer: ``{"predictions": [[p0, p1], ...]}``; the positive column."""
    return [float(p[1]) for p in answer["predictions"]]


# -- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The phases' bounds (each phase stops at its count or its seconds, whichever comes first)."""

    rate: float = 200.0
    batch_rate: float = 20.0
    open_seconds: float = 15.0
    concurrency: int = 8
    closed_requests: int = 20_000
    closed_batch_requests: int = 3000
    closed_seconds: float = 15.0
    warmup: int = 300


@dataclass(frozen=True)
class Served:
    """One running server's two prepared requests."""

    name: str
    single: Target
    batch: Target


def run_rounds(servers: Sequence[Served], plan: Plan, rounds: int) -> list[PhaseResult]:
    """Warm each server up, then ``rounds`` times each phase on each server in turn: the servers run
    side by side (an idle one costs next to nothing) and meet the machine's other load alike."""
    for s in servers:
        closed_loop(s.name, "warm-up", s.single, 4, plan.warmup, 30)
        closed_loop(s.name, "warm-up", s.batch, 4, plan.warmup // 5, 30)
    open_single = int(plan.rate * plan.open_seconds)
    open_batch = int(plan.batch_rate * plan.open_seconds)
    phases = [
        lambda s: open_loop(s.name, "1 row", s.single, plan.rate, open_single, plan.open_seconds),
        lambda s: open_loop(s.name, "100 rows", s.batch, plan.batch_rate, open_batch, plan.open_seconds),
        lambda s: closed_loop(s.name, "1 row", s.single, plan.concurrency, plan.closed_requests, plan.closed_seconds),
        lambda s: closed_loop(
            s.name, "100 rows", s.batch, plan.concurrency, plan.closed_batch_requests, plan.closed_seconds
        ),
    ]
    results = []
    for n in range(1, rounds + 1):
        for phase in phases:
            for s in servers:
                r = replace(phase(s), round=n)
                log.warning(
                    "round %d, %s %s %s: %d/%d ok, p99 %.1f ms, %.0f req/s",
                    n,
                    r.server,
                    r.payload,
                    r.load,
                    r.ok,
                    r.sent,
                    r.p99_ms,
                    r.throughput,
                )
                results.append(r)
    return results


def format_table(results: Sequence[PhaseResult]) -> str:
    head = ("round", "server", "payload", "load", "requests", "ok", "p50 ms", "p99 ms", "req/s", "errors")
    rows = [
        (
            str(r.round),
            r.server,
            r.payload,
            r.load,
            str(r.sent),
            str(r.ok),
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.throughput:.0f}",
            ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items())) or "0",
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    def v(name: str) -> str:
        try:
            return version(name)
        except Exception:
            return "-"

    return {
        "nproc": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        **{name: v(name) for name in ("fastapi", "uvicorn", "scikit-learn", "pandas", "numpy")},
        "mlflow": MLFLOW_VERSION,
    }


def ct_serve_command(port: int, workers: int, profile_to: Path | None = None) -> list[str]:
    """``ct serve`` on 127.0.0.1 (``--workers`` only when more than one; under cProfile when asked,
    through a script file beside the profile: cProfile runs a file or a module, not ``-c``)."""
    if profile_to:
        script = profile_to.with_suffix(".py")
        script.write_text(CT_MAIN + "\n")
        run = ["-m", "cProfile", "-o", str(profile_to), str(script)]
    else:
        run = ["-c", CT_MAIN]
    cmd = [sys.executable, *run, "serve", "--host", "127.0.0.1", "--port", str(port)]
    return [*cmd, "--workers", str(workers)] if workers > 1 else cmd


def ct_serve_workers(wanted: int) -> int:
    """``wanted`` when ``ct serve`` takes ``--workers``, else 1 (one process: MLflow then gets one too)."""
    if wanted <= 1:
        return 1
    helptext = subprocess.run(
        [sys.executable, "-c", CT_MAIN, "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=PROJECT_ROOT,
        check=False,
    )
    if helptext.returncode != 0:
        raise SystemExit(f"`ct serve --help` failed: is ct serve there?\n{helptext.stderr[-2000:]}")
    return wanted if "--workers" in helptext.stdout else 1


@dataclass(frozen=True)
class Setup:
    champion: Champion
    workdir: Path
    token: str
    workers: int
    one: list[dict[str, Any]]
    hundred: list[dict[str, Any]]

    def ct_target(self, rows: list[dict[str, Any]]) -> Target:
        auth = {"Authorization": f"Bearer {self.token}"}
        return Target.post_json("127.0.0.1", CT_PORT, "/predict", ct_body(rows), auth)

    def ct_env(self) -> dict[str, str]:
        return {**os.environ, **self.champion.env, "CT_SERVE_TOKEN": self.token, "PYTHONPATH": str(PROJECT_ROOT)}

    def ct_running(self, profile_to: Path | None = None) -> Any:
        workers = 1 if profile_to else self.workers
        return running(
            "ct serve",
            ct_serve_command(CT_PORT, workers, profile_to),
            self.ct_env(),
            self.workdir / "ct-serve.log",
            f"http://127.0.0.1:{CT_PORT}/ready",
            self.token,
            # uvicorn re-raises the signal it stopped on: SIGTERM would kill cProfile before it writes,
            # SIGINT becomes a KeyboardInterrupt that cProfile's ``finally`` outlives
            signal.SIGINT if profile_to else signal.SIGTERM,
        )


def mlflow_running(setup: Setup) -> Any:
    """MLflow's scoring server on the champion (its venv made or reused, the model exported)."""
    python = ensure_mlflow_venv()
    model_dir = export_to_mlflow(python, setup.champion, setup.hundred, setup.workdir)
    env = {
        **os.environ,
        "PATH": f"{python.parent}:{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": (setup.workdir / "mlruns").as_uri(),
    }
    env.pop("PYTHONPATH", None)
    cmd = [str(python.parent / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager", "local"]
    cmd += ["-h", "127.0.0.1", "-p", str(MLFLOW_PORT), "-w", str(setup.workers)]
    return running("mlflow", cmd, env, setup.workdir / "mlflow.log", f"http://127.0.0.1:{MLFLOW_PORT}/ping", None)


def check_answers(ct: Served, mlflow: Served | None) -> None:
    """One request of each payload to each server: all 200, the right number of scores, and (with
    MLflow) the same scores for the same rows; stops the bench otherwise."""
    for n, target, twin in ((1, ct.single, mlflow and mlflow.single), (100, ct.batch, mlflow and mlflow.batch)):
        status, answer = request_once(target)
        if status != 200 or len(ct_scores(answer)) != n:
            raise SystemExit(f"ct serve answered {status} to {n} row(s): {str(answer)[:300]}")
        if twin is None:
            continue
        status, other = request_once(twin)
        if status != 200:
            raise SystemExit(f"mlflow answered {status} to {n} row(s): {str(other)[:300]}")
        x, y = ct_scores(answer), mlflow_scores(other)
        diff = max(abs(a - b) for a, b in zip(x, y, strict=True)) if len(x) == len(y) == n else math.inf
        if diff > 1e-9:
            raise SystemExit(f"the servers disagree on the same {n} row(s) (max |diff| {diff:.3g}): not one model")
    if mlflow is not None:
        print("same rows, same scores from both servers (max |diff| <= 1e-9)")


def bench(setup: Setup, plan: Plan, rounds: int, with_mlflow: bool) -> list[PhaseResult]:
    ct = Served("ct serve", setup.ct_target(setup.one), setup.ct_target(setup.hundred))
    ml = None
    if with_mlflow:
        single = Target.post_json("127.0.0.1", MLFLOW_PORT, "/invocations", mlflow_body(setup.one))
        batch = Target.post_json("127.0.0.1", MLFLOW_PORT, "/invocations", mlflow_body(setup.hundred))
        ml = Served("mlflow", single, batch)
    with ExitStack() as stack:
        stack.enter_context(setup.ct_running())
        if ml is not None:
            stack.enter_context(mlflow_running(setup))
        check_answers(ct, ml)
        return run_rounds([ct, *([ml] if ml else [])], plan, rounds)


def profile_ct(setup: Setup, n: int, top: int = 30) -> str:
    """cProfile of one ct serve process answering ``n`` single-row requests one at a time (after a
    warm-up); the top functions by cumulative and by own time, and the client's p50/p99."""
    import io
    import pstats

    out = setup.workdir / "ct-serve.prof"
    single = setup.ct_target(setup.one)
    with setup.ct_running(profile_to=out):
        closed_loop("ct serve", "warm-up", single, 1, 100, 60)
        result = closed_loop("ct serve", "1 row", single, 1, n, 120)
    # the server wrote its profile when it stopped (SIGTERM: uvicorn's clean shutdown)
    text = io.StringIO()
    stats = pstats.Stats(str(out), stream=text)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_callees(r"\(predict\)")  # where a request's time goes, one level down
    head = f"{result.ok}/{result.sent} ok, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms (one connection)"
    return head + "\n" + text.getvalue()


def stage_costs(setup: Setup, repeat: int = 200) -> str:
    """Median ms of each step of ct serve's ``/predict`` for 1 and 100 rows, in this process with no
    HTTP (the service's own functions on the champion): where a request's CPU goes."""
    import statistics

    from threadpoolctl import threadpool_limits

    from pipeline.app.workspace import open_workspace
    from pipeline.cli.serve import scoring_app_for
    from pipeline.core.settings import load_settings
    from pipeline.modeling.training import feature_frame, scores_from_model
    from pipeline.serving.request_schema import as_rows, validate_rows

    threadpool_limits(limits=1)  # as the service does
    ws = open_workspace(load_settings(setup.champion.env))
    service = scoring_app_for(ws, token="bench").state.service
    served = service.parts.follower.refresh()
    if served.champion is None:
        raise SystemExit(f"no champion loaded: {served.problem}")
    model, dataset, schema = served.champion.model, ws.config.dataset, service.parts.schema
    fast = served.champion.fast  # ct serve's NumPy scorer when it reproduced scikit-learn's scores, else None

    def median_ms(fn: Any) -> float:
        fn()
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples) * 1000

    lines = [f"{'step':<46} {'1 row':>8} {'100 rows':>9}   (median ms of {repeat}, no HTTP)"]
    steps: dict[str, list[float]] = {}
    for rows in (setup.one, setup.hundred):
        raw = json.dumps(ct_body(rows)).encode()
        body = json.loads(raw)
        valid = validate_rows(as_rows(body), schema)
        X = feature_frame(valid.frame, dataset)
        timed = [
            ("json.loads(body)", lambda raw=raw: json.loads(raw)),
            ("validate_rows (field checks)", lambda body=body: validate_rows(as_rows(body), schema)),
            ("sklearn path: feature_frame", lambda v=valid: feature_frame(v.frame, dataset)),
            ("sklearn path: Pipeline.predict_proba", lambda X=X: scores_from_model(model, X, dataset)),
        ]
        if fast is not None:
            timed.append(("fast path: NumPy scorer", lambda v=valid: fast(v.values, len(v))))
        timed.append(("ScoringService.predict (validate, score, log)", lambda body=body: service.predict(body, "b")))
        for name, fn in timed:
            steps.setdefault(name, []).append(median_ms(fn))
    lines += [f"{name:<46} {a:>8.2f} {b:>9.2f}" for name, (a, b) in steps.items()]
    return "\n".join(lines)


def report(results: Sequence[PhaseResult], plan: Plan) -> dict[str, float]:
    print()
    print(format_table(results))
    ratios = throughput_ratios(results)
    for payload, ratio in ratios.items():
        verdict = "meets" if ratio >= THROUGHPUT_GOAL else "misses"
        print(f"throughput ct serve / mlflow, {payload}: {ratio:.2f}x ({verdict} the {THROUGHPUT_GOAL:g}x goal)")
    p99s = [r.p99_ms for r in results if r.server == "ct serve" and r.payload == "1 row" and r.load.startswith("open")]
    worst = max(p99s, default=math.nan)
    verdict = "meets" if worst <= LATENCY_GOAL_MS else "misses"
    shown = ", ".join(f"{p:.2f}" for p in p99s)
    print(f"ct serve p99, 1 row at {plan.rate:g}/s: {shown} ms by round ({verdict} the {LATENCY_GOAL_MS:g} ms goal)")
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="a CT_HOME with a champion, or a new directory to run the demo in")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of each server (default 2)")
    parser.add_argument("--rate", type=float, default=Plan.rate, help="open-loop single-row requests/s")
    parser.add_argument("--batch-rate", type=float, default=Plan.batch_rate, help="open-loop 100-row requests/s")
    parser.add_argument("--seconds", type=float, default=Plan.open_seconds, help="time limit of each phase")
    parser.add_argument("--concurrency", type=int, default=Plan.concurrency, help="closed-loop connections")
    parser.add_argument("--rounds", type=int, default=2, help="times each phase runs on each server (default 2)")
    parser.add_argument("--skip-mlflow", action="store_true", help="time ct serve only")
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile ct serve over N single-row requests")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("pipeline").setLevel(logging.ERROR)
    plan = Plan(
        rate=args.rate,
        batch_rate=args.batch_rate,
        open_seconds=args.seconds,
        closed_seconds=args.seconds,
        concurrency=args.concurrency,
    )
    with tempfile.TemporaryDirectory(prefix="ct-bench-serving-") as tmp:
        workdir = Path(tmp)
        setup = Setup(
            champion=find_champion(args.home, workdir),
            workdir=workdir,
            token=secrets.token_urlsafe(24),
            workers=ct_serve_workers(args.workers),
            one=sample_rows(1),
            hundred=sample_rows(100),
        )
        info = {**machine(), "workers": setup.workers}
        c = setup.champion
        print(f"machine: {json.dumps(info)}")
        print(f"model: {c.model_name} v{c.version} ({c.artifact_sha256[:12]}), home {c.home}")
        if setup.workers != args.workers:
            print(f"ct serve takes no --workers: both servers run {setup.workers} worker process(es)")
        if args.profile:
            print(stage_costs(setup))
            print(profile_ct(setup, args.profile))
            return 0
        results = bench(setup, plan, args.rounds, not args.skip_mlflow)
    ratios = report(results, plan)
    if args.json:
        args.json.write_text(
            json.dumps({"machine": info, "results": [asdict(r) for r in results], "ratios": ratios}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
