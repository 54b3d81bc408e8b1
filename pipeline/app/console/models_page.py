"""The console's model pages: every version of a model, one version's lineage, two side by side.

The models page reads the versions and the promotion ledger once each (no store call per
version, so it stays fast with hundreds of versions) and shows the champion, every version with
its primary metric and 95% interval, the metric's history across versions, the ledger, and the
forms that promote a version or roll the champion back. A version's page follows its lineage
(``pipeline.data.model_lineage``) from what triggered it to the validation of the data it was
trained on; its full model report is served over HTTP by ``report_html``. The comparison page
puts two versions side by side with their paired difference (``pipeline.app.model_compare``),
or, when they were trained on different data, the difference promotion recorded between them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.app.console.html import render_page
from pipeline.app.console.links import Links
from pipeline.app.console.run_links import TRAIN_DAG
from pipeline.app.console.stored import number
from pipeline.app.model_compare import compare_versions
from pipeline.app.workspace import Workspace
from pipeline.core.errors import CTError, NotFound, RegistryError
from pipeline.core.metric_names import higher_is_better
from pipeline.data.model_lineage import model_lineage
from pipeline.registry.base import CHAMPION, ModelVersion, PromotionRecord
from pipeline.registry.versioning import rollback_target
from pipeline.reporting.plots import VersionPoint, version_history_svg
from pipeline.reporting.templating import fmt

SHORT_REASON = 90
"""Characters of a decision's reason shown in the versions table (the whole of it on hover)."""


# -- the pieces the pages share ---------------------------------------------------------------


@dataclass(frozen=True)
class MetricValue:
    """One metric of one version: its holdout value and 95% interval (None: not recorded)."""

    name: str
    value: float | None
    lower: float | None = None
    upper: float | None = None
    n: int | None = None
    reliable: bool | None = None
    """False when the interval comes from too few rows to trust."""
    higher_is_better: bool = True


@dataclass(frozen=True)
class Trigger:
    """What started the training run that made a version."""

    kind: str | None
    reason: str
    user: str | None
    dag_id: str | None
    """The DAG of the run (``ct_train`` when the trigger names a run but not its DAG)."""
    run_id: str | None
    run_type: str | None


@dataclass(frozen=True)
class NameValue:
    """A named value shown as text (a hyperparameter, a package version)."""

    name: str
    value: str


@dataclass(frozen=True)
class LedgerRow:
    """One move of an alias: a promotion (by policy or by hand) or a rollback."""

    id: int
    created_at: str
    kind: str
    alias: str
    from_version: int | None
    to_version: int
    actor: str
    reason: str


def _higher(metric: str) -> bool:
    """Which way ``metric`` is better; a name the pipeline does not know is taken as higher."""
    try:
        return higher_is_better(metric)
    except KeyError:
        return True


def _metric(name: str, stored: Any) -> MetricValue:
    """A stored metric (an estimate dict, or a bare number in old versions) as a ``MetricValue``."""
    if isinstance(stored, Mapping):
        n = stored.get("n")
        reliable = stored.get("reliable")
        return MetricValue(
            name,
            number(stored.get("value")),
            number(stored.get("lower")),
            number(stored.get("upper")),
            int(n) if isinstance(n, int) else None,
            reliable if isinstance(reliable, bool) else None,
            _higher(name),
        )
    return MetricValue(name, number(stored), higher_is_better=_higher(name))


def _trigger(raw: Mapping[str, Any] | None) -> Trigger:
    t = raw or {}
    run_id = t.get("run_id") or None
    return Trigger(
        kind=t.get("kind") or None,
        reason=str(t.get("reason") or ""),
        user=t.get("user") or None,
        dag_id=(t.get("dag_id") or TRAIN_DAG) if run_id else None,  # versions are registered by ct_train
        run_id=run_id,
        run_type=t.get("run_type") or None,
    )


def _ledger_row(r: PromotionRecord) -> LedgerRow:
    return LedgerRow(r.id, r.created_at, r.kind, r.alias, r.from_version, r.to_version, r.actor, r.reason)


def _text(value: Any) -> str:
    """A parameter value as it reads in a table: numbers and strings as they are, lists compact."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)  # 1.0 stays 1.0: the value as it was given
    if value is None or isinstance(value, bool | int):
        return json.dumps(value)
    return json.dumps(value, separators=(", ", ": "), default=str)


def _decision(mv: ModelVersion) -> tuple[bool | None, str]:
    d = mv.decision or {}
    promote = d.get("promote")
    return (promote if isinstance(promote, bool) else None), str(d.get("reason") or "")


# -- the models page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Champion:
    """The version the ``champion`` alias points to, and since when (its latest ledger move to it)."""

    version: int
    semver: str
    primary: MetricValue
    since: str | None
    since_kind: str | None
    """``promotion`` or ``rollback``: how it became champion."""


@dataclass(frozen=True)
class VersionRow:
    """One version in the models table."""

    version: int
    semver: str
    aliases: tuple[str, ...]
    spec_name: str
    primary: MetricValue
    trigger: Trigger
    snapshot_id: str
    created_at: str
    promoted: bool | None
    """The policy's decision when the version was trained (None: none recorded)."""
    decision_reason: str


@dataclass(frozen=True)
class RollbackOption:
    """What the rollback button would do: undo ledger row ``undoes`` and go back to ``to_version``."""

    undoes: int
    from_version: int
    to_version: int


@dataclass(frozen=True)
class ModelsView:
    """The models page: the champion, every version, the ledger and what a rollback would do."""

    model: str
    primary_metric: str
    higher_is_better: bool
    champion: Champion | None
    versions: tuple[VersionRow, ...]
    """Newest first."""
    ledger: tuple[LedgerRow, ...]
    """Newest first."""
    rollback: RollbackOption | None
    rollback_unavailable: str
    """Why there is nothing to roll back (empty when there is)."""


def _version_row(mv: ModelVersion, primary: str) -> VersionRow:
    promoted, reason = _decision(mv)
    return VersionRow(
        version=mv.version,
        semver=mv.semver,
        aliases=tuple(mv.aliases),
        spec_name=mv.spec_name,
        primary=_metric(primary, mv.metrics.get(primary)),
        trigger=_trigger(mv.trigger),
        snapshot_id=mv.snapshot_id,
        created_at=mv.created_at,
        promoted=promoted,
        decision_reason=reason,
    )


def build_models(ws: Workspace, model: str) -> ModelsView:
    """Every version of ``model`` with the champion, the ledger and what a rollback would do.

    Two store reads in all (the versions, the ledger), whatever the number of versions.
    """
    primary = ws.config.promotion.primary_metric
    versions = ws.meta.list_model_versions(model)
    history = ws.meta.promotion_history(model)
    rows = tuple(_version_row(mv, primary) for mv in sorted(versions, key=lambda mv: mv.version, reverse=True))
    champion = None
    row = next((r for r in rows if CHAMPION in r.aliases), None)
    if row is not None:
        move = next((r for r in reversed(history) if r.alias == CHAMPION and r.to_version == row.version), None)
        champion = Champion(
            row.version,
            row.semver,
            row.primary,
            move.created_at if move else None,
            move.kind if move else None,
        )
    rollback, why_not = None, ""
    if history:
        try:
            target = rollback_target(history, model, CHAMPION)
            rollback = RollbackOption(target.undone.id, target.undone.to_version, target.version)
        except RegistryError as err:
            why_not = str(err)
    else:
        why_not = "the champion has never moved"
    return ModelsView(
        model=model,
        primary_metric=primary,
        higher_is_better=_higher(primary),
        champion=champion,
        versions=rows,
        ledger=tuple(_ledger_row(r) for r in reversed(history)),
        rollback=rollback,
        rollback_unavailable=why_not,
    )


def render_models(view: ModelsView, links: Links) -> str:
    chart = None
    points = [
        VersionPoint(r.version, r.primary.value, r.primary.lower, r.primary.upper, CHAMPION in r.aliases)
        for r in view.versions
    ]
    if any(p.value is not None for p in points):
        direction = "" if view.higher_is_better else " (lower is better)"
        chart = version_history_svg(
            f"{view.primary_metric} by version, with 95% intervals{direction}", view.primary_metric, points
        )
    candidates = [r for r in view.versions if CHAMPION not in r.aliases]  # promotable; newest first
    return render_page(
        "models.html.j2",
        links=links,
        title=f"Models · {view.model}",
        section="models",
        view=view,
        chart=chart,
        show=_columns(view.versions),
        candidates=candidates,
        other=candidates[0] if candidates else None,
        show_alias=any(r.alias != CHAMPION for r in view.ledger),
        short_reason=SHORT_REASON,
    )


def _columns(rows: Sequence[VersionRow]) -> dict[str, bool]:
    """Which optional columns of the versions table have something to show (no all-dash columns)."""
    return {
        "aliases": any(r.aliases for r in rows),
        "semver": any(r.semver for r in rows),
        "interval": any(r.primary.lower is not None for r in rows),
        "trigger": any(r.trigger.kind or r.trigger.run_id for r in rows),
        "decision": any(r.promoted is not None or r.decision_reason for r in rows),
    }


# -- one version --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotStep:
    id: str
    dataset: str | None
    rows: int | None
    created_at: str | None


@dataclass(frozen=True)
class PartStep:
    id: str
    rows: int | None
    source: str | None
    """The landing file the part came from."""


@dataclass(frozen=True)
class LandingFile:
    name: str
    sha256: str
    size: int | None
    parts: int
    archived: bool


@dataclass(frozen=True)
class CheckFailure:
    name: str
    severity: str | None
    message: str


@dataclass(frozen=True)
class ValidationStep:
    id: int
    passed: bool
    new_rows: int | None
    drifted_features: tuple[str, ...]
    label_contract_held: bool | None
    failed_checks: tuple[CheckFailure, ...]


@dataclass(frozen=True)
class DecisionCheck:
    name: str
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class VersionView:
    """One version's page: its decision, metrics, lineage chain and what reproduces it."""

    model: str
    version: int
    semver: str
    semver_reason: str
    aliases: tuple[str, ...]
    created_at: str
    primary_metric: str
    champion_version: int | None
    """The current champion (None: no champion), to compare with."""
    previous_version: int | None
    """The newest version before this one, to compare with when this one is the champion."""
    promoted: bool | None
    decision_reason: str
    decision_checks: tuple[DecisionCheck, ...]
    metrics: tuple[MetricValue, ...]
    """Holdout metrics with 95% intervals, the primary one first."""
    train_rows: int | None
    train_sampled_from: int | None
    """The training rows a capped fit sampled from (``model.max_train_rows``); None: not sampled."""
    holdout_rows: int | None
    trigger: Trigger
    snapshot: SnapshotStep
    parts: tuple[PartStep, ...]
    landing_files: tuple[LandingFile, ...]
    validation: ValidationStep | None
    config_hash: str
    config_path: str | None
    spec_name: str
    params: tuple[NameValue, ...]
    code_version: str
    environment: tuple[NameValue, ...]
    artifact_key: str
    artifact_sha256: str
    ledger: tuple[LedgerRow, ...]
    """The ledger rows that moved an alias to or from this version, newest first."""
    problems: tuple[str, ...]
    """Pieces of the lineage that could not be read."""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _validation_step(raw: Mapping[str, Any] | None) -> ValidationStep | None:
    if not raw:
        return None
    held = raw.get("label_contract_held")
    return ValidationStep(
        id=int(raw["id"]),
        passed=bool(raw.get("passed")),
        new_rows=_int(raw.get("new_rows")),
        drifted_features=tuple(str(f) for f in raw.get("drifted_features") or ()),
        label_contract_held=held if isinstance(held, bool) else None,
        failed_checks=tuple(
            CheckFailure(str(c.get("name")), c.get("severity"), str(c.get("message") or ""))
            for c in raw.get("failed_checks") or ()
        ),
    )


def _check_detail(check: Mapping[str, Any]) -> str:
    """A decision check in words: its message, or its numbers."""
    if check.get("message"):
        return str(check["message"])
    shown = {k: v for k, v in check.items() if k not in ("check", "passed") and v is not None}
    return ", ".join(f"{k.replace('_', ' ')} {fmt(v) if isinstance(v, float) else _text(v)}" for k, v in shown.items())


def _environment(env: Mapping[str, Any]) -> tuple[NameValue, ...]:
    out = [NameValue("python", str(env["python"]))] if env.get("python") else []
    packages = env.get("packages") or {}
    out.extend(NameValue(str(k), str(v)) for k, v in packages.items() if v)
    return tuple(out)


def build_version(ws: Workspace, model: str, version: int) -> VersionView:
    """One version: its decision, metrics and lineage chain (unknown versions raise ``NotFound``)."""
    primary = ws.config.promotion.primary_metric
    lin = model_lineage(ws, model, version)
    champion = ws.meta.get_alias(model, CHAMPION)
    mv_metrics = lin["evaluation"].get("holdout") or {}
    names = sorted(mv_metrics, key=lambda m: m != primary)  # the primary first, the rest as stored
    decision = lin.get("decision") or {}
    promote = decision.get("promote")
    snapshot = lin.get("snapshot") or {}
    parts = lin.get("parts") or []
    previous = None
    if version > 1:  # numbers are allocated one after the other and never reused
        try:
            previous = ws.meta.get_model_version(model, version - 1).version
        except NotFound:
            previous = None
    return VersionView(
        model=model,
        version=version,
        semver=str(lin.get("semver") or ""),
        semver_reason=str(lin.get("semver_reason") or ""),
        aliases=tuple(lin.get("aliases") or ()),
        created_at=str(lin.get("created_at") or ""),
        primary_metric=primary,
        champion_version=champion.version if champion else None,
        previous_version=previous,
        promoted=promote if isinstance(promote, bool) else None,
        decision_reason=str(decision.get("reason") or ""),
        decision_checks=tuple(
            DecisionCheck(
                str(c.get("check")),
                c["passed"] if isinstance(c.get("passed"), bool) else None,
                _check_detail(c),
            )
            for c in decision.get("checks") or ()
        ),
        metrics=tuple(_metric(m, mv_metrics[m]) for m in names),
        train_rows=_int(lin["evaluation"].get("train_rows")),
        train_sampled_from=_int(((lin["evaluation"].get("split") or {}).get("training_sample") or {}).get("from_rows")),
        holdout_rows=_int(lin["evaluation"].get("holdout_rows")),
        trigger=_trigger(lin.get("trigger")),
        snapshot=SnapshotStep(
            id=str(snapshot.get("id")),
            dataset=snapshot.get("dataset"),
            rows=_int(snapshot.get("rows")),
            created_at=snapshot.get("created_at"),
        ),
        parts=tuple(
            PartStep(str(p.get("id")), _int(p.get("rows")), (p.get("source") or {}).get("name")) for p in parts
        ),
        landing_files=tuple(
            LandingFile(
                name=str(f.get("name")),
                sha256=str(f.get("sha256")),
                size=_int(f.get("size")),
                parts=len(f.get("part_ids") or ()),
                archived=bool(f.get("archived_path")),
            )
            for f in lin.get("landing_files") or ()
        ),
        validation=_validation_step(lin.get("validation")),
        config_hash=str(lin.get("config_hash") or ""),
        config_path=lin.get("config_path"),
        spec_name=str(lin.get("spec_name") or ""),
        params=tuple(NameValue(str(k), _text(v)) for k, v in (lin.get("params") or {}).items()),
        code_version=str(lin.get("code_version") or ""),
        environment=_environment(lin.get("environment") or {}),
        artifact_key=str(lin["artifact"].get("key") or ""),
        artifact_sha256=str(lin["artifact"].get("sha256") or ""),
        ledger=tuple(
            LedgerRow(
                r["id"],
                r["created_at"],
                r.get("kind", "promotion"),
                r["alias"],
                r.get("from_version"),
                r["to_version"],
                r["actor"],
                r["reason"],
            )
            for r in reversed(lin.get("ledger") or [])
        ),
        problems=tuple(str(p) for p in lin.get("problems") or ()),
    )


def render_version(view: VersionView, links: Links) -> str:
    return render_page(
        "version.html.j2",
        links=links,
        title=f"{view.model} v{view.version}",
        section="models",
        view=view,
        part_rows=sum(p.rows or 0 for p in view.parts),
    )


def report_html(ws: Workspace, model: str, version: int) -> str:
    """The version's full model report, rendered now (so its aliases are the current ones)."""
    from pipeline.reporting.pages import render_model_html

    return render_model_html(ws.meta.get_model_version(model, version))


# -- two versions side by side ------------------------------------------------------------------


@dataclass(frozen=True)
class CompareSide:
    version: int
    semver: str
    aliases: tuple[str, ...]
    snapshot_id: str
    spec_name: str
    config_hash: str
    trigger_kind: str | None
    created_at: str
    holdout_rows: int | None
    promoted: bool | None
    decision_reason: str


@dataclass(frozen=True)
class CompareMetric:
    name: str
    a: MetricValue
    b: MetricValue


@dataclass(frozen=True)
class ParamDiff:
    name: str
    a: str
    b: str


@dataclass(frozen=True)
class PairedDifference:
    """``b`` against ``a`` on the same holdout rows: positive means ``b`` is better."""

    metric: str
    a_value: float | None
    b_value: float | None
    difference: float | None
    lower: float | None
    upper: float | None
    prob_b_better: float | None
    confidence: float | None
    holdout_rows: int | None
    source: str
    """Where the numbers come from: scored now, or recorded when one was evaluated against the other."""
    verdict: str
    """Which is better, or that the interval cannot tell."""
    better: str | None
    """``a``, ``b`` or None (the interval includes zero)."""


@dataclass(frozen=True)
class CompareView:
    """Two versions side by side; ``a`` and ``b`` are None (and ``message`` says why) when there are not two."""

    model: str
    primary_metric: str
    versions: tuple[int, ...]
    """Every version of the model, newest first (for the picker)."""
    a: CompareSide | None
    b: CompareSide | None
    message: str
    """Why there is nothing to compare (empty when there is)."""
    metrics: tuple[CompareMetric, ...] = ()
    params_differ: tuple[ParamDiff, ...] = ()
    same_snapshot: bool = False
    paired: PairedDifference | None = None
    paired_unavailable: str = ""


def _side(mv: ModelVersion) -> CompareSide:
    promoted, reason = _decision(mv)
    return CompareSide(
        mv.version,
        mv.semver,
        tuple(mv.aliases),
        mv.snapshot_id,
        mv.spec_name,
        mv.config_hash,
        (mv.trigger or {}).get("kind"),
        mv.created_at,
        _int(mv.evaluation.get("holdout_rows")),
        promoted,
        reason,
    )


def _verdict(
    a: int, b: int, lower: float | None, upper: float | None, confidence: float | None
) -> tuple[str, str | None]:
    level = f"{confidence:.0%}" if confidence else "the"
    if lower is None or upper is None:
        return "no interval, so neither can be called better", None
    if lower > 0:
        return f"v{b} is better: the {level} interval of the difference lies above zero", "b"
    if upper < 0:
        return f"v{a} is better: the {level} interval of the difference lies below zero", "a"
    return f"no clear difference: the {level} interval of the difference includes zero", None


def _recorded_paired(a: ModelVersion, b: ModelVersion, metric: str) -> PairedDifference | None:
    """The paired difference promotion recorded when one of the two was evaluated against the other.

    The evaluation of a challenger scores the then champion on the challenger's holdout; the
    recorded difference is challenger minus champion (positive: challenger better), flipped here
    when the challenger is ``a``.
    """
    for challenger, other, flip in ((b, a, False), (a, b, True)):
        recorded = challenger.evaluation.get("champion") or {}
        cmp = recorded.get("comparison") or {}
        if recorded.get("version") != other.version or cmp.get("metric") != metric:
            continue
        diff, lower, upper = number(cmp.get("difference")), number(cmp.get("lower")), number(cmp.get("upper"))
        prob = number(cmp.get("prob_challenger_better"))
        chall, champ = number(cmp.get("challenger")), number(cmp.get("champion"))
        if flip:
            diff = -diff if diff is not None else None
            lower, upper = (-upper if upper is not None else None), (-lower if lower is not None else None)
            prob = 1 - prob if prob is not None else None
            chall, champ = champ, chall
        confidence = number((challenger.evaluation.get("bootstrap") or {}).get("confidence"))
        verdict, better = _verdict(a.version, b.version, lower, upper, confidence)
        return PairedDifference(
            metric=metric,
            a_value=champ,
            b_value=chall,
            difference=diff,
            lower=lower,
            upper=upper,
            prob_b_better=prob,
            confidence=confidence,
            holdout_rows=_int(challenger.evaluation.get("holdout_rows")),
            source=(
                f"recorded when v{challenger.version} was evaluated against the then champion v{other.version}: "
                f"both scored on v{challenger.version}'s holdout"
            ),
            verdict=verdict,
            better=better,
        )
    return None


def build_compare(ws: Workspace, model: str, a: int | None, b: int | None) -> CompareView:
    """Versions ``a`` and ``b`` side by side (defaults: the champion, and the newest other version)."""
    primary = ws.config.promotion.primary_metric
    versions = {mv.version: mv for mv in ws.meta.list_model_versions(model)}
    numbers = tuple(sorted(versions, reverse=True))

    def empty(message: str) -> CompareView:
        return CompareView(model, primary, numbers, None, None, message)

    for wanted in (a, b):
        if wanted is not None and wanted not in versions:
            raise NotFound(f"model {model!r} has no version {wanted}; its versions are {_listing(numbers)}")
    if not versions:
        return empty(f"{model} has no versions yet, so there is nothing to compare.")
    if a is None:
        champion = next((mv.version for mv in versions.values() if CHAMPION in mv.aliases), None)
        a = champion if champion is not None and champion != b else next((n for n in numbers if n != b), None)
    if b is None:
        b = next((n for n in numbers if n != a), None)
    if a is None or b is None:
        return empty(f"{model} has only one version (v{numbers[0]}); a comparison needs two.")
    mv_a, mv_b = versions[a], versions[b]
    if a == b:
        raw, why = _unpaired(mv_a, mv_b), f"both sides are v{a}; choose two different versions"
    else:
        try:
            raw = compare_versions(ws, mv_a, mv_b, primary)
            why = str(raw.get("paired_unavailable") or "")
        except CTError as err:  # their shared holdout could not be rebuilt (data or artifact unreadable)
            raw, why = _unpaired(mv_a, mv_b), f"their shared holdout could not be scored now: {err}"
    paired = _scored_paired(raw.get("paired"), a, b)
    if paired is None and a != b:  # not scorable now: what promotion recorded between the two, if anything
        paired = _recorded_paired(mv_a, mv_b, primary)
    names = sorted((m["metric"] for m in raw["metrics"]), key=lambda m: m != primary)
    by_name = {m["metric"]: m for m in raw["metrics"]}
    return CompareView(
        model=model,
        primary_metric=primary,
        versions=numbers,
        a=_side(mv_a),
        b=_side(mv_b),
        message="",
        metrics=tuple(CompareMetric(m, _metric(m, by_name[m]["a"]), _metric(m, by_name[m]["b"])) for m in names),
        params_differ=tuple(ParamDiff(k, _text(va), _text(vb)) for k, (va, vb) in sorted(raw["params_differ"].items())),
        same_snapshot=mv_a.snapshot_id == mv_b.snapshot_id,
        paired=paired,
        paired_unavailable=why,
    )


def _unpaired(a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    """The comparison without a paired difference, in ``compare_versions``'s shape."""
    names = list(dict.fromkeys([*a.metrics, *b.metrics]))
    keys = sorted({*a.params, *b.params})
    return {
        "metrics": [{"metric": m, "a": a.metrics.get(m), "b": b.metrics.get(m)} for m in names],
        "params_differ": {k: [a.params.get(k), b.params.get(k)] for k in keys if a.params.get(k) != b.params.get(k)},
        "paired": None,
    }


def _scored_paired(raw: Mapping[str, Any] | None, a: int, b: int) -> PairedDifference | None:
    if not raw:
        return None
    lower, upper = number(raw.get("lower")), number(raw.get("upper"))
    confidence = number(raw.get("confidence"))
    verdict, better = _verdict(a, b, lower, upper, confidence)
    return PairedDifference(
        metric=str(raw.get("metric")),
        a_value=number(raw.get("a")),
        b_value=number(raw.get("b")),
        difference=number(raw.get("difference")),
        lower=lower,
        upper=upper,
        prob_b_better=number(raw.get("prob_b_better")),
        confidence=confidence,
        holdout_rows=_int(raw.get("holdout_rows")),
        source="both artifacts scored now on the holdout they share (same snapshot, same split)",
        verdict=verdict,
        better=better,
    )


def _listing(numbers: Sequence[int]) -> str:
    if not numbers:
        return "none yet"
    shown = ", ".join(f"v{n}" for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


def render_compare(view: CompareView, links: Links) -> str:
    title = f"{view.model}: v{view.a.version} vs v{view.b.version}" if view.a and view.b else f"{view.model}: compare"
    return render_page(
        "compare.html.j2", links=links, title=title, section="models", view=view, higher=_higher(view.primary_metric)
    )
