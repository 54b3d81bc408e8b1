"""Typed stage contracts and their JSON form: the one place a task boundary is crossed.

Every stage a DAG task calls takes and returns frozen dataclasses with named fields (the
contracts: :class:`~pipeline.app.stages.plan.TrainingPlan`, ``ValidationOutcome``,
``FittedCandidate``, ...). Airflow hands values between tasks as JSON (XCom), so each contract
mixes in :class:`Contract`, whose ``to_json`` turns it, its nested contracts and its tuples into
plain dicts and lists, and whose ``from_json`` rebuilds it from its field types. The Airflow glue
calls :func:`call_stage`, which converts a stage's JSON arguments to the contract types its
signature names and its result back to JSON, so no DAG file indexes into a dict it was handed.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self, Union


class Contract:
    """Mixin for a frozen dataclass passed between tasks: JSON out, JSON back in."""

    def to_json(self) -> dict[str, Any]:
        """This value as JSON-ready data: nested contracts as dicts, tuples as lists."""
        return typing.cast(dict[str, Any], to_json(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """The contract ``data`` describes (what :meth:`to_json` made); unknown keys are an error."""
        return typing.cast(Self, from_json(cls, data))


def to_json(value: Any) -> Any:
    """``value`` with every dataclass turned into a dict and every tuple into a list, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    return value


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """The resolved annotation of each field of dataclass ``cls`` (string annotations evaluated once)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def from_json(tp: Any, value: Any) -> Any:
    """``value`` (JSON data) converted to type ``tp``: contracts rebuilt, sequences made tuples or lists.

    A value that already has the contract type passes through, so a stage can be called in-process
    with contracts and through a task with their JSON alike.
    """
    if tp is Any or value is None:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return from_json(options[0], value) if len(options) == 1 else value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"{tp.__name__} expects a JSON object, got {type(value).__name__}")
        fields = _field_types(tp)
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise TypeError(f"{tp.__name__} has no field(s) {unknown}; it has {sorted(fields)}")
        return tp(**{name: from_json(fields[name], v) for name, v in value.items()})
    if origin is tuple:
        args = typing.get_args(tp)
        item = args[0] if args else Any
        return tuple(from_json(item, v) for v in value)
    if origin in (list, Sequence):
        args = typing.get_args(tp)
        converted = [from_json(args[0] if args else Any, v) for v in value]
        return tuple(converted) if origin is Sequence else converted
    return value


def call_stage(fn: Callable[..., Any], ws: Any, *args: Any, **kwargs: Any) -> Any:
    """Call stage ``fn(ws, *args, **kwargs)`` with JSON arguments turned into the contracts its
    signature names, and return its result as JSON (what a task hands to the next through XCom)."""
    bound = inspect.signature(fn).bind(ws, *args, **kwargs)
    hints = typing.get_type_hints(fn)
    first = next(iter(bound.arguments))
    for name, value in list(bound.arguments.items()):
        if name != first and name in hints:
            bound.arguments[name] = from_json(hints[name], value)
    return to_json(fn(*bound.args, **bound.kwargs))
