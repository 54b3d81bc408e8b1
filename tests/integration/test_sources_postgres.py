"""The PostgreSQL table source against the real server: incremental reads by watermark, chunked parts,
row quarantine, and a watermark that is stored only once the manifest is durable."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.workspace import Workspace
from pipeline.core.config import PipelineConfig, TableSourceConfig, parse_config
from pipeline.core.errors import ConfigError, IngestError
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.data.ingestion import PENDING_DIR
from pipeline.data.snapshot_lineage import models_trained_on, snapshot_lineage
from pipeline.data.snapshots import read_manifest
from pipeline.data.sources.postgres import decode_watermark, encode_watermark, watermark_key
from pipeline.registry.base import NewModelVersion

URL_ENV = "CT_TEST_CRM_URL"


def _source(**overrides: Any) -> TableSourceConfig:
    return TableSourceConfig(
        **{
            "name": "crm",
            "url_env": URL_ENV,
            "table": "customers",
            "watermark_column": "seq",
            "chunk_rows": 40,
            **overrides,
        }
    )


def _workspace(settings: Settings, config: PipelineConfig, *sources: TableSourceConfig) -> Workspace:
    settings.landing.mkdir(parents=True, exist_ok=True)
    return Workspace(
        settings=settings,
        config=config.model_copy(
            update={
                "ingest": config.ingest.model_copy(update={"stable_seconds": 0}),
                "sources": config.sources.model_copy(update={"tables": sources or (_source(),)}),
            }
        ),
    )


@pytest.fixture
def engine(postgres_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(URL_ENV, postgres_url)
    eng = sa.create_engine(postgres_url)
    with eng.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE customers (seq bigint, customer_id text, tenure_months integer,"
                " monthly_charges numeric(8,2), total_charges double precision, support_calls integer,"
                " data_usage_gb double precision, age text,"
                " contract text, payment_method text, region text, plan text, churned text, note text)"
            )
        )
    yield eng
    eng.dispose()


def _insert(engine: sa.Engine, frame: pd.DataFrame, first_seq: int) -> None:
    rows = frame.assign(seq=range(first_seq, first_seq + len(frame)), note="x").astype({"age": str})
    rows = rows.astype(object).where(rows.notna(), None)
    rows.loc[rows["age"] == "nan", "age"] = None
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO customers ({', '.join(rows.columns)}) VALUES ({', '.join(':' + c for c in rows.columns)})"
            ),
            rows.to_dict("records"),
        )


def _batch(rows: int, seed: int) -> pd.DataFrame:
    return generate_batch(BatchSpec(rows=rows, seed=seed, first_id=seed * 100_000))


def _watermark(ws: Workspace) -> dict[str, Any]:
    return json.loads(ws.store.get(watermark_key("crm")))


def test_reads_new_rows_by_watermark_in_chunks(engine: sa.Engine, settings: Settings, config: PipelineConfig) -> None:
    ws = _workspace(settings, config)
    first_rows = _batch(100, 1)
    _insert(engine, first_rows, first_seq=1)
    assert stages.ready_landing_files(ws) == ["crm:customers"]

    first = stages.ingest_landing(ws)
    snap = read_manifest(ws.store, first.snapshot_id)
    assert [p.rows for p in snap.parts] == [40, 40, 20]
    assert [p.source.watermark for p in snap.parts] == ["int:40", "int:80", "int:100"]
    assert {p.source.name for p in snap.parts} == {"crm:customers"}
    assert first.sources == [
        {
            "source": "crm:customers",
            "rows": 100,
            "accepted_rows": 100,
            "rejected_rows": 0,
            "parts": 3,
            "watermark_from": None,
            "watermark_to": "int:100",
        }
    ]
    state = _watermark(ws)
    assert (state["value"], state["snapshot_id"], state["column"], state["table"]) == (
        "int:100",
        snap.id,
        "seq",
        "customers",
    )
    data = stages.snapshot_frame(ws, snap.id)
    assert data["customer_id"].tolist() == first_rows["customer_id"].tolist()
    assert data["monthly_charges"].round(2).tolist() == first_rows["monthly_charges"].round(2).tolist()
    assert "note" not in data.columns and "seq" not in data.columns

    # nothing new: no read, no snapshot, watermark unchanged
    assert stages.ready_landing_files(ws) == []
    again = stages.ingest_landing(ws)
    assert (again.snapshot_id, again.created, again.sources[0]["rows"]) == (snap.id, False, 0)
    assert _watermark(ws)["value"] == "int:100"

    # 30 new rows: exactly those are read, into one part
    new_rows = _batch(30, 2)
    _insert(engine, new_rows, first_seq=101)
    second = stages.ingest_landing(ws)
    snap2 = read_manifest(ws.store, second.snapshot_id)
    assert (second.new_rows, second.rows, snap2.parent) == (30, 130, snap.id)
    assert snap2.parts[-1].source.watermark == "int:130" and len(snap2.parts) == 4
    assert stages.snapshot_frame(ws, snap2.id)["customer_id"].tolist()[-30:] == new_rows["customer_id"].tolist()
    assert _watermark(ws)["previous"] == "int:100" and _watermark(ws)["value"] == "int:130"

    # lineage: the table appears as a source; models trained on it are found by the source name
    sources = snapshot_lineage(ws, snap2.id)["sources"]
    assert sources == [
        {
            "name": "crm:customers",
            "sha256": None,
            "size": 0,
            "kind": "table",
            "archive_path": None,
            "parts": 4,
            "rows": 130,
            "watermark": "int:130",
        }
    ]
    ws.meta.register_model(
        NewModelVersion(
            name="m",
            snapshot_id=snap2.id,
            config_hash="c",
            spec_name="default",
            params={},
            metrics={},
            evaluation={},
            artifact_uri="artifacts/x",
            artifact_sha256="0" * 64,
            validation_id=None,
            trigger={},
            code_version="t",
        )
    )
    assert [m["version"] for m in models_trained_on(ws, "crm")] == [1]


def test_rows_failing_the_schema_go_to_quarantine(
    engine: sa.Engine, settings: Settings, config: PipelineConfig
) -> None:
    ws = _workspace(settings, config)
    frame = _batch(60, 3)
    frame["age"] = frame["age"].astype(object)
    frame.loc[[4, 45], "age"] = "old"
    frame.loc[[50], "churned"] = "maybe"
    _insert(engine, frame, first_seq=1000)
    out = stages.ingest_landing(ws)
    assert (out.rows, out.rejected_rows) == (57, 3)
    files = list(ws.settings.quarantine.rglob("crm.rejected_rows.csv"))
    assert len(files) == 1 and files[0].parent.name.endswith("_source-crm")
    rejected = pd.read_csv(files[0])
    assert rejected["seq"].tolist() == [1004, 1045, 1050]
    assert rejected["_ct_reject_reason"].tolist() == [
        "age: not a number",
        "age: not a number",
        "churned: not one of the classes ['no', 'yes']",
    ]
    assert _watermark(ws)["value"] == "int:1059"  # taken: the bad rows are kept in quarantine, not re-read
    assert not any((ws.settings.quarantine / PENDING_DIR).iterdir())


def test_watermark_is_stored_only_after_the_manifest(
    engine: sa.Engine, settings: Settings, config: PipelineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _workspace(settings, config)
    _insert(engine, _batch(50, 4), first_seq=1)
    real_create = stages.ingest.create_snapshot

    def crash_before_manifest(*args: Any, **kwargs: Any) -> Any:
        assert not ws.store.exists(watermark_key("crm"))  # parts written, watermark not yet
        raise RuntimeError("killed before the manifest")

    monkeypatch.setattr(stages.ingest, "create_snapshot", crash_before_manifest)
    with pytest.raises(RuntimeError):
        stages.ingest_landing(ws)
    assert not ws.store.exists(watermark_key("crm")) and ws.meta.latest_snapshot("churn") is None

    # the run that follows stops after the manifest but before the watermark is written
    monkeypatch.setattr(stages.ingest, "create_snapshot", real_create)

    def crash_before_watermark(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed after the manifest")

    monkeypatch.setattr(stages.ingest, "commit_table_read", crash_before_watermark)
    with pytest.raises(RuntimeError):
        stages.ingest_landing(ws)
    durable = ws.meta.latest_snapshot("churn")
    assert durable.rows == 50 and not ws.store.exists(watermark_key("crm"))

    # meanwhile 10 rows arrive; the rerun reads only those (from the watermark on the snapshot's parts)
    monkeypatch.undo()
    monkeypatch.setenv(URL_ENV, engine.url.render_as_string(hide_password=False))
    _insert(engine, _batch(10, 5), first_seq=51)
    out = stages.ingest_landing(ws)
    assert (out.rows, out.new_rows) == (60, 10)
    data = stages.snapshot_frame(ws, out.snapshot_id)
    assert data["customer_id"].is_unique and len(data) == 60
    assert _watermark(ws)["value"] == "int:60"


def test_a_broken_source_does_not_stop_the_files(
    settings: Settings, config: PipelineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    ws = _workspace(settings, config)
    _batch(30, 6).to_csv(ws.settings.landing / "a.csv", index=False)
    with pytest.raises(ConfigError, match=f"environment variable {URL_ENV} is not set"):
        stages.ingest_landing(ws)
    snap = ws.meta.latest_snapshot("churn")
    assert snap is not None and snap.rows == 30  # the file was taken in and archived all the same
    assert list(ws.settings.landing.iterdir()) == [] and list(ws.settings.archive.rglob("a.csv"))


def test_table_problems_name_the_source(engine: sa.Engine, settings: Settings, config: PipelineConfig) -> None:
    ws = _workspace(settings, config, _source(table="nowhere"))
    with pytest.raises(ConfigError, match="table 'nowhere' does not exist"):
        stages.ingest_landing(ws)
    ws = _workspace(settings, config, _source(watermark_column="updated_at"))
    with pytest.raises(ConfigError, match="no column 'updated_at'"):
        stages.ingest_landing(ws)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE customers DROP COLUMN region"))
    with pytest.raises(IngestError, match=r"lacks declared column\(s\) \['region'\]"):
        stages.ingest_landing(_workspace(settings, config))


def test_timestamp_watermark(engine: sa.Engine, settings: Settings, config: PipelineConfig) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE customers ADD COLUMN loaded_at timestamptz"))
    frame = _batch(20, 8)
    _insert(engine, frame, first_seq=1)
    start = datetime(2025, 5, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE customers SET loaded_at = :t + (seq * interval '1 minute')"), {"t": start})
    ws = _workspace(settings, config, _source(watermark_column="loaded_at"))
    out = stages.ingest_landing(ws)
    assert out.rows == 20
    assert decode_watermark(_watermark(ws)["value"]) == start + timedelta(minutes=20)
    assert stages.ingest_landing(ws).created is False


@pytest.mark.parametrize(
    "value",
    [
        7,
        Decimal("12.50"),
        1.25,
        datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2025, 1, 2, 3, 4, 5),
        date(2025, 1, 2),
        "b-17",
    ],
)
def test_watermark_values_round_trip(value: Any) -> None:
    assert decode_watermark(encode_watermark(value)) == value
    assert type(decode_watermark(encode_watermark(value))) is type(value)


def test_sources_config_validation() -> None:
    raw = yaml.safe_load(BUNDLED_CONFIG.read_text())
    assert parse_config(raw).sources.tables == ()
    raw["sources"] = {
        "tables": [{"name": "crm", "url_env": "CT_CRM_URL", "table": "public.customers", "watermark_column": "seq"}]
    }
    assert parse_config(raw).sources.tables[0].chunk_rows == 50_000
    raw["sources"]["tables"].append(dict(raw["sources"]["tables"][0]))
    with pytest.raises(ConfigError, match=r"declared twice: \['crm'\]"):
        parse_config(raw)
    raw["sources"]["tables"] = [
        {"name": "crm", "url_env": "postgresql://ct:s3cret@db/crm", "table": "t", "watermark_column": "seq"}
    ]
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert "NAME of an environment variable" in str(info.value) and "s3cret" not in str(info.value)
    raw["sources"]["tables"] = [{"name": "crm", "url_env": "X", "table": "t; DROP TABLE x", "watermark_column": "seq"}]
    with pytest.raises(ConfigError, match=r"sources\.tables\.0\.table"):
        parse_config(raw)
