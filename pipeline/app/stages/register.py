"""Register and promote: record the model with its lineage, then apply the promotion policy.

Also the hand-made alias moves (``ct models promote`` / ``ct models rollback``): they verify the
target's artifact first, so an alias never points the next DAG run at a file it would refuse.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pipeline.app.contracts import Contract
from pipeline.app.work_requests import resolve_requests
from pipeline.app.workspace import Workspace, code_version
from pipeline.core.environment import environment_fingerprint
from pipeline.core.errors import ArtifactIntegrityError, RegistryError
from pipeline.core.progress import progress
from pipeline.modeling.promotion import PromotionDecision, decide_promotion
from pipeline.monitoring.alerts import alias_move_alert, thin_evidence_alert
from pipeline.registry.base import (
    CHALLENGER,
    CHAMPION,
    ModelVersion,
    NewModelVersion,
    PromotionRecord,
)
from pipeline.reporting.pages import write_model_report

if TYPE_CHECKING:  # plan.py imports this module (decide_undecided)
    from pipeline.app.stages.train import FittedCandidate
    from pipeline.app.stages.training_plan import TrainingPlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration(Contract):
    """The registered model version, and whether this call created it (False: a rerun found it)."""

    name: str
    version: int
    created: bool


@dataclass(frozen=True)
class PromotionOutcome(Contract):
    """The promotion decision on a version: promoted or not and why, whether the alias moved now,
    and which version is champion afterwards."""

    name: str
    version: int
    promoted: bool
    moved: bool
    reason: str
    champion: int | None
    challenger: bool = False
    """True: it passed, but ``promotion.live_confirmation`` made it ``challenger`` instead of champion."""


def register_model(
    ws: Workspace, plan: TrainingPlan, candidate: FittedCandidate, evaluation_key: str, validation_id: int | None
) -> Registration:
    """Register the candidate with its full lineage; a rerun returns the same version."""
    from pipeline.data.snapshots import read_manifest, window_lineage  # pandas: not for an alias move by hand

    evaluation = json.loads(ws.store.get(evaluation_key))
    snapshot = read_manifest(ws.store, plan.snapshot_id)
    spec = ws.config.model_spec(plan.spec_name)
    window = window_lineage(snapshot, ws.config.window)
    used = set(window["snapshot_parts"])
    lineage = {
        **window,
        "source_files": [asdict(p.source) for p in snapshot.parts if p.id in used],
        "evaluation_uri": ws.store.uri(evaluation_key),
        "config_path": str(ws.settings.config_path),
        "config_full_hash": ws.config.full_hash(),
        "task": ws.config.dataset.task,
    }
    output = ws.config.model.output
    post_processing = {"output": output.model_dump(mode="json")} if output is not None else {}
    new = NewModelVersion(
        name=ws.config.model.name,
        snapshot_id=snapshot.id,
        config_hash=plan.config_hash,
        spec_name=plan.spec_name,
        params={"estimator": spec.estimator, **spec.params, "seed": ws.config.evaluation.seed, **post_processing},
        metrics=evaluation["holdout"],
        evaluation=evaluation,
        artifact_uri=candidate.artifact_key,
        artifact_sha256=candidate.artifact_sha256,
        validation_id=validation_id,
        trigger=plan.trigger,
        code_version=code_version(),
        lineage=lineage,
        feature_schema=[list(c) for c in snapshot.schema],
        environment=environment_fingerprint(),
    )
    version, created = ws.meta.register_model(new)
    if not created and plan.force:
        _record_forced_rerun(ws, version, plan.trigger, candidate.artifact_sha256)
    resolve_requests(ws, plan.trigger, snapshot.id, version.version)
    report = write_model_report(ws.store, version)
    progress(
        "register",
        f"{version.name} v{version.version} ({version.semver}) "
        f"{'registered' if created else 'already registered'} "
        f"(snapshot {version.snapshot_id}, config {version.config_hash}); report {report}",
    )
    return Registration(name=version.name, version=version.version, created=created)


def _record_forced_rerun(ws: Workspace, version: ModelVersion, trigger: dict[str, Any], artifact_sha256: str) -> None:
    """A forced run on inputs a version already has keeps that version (one version per snapshot, config
    and spec), but its why must not be lost: it is kept as a tag ``forced_rerun:<run id>`` on the version."""
    run_id = trigger.get("run_id") or "local"
    same = (
        "same artifact"
        if version.artifact_sha256 == artifact_sha256
        else f"new artifact {artifact_sha256[:12]} not kept"
    )
    value = json.dumps(
        {"kind": trigger.get("kind"), "user": trigger.get("user"), "reason": trigger.get("reason"), "artifact": same},
        sort_keys=True,
    )
    ws.meta.set_tag(version.name, version.version, f"forced_rerun:{run_id}"[:200], value)
    progress(
        "register",
        f"forced run {run_id}: {version.name} v{version.version} already holds these inputs (snapshot, config, "
        f"spec); the run is recorded on it as tag forced_rerun:{run_id} ({same})",
    )


def promote_if_better(
    ws: Workspace, name: str, version: int, *, force: bool = False, reason: str = "", actor: str = "ct"
) -> PromotionOutcome:
    """Apply the promotion policy to a registered version; move ``champion`` when it holds."""
    mv = ws.meta.get_model_version(name, version)
    decision = decide_promotion(mv.evaluation, ws.config.promotion, force=force, force_reason=reason)
    against_champion = decision.champion_version is not None and ws.meta.get_alias(name, CHAMPION) is not None
    if ws.config.promotion.live_confirmation and decision.promote and not decision.forced and against_champion:
        return _make_challenger(ws, mv, decision, actor)
    ws.meta.record_decision(name, version, decision.to_dict())
    moved = False
    if decision.promote:
        record = ws.meta.set_alias(
            name,
            CHAMPION,
            version,
            decision.reason,
            {"evaluation_uri": mv.lineage.get("evaluation_uri"), "checks": [c.to_dict() for c in decision.checks]},
            actor,
        )
        moved = record is not None
        _alert_move(ws, record or _latest_move_to(ws, name, version))
    current = ws.meta.get_alias(name, CHAMPION)
    report = write_model_report(ws.store, ws.meta.get_model_version(name, version))
    if not decision.promote and decision.thin_evidence:
        ws.notifier.notify(thin_evidence_alert(name, version, decision.thin_evidence, report))
    verdict = "promoted to champion" if decision.promote else "not promoted"
    progress(
        "promote",
        f"{name} v{version} {verdict}: {decision.reason}"
        f"{'' if moved or not decision.promote else ' (already champion)'}",
    )
    return PromotionOutcome(
        name=name,
        version=version,
        promoted=decision.promote,
        moved=moved,
        reason=decision.reason,
        champion=current.version if current else None,
    )


def _make_challenger(ws: Workspace, mv: ModelVersion, decision: PromotionDecision, actor: str) -> PromotionOutcome:
    """``promotion.live_confirmation``: a version that passes every check against a champion becomes
    ``challenger`` (served beside the champion in ``serving.challenger.mode``); ``ct_monitor``
    promotes or retires it on live evidence (``pipeline/monitoring/live_evaluation.py``)."""
    mode = ws.config.serving.challenger.mode
    why = (
        f"passes every check, but promotion.live_confirmation asks for live evidence: challenger "
        f"({mode}) until ct_monitor judges it on labelled live requests; holdout: {decision.reason}"
    )
    stored = {**decision.to_dict(), "promote": False, "reason": why, "challenger": True}
    ws.meta.record_decision(mv.name, mv.version, {**stored, "holdout_decision": decision.to_dict()})
    record = ws.meta.set_alias(
        mv.name,
        CHALLENGER,
        mv.version,
        why,
        {"evaluation_uri": mv.lineage.get("evaluation_uri"), "checks": [c.to_dict() for c in decision.checks]},
        actor,
    )
    _alert_move(ws, record)
    write_model_report(ws.store, ws.meta.get_model_version(mv.name, mv.version))
    progress("promote", f"{mv.name} v{mv.version} -> challenger{'' if record else ' (already)'}: {why}")
    return PromotionOutcome(
        name=mv.name,
        version=mv.version,
        promoted=False,
        moved=False,
        reason=why,
        champion=decision.champion_version,
        challenger=True,
    )


def decide_undecided(ws: Workspace, version: ModelVersion, actor: str) -> PromotionOutcome:
    """Give a registered version that has no promotion decision its decision now.

    A run killed between register and promote leaves such a version; the next run on the same
    inputs finds it and must not call it "already trained; nothing to do". The stored evaluation
    compared it with the champion of that moment: when the champion has moved since, that evidence
    no longer answers the question, so the version is held with that reason instead of promoted.
    """
    evaluated_against = (version.evaluation.get("champion") or {}).get("version")
    current = ws.meta.get_alias(version.name, CHAMPION)
    if current is not None and current.version not in (evaluated_against, version.version):
        reason = (
            f"not promoted: it was evaluated against champion v{evaluated_against}, but the champion is "
            f"v{current.version} now; retrain with force to compare it with the current champion"
        )
        ws.meta.record_decision(
            version.name,
            version.version,
            {"promote": False, "reason": reason, "checks": [], "champion_version": current.version, "forced": False},
        )
        progress(
            "promote",
            f"{version.name} v{version.version} had no promotion decision (its run was interrupted); {reason}",
        )
        return PromotionOutcome(
            name=version.name,
            version=version.version,
            promoted=False,
            moved=False,
            reason=reason,
            champion=current.version,
        )
    progress(
        "promote",
        f"{version.name} v{version.version} had no promotion decision (its run was interrupted "
        "between register and promote); deciding now",
    )
    return promote_if_better(ws, version.name, version.version, actor=actor)


def _latest_move_to(ws: Workspace, name: str, version: int) -> PromotionRecord | None:
    """The ledger row that made ``version`` champion, when it is the latest move (a rerun's view).

    A rerun after a crash between the move and its alert finds nothing to move; alerting on this
    row again is safe (its dedupe key is the row id) and makes sure the move was told once.
    """
    history = ws.meta.promotion_history(name, CHAMPION)
    return history[-1] if history and history[-1].to_version == version else None


def _alert_move(ws: Workspace, record: PromotionRecord | None) -> None:
    """Every alias move (policy, by hand, rollback) is an alert; one per ledger row."""
    if record is not None:
        ws.notifier.notify(alias_move_alert(record))


def _verified(ws: Workspace, mv: ModelVersion, doing: str) -> dict[str, Any]:
    """Check ``mv``'s artifact without loading it; refuse ``doing`` when it is missing or modified."""
    check = ws.artifacts.verify(mv.artifact_uri, mv.artifact_sha256)
    if not check.ok:
        raise ArtifactIntegrityError(
            f"{check.message}. Not {doing} {mv.name} v{mv.version}: the next run would refuse to load it"
        )
    return {"artifact_verified": True, "artifact_sha256": mv.artifact_sha256}


def _refresh_reports(ws: Workspace, record: PromotionRecord | None) -> None:
    """Rewrite the pages of the versions an alias left and reached (they show aliases)."""
    if record is None:
        return
    for version in {record.from_version, record.to_version}:
        if version is not None:
            write_model_report(ws.store, ws.meta.get_model_version(record.name, version))


def promote_version(
    ws: Workspace, name: str, version: int, *, reason: str, actor: str, alias: str = CHAMPION
) -> dict[str, Any]:
    """Point ``alias`` at ``version`` by hand: verify its artifact, then move and log it in one transaction.

    The policy is not applied (this is the human override); its earlier verdict on this version,
    if any, goes into the ledger row's evidence so an audit sees what was overridden.
    """
    if not reason.strip():
        raise RegistryError("a promotion by hand needs a reason (--reason TEXT); it is written to the ledger")
    mv = ws.meta.get_model_version(name, version)
    evidence = {
        "manual": True,
        **_verified(ws, mv, "promoting"),
        "evaluation_uri": mv.lineage.get("evaluation_uri"),
        "policy_decision": mv.decision.get("reason") if mv.decision else None,
    }
    record = ws.meta.set_alias(name, alias, version, reason, evidence, actor)
    _refresh_reports(ws, record)
    _alert_move(ws, record)
    progress(
        "promote",
        f"{name} {alias} -> v{version} by {actor}: {reason}"
        if record
        else f"{name} {alias} already points to v{version}; nothing moved",
    )
    return {
        "name": name,
        "alias": alias,
        "version": version,
        "moved": record is not None,
        "ledger": record.to_dict() if record else None,
    }


def clear_challenger(ws: Workspace, name: str, *, reason: str, actor: str) -> dict[str, Any]:
    """Retire the challenger by hand (``ct models challenger clear``): one ``retirement`` ledger row and
    an alert; nothing when there is no challenger."""
    if not reason.strip():
        raise RegistryError("clearing the challenger needs a reason (--reason TEXT); it is written to the ledger")
    record = ws.meta.clear_alias(name, CHALLENGER, reason, {"manual": True}, actor)
    _refresh_reports(ws, record)
    _alert_move(ws, record)
    progress(
        "promote",
        f"{name} challenger v{record.to_version} retired by {actor}: {reason}"
        if record
        else f"{name} has no challenger; nothing cleared",
    )
    return {
        "name": name,
        "alias": CHALLENGER,
        "version": record.to_version if record else None,
        "moved": record is not None,
        "ledger": record.to_dict() if record else None,
    }


def rollback_alias(ws: Workspace, name: str, *, reason: str, actor: str, alias: str = CHAMPION) -> dict[str, Any]:
    """Move ``alias`` back to where it was before its latest move (one transaction, one ledger row).

    The target's artifact is verified first; the move itself is guarded so it only happens if
    the target is still the one that was verified.
    """
    undone, target = ws.meta.rollback_target(name, alias)
    evidence = _verified(ws, ws.meta.get_model_version(name, target), "rolling back to")
    record = ws.meta.rollback_alias(
        name, alias, reason or f"rollback of ledger row {undone.id}", actor, expect_version=target, evidence=evidence
    )
    _refresh_reports(ws, record)
    _alert_move(ws, record)
    progress("rollback", f"{name} {alias} v{record.from_version} -> v{record.to_version} by {actor}: {record.reason}")
    return {"name": name, "alias": alias, "version": target, "moved": True, "ledger": record.to_dict()}
