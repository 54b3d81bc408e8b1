"""``ct demo-data`` drips well-formed batches into the landing area, the way a producer should."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.app.airflow_runner import airflow_env
from pipeline.app.demo_drip import drip, parse_duration
from pipeline.core.errors import ConfigError
from pipeline.core.settings import Settings


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("2m", 120), ("1h", 3600), ("5", 5), ("0.5s", 0.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_names_the_option() -> None:
    with pytest.raises(ConfigError, match="--every 'soon'"):
        parse_duration("soon")


def test_drip_writes_marked_batches_with_pauses_and_continues_after_a_restart(tmp_path: Path) -> None:
    landing, archive = tmp_path / "landing", tmp_path / "archive"
    pauses: list[float] = []
    first = drip(landing, archive, every=30, batches=3, rows=50, sleep=pauses.append, echo=lambda _: None)
    assert pauses == [30, 30], "a pause between batches, none after the last"
    assert all((p.parent / "_SUCCESS").exists() for p in first)
    # Files ingested meanwhile move to the archive; a restart continues the numbering.
    (archive / "x").mkdir(parents=True)
    first[0].rename(archive / "x" / first[0].name)
    more = drip(landing, archive, every=0, batches=2, rows=50, sleep=lambda _: None, echo=lambda _: None)
    assert [p.name for p in more] == ["demo-0004.csv", "demo-0005.csv"]
    frames = [pd.read_csv(p) for p in [*first[1:], *more]] + [pd.read_csv(archive / "x" / first[0].name)]
    ids = pd.concat(frames)["customer_id"]
    assert ids.is_unique, "every batch brings new customers"
    drifted = pd.read_csv(first[2])
    assert (drifted["churned"] == "yes").mean() == pytest.approx(0.7, abs=0.01), "the third batch shifts the label"


def test_airflow_env_points_tasks_at_the_api_port_and_this_venv(settings: Settings) -> None:
    env = airflow_env(settings, base={"PATH": "/usr/bin", "AIRFLOW__API__PORT": "8123"})
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8123/execution/"
    assert env["PATH"].split(":")[0].endswith("bin") and env["PATH"].endswith("/usr/bin")
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert env["CT_HOME"] == str(settings.home)


def test_unlabelled_drip_sends_labels_one_interval_after_their_batch(tmp_path: Path) -> None:
    from pipeline.app.demo_drip import drip_unlabelled

    scoring, labels, archive = tmp_path / "scoring", tmp_path / "labels", tmp_path / "archive"
    events: list[str] = []
    written = drip_unlabelled(
        scoring,
        labels,
        archive,
        every=30,
        batches=2,
        rows=40,
        sleep=lambda s: events.append(f"sleep {s}"),
        echo=lambda _: None,
    )
    names = [p.name for p in written]
    assert names == ["unlabelled-0001.csv", "unlabelled-0002.csv", "labels-0001.csv", "labels-0002.csv"]
    assert all((p.parent / "_SUCCESS").exists() for p in written)
    first, second, first_labels, _ = (pd.read_csv(p) for p in written)
    assert "churned" not in first.columns and list(first_labels.columns) == ["customer_id", "churned"]
    assert first_labels["customer_id"].tolist() == first["customer_id"].tolist()
    assert not set(first["customer_id"]) & set(second["customer_id"])
    assert events == ["sleep 30", "sleep 30"]
