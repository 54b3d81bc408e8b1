"""Many ingests and ``ct run``-like runs at once against one home: nothing lost, nothing twice.

A producer drops files (good ones, ones with bad rows, a file with the wrong columns, a re-drop
of earlier content) while N ingest processes and M run-like processes (ingest, then read the
latest snapshot as training would) loop with random delays. At the end every landed file is in
exactly one place — taken into the latest snapshot (and archived), or in quarantine with a
reason — every accepted row is in the latest snapshot once, and every rejected row is in
quarantine once. On SQLite and on PostgreSQL. Bounded: a dozen files, about a minute at most.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import random
import time
from pathlib import Path

import pandas as pd
import pytest
from fault_helpers import batch, make_workspace

pytestmark = pytest.mark.slow

INGESTS, RUNS, FILES, ROWS = 3, 2, 10, 120
DEADLINE_SECONDS = 90


def _worker(home: str, url: str, role: str, seed: int, done, errors) -> None:
    """Loop until the producer is done and the landing area is empty (or the deadline passes)."""
    from pipeline.app import stages
    from pipeline.data.snapshots import load_snapshot, read_manifest

    rng = random.Random(seed)
    ws = make_workspace(Path(home), url)
    landing = Path(home) / "landing"
    stop_at = time.monotonic() + DEADLINE_SECONDS
    try:
        while time.monotonic() < stop_at:
            time.sleep(rng.uniform(0, 0.3))
            finished = done.is_set()
            stages.ingest_landing(ws)
            if role == "run":  # what ct run does next: read the latest snapshot to train on it
                latest = ws.meta.latest_snapshot("churn")
                if latest is not None:
                    ids = load_snapshot(ws.store, read_manifest(ws.store, latest.id))["customer_id"]
                    if not ids.is_unique:
                        errors.put(f"{role}{seed}: snapshot {latest.id} holds a row twice")
            if finished and not any(p for p in landing.rglob("*") if p.is_file() and not p.name.startswith(".")):
                return
    except BaseException as err:  # reported to the test
        errors.put(f"{role}{seed}: {type(err).__name__}: {err}")


def _drop(landing: Path, name: str, frame: pd.DataFrame) -> None:
    tmp = landing / f"{name}.tmp"  # written under a temporary name, then renamed: a complete drop
    frame.to_csv(tmp, index=False)
    tmp.rename(landing / name)


def _produce(landing: Path, rng: random.Random) -> dict[str, pd.DataFrame]:
    dropped: dict[str, pd.DataFrame] = {}
    for i in range(FILES):
        frame = batch(ROWS, 100 + i, i * 10_000)
        if i % 3 == 1:  # a few bad rows
            frame = frame.astype({"age": object})
            frame.loc[[i, i + 20], "age"] = "old"
        if i == 4:  # the wrong columns: the whole file is refused
            frame = frame.rename(columns={"age": "years"})
        dropped[f"f{i:02d}.csv"] = frame
        _drop(landing, f"f{i:02d}.csv", frame)
        if i == 6:  # the same content again under another name
            dropped["again.csv"] = dropped["f02.csv"]
            _drop(landing, "again.csv", dropped["f02.csv"])
        time.sleep(rng.uniform(0, 0.25))
    return dropped


def test_ingests_and_runs_at_once_keep_every_landed_row_in_exactly_one_place(home: Path, database_url: str) -> None:
    landing = home / "landing"
    landing.mkdir()
    _ = make_workspace(home, database_url).meta  # create the schema once, before the workers race
    ctx = mp.get_context("spawn")
    done, errors = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(str(home), database_url, role, n, done, errors))
        for n, role in enumerate(["ingest"] * INGESTS + ["run"] * RUNS)
    ]
    for w in workers:
        w.start()
    dropped = _produce(landing, random.Random(7))
    done.set()
    for w in workers:
        w.join(DEADLINE_SECONDS + 60)
    assert all(w.exitcode == 0 for w in workers), [w.exitcode for w in workers]
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []

    from pipeline.app import stages
    from pipeline.data.snapshots import load_snapshot, read_manifest

    ws = make_workspace(home, database_url)
    stages.ingest_landing(ws)  # a last run finds nothing left to do
    latest = read_manifest(ws.store, ws.meta.latest_snapshot("churn").id)
    data = load_snapshot(ws.store, latest)
    assert data["customer_id"].is_unique
    in_snapshot = {p.source.name for p in latest.parts}
    quarantine = home / "quarantine"
    refused = {}
    for path in quarantine.glob("*/*.reason.json"):
        reason = json.loads(path.read_text())
        assert (path.parent / reason["quarantined_as"]).exists(), f"a reason with no file: {path}"
        refused.setdefault(reason["file"], []).append(reason["code"])
    rejected = pd.concat(
        [pd.read_csv(p, dtype=str) for p in quarantine.glob("*/*.rejected_rows.csv")], ignore_index=True
    )

    assert list(landing.iterdir()) == []
    assert not any((quarantine / ".pending").iterdir())
    for name in dropped:
        places = (name in in_snapshot) + len(refused.get(name, []))
        assert places == 1, f"{name}: in the snapshot {name in in_snapshot}, quarantined {refused.get(name)}"
    assert refused == {
        "f04.csv": ["wrong_columns"],
        **{n: ["duplicate_file"] for n in refused if n in ("again.csv", "f02.csv")},
    }
    assert len(refused) == 2  # the wrong columns, and one of the two identical files
    accepted_ids = set(data["customer_id"])
    rejected_ids = list(rejected["customer_id"])
    assert len(rejected_ids) == len(set(rejected_ids))  # each rejected row once
    for name, frame in dropped.items():
        if name in refused:
            continue
        ids = set(frame["customer_id"])
        bad = set(frame.loc[frame["age"].astype(str) == "old", "customer_id"]) if "age" in frame else set()
        assert ids - bad <= accepted_ids, f"{name}: accepted rows missing from the latest snapshot"
        assert bad <= set(rejected_ids), f"{name}: rejected rows missing from quarantine"
        assert not (bad & accepted_ids)
    expected_rows = sum(
        len(f) - int((f["age"].astype(str) == "old").sum()) for n, f in dropped.items() if n not in refused
    )
    assert len(data) == expected_rows
