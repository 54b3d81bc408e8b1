"""Pure rules of the registry: derived semantic versions and what a rollback goes back to.

Both are plain functions of registry data so they are tested without a database, and the SQL
store calls them inside the transaction that allocates the version or moves the alias.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import RegistryError
from pipeline.core.hashing import canonical_json
from pipeline.registry.base import PromotionRecord

FIRST_SEMVER = "1.0.0"
PROMOTION = "promotion"
ROLLBACK = "rollback"
RETIREMENT = "retirement"
"""A ledger row that cleared an alias (``from_version`` = ``to_version`` = the version it left)."""


@dataclass(frozen=True)
class VersionInputs:
    """What the derived semantic version looks at: feature schema, data and hyperparameters."""

    snapshot_id: str
    spec_name: str
    params: dict[str, Any]
    feature_schema: Sequence[Sequence[str]] | None  # None: unknown (a version migrated from schema v1)


@dataclass(frozen=True)
class SemverBump:
    semver: str
    part: str  # "first", "major", "minor" or "patch"
    reason: str


def _canonical(value: Any) -> str:
    # Round-trip through JSON so tuples and lists, and a stored row and a fresh dict, compare equal.
    return canonical_json(json.loads(json.dumps(value, default=str)), compact=False)


def parse_semver(text: str) -> tuple[int, int, int]:
    """``"1.2.3"`` -> ``(1, 2, 3)``; anything else is a :class:`RegistryError`."""
    try:
        major, minor, patch = (int(p) for p in text.split("."))
    except (AttributeError, ValueError):
        raise RegistryError(f"{text!r} is not a semantic version like 1.2.3") from None
    return major, minor, patch


def derive_semver(previous_semver: str | None, previous: VersionInputs | None, new: VersionInputs) -> SemverBump:
    """The semantic version of ``new`` given the previous version of the same model.

    major: the feature schema changed (compared only when both are known); minor: the data
    (snapshot) or the hyperparameters (spec or params) changed; patch: a retrain of the same
    inputs (e.g. another code version or a config change outside the model).
    """
    if previous is None or not previous_semver:
        return SemverBump(FIRST_SEMVER, "first", "first version of this model")
    major, minor, patch = parse_semver(previous_semver)
    if (
        previous.feature_schema is not None
        and new.feature_schema is not None
        and _canonical(previous.feature_schema) != _canonical(new.feature_schema)
    ):
        before = {c[0]: c[1] for c in previous.feature_schema}
        after = {c[0]: c[1] for c in new.feature_schema}
        changed = sorted(set(before) ^ set(after) | {k for k in set(before) & set(after) if before[k] != after[k]})
        return SemverBump(
            f"{major + 1}.0.0", "major", f"feature schema changed: {', '.join(changed) or 'column order'}"
        )
    why = []
    if previous.snapshot_id != new.snapshot_id:
        why.append(f"data changed (snapshot {previous.snapshot_id} -> {new.snapshot_id})")
    if previous.spec_name != new.spec_name or _canonical(previous.params) != _canonical(new.params):
        why.append("hyperparameters changed")
    if why:
        return SemverBump(f"{major}.{minor + 1}.0", "minor", "; ".join(why))
    return SemverBump(f"{major}.{minor}.{patch + 1}", "patch", "retrain of the same data and hyperparameters")


@dataclass(frozen=True)
class RollbackTarget:
    """Where a rollback of one alias goes: the move it undoes and the version before that move."""

    undone: PromotionRecord
    version: int


def rollback_target(history: Sequence[PromotionRecord], name: str, alias: str) -> RollbackTarget:
    """The version ``alias`` pointed to before its latest move that was not itself rolled back.

    Ledger rows of kind ``promotion`` push a move onto a stack and ``rollback`` rows pop one, so
    repeated rollbacks walk back through the champions (3 -> 2 -> 1) instead of flipping between
    the last two. ``history`` is the alias's ledger, oldest first.
    """
    stack: list[PromotionRecord] = []
    cleared: PromotionRecord | None = None
    for row in history:
        if row.alias != alias:
            continue
        cleared = row if row.kind == RETIREMENT else None
        if row.kind == RETIREMENT:
            stack = []  # a cleared alias starts a new history: its next move comes from nothing
        elif row.kind == ROLLBACK:
            if stack:
                stack.pop()
        else:
            stack.append(row)
    if cleared is not None:
        raise RegistryError(
            f"{alias!r} of {name!r} was cleared (v{cleared.to_version} retired, ledger row {cleared.id}: "
            f"{cleared.reason}); there is no move to roll back. Set it again with "
            f"`ct models promote {name} VERSION --alias {alias} --reason ...`"
        )
    if not history or not any(r.alias == alias for r in history):
        raise RegistryError(
            f"model {name!r} has never had a {alias!r} alias; nothing to roll back. "
            f"Choose a version with `ct models promote {name} VERSION --reason ...`"
        )
    if not stack or stack[-1].from_version is None:
        first = stack[-1].to_version if stack else history[0].to_version
        raise RegistryError(
            f"{alias!r} of {name!r} is at its first version in the ledger (v{first}); there is no "
            f"earlier {alias} to roll back to. Choose a version with "
            f"`ct models promote {name} VERSION --reason ...`"
        )
    return RollbackTarget(undone=stack[-1], version=int(stack[-1].from_version))
