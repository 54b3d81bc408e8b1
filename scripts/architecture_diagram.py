"""Draw the package-level import graph into docs/architecture.md, from the code, as a Mermaid flowchart.

The graph is grimp's (the library under import-linter): an arrow ``A --> B`` means some module of
``A`` imports some module of ``B`` (module level, inside a function or under ``TYPE_CHECKING``).
The nodes are the packages of ``pipeline/`` in the order of the layers contract in
``.importlinter``, the Airflow glue (``plugins/ct_airflow``), the DAG files (``dags/``, not a
package: read with :mod:`ast`) and ``airflow`` itself, so the picture shows where the Airflow
boundary is. The diagram sits between two markers in the doc; ``tests/unit/test_architecture.py``
redraws it and fails when the doc is stale.

    python scripts/architecture_diagram.py           # rewrite the diagram in docs/architecture.md
    python scripts/architecture_diagram.py --check   # exit 1 if the doc is out of date
"""

from __future__ import annotations

import argparse
import ast
import configparser
import itertools
import sys
from collections.abc import Iterable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOC = PROJECT_ROOT / "docs" / "architecture.md"
CONTRACTS = PROJECT_ROOT / ".importlinter"
BEGIN = "<!-- BEGIN import-graph: drawn by scripts/architecture_diagram.py from the code; do not edit by hand -->"
END = "<!-- END import-graph -->"

DAGS = "dags"
GLUE = "ct_airflow"
AIRFLOW = "airflow"


def layers(contracts: Path = CONTRACTS) -> list[list[str]]:
    """The layers of ``pipeline`` from the ``layers`` contract, top first; peers share a row."""
    parser = configparser.ConfigParser()
    parser.read(contracts, encoding="utf-8")
    rows = parser["importlinter:contract:layers"]["layers"].split("\n")
    return [[name.strip() for name in row.split("|")] for row in rows if row.strip()]


def module_imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, anywhere in the file, as ``(line, dotted name)``.

    ``from a.b import c`` gives ``a.b.c`` (``c`` may be a module or a name in ``a.b``: either way it
    lies inside ``a.b``); a relative import gives its dots, e.g. ``.c``.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.extend(
                (node.lineno, f"{base}.{alias.name}" if node.module else base + alias.name) for alias in node.names
            )
    return sorted(found)


def _node_of(module: str, packages: Iterable[str]) -> str | None:
    """The diagram node a dotted module name belongs to (None: not drawn, e.g. the standard library)."""
    for package in packages:
        if module == f"pipeline.{package}" or module.startswith(f"pipeline.{package}."):
            return package
    top = module.split(".", maxsplit=1)[0]
    return top if top in (GLUE, AIRFLOW) else None


def package_edges(root: Path = PROJECT_ROOT) -> set[tuple[str, str]]:
    """Which node imports which: pipeline's packages and ct_airflow by grimp, dags/ by its syntax tree."""
    import grimp

    packages = [name for row in layers(root / ".importlinter") for name in row]
    graph = grimp.build_graph("pipeline", GLUE, include_external_packages=True, cache_dir=None)
    full = {**{name: f"pipeline.{name}" for name in packages}, GLUE: GLUE, AIRFLOW: AIRFLOW}
    edges = {
        (a, b)
        for a, b in itertools.permutations(full, 2)
        if a != AIRFLOW and graph.direct_import_exists(importer=full[a], imported=full[b], as_packages=True)
    }
    for dag_file in sorted((root / DAGS).glob("*.py")):
        for _, module in module_imports(dag_file):
            node = _node_of(module, packages)
            if node is not None:
                edges.add((DAGS, node))
    return edges


def mermaid(root: Path = PROJECT_ROOT) -> str:
    """The flowchart: Airflow's side, then pipeline's packages in layer order, then every edge (top layer first)."""
    rows = layers(root / ".importlinter")
    lines = [
        "flowchart TB",
        f'    {DAGS}["dags/*.py"]',
        f'    {GLUE}["plugins/ct_airflow"]',
        f'    {AIRFLOW}{{{{"airflow"}}}}',
        '    subgraph pipeline["pipeline/"]',
    ]
    lines.extend(f'        {name}["{name}"]' for row in rows for name in row)
    lines.append("    end")
    order = [DAGS, GLUE, AIRFLOW, *(name for row in rows for name in row)]
    lines.extend(
        f"    {a} --> {b}" for a, b in sorted(package_edges(root), key=lambda e: (order.index(e[0]), order.index(e[1])))
    )
    return "\n".join(lines)


def render_block(root: Path = PROJECT_ROOT) -> str:
    """What belongs between the markers (markers included)."""
    return f"{BEGIN}\n```mermaid\n{mermaid(root)}\n```\n{END}"


def current_block(doc: Path = DOC) -> str:
    """What is between the markers in ``doc`` now (markers included)."""
    text = doc.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def update(doc: Path = DOC, root: Path = PROJECT_ROOT) -> bool:
    """Redraw the diagram in ``doc``; True when it changed."""
    old, new = current_block(doc), render_block(root)
    if old == new:
        return False
    doc.write_text(doc.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether docs/architecture.md is up to date")
    args = parser.parse_args(argv)
    if args.check:
        stale = current_block() != render_block()
        verdict = "stale; run python scripts/architecture_diagram.py" if stale else "up to date"
        print(f"{DOC.relative_to(PROJECT_ROOT)}: {verdict}")
        return 1 if stale else 0
    changed = update()
    print(f"{DOC.relative_to(PROJECT_ROOT)}: {'diagram redrawn' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    # This checkout's packages (and its plugins folder, as Airflow sets it) before any installed copy.
    sys.path[:0] = [str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins")]
    sys.exit(main())
