"""Live evidence into promotion: prediction logs of ``ct serve`` + late labels -> ct_monitor's stages.

A real champion (v1) is trained once per module; v2 is registered from the same inputs under another
config hash (a real version with a real, verified artifact). Log files are written in the format of
``pipeline/monitoring/served_log.py`` through the object store, the way the service flushes them,
with the challenger's scores constructed to be clearly better or clearly worse than the champion's
real ones. The stages are the ones the ct_monitor DAG calls, in its order.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch, split_labels
from pipeline.app.stages.monitor import collect_served_predictions, join_labels, judge_live_challenger
from pipeline.app.stages.register import promote_if_better
from pipeline.app.training_flow import run_training
from pipeline.app.workspace import Workspace
from pipeline.cli import main as ct_main
from pipeline.core.config import load_config
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.modeling.training import predict_scores
from pipeline.monitoring.batch_scoring import list_scored, parquet_bytes
from pipeline.monitoring.label_join import list_joins
from pipeline.monitoring.live_performance import live_windows
from pipeline.monitoring.served_batches import taken_key
from pipeline.monitoring.served_log import FEATURES_HASH_COLUMN, ROLE_CHALLENGER, ROLE_CHAMPION, log_file_key
from pipeline.registry.base import CHALLENGER, CHAMPION, ModelVersion, NewModelVersion

MODEL = "churn-classifier"
T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with champion v1 (trained) and v2 (registered from the same inputs), built once."""
    home = tmp_path_factory.mktemp("live") / "ct_home"
    home.mkdir()
    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["model"].pop("candidates", None)
    data["evaluation"].update(bootstrap_resamples=200, folds=3)
    data["ingest"]["stable_seconds"] = 0
    data["monitoring"].update(min_samples=100, bootstrap_resamples=200)
    data["promotion"].update(min_holdout_rows=100, min_class_rows=20)
    data["serving"] = {"challenger": {"mode": "shadow", "min_samples": 150}}
    (home / "pipeline.yaml").write_text(yaml.safe_dump(data))
    ws = _workspace(home)
    ws.settings.landing.mkdir(parents=True)
    generate_batch(BatchSpec(rows=1000, seed=31)).to_csv(ws.settings.landing / "first.csv", index=False)
    sid = stages.ingest_landing(ws).snapshot_id
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages.register, "code_version", lambda: "test:0")
        assert run_training(ws, snapshot_id=sid, trigger={"kind": "test"}).promotion.promoted
    v1 = ws.meta.get_alias(MODEL, CHAMPION)
    assert v1 is not None and v1.version == 1
    ws.meta.register_model(_copy_of(v1, config_hash="live-test-v2"))
    return home


def _workspace(home: Path) -> Workspace:
    settings = Settings(
        home=home,
        config_path=home / "pipeline.yaml",
        database_url=f"sqlite:///{home / 'ct.db'}",
        data_url=home.as_uri(),
    )
    return Workspace(settings=settings, config=load_config(settings.config_path))


def _copy_of(mv: ModelVersion, **changes: object) -> NewModelVersion:
    fields = {f: getattr(mv, f) for f in NewModelVersion.__dataclass_fields__}
    return NewModelVersion(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.fixture
def ws(trained_home: Path, tmp_path: Path) -> Workspace:
    home = tmp_path / "ct_home"
    shutil.copytree(trained_home, home)
    return _workspace(home)


def _customers(rows: int, seed: int, first_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_labels(generate_batch(BatchSpec(rows=rows, seed=seed, first_id=first_id)))


def _challenger_scores(labels: pd.DataFrame, better: bool, seed: int) -> np.ndarray:
    """Clearly better than the champion (close to the truth) or clearly worse (noise)."""
    rng = np.random.default_rng(seed)
    if not better:
        return rng.uniform(size=len(labels))
    truth = (labels["churned"] == "yes").to_numpy(dtype=float)
    return np.clip(0.75 * truth + 0.25 * rng.uniform(size=len(labels)), 0, 1)


def write_log(
    ws: Workspace,
    features: pd.DataFrame,
    challenger_scores: np.ndarray | None,
    *,
    mode: str = "shadow",
    share: float = 0.5,
    hashed: bool = False,
    seq: int = 0,
) -> str:
    """One flushed log file in the served_log format: a row per request row and scoring version."""
    ds = ws.config.dataset
    champion = ws.meta.get_alias(MODEL, CHAMPION)
    challenger = ws.meta.get_alias(MODEL, CHALLENGER)
    assert champion is not None
    model = ws.artifacts.load(champion.artifact_uri, champion.artifact_sha256)
    champion_scores = predict_scores(model, features, ds)
    n = len(features)
    request = pd.DataFrame(
        {
            "request_id": [f"req-{seq}-{i // 4}" for i in range(n)],  # 4 rows per request
            "row": [i % 4 for i in range(n)],
            "entity_id": features["customer_id"].astype(str).to_numpy(),
            "logged_at": [T0 + timedelta(hours=seq, seconds=i) for i in range(n)],
            "customer_id": features["customer_id"].to_numpy(),
        }
    )
    if hashed:
        records = features[ds.feature_names].to_dict(orient="records")
        request[FEATURES_HASH_COLUMN] = [
            hashlib.sha256(json.dumps(r, sort_keys=True, default=str).encode()).hexdigest() for r in records
        ]
    else:
        for column in ds.feature_names:
            request[column] = features[column].to_numpy()
    canary = np.zeros(n, dtype=bool)
    if challenger is not None and mode == "canary":  # a stable share of the entities sees the challenger
        canary = np.array(
            [int(hashlib.sha256(e.encode()).hexdigest(), 16) % 1000 < share * 1000 for e in request["entity_id"]]
        )

    def rows(
        version: ModelVersion, role: str, scores: np.ndarray, served: np.ndarray, keep: np.ndarray
    ) -> pd.DataFrame:
        out = request.copy()
        out["model_name"] = MODEL
        out["model_version"] = np.int64(version.version)
        out["artifact_sha256"] = version.artifact_sha256
        out["role"] = role
        out["served"] = served
        out["score"] = scores
        out["predicted_label"] = np.where(scores >= 0.5, "yes", "no")
        out["latency_ms"] = 1.5
        return out[keep]

    everyone = np.ones(n, dtype=bool)
    frames = [rows(champion, ROLE_CHAMPION, champion_scores, ~canary, everyone)]
    if challenger is not None and challenger_scores is not None:
        scored = canary if mode == "canary" else everyone
        frames.append(rows(challenger, ROLE_CHALLENGER, challenger_scores, canary, scored))
    frame = pd.concat(frames, ignore_index=True)
    key = log_file_key(MODEL, T0 + timedelta(hours=seq), "host-1-abc", seq)
    assert ws.store.put(key, parquet_bytes(frame))
    return key


def drop_labels(ws: Workspace, name: str, labels: pd.DataFrame) -> None:
    folder = ws.settings.labels / Path(name).stem
    folder.mkdir(parents=True)
    labels.to_csv(folder / name, index=False)
    (folder / "_SUCCESS").touch()


def run_monitor_stages(ws: Workspace) -> tuple[object, object, object]:
    """ct_monitor's new tasks in the DAG's order: collect, join, judge."""
    collected = collect_served_predictions(ws)
    joined = join_labels(ws)
    judged = judge_live_challenger(ws, joined, actor="dag_run:ct_monitor/test")
    return collected, joined, judged


def _challenger(ws: Workspace, version: int = 2) -> None:
    ws.meta.set_alias(MODEL, CHALLENGER, version, "by hand for the test", {}, "tester")


def test_a_better_shadow_challenger_is_promoted_with_trigger_live_evaluation_once(ws: Workspace) -> None:
    _challenger(ws)
    features, labels = _customers(400, seed=41, first_id=50_000)
    write_log(ws, features, _challenger_scores(labels, better=True, seed=1))
    drop_labels(ws, "outcomes.csv", labels)

    collected, joined, judged = run_monitor_stages(ws)

    assert len(collected.taken) == 1 and collected.request_rows == 400 and collected.refused == ()
    scored = {(s.batch_id, s.model_version): s for s in list_scored(ws)}
    assert {v for _, v in scored} == {1, 2} and all(s.rows == 400 for s in scored.values())
    # per-version live windows from the join of labels to logged predictions
    (join,) = list_joins(ws)
    windows = {w["model_version"]: w for w in join["windows"]}
    assert set(windows) == {1, 2} and windows[1]["rows"] == windows[2]["rows"] == 400
    assert windows[2]["value"] > windows[1]["value"]
    assert windows[1]["drift_share"] is not None  # full features: drift and training rows
    assert join["training_file"]["rows"] == 400
    v1 = ws.meta.get_model_version(MODEL, 1)
    assert [w.window_id for w in live_windows(ws, v1)] == [windows[1]["window_id"]]

    assert judged.action == "promoted" and judged.verdict == "promote" and judged.rows == 400
    assert ws.meta.get_alias(MODEL, CHAMPION).version == 2
    assert ws.meta.get_alias(MODEL, CHALLENGER) is None
    move = ws.meta.promotion_history(MODEL, CHAMPION)[-1]
    assert (move.from_version, move.to_version, move.actor) == (1, 2, "dag_run:ct_monitor/test")
    ev = move.evidence
    assert ev["trigger"] == "live_evaluation" and ev["rows"] == 400 and ev["metric"] == "roc_auc"
    assert (ev["challenger_version"], ev["champion_version"]) == (2, 1)
    assert ev["lower"] > -ev["margin"] and ev["difference"] > 0
    assert ev["window_ids"] == [windows[1]["window_id"]]
    cleared = ws.meta.promotion_history(MODEL, CHALLENGER)[-1]
    assert (cleared.kind, cleared.to_version) == ("retirement", 2)
    decision = ws.meta.get_model_version(MODEL, 2).decision
    assert decision["promote"] and decision["trigger"] == "live_evaluation"
    promoted = ws.meta.list_alerts(kind="promoted")
    assert [a.details["ledger_id"] for a in promoted][:1] == [move.id]

    # a rerun: nothing taken, joined, promoted or alerted twice
    ledger, alerts = ws.meta.promotion_history(MODEL), ws.meta.list_alerts()
    collected, joined, judged = run_monitor_stages(ws)
    assert collected.taken == () and joined.joined == () and judged.action == "none"
    assert ws.meta.promotion_history(MODEL) == ledger and ws.meta.list_alerts() == alerts


def test_a_worse_canary_challenger_logged_with_feature_hashes_is_retired(ws: Workspace) -> None:
    _challenger(ws)
    features, labels = _customers(600, seed=43, first_id=60_000)
    write_log(ws, features, _challenger_scores(labels, better=False, seed=2), mode="canary", hashed=True)
    drop_labels(ws, "outcomes.csv", labels)

    _, _, judged = run_monitor_stages(ws)

    rows = {s.model_version: s.rows for s in list_scored(ws)}
    assert rows[1] == 600 and 150 < rows[2] < 450  # canary: the challenger scored its share only
    (join,) = list_joins(ws)
    windows = {w["model_version"]: w for w in join["windows"]}
    assert windows[1]["rows"] == 600 and windows[2]["rows"] == rows[2]
    assert windows[1]["drift_share"] is None and windows[2]["drift_share"] is None  # no features: no drift
    assert join["training_file"] is None and any("feature hash" in n for n in join["notes"])

    assert judged.action == "retired" and judged.verdict == "retire" and judged.rows == rows[2]
    assert ws.meta.get_alias(MODEL, CHALLENGER) is None
    assert ws.meta.get_alias(MODEL, CHAMPION).version == 1
    retired = ws.meta.promotion_history(MODEL, CHALLENGER)[-1]
    assert (retired.kind, retired.from_version, retired.to_version) == ("retirement", 2, 2)
    assert retired.evidence["trigger"] == "live_evaluation" and retired.evidence["upper"] < -retired.evidence["margin"]
    assert [a.details["ledger_id"] for a in ws.meta.list_alerts(kind="challenger_retired")] == [retired.id]

    ledger = ws.meta.promotion_history(MODEL)
    assert run_monitor_stages(ws)[2].action == "none"
    assert ws.meta.promotion_history(MODEL) == ledger


def test_too_few_paired_rows_wait_and_status_shows_the_evidence(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _challenger(ws)
    features, labels = _customers(120, seed=45, first_id=70_000)
    write_log(ws, features, _challenger_scores(labels, better=True, seed=3))
    drop_labels(ws, "outcomes.csv", labels)

    _, _, judged = run_monitor_stages(ws)

    assert judged.action == "none" and judged.verdict == "waiting" and judged.rows == 120
    assert ws.meta.get_alias(MODEL, CHALLENGER).version == 2
    monkeypatch.setenv("CT_HOME", str(ws.settings.home))
    monkeypatch.setenv("CT_CONFIG", str(ws.settings.config_path))
    monkeypatch.setenv("CT_DATABASE_URL", ws.settings.database_url)
    monkeypatch.setenv("CT_DATA_URL", ws.settings.home.as_uri())
    capsys.readouterr()
    assert ct_main(["models", "challenger", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["challenger"], status["champion"], status["mode"]) == (2, 1, "shadow")
    assert status["comparison"]["verdict"] == "waiting" and status["comparison"]["rows"] == 120
    assert status["last_judged"]["comparison"]["rows"] == 120

    assert ct_main(["models", "challenger", "clear", "--reason", "enough", "--actor", "dana"]) == 0
    assert ws.meta.get_alias(MODEL, CHALLENGER) is None
    assert ws.meta.promotion_history(MODEL, CHALLENGER)[-1].actor == "dana"
    assert ct_main(["models", "challenger", "set", "2", "--reason", "again", "--actor", "dana"]) == 0
    assert ws.meta.get_alias(MODEL, CHALLENGER).version == 2


def test_an_entity_logged_twice_in_one_file_gets_a_batch_per_request(ws: Workspace) -> None:
    features, labels = _customers(200, seed=47, first_id=80_000)
    again = features.iloc[:10]  # ten customers ask a second time, later in the same flush
    key = write_log(ws, pd.concat([features, again], ignore_index=True), None)

    collected = collect_served_predictions(ws)

    assert collected.request_rows == 210 and len(collected.batches) == 2
    by_batch = {s.batch_id: s.rows for s in list_scored(ws)}
    first = hashlib.sha256(ws.store.get(key)).hexdigest()[:16]
    assert by_batch[first] == 200 and sorted(by_batch.values()) == [10, 200]
    # the first label of a repeated customer joins its first request, a later one the second
    drop_labels(ws, "first.csv", labels)
    drop_labels(ws, "second.csv", labels.iloc[:10])
    join_labels(ws)
    joins = sorted(list_joins(ws), key=lambda j: j["label_file"])
    assert [j["batches"] for j in joins] == [{first: 200}, {b: 10 for b in by_batch if b != first}]
    assert collect_served_predictions(ws).taken == ()


def test_live_confirmation_makes_a_passing_version_the_challenger_not_the_champion(ws: Workspace) -> None:
    v1 = ws.meta.get_model_version(MODEL, 1)
    comparison = {  # as PairedDifference.to_dict() stores it
        "metric": "roc_auc",
        "challenger": 0.85,
        "champion": 0.84,
        "difference": 0.01,
        "prob_challenger_better": 0.9,
        "n_resamples": 200,
    }
    evaluation = {
        **v1.evaluation,
        "champion": {"version": 1, "comparison": {**comparison, "lower": 0.0, "upper": 0.02}},
    }
    v3, _ = ws.meta.register_model(_copy_of(v1, config_hash="live-test-v3", evaluation=evaluation))
    live = ws.config.model_copy(
        update={"promotion": ws.config.promotion.model_copy(update={"live_confirmation": True})}
    )
    ws = replace(ws, config=live)

    outcome = promote_if_better(ws, MODEL, v3.version, actor="tester")

    assert outcome.challenger and not outcome.promoted and outcome.champion == 1
    assert ws.meta.get_alias(MODEL, CHAMPION).version == 1
    assert ws.meta.get_alias(MODEL, CHALLENGER).version == v3.version
    row = ws.meta.promotion_history(MODEL, CHALLENGER)[-1]
    assert (row.alias, row.to_version, row.actor) == (CHALLENGER, v3.version, "tester")
    decision = ws.meta.get_model_version(MODEL, v3.version).decision
    assert decision["challenger"] and "live_confirmation" in decision["reason"]
    assert decision["holdout_decision"]["promote"]
    assert promote_if_better(ws, MODEL, v3.version, actor="tester").challenger  # a rerun moves nothing
    assert len(ws.meta.promotion_history(MODEL, CHALLENGER)) == 1


@pytest.mark.slow
def test_one_ct_monitor_run_promotes_a_better_challenger(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same evidence through a real Airflow (``airflow dags test ct_monitor``): the DAG's tasks in order."""
    from pipeline.app.airflow_runner import run_dag

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow_home"))
    _challenger(ws)
    features, labels = _customers(400, seed=49, first_id=90_000)
    write_log(ws, features, _challenger_scores(labels, better=True, seed=4))
    drop_labels(ws, "outcomes.csv", labels)

    result = run_dag(ws.settings, "ct_monitor")

    assert result.succeeded, result.errors
    assert ws.meta.get_alias(MODEL, CHAMPION).version == 2 and ws.meta.get_alias(MODEL, CHALLENGER) is None
    move = ws.meta.promotion_history(MODEL, CHAMPION)[-1]
    assert move.evidence["trigger"] == "live_evaluation" and move.actor.startswith("dag_run:ct_monitor/")
    assert any("PROMOTED" in line for line in result.progress)


def test_a_log_file_that_cannot_be_used_is_refused_once_and_the_others_are_taken(ws: Workspace) -> None:
    features, _ = _customers(50, seed=51, first_id=95_000)
    good = write_log(ws, features, None, seq=1)
    bad = log_file_key(MODEL, T0, "host-2-def", 0)
    ws.store.put(bad, parquet_bytes(pd.DataFrame({"request_id": ["r1"], "score": [0.5]})))
    broken = log_file_key(MODEL, T0, "host-3-ghi", 0)
    ws.store.put(broken, b"PAR1 but cut short")

    collected = collect_served_predictions(ws)

    assert collected.taken == (good,) and set(collected.refused) == {bad, broken}
    assert collect_served_predictions(ws) == type(collected)(taken=(), batches=(), request_rows=0, refused=())
    assert ws.store.exists(bad) and ws.store.exists(broken)  # left where they are
    reasons = {k: json.loads(ws.store.get(taken_key(MODEL, k)))["refused"] for k in (bad, broken)}
    assert "lacks columns" in reasons[bad] and "customer_id" in reasons[bad]
    assert "not a readable Parquet file" in reasons[broken]
