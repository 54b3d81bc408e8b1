"""The whole loop with the data root on S3 (moto's server): ``ct run``'s path through a real Airflow.

Landing files become a snapshot, a validation, a model and a champion, as in test_dag_runs.py, but
every object the project writes (snapshot parts and manifests, artifacts, reports, Data Docs, the
archived and the quarantined landing files) is in the bucket, read back through the S3 API; nothing
of the data root stays in the local data directory. Only the landing area itself is local: it is
where producers drop files, under ``CT_HOME``.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.app.local_runner import run_landing
from pipeline.app.workspace import open_workspace
from pipeline.core.settings import Settings
from pipeline.data.model_lineage import model_lineage
from pipeline.data.snapshots import load_snapshot, read_manifest
from pipeline.registry.sql import SqlMetadataStore
from tests.integration.test_dag_runs import batch_csv, drop
from tests.s3_server import SECRET_KEY, S3Server

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _airflow_env(airflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(airflow_home))


def _keys(server: S3Server, data_url: str) -> list[str]:
    bucket, prefix = data_url.removeprefix("s3://").split("/", 1)
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/")
    return sorted(o["Key"][len(prefix) + 1 :] for page in pages for o in page.get("Contents", []))


def test_the_loop_runs_with_the_data_root_on_s3(settings: Settings, s3_data_url: str, s3_server: S3Server) -> None:
    settings = dataclasses.replace(settings, data_url=s3_data_url)
    broken = batch_csv(seed=2, rows=40).replace(b"age,", b"years,", 1)
    drop(settings, "b1", {"good.csv": batch_csv(seed=1), "broken.csv": broken})
    lines: list[str] = []

    outcome = run_landing(settings, echo=lines.append)

    assert outcome.status == "trained", (outcome.errors, lines)
    meta = SqlMetadataStore(settings.database_url)
    snapshot = meta.latest_snapshot("churn")
    assert snapshot is not None and snapshot.rows == 1500
    champion = meta.get_alias("churn-classifier")
    assert champion is not None and champion.version == 1 and champion.snapshot_id == snapshot.id

    keys = _keys(s3_server, s3_data_url)
    prefixes = {k.split("/")[0] for k in keys}
    assert {"snapshots", "artifacts", "reports"} <= prefixes, prefixes
    assert f"snapshots/manifests/{snapshot.id}.json" in keys
    assert champion.artifact_uri in keys
    assert not [k for k in keys if k.endswith(".tmp")], "no temporary objects"

    # Read back through the store: the rows, the verified model.
    ws = open_workspace(settings)
    manifest = read_manifest(ws.store, snapshot.id)
    assert len(load_snapshot(ws.store, manifest)) == 1500
    assert ws.artifacts.verify(champion.artifact_uri, champion.artifact_sha256).ok
    assert ws.store.uri(champion.artifact_uri).startswith(s3_data_url + "/")

    # The local data directory holds the landing side only; no object of the data root is there, and
    # the accepted and the refused file left their local archive and quarantine for the bucket.
    assert not any((settings.home / p).exists() for p in ("snapshots", "artifacts", "reports"))
    local = [p for d in (settings.archive, settings.quarantine) if d.exists() for p in d.rglob("*") if p.is_file()]
    assert local == []
    good_sha = read_manifest(ws.store, snapshot.id).parts[0].source.sha256
    assert f"archive/{good_sha[:2]}/{good_sha}/good.csv" in keys
    [reason_key] = [k for k in keys if k.startswith("quarantine/") and k.endswith("broken.csv.reason.json")]
    assert reason_key.replace(".reason.json", "") in keys
    reason = json.loads(ws.store.get(reason_key))
    assert reason["code"] == "wrong_columns"

    # Lineage names the objects by their s3:// URL; no credential there or in what the tasks said.
    lineage = model_lineage(ws, champion.name, champion.version)
    assert lineage["artifact"]["uri"] == f"{s3_data_url}/{champion.artifact_uri}"
    [landed] = lineage["landing_files"]
    assert landed["archived_path"] == f"{s3_data_url}/archive/{good_sha[:2]}/{good_sha}/good.csv"
    recorded = json.dumps([lineage, [dataclasses.asdict(v) for v in meta.list_model_versions()]], default=str)
    assert SECRET_KEY not in recorded and not any(SECRET_KEY in line for line in lines)
    assert len(pd.read_parquet(io.BytesIO(ws.store.get(manifest.parts[0].key)))) > 0

    again = run_landing(settings, echo=lines.append)
    assert again.status == "already_trained" and again.model_version == 1
    assert len(meta.list_snapshots()) == 1 and _keys(s3_server, s3_data_url) == keys
