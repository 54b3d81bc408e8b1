"""The production topology, natively: CeleryExecutor on the local Redis, Airflow's metadata and the
store on the local PostgreSQL (separate, fresh databases), two Celery workers.

One topology (``scripts/celery_topology.py``) serves the module and is stopped and dropped after it.
(a) files land and, with no other action, ingest, monitor and train run on the Celery workers and a
champion appears in the PostgreSQL store; (b) a worker is SIGKILLed (with its whole process tree)
while it runs a mapped ct_train task: the scheduler notices the missing heartbeat, the task is
retried on the other worker, the run succeeds and nothing is recorded twice.

Slow by nature (a few minutes); run by default and in CI. Heartbeat timeout and retry delay are
shortened in the test topology so a lost worker costs seconds, not the production five minutes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.config import parse_config
from pipeline.core.settings import BUNDLED_CONFIG
from pipeline.registry.sql import SqlMetadataStore
from scripts.airflow_rest import wait_for
from scripts.celery_topology import (
    CeleryTopology,
    ServiceUnavailable,
    TopologySettings,
    free_port,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "churn-classifier"
DAGS = ("ct_ingest", "ct_monitor", "ct_train")
# Generous: the machine is small and shared; these bound a hang, they are not performance claims.
LOOP_TIMEOUT = 900
RAN = ("success", "failed", "up_for_retry", "deferred", "running", "up_for_reschedule")


def _test_config(path: Path) -> Path:
    """The bundled config with two candidates slow enough (single-threaded boosting, ~seconds per
    fit) that a mapped train task is still running when the worker under it is killed."""
    data = yaml.safe_load(BUNDLED_CONFIG.read_text(encoding="utf-8"))
    slow = {
        "estimator": "gradient_boosting",
        "params": {"max_iter": 400, "max_leaf_nodes": 63, "early_stopping": False},
    }
    data["model"]["specs"].update(
        {
            "boost_a": {**slow, "params": {**slow["params"], "learning_rate": 0.05}},
            "boost_b": {**slow, "params": {**slow["params"], "learning_rate": 0.1}},
        }
    )
    data["model"]["candidates"] = ["boost_a", "boost_b"]
    data["evaluation"].update(folds=2, bootstrap_resamples=200)
    parse_config(data, path)  # fail here, with the key named, if the bundled config moved on
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def start_topology(root: Path, env: dict[str, str] | None = None) -> Iterator[CeleryTopology]:
    """Up a fresh topology under ``root`` (``env``: more variables for every component), yield it,
    then stop it and drop its databases. Skips (or fails, under CT_REQUIRE_*) without the services."""
    tag = uuid.uuid4().hex[:8]
    settings = TopologySettings(
        root=root / "topology",
        ct_home=root / "ct",
        ct_config=_test_config(root / "pipeline.yaml"),
        pg_url=os.environ.get("CT_TOPOLOGY_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"),
        airflow_db=f"ct_e2e_airflow_{tag}",
        store_db=f"ct_e2e_store_{tag}",
        redis_url=os.environ.get("CT_TOPOLOGY_REDIS_URL", "redis://127.0.0.1:6379/5"),
        key_prefix=f"ct-e2e-{tag}:",
        workers=2,
        concurrency=2,
        api_port=free_port(),
        serve_port=free_port(),
        airflow_config={
            # A lost worker is noticed after 30 s without a heartbeat (production: 300 s) ...
            "scheduler.task_instance_heartbeat_timeout": "30",
            "scheduler.task_instance_heartbeat_timeout_detection_interval": "5",
            # ... and its task retried 5 s later (caps the DAGs' 30 s exponential retry delay).
            "core.max_task_retry_delay": "5",
            # A message the killed worker had reserved but not started waits for Redis' visibility
            # timeout (a day); the scheduler requeues such a task after this instead of 600 s.
            "scheduler.task_queued_timeout": "240",
            "dag_processor.refresh_interval": "5",
        },
        env={"CT_INGEST_CRON": "* * * * *", "CT_LANDING_POKE_SECONDS": "5", "OMP_NUM_THREADS": "1", **(env or {})},
    )
    topo = CeleryTopology(settings)
    try:
        topo.check_services()
    except ServiceUnavailable as err:  # .ci/run sets both: CI always runs this module
        required = {"postgres": "CT_REQUIRE_POSTGRES", "redis": "CT_REQUIRE_REDIS"}[err.service]
        if os.environ.get(required) == "1":
            pytest.fail(f"{required}=1 but {err}")
        pytest.skip(str(err))
    try:
        topo.up(timeout=420)
        yield topo
    finally:
        topo.down(timeout=10)
        topo.drop()


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryTopology]:
    yield from start_topology(tmp_path_factory.mktemp("celery"))


@pytest.fixture(scope="module")
def store(topology: CeleryTopology):
    """The project's store in the topology's PostgreSQL database (one engine for the module)."""
    meta = SqlMetadataStore(topology.settings.store_url, create=False)
    yield meta
    meta.engine.dispose()


def land(topo: CeleryTopology, name: str, spec: BatchSpec) -> None:
    folder = topo.settings.ct_home / "landing" / name
    folder.mkdir(parents=True)
    generate_batch(spec).to_csv(folder / "customers.csv", index=False)
    (folder / "_SUCCESS").touch()


def _task_instances(topo: CeleryTopology, dag_id: str) -> list[dict]:
    return [ti for run in topo.client.dag_runs(dag_id) for ti in topo.client.task_instances(dag_id, run["dag_run_id"])]


def test_landing_files_become_a_champion_on_the_celery_workers(
    topology: CeleryTopology, store: SqlMetadataStore
) -> None:
    land(topology, "batch-1", BatchSpec(rows=2000, seed=11))

    champion = wait_for(
        lambda: store.get_alias(MODEL),
        LOOP_TIMEOUT,
        interval=3,
        what=f"a champion after files landed (logs: {topology.log_dir})",
    )
    snapshot = store.latest_snapshot("churn")
    assert snapshot is not None and snapshot.rows == 2000
    assert champion.snapshot_id == snapshot.id
    assert champion.trigger["kind"] == "new_data" and champion.trigger["run_type"] == "asset_triggered"
    assert len(store.promotion_history(MODEL)) == 1

    # Every task that ran, ran on a Celery worker of this topology, and both workers took work.
    workers = topology.worker_hostnames()
    ran = [ti for dag_id in DAGS for ti in _task_instances(topology, dag_id) if ti["state"] in RAN]
    assert {ti["dag_id"] for ti in ran} == set(DAGS)
    assert {ti["hostname"] for ti in ran} == workers, [(ti["task_id"], ti["hostname"]) for ti in ran]
    mapped = [ti for ti in ran if ti["dag_id"] == "ct_train" and ti["map_index"] >= 0]
    assert len(mapped) >= 2, "the candidate search ran as mapped tasks"

    # Airflow's own metadata is in its PostgreSQL database, apart from the store's.
    import sqlalchemy as sa

    engine = sa.create_engine(topology.settings.airflow_url)
    try:
        with engine.connect() as conn:
            hosts = set(
                conn.execute(
                    sa.text("SELECT DISTINCT hostname FROM task_instance WHERE dag_id = 'ct_train' AND hostname <> ''")
                ).scalars()
            )
    finally:
        engine.dispose()
    assert hosts and hosts <= workers

    # ct serve of the topology follows the registry: the new champion answers over HTTP.
    served_by(topology, champion.version)


def served_by(topo: CeleryTopology, version: int) -> None:
    """Wait until ``ct serve`` of the topology answers a row with ``version`` (it polls the registry)."""
    import json
    import urllib.request

    row = generate_batch(BatchSpec(rows=20, seed=3)).drop(columns=["churned"]).dropna().head(1)
    body = row.to_json(orient="records").encode()
    auth = {"Authorization": f"Bearer {topo.secrets.serve_token}", "Content-Type": "application/json"}

    def answered() -> int | None:
        request = urllib.request.Request(f"{topo.settings.serve_url}/predict", data=body, headers=auth)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())["predictions"][0]["model_version"]
        except OSError:  # 503 until the follower loaded the champion
            return None

    wait_for(lambda: answered() == version, 120, interval=2, what=f"ct serve answering with v{version}")


def test_a_worker_killed_mid_task_costs_a_retry_on_the_other_worker_and_nothing_twice(
    topology: CeleryTopology, store: SqlMetadataStore
) -> None:
    client = topology.client
    before = {
        "snapshots": len(store.list_snapshots()),
        "promotions": len(store.promotion_history(MODEL)),
        "runs": {r["dag_run_id"] for r in client.dag_runs("ct_train")},
    }
    land(topology, "batch-2", BatchSpec(rows=2000, seed=22, first_id=100_000))

    def new_train_run() -> dict | None:
        runs = [
            r
            for r in client.dag_runs("ct_train")
            if r["dag_run_id"] not in before["runs"] and r["run_type"] == "asset_triggered"
        ]
        return runs[0] if runs else None

    run_id = wait_for(new_train_run, LOOP_TIMEOUT, interval=2, what="ct_train on the new snapshot")["dag_run_id"]

    # Kill the worker under a mapped task that has been running for a moment (so it is mid-work).
    workers = topology.worker_hostnames()

    def busy_worker() -> str | None:
        now = time.time()
        for ti in client.task_instances("ct_train", run_id):
            if (
                ti["state"] == "running"
                and ti["map_index"] >= 0
                and ti["hostname"] in workers
                and ti.get("start_date")
                and now - _ts(ti["start_date"]) >= 2
            ):
                return ti["hostname"]
        return None

    victim_host = wait_for(busy_worker, LOOP_TIMEOUT, interval=0.5, what="a mapped ct_train task on a worker")
    victim = next(w for w in topology.worker_names() if topology.node_name(w) == victim_host)
    topology.kill_worker(victim)
    survivor = (workers - {victim_host}).pop()
    # The tasks that died with it: still "running" there on their first try after the kill.
    killed = {
        (ti["task_id"], ti["map_index"])
        for ti in client.task_instances("ct_train", run_id)
        if ti["state"] == "running" and ti["hostname"] == victim_host and ti["try_number"] == 1
    }
    assert killed, "the killed worker was running a ct_train task"

    assert client.wait_for_run("ct_train", run_id, LOOP_TIMEOUT, interval=3) == "success"
    final = {(ti["task_id"], ti["map_index"]): ti for ti in client.task_instances("ct_train", run_id)}
    for key in killed:
        ti = final[key]
        assert ti["state"] == "success" and ti["try_number"] >= 2, ti
        assert ti["hostname"] == survivor, f"{key} was retried on {ti['hostname']}, expected {survivor}"
    assert {ti["hostname"] for ti in final.values() if ti["start_date"] and ti["try_number"] >= 1} <= workers

    # Nothing twice: one new snapshot, one model version for it and this config, at most one promotion.
    assert len(store.list_snapshots()) == before["snapshots"] + 1
    snapshot = store.latest_snapshot("churn")
    versions = [v for v in store.list_model_versions(MODEL) if v.snapshot_id == snapshot.id]
    assert len(versions) == 1, [(v.version, v.trigger.get("run_id")) for v in versions]
    version = versions[0]
    assert version.trigger["run_id"] == run_id
    candidates = [c["candidate"] for c in version.evaluation["candidates"]]
    assert sorted(candidates) == ["boost_a", "boost_b"], "each candidate recorded once"
    promotions = store.promotion_history(MODEL)[before["promotions"] :]
    assert len(promotions) <= 1 and all(p.to_version == version.version for p in promotions)
    new_runs = [
        r["dag_run_id"]
        for r in client.dag_runs("ct_train")
        if r["dag_run_id"] not in before["runs"] and r["run_type"] != "scheduled"
    ]
    assert new_runs == [run_id], "one ct_train run for the new snapshot"


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()
