"""`ct models`: search, inspect, trace, verify, tag, promote and roll back model versions.

Read commands (list, show, history, lineage, verify) take ``--json`` and then print stable field
names only. Alias moves (promote, rollback) are one transaction each and write a ledger row
whose actor is ``--actor`` or the OS user running the command.
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from pipeline.cli.output import (
    emit_json,
    fmt_decision,
    fmt_fields,
    fmt_metric,
    fmt_number,
    fmt_trigger,
    fmt_value,
    model_json,
    open_workspace_for,
    table,
)
from pipeline.core.errors import CTError
from pipeline.core.metric_names import higher_is_better
from pipeline.core.settings import Settings
from pipeline.registry.base import CHALLENGER, CHAMPION, ModelVersion, PromotionRecord


def _version_number(text: str) -> int:
    try:
        return int(str(text).lstrip("v"))
    except ValueError:
        raise CTError(f"version must be a number like 3 or v3, got {text!r}") from None


def _is_version(text: str) -> bool:
    return text.lstrip("v").isdigit()


def _model_ref(ws: Any, ref: list[str]) -> tuple[str, int]:
    """``[VERSION]`` or ``[NAME, VERSION]``; the name defaults to ``model.name`` of the config."""
    if len(ref) == 1:
        return ws.config.model.name, _version_number(ref[0])
    if len(ref) == 2:
        return ref[0], _version_number(ref[1])
    raise CTError("expected [NAME] VERSION, e.g. `ct models show 3` or `ct models show churn-classifier 3`")


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return args.actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container user without a passwd entry)
        return "unknown-user"


def _lower_is_better(metric: str) -> bool:
    """Whether ``metric`` is an error or loss (unknown names, e.g. from a newer version, count as not)."""
    try:
        return not higher_is_better(metric)
    except KeyError:
        return False


def _metric_label(metric: str) -> str:
    """A metric's name for a table, saying so when lower values are better (any task type)."""
    return f"{metric} (lower is better)" if _lower_is_better(metric) else metric


def _ci_header(metric: str) -> str:
    """The header of a column of a metric with its interval: ``rmse (95% CI, lower is better)``."""
    return f"{metric} (95% CI{', lower is better' if _lower_is_better(metric) else ''})"


def version_json(mv: ModelVersion, full: bool = False) -> dict[str, Any]:
    """The stable JSON of a version: ``model_json`` plus semver and tags (and environment when full)."""
    d = {**model_json(mv, full=full), "semver": mv.semver, "tags": mv.tags}
    if full:
        d["environment"] = mv.environment
    return d


def newest_first(rows: list[PromotionRecord]) -> list[PromotionRecord]:
    """Ledger rows newest first, the one order of every history ``ct`` prints (alerts, requests, snapshots)."""
    return sorted(rows, key=lambda r: r.id, reverse=True)


def _ledger_table(rows: list[PromotionRecord]) -> str:
    return table(
        ["#", "when", "alias", "kind", "move", "actor", "reason"],
        [
            [
                r.id,
                r.created_at,
                r.alias,
                r.kind,
                f"v{r.to_version} -> —"
                if r.kind == "retirement"
                else f"{'v' + str(r.from_version) if r.from_version else '—'} -> v{r.to_version}",
                r.actor,
                r.reason,
            ]
            for r in rows
        ],
    )


# -- read commands ---------------------------------------------------------------------------------
def _list(ws: Any, args: argparse.Namespace) -> int:
    from pipeline.registry.search import (
        filter_versions,
        parse_condition,
        parse_tag,
        sort_versions,
    )

    conditions = [parse_condition(c) for c in args.where]
    tags = dict(parse_tag(t) for t in args.tag)
    versions = ws.meta.list_model_versions(args.name, alias=args.alias, tags=tags or None)
    versions = filter_versions(versions, conditions)
    if args.sort:
        versions = sort_versions(versions, args.sort)
    if args.json:
        emit_json([version_json(v) for v in versions])
        return 0
    if not versions:
        print("no model versions match" if (conditions or tags or args.alias) else "no model versions yet")
        return 0
    shown = args.sort or ws.config.promotion.primary_metric
    print(
        table(
            [
                "name",
                "version",
                "semver",
                "aliases",
                "snapshot",
                _ci_header(shown),
                "tags",
                "trigger",
                "created_at",
                "decision",
            ],
            [
                [
                    v.name,
                    v.version,
                    v.semver or "—",
                    ",".join(v.aliases) or "—",
                    v.snapshot_id,
                    fmt_metric(v.metrics.get(shown)),
                    ",".join(f"{k}={x}" for k, x in v.tags.items()) or "—",
                    v.trigger.get("kind"),
                    v.created_at,
                    fmt_decision(v.decision),
                ]
                for v in versions
            ],
        )
    )
    return 0


def _show(ws: Any, args: argparse.Namespace) -> int:
    name, version = _model_ref(ws, args.ref)
    mv = ws.meta.get_model_version(name, version)
    if args.json:
        emit_json(version_json(mv, full=True))
        return 0
    from pipeline.reporting.pages import model_report_key

    print(
        f"{mv.name} v{mv.version} ({mv.semver or 'no semver'})  aliases: {', '.join(mv.aliases) or '—'}"
        f"  tags: {', '.join(f'{k}={x}' for k, x in mv.tags.items()) or '—'}\n"
        f"  snapshot {mv.snapshot_id}, spec {mv.spec_name}, config {mv.config_hash}, code {mv.code_version}\n"
        f"  trigger: {fmt_trigger(mv.trigger)}\n  params: {fmt_fields(mv.params)}\n"
        f"  lineage: {fmt_fields(mv.lineage)}\n"
        f"  artifact: {mv.artifact_uri} (sha256 {mv.artifact_sha256[:16]}…)\n"
        f"  created {mv.created_at}; report {ws.store.uri(model_report_key(mv.name, mv.version))}"
    )
    cv = mv.evaluation.get("cross_validation", {})
    # rows per class (none for a regression); a binary version prints as it did before task types
    classes = mv.evaluation.get("holdout_classes") or {}
    task = mv.evaluation.get("task") or "binary"
    print(
        f"  {'' if task == 'binary' else task + '; '}holdout {mv.evaluation.get('holdout_rows', '?')} rows"
        + (" (" + ", ".join(f"{c} {n}" for c, n in classes.items()) + ")" if classes else "")
    )
    print(
        table(
            ["metric", "holdout (95% CI)", "CV mean ± std"],
            [
                [
                    _metric_label(m),
                    fmt_metric(e),
                    f"{fmt_number(cv[m]['mean'])} ± {fmt_number(cv[m]['std'])}" if m in cv else "—",
                ]
                for m, e in mv.metrics.items()
            ],
        )
    )
    if mv.decision:
        print(f"decision: {'promoted' if mv.decision['promote'] else 'not promoted'} — {mv.decision['reason']}")
        if mv.decision.get("forced") and mv.decision.get("thin_evidence"):
            print(f"  promoted by hand on thin evidence: {'; '.join(mv.decision['thin_evidence'])}")
    return 0


def _history(ws: Any, args: argparse.Namespace) -> int:
    name = args.name or ws.config.model.name
    rows = newest_first(ws.meta.promotion_history(name, args.alias))
    if args.json:
        emit_json([r.to_dict() for r in rows])
        return 0
    print(_ledger_table(rows) if rows else f"no alias of {name!r} has moved yet")
    return 0


def _print_lineage(d: dict[str, Any]) -> None:
    trig, snap, val, ev = d["trigger"], d["snapshot"], d["validation"], d["evaluation"]
    run = d["dag_run"]
    print(
        f"{d['name']} v{d['version']} ({d['semver'] or 'no semver'}: {d['semver_reason']})  "
        f"aliases: {', '.join(d['aliases']) or '—'}  created {d['created_at']}"
    )
    print(f"trigger      {fmt_trigger(trig)}")
    print(f"dag run      {run['dag_id']} / {run['run_id']} ({run['run_type']})" if run else "dag run      —")
    print(
        f"snapshot     {snap['id']}: {snap.get('rows', '?')} rows in {snap.get('parts', '?')} part(s), "
        f"parent {snap.get('parent') or '—'}, created {snap.get('created_at', '?')}"
    )
    for f in d["landing_files"]:
        parts = ", ".join(p[:12] for p in f["part_ids"])
        print(
            f"  file       {f['name']} ({f['size']} bytes, sha256 {f['sha256'][:16]}…) -> part {parts}"
            + (f", archived at {f['archived_path']}" if f["archived_path"] else "")
        )
    if val:
        print(
            f"validation   #{val['id']} {'passed' if val['passed'] else 'FAILED'} against "
            f"{val['reference_snapshot_id'] or 'no reference'}; "
            f"drifted: {', '.join(val['drifted_features']) or 'none'}; "
            f"label contract held: {val['label_contract_held']}; report {val['report_uri']}"
        )
    else:
        print("validation   —")
    env = d["environment"] or {}
    packages = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items())
    print(f"config       {d['config_hash']} ({d['config_path'] or '?'}), spec {d['spec_name']}")
    print(f"code         {d['code_version']}")
    print(f"environment  python {env.get('python', '?')}; {packages or 'packages not recorded'}")
    print(f"artifact     {d['artifact']['uri']} (sha256 {d['artifact']['sha256'][:16]}…)")
    for candidate in d["candidates"] or []:
        name = candidate.get("candidate") or candidate.get("spec") or "?"
        print(
            f"candidate    {name}{' (chosen)' if candidate.get('chosen') else ''}: "
            f"{fmt_fields(candidate, skip=('candidate', 'chosen', 'artifact_key', 'artifact_sha256'))}"
        )
    holdout = ev.get("holdout") or {}
    metrics = "; ".join(f"{m} {fmt_metric(e)}" for m, e in holdout.items() if isinstance(e, dict))
    print(f"evaluation   {ev.get('holdout_rows', '?')} holdout rows: {metrics or '—'}")
    if ev.get("champion"):
        cmp = ev["champion"]["comparison"]
        print(
            f"  vs champion v{ev['champion']['version']}: {cmp['metric']} {cmp['difference']:+.3f} "
            f"[{cmp['lower']:+.3f}, {cmp['upper']:+.3f}]"
        )
    print(f"  evidence   {ev.get('uri') or '—'}")
    decision = d["decision"]
    print(
        f"decision     {('promoted' if decision['promote'] else 'not promoted') + ' — ' + decision['reason']}"
        if decision
        else "decision     —"
    )
    if d["ledger"]:
        print(_ledger_table(newest_first([PromotionRecord(**r) for r in d["ledger"]])))
    for problem in d["problems"]:
        print(f"problem: {problem}")


def _lineage(ws: Any, args: argparse.Namespace) -> int:
    from pipeline.data.model_lineage import model_lineage

    name, version = _model_ref(ws, args.ref)
    data = model_lineage(ws, name, version)
    if args.json:
        emit_json(data)
    else:
        _print_lineage(data)
    return 0


def _print_compare(d: dict[str, Any]) -> None:
    a, b = d["a"], d["b"]
    va, vb = f"v{a['version']}", f"v{b['version']}"
    same_name = a["name"] == b["name"]
    print(f"{a['name']} {va} vs {vb}" if same_name else f"{a['name']} {va} vs {b['name']} {vb}")
    rows = [
        ["aliases", ",".join(a["aliases"]) or "—", ",".join(b["aliases"]) or "—"],
        ["semver", a["semver"] or "—", b["semver"] or "—"],
        ["snapshot", a["snapshot_id"], b["snapshot_id"]],
        ["spec", a["spec_name"], b["spec_name"]],
        ["trigger", fmt_trigger(a["trigger"]), fmt_trigger(b["trigger"])],
        ["decision", fmt_decision(a["decision"]), fmt_decision(b["decision"])],
        ["holdout rows", a["holdout_rows"] or "—", b["holdout_rows"] or "—"],
        ["created", a["created_at"], b["created_at"]],
    ]
    rows += [[_ci_header(m["metric"]), fmt_metric(m["a"]), fmt_metric(m["b"])] for m in d["metrics"]]
    print(table(["", va, vb], rows))
    if d["params_differ"]:
        print("params that differ:")
        for key, (x, y) in d["params_differ"].items():
            print(f"  {key}: {fmt_value(x)} -> {fmt_value(y)}")
    else:
        print("params: the same" + (f" ({fmt_fields(a['params'])})" if a["params"] else ""))
    paired = d["paired"]
    if paired:
        print(
            f"paired difference on the same {paired['holdout_rows']} holdout rows ({vb} against {va}, positive = "
            f"{vb} better): {paired['metric']} {paired['difference']:+.4f} "
            f"[{paired['lower']:+.4f}, {paired['upper']:+.4f}], P({vb} better) {paired['prob_b_better']:.2f} "
            f"({paired['n_resamples']} paired bootstrap resamples, {paired['confidence']:.0%} interval)"
        )
    else:
        print(f"no paired difference: {d['paired_unavailable']}")


def _compare(ws: Any, args: argparse.Namespace) -> int:
    from pipeline.app.model_compare import compare_versions

    if len(args.ref) == 2:
        (name_a, va), (name_b, vb) = _model_ref(ws, args.ref[:1]), _model_ref(ws, args.ref[1:])
    elif len(args.ref) == 3:
        (name_a, va), (name_b, vb) = _model_ref(ws, args.ref[:2]), _model_ref(ws, [args.ref[0], args.ref[2]])
    else:
        raise CTError("expected [NAME] A B, e.g. `ct models compare 2 3` or `ct models compare churn-classifier 2 3`")
    data = compare_versions(
        ws, ws.meta.get_model_version(name_a, va), ws.meta.get_model_version(name_b, vb), metric=args.metric
    )
    return _emit_or(args, data, _print_compare)


def _emit_or(args: argparse.Namespace, data: Any, printer: Any) -> int:
    if args.json:
        emit_json(data)
    else:
        printer(data)
    return 0


def _verify_targets(ws: Any, ref: list[str]) -> list[ModelVersion]:
    if not ref:
        return ws.meta.list_model_versions()
    if len(ref) == 1 and not _is_version(ref[0]):
        versions = ws.meta.list_model_versions(ref[0])
        if not versions:
            raise CTError(f"there is no model named {ref[0]!r}; list them with `ct models list`")
        return versions
    name, version = _model_ref(ws, ref)
    return [ws.meta.get_model_version(name, version)]


def _verify(ws: Any, args: argparse.Namespace) -> int:
    from pipeline.core.environment import environment_differences, environment_fingerprint

    here = environment_fingerprint()
    results = []
    for mv in _verify_targets(ws, args.ref):
        check = ws.artifacts.verify(mv.artifact_uri, mv.artifact_sha256)
        diffs = environment_differences(mv.environment, here) if mv.environment else {}
        results.append(
            {
                "name": mv.name,
                "version": mv.version,
                **check.to_dict(),
                "message": check.message,
                "environment_differences": {k: list(v) for k, v in diffs.items()},
            }
        )
    if args.json:
        emit_json(results)
    elif results:
        print(
            table(
                ["name", "version", "status", "sha256", "size", "environment now differs in"],
                [
                    [
                        r["name"],
                        r["version"],
                        r["status"],
                        r["expected_sha256"][:16] + "…",
                        r["size"] or "—",
                        ", ".join(f"{k} {a}->{b}" for k, (a, b) in r["environment_differences"].items()) or "—",
                    ]
                    for r in results
                ],
            )
        )
        for r in results:
            if not r["ok"]:
                print(f"{r['name']} v{r['version']}: {r['message']}")
    else:
        print("no model versions to verify")
    return 0 if all(r["ok"] for r in results) else 1


# -- write commands --------------------------------------------------------------------------------
def _tag(ws: Any, args: argparse.Namespace) -> int:
    from pipeline.registry.search import parse_tag

    ref = [a for a in args.items if "=" not in a]
    pairs = [parse_tag(a) for a in args.items if "=" in a]
    if not pairs and not args.remove:
        raise CTError("give at least one key=value tag or --remove KEY")
    name, version = _model_ref(ws, ref)
    ws.meta.get_model_version(name, version)  # a clear NotFound before anything is written
    for key, value in pairs:
        ws.meta.set_tag(name, version, key, value)
    missing = [key for key in args.remove if not ws.meta.delete_tag(name, version, key)]
    mv = ws.meta.get_model_version(name, version)
    if args.json:
        emit_json({"name": name, "version": version, "tags": mv.tags, "not_found": missing})
    else:
        print(
            f"{name} v{version} tags: {', '.join(f'{k}={x}' for k, x in mv.tags.items()) or '—'}"
            + (f" (no tag {', '.join(missing)} to remove)" if missing else "")
        )
    return 0


def _print_move(out: dict[str, Any], args: argparse.Namespace) -> None:
    if args.json:
        emit_json(out)
    elif out["ledger"]:
        r = out["ledger"]
        print(
            f"{out['name']}: {out['alias']} v{r['from_version'] or '—'} -> v{r['to_version']} "
            f"({r['kind']}, ledger row {r['id']}, actor {r['actor']}): {r['reason']}"
        )
    else:
        print(f"{out['name']}: {out['alias']} already points to v{out['version']}; nothing moved")


def _promote(ws: Any, args: argparse.Namespace) -> int:
    from pipeline.app.stages.register import promote_version

    name, version = _model_ref(ws, args.ref)
    _print_move(promote_version(ws, name, version, reason=args.reason, actor=_actor(args), alias=args.alias), args)
    return 0


def _rollback(ws: Any, args: argparse.Namespace) -> int:
    from pipeline.app.stages.register import rollback_alias

    name = args.name or ws.config.model.name
    _print_move(rollback_alias(ws, name, reason=args.reason or "", actor=_actor(args), alias=args.alias), args)
    return 0


def _challenger(ws: Any, args: argparse.Namespace) -> int:
    """``ct models challenger set VERSION | clear | status``."""
    from pipeline.app.stages.register import clear_challenger, promote_version

    name = args.name or ws.config.model.name
    if args.challenger_action == "status":
        return _challenger_status(ws, name, args)
    if args.challenger_action == "clear":
        _print_move(clear_challenger(ws, name, reason=args.reason, actor=_actor(args)), args)
        return 0
    version = _version_number(args.version)
    champion = ws.meta.get_alias(name, CHAMPION)
    if champion is not None and champion.version == version:
        raise CTError(f"{name} v{version} is the champion; a challenger must be another version")
    _print_move(promote_version(ws, name, version, reason=args.reason, actor=_actor(args), alias=CHALLENGER), args)
    return 0


def _challenger_status(ws: Any, name: str, args: argparse.Namespace) -> int:
    """The challenger, the champion and the live evidence on them so far (computed now; nothing is moved)."""
    from pipeline.monitoring.live_evaluation import evaluate_challenger, read_evidence

    serving = ws.config.serving.challenger
    challenger = ws.meta.get_alias(name, CHALLENGER)
    champion = ws.meta.get_alias(name, CHAMPION)
    comparison, rows = (None, None)
    if challenger is not None and champion is not None and challenger.version != champion.version:
        comparison, rows = evaluate_challenger(ws, challenger, champion)
    out = {
        "name": name,
        "challenger": challenger.version if challenger else None,
        "champion": champion.version if champion else None,
        "mode": serving.mode,
        "share": serving.share if serving.mode == "canary" else None,
        "min_samples": serving.min_samples,
        "comparison": comparison.to_dict() if comparison else None,
        "batches": list(rows.batches) if rows else [],
        "window_ids": list(rows.window_ids) if rows else [],
        "last_judged": read_evidence(ws),
        "history": [r.to_dict() for r in newest_first(ws.meta.promotion_history(name, CHALLENGER))],
    }
    if args.json:
        emit_json(out)
        return 0
    if challenger is None:
        print(f"{name}: no challenger (champion v{out['champion'] or '—'})")
    else:
        mode = f"{serving.mode}" + (f" {serving.share:.0%}" if serving.mode == "canary" else "")
        print(f"{name}: challenger v{challenger.version} ({mode}) vs champion v{out['champion'] or '—'}")
        if comparison is not None:
            print(f"  {comparison.verdict}: {comparison.reason}")
            print(f"  live windows: {', '.join(out['window_ids']) or '—'}")
    if out["history"]:
        print(_ledger_table([PromotionRecord(**r) for r in out["history"]]))
    return 0


def _report(ws: Any, args: argparse.Namespace) -> int:
    from pipeline.reporting.pages import write_model_report

    name, version = _model_ref(ws, args.ref)
    url = write_model_report(ws.store, ws.meta.get_model_version(name, version))
    if args.json:
        emit_json({"name": name, "version": version, "url": url})
    else:
        print(url)
    return 0


ACTIONS = {
    "list": _list,
    "show": _show,
    "compare": _compare,
    "history": _history,
    "lineage": _lineage,
    "verify": _verify,
    "tag": _tag,
    "promote": _promote,
    "rollback": _rollback,
    "report": _report,
    "challenger": _challenger,
}


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    return ACTIONS[args.action](open_workspace_for(settings), args)


def register(sub: Any) -> None:
    """Add this module's commands to the ``ct`` parser."""
    p = sub.add_parser("models", help="search, inspect, trace, verify, promote and roll back model versions")
    s = p.add_subparsers(dest="action", required=True)

    q = s.add_parser("list", help="versions, filtered and sorted")
    q.add_argument("--name", help="only this model")
    q.add_argument("--alias", help="only the version this alias points to, e.g. champion")
    q.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="METRIC>=X",
        help="holdout metric condition, e.g. roc_auc>=0.8 (repeatable; all must hold)",
    )
    q.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="only versions with this tag (repeatable)"
    )
    q.add_argument("--sort", metavar="METRIC", help="best first by this holdout metric")
    q.add_argument("--json", action="store_true")

    for action, help_text in (
        ("show", "one version: metrics, trigger, decision"),
        ("lineage", "the chain from landing files to the ledger"),
        ("report", "(re)write the HTML page of a version and print its URL"),
    ):
        q = s.add_parser(action, help=help_text)
        q.add_argument("ref", nargs="+", metavar="[NAME] VERSION")
        q.add_argument("--json", action="store_true")

    q = s.add_parser("compare", help="two versions side by side, with the paired difference on a shared holdout")
    q.add_argument("ref", nargs="+", metavar="[NAME] A B")
    q.add_argument("--metric", help="metric of the paired difference (default: promotion.primary_metric)")
    q.add_argument("--json", action="store_true")

    q = s.add_parser("history", help="the promotion ledger (newest first)")
    q.add_argument("name", nargs="?", help="model name (default: model.name of the config)")
    q.add_argument("--alias", help="only this alias")
    q.add_argument("--json", action="store_true")

    q = s.add_parser("verify", help="check artifact checksums without loading them (exit 1 on a mismatch)")
    q.add_argument("ref", nargs="*", metavar="[NAME] [VERSION]", help="nothing: every version of every model")
    q.add_argument("--json", action="store_true")

    q = s.add_parser("tag", help="set key=value tags on a version")
    q.add_argument("items", nargs="+", metavar="[NAME] VERSION KEY=VALUE")
    q.add_argument("--remove", action="append", default=[], metavar="KEY", help="remove this tag (repeatable)")
    q.add_argument("--json", action="store_true")

    for action, help_text in (
        ("promote", "point an alias at a version by hand (verified, logged)"),
        ("rollback", "move an alias back to where it was before its latest move"),
    ):
        q = s.add_parser(action, help=help_text)
        if action == "promote":
            q.add_argument("ref", nargs="+", metavar="[NAME] VERSION")
            q.add_argument("--reason", required=True, help="why; written to the ledger")
        else:
            q.add_argument("name", nargs="?", help="model name (default: model.name of the config)")
            q.add_argument("--reason", help="why; written to the ledger")
        q.add_argument("--alias", default=CHAMPION, help=f"alias to move (default: {CHAMPION})")
        q.add_argument("--actor", help="who, for the ledger (default: the OS user)")
        q.add_argument("--json", action="store_true")

    q = s.add_parser("challenger", help="the version served beside the champion (canary or shadow)")
    c = q.add_subparsers(dest="challenger_action", required=True)
    for action, help_text in (
        ("set", "make a version the challenger (verified, logged)"),
        ("clear", "retire the challenger (logged)"),
        ("status", "the challenger, the champion and the live evidence so far"),
    ):
        r = c.add_parser(action, help=help_text)
        if action == "set":
            r.add_argument("version", metavar="VERSION")
        if action != "status":
            r.add_argument("--reason", required=True, help="why; written to the ledger")
            r.add_argument("--actor", help="who, for the ledger (default: the OS user)")
        r.add_argument("--name", help="model name (default: model.name of the config)")
        r.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)
