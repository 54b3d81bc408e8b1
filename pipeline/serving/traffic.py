"""Which model answers a request row: the champion, or in canary mode the challenger for a share of entities.

Assignment is a pure function of (model, challenger version, entity): the SHA-256 of
``<model>:<version>:<entity>`` read as a number in [0, 1) is below ``share`` or not. So one entity
always sees the same model while a challenger is served, without any state in the service, and a
new challenger version draws a fresh sample of entities. The entity is the request field named by
``serving.entity_column``, else the dataset's id columns joined (as the label join keys rows),
else the request id (each request then draws on its own).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.data.live_inputs import KEY_SEPARATOR

_SCALE = float(1 << 64)


def assignment_point(model_name: str, challenger_version: int, entity: str) -> float:
    """Where ``entity`` falls in [0, 1) for this challenger; uniform over entities."""
    digest = hashlib.sha256(f"{model_name}:{challenger_version}:{entity}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def to_challenger(model_name: str, challenger_version: int, entity: str, share: float) -> bool:
    """True when a canary sends ``entity`` to the challenger."""
    return assignment_point(model_name, challenger_version, entity) < share


@dataclass(frozen=True)
class EntityRule:
    """How a request row names its entity: one field, or the id columns joined."""

    columns: tuple[str, ...]

    def entities(
        self, rows: Sequence[Mapping[str, object]], ids: Mapping[str, list[str]], request_id: str
    ) -> list[str]:
        """One entity id per row (the request id when the row names none)."""
        if not self.columns:
            return [request_id] * len(rows)
        if all(c in ids for c in self.columns):
            if len(self.columns) == 1:
                return list(ids[self.columns[0]])
            return [KEY_SEPARATOR.join(parts) for parts in zip(*(ids[c] for c in self.columns))]
        out = []
        for row in rows:
            values = [row.get(c) for c in self.columns]
            if any(v is None or isinstance(v, dict | list) for v in values):
                out.append(request_id)
            else:
                out.append(KEY_SEPARATOR.join(str(v) for v in values))
        return out


def entity_rule(entity_column: str | None, id_columns: Sequence[str]) -> EntityRule:
    """``serving.entity_column`` when set, else the dataset's id columns (may be none)."""
    return EntityRule((entity_column,) if entity_column else tuple(id_columns))
