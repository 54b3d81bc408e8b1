"""Two model versions side by side, and their paired difference when they share a holdout.

Two versions share a holdout when they were trained on the same snapshot and recorded the same
split (kind, fraction, salt or time cutoff, row counts). Only then are both artifacts scored on
those very rows and the difference judged with the paired bootstrap that promotion uses
(:func:`pipeline.modeling.metrics.compare_bootstrap`); otherwise the comparison says why no paired
difference is shown, because intervals from different rows cannot be subtracted honestly.
"""

from __future__ import annotations

from typing import Any

from pipeline.app.workspace import Workspace
from pipeline.core.errors import CTError
from pipeline.registry.base import ModelVersion


def version_side(mv: ModelVersion) -> dict[str, Any]:
    """What a comparison shows of one version."""
    return {
        "name": mv.name,
        "version": mv.version,
        "semver": mv.semver,
        "aliases": list(mv.aliases),
        "snapshot_id": mv.snapshot_id,
        "spec_name": mv.spec_name,
        "config_hash": mv.config_hash,
        "params": mv.params,
        "trigger_kind": (mv.trigger or {}).get("kind"),
        "trigger": mv.trigger,
        "decision": mv.decision,
        "metrics": mv.metrics,
        "created_at": mv.created_at,
        "holdout_rows": mv.evaluation.get("holdout_rows"),
        "split": mv.evaluation.get("split"),
    }


def shared_holdout_problem(a: ModelVersion, b: ModelVersion) -> str | None:
    """Why ``a`` and ``b`` were not evaluated on the same holdout rows, or None when they were."""
    if a.snapshot_id != b.snapshot_id:
        return (
            f"different snapshots ({a.snapshot_id} vs {b.snapshot_id}): their holdouts are different rows, so "
            "only their separate intervals are shown"
        )
    split_a, split_b = a.evaluation.get("split"), b.evaluation.get("split")
    if not split_a or not split_b:
        which = " and ".join(f"v{mv.version}" for mv, s in ((a, split_a), (b, split_b)) if not s)
        return f"{which} recorded no holdout split, so the same rows cannot be shown to be shared"
    if split_a != split_b:
        differs = sorted(k for k in {*split_a, *split_b} if split_a.get(k) != split_b.get(k))
        return f"same snapshot, but the holdout split differs in {', '.join(differs)}"
    return None


def _params_differ(a: ModelVersion, b: ModelVersion) -> dict[str, list[Any]]:
    keys = sorted({*a.params, *b.params})
    return {k: [a.params.get(k), b.params.get(k)] for k in keys if a.params.get(k) != b.params.get(k)}


def paired_difference(
    ws: Workspace, a: ModelVersion, b: ModelVersion, metric: str
) -> tuple[dict[str, Any] | None, str | None]:
    """Score both artifacts on their shared holdout; ``(difference, None)`` or ``(None, why not)``.

    The difference is ``b`` against ``a`` (positive: ``b`` is better, whatever the metric's
    direction), from the evaluation section's resamples, seed and confidence.
    """
    problem = shared_holdout_problem(a, b)
    if problem:
        return None, problem
    from pipeline.app.stages.data import training_data
    from pipeline.modeling.evaluation import describe_split, training_split
    from pipeline.modeling.metric_suites import metric_suite
    from pipeline.modeling.training import predict_scores, target_values

    _, frame = training_data(ws, a.snapshot_id)
    split = training_split(frame, ws.config)
    now = describe_split(frame, split, ws.config)
    if now != a.evaluation["split"]:
        differs = sorted(k for k in {*now, *a.evaluation["split"]} if now.get(k) != a.evaluation["split"].get(k))
        return None, (
            f"the current config no longer reproduces their holdout (it differs in {', '.join(differs)}); "
            "compare with the config they were trained with (CT_CONFIG)"
        )
    try:
        models = [ws.artifacts.load(mv.artifact_uri, mv.artifact_sha256) for mv in (a, b)]
    except CTError as err:
        return None, f"an artifact could not be loaded: {err}"
    holdout = frame.iloc[split.holdout_index]
    dataset = ws.config.dataset
    y = target_values(holdout, dataset)
    scores_a, scores_b = (predict_scores(m, holdout, dataset) for m in models)
    ecfg = ws.config.evaluation
    _, paired = metric_suite(dataset, ecfg.decision_threshold).compare(
        y,
        scores_b,
        scores_a,
        metric=metric,
        n_resamples=ecfg.bootstrap_resamples,
        seed=ecfg.seed,
        confidence=ecfg.confidence,
        metrics=(metric,),
    )
    d = paired.to_dict()
    return {
        "metric": metric,
        "a": d["champion"],
        "b": d["challenger"],
        "difference": d["difference"],
        "lower": d["lower"],
        "upper": d["upper"],
        "prob_b_better": d["prob_challenger_better"],
        "n_resamples": d["n_resamples"],
        "confidence": ecfg.confidence,
        "holdout_rows": len(y),
        "seed": ecfg.seed,
    }, None


def compare_versions(ws: Workspace, a: ModelVersion, b: ModelVersion, metric: str | None = None) -> dict[str, Any]:
    """Both versions' fields and metrics, what differs, and the paired difference (or why there is none)."""
    metric = metric or ws.config.promotion.primary_metric
    names = list(dict.fromkeys([*a.metrics, *b.metrics]))
    paired, why = paired_difference(ws, a, b, metric)
    return {
        "a": version_side(a),
        "b": version_side(b),
        "metrics": [{"metric": m, "a": a.metrics.get(m), "b": b.metrics.get(m)} for m in names],
        "params_differ": _params_differ(a, b),
        "same_snapshot": a.snapshot_id == b.snapshot_id,
        "paired": paired,
        "paired_unavailable": why,
    }
