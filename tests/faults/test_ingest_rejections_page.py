"""Rejected input pages someone: an ``ingest_rejected`` alert, told once (table and webhook), and
``ct run`` naming the reason and failing when everything it found was rejected."""

from __future__ import annotations

import argparse
import json
import os
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from fault_helpers import batch, fake_ingest_only_dags, make_workspace

import pipeline.app.local_runner as local_run
from pipeline.app import stages
from pipeline.app.workspace import Workspace
from pipeline.cli.running import cmd_run
from pipeline.core.settings import BUNDLED_CONFIG, Settings


@pytest.fixture
def webhook():
    """A local webhook receiver on a free port; yields (url, received payloads)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def _with_webhook(ws: Workspace, url: str) -> Workspace:
    return Workspace(settings=replace(ws.settings, alert_webhook_url=url), config=ws.config)


def test_a_quarantined_file_and_rejected_rows_raise_one_ingest_rejected_alert(home: Path, webhook) -> None:
    url, received = webhook
    landing = home / "landing"
    landing.mkdir()
    rows = batch(100, 31, 0).astype({"age": object})
    rows.loc[[3, 9], "age"] = "old"
    rows.to_csv(landing / "some_bad_rows.csv", index=False)
    (landing / "renamed.csv").write_text("cust,age\n1,2\n")

    ws = _with_webhook(make_workspace(home), url)
    out = stages.ingest_landing(ws)

    [alert] = ws.meta.list_alerts(kind="ingest_rejected")
    assert alert.details["codes"] == {"wrong_columns": 1} and alert.details["rejected_rows"] == 2
    assert "renamed.csv" in alert.message and "wrong_columns" in alert.message
    assert "some_bad_rows.csv: 2 of 100 row(s) rejected" in alert.message
    assert [p["kind"] for p in received] == ["ingest_rejected"]
    assert alert.delivery_status == "delivered"

    from pipeline.app.stages.ingest import notify_rejections

    notify_rejections(ws, out)  # the same outcome told again (a retried task): neither stored nor posted twice
    assert len(ws.meta.list_alerts(kind="ingest_rejected")) == 1 and len(received) == 1


def test_a_clean_ingest_raises_no_alert(home: Path) -> None:
    landing = home / "landing"
    landing.mkdir()
    batch(50, 32, 0).to_csv(landing / "clean.csv", index=False)
    ws = make_workspace(home)
    stages.ingest_landing(ws)
    assert ws.meta.list_alerts(kind="ingest_rejected") == []


def _run_args() -> argparse.Namespace:
    return argparse.Namespace(spec=None, force=False, reason=None, json=False)


def _settings(home: Path) -> Settings:
    return Settings(
        home=home, config_path=BUNDLED_CONFIG, database_url=f"sqlite:///{home / 'ct.db'}", data_url=home.as_uri()
    )


def _settled(path: Path) -> None:
    os.utime(path, (path.stat().st_mtime - 3600, path.stat().st_mtime - 3600))


def test_ct_run_names_the_reason_and_fails_when_everything_was_rejected(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    ran = fake_ingest_only_dags(monkeypatch)
    landing = home / "landing"
    landing.mkdir()
    (landing / "wrong.csv").write_text("cust,age\n1,2\n")
    _settled(landing / "wrong.csv")

    code = cmd_run(_run_args(), _settings(home))

    err = capsys.readouterr().err
    assert code != 0
    assert ran == ["ct_ingest"]
    assert "wrong.csv" in err and "wrong_columns" in err and "quarantine" in err


def test_ct_run_goes_on_when_one_file_of_several_is_rejected(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = fake_ingest_only_dags(monkeypatch)
    landing = home / "landing"
    landing.mkdir()
    (landing / "wrong.csv").write_text("cust,age\n1,2\n")
    batch(80, 33, 0).to_csv(landing / "fine.csv", index=False)
    for p in landing.iterdir():
        _settled(p)

    outcome = local_run.run_landing(_settings(home), echo=lambda _line: None)

    assert outcome.status != "rejected"
    assert ran[:2] == ["ct_ingest", "ct_monitor"]  # on to training the new snapshot
