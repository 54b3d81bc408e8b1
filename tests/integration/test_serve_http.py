"""``ct serve`` over real HTTP: a uvicorn server on 127.0.0.1 (a free port) over a SQLite workspace
with three registered versions. Probes, auth, limits, field errors, shadow and canary, a promotion
under load, the prediction log written on a clean stop, and /metrics."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.app.demo_datasets import HOUSE_PRICES, TICKET_PRIORITY
from pipeline.app.workspace import Workspace
from pipeline.core.errors import ConfigError
from pipeline.modeling.training import predict_scores
from pipeline.monitoring.served_log import LATENCY_COLUMN, MODEL_COLUMNS, REQUEST_COLUMNS, model_log_prefix
from pipeline.serving.traffic import to_challenger
from tests.serving_support import (
    TOKEN,
    promote,
    register_poisoned,
    register_versions,
    running_server,
    serving_workspace,
    with_serving,
)

pytestmark = pytest.mark.usefixtures("fixed_code_version")

FAST = {"poll_seconds": 0.05}


def wait_until(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Wait for the service's background threads to act (the limit only guards against a hang)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def champion_is(client, version: int) -> Callable[[], bool]:
    return lambda: client.get("/ready").json().get("champion_version") == version


def rows_for(example: dict, entities: list[str]) -> list[dict]:
    return [{**example, "customer_id": e, "tenure_months": float(i % 70)} for i, e in enumerate(entities)]


def read_logs(ws) -> pd.DataFrame:
    keys = ws.store.list(model_log_prefix(ws.config.model.name))
    assert keys, "no prediction log was written"
    return pd.concat([pd.read_parquet(io.BytesIO(ws.store.get(k))) for k in keys], ignore_index=True)


def expected_scores(ws, version, rows: list[dict] | pd.DataFrame) -> np.ndarray:
    """What ``version`` scores for ``rows``, computed outside the service (by scikit-learn)."""
    model = ws.artifacts.load(version.artifact_uri, version.artifact_sha256)
    return predict_scores(model, pd.DataFrame(rows), ws.config.dataset, 1)


@pytest.fixture
def versions(settings, demo_frame):
    return register_versions(serving_workspace(settings), demo_frame)


def test_ready_is_503_until_a_champion_is_loaded_and_probes_need_no_token(settings, versions):
    ws = serving_workspace(settings, **FAST)
    with running_server(ws) as srv, srv.client(token=None) as anonymous, srv.client() as client:
        assert anonymous.get("/health").json() == {"status": "ok"}
        ready = anonymous.get("/ready")
        assert ready.status_code == 503 and "no champion" in ready.json()["reason"]
        example = client.get("/metadata").json()["example_request"]
        refused = client.post("/predict", json=example)
        assert refused.status_code == 503 and refused.json()["request_id"]
        promote(ws, 1)
        wait_until(champion_is(anonymous, 1), "the champion to be loaded")
        ready = anonymous.get("/ready").json()
        assert ready["artifact_sha256"] == versions[0].artifact_sha256
        assert client.post("/predict", json=example).status_code == 200


def test_requests_without_the_right_token_are_refused(settings, versions):
    ws = serving_workspace(settings, **FAST)
    promote(ws, 1)
    with running_server(ws) as srv, srv.client(token=None) as anonymous, srv.client("wrong-token") as wrong:
        for client in (anonymous, wrong):
            for method, path in (("POST", "/predict"), ("GET", "/metadata"), ("GET", "/metrics")):
                response = client.request(method, path, json={} if method == "POST" else None)
                assert response.status_code == 401, (path, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
        with srv.client(TOKEN) as client:
            assert client.get("/metadata").status_code == 200
            for path in ("/docs", "/redoc", "/openapi.json"):  # no schema browsing, with or without a token
                assert client.get(path).status_code == 404


def test_the_service_refuses_to_start_without_a_token_unless_configured_open(settings, versions):
    from pipeline.cli.serve import scoring_app_for

    ws = serving_workspace(settings)
    with pytest.raises(ConfigError, match="CT_SERVE_TOKEN"):
        scoring_app_for(ws, environ={})
    open_ws = serving_workspace(settings, open_access=True, **FAST)
    promote(open_ws, 1)
    with running_server(open_ws, token=None) as srv, srv.client(token=None) as anonymous:
        wait_until(champion_is(anonymous, 1), "the champion")
        example = anonymous.get("/metadata").json()["example_request"]
        assert anonymous.post("/predict", json=example).status_code == 200


def test_bad_input_is_a_422_with_one_message_per_field_never_a_500(settings, versions):
    ws = serving_workspace(settings, **FAST)
    promote(ws, 1)
    with running_server(ws) as srv, srv.client() as client:
        wait_until(champion_is(client, 1), "the champion")
        example = client.get("/metadata").json()["example_request"]
        missing = {k: v for k, v in example.items() if k != "plan"}
        body = [
            example,
            {**example, "tenure_months": "twelve", "contract": "weekly"},
            missing,
            {**example, "tenure_months": None},
            "not a row",
        ]
        response = client.post("/predict", json=body)
        assert response.status_code == 422
        detail = {tuple(e["loc"]): e["type"] for e in response.json()["detail"]}
        assert detail == {
            ("body", 1, "tenure_months"): "float_type",
            ("body", 1, "contract"): "enum",
            ("body", 2, "plan"): "missing",
            ("body", 3, "tenure_months"): "null_not_allowed",
            ("body", 4): "model_type",
        }
        for raw in (b"{not json", b"[]", b"42", b"null", "[\u00e9]".encode()):
            bad = client.post("/predict", content=raw, headers={"content-type": "application/json"})
            assert bad.status_code == 422, (raw, bad.text)
            assert bad.json()["detail"][0]["loc"] == ["body"]


def test_too_large_bodies_and_batches_are_413_before_parsing(settings, versions):
    ws = serving_workspace(settings, max_body_bytes=4096, max_batch_rows=5, **FAST)
    promote(ws, 1)
    with running_server(ws) as srv, srv.client() as client:
        wait_until(champion_is(client, 1), "the champion")
        example = client.get("/metadata").json()["example_request"]
        assert client.post("/predict", json=[example] * 5).status_code == 200
        assert client.post("/predict", json=[example] * 6).status_code == 413
        big = json.dumps([example] * 40).encode()
        assert client.post("/predict", content=big, headers={"content-type": "application/json"}).status_code == 413

        def chunks():  # no Content-Length: sent chunked, counted while it arrives
            for start in range(0, len(big), 1000):
                yield big[start : start + 1000]

        chunked = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
        assert chunked.status_code == 413
        assert "max_body_bytes" in chunked.json()["detail"]


def test_shadow_mode_returns_the_champions_answers_and_logs_the_challengers(settings, versions):
    ws = serving_workspace(settings, challenger={"mode": "shadow"}, **FAST)
    promote(ws, 1)
    promote(ws, 2, "challenger")
    with running_server(ws) as srv, srv.client() as client:
        wait_until(lambda: client.get("/ready").json().get("challenger_version") == 2, "the challenger")
        example = client.get("/metadata").json()["example_request"]
        rows = rows_for(example, [f"S{i}" for i in range(20)])
        answers = client.post("/predict", json=rows).json()["predictions"]
    assert {(a["model_version"], a["role"]) for a in answers} == {(1, "champion")}
    np.testing.assert_allclose([a["score"] for a in answers], expected_scores(ws, versions[0], rows))
    logged = read_logs(ws)
    champion = logged[logged["model_version"] == 1].sort_values("row")
    shadow = logged[logged["model_version"] == 2].sort_values("row")
    assert len(champion) == len(shadow) == 20
    assert champion["served"].all() and not shadow["served"].any()
    assert set(shadow["role"]) == {"challenger"}
    np.testing.assert_allclose(shadow["score"], expected_scores(ws, versions[1], rows))
    assert not np.allclose(shadow["score"], champion["score"])  # the two models differ


def test_canary_sends_about_the_share_of_entities_to_the_challenger_and_always_the_same(settings, versions):
    ws = serving_workspace(settings, challenger={"mode": "canary", "share": 0.3}, **FAST)
    promote(ws, 1)
    promote(ws, 3, "challenger")
    entities = [f"K{i:05d}" for i in range(400)]
    with running_server(ws) as srv, srv.client() as client:
        wait_until(lambda: client.get("/ready").json().get("challenger_version") == 3, "the challenger")
        example = client.get("/metadata").json()["example_request"]
        first = []
        for start in range(0, len(entities), 100):
            batch = rows_for(example, entities[start : start + 100])
            first += client.post("/predict", json=batch).json()["predictions"]
        again = [
            client.post("/predict", json=rows_for(example, [e]))
            for e in entities[:40]  # one entity per request: the same answer as in a batch
        ]
    versions_seen = [a["model_version"] for a in first]
    expected = [3 if to_challenger(ws.config.model.name, 3, e, 0.3) else 1 for e in entities]
    assert versions_seen == expected
    assert abs(versions_seen.count(3) / len(entities) - 0.3) < 0.06
    assert [r.json()["predictions"][0]["model_version"] for r in again] == expected[:40]
    logged = read_logs(ws)
    # every row the challenger answered was also scored by the champion, in shadow
    canary_rows = logged[(logged["model_version"] == 3)]
    assert canary_rows["served"].all()
    shadowed = logged[(logged["model_version"] == 1) & ~logged["served"]]
    assert set(shadowed["entity_id"]) == set(canary_rows["entity_id"])


def test_a_promotion_under_load_swaps_the_model_with_no_failed_request(settings, database_url, demo_frame):
    settings = dataclasses.replace(settings, database_url=database_url)  # SQLite, then PostgreSQL
    versions = register_versions(serving_workspace(settings), demo_frame)
    ws = serving_workspace(settings, **FAST)
    promote(ws, 1)
    per_thread, threads = 150, 4
    with running_server(ws) as srv, srv.client() as probe:
        wait_until(champion_is(probe, 1), "the champion")
        example = probe.get("/metadata").json()["example_request"]
        rows = rows_for(example, ["L1", "L2"])
        scores = {v.version: expected_scores(ws, v, rows) for v in versions[:2]}
        done = threading.Semaphore(0)

        def send(k: int) -> list[tuple[int, int, list[float]]]:
            out = []
            with srv.client() as client:
                for _ in range(per_thread):
                    r = client.post("/predict", json=rows)
                    answers = r.json().get("predictions", [{}]) if r.status_code == 200 else [{}]
                    out.append((r.status_code, answers[0].get("model_version"), [a.get("score") for a in answers]))
                    done.release()
            return out

        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(send, k) for k in range(threads)]
            for _ in range(per_thread):  # promote once a quarter of the requests are answered
                done.acquire()
            promote(ws, 2)
            results = [r for f in futures for r in f.result()]
        wait_until(champion_is(probe, 2), "the promoted champion")
        after = probe.post("/predict", json=rows).json()["predictions"]
    assert [status for status, _, _ in results] == [200] * (threads * per_thread)
    answered = [version for _, version, _ in results]
    assert set(answered) <= {1, 2} and answered.count(1) >= per_thread
    for _, version, got in results:  # each answer is wholly one version's: no half-swapped model
        np.testing.assert_allclose(got, scores[version])
    assert {a["model_version"] for a in after} == {2}


def test_a_tampered_artifact_is_not_loaded_and_the_old_champion_keeps_serving(settings, versions):
    ws = serving_workspace(settings, **FAST)
    promote(ws, 1)
    with running_server(ws) as srv, srv.client() as client:
        wait_until(champion_is(client, 1), "the champion")
        path = ws.store.path(versions[2].artifact_uri)
        with open(path, "ab") as fh:
            fh.write(b"tampered")
        promote(ws, 3)
        wait_until(lambda: "warning" in client.get("/ready").json(), "the failed load to be reported")
        ready = client.get("/ready").json()
        assert ready["champion_version"] == 1 and "v3" in ready["warning"] and "SHA-256" in ready["warning"]
        example = client.get("/metadata").json()["example_request"]
        assert client.post("/predict", json=example).json()["predictions"][0]["model_version"] == 1


def test_logs_written_on_a_clean_stop_and_metrics_count_what_was_sent(settings, versions):
    ws = serving_workspace(settings, log={"flush_rows": 10_000, "flush_seconds": 3600}, **FAST)
    promote(ws, 1)
    sent_ok, sent_bad = 12, 3
    with running_server(ws) as srv, srv.client() as client:
        wait_until(champion_is(client, 1), "the champion")
        example = client.get("/metadata").json()["example_request"]
        ids = []
        for i in range(sent_ok):
            r = client.post("/predict", json=rows_for(example, [f"M{i}a", f"M{i}b"]))
            ids.append(r.json()["request_id"])
        for _ in range(sent_bad):
            client.post("/predict", json={"customer_id": "x"})
        text = client.get("/metrics").text
        openmetrics = client.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
        assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
        assert openmetrics.text.rstrip().endswith("# EOF")
        assert not ws.store.list("prediction-logs")  # nothing flushed yet: the stop must write it
    logged = read_logs(ws)
    dataset = ws.config.dataset
    assert list(logged.columns) == [
        *REQUEST_COLUMNS,
        *dataset.id_columns,
        *dataset.feature_names,
        *MODEL_COLUMNS,
        "score",
        "predicted_label",
        LATENCY_COLUMN,
    ]
    assert len(logged) == 2 * sent_ok and set(logged["request_id"]) == set(ids)
    assert (logged["latency_ms"] > 0).all()

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("ct_serve_requests_total", (("endpoint", "/predict"), ("status", "200")))] == sent_ok
    assert samples[("ct_serve_requests_total", (("endpoint", "/predict"), ("status", "422")))] == sent_bad
    assert samples[("ct_serve_errors_total", (("endpoint", "/predict"), ("kind", "invalid")))] == sent_bad
    predicted = (
        "ct_serve_predictions_total",
        (("model", ws.config.model.name), ("role", "champion"), ("served", "true"), ("version", "1")),
    )
    assert samples[predicted] == 2 * sent_ok
    score_count = ("ct_serve_score_count", (("model", ws.config.model.name), ("version", "1")))
    assert samples[score_count] == 2 * sent_ok
    latency_count = ("ct_serve_request_seconds_count", (("endpoint", "/predict"),))
    assert samples[latency_count] == sent_ok + sent_bad
    share = ("ct_serve_served_share", (("model", ws.config.model.name), ("version", "1")))
    assert samples[share] == 1.0
    assert samples[("ct_serve_ready", ())] == 1.0


def test_a_model_error_is_a_500_with_the_request_id_and_counted(settings, versions):
    ws = serving_workspace(settings, **FAST)
    poisoned = register_poisoned(ws, versions[0])
    promote(ws, poisoned.version)
    with running_server(ws) as srv, srv.client() as client:
        wait_until(champion_is(client, poisoned.version), "the champion")
        example = client.get("/metadata").json()["example_request"]
        failed = client.post("/predict", json=[example, {**example, "tenure_months": 99}])
        assert failed.status_code == 500
        assert failed.json()["request_id"] == failed.headers["x-request-id"]
        assert failed.json()["request_id"] in failed.json()["detail"]
        assert client.post("/predict", json=example).status_code == 200  # the service goes on
        text = client.get("/metrics").text
    assert 'ct_serve_errors_total{endpoint="/predict",kind="server_error:RuntimeError"} 1.0' in text


def test_a_failing_challenger_never_fails_a_request(settings, versions):
    ws = serving_workspace(settings, challenger={"mode": "canary", "share": 0.99}, **FAST)
    poisoned = register_poisoned(ws, versions[1])
    promote(ws, 1)
    promote(ws, poisoned.version, "challenger")
    with running_server(ws) as srv, srv.client() as client:
        wait_until(lambda: client.get("/ready").json().get("challenger_version") == poisoned.version, "challenger")
        example = client.get("/metadata").json()["example_request"]
        answers = client.post("/predict", json={**example, "tenure_months": 99}).json()["predictions"]
    assert [(a["model_version"], a["role"]) for a in answers] == [(1, "champion")]
    logged = read_logs(ws)
    assert logged[["model_version", "served"]].values.tolist() == [[1, True]]


def test_ct_serve_runs_until_sigterm_and_writes_its_log_on_the_way_out(settings, versions):
    ws = serving_workspace(settings)
    promote(ws, 1)
    env = {
        **os.environ,
        "CT_HOME": str(settings.home),
        "CT_CONFIG": str(settings.config_path),
        "CT_DATABASE_URL": settings.database_url,
        "CT_DATA_URL": settings.data_url,
        "CT_SERVE_TOKEN": TOKEN,
    }
    refused = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "serve", "--port", "0"],
        env={k: v for k, v in env.items() if k != "CT_SERVE_TOKEN"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and "CT_SERVE_TOKEN" in refused.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        assert process.stderr is not None
        for line in process.stderr:
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            if found:
                url = found.group(1)
                break
        assert url, "ct serve did not report its address"
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
            example = client.get("/metadata").json()["example_request"]
            ids = [client.post("/predict", json=example).json()["request_id"] for _ in range(3)]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert set(read_logs(ws)["request_id"]) == set(ids)


@pytest.mark.parametrize("demo", [HOUSE_PRICES, TICKET_PRIORITY], ids=lambda d: d.name)
def test_regression_and_multiclass_models_answer_in_their_task_s_terms(settings, demo):
    config = with_serving(demo.config(), challenger={"mode": "shadow"}, **FAST)
    ws = Workspace(settings=settings, config=config)
    frame = demo.batch(0, rows=400)
    versions = register_versions(ws, frame, strengths=(1.0, 0.01))
    promote(ws, 1)
    promote(ws, 2, "challenger")
    dataset = config.dataset
    sent = frame.head(6)
    records = json.loads(
        sent[[*dataset.id_columns, *dataset.feature_names]].to_json(orient="records", date_format="iso")
    )
    with running_server(ws) as srv, srv.client() as client:
        wait_until(lambda: client.get("/ready").json().get("challenger_version") == 2, "the challenger")
        answers = client.post("/predict", json=records).json()["predictions"]
        scoring = client.get("/metadata").json()["champion"]["scoring"]
    # datetime features are scored through scikit-learn; the tickets' pipeline has the fast path
    assert scoring == ("scikit-learn" if dataset.features.datetime else "numpy")
    expected = expected_scores(ws, versions[0], sent)
    if dataset.task == "regression":
        np.testing.assert_allclose([a["prediction"] for a in answers], expected)
        columns = ["prediction"]
    else:
        probabilities = np.array([[a["probabilities"][c] for c in dataset.classes] for a in answers])
        np.testing.assert_allclose(probabilities, expected)
        assert [a["label"] for a in answers] == [dataset.classes[k] for k in expected.argmax(axis=1)]
        columns = [f"proba_{c}" for c in dataset.classes] + ["score", "predicted_label"]
    logged = read_logs(ws)
    assert list(logged.columns[-len(columns) - 1 :]) == [*columns, LATENCY_COLUMN]
    assert sorted(logged["model_version"].tolist()) == [1] * 6 + [2] * 6
