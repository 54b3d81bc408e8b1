"""What a crash or a kill leaves behind is finished or cleaned, never overwritten nor orphaned.

- rejected rows of a table read whose run stopped after its snapshot must survive the next read;
- temporary part files of a killed write are removed by ``ct snapshots gc``;
- a kill while quarantining a file never leaves a reason with no file beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from fault_helpers import batch, make_workspace, reasons

import pipeline.app.stages.ingest as ingest_stage
from pipeline.app import stages
from pipeline.app.workspace import Workspace
from pipeline.core.config import TableSourceConfig
from pipeline.data import ingestion
from pipeline.data.retention import collect_garbage

URL_ENV = "CT_FAULTS_CRM_URL"


def _table_workspace(home: Path) -> Workspace:
    ws = make_workspace(home)
    source = TableSourceConfig(name="crm", url_env=URL_ENV, table="customers", watermark_column="seq", chunk_rows=40)
    (home / "landing").mkdir(exist_ok=True)
    return Workspace(
        settings=ws.settings,
        config=ws.config.model_copy(update={"sources": ws.config.sources.model_copy(update={"tables": (source,)})}),
    )


def _insert(engine: sa.Engine, frame: pd.DataFrame, first_seq: int) -> None:
    rows = frame.assign(seq=range(first_seq, first_seq + len(frame))).astype({"age": str})
    rows = rows.astype(object).where(rows.notna(), None)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO customers ({', '.join(rows.columns)}) VALUES ({', '.join(':' + c for c in rows.columns)})"
            ),
            rows.to_dict("records"),
        )


@pytest.mark.postgres
def test_table_rows_rejected_before_a_crash_are_not_overwritten_by_the_next_read(
    home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, postgres_url)
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE customers (seq bigint, customer_id text, tenure_months integer, monthly_charges float,"
                " total_charges float, support_calls integer, data_usage_gb float, age text, contract text,"
                " payment_method text, region text, plan text, churned text)"
            )
        )
    # every quarantine folder named in the same second, as two quick runs are
    monkeypatch.setattr(ingestion, "_stamp", lambda: "20260101T000000Z")
    first = batch(60, 21, 0).astype({"age": object})
    first.loc[[4], "age"] = "old"
    _insert(engine, first, 1)

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("killed after the snapshot, before the rows reached quarantine")

    monkeypatch.setattr(ingest_stage, "commit_table_read", crash)
    with pytest.raises(RuntimeError):
        stages.ingest_landing(_table_workspace(home))
    monkeypatch.undo()
    monkeypatch.setenv(URL_ENV, postgres_url)
    monkeypatch.setattr(ingestion, "_stamp", lambda: "20260101T000000Z")

    second = batch(60, 22, 1_000).astype({"age": object})
    second.loc[[7, 8], "age"] = "older"
    _insert(engine, second, 100)
    out = stages.ingest_landing(_table_workspace(home))
    assert out.rows == 117

    kept = [
        pd.read_csv(p, dtype=str)
        for p in (home / "quarantine").rglob("*.rejected_rows.csv")
        if ".pending" not in p.parts
    ]
    reasons_seen = sorted(r for frame in kept for r in frame["_ct_reject_reason"])
    assert reasons_seen == ["age: not a number"] * 3, "the first read's rejected row was overwritten"
    assert not list((home / "quarantine" / ".pending").iterdir())
    engine.dispose()


def test_gc_removes_temporary_part_files_a_killed_write_left(home: Path) -> None:
    landing = home / "landing"
    landing.mkdir()
    batch(50, 23, 0).to_csv(landing / "a.csv", index=False)
    ws = make_workspace(home)
    stages.ingest_landing(ws)
    [part] = [k for k in ws.store.list("snapshots/parts") if k.endswith(".parquet")]
    folder = home / Path(part).parent
    leftover = folder / ".0123abcd.parquet.5f2c9e0d8b7a4c3d9e8f7a6b5c4d3e2f.tmp"  # a kill before the rename
    leftover.write_bytes(b"PAR1 half a part")

    report = collect_garbage(ws, keep_last=1, min_age_seconds=0)

    assert not leftover.exists()
    assert (home / part).exists()
    assert report.removed_temp == [f"{Path(part).parent}/{leftover.name}"]


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no except-Exception catches it."""


def test_a_kill_while_quarantining_never_leaves_a_reason_without_its_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = home / "landing"
    landing.mkdir()
    (landing / "bad.csv").write_text("not,the,columns\n1,2,3\n")
    real_rename = ingestion.os.rename

    def killed_on_landing_move(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(src).parent == landing:
            raise Killed()
        real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(ingestion.os, "rename", killed_on_landing_move)
    with pytest.raises(Killed):
        stages.ingest_landing(make_workspace(home))
    monkeypatch.undo()

    for reason_file in (home / "quarantine").rglob("*.reason.json"):
        data = json.loads(reason_file.read_text())
        assert (reason_file.parent / data["file"]).exists(), "a reason with no file beside it"
    assert (landing / "bad.csv").exists()  # still waiting: nothing lost

    stages.ingest_landing(make_workspace(home))
    [reason] = reasons(home)
    assert reason["code"] == "wrong_columns" and not (landing / "bad.csv").exists()
