"""The environment fingerprint recorded with every model version."""

from __future__ import annotations

import platform
from importlib import metadata

from pipeline.core.environment import (
    PACKAGES,
    environment_differences,
    environment_fingerprint,
    package_versions,
)


def test_fingerprint_names_python_and_every_package() -> None:
    env = environment_fingerprint()
    assert env["python"] == platform.python_version()
    assert set(env["packages"]) == set(PACKAGES)
    assert env["packages"]["scikit-learn"] == metadata.version("scikit-learn")
    assert env["packages"]["numpy"] == metadata.version("numpy")


def test_missing_package_is_none() -> None:
    assert package_versions(("joblib", "surely-not-installed-ct")) == {
        "joblib": metadata.version("joblib"),
        "surely-not-installed-ct": None,
    }


def test_differences_list_what_moved() -> None:
    then = {"python": "3.11.7", "platform": "Linux", "packages": {"numpy": "2.0.0", "pandas": "2.2.0", "old": "1"}}
    now = {"python": "3.12.1", "platform": "Linux", "packages": {"numpy": "2.0.0", "pandas": "3.0.0", "new": "2"}}
    assert environment_differences(then, now) == {
        "python": ("3.11.7", "3.12.1"),
        "pandas": ("2.2.0", "3.0.0"),
        "old": ("1", None),
        "new": (None, "2"),
    }
    assert environment_differences(now, now) == {}
