"""``ct models ...`` and ``ct db ...`` run through ``pipeline.cli.main`` against a fresh CT_HOME.

The registry holds three versions of the bundled model trained (on paper) from a real snapshot
that went through the ingest stage, with real artifact files, so promote, rollback, verify and
lineage meet the same data they meet in production.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pipeline.registry.artifacts as artifacts_module
from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.app.workspace import Workspace, open_workspace
from pipeline.cli import main as ct_main
from pipeline.core.environment import environment_fingerprint
from pipeline.core.settings import load_settings
from pipeline.data.snapshots import read_manifest
from pipeline.registry.base import CHAMPION, NewModelVersion

MODEL = "churn-classifier"
LIST_FIELDS = {"name", "version", "aliases", "snapshot_id", "metrics", "created_at", "trigger", "semver", "tags"}
LEDGER_FIELDS = {
    "id",
    "name",
    "alias",
    "from_version",
    "to_version",
    "reason",
    "evidence",
    "actor",
    "created_at",
    "kind",
}
# (roc_auc, f1, log_loss) per version
SCORES = {1: (0.80, 0.70, 0.50), 2: (0.86, 0.66, 0.45), 3: (0.83, 0.74, 0.40)}


def _estimate(value: float) -> dict[str, float]:
    return {"value": value, "lower": round(value - 0.03, 2), "upper": round(value + 0.03, 2), "std": 0.015}


def _evaluation(version: int) -> dict[str, Any]:
    roc, f1, loss = SCORES[version]
    holdout = {"roc_auc": _estimate(roc), "f1": _estimate(f1), "log_loss": _estimate(loss)}
    return {
        "train_rows": 480,
        "holdout_rows": 120,
        "holdout": holdout,
        "seconds": 0.1,
        "cross_validation": {m: {"mean": e["value"], "std": 0.01, "folds": 3} for m, e in holdout.items()},
        "champion": None,
    }


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    home = tmp_path / "ct_home"
    monkeypatch.setenv("CT_HOME", str(home))
    monkeypatch.setenv("CT_DATABASE_URL", f"sqlite:///{home / 'ct.db'}")
    for var in ("CT_CONFIG", "CT_DATA_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("getpass.getuser", lambda: "carol")
    workspace = open_workspace(load_settings())
    batch = workspace.settings.landing / "batch_1"
    batch.mkdir(parents=True)
    generate_batch(BatchSpec(rows=300, seed=5)).to_csv(batch / "customers.csv", index=False)
    (batch / "_SUCCESS").touch()
    snapshot_id = stages.ingest_landing(workspace).snapshot_id
    manifest = read_manifest(workspace.store, snapshot_id)
    validation = workspace.meta.record_validation(
        snapshot_id,
        None,
        True,
        {
            "drifted_features": [],
            "checks": [{"name": "label_contract", "severity": "warn", "passed": False, "message": "share moved"}],
        },
        "file:///v.html",
    )
    for version in (1, 2, 3):
        key, sha = workspace.artifacts.save({"weights": [version]}, MODEL)
        workspace.meta.register_model(
            NewModelVersion(
                name=MODEL,
                snapshot_id=snapshot_id,
                config_hash=f"cfg-{version}",
                spec_name="default",
                params={"C": 1.0 if version < 3 else 0.5},
                metrics=_evaluation(version)["holdout"],
                evaluation=_evaluation(version),
                artifact_uri=key,
                artifact_sha256=sha,
                validation_id=validation.id,
                trigger={
                    "kind": "new_data",
                    "dag_id": "ct_train",
                    "run_id": f"run-{version}",
                    "run_type": "asset_triggered",
                    "user": None,
                    "reason": "",
                },
                code_version="git:abc",
                lineage={"evaluation_uri": f"file:///ev/{version}.json", "config_path": "/c.yaml"},
                feature_schema=[list(c) for c in manifest.schema],
                environment=environment_fingerprint(),
            )
        )
    workspace.meta.set_alias(MODEL, CHAMPION, 1, "first model", {}, "dag_run:ct_train/run-1")
    return workspace


def ct(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, Any, str]:
    """Run ``ct argv``; returns (exit code, parsed JSON or the text, stderr)."""
    code = ct_main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in argv and code == 0 else out), err


def _tamper(ws: Workspace, version: int) -> Path:
    path = Path(ws.settings.home) / ws.meta.get_model_version(MODEL, version).artifact_uri
    path.write_bytes(path.read_bytes() + b"\0")
    return path


# -- list, show, search -----------------------------------------------------------------------------
def test_list_json_has_the_stable_fields(ws: Workspace, capsys) -> None:
    code, rows, _ = ct(capsys, "models", "list", "--json")
    assert code == 0
    assert [r["version"] for r in rows] == [3, 2, 1]
    for row in rows:
        assert set(row) >= LIST_FIELDS, LIST_FIELDS - set(row)
    assert [(r["semver"], r["aliases"]) for r in rows] == [("1.1.0", []), ("1.0.1", []), ("1.0.0", [CHAMPION])]
    assert rows[0]["metrics"]["roc_auc"]["value"] == 0.83 and rows[0]["trigger"]["run_id"] == "run-3"

    code, text, _ = ct(capsys, "models", "list")
    assert code == 0 and "1.1.0" in text and CHAMPION in text and "roc_auc" in text


def test_list_filters_and_sorts(ws: Workspace, capsys) -> None:
    def versions(*args):
        return [r["version"] for r in ct(capsys, "models", "list", *args, "--json")[1]]

    assert versions("--alias", CHAMPION) == [1]
    assert versions("--where", "roc_auc>=0.83") == [3, 2]
    assert versions("--where", "roc_auc>=0.83", "--where", "f1>0.7") == [3]
    assert versions("--sort", "roc_auc") == [2, 3, 1]
    assert versions("--sort", "log_loss") == [3, 2, 1]  # lower is better
    assert versions("--where", "f1>=0.7", "--sort", "f1") == [3, 1]
    assert versions("--name", "other") == []

    code, _, err = ct(capsys, "models", "list", "--where", "auc>0.5")
    assert code == 2 and "unknown metric 'auc'" in err


def test_tags_are_set_searched_and_removed(ws: Workspace, capsys) -> None:
    code, out, _ = ct(capsys, "models", "tag", "2", "team=risk", "stage=shadow", "--json")
    assert code == 0 and out == {
        "name": MODEL,
        "version": 2,
        "tags": {"stage": "shadow", "team": "risk"},
        "not_found": [],
    }
    ct(capsys, "models", "tag", MODEL, "3", "team=risk")
    assert [r["version"] for r in ct(capsys, "models", "list", "--tag", "team=risk", "--json")[1]] == [3, 2]
    assert [
        r["version"] for r in ct(capsys, "models", "list", "--tag", "team=risk", "--tag", "stage=shadow", "--json")[1]
    ] == [2]
    code, out, _ = ct(capsys, "models", "tag", "2", "--remove", "stage", "--remove", "nope", "--json")
    assert out["tags"] == {"team": "risk"} and out["not_found"] == ["nope"]
    assert ct(capsys, "models", "tag", "9", "a=b")[0] == 2
    assert "key=value" in ct(capsys, "models", "tag", "2")[2]


def test_show_json_has_semver_tags_and_environment(ws: Workspace, capsys) -> None:
    code, out, _ = ct(capsys, "models", "show", "v3", "--json")
    assert code == 0
    assert (out["version"], out["semver"], out["tags"]) == (3, "1.1.0", {})
    assert out["environment"]["packages"]["scikit-learn"] == environment_fingerprint()["packages"]["scikit-learn"]
    code, _, err = ct(capsys, "models", "show", MODEL, "7")
    assert code == 2 and "no version 7" in err


# -- promote, rollback, history ---------------------------------------------------------------------
def test_promote_rollback_and_history(ws: Workspace, capsys) -> None:
    code, out, _ = ct(capsys, "models", "promote", "2", "--reason", "better recall", "--actor", "alice", "--json")
    assert code == 0 and out["moved"] is True
    assert {k: out["ledger"][k] for k in ("from_version", "to_version", "actor", "kind", "reason")} == {
        "from_version": 1,
        "to_version": 2,
        "actor": "alice",
        "kind": "promotion",
        "reason": "better recall",
    }
    assert out["ledger"]["evidence"]["manual"] is True and out["ledger"]["evidence"]["artifact_verified"] is True

    assert ct(capsys, "models", "promote", MODEL, "3", "--reason", "new params")[0] == 0  # actor: OS user
    code, text, _ = ct(capsys, "models", "promote", "3", "--reason", "again")
    assert code == 0 and "already points to v3" in text

    code, out, _ = ct(capsys, "models", "rollback", "--json")
    assert code == 0 and (out["ledger"]["from_version"], out["ledger"]["to_version"]) == (3, 2)
    assert out["ledger"]["actor"] == "carol" and out["ledger"]["kind"] == "rollback"
    code, text, _ = ct(capsys, "models", "rollback", MODEL, "--reason", "v2 drifts", "--actor", "bob")
    assert code == 0 and "v2 -> v1" in text and "rollback" in text
    assert ws.meta.get_alias(MODEL).version == 1

    code, _, err = ct(capsys, "models", "rollback")
    assert code == 2 and "no earlier champion" in err
    assert ws.meta.get_alias(MODEL).version == 1

    code, history, _ = ct(capsys, "models", "history", "--json")
    assert code == 0
    assert all(set(r) == LEDGER_FIELDS for r in history)
    assert [(r["kind"], r["from_version"], r["to_version"], r["actor"]) for r in history] == [  # newest first
        ("rollback", 2, 1, "bob"),
        ("rollback", 3, 2, "carol"),
        ("promotion", 2, 3, "carol"),
        ("promotion", 1, 2, "alice"),
        ("promotion", None, 1, "dag_run:ct_train/run-1"),
    ]
    assert history[0]["reason"] == "v2 drifts" and history[1]["reason"].startswith("rollback of ledger row")
    code, text, _ = ct(capsys, "models", "history", MODEL)
    assert code == 0 and "v2 drifts" in text and text.count("rollback") >= 2
    body = text.splitlines()[2:]
    assert "bob" in body[0] and "dag_run:ct_train/run-1" in body[-1]  # the table too: newest first
    assert ct(capsys, "models", "history", MODEL, "--alias", "challenger", "--json")[1] == []


def test_promote_needs_a_reason(ws: Workspace, capsys) -> None:
    with pytest.raises(SystemExit):
        ct_main(["models", "promote", "2"])
    code, _, err = ct(capsys, "models", "promote", "2", "--reason", "  ")
    assert code == 2 and "needs a reason" in err
    assert ws.meta.get_alias(MODEL).version == 1


def test_promote_and_rollback_refuse_a_tampered_artifact(ws: Workspace, capsys) -> None:
    ct(capsys, "models", "promote", "2", "--reason", "r")
    _tamper(ws, 3)
    code, _, err = ct(capsys, "models", "promote", "3", "--reason", "r")
    assert code == 2 and "was modified" in err and "Not promoting" in err
    _tamper(ws, 1)
    code, _, err = ct(capsys, "models", "rollback")
    assert code == 2 and "was modified" in err and "Not rolling back to churn-classifier v1" in err
    assert ws.meta.get_alias(MODEL).version == 2
    assert len(ws.meta.promotion_history(MODEL)) == 2


def test_other_aliases_move_independently(ws: Workspace, capsys) -> None:
    ct(capsys, "models", "promote", "3", "--alias", "challenger", "--reason", "shadow")
    ct(capsys, "models", "promote", "2", "--alias", "challenger", "--reason", "shadow 2")
    assert ct(capsys, "models", "rollback", "--alias", "challenger")[0] == 0
    assert ws.meta.get_alias(MODEL, "challenger").version == 3
    assert ws.meta.get_alias(MODEL).version == 1
    assert [r["version"] for r in ct(capsys, "models", "list", "--alias", "challenger", "--json")[1]] == [3]


# -- verify -----------------------------------------------------------------------------------------
def test_verify_checks_checksums_without_loading(ws: Workspace, capsys, monkeypatch) -> None:
    monkeypatch.setattr(artifacts_module.joblib, "load", lambda *a, **k: pytest.fail("verify loaded an artifact"))
    code, out, _ = ct(capsys, "models", "verify", "--json")
    assert code == 0 and [(r["version"], r["status"]) for r in out] == [(3, "ok"), (2, "ok"), (1, "ok")]
    assert all(r["environment_differences"] == {} for r in out)

    _tamper(ws, 2)
    (Path(ws.settings.home) / ws.meta.get_model_version(MODEL, 3).artifact_uri).unlink()
    code = ct_main(["models", "verify", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and [(r["version"], r["status"]) for r in out] == [(3, "missing"), (2, "modified"), (1, "ok")]
    assert out[1]["actual_sha256"] != out[1]["expected_sha256"] and "will not be loaded" in out[1]["message"]

    assert ct(capsys, "models", "verify", "1")[0] == 0
    code, text, _ = ct(capsys, "models", "verify", MODEL, "2")
    assert code == 1 and "modified" in text and "will not be loaded" in text
    assert ct(capsys, "models", "verify", MODEL)[0] == 1
    assert "no model named 'nope'" in ct(capsys, "models", "verify", "nope")[2]


def test_verify_reports_environment_drift(ws: Workspace, capsys, monkeypatch) -> None:
    import pipeline.core.environment as env_module

    real = env_module.package_versions
    monkeypatch.setattr(env_module, "package_versions", lambda: {**real(), "scikit-learn": "0.0.1"})
    code, out, _ = ct(capsys, "models", "verify", "1", "--json")
    assert code == 0  # a different library version is a warning, not a broken file
    assert out[0]["environment_differences"]["scikit-learn"][1] == "0.0.1"


# -- lineage and report -----------------------------------------------------------------------------
def test_lineage_json_traces_the_chain(ws: Workspace, capsys) -> None:
    ct(capsys, "models", "promote", "3", "--reason", "r", "--actor", "alice")
    code, out, _ = ct(capsys, "models", "lineage", "3", "--json")
    assert code == 0
    mv = ws.meta.get_model_version(MODEL, 3)
    assert (out["name"], out["version"], out["semver"]) == (MODEL, 3, "1.1.0")
    assert out["semver_reason"] == "hyperparameters changed"
    assert out["trigger"]["kind"] == "new_data"
    assert out["dag_run"] == {"dag_id": "ct_train", "run_id": "run-3", "run_type": "asset_triggered", "user": None}
    assert out["snapshot"]["id"] == mv.snapshot_id and out["snapshot"]["rows"] == 300
    assert out["snapshot"]["schema"] == mv.feature_schema
    manifest = read_manifest(ws.store, mv.snapshot_id)
    assert [p["id"] for p in out["parts"]] == [p.id for p in manifest.parts]
    [landing] = out["landing_files"]
    assert landing["name"].endswith("customers.csv") and landing["part_ids"] == [p.id for p in manifest.parts]
    assert landing["archived_path"] and Path(landing["archived_path"]).exists()
    assert out["validation"]["passed"] is True and out["validation"]["failed_checks"][0]["name"] == "label_contract"
    assert (out["config_hash"], out["config_path"], out["code_version"]) == ("cfg-3", "/c.yaml", "git:abc")
    assert out["environment"]["python"] and out["candidates"] is None
    assert out["artifact"]["sha256"] == mv.artifact_sha256
    assert out["evaluation"]["uri"] == "file:///ev/3.json" and out["evaluation"]["holdout"]["roc_auc"]["value"] == 0.83
    assert [(r["from_version"], r["to_version"], r["actor"]) for r in out["ledger"]] == [(1, 3, "alice")]
    assert out["problems"] == []

    code, text, _ = ct(capsys, "models", "lineage", MODEL, "3")
    assert code == 0
    for expected in (mv.snapshot_id, "customers.csv", "run-3", "git:abc", "scikit-learn", "hyperparameters changed"):
        assert expected in text, expected


def test_lineage_shows_candidates_and_survives_a_missing_manifest(ws: Workspace, capsys) -> None:
    evaluation = {
        **_evaluation(1),
        "candidates": [{"spec": "default", "roc_auc": 0.8}, {"spec": "gbm", "roc_auc": 0.79}],
    }
    key, sha = ws.artifacts.save({"w": 4}, MODEL)
    snapshot_id = ws.meta.get_model_version(MODEL, 1).snapshot_id
    ws.meta.register_model(
        NewModelVersion(
            name=MODEL,
            snapshot_id=snapshot_id,
            config_hash="cfg-4",
            spec_name="default",
            params={},
            metrics={},
            evaluation=evaluation,
            artifact_uri=key,
            artifact_sha256=sha,
            validation_id=None,
            trigger={"kind": "manual"},
            code_version="x",
        )
    )
    Path(ws.settings.home, "snapshots", "manifests", f"{snapshot_id}.json").unlink()
    code, out, _ = ct(capsys, "models", "lineage", "4", "--json")
    assert code == 0
    assert out["candidates"] == evaluation["candidates"]
    assert out["dag_run"] is None and out["validation"] is None and out["parts"] == []
    assert len(out["problems"]) == 1 and "manifest unreadable" in out["problems"][0]
    code, text, _ = ct(capsys, "models", "lineage", "4")
    assert code == 0 and "problem: snapshot manifest unreadable" in text and "gbm" in text


def test_report_prints_the_url_of_the_written_page(ws: Workspace, capsys) -> None:
    code, text, _ = ct(capsys, "models", "report", "2")
    url = text.strip()
    assert code == 0 and url.startswith("file://") and url.endswith("/v2.html")
    assert Path(url[len("file://") :]).exists()
    code, out, _ = ct(capsys, "models", "report", MODEL, "2", "--json")
    assert out == {"name": MODEL, "version": 2, "url": url}


# -- alias moves stay light -------------------------------------------------------------------------
_HEAVY_PROBE = (
    "import sys; from pipeline.cli import main; code = main(); "
    "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules)); sys.exit(code)"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "promote", "2", "--reason", "r"],
        ["models", "tag", "2", "k=v"],
        ["models", "rollback", "--reason", "r"],
    ],
)
def test_alias_moves_import_neither_sklearn_nor_scipy(ws: Workspace, tmp_path: Path, argv: list[str]) -> None:
    import subprocess
    import sys

    if argv[1] == "rollback":
        ws.meta.set_alias(MODEL, CHAMPION, 2, "something to undo", {}, "carol")
    root = Path(__file__).resolve().parents[2]
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", _HEAVY_PROBE, *argv], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


# -- readable fields --------------------------------------------------------------------------------
def test_show_prints_trigger_params_and_lineage_as_fields_not_raw_json(ws: Workspace, capsys) -> None:
    key, sha = ws.artifacts.save({"w": 5}, MODEL)
    snapshot_id = ws.meta.get_model_version(MODEL, 1).snapshot_id
    trigger = {
        "kind": "performance_drop",
        "dag_id": "ct_train",
        "run_id": "run-5",
        "run_type": "manual",
        "user": "dana",
        "reason": "roc_auc fell",
        "evidence": {"metric": "roc_auc", "live": 0.712345678901234, "window_rows": 1200},
    }
    ws.meta.register_model(
        NewModelVersion(
            name=MODEL,
            snapshot_id=snapshot_id,
            config_hash="cfg-5",
            spec_name="default",
            params={"estimator__C": 0.123456789012, "estimator__penalty": "l2"},
            metrics=_evaluation(1)["holdout"],
            evaluation=_evaluation(1),
            artifact_uri=key,
            artifact_sha256=sha,
            validation_id=None,
            trigger=trigger,
            code_version="x",
            lineage={"evaluation_uri": "file:///ev/5.json", "config_path": "/c.yaml"},
        )
    )
    code, text, _ = ct(capsys, "models", "show", "4")
    assert code == 0
    lines = {line.split(":", 1)[0].strip(): line for line in text.splitlines() if ":" in line}
    assert "performance_drop" in lines["trigger"] and "by dana" in lines["trigger"]
    assert "evidence.live=0.7123" in lines["trigger"] and "evidence.window_rows=1200" in lines["trigger"]
    assert "estimator__C=0.1235" in lines["params"] and "estimator__penalty=l2" in lines["params"]
    assert "evaluation_uri=file:///ev/5.json" in lines["lineage"]
    assert '{"' not in text  # no raw JSON

    code, text, _ = ct(capsys, "models", "lineage", "4")
    trig = next(line for line in text.splitlines() if line.startswith("trigger"))
    assert "reason 'roc_auc fell'" in trig and "evidence.metric=roc_auc" in trig and '{"' not in trig


def test_lineage_prints_every_candidate_whole(ws: Workspace, capsys) -> None:
    candidates = [
        {
            "candidate": f"spec-{i}",
            "chosen": i == 7,
            "cross_validation": {"roc_auc": {"mean": 0.8123456 + i / 1000, "std": 0.0123456, "folds": 5}},
        }
        for i in range(12)
    ]
    evaluation = {**_evaluation(1), "candidates": candidates}
    key, sha = ws.artifacts.save({"w": 6}, MODEL)
    ws.meta.register_model(
        NewModelVersion(
            name=MODEL,
            snapshot_id=ws.meta.get_model_version(MODEL, 1).snapshot_id,
            config_hash="cfg-6",
            spec_name="default",
            params={},
            metrics={},
            evaluation=evaluation,
            artifact_uri=key,
            artifact_sha256=sha,
            validation_id=None,
            trigger={"kind": "manual"},
            code_version="x",
        )
    )
    code, text, _ = ct(capsys, "models", "lineage", "4")
    assert code == 0
    shown = [line for line in text.splitlines() if line.startswith("candidate")]
    assert len(shown) == 12 and "spec-11" in shown[-1] and "cross_validation.roc_auc.mean=0.8233" in shown[-1]
    assert "(chosen)" in shown[7] and '{"' not in text


# -- compare ---------------------------------------------------------------------------------------
@pytest.fixture
def trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config) -> Workspace:
    """Two versions really trained on one snapshot (two specs), and a third on a later snapshot."""
    home = tmp_path / "trained_home"
    monkeypatch.setenv("CT_HOME", str(home))
    monkeypatch.setenv("CT_DATABASE_URL", f"sqlite:///{home / 'ct.db'}")
    for var in ("CT_CONFIG", "CT_DATA_URL"):
        monkeypatch.delenv(var, raising=False)
    workspace = Workspace(settings=load_settings(), config=config)

    def land(name: str, seed: int, first_id: int) -> str:
        folder = workspace.settings.landing / name
        folder.mkdir(parents=True)
        generate_batch(BatchSpec(rows=500, seed=seed, first_id=first_id)).to_csv(folder / "b.csv", index=False)
        (folder / "_SUCCESS").touch()
        return stages.ingest_landing(workspace).snapshot_id

    def train(snapshot_id: str, spec: str, run: str) -> None:
        plan = stages.plan_training(workspace, snapshot_id, spec, {"kind": "manual", "run_id": run}).to_dict()
        validation = stages.validate_snapshot(workspace, snapshot_id)
        candidate = stages.train_candidate(workspace, plan)
        key = stages.evaluate_model(workspace, plan, candidate)["evaluation_key"]
        reg = stages.register_model(workspace, plan, candidate, key, validation["validation_id"])
        stages.promote_if_better(workspace, reg["name"], reg["version"])

    first = land("b1", 1, 0)
    train(first, "default", "r1")
    train(first, "gradient_boosting", "r2")
    train(land("b2", 2, 10_000), "default", "r3")
    return workspace


def test_compare_shows_the_paired_difference_on_a_shared_holdout(trained: Workspace, capsys) -> None:
    v1, v2 = (trained.meta.get_model_version(MODEL, v) for v in (1, 2))
    assert v1.snapshot_id == v2.snapshot_id and v1.spec_name != v2.spec_name
    code, out, _ = ct(capsys, "models", "compare", "1", "2", "--json")
    assert code == 0
    assert (out["a"]["version"], out["b"]["version"]) == (1, 2)
    assert out["a"]["spec_name"] == "default" and out["b"]["spec_name"] == "gradient_boosting"
    assert out["a"]["trigger_kind"] == "manual" and "promote" in out["a"]["decision"]
    assert {m["metric"] for m in out["metrics"]} >= {"roc_auc", "f1"}
    paired = out["paired"]
    assert out["paired_unavailable"] is None and paired["metric"] == "roc_auc"
    # the artifacts scored again on the shared holdout give exactly the recorded holdout metrics
    assert paired["a"] == pytest.approx(v1.metrics["roc_auc"]["value"])
    assert paired["b"] == pytest.approx(v2.metrics["roc_auc"]["value"])
    assert paired["difference"] == pytest.approx(paired["b"] - paired["a"])
    assert paired["lower"] <= paired["difference"] <= paired["upper"]
    assert paired["holdout_rows"] == v1.evaluation["holdout_rows"]

    code, text, _ = ct(capsys, "models", "compare", MODEL, "1", "2")
    assert code == 0 and "v1 vs v2" in text and "paired difference on the same" in text
    assert "gradient_boosting" in text and "roc_auc (95% CI)" in text


def test_compare_says_why_there_is_no_paired_difference(trained: Workspace, capsys) -> None:
    code, out, _ = ct(capsys, "models", "compare", "1", "3", "--json")
    assert code == 0 and out["paired"] is None and out["same_snapshot"] is False
    assert out["paired_unavailable"].startswith("different snapshots")
    code, text, _ = ct(capsys, "models", "compare", "1", "3")
    assert code == 0 and "no paired difference: different snapshots" in text
