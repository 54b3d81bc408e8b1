"""A real S3 API for the tests: moto's standalone server on 127.0.0.1, a fresh bucket per test.

The server runs as a subprocess (``python -m moto.server``) on a free port picked at run time, once
per test session; each test gets its own bucket and an ``s3://bucket/ct`` data root, with the AWS
variables pointing at the server set in the test's environment (so subprocesses the test starts
inherit them). Without moto the tests skip and say why; ``CT_REQUIRE_S3=1`` (set by .ci/run) turns
that skip into a failure, so CI always runs them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "ct-test-key"
SECRET_KEY = "ct-test-secret-0123456789"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """Where the moto server answers."""

    endpoint_url: str

    def env(self) -> dict[str, str]:
        """The variables a process needs to reach this server as the data root's S3 API."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance-metadata endpoint for credentials
            "CT_S3_ENDPOINT_URL": self.endpoint_url,
        }

    def client(self):  # a boto3 S3 client, for setting up buckets and looking behind the store
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def new_bucket(self) -> str:
        name = f"ct-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unavailable(reason: str) -> None:
    if os.environ.get("CT_REQUIRE_S3") == "1":
        pytest.fail(f"CT_REQUIRE_S3=1 but {reason}")
    pytest.skip(reason)


def start_moto_server(log_path: Path) -> tuple[subprocess.Popen[bytes], S3Server]:
    """Start ``python -m moto.server`` on a free port and wait until it answers (30 s at most)."""
    try:
        import moto.server  # noqa: F401
    except ImportError as err:
        _unavailable(f"moto[server] is not installed ({err}); pip install -r requirements-dev.txt")
    for _ in range(3):  # a port picked free can be taken before the server binds it; pick another
        port = _free_port()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                    return proc, S3Server(url)
            except OSError:
                time.sleep(0.2)
        proc.kill()
        proc.wait()
    _unavailable(f"moto server did not start on 127.0.0.1; its log: {log_path}")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One moto server for the session."""
    proc, server = start_moto_server(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_data_url(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<fresh bucket>/ct`` with this test's environment pointing at the moto server."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return f"s3://{s3_server.new_bucket()}/ct"
