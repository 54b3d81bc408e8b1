"""Wall time of ct_monitor's live-evidence steps on one prediction log (issue 18).

Builds a throwaway CT_HOME with a trained champion (v1, 1 000 demo rows) and a second version
(v2, registered from the same inputs), writes one shadow-mode prediction log of N request rows
(both versions score every row, features logged in full) and a label file for all of them, then
times the three steps as ct_monitor runs them (the judgement pairs every labelled row so far, so
the second size is judged on both logs): collect the log as scored batches, join the labels
(one window per version, drift, training file), judge the challenger (paired bootstrap with
``monitoring.bootstrap_resamples``). Run it from the tree:

    .venv/bin/python -m bench.bench_live_evidence [N ...]      (default: 10000 100000)
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline.app import stages
from pipeline.app.demo_data import BatchSpec, generate_batch, split_labels
from pipeline.app.stages.monitor import collect_served_predictions, join_labels, judge_live_challenger
from pipeline.app.training_flow import run_training
from pipeline.app.workspace import Workspace
from pipeline.core.config import load_config
from pipeline.core.settings import BUNDLED_CONFIG, Settings
from pipeline.modeling.training import predict_scores
from pipeline.monitoring.batch_scoring import parquet_bytes
from pipeline.monitoring.served_log import log_file_key
from pipeline.registry.base import CHALLENGER, CHAMPION, NewModelVersion

MODEL = "churn-classifier"
T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def prepare(home: Path) -> Workspace:
    home.mkdir(parents=True)
    data = yaml.safe_load(BUNDLED_CONFIG.read_text())
    data["model"].pop("candidates", None)
    data["ingest"]["stable_seconds"] = 0
    data["promotion"].update(min_holdout_rows=100, min_class_rows=20)
    (home / "pipeline.yaml").write_text(yaml.safe_dump(data))
    url = f"sqlite:///{home / 'ct.db'}"
    settings = Settings(home=home, config_path=home / "pipeline.yaml", database_url=url, data_url=home.as_uri())
    ws = Workspace(settings=settings, config=load_config(settings.config_path))
    settings.landing.mkdir(parents=True)
    generate_batch(BatchSpec(rows=1000, seed=31)).to_csv(settings.landing / "first.csv", index=False)
    run_training(ws, snapshot_id=stages.ingest_landing(ws).snapshot_id, trigger={"kind": "bench"})
    v1 = ws.meta.get_alias(MODEL, CHAMPION)
    assert v1 is not None
    fields = {f: getattr(v1, f) for f in NewModelVersion.__dataclass_fields__}
    v2, _ = ws.meta.register_model(NewModelVersion(**{**fields, "config_hash": "bench-v2"}))
    ws.meta.set_alias(MODEL, CHALLENGER, v2.version, "bench", {}, "bench")
    return ws


def write_inputs(ws: Workspace, rows: int, seq: int) -> None:
    features, labels = split_labels(generate_batch(BatchSpec(rows=rows, seed=100 + seq, first_id=1_000_000 * seq)))
    ds = ws.config.dataset
    champion, challenger = ws.meta.get_alias(MODEL, CHAMPION), ws.meta.get_alias(MODEL, CHALLENGER)
    assert champion is not None and challenger is not None
    scores = predict_scores(ws.artifacts.load(champion.artifact_uri, champion.artifact_sha256), features, ds)
    request = pd.DataFrame(
        {
            "request_id": [f"r{seq}-{i}" for i in range(rows)],
            "row": 0,
            "entity_id": features["customer_id"].astype(str),
            "logged_at": [T0 + timedelta(milliseconds=i) for i in range(rows)],
            "customer_id": features["customer_id"],
            **{c: features[c] for c in ds.feature_names},
        }
    )
    frames = []
    rng = np.random.default_rng(seq)
    for version, role, served, s in (
        (champion, "champion", True, scores),
        (challenger, "challenger", False, np.clip(scores + rng.normal(scale=0.02, size=rows), 0, 1)),
    ):
        frame = request.assign(
            model_name=MODEL,
            model_version=np.int64(version.version),
            artifact_sha256=version.artifact_sha256,
            role=role,
            served=served,
            score=s,
            predicted_label=np.where(s >= 0.5, "yes", "no"),
            latency_ms=1.0,
        )
        frames.append(frame)
    ws.store.put(log_file_key(MODEL, T0, "bench", seq), parquet_bytes(pd.concat(frames, ignore_index=True)))
    folder = ws.settings.labels / f"outcomes-{seq}"
    folder.mkdir(parents=True)
    labels.to_csv(folder / f"outcomes-{seq}.csv", index=False)
    (folder / "_SUCCESS").touch()


def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = prepare(Path(tmp) / "home")
        print(f"{'rows':>8} {'collect s':>10} {'join s':>8} {'judge s':>8}  verdict")
        for seq, rows in enumerate(sizes, start=1):
            write_inputs(ws, rows, seq)
            t0 = time.perf_counter()
            collect_served_predictions(ws)
            t1 = time.perf_counter()
            joined = join_labels(ws)
            t2 = time.perf_counter()
            judged = judge_live_challenger(ws, joined, actor="bench")
            t3 = time.perf_counter()
            print(f"{rows:>8} {t1 - t0:>10.2f} {t2 - t1:>8.2f} {t3 - t2:>8.2f}  {judged.verdict} on {judged.rows} rows")
            if judged.action != "none":  # promoted or retired: the same pair again for the next size
                ws.meta.set_alias(MODEL, CHAMPION, 1, "bench", {}, "bench")
                ws.meta.set_alias(MODEL, CHALLENGER, 2, "bench", {}, "bench")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
