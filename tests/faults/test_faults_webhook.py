"""A hostile or broken webhook cannot hold the pipeline, nor send an alert somewhere else.

``alerts.timeout_seconds`` bounds the whole POST: a server that trickles its reply a byte at a
time (each read well inside the timeout) is cut off. A redirect is never followed, to another
host or to the same one: the alert is recorded as failed with where the redirect pointed.
Real HTTP servers on 127.0.0.1; the only timing in these tests is a generous "it returned".
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipeline.monitoring.alerts import Notifier
from pipeline.registry.alert import Alert
from pipeline.registry.sql import SqlMetadataStore

TIMEOUT = 1.0
TOKEN = "/hooks/SECRET-TOKEN"


class Trickler:
    """Answers each request with a valid reply sent one byte every 0.1 s (about 12 s in all)."""

    REPLY = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"p" * 80 + b"\r\nContent-Length: 2\r\n\r\nok"
    )

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}{TOKEN}"
        self.client_hung_up = threading.Event()
        self.finished_reply = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                conn.recv(65536)  # the request (small enough for one read here)
                try:
                    for i in range(len(self.REPLY)):
                        if self._stop.is_set():
                            return
                        conn.sendall(self.REPLY[i : i + 1])
                        time.sleep(0.1)
                    self.finished_reply.set()
                except OSError:  # BrokenPipe / ConnectionReset: the client gave up
                    self.client_hung_up.set()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.listener.close()


class Recorder:
    """A plain HTTP server that records every request and answers with ``status`` (+ ``location``)."""

    def __init__(self, status: int = 200, location: str | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status, self.location = status, location
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                rec.requests.append(
                    {"method": self.command, "path": self.path, "body": self.rfile.read(length) if length else b""}
                )
                self.send_response(rec.status)
                if rec.location:
                    self.send_header("Location", rec.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    s = SqlMetadataStore(f"sqlite:///{tmp_path / 'ct.db'}")
    try:
        yield s
    finally:
        s.dispose()


def _alert() -> Alert:
    return Alert(
        kind="promoted",
        severity="info",
        title="churn: champion moved v1 -> v2",
        message="by test",
        dedupe_key="promoted:churn:champion:ledger1",
        details={"secret_payload": "do-not-leak"},
    )


def test_a_trickling_webhook_is_cut_off_by_the_total_timeout(store: SqlMetadataStore) -> None:
    trickler = Trickler()
    try:
        started = time.monotonic()
        record = Notifier(store, webhook_url=trickler.url, timeout_seconds=TIMEOUT).notify(_alert())
        elapsed = time.monotonic() - started
        assert trickler.client_hung_up.wait(timeout=5), "the client kept reading the trickled reply"
    finally:
        trickler.close()
    assert not trickler.finished_reply.is_set()
    assert record is not None and record.delivery_status == "failed"
    assert record.delivery_detail == f"no answer within {TIMEOUT:g}s"
    assert elapsed < 3 * TIMEOUT, f"returned after {elapsed:.1f}s with a {TIMEOUT:g}s timeout"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_not_followed(store: SqlMetadataStore, status: int) -> None:
    elsewhere = Recorder()
    # "localhost" is another host name than the 127.0.0.1 the webhook is configured with
    hook = Recorder(status, f"http://localhost:{elsewhere.port}/collect/OTHER-SECRET")
    try:
        record = Notifier(store, webhook_url=f"http://127.0.0.1:{hook.port}{TOKEN}", timeout_seconds=TIMEOUT).notify(
            _alert()
        )
    finally:
        hook.close()
        elsewhere.close()
    assert [r["method"] for r in hook.requests] == ["POST"]
    assert elsewhere.requests == [], f"the alert went to the redirect's host: {elsewhere.requests}"
    assert record is not None and record.delivery_status == "failed"
    assert f"HTTP {status} redirect to http://localhost:{elsewhere.port}/" in record.delivery_detail
    assert "OTHER-SECRET" not in record.delivery_detail  # the target's path (a token?) is not recorded


def test_a_same_host_redirect_is_refused_too(store: SqlMetadataStore) -> None:
    hook = Recorder(302, "/hooks/moved")
    try:
        record = Notifier(store, webhook_url=f"http://127.0.0.1:{hook.port}{TOKEN}", timeout_seconds=TIMEOUT).notify(
            _alert()
        )
    finally:
        hook.close()
    assert [r["path"] for r in hook.requests] == [TOKEN]
    assert record is not None and record.delivery_status == "failed" and "redirect" in record.delivery_detail
