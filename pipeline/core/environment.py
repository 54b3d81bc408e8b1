"""The software environment a model was trained in, recorded with every model version.

A model file is only as reproducible as the libraries that wrote it: joblib pickles of
scikit-learn estimators are tied to the scikit-learn version, and numeric results move with
numpy and pandas. This records what is needed to rebuild the training environment.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Any

PACKAGES = ("scikit-learn", "pandas", "numpy", "pyarrow", "great-expectations", "joblib")
"""Distributions whose versions decide what a trained model is and whether its file loads."""


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment_fingerprint() -> dict[str, Any]:
    """Python version, implementation, platform and the versions of :data:`PACKAGES`."""
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(terse=True),
        "packages": package_versions(),
    }


def environment_differences(recorded: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What differs between two fingerprints, as ``{"python": (then, now), "numpy": (then, now)}``."""
    diffs: dict[str, tuple[Any, Any]] = {}
    for key in ("python", "implementation", "platform"):
        if recorded.get(key) != current.get(key):
            diffs[key] = (recorded.get(key), current.get(key))
    then, now = recorded.get("packages") or {}, current.get("packages") or {}
    for name in sorted(set(then) | set(now)):
        if then.get(name) != now.get(name):
            diffs[name] = (then.get(name), now.get(name))
    return diffs
