#!/usr/bin/env python
"""The production topology on this machine, without Docker: CeleryExecutor on the local Redis,
Airflow's metadata and the project's store on the local PostgreSQL, N Celery workers.

    python -m scripts.celery_topology up [--workers 2] [--api-port 8080] ...   # or: make celery-up
    python -m scripts.celery_topology status [--json]
    python -m scripts.celery_topology down [--drop]                             # or: make celery-down

``up`` creates the two databases when missing (Airflow's ``ct_airflow``, the store's ``ct_store``),
writes an ``AIRFLOW_HOME`` whose ``airflow.cfg`` holds the Celery set-up (broker Redis, result
backend PostgreSQL, ``sql_alchemy_conn`` psycopg2), runs ``airflow db migrate`` and ``ct db
upgrade``, writes the simple auth manager's password for user ``admin``, then starts api-server,
scheduler, dag-processor, triggerer, the Celery workers and ``ct serve`` (the scoring service, on
``--serve-port``, 8081 by default; its bearer token is generated like the other secrets), each its
own process group with a pid file and a log under the topology directory, and waits until every
part answers. ``down`` stops
them all (and with ``--drop`` deletes both databases and the Redis keys). It mirrors
``docker-compose.yaml`` service for service; docs/production.md compares the two.

Every worker consumes the shared ``default`` queue and a queue named after itself
(``ct-worker-1``...), so a task can be pinned to one worker with ``queue=``. Task instances record
the worker's Celery node name as their ``hostname`` (``ct_topology_hostname.py``).

Settings come from flags or ``CT_TOPOLOGY_*`` environment variables (``--help`` lists them); the
project's own ``CT_*`` variables (``CT_HOME``, ``CT_CONFIG``, ``CT_*_CRON`` ...) are passed on to
every Airflow process. :class:`CeleryTopology` is the same thing as a Python class, for tests and
benchmarks. Secrets (Fernet key, JWT secret, admin password) are generated on first ``up`` and kept
in ``<root>/topology.json`` (mode 600), never in the repository.
"""

from __future__ import annotations

import argparse
import configparser
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import CTError
from scripts.airflow_rest import AirflowClient, wait_for
from scripts.ct_topology_hostname import ENV_VAR as HOSTNAME_ENV
from scripts.topology_settings import (  # noqa: F401  (re-exported for tests and benchmarks)
    ADMIN_USER,
    DEFAULT_PG_URL,
    DEFAULT_REDIS_URL,
    PASSWORDS_FILE,
    Secrets,
    ServiceUnavailable,
    TopologyError,
    TopologySettings,
    free_port,
    render_airflow_cfg,
)

# Airflow's own processes import ct_topology_hostname as a top-level module ([core] hostname_callable).
SCRIPTS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = SCRIPTS_DIR.parent

log = logging.getLogger("ct.topology")

CORE_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
SERVE = "ct-serve"
"""``ct serve`` on the topology's store, started when ``settings.serve_port`` is set."""
STATE_FILE = "topology.json"
_START_HINTS = {
    "postgres": "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": 'start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no',
}


@dataclass(frozen=True)
class ProcessInfo:
    """One started component: pid, its start time (guards against a reused pid) and the log file."""

    name: str
    pid: int
    started: float
    log: Path


class CeleryTopology:
    """Set up, start, inspect and stop the native Celery topology described by ``settings``."""

    def __init__(self, settings: TopologySettings, secrets_: Secrets | None = None) -> None:
        self.settings = settings
        self.secrets = secrets_ or Secrets.generate()
        self._client: AirflowClient | None = None

    # -- locations ------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.settings.root

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def passwords_file(self) -> Path:
        return self.airflow_home / PASSWORDS_FILE

    def worker_names(self) -> list[str]:
        return [f"ct-worker-{i}" for i in range(1, self.settings.workers + 1)]

    @staticmethod
    def node_name(worker: str) -> str:
        """The Celery node name of ``worker``, also recorded as the task instances' ``hostname``."""
        return f"{worker}@{socket.gethostname()}"

    def worker_hostnames(self) -> set[str]:
        return {self.node_name(w) for w in self.worker_names()}

    # -- persistence ----------------------------------------------------------------------------
    def save_state(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / STATE_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"settings": self.settings.to_json(), "secrets": asdict(self.secrets)}, fh, indent=2)

    @classmethod
    def load(cls, root: Path) -> CeleryTopology:
        """The topology ``up`` saved in ``root``."""
        path = Path(root) / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TopologyError(
                f"no topology in {root} ({path} is missing); start one with `python -m scripts.celery_topology up`"
            ) from None
        return cls(TopologySettings.from_json(data["settings"]), Secrets(**data["secrets"]))

    # -- set-up ---------------------------------------------------------------------------------
    def check_services(self) -> None:
        """Fail early, and say how to start them, when PostgreSQL or Redis does not answer."""
        import redis
        import sqlalchemy as sa

        try:
            engine = sa.create_engine(self.settings.pg_url, connect_args={"connect_timeout": 5})
            with engine.connect():
                pass
            engine.dispose()
        except Exception as err:  # any connection failure: report it with the way out
            raise ServiceUnavailable(
                "postgres",
                f"PostgreSQL is not reachable at {_safe(self.settings.pg_url)} "
                f"({type(err).__name__}); {_START_HINTS['postgres']}",
            ) from None
        try:
            redis.Redis.from_url(self.settings.redis_url, socket_connect_timeout=5).ping()
        except Exception as err:  # idem
            raise ServiceUnavailable(
                "redis",
                f"Redis is not reachable at {_safe(self.settings.redis_url)} "
                f"({type(err).__name__}); {_START_HINTS['redis']}",
            ) from None

    def create_databases(self) -> list[str]:
        """Create Airflow's and the store's databases when missing; returns the ones created."""
        import sqlalchemy as sa

        created = []
        engine = sa.create_engine(self.settings.pg_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for name in (self.settings.airflow_db, self.settings.store_db):
                    exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
                    if exists is None:
                        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                        created.append(name)
        finally:
            engine.dispose()
        return created

    def airflow_cfg(self) -> configparser.ConfigParser:
        """The ``airflow.cfg`` every component reads (see ``topology_settings.render_airflow_cfg``)."""
        return render_airflow_cfg(self.settings, self.secrets, self.airflow_home)

    def write_airflow_home(self) -> None:
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        cfg_path = self.airflow_home / "airflow.cfg"
        fd = os.open(cfg_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("# Written by scripts/celery_topology.py; rewritten by every `up`.\n")
            self.airflow_cfg().write(fh)
        fd = os.open(self.passwords_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({ADMIN_USER: self.secrets.admin_password}, fh)

    def env(self, worker: str | None = None) -> dict[str, str]:
        """Environment of every component; a worker also gets its host name for task instances."""
        s = self.settings
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CT_"))}
        bin_dir = str(Path(sys.executable).parent)
        base.update(
            {
                "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.airflow_home),
                # this checkout's pipeline package first, as for its dags/ and plugins/ (compose: /opt/ct)
                "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins"), str(SCRIPTS_DIR)]),
                "CT_HOME": str(s.ct_home),
                "CT_DATABASE_URL": s.store_url,
            }
        )
        if s.ct_config:
            base["CT_CONFIG"] = str(s.ct_config)
        base.update(s.env)
        if worker:
            base[HOSTNAME_ENV] = self.node_name(worker)
        return base

    def component_env(self, name: str) -> dict[str, str]:
        """Environment of component ``name``: a worker's host name, or ``ct serve``'s token (given to it alone)."""
        if name == SERVE:
            return {**self.env(), "CT_SERVE_TOKEN": self.secrets.serve_token}
        return self.env(name if name not in CORE_COMPONENTS else None)

    def _run(self, what: str, argv: list[str], timeout: float) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{what}.log"
        with open(log_path, "w", encoding="utf-8") as out:
            result = subprocess.run(
                argv,
                check=False,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        if result.returncode != 0:
            raise TopologyError(
                f"{what} failed with exit code {result.returncode}; last lines of {log_path}:\n{_tail(log_path)}"
            )

    def prepare(self) -> None:
        """Databases, AIRFLOW_HOME, both schema migrations and the admin password (safe to repeat)."""
        self.check_services()
        created = self.create_databases()
        log.info(
            "databases: %s, %s (%s)",
            self.settings.airflow_db,
            self.settings.store_db,
            f"created {', '.join(created)}" if created else "already there",
        )
        (self.settings.ct_home / "landing").mkdir(parents=True, exist_ok=True)
        self.write_airflow_home()
        self.save_state()
        log.info("airflow db migrate -> %s", self.settings.airflow_db)
        self._run("airflow-db-migrate", [sys.executable, "-m", "airflow", "db", "migrate"], timeout=600)
        log.info("ct db upgrade -> %s", self.settings.store_db)
        upgrade = "import sys; from pipeline.cli import main; sys.exit(main(['db', 'upgrade']))"
        self._run("ct-db-upgrade", [sys.executable, "-c", upgrade], timeout=300)

    # -- processes ------------------------------------------------------------------------------
    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def _command(self, name: str, concurrency: int | None = None) -> list[str]:
        airflow = [sys.executable, "-m", "airflow"]
        if name in CORE_COMPONENTS:
            return [*airflow, name]
        if name == SERVE:
            if not self.settings.serve_port:
                raise TopologyError("ct serve has no port in this topology (serve_port is unset)")
            host, port = self.settings.api_host, str(self.settings.serve_port)
            return [sys.executable, "-m", "pipeline.cli", "serve", "--host", host, "--port", port]
        return [
            *airflow,
            "celery",
            "worker",
            "--celery-hostname",
            self.node_name(name),
            "--queues",
            f"default,{name}",
            "--concurrency",
            str(concurrency or self.settings.concurrency),
            "--skip-serve-logs",
        ]

    def start_process(self, name: str, concurrency: int | None = None) -> ProcessInfo:
        """Start one component (``scheduler``, ``ct-worker-2`` ...) in its own process group."""
        if self.process(name) is not None:
            raise TopologyError(f"{name} is already running (pid file {self._pid_file(name)})")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "a", encoding="utf-8") as out:
            proc = subprocess.Popen(
                self._command(name, concurrency),
                env=self.component_env(name),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
                start_new_session=True,
            )
        info = ProcessInfo(name=name, pid=proc.pid, started=_create_time(proc.pid) or time.time(), log=log_path)
        self._pid_file(name).write_text(json.dumps({"pid": info.pid, "started": info.started}), encoding="utf-8")
        log.info("started %s (pid %d, log %s)", name, info.pid, log_path)
        return info

    def process(self, name: str) -> ProcessInfo | None:
        """The running component ``name``, or None (no pid file, or that process is gone)."""
        try:
            data = json.loads(self._pid_file(name).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        started = _create_time(data["pid"])
        if started is None or abs(started - data["started"]) > 1.0:
            return None  # exited, or the pid now belongs to another process
        return ProcessInfo(name=name, pid=data["pid"], started=data["started"], log=self.log_dir / f"{name}.log")

    def known_processes(self) -> list[str]:
        names = [p.stem for p in sorted(self.run_dir.glob("*.pid"))] if self.run_dir.exists() else []
        return sorted(names, key=lambda n: (n not in CORE_COMPONENTS, n))

    def stop_process(self, name: str, *, hard: bool = False, timeout: float = 30.0) -> bool:
        """Stop ``name`` and everything it started; True if it was running (see ``stop_processes``)."""
        return bool(self.stop_processes([name], hard=hard, timeout=timeout))

    def stop_processes(self, names: list[str], *, hard: bool = False, timeout: float = 30.0) -> list[str]:
        """Stop components and everything they started, all at once; returns those that were running.

        SIGTERM first (a worker finishes its running tasks: Celery's warm shutdown), SIGKILL after
        ``timeout``; ``hard`` is SIGKILL at once, as if the machine died. Task processes put
        themselves in process groups of their own, so each whole tree is collected first and
        signalled too.
        """
        import psutil

        sig = signal.SIGKILL if hard else signal.SIGTERM
        stopped, trees = [], []
        for name in names:
            info = self.process(name)
            self._pid_file(name).unlink(missing_ok=True)
            if info is None:
                continue
            try:
                tree = [psutil.Process(info.pid), *psutil.Process(info.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            with _suppress_missing():
                os.killpg(info.pid, sig)
            for proc in tree:
                with _suppress_missing():
                    proc.send_signal(sig)
            stopped.append(name)
            trees.extend(tree)
            log.info("stopping %s (pid %d, %s)", name, info.pid, sig.name)
        _, alive = psutil.wait_procs(trees, timeout=5 if hard else timeout)
        for proc in alive:
            with _suppress_missing():
                proc.kill()
        psutil.wait_procs(alive, timeout=10)
        return stopped

    def kill_worker(self, worker: str) -> None:
        """SIGKILL a worker with its whole process tree, mid-task, as if its machine died."""
        if not self.stop_process(worker, hard=True):
            raise TopologyError(f"{worker} is not running; running: {', '.join(self.running()) or 'nothing'}")

    def running(self) -> list[str]:
        return [n for n in self.known_processes() if self.process(n) is not None]

    # -- readiness ------------------------------------------------------------------------------
    @property
    def client(self) -> AirflowClient:
        if self._client is None:
            self._client = AirflowClient(self.settings.api_url, ADMIN_USER, self.secrets.admin_password)
        return self._client

    def ping_workers(self, timeout: float = 2.0) -> set[str]:
        """Celery node names that answer a broadcast ping on this topology's broker."""
        from celery import Celery

        app = Celery(
            broker=self.settings.redis_url, broker_transport_options={"global_keyprefix": self.settings.key_prefix}
        )
        try:
            replies = app.control.ping(timeout=timeout) or []
        finally:
            app.close()
        return {node for reply in replies for node in reply}

    def _ready(self, names: list[str], workers: set[str]) -> bool:
        for name in names:
            info = self.process(name)
            if info is None:
                raise TopologyError(
                    f"{name} exited during start-up; last lines of {self.log_dir / (name + '.log')}:\n"
                    f"{_tail(self.log_dir / (name + '.log'))}"
                )
        try:
            health = self.client.health()
        except (OSError, RuntimeError, KeyError, ValueError):
            return False
        unhealthy = [
            part
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
            if (health.get(part) or {}).get("status") != "healthy"
        ]
        if unhealthy:
            return False
        return workers <= self.ping_workers() and (not self.settings.serve_port or self.serve_answers())

    def serve_answers(self) -> bool:
        """``ct serve`` answers ``/health`` (``/ready`` waits for a first champion; see ``status``)."""
        return self._serve_status("/health") == 200

    def _serve_status(self, path: str) -> int | None:
        import urllib.error
        import urllib.request

        url = f"{self.settings.serve_url}{path}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.secrets.serve_token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as err:
            return int(err.code)
        except OSError:
            return None

    def wait_ready(self, names: list[str], workers: set[str], timeout: float = 300.0) -> None:
        """Wait until the API answers, every component reports healthy and ``workers`` answer pings."""
        try:
            wait_for(
                lambda: self._ready(names, workers),
                timeout,
                interval=2.0,
                what="api-server, scheduler, dag-processor, triggerer, the Celery workers"
                + (" and ct serve" if self.settings.serve_port else ""),
            )
        except TimeoutError as err:
            raise TopologyError(f"{err}; logs are in {self.log_dir}") from None

    def start(self, timeout: float = 300.0) -> None:
        """Start every component, then wait until each one answers."""
        running = self.running()
        if running:
            raise TopologyError(f"already running in {self.root}: {', '.join(running)}; run `down` first")
        # The API server first: every task a worker runs starts with a call to its execution API,
        # and tasks are queued as soon as the scheduler sees the DAGs.
        self.start_process("api-server")
        try:
            wait_for(self._api_answers, timeout, interval=2.0, what="the api-server")
        except TimeoutError as err:
            raise TopologyError(f"{err}; see {self.log_dir / 'api-server.log'}") from None
        names = [*CORE_COMPONENTS, *self.worker_names(), *([SERVE] if self.settings.serve_port else [])]
        for name in names[1:]:
            self.start_process(name)
        self.wait_ready(names, self.worker_hostnames(), timeout)

    def _api_answers(self) -> bool:
        if self.process("api-server") is None:
            raise TopologyError(
                f"api-server exited during start-up; last lines of its log:\n{_tail(self.log_dir / 'api-server.log')}"
            )
        try:
            self.client.get("/api/v2/version")
            return True
        except (OSError, RuntimeError, KeyError, ValueError):
            return False

    def start_worker(self, worker: str, concurrency: int | None = None, timeout: float = 180.0) -> None:
        """(Re)start one worker and wait until it answers pings."""
        self.start_process(worker, concurrency)
        node = self.node_name(worker)
        try:
            wait_for(
                lambda: self.process(worker) is not None and node in self.ping_workers(),
                timeout,
                what=f"Celery worker {node}",
            )
        except TimeoutError as err:
            raise TopologyError(f"{err}; see {self.log_dir / (worker + '.log')}") from None

    def up(self, timeout: float = 300.0) -> CeleryTopology:
        """``prepare`` then ``start``; refuses to touch a topology that is running."""
        running = self.running()
        if running:
            raise TopologyError(f"already running in {self.root}: {', '.join(running)}; run `down` first")
        self.prepare()
        self.start(timeout)
        return self

    def down(self, timeout: float = 30.0) -> list[str]:
        """Stop every component at once; SIGKILL whatever still runs after ``timeout`` seconds."""
        return self.stop_processes(self.known_processes(), timeout=timeout)

    def drop(self) -> None:
        """Delete both databases and this topology's Redis keys (after ``down``)."""
        import redis
        import sqlalchemy as sa

        engine = sa.create_engine(self.settings.pg_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for name in (self.settings.airflow_db, self.settings.store_db):
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()
        client = redis.Redis.from_url(self.settings.redis_url)
        keys = list(client.scan_iter(match=f"{_glob_escape(self.settings.key_prefix)}*", count=1000))
        if keys:
            client.delete(*keys)
        log.info(
            "dropped databases %s, %s and %d Redis keys", self.settings.airflow_db, self.settings.store_db, len(keys)
        )

    def status(self) -> dict[str, Any]:
        """Which processes run, what the API reports and which workers answer."""
        processes = {n: (p.pid if (p := self.process(n)) else None) for n in self.known_processes()}
        try:
            health = self.client.health()
        except (OSError, RuntimeError, KeyError, ValueError) as err:
            health = {"error": f"{type(err).__name__}: {err}"}
        try:
            workers = sorted(self.ping_workers())
        except Exception as err:  # broker down or misconfigured: show it instead of failing
            workers = [f"error: {type(err).__name__}: {err}"]
        serve = None
        if self.settings.serve_port:
            serve = {
                "url": self.settings.serve_url,
                "health": self._serve_status("/health"),
                "ready": self._serve_status("/ready"),
            }
        return {
            "root": str(self.root),
            "url": self.settings.api_url,
            "user": ADMIN_USER,
            "processes": processes,
            "health": health,
            "workers": workers,
            "serve": serve,
        }


# -- helpers ------------------------------------------------------------------------------------
def _create_time(pid: int) -> float | None:
    """Start time of a live (non-zombie) process, else None."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except psutil.NoSuchProcess:
        return None


class _suppress_missing:
    """``with _suppress_missing():`` ignores a process that is already gone."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        import psutil

        return exc_type is not None and issubclass(exc_type, (ProcessLookupError, psutil.NoSuchProcess))


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} is not readable)"


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


# -- command line -------------------------------------------------------------------------------
def _default_root() -> Path:
    from pipeline.core.settings import load_settings

    return Path(os.environ.get("CT_TOPOLOGY_ROOT") or load_settings().home / "celery-topology")


def _settings_from_args(args: argparse.Namespace) -> TopologySettings:
    from pipeline.core.settings import load_settings

    project = load_settings()
    passed_on = {
        k: v
        for k, v in os.environ.items()
        if k.startswith("CT_")
        and not k.startswith("CT_TOPOLOGY_")
        and k not in ("CT_HOME", "CT_CONFIG", "CT_DATABASE_URL")
    }
    return TopologySettings(
        root=args.root,
        ct_home=project.home,
        ct_config=Path(os.environ["CT_CONFIG"]).resolve() if os.environ.get("CT_CONFIG") else None,
        pg_url=args.pg_url,
        airflow_db=args.airflow_db,
        store_db=args.store_db,
        redis_url=args.redis_url,
        key_prefix=args.key_prefix,
        workers=args.workers,
        concurrency=args.concurrency,
        api_port=args.api_port,
        serve_port=args.serve_port or None,
        dags_paused=args.paused,
        env=passed_on,
    )


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m scripts.celery_topology",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="topology directory (env CT_TOPOLOGY_ROOT; default $CT_HOME/celery-topology)",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="create databases, migrate, start every component and wait until ready")
    up.add_argument(
        "--workers",
        type=int,
        default=int(env("CT_TOPOLOGY_WORKERS", "2")),
        help="Celery workers (env CT_TOPOLOGY_WORKERS; default 2)",
    )
    up.add_argument(
        "--concurrency",
        type=int,
        default=int(env("CT_TOPOLOGY_CONCURRENCY", "2")),
        help="task slots per worker (env CT_TOPOLOGY_CONCURRENCY; default 2)",
    )
    up.add_argument(
        "--api-port",
        type=int,
        default=int(env("CT_TOPOLOGY_API_PORT", "8080")),
        help="api-server port (env CT_TOPOLOGY_API_PORT; default 8080)",
    )
    up.add_argument(
        "--serve-port",
        type=int,
        default=int(env("CT_TOPOLOGY_SERVE_PORT", "8081")),
        help="ct serve's port; 0: no ct serve (env CT_TOPOLOGY_SERVE_PORT; default 8081)",
    )
    up.add_argument(
        "--pg-url",
        default=env("CT_TOPOLOGY_PG_URL", DEFAULT_PG_URL),
        help=f"PostgreSQL server URL with CREATE DATABASE rights (env CT_TOPOLOGY_PG_URL; default {DEFAULT_PG_URL})",
    )
    up.add_argument(
        "--airflow-db",
        default=env("CT_TOPOLOGY_AIRFLOW_DB", "ct_airflow"),
        help="Airflow's metadata database (env CT_TOPOLOGY_AIRFLOW_DB; default ct_airflow)",
    )
    up.add_argument(
        "--store-db",
        default=env("CT_TOPOLOGY_STORE_DB", "ct_store"),
        help="the project's store database (env CT_TOPOLOGY_STORE_DB; default ct_store)",
    )
    up.add_argument(
        "--redis-url",
        default=env("CT_TOPOLOGY_REDIS_URL", DEFAULT_REDIS_URL),
        help=f"Celery broker (env CT_TOPOLOGY_REDIS_URL; default {DEFAULT_REDIS_URL})",
    )
    up.add_argument(
        "--key-prefix",
        default=env("CT_TOPOLOGY_KEY_PREFIX", "ct-topology:"),
        help="prefix of this topology's Redis keys (env CT_TOPOLOGY_KEY_PREFIX)",
    )
    up.add_argument("--paused", action="store_true", help="create the DAGs paused (default: unpaused)")
    up.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for readiness (default 300)")
    down = sub.add_parser("down", help="stop every component")
    down.add_argument("--drop", action="store_true", help="also drop both databases and the Redis keys")
    status = sub.add_parser("status", help="processes, health and answering workers")
    status.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.root = (args.root or _default_root()).resolve()
    try:
        if args.action == "up":
            state = args.root / STATE_FILE
            kept = CeleryTopology.load(args.root).secrets if state.exists() else None
            topology = CeleryTopology(_settings_from_args(args), kept)
            topology.up(args.timeout)
            s = topology.settings
            print(f"\nAirflow (CeleryExecutor, {s.workers} workers x {s.concurrency} slots) is up.")
            print(f"  UI / REST API  {s.api_url}   user {ADMIN_USER}   password {topology.secrets.admin_password}")
            print(f"  metadata       {_safe(s.airflow_url)}   store (CT_DATABASE_URL) {_safe(s.store_url)}")
            print(
                f"  broker         {_safe(s.redis_url)} (key prefix {s.key_prefix})   data root (CT_HOME) {s.ct_home}"
            )
            if s.serve_url:
                token = topology.secrets.serve_token
                print(f"  scoring        {s.serve_url}/predict   ct serve, bearer token {token}")
                print(
                    f"                 (ready once a champion exists: curl -H 'Authorization: Bearer {token}' "
                    f"{s.serve_url}/metadata)"
                )
            print(f"  logs / pids    {topology.log_dir}   {topology.run_dir}")
            print(f"  stop with      python -m scripts.celery_topology --root {args.root} down")
            return 0
        topology = CeleryTopology.load(args.root)
        if args.action == "down":
            stopped = topology.down()
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            if args.drop:
                topology.drop()
                print(
                    f"dropped {topology.settings.airflow_db}, {topology.settings.store_db} and the Redis keys "
                    f"under {topology.settings.key_prefix}"
                )
            return 0
        report = topology.status()
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            for name, pid in report["processes"].items():
                print(f"{name:14} {'running, pid ' + str(pid) if pid else 'stopped'}")
            health = report["health"]
            print(
                "health         "
                + (
                    health.get("error")
                    or ", ".join(
                        f"{part} {(health.get(part) or {}).get('status', '?')}"
                        for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                    )
                )
            )
            print(f"workers        {', '.join(report['workers']) or 'none answering'}")
            if report["serve"]:
                serve = report["serve"]
                print(f"ct serve       {serve['url']}: /health {serve['health']}, /ready {serve['ready']}")
            print(f"url            {report['url']} (user {report['user']})")
        return 0 if all(report["processes"].values()) and report["processes"] else 1
    except CTError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
