"""The architecture holds, and the checks that say so can fail.

The import contracts in ``.importlinter`` (layers, no Airflow in ``pipeline``, domain code on the
store interfaces, the SQL store wired only by app and cli, the Airflow glue through ``pipeline.app``)
run here through ``lint-imports``, exactly as ``make lint`` runs them; a copy of the tree with a
violation planted for each contract shows that each one breaks and is named. DAG files are not a
package, so their imports are read with :mod:`ast`. The diagram in docs/architecture.md must be the
one the code draws today.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.architecture_diagram import DOC, current_block, module_imports, render_block

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = PROJECT_ROOT / ".importlinter"

DAG_MAY_IMPORT = ("airflow", "ct_airflow", "pipeline.app")
"""Besides the standard library: Airflow, its glue, and the stages and runners of the app layer."""

LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _contract_names() -> dict[str, str]:
    """Contract id -> the name lint-imports prints, from ``.importlinter``."""
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS, encoding="utf-8")
    prefix = "importlinter:contract:"
    return {
        section.removeprefix(prefix): parser[section]["name"]
        for section in parser.sections()
        if section.startswith(prefix)
    }


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the tree at ``root`` (its packages first on the path, as ``make lint`` has them)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), str(root / "plugins")]),
        "COLUMNS": "500",  # one line per contract name, whatever the terminal
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _verdicts(output: str, names: dict[str, str]) -> dict[str, str]:
    """Contract id -> ``KEPT`` or ``BROKEN``, from the summary lines of ``output``."""
    found = {}
    for contract_id, name in names.items():
        match = re.search(rf"^{re.escape(name)} (KEPT|BROKEN)$", output, flags=re.MULTILINE)
        if match:
            found[contract_id] = match.group(1)
    return found


def _broken_sections(output: str, names: dict[str, str]) -> dict[str, str]:
    """Contract id -> the text lint-imports prints under that broken contract's heading."""
    report = output.split("Broken contracts", 1)[-1]
    starts = sorted(
        (match.start(), contract_id)
        for contract_id, name in names.items()
        for match in re.finditer(rf"^{re.escape(name)}\n-+\n", report, flags=re.MULTILINE)
    )
    ends = [start for start, _ in starts[1:]] + [len(report)]
    return {contract_id: report[start:end] for (start, contract_id), end in zip(starts, ends, strict=True)}


def test_the_import_contracts_hold() -> None:
    names = _contract_names()
    result = _lint(PROJECT_ROOT)
    verdicts = _verdicts(result.stdout, names)
    assert verdicts == dict.fromkeys(names, "KEPT"), result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr


PLANTED = {
    "pipeline/core/planted_upward.py": "from pipeline.app.workspace import Workspace\n",
    "pipeline/data/planted_airflow.py": "import airflow\n",
    "pipeline/monitoring/planted_sql.py": "from pipeline.registry.sql import SqlMetadataStore\n",
    "pipeline/registry/planted_cycle.py": "from pipeline.monitoring.alerts import Notifier\n",
    "plugins/ct_airflow/planted_glue.py": "def alert():\n    from pipeline.monitoring.alerts import Notifier\n",
}
"""One violation per rule, each in a module of its own so the report can be read per contract."""

EXPECTED = {
    "layers": [
        "pipeline.core.planted_upward -> pipeline.app",
        "pipeline.registry.planted_cycle -> pipeline.monitoring",
    ],
    "acyclic": [".registry -> .monitoring", ".core -> .app"],
    "no-airflow": ["pipeline.data.planted_airflow -> airflow"],
    "domain-uses-interfaces": [
        "pipeline.core.planted_upward -> pipeline.app",
        "pipeline.monitoring.planted_sql -> pipeline.registry.sql",
    ],
    "sql-wired-by-app": ["pipeline.monitoring.planted_sql -> pipeline.registry.sql"],
    "airflow-glue": ["ct_airflow.planted_glue -> pipeline.monitoring.alerts"],
}
"""Contract id -> what its section of the report must name."""


def test_every_contract_breaks_on_a_planted_violation_and_says_where(tmp_path: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PROJECT_ROOT / "pipeline", tmp_path / "pipeline", ignore=ignore)
    shutil.copytree(PROJECT_ROOT / "plugins", tmp_path / "plugins", ignore=ignore)
    shutil.copy(CONTRACTS, tmp_path / ".importlinter")
    for relative, source in PLANTED.items():
        (tmp_path / relative).write_text(source, encoding="utf-8")

    names = _contract_names()
    result = _lint(tmp_path)
    report = result.stdout + result.stderr

    assert result.returncode != 0, report
    assert EXPECTED.keys() == names.keys(), "every contract in .importlinter has a planted violation"
    assert _verdicts(result.stdout, names) == dict.fromkeys(names, "BROKEN"), report
    sections = _broken_sections(result.stdout, names)
    for contract_id, mentions in EXPECTED.items():
        for mention in mentions:
            assert mention in sections[contract_id], f"{names[contract_id]!r} does not name {mention!r}:\n{report}"


def test_every_registry_module_is_classed_as_domain_or_sql_store() -> None:
    """The registry holds both, so its modules are named one by one in the contract: a new one must be placed."""
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS, encoding="utf-8")
    contract = parser["importlinter:contract:domain-uses-interfaces"]
    classed = set(contract["source_modules"].split()) | set(contract["forbidden_modules"].split())
    modules = {f"pipeline.registry.{p.stem}" for p in (PROJECT_ROOT / "pipeline" / "registry").glob("*.py")}
    assert sorted(modules - {"pipeline.registry.__init__"} - classed) == []


def forbidden_dag_imports(path: Path) -> list[str]:
    """``file:line module`` for each import of a DAG file that is neither stdlib nor in :data:`DAG_MAY_IMPORT`."""
    bad = []
    for line, module in module_imports(path):
        allowed = module.split(".")[0] in sys.stdlib_module_names or any(
            module == prefix or module.startswith(prefix + ".") for prefix in DAG_MAY_IMPORT
        )
        if not allowed:
            bad.append(f"{path.name}:{line} {module}")
    return bad


def test_dag_files_import_only_airflow_the_glue_and_the_app_layer() -> None:
    dag_files = sorted((PROJECT_ROOT / "dags").glob("*.py"))
    assert dag_files, "no DAG files found"
    assert [bad for path in dag_files for bad in forbidden_dag_imports(path)] == []


@pytest.mark.parametrize(
    ("source", "named"),
    [
        (
            "from pipeline.monitoring.live_performance import check_for_retrain\n",
            "pipeline.monitoring.live_performance.check_for_retrain",
        ),
        (
            "def task():\n    from pipeline.registry.sql import SqlMetadataStore\n",
            "pipeline.registry.sql.SqlMetadataStore",
        ),
        ("import pipeline.core.settings\n", "pipeline.core.settings"),
        ("from pipeline import data\n", "pipeline.data"),
        ("import pandas as pd\n", "pandas"),
        ("from . import helpers\n", ".helpers"),
    ],
)
def test_the_dag_check_catches_a_planted_import(tmp_path: Path, source: str, named: str) -> None:
    dag = tmp_path / "ct_planted.py"
    dag.write_text("from airflow.sdk import dag\nfrom pipeline.app.stages import plan_training\n" + source)
    assert [bad.split(" ", 1)[1] for bad in forbidden_dag_imports(dag)] == [named]


def test_the_diagram_in_the_doc_is_the_one_the_code_draws() -> None:
    assert current_block(DOC) == render_block(), (
        "docs/architecture.md is stale: run python scripts/architecture_diagram.py"
    )
