"""The thread budget: how many threads one task's numeric libraries may use on its worker.

A worker runs several tasks at once (its slots), and every scikit-learn fit or predict would
otherwise start one OpenMP/BLAS thread per core in each of them: on 2 cores, twelve task
processes with default threads made one gradient-boosting fit 10-25x slower than the same fit
in one thread.  So each task gets ``cpu_count // slots`` threads (at least 1), and every fit,
predict, CV fold and bootstrap runs inside :func:`limit_threads`, which caps OpenMP and BLAS
(threadpoolctl); joblib already runs ``n_jobs=None`` estimators as one job.  The slots come from
``resources.worker_slots``, else from the Celery worker concurrency or Airflow's parallelism in
the environment, else one per CPU; ``resources.threads_per_task`` or ``CT_THREADS`` set the
threads directly.  The numbers a model produces do not depend on its thread count.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from threadpoolctl import threadpool_limits

from pipeline.core.config import ResourcesConfig
from pipeline.core.errors import ConfigError

log = logging.getLogger(__name__)

THREADS_ENV = "CT_THREADS"
"""Environment override of the threads per task (a whole number >= 1)."""

SLOT_ENVS = ("AIRFLOW__CELERY__WORKER_CONCURRENCY", "AIRFLOW__CORE__PARALLELISM")
"""Where the worker's slots are read from when ``resources.worker_slots`` is unset, in order."""


@dataclass(frozen=True)
class ThreadBudget:
    """Threads one task may use, and where that number came from (for the task log)."""

    threads: int
    slots: int
    cpus: int
    slots_from: str
    set_by: str | None = None  # the override that fixed ``threads``; None: derived from CPUs and slots

    def describe(self) -> str:
        """One line in plain words, e.g. for the task log."""
        unit = "thread" if self.threads == 1 else "threads"
        head = f"thread budget: {self.threads} {unit} per task for OpenMP and BLAS"
        where = f"{self.cpus} CPUs, {self.slots} task slots on this worker ({self.slots_from})"
        if self.set_by:
            return f"{head}, set by {self.set_by} ({where})"
        return f"{head}: {where}; resources.worker_slots, resources.threads_per_task or {THREADS_ENV} change it"


def _whole_number(value: str, where: str) -> int:
    """``value`` as an int >= 1, or a ConfigError naming ``where`` and what is expected."""
    try:
        number = int(value.strip())
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(
            f"{where}={value!r} is not a whole number >= 1; set it to the number of threads "
            "(or slots) wanted, or unset it to derive it from the CPUs"
        )
    return number


def worker_slots(resources: ResourcesConfig, env: Mapping[str, str], cpus: int) -> tuple[int, str]:
    """How many tasks run at once on this worker, and where that was read."""
    if resources.worker_slots is not None:
        return resources.worker_slots, "resources.worker_slots"
    for name in SLOT_ENVS:
        if env.get(name, "").strip():
            return _whole_number(env[name], name), name
    return cpus, "one slot per CPU"


def derive_budget(
    resources: ResourcesConfig | None = None, env: Mapping[str, str] | None = None, cpus: int | None = None
) -> ThreadBudget:
    """The threads a task may use: ``CT_THREADS``, else ``resources.threads_per_task``, else
    ``cpus // slots`` (at least 1).  Pure: the environment and CPU count can be passed in."""
    resources = resources or ResourcesConfig()
    env = os.environ if env is None else env
    cpus = max(1, cpus if cpus is not None else (os.cpu_count() or 1))
    slots, slots_from = worker_slots(resources, env, cpus)
    if env.get(THREADS_ENV, "").strip():
        return ThreadBudget(_whole_number(env[THREADS_ENV], THREADS_ENV), slots, cpus, slots_from, THREADS_ENV)
    if resources.threads_per_task is not None:
        return ThreadBudget(resources.threads_per_task, slots, cpus, slots_from, "resources.threads_per_task")
    return ThreadBudget(max(1, cpus // slots), slots, cpus, slots_from)


def threads_of(budget: ThreadBudget | int | None) -> int:
    """The thread count of a budget; ``None`` derives the default budget from the environment."""
    if budget is None:
        return derive_budget().threads
    return budget.threads if isinstance(budget, ThreadBudget) else max(1, int(budget))


@contextmanager
def limit_threads(budget: ThreadBudget | int | None = None) -> Iterator[int]:
    """Run the block with OpenMP and BLAS capped at the budget; yields the cap.

    joblib is left at its default of one job for ``n_jobs=None``: raising that default to the
    budget was tried and dropped, because every ``ColumnTransformer`` then fits its columns in a
    pool of loky *processes* (more processes on the cores, not fewer).
    """
    threads = threads_of(budget)
    with threadpool_limits(limits=threads):
        yield threads
