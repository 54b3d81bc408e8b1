"""The registry's pure rules: derived semantic versions and the target of a rollback."""

from __future__ import annotations

import pytest

from pipeline.core.errors import RegistryError
from pipeline.registry.base import CHAMPION, PromotionRecord
from pipeline.registry.versioning import (
    PROMOTION,
    ROLLBACK,
    VersionInputs,
    derive_semver,
    parse_semver,
    rollback_target,
)

SCHEMA = [["customer_id", "string"], ["tenure", "double"], ["churned", "string"]]


def inputs(
    snapshot: str = "s1", spec: str = "default", params: dict | None = None, schema: list | None = SCHEMA
) -> VersionInputs:
    return VersionInputs(snapshot, spec, {"C": 1.0, "seed": 7} if params is None else params, schema)


# -- semantic versions -----------------------------------------------------------------------------
def test_first_version_is_1_0_0() -> None:
    bump = derive_semver(None, None, inputs())
    assert (bump.semver, bump.part) == ("1.0.0", "first")


@pytest.mark.parametrize(
    "new, expected, part",
    [
        (inputs(snapshot="s2"), "1.3.0", "minor"),  # new data
        (inputs(params={"C": 0.5, "seed": 7}), "1.3.0", "minor"),  # other hyperparameters
        (inputs(spec="gbm"), "1.3.0", "minor"),  # other model spec
        (inputs(), "1.2.5", "patch"),  # same inputs retrained
        (inputs(schema=[*SCHEMA, ["region", "string"]]), "2.0.0", "major"),  # a new column
        (inputs(schema=[["customer_id", "string"], ["tenure", "string"], ["churned", "string"]]), "2.0.0", "major"),
        (inputs(snapshot="s2", schema=SCHEMA[:2]), "2.0.0", "major"),  # schema wins over data
    ],
)
def test_bumps_follow_what_changed(new: VersionInputs, expected: str, part: str) -> None:
    bump = derive_semver("1.2.4", inputs(), new)
    assert (bump.semver, bump.part) == (expected, part)


def test_reasons_name_what_changed() -> None:
    assert (
        "tenure" in derive_semver("1.0.0", inputs(), inputs(schema=[SCHEMA[0], ["tenure", "string"], SCHEMA[2]])).reason
    )
    assert "region" in derive_semver("1.0.0", inputs(), inputs(schema=[*SCHEMA, ["region", "string"]])).reason
    both = derive_semver("1.0.0", inputs(), inputs(snapshot="s9", params={"C": 2.0})).reason
    assert "data changed (snapshot s1 -> s9)" in both and "hyperparameters changed" in both


def test_equal_params_in_other_container_types_are_not_a_change() -> None:
    """A stored row gives lists and a fresh dict may hold tuples; key order does not matter either."""
    before = inputs(params={"layers": [8, 4], "C": 1.0}, schema=[tuple(c) for c in SCHEMA])
    after = inputs(params={"C": 1.0, "layers": (8, 4)})
    assert derive_semver("3.1.0", before, after).semver == "3.1.1"


def test_unknown_schema_never_counts_as_a_change() -> None:
    """Versions migrated from schema v1 have no recorded feature schema."""
    assert derive_semver("1.4.0", inputs(schema=None), inputs()).semver == "1.4.1"
    assert derive_semver("1.4.0", inputs(), inputs(schema=None, snapshot="s2")).semver == "1.5.0"


def test_parse_semver() -> None:
    assert parse_semver("10.2.33") == (10, 2, 33)
    for bad in ("1.2", "a.b.c", "", "1.2.3.4"):
        with pytest.raises(RegistryError, match="semantic version"):
            parse_semver(bad)


# -- rollback target -------------------------------------------------------------------------------
def ledger(*moves: tuple[int | None, int, str], alias: str = CHAMPION) -> list[PromotionRecord]:
    return [
        PromotionRecord(
            id=i + 1,
            name="m",
            alias=alias,
            from_version=f,
            to_version=to,
            reason="r",
            evidence={},
            actor="a",
            created_at="",
            kind=kind,
        )
        for i, (f, to, kind) in enumerate(moves)
    ]


def test_rollback_goes_to_the_previous_champion() -> None:
    target = rollback_target(ledger((None, 1, PROMOTION), (1, 2, PROMOTION), (2, 3, PROMOTION)), "m", CHAMPION)
    assert (target.version, target.undone.id) == (2, 3)


def test_repeated_rollbacks_walk_back_instead_of_flipping() -> None:
    history = ledger((None, 1, PROMOTION), (1, 2, PROMOTION), (2, 3, PROMOTION), (3, 2, ROLLBACK))
    target = rollback_target(history, "m", CHAMPION)
    assert (target.version, target.undone.id) == (1, 2)


def test_a_promotion_after_a_rollback_is_what_the_next_rollback_undoes() -> None:
    history = ledger((None, 1, PROMOTION), (1, 2, PROMOTION), (2, 1, ROLLBACK), (1, 3, PROMOTION))
    target = rollback_target(history, "m", CHAMPION)
    assert (target.version, target.undone.id) == (1, 4)


def test_a_manual_move_back_is_an_ordinary_move() -> None:
    """A move recorded as a promotion (as every v1 ledger row is) is undone like any other."""
    history = ledger((None, 1, PROMOTION), (1, 2, PROMOTION), (2, 1, PROMOTION))
    assert rollback_target(history, "m", CHAMPION).version == 2


def test_other_aliases_are_ignored() -> None:
    history = ledger((None, 1, PROMOTION), (1, 2, PROMOTION)) + ledger((None, 5, PROMOTION), alias="challenger")
    history = [PromotionRecord(**{**r.to_dict(), "id": i}) for i, r in enumerate(history, 1)]
    assert rollback_target(history, "m", CHAMPION).version == 1
    with pytest.raises(RegistryError, match="first version"):
        rollback_target(history, "m", "challenger")


def test_nothing_to_roll_back_to() -> None:
    with pytest.raises(RegistryError, match="never had a 'champion' alias") as never:
        rollback_target([], "m", CHAMPION)
    assert "ct models promote m VERSION" in str(never.value)
    with pytest.raises(RegistryError, match=r"first version in the ledger \(v1\)"):
        rollback_target(ledger((None, 1, PROMOTION)), "m", CHAMPION)
    with pytest.raises(RegistryError, match="no earlier champion"):
        rollback_target(ledger((None, 1, PROMOTION), (1, 2, PROMOTION), (2, 1, ROLLBACK)), "m", CHAMPION)
