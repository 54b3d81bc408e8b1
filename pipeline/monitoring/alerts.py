"""Alerts: what went wrong or changed, told once, to the log, the alerts table and a webhook.

Raised where the events happen, so ``ct run``, the demo and Airflow alert alike: a task that
finally failed (``plugins/ct_airflow/notify.py``), a failed validation or one with warnings
(``app/stages/validate.py``), files or rows rejected by ingest (``app/stages/ingest.py``), a
performance drop or drift seen on live data (``monitoring/live_performance.py``), every move of an
alias (``app/stages/register.py``: promotion by policy or by hand, rollback), and a version the
policy refused to promote because its holdout was too small to judge (``thin_evidence``).

Every alert carries a ``dedupe_key`` naming the event (the snapshot and its failed checks, the
ledger row, the live windows, the task try), so a task retry or rerun finds the stored row and
neither writes nor posts it again. Alerting is a side channel: a store or webhook problem is
logged (and a webhook failure recorded on the alert row) but never fails the pipeline.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import socket
import ssl
import time
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    from pipeline.core.config import AlertsConfig
    from pipeline.core.settings import Settings
    from pipeline.registry.base import AlertRecord, MetadataStore, PromotionRecord

from pipeline.core.hashing import sha256_hex
from pipeline.registry.alert import (  # the alert value object lives beside the store that records it
    DELIVERED,
    FAILED,
    NOT_CONFIGURED,
    PENDING,
    Alert,
    Kind,
    make_dedupe_key,
)
from pipeline.registry.context import StoreContext

log = logging.getLogger(__name__)

_LOG_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}
MAX_LISTED = 10  # failed checks named in one alert message

# -- where an alert was raised -------------------------------------------------------------------
_AIRFLOW_CONTEXT = {
    "dag_id": "AIRFLOW_CTX_DAG_ID",
    "task_id": "AIRFLOW_CTX_TASK_ID",
    "run_id": "AIRFLOW_CTX_DAG_RUN_ID",
    "try_number": "AIRFLOW_CTX_TRY_NUMBER",
}


def runtime_source(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Airflow task this process runs (Airflow exports it as ``AIRFLOW_CTX_*``), else the host.

    Read from the environment so ``pipeline/`` learns its task without importing Airflow.
    """
    env = os.environ if env is None else env
    found = {name: env[var] for name, var in _AIRFLOW_CONTEXT.items() if env.get(var)}
    if found.get("dag_id"):
        return found
    return {"process": "ct", "host": socket.gethostname()}


# -- the alerts the pipeline raises --------------------------------------------------------------
def validation_alert(
    snapshot_id: str,
    reference_snapshot_id: str | None,
    failures: Sequence[Mapping[str, Any]],
    report_uri: str | None,
    *,
    blocking: bool,
) -> Alert:
    """``validation_failed`` (a ``fail`` check stopped training) or ``validation_warning``.

    ``failures`` are the failed checks (``name``, ``severity``, ``message``). The key names the
    snapshot, its reference and the failed checks, so validating the same data again is the
    same alert, and a different set of failures is a new one.
    """
    kind: Kind = "validation_failed" if blocking else "validation_warning"
    names = sorted(str(f["name"]) for f in failures)
    listed = [f"{f['name']}: {f['message']}" for f in failures[:MAX_LISTED]]
    more = f"\n… and {len(failures) - MAX_LISTED} more" if len(failures) > MAX_LISTED else ""
    what = "training stopped" if blocking else "training goes on"
    return Alert(
        kind=kind,
        severity="critical" if blocking else "warning",
        title=f"validation {'failed' if blocking else 'warned'} on snapshot {snapshot_id}: "
        f"{len(failures)} check(s), {what}",
        message="\n".join(listed) + more + (f"\nFull report: {report_uri}" if report_uri else ""),
        dedupe_key=make_dedupe_key(kind, snapshot_id, reference_snapshot_id or "-", sha256_hex(",".join(names))[:16]),
        details={
            "snapshot_id": snapshot_id,
            "reference_snapshot_id": reference_snapshot_id,
            "failed_checks": [dict(f) for f in failures],
            "report_uri": report_uri,
        },
        source=runtime_source(),
    )


def ingest_rejected_alert(
    dataset: str,
    quarantined: Sequence[Mapping[str, Any]],
    rejected_rows: Sequence[Mapping[str, Any]],
    *,
    snapshot_id: str | None,
) -> Alert | None:
    """``ingest_rejected``: files quarantined (``file``, ``code``, ``message``, ``path``) or rows rejected
    (``file``, ``rows``, ``of``) by one ingest; None when nothing was rejected.

    The key names the quarantined files' resting places and the rejected row counts, so a rerun
    that finds the same outcome is the same alert and every new rejection is a new one.
    """
    if not quarantined and not rejected_rows:
        return None
    codes: dict[str, int] = {}
    for q in quarantined:
        codes[str(q["code"])] = codes.get(str(q["code"]), 0) + 1
    row_total = sum(int(r["rows"]) for r in rejected_rows)
    lines = [
        f"{q['file']}: quarantined ({q['code']}): {q['message']}\n  kept in {q.get('path', '?')}"
        for q in quarantined[:MAX_LISTED]
    ]
    lines += [
        f"{r['file']}: {r['rows']} of {r['of']} row(s) rejected (reasons per row in quarantine/)"
        for r in rejected_rows[:MAX_LISTED]
    ]
    more = len(quarantined) + len(rejected_rows) - len(lines)
    parts = []
    if quarantined:
        parts.append(
            f"{len(quarantined)} file(s) quarantined ({', '.join(f'{c}: {n}' for c, n in sorted(codes.items()))})"
        )
    if rejected_rows:
        parts.append(f"{row_total} row(s) rejected in {len(rejected_rows)} source(s)")
    identity = sorted(
        [f"q:{q.get('path') or q['file']}:{q['code']}" for q in quarantined]
        + [f"r:{r['file']}:{r['rows']}" for r in rejected_rows]
    )
    return Alert(
        kind="ingest_rejected",
        severity="warning",
        title=f"ingest of {dataset}: {'; '.join(parts)}",
        message="\n".join(lines)
        + (f"\n… and {more} more" if more > 0 else "")
        + "\nLook in quarantine/ (each file has a .reason.json); fix the producer and drop corrected files.",
        dedupe_key=make_dedupe_key(
            "ingest_rejected",
            dataset,
            snapshot_id or "-",
            sha256_hex("\n".join(identity))[:16],
        ),
        details={
            "dataset": dataset,
            "snapshot_id": snapshot_id,
            "codes": codes,
            "rejected_rows": row_total,
            "quarantined": [dict(q) for q in quarantined],
            "rows": [dict(r) for r in rejected_rows],
        },
        source=runtime_source(),
    )


def alias_move_alert(record: PromotionRecord) -> Alert:
    """``promoted``, ``rolled_back`` or ``challenger_retired`` (an alias cleared): one alert per
    ledger row (the row id is the key)."""
    rollback, retired = record.kind == "rollback", record.kind == "retirement"
    kind: Kind = "rolled_back" if rollback else "challenger_retired" if retired else "promoted"
    before = f"v{record.from_version}" if record.from_version is not None else "nothing"
    verb = "rolled back" if rollback else "moved"
    title = (
        f"{record.name}: {record.alias} v{record.to_version} retired ({record.alias} cleared)"
        if retired
        else f"{record.name}: {record.alias} {verb} {before} -> v{record.to_version}"
    )
    return Alert(
        kind=kind,
        severity="warning" if rollback or retired else "info",
        title=title,
        message=f"by {record.actor}: {record.reason}",
        dedupe_key=make_dedupe_key(kind, record.name, record.alias, f"ledger{record.id}"),
        details={
            "name": record.name,
            "alias": record.alias,
            "from_version": record.from_version,
            "to_version": record.to_version,
            "ledger_id": record.id,
            "actor": record.actor,
            "reason": record.reason,
            "evidence": record.evidence,
        },
        source=runtime_source(),
    )


def thin_evidence_alert(name: str, version: int, problems: Sequence[str], report_uri: str | None) -> Alert:
    """``thin_evidence``: v``version`` was registered but not promoted, its holdout too small to judge.

    A warning, because the loop is now stuck on this data until more arrives (or someone lowers
    ``promotion.min_holdout_rows`` / ``min_class_rows`` knowingly, or promotes by hand). The key
    names the version and its problems, so deciding on the same evidence again is one alert.
    """
    return Alert(
        kind="thin_evidence",
        severity="warning",
        title=f"{name} v{version} not promoted: too little holdout evidence ({problems[0] if problems else '?'})",
        message="\n".join(problems) + "\nThe version is registered; it becomes champion only by hand "
        "(`ct models promote`) or once a larger snapshot is trained."
        + (f"\nReport: {report_uri}" if report_uri else ""),
        dedupe_key=make_dedupe_key("thin_evidence", name, f"v{version}", sha256_hex("\n".join(problems))[:16]),
        details={"name": name, "version": version, "problems": list(problems), "report_uri": report_uri},
        source=runtime_source(),
    )


def retrain_alert(decision: Mapping[str, Any], model_name: str, champion_version: int) -> Alert | None:
    """``performance_drop`` or ``drift`` from a retrain decision that found one, else None.

    Requested (``retrain`` true) is a warning; held back by the cooldown is info, so a person
    still hears of a drop the loop is not acting on yet. The key names the champion, the live
    windows behind the verdict and whether it was acted on, so re-checking the same evidence
    (ct_monitor, then ``ct run``) stays one alert.
    """
    kind = decision.get("kind")
    if kind not in ("performance_drop", "drift"):
        return None
    retrain = bool(decision.get("retrain"))
    evidence = decision.get("evidence") or {}
    windows = [str(w.get("window_id")) for w in evidence.get("windows", [])]
    what = "performance drop" if kind == "performance_drop" else "drift"
    return Alert(
        kind=kind,
        severity="warning" if retrain else "info",
        title=f"{model_name} v{champion_version}: {what} on live data; "
        f"{'retrain requested' if retrain else 'retrain held by the cooldown'}",
        message=str(decision.get("reason", "")),
        dedupe_key=make_dedupe_key(
            kind,
            model_name,
            f"v{champion_version}",
            "retrain" if retrain else "held",
            sha256_hex(",".join(windows))[:16],
        ),
        details={
            "model": model_name,
            "champion_version": champion_version,
            "retrain": retrain,
            "windows": windows,
            "evidence": evidence,
        },
        source=runtime_source(),
    )


def task_failed_alert(
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    try_number: int | None,
    map_index: int | None,
    error: str,
    log_url: str | None,
) -> Alert:
    """``task_failed``: an Airflow task failed for good (retries used up, or a deterministic error).

    One alert per try: a rerun of the same try (a callback fired twice) is the same alert; a task
    cleared by hand that fails again is a new failure, and a new alert.
    """
    where = f"{task_id}[{map_index}]" if map_index is not None and map_index >= 0 else task_id
    first_line = (error.strip().splitlines() or ["(no exception text)"])[0]
    return Alert(
        kind="task_failed",
        severity="critical",
        title=f"{dag_id}.{where} failed (try {try_number}): {first_line[:200]}",
        message=error.strip() + (f"\nLog: {log_url}" if log_url else ""),
        dedupe_key=make_dedupe_key("task_failed", dag_id, run_id, where, f"try{try_number}"),
        details={"error": error, "log_url": log_url},
        source={
            "dag_id": dag_id,
            "task_id": task_id,
            "run_id": run_id,
            "try_number": try_number,
            "map_index": map_index,
        },
    )


# -- delivery ------------------------------------------------------------------------------------
def shown_url(url: str) -> str:
    """``scheme://host[:port]`` only: webhook paths and queries often carry the secret token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"


class WebhookRedirect(Exception):
    """The webhook answered with a redirect; it is not followed (see :func:`post_json`)."""


class _DeadlineSocket:
    """A connected socket whose every send and receive ends by one monotonic deadline.

    ``http.client`` reads the status line and headers with one ``recv`` per buffer fill, each
    under the socket timeout: a server that trickles a byte per second never trips a per-read
    timeout. Here each operation may only wait for what is left of the whole budget.
    """

    def __init__(self, sock: socket.socket, deadline: float, budget: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self._budget = budget

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete answer within {self._budget:g}s")
        self._sock.settimeout(left)

    def sendall(self, data: bytes) -> None:
        self._arm()
        self._sock.sendall(data)

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        self._sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)


def post_json(url: str, payload: dict[str, Any], timeout: float) -> str:
    """POST ``payload`` as JSON; returns ``HTTP <status>`` or raises on any error or non-2xx reply.

    ``timeout`` bounds the whole exchange, not each read: connecting, sending and reading the
    status line and headers all share one monotonic deadline (the reply's body is not read; name
    resolution is the resolver's own). Redirects are refused, to another host and to the same
    one alike: a 301-303 would turn the POST into a GET and lose the alert, a 307/308 would send
    the payload wherever the server says; the alert is recorded as failed with the redirect's
    target host, so the configured URL gets fixed.
    """
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"webhook URL {shown_url(url)} is not an http(s) URL with a host")
    body = json.dumps(payload, default=str).encode()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    sock = socket.create_connection((parts.hostname, port), timeout=timeout)
    try:
        if parts.scheme == "https":
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = kind(parts.hostname, port, timeout=timeout)  # never connects: it is handed the socket
        conn.sock = _DeadlineSocket(sock, deadline, timeout)  # http.client only calls sendall/makefile/close
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": "ct-alerts/1", "Connection": "close"},
        )
        response = conn.getresponse()
        status, reason, location = response.status, response.reason, response.getheader("Location")
    finally:
        sock.close()
    if 300 <= status < 400:
        target = shown_url(urljoin(url, location)) if location else "nowhere"
        raise WebhookRedirect(
            f"HTTP {status} redirect to {target} not followed; set the webhook URL to the final address"
        )
    if not 200 <= status < 300:
        raise urllib.error.HTTPError(shown_url(url), status, reason, response.headers, None)
    return f"HTTP {status}"


def _describe(err: BaseException, timeout: float) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, WebhookRedirect):
        return str(err)
    if isinstance(err, (TimeoutError, socket.timeout)) or "timed out" in str(err):
        return f"no answer within {timeout:g}s"
    if isinstance(err, urllib.error.URLError):
        return f"{type(err.reason).__name__}: {err.reason}"
    return f"{type(err).__name__}: {err}"


def webhook_payload(alert: Alert, alert_id: int | None) -> dict[str, Any]:
    """The JSON posted: the alert's fields and its row id, plus ``text`` (what chat webhooks show)."""
    return {"text": f"[{alert.severity.upper()}] {alert.title}\n{alert.message}", "id": alert_id, **alert.to_dict()}


class Notifier:
    """Logs an alert, stores it once (by ``dedupe_key``) and posts it to the webhook when one is set."""

    def __init__(
        self,
        store: MetadataStore | None,
        *,
        webhook_url: str | None = None,
        timeout_seconds: float = 5.0,
        post: Callable[[str, dict[str, Any], float], str] = post_json,
    ) -> None:
        self.store = store
        if webhook_url and not webhook_url.startswith(("http://", "https://")):
            # CT_ALERT_WEBHOOK_URL skips the config's check; a bad one must not fail (or file:// read) anything.
            log.error(
                "alert webhook %r is not an http(s) URL; alerts go to the log and the alerts table only",
                webhook_url.split("/")[0],
            )
            webhook_url = None
        self.webhook_url = webhook_url or None
        self.timeout_seconds = timeout_seconds
        self._post = post

    @classmethod
    def from_config(
        cls, store: MetadataStore | None, config: AlertsConfig, settings: Settings | None = None
    ) -> Notifier:
        """``CT_ALERT_WEBHOOK_URL`` (in ``settings``) wins over ``alerts.webhook_url`` of the config.

        ``store`` None: the metadata database could not be opened; alerts then go to the log and
        the webhook only.
        """
        url = (settings.alert_webhook_url if settings is not None else None) or config.webhook_url
        return cls(store, webhook_url=url, timeout_seconds=config.timeout_seconds)

    def notify(self, alert: Alert) -> AlertRecord | None:
        """Tell ``alert`` once; never raises. Returns the stored row (None if it could not be stored)."""
        try:
            return self._notify(alert)
        except Exception:  # alerting must never take the pipeline down with it
            log.exception("alert %s could not be processed", alert.dedupe_key)
            return None

    def _notify(self, alert: Alert) -> AlertRecord | None:
        initial = PENDING if self.webhook_url else NOT_CONFIGURED
        try:
            if self.store is None:
                raise RuntimeError("no metadata store")
            record, created = self.store.record_alert(alert, initial)
        except Exception:
            log.exception("alert %s could not be stored in the alerts table; it is only in this log", alert.dedupe_key)
            record, created = None, True
        if not created and record is not None:
            log.info("alert %s already recorded as #%d; not repeated", alert.dedupe_key, record.id)
        else:
            log.log(
                _LOG_LEVEL[alert.severity],
                "ALERT [%s] %s: %s\n%s",
                alert.severity,
                alert.kind,
                alert.title,
                alert.message,
            )
        if not self.webhook_url:
            return record
        if record is None:  # the table is unreachable: the webhook is then the only one who hears of it
            self._post_alert(alert, None)
            return None
        # A row left pending (a crash mid-post) or failed is posted again by the rerun; delivered never is.
        if record.delivery_status not in (PENDING, FAILED):
            return record
        status, detail = self._post_alert(alert, record.id)
        assert self.store is not None  # a row was stored through it
        return self.store.record_alert_delivery(record.id, status, detail)

    def _post_alert(self, alert: Alert, alert_id: int | None) -> tuple[str, str]:
        """POST the alert; (status, detail) for the row. The URL is logged without its path (tokens)."""
        assert self.webhook_url is not None
        shown = f"#{alert_id}" if alert_id is not None else alert.dedupe_key
        try:
            detail = self._post(self.webhook_url, webhook_payload(alert, alert_id), self.timeout_seconds)
            log.info("alert %s posted to %s (%s)", shown, shown_url(self.webhook_url), detail)
            return DELIVERED, detail
        except Exception as err:  # noqa: BLE001 - any webhook failure is the webhook's problem, not the pipeline's
            detail = _describe(err, self.timeout_seconds)
            log.warning(
                "alert %s could not be posted to %s: %s; it stays in the alerts table (ct alerts)",
                shown,
                shown_url(self.webhook_url),
                detail,
            )
            return FAILED, detail


class AlertingContext(StoreContext, Protocol):
    """A store context that can also tell a person: what monitoring decisions need."""

    @property
    def notifier(self) -> Notifier: ...
