"""Live evidence on the challenger: compare it with the champion on the same labelled live requests, then act.

``ct serve`` scores every request row with the champion and, while a ``challenger`` alias is set,
with the challenger too (shadow: every row; canary: the challenger answers a share of the entities
and the champion scores those rows in shadow). Once late labels are joined
(:mod:`pipeline.monitoring.label_join`), the rows that carry a label and were scored by *both*
versions in the same batch are paired; :func:`compare_live` judges the difference of the primary
metric with the paired bootstrap of :meth:`pipeline.modeling.metric_suites.MetricSuite.compare`
(the one promotion uses), oriented so that positive means the challenger is better:

* ``waiting`` -- fewer than ``serving.challenger.min_samples`` paired labelled rows (or one class only);
* ``promote`` -- the lower end of the 95% interval lies above ``-margin`` (non-inferior; ``margin`` is
  ``serving.challenger.margin``, else ``promotion.margin``, in the units rule of promotion:
  a share of the champion's value for metrics in the label's units);
* ``retire`` -- the upper end lies below ``-margin`` (clearly worse);
* ``undecided`` -- neither yet: keep collecting.

:func:`judge_challenger` acts through the registry: ``promote`` moves ``champion`` to the
challenger (ledger evidence with trigger ``live_evaluation``) and clears ``challenger``; ``retire``
clears ``challenger`` (a ``retirement`` ledger row). An alert either way. The alias state and the
ledger are the truth, so a rerun never promotes or retires twice; the latest comparison is stored
under ``monitoring/<model>/challenger/`` for ``ct models challenger status``.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipeline.core.metric_names import higher_is_better, tolerance
from pipeline.core.progress import progress
from pipeline.data.live_inputs import row_keys
from pipeline.modeling.metric_suites import MetricSuite, metric_suite
from pipeline.modeling.prediction_columns import scores_from_predictions
from pipeline.modeling.promotion import PromotionCheck
from pipeline.modeling.training import target_values
from pipeline.monitoring.alerts import AlertingContext, alias_move_alert
from pipeline.monitoring.batch_scoring import PREDICTIONS_PREFIX, ScoredBatch, list_scored, load_predictions
from pipeline.registry.base import CHALLENGER, CHAMPION, ModelVersion
from pipeline.registry.context import StoreContext

log = logging.getLogger(__name__)

Verdict = Literal["waiting", "promote", "retire", "undecided"]
TRIGGER = "live_evaluation"
_KEY, _BATCH = "_ct_key", "_ct_batch"


@dataclass(frozen=True)
class LiveComparison:
    """The challenger against the champion on paired labelled live rows, and the verdict.

    ``difference``, ``lower`` and ``upper`` (95% paired bootstrap) are oriented so that positive
    means the challenger is better; once judged, ``margin`` is absolute (already scaled for metrics
    in the label's units; while ``waiting`` it is the setting). The numbers are None while ``waiting``.
    """

    verdict: Verdict
    reason: str
    metric: str
    higher_is_better: bool
    rows: int
    min_samples: int
    margin: float
    challenger: float | None = None
    champion: float | None = None
    difference: float | None = None
    lower: float | None = None
    upper: float | None = None
    prob_challenger_better: float | None = None
    n_resamples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_live(
    y: np.ndarray,
    challenger_scores: np.ndarray,
    champion_scores: np.ndarray,
    *,
    suite: MetricSuite,
    metric: str,
    margin: float,
    min_samples: int,
    n_resamples: int,
    seed: int,
) -> LiveComparison:
    """Judge paired live rows (see the module docstring); ``margin`` as configured (a share of the
    champion's value for metrics in the label's units, an amount otherwise)."""
    higher = higher_is_better(metric)
    n = len(y)
    result = partial(LiveComparison, metric=metric, higher_is_better=higher, rows=n, min_samples=min_samples)
    if n < min_samples:
        reason = f"waiting: {n} paired labelled rows of {min_samples} needed (serving.challenger.min_samples)"
        return result(verdict="waiting", reason=reason, margin=margin)
    if suite.task != "regression" and len(np.unique(y)) < 2:
        reason = f"waiting: the {n} paired labelled rows hold one class only; {metric} is undefined"
        return result(verdict="waiting", reason=reason, margin=margin)
    _, paired = suite.compare(
        y,
        challenger_scores,
        champion_scores,
        metric=metric,
        n_resamples=n_resamples,
        seed=seed,
        confidence=0.95,
        metrics=(metric,),
    )
    absolute = tolerance(metric, margin, paired.champion)
    direction = "" if higher else " (lower is better; difference > 0: challenger lower)"
    detail = (
        f"{metric} {paired.challenger:.4g} vs champion {paired.champion:.4g} on {n} paired live rows, "
        f"difference {paired.difference:+.4f} (95% CI {paired.lower:+.4f} to {paired.upper:+.4f}), "
        f"margin {absolute:.4g}{direction}"
    )
    verdict: Verdict
    if paired.lower > -absolute:
        verdict, reason = "promote", f"not worse than the champion on live data: {detail}"
    elif paired.upper < -absolute:
        verdict, reason = "retire", f"worse than the champion on live data: {detail}"
    else:
        verdict, reason = "undecided", f"not decided yet (the interval straddles -margin): {detail}"
    return result(
        verdict=verdict,
        reason=reason,
        margin=absolute,
        challenger=paired.challenger,
        champion=paired.champion,
        difference=paired.difference,
        lower=paired.lower,
        upper=paired.upper,
        prob_challenger_better=paired.prob_challenger_better,
        n_resamples=paired.n_resamples,
    )


@dataclass(frozen=True)
class PairedRows:
    """Labelled live rows scored by both versions in the same batch, and where they came from."""

    y: np.ndarray
    challenger: np.ndarray
    champion: np.ndarray
    batches: tuple[str, ...]
    window_ids: tuple[str, ...]


def _labels(ws: StoreContext, batch_id: str) -> pd.DataFrame:
    frames = []
    for key in ws.store.list(f"{PREDICTIONS_PREFIX}/{batch_id}/labels"):
        with ws.store.open(key) as fh:
            frames.append(pd.read_parquet(io.BytesIO(fh.read())))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def paired_rows(ws: StoreContext, challenger: int, champion: int) -> PairedRows:
    """Every labelled row scored by both ``challenger`` and ``champion`` (versions of the configured model)."""
    ds = ws.config.dataset
    ids = list(ds.id_columns)
    by_batch: dict[str, dict[int, ScoredBatch]] = {}
    for s in list_scored(ws):
        if s.model_name == ws.config.model.name and s.model_version in (challenger, champion):
            by_batch.setdefault(s.batch_id, {})[s.model_version] = s
    frames: list[pd.DataFrame] = []
    windows: set[str] = set()
    for batch_id, scorings in by_batch.items():
        if len(scorings) < 2:
            continue
        labels = _labels(ws, batch_id)
        if labels.empty:
            continue
        labels = labels.assign(**{_KEY: row_keys(labels, ids).to_numpy()})
        windows.update(f"labels-{sha[:16]}" for sha in labels["label_sha256"].unique())
        pair = labels[[_KEY, ds.label]]
        for version, suffix in ((challenger, "_challenger"), (champion, "_champion")):
            preds = load_predictions(ws, scorings[version])
            values = scores_from_predictions(preds, ds)
            scores = pd.DataFrame(values.reshape(len(values), -1)).add_suffix(suffix)
            scores[_KEY] = row_keys(preds, ids).to_numpy()
            pair = pair.merge(scores, on=_KEY)
        frames.append(pair.assign(**{_BATCH: batch_id}))
    if not frames:
        empty = np.empty(0)
        return PairedRows(empty, empty, empty, (), ())
    rows = pd.concat(frames, ignore_index=True)
    cols = {
        suffix: [c for c in rows.columns if isinstance(c, str) and c.endswith(suffix)]
        for suffix in ("_challenger", "_champion")
    }

    def _scores(suffix: str) -> np.ndarray:
        values = rows[cols[suffix]].to_numpy(dtype="float64")
        return values if ds.task == "multiclass" else values[:, 0]

    return PairedRows(
        y=target_values(rows, ds),
        challenger=_scores("_challenger"),
        champion=_scores("_champion"),
        batches=tuple(sorted(rows[_BATCH].unique())),
        window_ids=tuple(sorted(windows)),
    )


def _margin_setting(ws: StoreContext) -> float:
    configured = ws.config.serving.challenger.margin
    return configured if configured is not None else ws.config.promotion.margin


def evaluate_challenger(
    ws: StoreContext, challenger: ModelVersion, champion: ModelVersion
) -> tuple[LiveComparison, PairedRows]:
    """:func:`compare_live` on the paired labelled live rows of the two versions, and those rows."""
    rows = paired_rows(ws, challenger.version, champion.version)
    ecfg = ws.config.evaluation
    return compare_live(
        rows.y,
        rows.challenger,
        rows.champion,
        suite=metric_suite(ws.config.dataset, ecfg.decision_threshold),
        metric=ws.config.promotion.primary_metric,
        margin=_margin_setting(ws),
        min_samples=ws.config.serving.challenger.min_samples,
        n_resamples=ws.config.monitoring.bootstrap_resamples,
        seed=ecfg.seed,
    ), rows


def evidence_key(model_name: str) -> str:
    """Where the latest live comparison of the model's challenger is kept (``ct models challenger status``)."""
    return f"monitoring/{model_name}/challenger/latest.json"


def read_evidence(ws: StoreContext) -> dict[str, Any] | None:
    """The latest stored live comparison, or None before the first."""
    key = evidence_key(ws.config.model.name)
    return json.loads(ws.store.get(key)) if ws.store.exists(key) else None


@dataclass(frozen=True)
class ChallengerJudgement:
    """What :func:`judge_challenger` found and did: ``action`` is ``none``, ``promoted``, ``retired``
    or ``cleared`` (the challenger had become champion already: a rerun after an interrupted promotion)."""

    challenger_version: int | None
    champion_version: int | None
    action: str
    reason: str
    comparison: LiveComparison | None = None
    batches: tuple[str, ...] = ()
    window_ids: tuple[str, ...] = ()
    ledger_ids: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("batches", "window_ids", "ledger_ids"):
            d[name] = list(d[name])
        return d


def _live_decision(mv: ModelVersion, comparison: LiveComparison, champion: int) -> dict[str, Any]:
    """The version's stored decision, now answered by live evidence (the holdout decision kept beside it)."""
    check = PromotionCheck(
        "non_inferiority",
        subject=comparison.metric,
        passed=comparison.verdict == "promote",
        threshold=comparison.margin,
        difference=comparison.difference,
        lower=comparison.lower,
        upper=comparison.upper,
        rows=comparison.rows,
    )
    return {
        "promote": comparison.verdict == "promote",
        "reason": f"live evaluation: {comparison.reason}",
        "checks": [check.to_dict()],
        "champion_version": champion,
        "forced": False,
        "trigger": TRIGGER,
        "holdout_decision": (mv.decision or {}).get("holdout_decision") or mv.decision,
    }


def judge_challenger(ws: AlertingContext, actor: str = "ct_monitor") -> ChallengerJudgement:
    """Compare the challenger with the champion on live labelled rows and promote or retire it (see module)."""
    name = ws.config.model.name
    challenger = ws.meta.get_alias(name, CHALLENGER)
    champion = ws.meta.get_alias(name, CHAMPION)
    if challenger is None:
        return ChallengerJudgement(None, champion.version if champion else None, "none", "no challenger")
    if champion is None:
        reason = f"challenger v{challenger.version} but no champion to compare it with; promote one by hand"
        return ChallengerJudgement(challenger.version, None, "none", reason)
    if challenger.version == champion.version:
        # a run stopped between moving champion and clearing challenger: finish the job
        record = ws.meta.clear_alias(
            name,
            CHALLENGER,
            f"v{challenger.version} is champion already",
            {"trigger": TRIGGER},
            actor,
            expect_version=challenger.version,
        )
        moves = ws.meta.promotion_history(name, CHAMPION)
        if moves and moves[-1].to_version == champion.version:
            ws.notifier.notify(alias_move_alert(moves[-1]))  # told once: the key is the ledger row
        done = (record.id,) if record else ()
        return ChallengerJudgement(challenger.version, champion.version, "cleared", "already champion", ledger_ids=done)
    comparison, rows = evaluate_challenger(ws, challenger, champion)
    judgement = ChallengerJudgement(
        challenger.version,
        champion.version,
        "none",
        comparison.reason,
        comparison,
        rows.batches,
        rows.window_ids,
    )
    stored = {**judgement.to_dict(), "evaluated_at": datetime.now(UTC).isoformat(timespec="microseconds")}
    # derived (recomputed from predictions and labels every run); what was acted on is in the ledger
    ws.store.replace(evidence_key(name), json.dumps(stored, indent=2, default=str).encode())
    evidence = {
        "trigger": TRIGGER,
        "challenger_version": challenger.version,
        "champion_version": champion.version,
        **comparison.to_dict(),
        "batches": list(rows.batches),
        "window_ids": list(rows.window_ids),
    }
    if comparison.verdict == "promote":
        check = ws.artifacts.verify(challenger.artifact_uri, challenger.artifact_sha256)
        if not check.ok:
            reason = f"live evidence says promote, but {check.message}; not promoted"
            progress("monitor", f"challenger v{challenger.version}: {reason}")
            return replace(judgement, reason=reason)
        ws.meta.record_decision(name, challenger.version, _live_decision(challenger, comparison, champion.version))
        moved = ws.meta.set_alias(name, CHAMPION, challenger.version, comparison.reason, evidence, actor)
        if moved is not None:
            ws.notifier.notify(alias_move_alert(moved))
        cleared = ws.meta.clear_alias(
            name,
            CHALLENGER,
            f"promoted to champion by live evaluation (ledger row {moved.id if moved else '?'})",
            {"trigger": TRIGGER, "promotion_ledger_id": moved.id if moved else None},
            actor,
            expect_version=challenger.version,
        )
        ids: tuple[int, ...] = tuple(r.id for r in (moved, cleared) if r is not None)
        progress("monitor", f"challenger v{challenger.version} PROMOTED to champion: {comparison.reason}")
        return replace(judgement, action="promoted", ledger_ids=ids)
    if comparison.verdict == "retire":
        ws.meta.record_decision(name, challenger.version, _live_decision(challenger, comparison, champion.version))
        retired = ws.meta.clear_alias(
            name, CHALLENGER, comparison.reason, evidence, actor, expect_version=challenger.version
        )
        if retired is not None:
            ws.notifier.notify(alias_move_alert(retired))
        progress("monitor", f"challenger v{challenger.version} RETIRED: {comparison.reason}")
        return replace(judgement, action="retired", ledger_ids=(retired.id,) if retired else ())
    progress("monitor", f"challenger v{challenger.version} vs champion v{champion.version}: {comparison.reason}")
    return judgement
