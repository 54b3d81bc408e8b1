"""What a native Celery topology is: its settings, its generated secrets and its ``airflow.cfg``.

Pure values and one renderer, no processes: ``celery_topology.py`` starts and stops things with
them, and tests/unit/test_topology_settings.py checks the rendered configuration without starting
anything.
"""

from __future__ import annotations

import configparser
import re
import secrets
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.errors import CTError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
ADMIN_USER = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class TopologyError(CTError):
    """The native topology cannot be set up, started or reached; the message says what to do."""


class ServiceUnavailable(TopologyError):
    """PostgreSQL or Redis does not answer; ``service`` says which (``postgres`` or ``redis``)."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(message)
        self.service = service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class TopologySettings:
    """Where the topology lives and what it talks to. Saved as JSON by ``up``, read by ``down``."""

    root: Path
    """Topology directory: ``airflow/`` (AIRFLOW_HOME), ``logs/``, ``run/`` (pid files), the state file."""
    ct_home: Path
    """The project's data root (``CT_HOME``), shared by every Airflow process and worker."""
    ct_config: Path | None = None
    pg_url: str = DEFAULT_PG_URL
    """A PostgreSQL URL allowed to create databases; both databases live on this server."""
    airflow_db: str = "ct_airflow"
    store_db: str = "ct_store"
    redis_url: str = DEFAULT_REDIS_URL
    key_prefix: str = "ct-topology:"
    """Prefix of every Redis key and channel of this topology (kombu ``global_keyprefix``)."""
    workers: int = 2
    concurrency: int = 2
    """Task slots per Celery worker."""
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    serve_port: int | None = None
    """Port of ``ct serve`` on ``api_host`` (the scoring service, like compose's ``ct-serve``); None: not started.
    ``python -m scripts.celery_topology up`` starts it on 8081 unless told ``--serve-port 0``."""
    dags_paused: bool = False
    """``[core] dags_are_paused_at_creation``: False lets the loop run by itself, as ``make airflow``."""
    airflow_config: dict[str, str] = field(default_factory=dict)
    """Extra ``airflow.cfg`` options as ``{"section.key": value}`` (tests shorten heartbeat timeouts)."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for every process (``CT_INGEST_CRON``, ``OMP_NUM_THREADS`` ...)."""

    def __post_init__(self) -> None:
        for key, name in (("airflow_db", self.airflow_db), ("store_db", self.store_db)):
            if not _DB_NAME.match(name):
                raise TopologyError(
                    f"{key}={name!r} is not a plain PostgreSQL database name; expected lower-case "
                    "letters, digits and underscores, starting with a letter"
                )
        if self.airflow_db == self.store_db:
            raise TopologyError(
                f"airflow_db and store_db are both {self.airflow_db!r}; Airflow's metadata and the "
                "project's store must live in separate databases"
            )
        if self.workers < 1 or self.concurrency < 1:
            raise TopologyError(f"workers={self.workers}, concurrency={self.concurrency}: both must be at least 1")

    def database_url(self, name: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.pg_url).set(database=name).render_as_string(hide_password=False)

    @property
    def airflow_url(self) -> str:
        return self.database_url(self.airflow_db)

    @property
    def store_url(self) -> str:
        return self.database_url(self.store_db)

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def serve_url(self) -> str | None:
        return f"http://{self.api_host}:{self.serve_port}" if self.serve_port else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            root=str(self.root), ct_home=str(self.ct_home), ct_config=str(self.ct_config) if self.ct_config else None
        )
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TopologySettings:
        data = dict(data)
        data.update(
            root=Path(data["root"]),
            ct_home=Path(data["ct_home"]),
            ct_config=Path(data["ct_config"]) if data.get("ct_config") else None,
        )
        return cls(**data)


@dataclass(frozen=True)
class Secrets:
    """Generated once per topology directory and reused by every later ``up``."""

    fernet_key: str
    jwt_secret: str
    api_secret_key: str
    admin_password: str
    serve_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    """``CT_SERVE_TOKEN`` of ``ct serve`` (a state file written before it existed gets a new one)."""

    @classmethod
    def generate(cls) -> Secrets:
        from cryptography.fernet import Fernet

        return cls(
            fernet_key=Fernet.generate_key().decode(),
            jwt_secret=secrets.token_urlsafe(64),
            api_secret_key=secrets.token_urlsafe(32),
            admin_password=secrets.token_urlsafe(12),
            serve_token=secrets.token_urlsafe(32),
        )


def render_airflow_cfg(s: TopologySettings, k: Secrets, airflow_home: Path) -> configparser.ConfigParser:
    """The ``airflow.cfg`` every component reads: executor, databases, broker, auth, ports.

    ``s.airflow_config`` ({"section.key": value}) is applied last, over these values.
    """
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_dict(
        {
            "core": {
                "executor": "CeleryExecutor",
                "dags_folder": str(PROJECT_ROOT / "dags"),
                "plugins_folder": str(PROJECT_ROOT / "plugins"),
                "load_examples": "False",
                "dags_are_paused_at_creation": str(s.dags_paused),
                "fernet_key": k.fernet_key,
                # Task processes on the workers talk to Airflow only through this API.
                "execution_api_server_url": f"{s.api_url}/execution/",
                "auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
                "simple_auth_manager_users": f"{ADMIN_USER}:admin",
                "simple_auth_manager_all_admins": "False",
                "simple_auth_manager_passwords_file": str(airflow_home / PASSWORDS_FILE),
                # Both workers share this machine: record the Celery node name, not the FQDN.
                "hostname_callable": "ct_topology_hostname.hostname",
            },
            "database": {
                "sql_alchemy_conn": s.airflow_url,  # Airflow derives its async engine (asyncpg) from it
            },
            "celery": {
                "broker_url": s.redis_url,
                "result_backend": f"db+{s.airflow_url}",
                "worker_concurrency": str(s.concurrency),
            },
            "celery_broker_transport_options": {
                "global_keyprefix": s.key_prefix,  # other topologies on the same Redis never mix
                "visibility_timeout": "86400",  # Airflow's default, stated to silence its warning
            },
            "api": {"host": s.api_host, "port": str(s.api_port), "workers": "1", "secret_key": k.api_secret_key},
            "api_auth": {"jwt_secret": k.jwt_secret},  # shared: the scheduler signs what the API verifies
            # Workers call the execution API for every task; on a small, busy machine its 5 s default
            # turns a slow answer into a failed try.
            "workers": {"execution_api_timeout": "30"},
            "logging": {
                "base_log_folder": str(airflow_home / "logs"),
                # Workers run with --skip-serve-logs (all share base_log_folder on this machine);
                # the triggerer's log server gets a free port so parallel topologies never clash.
                "worker_log_server_port": str(free_port()),
                "trigger_log_server_port": str(free_port()),
            },
        }
    )
    for dotted, value in s.airflow_config.items():
        section, _, key = dotted.partition(".")
        if not key:
            raise TopologyError(f"airflow_config key {dotted!r} must be 'section.key'")
        if not cfg.has_section(section):
            cfg.add_section(section)
        cfg.set(section, key, str(value))
    return cfg
