"""The production topology with its data root on S3: two Celery workers share no disk for the data.

The same native topology as test_celery_topology.py (CeleryExecutor, local Redis and PostgreSQL,
two workers, ``ct serve``), with ``CT_DATA_URL=s3://<bucket>/ct`` on moto's S3 server: tasks on
either worker write and read snapshots, artifacts and reports through the S3 API, and ``ct serve``
loads the champion's artifact from the bucket. Its own module, so the file-based topology is down
before this one starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pipeline.app.demo_data import BatchSpec
from pipeline.registry.sql import SqlMetadataStore
from scripts.airflow_rest import wait_for
from scripts.celery_topology import CeleryTopology
from tests.e2e.test_celery_topology import LOOP_TIMEOUT, MODEL, land, served_by, start_topology
from tests.s3_server import SECRET_KEY, S3Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def s3_root(s3_server: S3Server) -> str:
    return f"s3://{s3_server.new_bucket()}/ct"


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, s3_root: str) -> Iterator[CeleryTopology]:
    yield from start_topology(tmp_path_factory.mktemp("celery-s3"), {"CT_DATA_URL": s3_root, **s3_server.env()})


def test_landing_files_become_a_champion_with_the_data_root_on_s3(
    topology: CeleryTopology, s3_server: S3Server, s3_root: str
) -> None:
    store = SqlMetadataStore(topology.settings.store_url, create=False)
    try:
        land(topology, "batch-1", BatchSpec(rows=2000, seed=11))
        champion = wait_for(
            lambda: store.get_alias(MODEL),
            LOOP_TIMEOUT,
            interval=3,
            what=f"a champion after files landed (logs: {topology.log_dir})",
        )
        snapshot = store.latest_snapshot("churn")
        assert snapshot is not None and snapshot.rows == 2000 and champion.snapshot_id == snapshot.id
    finally:
        store.engine.dispose()

    bucket, prefix = s3_root.removeprefix("s3://").split("/", 1)

    def bucket_keys() -> set[str]:
        listed = s3_server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/")
        return {o["Key"][len(prefix) + 1 :] for page in listed for o in page.get("Contents", [])}

    keys = bucket_keys()
    assert f"snapshots/manifests/{snapshot.id}.json" in keys and champion.artifact_uri in keys
    assert any(k.startswith("reports/") for k in keys)
    ct_home = topology.settings.ct_home
    assert not any((ct_home / p).exists() for p in ("snapshots", "artifacts", "reports")), "all of it on S3"
    # The landed file left the worker's disk for the bucket's archive, by its checksum.
    [archived] = [k for k in keys if k.startswith("archive/") and k.endswith("/customers.csv")]
    landed = [p for d in ("archive", "quarantine") for p in (ct_home / d).rglob("*") if p.is_file()]
    body = s3_server.client().get_object(Bucket=bucket, Key=f"{prefix}/snapshots/manifests/{snapshot.id}.json")["Body"]
    assert landed == [] and archived.split("/")[2] in {p["source"]["sha256"] for p in json.load(body)["parts"]}

    # ct serve loaded the champion's artifact from the bucket, checksum verified, and its prediction
    # log reaches the bucket at the next flush (every serving.log.flush_seconds, 30 s by default).
    served_by(topology, champion.version)
    wait_for(
        lambda: any(k.startswith("prediction-logs/") for k in bucket_keys()),
        120,
        interval=3,
        what="ct serve's prediction log in the bucket",
    )
    # The secret went to the processes' environment only: into no component or task log.
    logs = [
        p for folder in (topology.log_dir, topology.airflow_home / "logs") for p in folder.rglob("*") if p.is_file()
    ]
    assert logs and not [p for p in logs if SECRET_KEY in p.read_text(errors="replace")]
