"""Every third-party package our code imports is declared, so a fresh install cannot miss one.

``pipeline/`` is what ``pip install .`` installs: its imports must be in pyproject's
``[project].dependencies``. Everything the project runs (``pipeline/``, ``plugins/``, ``dags/``,
``scripts/``) must be in ``requirements.in``, the short list ``requirements.txt`` is generated from.
Module names are mapped to distributions with ``importlib.metadata.packages_distributions`` (``yaml``
is PyYAML, ``sklearn`` is scikit-learn), so the check follows the installed packages, not a
hand-kept table.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipeline.core.settings import PROJECT_ROOT

FIRST_PARTY = {"pipeline", "ct_airflow", "scripts", "tests", "bench"}


def _imported_modules(folder: Path) -> set[str]:
    """Top-level names of every absolute import in ``folder``'s Python files (also inside functions)."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def _local_modules(folder: Path) -> set[str]:
    """Sibling modules a folder imports by their bare names (Airflow puts dags/ and plugins/ on sys.path)."""
    return {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir() if p.is_dir()}


def _third_party(folders: Iterable[str]) -> set[str]:
    modules: set[str] = set()
    for name in folders:
        folder = PROJECT_ROOT / name
        modules |= _imported_modules(folder) - _local_modules(folder)
    return {m for m in modules if m not in sys.stdlib_module_names and m not in FIRST_PARTY and m != "__future__"}


@cache
def _distributions() -> dict[str, list[str]]:
    return packages_distributions()


def _undeclared(modules: set[str], declared: set[str]) -> dict[str, list[str]]:
    """Modules none of whose distributions is declared (with the distributions that provide them)."""
    missing = {}
    for module in sorted(modules):
        provided_by = [canonicalize_name(d) for d in _distributions().get(module, [])]
        if not set(provided_by) & declared:
            missing[module] = provided_by or ["(not installed)"]
    return missing


def _pyproject_dependencies() -> set[str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(spec).name) for spec in project["dependencies"]}


def _requirements_in(name: str = "requirements.in") -> set[str]:
    names = set()
    for line in (PROJECT_ROOT / name).read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if spec and not spec.startswith("-"):
            names.add(canonicalize_name(Requirement(spec).name))
    return names


def test_pipeline_imports_only_packages_its_pyproject_declares() -> None:
    missing = _undeclared(_third_party(["pipeline"]), _pyproject_dependencies())
    assert missing == {}, f"imported by pipeline/ but not in pyproject.toml [project].dependencies: {missing}"


def test_everything_the_project_runs_is_in_requirements_in() -> None:
    missing = _undeclared(_third_party(["pipeline", "plugins", "dags"]), _requirements_in())
    assert missing == {}, f"imported but not in requirements.in: {missing}"


def test_scripts_import_only_declared_packages() -> None:
    """scripts/ holds run-time tools (the Celery topology) and developer tools (the architecture
    diagram): each import is in requirements.in or requirements-dev.in."""
    declared = _requirements_in() | _requirements_in("requirements-dev.in")
    missing = _undeclared(_third_party(["scripts"]), declared)
    assert missing == {}, f"imported by scripts/ but in neither requirements.in nor requirements-dev.in: {missing}"


def test_pyproject_dependencies_are_in_requirements_in() -> None:
    assert _pyproject_dependencies() - _requirements_in() == set()


def test_the_pinned_set_pins_every_direct_dependency() -> None:
    pinned = {
        canonicalize_name(m.group(1))
        for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", (PROJECT_ROOT / "requirements.txt").read_text(), re.M)
    }
    assert _requirements_in() - pinned == set(), "requirements.txt is stale: run pip-compile (see requirements.in)"
