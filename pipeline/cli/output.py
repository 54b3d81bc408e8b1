"""Shared output helpers: plain tables for people, stable JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

from pipeline.core.settings import Settings


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain fixed-width text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def snapshot_json(rec: Any) -> dict[str, Any]:
    return {
        "id": rec.id,
        "parent": rec.parent,
        "rows": rec.rows,
        "created_at": rec.created_at,
        "dataset": rec.dataset,
        "parts": rec.parts,
        "manifest_uri": rec.manifest_uri,
    }


def model_json(mv: Any, full: bool = False) -> dict[str, Any]:
    d = {
        "name": mv.name,
        "version": mv.version,
        "aliases": list(mv.aliases),
        "snapshot_id": mv.snapshot_id,
        "metrics": mv.metrics,
        "created_at": mv.created_at,
        "trigger": mv.trigger,
        "spec_name": mv.spec_name,
        "config_hash": mv.config_hash,
        "code_version": mv.code_version,
        "artifact_uri": mv.artifact_uri,
        "artifact_sha256": mv.artifact_sha256,
        "validation_id": mv.validation_id,
        "decision": mv.decision,
    }
    if full:
        d.update({"params": mv.params, "evaluation": mv.evaluation, "lineage": mv.lineage})
    return d


def fmt_number(x: float | None, fmt: str = ".3f") -> str:
    """A number for a table; undefined values (stored as null) show as an em dash."""
    return "—" if x is None else format(x, fmt)


def fmt_metric(m: dict[str, Any] | None) -> str:
    """``value [lower, upper]``; any undefined part shows as an em dash; an interval from too few
    rows (``reliable`` false, see ``pipeline.modeling.metrics.is_reliable``) ends in ``(unreliable, n=…)``."""
    if not m:
        return "—"
    text = f"{fmt_number(m.get('value'))} [{fmt_number(m.get('lower'))}, {fmt_number(m.get('upper'))}]"
    return text + (f" (unreliable, n={m.get('n')})" if m.get("reliable") is False else "")


def fmt_decision(decision: dict[str, Any] | None) -> str:
    """A version's promotion verdict in a few words; a refusal on thin evidence says why."""
    if not decision:
        return "—"
    if decision.get("promote"):
        return "promoted (by hand)" if decision.get("forced") else "promoted"
    thin = decision.get("thin_evidence") or []
    if not thin:
        return "not promoted"
    return f"not promoted: {thin[0]}" + (f" (+{len(thin) - 1} more)" if len(thin) > 1 else "")


def fmt_value(value: Any) -> str:
    """One value for people: numbers with 4 significant digits, lists comma-separated, never cut short."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, ".4g")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + fmt_fields(value) + "}"
    return str(value)


def fmt_fields(data: dict[str, Any] | None, skip: tuple[str, ...] = ()) -> str:
    """``key=value`` pairs of a mapping, nested mappings flattened as ``outer.inner=value``.

    Stored dicts (params, triggers, lineage, candidates) printed this way stay readable, and a
    long one wraps in the terminal instead of being cut in the middle of a number.
    """
    if not data:
        return "—"
    out: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            out.append(f"{prefix}={fmt_value(value)}")

    for key, value in data.items():
        if key not in skip:
            walk(str(key), value)
    return ", ".join(out) or "—"


def fmt_trigger(trigger: dict[str, Any] | None) -> str:
    """Why a version was trained, in words: kind, reason, DAG run, who, and any evidence as fields."""
    if not trigger:
        return "—"
    parts = [str(trigger.get("kind") or "unknown")]
    if trigger.get("reason"):
        parts.append(f"reason {trigger['reason']!r}")
    if trigger.get("dag_id") or trigger.get("run_id"):
        parts.append(
            (
                f"dag run {trigger['dag_id']}/{trigger.get('run_id') or '?'}"
                if trigger.get("dag_id")
                else f"run {trigger['run_id']}"
            )
            + (f" ({trigger['run_type']})" if trigger.get("run_type") else "")
        )
    if trigger.get("user"):
        parts.append(f"by {trigger['user']}")
    rest = {
        k: v
        for k, v in trigger.items()
        if k not in ("kind", "reason", "dag_id", "run_id", "run_type", "user") and v not in (None, "", {}, [])
    }
    if rest:
        parts.append(fmt_fields(rest))
    return "; ".join(parts)


def ct_command() -> str:
    """How to type ``ct`` in a hint so that it works as printed.

    Plain ``ct`` when the ``ct`` on the PATH is this interpreter's; else the virtualenv's script
    (``.venv/bin/ct`` relative to the working directory when it lies below it, as the README
    shows); else ``python -c`` on this interpreter.
    """
    import shlex
    import shutil
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "ct"
    on_path = shutil.which("ct")
    if script.exists():
        if on_path and Path(on_path).resolve() == script.resolve():
            return "ct"
        try:
            return shlex.quote(str(script.relative_to(Path.cwd())))
        except ValueError:
            return shlex.quote(str(script))
    if on_path:
        return "ct"
    return f"{shlex.quote(sys.executable)} -c 'import sys; from pipeline.cli import main; sys.exit(main())'"


def open_workspace_for(settings: Settings) -> Any:
    """The workspace of these settings (config loaded, stores opened lazily)."""
    from pipeline.app.workspace import open_workspace

    return open_workspace(settings)
