"""Every URL the console's pages link to, built in one place from where the console is mounted."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode


def _q(value: object) -> str:
    return quote(str(value), safe="")


@dataclass(frozen=True)
class Links:
    """URLs of the console's pages and of Airflow's own, relative to the site root.

    ``base`` is the path the console is mounted at (``/ct`` inside Airflow, ``""`` in tests);
    ``airflow`` is Airflow's own root path (``""`` unless Airflow runs under a prefix).
    """

    base: str = ""
    airflow: str = ""

    def ui(self, path: str, **query: object) -> str:
        params = {k: v for k, v in query.items() if v is not None}
        return f"{self.base}/ui/{path}" + (f"?{urlencode(params)}" if params else "")

    def api(self, path: str) -> str:
        return f"{self.base}/api/{path}"

    def static(self, name: str) -> str:
        return f"{self.base}/static/{name}"

    def models(self, model: str | None = None) -> str:
        return self.ui("models", model=model)

    def version(self, model: str, version: int) -> str:
        return self.ui(f"models/{_q(model)}/versions/{int(version)}")

    def report(self, model: str, version: int) -> str:
        return self.ui(f"models/{_q(model)}/versions/{int(version)}/report")

    def compare(self, model: str, a: int | None = None, b: int | None = None) -> str:
        return self.ui(f"models/{_q(model)}/compare", a=a, b=b)

    def promote(self, model: str) -> str:
        return self.api(f"models/{_q(model)}/promote")

    def rollback(self, model: str) -> str:
        return self.api(f"models/{_q(model)}/rollback")

    def snapshots(self, page: int | None = None) -> str:
        return self.ui("snapshots", page=page if page and page > 1 else None)

    def snapshot(self, snapshot_id: str) -> str:
        return self.ui(f"snapshots/{_q(snapshot_id)}")

    def snapshot_diff(self, a: str | None = None, b: str | None = None) -> str:
        return self.ui("snapshot-diff", a=a, b=b)

    def validations(self) -> str:
        return self.ui("validations")

    def validation(self, validation_id: int) -> str:
        return self.ui(f"validations/{int(validation_id)}")

    def data_docs(self, validation_id: int) -> str:
        return self.ui(f"validations/{int(validation_id)}/data-docs/index.html")

    def monitoring(self, model: str | None = None) -> str:
        return self.ui("monitoring", model=model)

    def airflow_run(self, dag_id: str, run_id: str) -> str:
        """The run's page in Airflow's own UI (opened outside the plugin's frame)."""
        return f"{self.airflow}/dags/{_q(dag_id)}/runs/{_q(run_id)}"

    def airflow_task(self, dag_id: str, run_id: str, task_id: str) -> str:
        return f"{self.airflow}/dags/{_q(dag_id)}/runs/{_q(run_id)}/tasks/{_q(task_id)}"
