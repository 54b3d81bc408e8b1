"""One handle on everything a stage needs: settings, config, object store, metadata store."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from functools import cached_property

from pipeline import __version__
from pipeline.core.config import PipelineConfig, load_config
from pipeline.core.settings import PROJECT_ROOT, Settings, load_settings
from pipeline.core.storage import ObjectStore
from pipeline.core.thread_budget import ThreadBudget, derive_budget
from pipeline.monitoring.alerts import Notifier
from pipeline.registry.artifacts import ArtifactStore
from pipeline.registry.base import MetadataStore
from pipeline.registry.sql import SqlMetadataStore

log = logging.getLogger(__name__)


def code_version() -> str:
    """The git commit of the project (``+dirty`` when changed), else the package version."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            check=False,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return f"git:{commit}{'+dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return f"pkg:{__version__}"


@dataclass(frozen=True)
class Workspace:
    settings: Settings
    config: PipelineConfig

    @cached_property
    def store(self) -> ObjectStore:
        return ObjectStore(self.settings.data_url, self.settings.storage_options)

    @cached_property
    def meta(self) -> MetadataStore:
        return SqlMetadataStore(self.settings.database_url)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.store)

    @cached_property
    def notifier(self) -> Notifier:
        """Alerts of this workspace: the log, the alerts table and the configured webhook."""
        return Notifier.from_config(self.meta, self.config.alerts, self.settings)

    @cached_property
    def thread_budget(self) -> ThreadBudget:
        """Threads this task's fits and predicts may use (``resources`` and ``CT_THREADS``);
        derived and logged once per workspace, i.e. once per task."""
        budget = derive_budget(self.config.resources)
        log.info("%s", budget.describe())
        return budget


def open_workspace(settings: Settings | None = None) -> Workspace:
    """Resolve settings from the environment and load the config (fails early on bad config)."""
    settings = settings or load_settings()
    return Workspace(settings=settings, config=load_config(settings.config_path))
