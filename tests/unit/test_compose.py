"""Production shape of the Docker Compose stack (docker-compose.yaml, .env.example, docker/).

Docker is not needed: the compose file is parsed with ``yaml.safe_load`` (which resolves
the ``&anchor`` / ``<<: *anchor`` merge keys the file uses) and ``${VAR}`` references are
interpolated the way compose does, with the values of ``.env.example``. Only the last test
asks a real ``docker compose config`` and skips when no Docker engine is available.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
POSTGRES_INIT = ROOT / "docker" / "postgres-init.sql"
REQUIREMENTS = ROOT / "requirements.txt"

IMAGE = "ct-airflow:latest"
CT_HOME = "/opt/ct/data"
CT_VOLUME = "ct-data"
AIRFLOW_DB = "airflow"
CT_DB = "ct"

AIRFLOW_CORE_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
SERVE = "ct-serve"
MINIO, MINIO_INIT = "minio", "minio-init"
REQUIRED_SERVICES = AIRFLOW_CORE_SERVICES | {"postgres", "redis", SERVE, MINIO, MINIO_INIT}
SECRET_KEY = re.compile(r"SECRET|PASSWORD|FERNET|TOKEN|_AUTH$", re.IGNORECASE)
# ${NAME}, ${NAME?msg} or ${NAME:?msg}: a reference with no literal fallback value.
BARE_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}$")
# Compose interpolation: $$ (escape), ${...} (braced) or $NAME.
VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>.*))?$", re.DOTALL)
VALID_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# --------------------------------------------------------------------------- helpers


def _strings(node: Any) -> Iterator[str]:
    """Every string (mapping keys included) in a parsed YAML tree."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _referenced_names(text: str) -> set[str]:
    names = set()
    for match in VARIABLE.finditer(text):
        if match.group("escaped"):
            continue
        if match.group("named"):
            names.add(match.group("named"))
            continue
        braced = BRACED.match(match.group("braced"))
        assert braced, f"unparsable variable reference ${{{match.group('braced')}}}"
        names.add(braced.group("name"))
    return names


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Substitute variables like docker compose does (without nested references)."""

    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("named"):
            return env.get(match.group("named"), "")
        braced = BRACED.match(match.group("braced"))
        assert braced, f"unparsable variable reference ${{{match.group('braced')}}}"
        name, op, arg = braced.group("name", "op", "arg")
        value = env.get(name)
        if op in (":-", "-"):
            return arg if (value is None or (op == ":-" and value == "")) else value
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise AssertionError(f"required variable {name} is missing: {arg}")
            return value
        if op in (":+", "+"):
            return arg if (value is not None and (op == "+" or value != "")) else ""
        return value or ""

    return VARIABLE.sub(substitute, text)


def _resolve(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return _interpolate(node, env)
    if isinstance(node, dict):
        return {key: _resolve(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, env) for item in node]
    return node


def _parse_env_file(path: Path) -> dict[str, str]:
    values = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        assert "=" in line, f"{path.name}: not KEY=value: {raw!r}"
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): ("" if value is None else str(value)) for key, value in env.items()}


def _depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return {name: (spec or {"condition": "service_started"}) for name, spec in deps.items()}


def _volume_mounts(service: dict) -> list[tuple[str, str]]:
    """(source, target) of each short- or long-syntax volume."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            mounts.append((parts[0], parts[1] if len(parts) > 1 else parts[0]))
        else:
            mounts.append((volume.get("source", ""), volume["target"]))
    return mounts


def _db_url(url: str) -> tuple[str | None, str]:
    parts = urlsplit(url)
    return parts.hostname, parts.path.lstrip("/")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def raw() -> dict:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    assert ENV_EXAMPLE.is_file(), f"{ENV_EXAMPLE} is missing"
    return _parse_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def filled_env(env_example: dict[str, str]) -> dict[str, str]:
    """.env.example as a user would fill it: empty secrets get URL-safe test values."""
    return {key: value or f"test-{key.strip('_').lower().replace('_', '-')}" for key, value in env_example.items()}


@pytest.fixture(scope="module")
def compose(raw: dict, filled_env: dict[str, str]) -> dict:
    """The compose model after variable interpolation."""
    return _resolve(raw, filled_env)


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def airflow_services(services: dict[str, dict]) -> dict[str, dict]:
    found = {name: svc for name, svc in services.items() if svc.get("image") == IMAGE}
    assert set(found) >= AIRFLOW_CORE_SERVICES, "every Airflow service runs the project image"
    return found


# --------------------------------------------------------------------------- services


def test_required_services_exist(services):
    missing = REQUIRED_SERVICES - set(services)
    assert not missing, f"missing services: {sorted(missing)}"


def test_core_services_are_not_behind_a_profile(services):
    for name in REQUIRED_SERVICES:
        assert not services[name].get("profiles"), f"{name} must start with a plain `docker compose up`"
    if "flower" in services:
        assert services["flower"].get("profiles"), "flower is optional (profile)"


def test_service_images(services):
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"] == "redis:7.2-bookworm"


def test_airflow_services_build_the_project_image(airflow_services):
    for name, svc in airflow_services.items():
        build = svc.get("build")
        assert build, f"{name} has no build section"
        assert build["context"] == "."
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert DOCKERFILE.is_file()


def test_airflow_commands(services):
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    assert services["airflow-worker"]["command"] == "celery worker"


def test_apiserver_publishes_port_8080(services):
    ports = [str(port) for port in services["airflow-apiserver"].get("ports", [])]
    assert any(port.endswith(":8080") for port in ports), ports


def test_published_ports_listen_on_loopback_unless_overridden(raw, filled_env, env_example):
    """Every published port binds an address from BIND_ADDRESS, 127.0.0.1 by default and in .env.example."""
    published = {name: svc.get("ports") for name, svc in raw["services"].items() if svc.get("ports")}
    assert {"airflow-apiserver", "flower"} <= set(published)
    assert env_example["BIND_ADDRESS"] == "127.0.0.1"
    without = {k: v for k, v in filled_env.items() if k != "BIND_ADDRESS"}
    for name, ports in published.items():
        for port in ports:
            assert isinstance(port, str) and port.startswith("${BIND_ADDRESS:-127.0.0.1}:"), (name, port)
            assert _interpolate(port, without).startswith("127.0.0.1:"), (name, port)
            assert _interpolate(port, {**filled_env, "BIND_ADDRESS": "0.0.0.0"}).startswith("0.0.0.0:"), (name, port)
    assert not raw["services"]["redis"].get("ports") and not raw["services"]["postgres"].get("ports")


def test_flower_requires_basic_auth(raw):
    flower = raw["services"]["flower"]
    env = _environment(flower)
    assert BARE_REFERENCE.match(env["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"])
    assert "FLOWER_BASIC_AUTH" in _referenced_names(env["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"])
    assert ":?" in env["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"], "no fallback: Flower never starts unprotected"
    assert "/healthcheck" in " ".join(flower["healthcheck"]["test"]), "the only page served without auth"


def test_redis_requires_a_password_and_the_broker_url_carries_it(raw, compose):
    redis = raw["services"]["redis"]
    command = redis["command"]
    assert command[:2] == ["redis-server", "--requirepass"] and BARE_REFERENCE.match(command[2])
    assert _referenced_names(command[2]) == {"REDIS_PASSWORD"}
    assert _referenced_names(_environment(redis)["REDISCLI_AUTH"]) == {"REDIS_PASSWORD"}, "the health check logs in"
    resolved = compose["services"]["redis"]["command"][2]
    for name, svc in compose["services"].items():
        broker = _environment(svc).get("AIRFLOW__CELERY__BROKER_URL")
        if broker:
            assert urlsplit(broker).password == resolved, name


def test_airflow_init_migrates_both_databases(services):
    init = services["airflow-init"]
    script = "\n".join(_strings(init.get("command"))) + "\n".join(_strings(init.get("entrypoint")))
    assert "airflow db migrate" in script
    assert "ct db upgrade" in script
    assert script.index("airflow db migrate") < script.index("ct db upgrade")
    assert init.get("restart", "no") == "no"


def test_worker_replicas_at_least_two(services):
    worker = services["airflow-worker"]
    replicas = (worker.get("deploy") or {}).get("replicas", 1)
    assert int(replicas) >= 2
    assert "container_name" not in worker, "a fixed container_name prevents replicas"
    assert not worker.get("ports"), "a published host port prevents replicas"


# --------------------------------------------------------------------------- environment


def test_every_airflow_service_uses_celery_executor(airflow_services):
    for name, svc in airflow_services.items():
        env = _environment(svc)
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name
        assert env.get("AIRFLOW__CELERY__BROKER_URL") == "redis://:test-redis-password@redis:6379/0", name


def test_airflow_settings(airflow_services):
    for name, svc in airflow_services.items():
        env = _environment(svc)
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false", name
        assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"].lower() == "true", name
        for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
            assert env.get(key), f"{name}: {key} is not set"
        assert env["CT_CONFIG"] == "/opt/airflow/config/pipeline.yaml", name


def test_execution_api_points_at_the_apiserver(airflow_services, services):
    for name, svc in airflow_services.items():
        url = urlsplit(_environment(svc)["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert (url.hostname, url.port, url.path) == ("airflow-apiserver", 8080, "/execution/"), name
    assert "airflow-apiserver" in services


def test_same_secrets_in_every_airflow_service(raw):
    """Tokens signed by the scheduler must verify on the API server: one JWT secret for all."""
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
        values = {_environment(svc).get(key) for svc in raw["services"].values() if svc.get("image") == IMAGE}
        assert len(values) == 1, f"{key} differs between services: {values}"


def test_simple_auth_manager_login(airflow_services, raw):
    for name, svc in airflow_services.items():
        env = _environment(svc)
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("simple_auth_manager.SimpleAuthManager"), name
        _user, role = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(":")
        assert role == "admin"
        assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"].lower() == "false", name
        passwords = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
        targets = {target for _, target in _volume_mounts(svc)}
        assert str(Path(passwords).parent) in targets, f"{name}: passwords file is not on a volume"
    users = _environment(raw["services"]["airflow-apiserver"])["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    assert "_AIRFLOW_WWW_USER_USERNAME" in users, "the login name comes from .env"
    init_env = _environment(raw["services"]["airflow-init"])
    assert BARE_REFERENCE.match(init_env["_AIRFLOW_WWW_USER_PASSWORD"])


def test_every_airflow_service_shares_the_ct_home_volume(airflow_services, compose):
    assert CT_VOLUME in (compose.get("volumes") or {}), f"named volume {CT_VOLUME} is not declared"
    for name, svc in airflow_services.items():
        env = _environment(svc)
        assert env.get("CT_HOME") == CT_HOME, name
        assert (CT_VOLUME, CT_HOME) in _volume_mounts(svc), f"{name} does not mount {CT_VOLUME}:{CT_HOME}"


def test_code_is_mounted_for_development(airflow_services):
    for name, svc in airflow_services.items():
        mounts = _volume_mounts(svc)
        for folder in ("dags", "plugins", "config"):
            assert (f"./{folder}", f"/opt/airflow/{folder}") in mounts, f"{name}: ./{folder} not mounted"
        assert ("./pipeline", "/opt/ct/pipeline") in mounts, name
        assert "/opt/ct" in _environment(svc).get("PYTHONPATH", "").split(":"), name


def test_project_and_airflow_metadata_use_separate_databases(airflow_services, services):
    for name, svc in airflow_services.items():
        env = _environment(svc)
        airflow_url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        ct_url = env["CT_DATABASE_URL"]
        assert airflow_url.startswith("postgresql"), name
        assert ct_url.startswith("postgresql"), name
        assert _db_url(airflow_url) == ("postgres", AIRFLOW_DB), name
        assert _db_url(env["AIRFLOW__CELERY__RESULT_BACKEND"]) == ("postgres", AIRFLOW_DB), name
        assert _db_url(ct_url) == ("postgres", CT_DB), name
    assert _environment(services["postgres"])["POSTGRES_DB"] == AIRFLOW_DB


def test_postgres_init_creates_the_project_database(services):
    mounts = dict(_volume_mounts(services["postgres"]))
    initdb = [src for src, dst in mounts.items() if dst.startswith("/docker-entrypoint-initdb.d/")]
    assert initdb, "no init script mounted into /docker-entrypoint-initdb.d"
    assert any((ROOT / src).resolve() == POSTGRES_INIT for src in initdb)
    sql = POSTGRES_INIT.read_text(encoding="utf-8")
    assert re.search(rf"CREATE\s+DATABASE\s+\"?{CT_DB}\"?\b", sql, re.IGNORECASE), sql


# --------------------------------------------------------------------------- scoring service


def test_serve_runs_ct_serve_on_the_shared_store_in_the_project_image(airflow_services):
    serve = airflow_services[SERVE]  # the project image, the shared env and volumes: checked above for all
    command = " ".join(_strings(serve["command"]))
    assert re.search(r"\bct serve\b.*--host 0\.0\.0\.0\b.*--port 8080\b", command), command
    assert serve.get("restart") == "always"


def test_serve_publishes_8080_on_a_host_port_of_its_own(raw, filled_env):
    published = {
        name: _interpolate(port, filled_env).rsplit(":", 2)
        for name, svc in raw["services"].items()
        for port in svc.get("ports") or []
    }
    assert published[SERVE][-1] == "8080"
    host_ports = [hp for _, hp, _ in published.values()]
    assert len(host_ports) == len(set(host_ports)), f"two services publish one host port: {published}"


def test_serve_token_comes_from_env_and_only_ct_serve_gets_it(raw, env_example):
    env = _environment(raw["services"][SERVE])
    assert BARE_REFERENCE.match(env["CT_SERVE_TOKEN"]) and ":?" in env["CT_SERVE_TOKEN"], "no token, no start"
    others = {name for name, svc in raw["services"].items() if name != SERVE and "CT_SERVE_TOKEN" in _environment(svc)}
    assert not others and "CT_SERVE_TOKEN" not in _environment(raw["x-airflow-common"])
    assert "CT_SERVE_TOKEN" in env_example


def test_serve_is_healthy_when_ready_and_starts_after_the_store_schema(services):
    serve = services[SERVE]
    assert "http://localhost:8080/ready" in serve["healthcheck"]["test"]
    deps = _depends_on(serve)
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["airflow-init"]["condition"] == "service_completed_successfully"
    assert "redis" not in deps, "ct serve needs no broker"


# --------------------------------------------------------------------------- data root on MinIO


def test_minio_holds_the_data_root_of_every_project_service(airflow_services, compose, filled_env):
    """Every service of the project image reads its data root through the S3 API of ``minio``.

    The compose environment is handed to the code that builds the store's options, so the variable
    names here and in pipeline/core/s3.py cannot drift apart.
    """
    from pipeline.core.s3 import S3Options

    assert "minio-data" in (compose.get("volumes") or {})
    for name, svc in airflow_services.items():
        env = _environment(svc)
        assert env["CT_DATA_URL"] == f"s3://{filled_env['CT_S3_BUCKET']}/ct", name
        options = S3Options.from_env(env).storage_options()
        assert options["client_kwargs"]["endpoint_url"] == "http://minio:9000", name
        assert options["key"] == filled_env["CT_S3_ACCESS_KEY_ID"], name
        assert options["secret"] == filled_env["CT_S3_SECRET_ACCESS_KEY"], name
        assert _depends_on(svc)["minio-init"]["condition"] == "service_completed_successfully", name


def test_minio_is_healthy_private_and_keeps_its_data(services):
    minio = services[MINIO]
    assert minio["image"].startswith("minio/minio:RELEASE."), "a fixed release, not latest"
    assert minio["command"][:2] == ["server", "/data"]
    assert ("minio-data", "/data") in _volume_mounts(minio)
    assert " ".join(minio["healthcheck"]["test"]) == "CMD mc ready local"
    assert not minio.get("ports"), "the object store is reached inside the compose network only"
    assert minio.get("restart") == "always"


def test_minio_init_creates_the_bucket_and_the_project_key_pair(raw, services, filled_env):
    init = services[MINIO_INIT]
    assert init["image"].startswith("minio/mc:RELEASE.")
    assert _depends_on(init)[MINIO]["condition"] == "service_healthy"
    assert init.get("restart") == "no"
    script = "\n".join(_strings(raw["services"][MINIO_INIT]["command"]))
    assert 'mc mb --ignore-existing "ct/$${CT_S3_BUCKET}"' in script, "idempotent: runs on every up"
    assert 'mc admin user add ct "$${CT_S3_ACCESS_KEY_ID}" "$${CT_S3_SECRET_ACCESS_KEY}"' in script
    env = _environment(init)
    for key in ("CT_S3_BUCKET", "CT_S3_ACCESS_KEY_ID", "CT_S3_SECRET_ACCESS_KEY", "MINIO_ROOT_PASSWORD"):
        assert env[key] == filled_env[key], key
    assert env["MINIO_ROOT_PASSWORD"] == _environment(services[MINIO])["MINIO_ROOT_PASSWORD"]
    assert "MINIO_ROOT_PASSWORD" not in _environment(services["airflow-worker"]), "tasks never get the root login"


# --------------------------------------------------------------------------- secrets


def test_no_literal_secret_values(raw):
    """Every *SECRET* / *PASSWORD* / *FERNET* setting is a ${VAR} reference without fallback."""
    blocks = {f"services.{name}": svc for name, svc in raw["services"].items()}
    blocks.update({key: value for key, value in raw.items() if key.startswith("x-") and isinstance(value, dict)})
    checked = 0
    for where, block in blocks.items():
        for key, value in _environment(block).items():
            if not SECRET_KEY.search(key):
                continue
            if key.endswith("_FILE") and value.startswith("/"):
                continue  # a path to a secret (SIMPLE_AUTH_MANAGER_PASSWORDS_FILE), not a secret
            checked += 1
            assert BARE_REFERENCE.match(value), f"{where}: {key} holds a literal value: {value!r}"
    assert checked >= 4


def test_credentials_in_urls_are_references(raw):
    credentials = re.compile(r"://(?P<user>[^:/@]*):(?P<password>.*?)@")
    for text in _strings(raw):
        for match in credentials.finditer(text):
            password = match.group("password")
            assert password == "" or BARE_REFERENCE.match(password), f"literal password in {text!r}"


def test_env_example_commits_no_secret(env_example):
    for key, value in env_example.items():
        if SECRET_KEY.search(key):
            assert value == "", f".env.example must leave {key} empty (it is a secret)"


def test_every_compose_variable_is_defined_in_env_example(raw, env_example):
    referenced = set()
    for text in _strings(raw):
        referenced |= _referenced_names(text)
    assert referenced, "the compose file references no variable at all?"
    missing = referenced - set(env_example)
    assert not missing, f"referenced in docker-compose.yaml but not in .env.example: {sorted(missing)}"
    assert env_example.get("AIRFLOW_UID") == "50000"


def test_env_example_documents_how_to_generate_secrets():
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert "Fernet.generate_key()" in text
    assert "secrets.token_urlsafe" in text


# --------------------------------------------------------------------------- dependencies & health


def test_depends_on_points_to_existing_services(services):
    for name, svc in services.items():
        for target, spec in _depends_on(svc).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert target != name
            condition = spec.get("condition", "service_started")
            assert condition in VALID_CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target} health, which has none"
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", f"{target} is a one-shot job"
            if not svc.get("profiles"):
                assert not services[target].get("profiles"), f"{name} depends on optional {target}"


def test_startup_order(services):
    for name in AIRFLOW_CORE_SERVICES:
        deps = _depends_on(services[name])
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    assert _depends_on(services["airflow-worker"])["airflow-apiserver"]["condition"] == "service_healthy"


def test_healthchecks(services):
    for name in ("postgres", "redis", "airflow-apiserver"):
        test = services[name].get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "redis-cli" in services["redis"]["healthcheck"]["test"]
    api_check = " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "/api/v2/version" in api_check


# --------------------------------------------------------------------------- image


def _dockerfile_airflow_version() -> str:
    text = DOCKERFILE.read_text(encoding="utf-8")
    match = re.search(r"^FROM\s+apache/airflow:(?P<version>\d+\.\d+\.\d+)-python3\.11\b", text, re.MULTILINE)
    assert match, "docker/Dockerfile must start FROM apache/airflow:<version>-python3.11"
    return match.group("version")


def test_dockerfile_installs_requirements_and_project():
    _dockerfile_airflow_version()
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^COPY\b.*\brequirements\.txt\b", text, re.MULTILINE)
    assert re.search(r"^RUN pip install\b.*-r\s+\S*requirements\.txt", text, re.MULTILINE)
    assert re.search(r"^COPY\b.*\bpyproject\.toml\b", text, re.MULTILINE)
    assert re.search(r"^COPY\b.*\bpipeline/", text, re.MULTILINE)
    assert re.search(r"pip install\b[^\n]*--no-deps", text)
    assert re.search(r"^USER airflow\b", text, re.MULTILINE), "pip must run as the airflow user"


def test_dockerfile_airflow_version_matches_requirements():
    version = _dockerfile_airflow_version()
    if not REQUIREMENTS.is_file():
        pytest.skip("requirements.txt does not exist yet")
    from packaging.specifiers import SpecifierSet

    pin = re.compile(r"^apache[-_.]airflow(?:\[[^\]]*\])?\s*(?P<spec>(?:[<>=!~].*)?)$", re.IGNORECASE)
    specs = []
    for raw_line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = raw_line.split("#", 1)[0].split(";", 1)[0].strip()
        match = pin.match(line)
        if match:
            specs.append(match.group("spec").replace(" ", ""))
    if not specs:
        pytest.skip("requirements.txt does not list apache-airflow")
    for spec in specs:
        assert spec, "requirements.txt lists apache-airflow without pinning its version"
        assert version in SpecifierSet(spec), (
            f"docker/Dockerfile uses Airflow {version}, requirements.txt pins apache-airflow{spec}"
        )


# --------------------------------------------------------------------------- real docker compose


def test_docker_compose_config_is_valid(tmp_path, raw, filled_env):
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no Docker engine on this machine")
    try:
        if subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode != 0:
            pytest.skip("no Docker engine on this machine")
        if subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode != 0:
            pytest.skip("the docker compose plugin is not installed")
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("no Docker engine on this machine")

    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in filled_env.items()), encoding="utf-8")
    profiles = sorted({p for svc in raw["services"].values() for p in svc.get("profiles") or []})
    command = [
        docker,
        "compose",
        "--project-directory",
        str(ROOT),
        "-f",
        str(COMPOSE_FILE),
        "--env-file",
        str(env_file),
    ]
    for profile in profiles:
        command += ["--profile", profile]
    result = subprocess.run([*command, "config", "-q"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
