"""``ct alerts`` through ``pipeline.cli.main`` against a fresh CT_HOME with a few stored alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.cli import main as ct_main
from pipeline.cli.alerts import parse_since
from pipeline.core.errors import CTError
from pipeline.registry.alert import Alert
from pipeline.registry.sql import SqlMetadataStore

NOW = datetime.now(UTC)
FIELDS = {
    "id",
    "kind",
    "severity",
    "title",
    "message",
    "details",
    "source",
    "created_at",
    "dedupe_key",
    "delivery_status",
    "delivery_detail",
    "delivery_attempts",
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "ct_home"
    monkeypatch.setenv("CT_HOME", str(home))
    monkeypatch.setenv("CT_DATABASE_URL", f"sqlite:///{home / 'ct.db'}")
    monkeypatch.setenv("CT_CONFIG", str(tmp_path / "broken.yaml"))  # ct alerts needs no config
    (tmp_path / "broken.yaml").write_text("dataset: [not, a, mapping")
    monkeypatch.delenv("CT_DATA_URL", raising=False)
    store = SqlMetadataStore(f"sqlite:///{home / 'ct.db'}")
    for key, kind, severity, title, age in [
        ("a", "promoted", "info", "churn-classifier: champion moved nothing -> v1", timedelta(days=3)),
        (
            "b",
            "validation_failed",
            "critical",
            "validation failed on snapshot 03187b6992d28ec2: 1 check(s), training stopped",
            timedelta(hours=2),
        ),
        (
            "c",
            "task_failed",
            "critical",
            "ct_train.validate failed (try 1): ValidationFailed: validation failed",
            timedelta(hours=1),
        ),
    ]:
        rec, _ = store.record_alert(
            Alert(
                kind=kind,
                severity=severity,
                title=title,
                message=f"msg {key}",
                dedupe_key=key,
                created_at=(NOW - age).isoformat(),
            ),
            "pending" if key == "c" else "not_configured",
        )
        if key == "c":
            store.record_alert_delivery(rec.id, "failed", "HTTP 500 Internal Server Error")
    store.dispose()
    return home


def ct(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = ct_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_lists_alerts_newest_first_with_delivery(home: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = ct(capsys, "alerts")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["#", "when", "(UTC)", "severity", "kind", "title", "webhook"]
    assert [line.split()[2] for line in lines[2:]] == ["critical", "critical", "info"]  # after id and time
    assert "task_failed" in lines[2] and lines[2].rstrip().endswith("failed (HTTP 500 Internal Server Error)")
    assert "promoted" in lines[4] and lines[4].rstrip().endswith("—")


def test_filters_and_json(home: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = ct(capsys, "alerts", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["dedupe_key"] for r in rows] == ["c", "b", "a"]
    assert all(set(r) == FIELDS for r in rows)
    assert (rows[0]["delivery_status"], rows[0]["delivery_attempts"]) == ("failed", 1)

    keys = lambda *args: [r["dedupe_key"] for r in json.loads(ct(capsys, "alerts", "--json", *args)[1])]  # noqa: E731
    assert keys("--kind", "promoted") == ["a"]
    assert keys("--since", "24h") == ["c", "b"]
    assert keys("--since", (NOW - timedelta(minutes=90)).isoformat()) == ["c"]
    assert keys("--limit", "1") == ["c"]
    assert keys("--kind", "drift") == []

    code, out, _ = ct(capsys, "alerts", "--limit", "2")
    assert code == 0 and "the 2 newest" in out
    code, out, _ = ct(capsys, "alerts", "--kind", "drift")
    assert (code, out.strip()) == (0, "no alerts match")


def test_bad_input_says_what_was_expected(home: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = ct(capsys, "alerts", "--since", "yesterday")
    assert code == 2 and "--since 'yesterday'" in err and "24h" in err
    code, _, err = ct(capsys, "alerts", "--limit", "0")
    assert code == 2 and "--limit 0" in err
    with pytest.raises(SystemExit):
        ct_main(["alerts", "--kind", "explosion"])
    assert "invalid choice: 'explosion'" in capsys.readouterr().err


def test_empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CT_HOME", str(tmp_path))
    monkeypatch.setenv("CT_DATABASE_URL", f"sqlite:///{tmp_path / 'ct.db'}")
    assert ct(capsys, "alerts")[1].strip() == "no alerts yet"


def test_parse_since() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_since("24h", now) == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == datetime(2026, 3, 10, 11, 30, tzinfo=UTC)
    assert parse_since("2w", now) == datetime(2026, 2, 24, 12, 0, tzinfo=UTC)
    assert parse_since("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_since("2026-03-01T08:00:00Z", now) == datetime(2026, 3, 1, 8, tzinfo=UTC)
    with pytest.raises(CTError, match="expected a time back from now"):
        parse_since("3 fortnights", now)
