"""The S3 data root's options: read from the environment or an Airflow connection's fields, shown nowhere."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.app.data_root import settings_with_connection
from pipeline.core.errors import ConfigError
from pipeline.core.s3 import S3Options, check_s3_url, is_s3_url
from pipeline.core.settings import BUNDLED_CONFIG, Settings

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def test_environment_gives_endpoint_region_and_key_pair() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": "eu-central-1",
        "AWS_ENDPOINT_URL": "https://s3.example.test",
    }
    opts = S3Options.from_env(env).storage_options()
    assert opts == {
        "use_listings_cache": False,
        "key": "AKIDEXAMPLE",
        "secret": SECRET,
        "client_kwargs": {"endpoint_url": "https://s3.example.test", "region_name": "eu-central-1"},
    }
    # CT_S3_ENDPOINT_URL points this project elsewhere without touching other AWS tools' endpoint
    ct = S3Options.from_env({**env, "CT_S3_ENDPOINT_URL": "http://minio:9000", "AWS_ENDPOINT_URL_S3": "http://x:1"})
    assert ct.endpoint_url == "http://minio:9000"
    assert S3Options.from_env({**env, "AWS_ENDPOINT_URL_S3": "http://x:1"}).endpoint_url == "http://x:1"


def test_no_variables_leave_it_to_botocore() -> None:
    assert S3Options.from_env({}).storage_options() == {"use_listings_cache": False}
    assert S3Options.from_env({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}).key is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AWS_SECRET_ACCESS_KEY": SECRET}, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"),
        ({"AWS_ACCESS_KEY_ID": "AKID"}, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"),
        ({"CT_S3_ENDPOINT_URL": "minio:9000"}, "expected an http:// or https:// URL"),
    ],
)
def test_bad_environment_is_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        S3Options.from_env(env)


def test_repr_shows_no_secret() -> None:
    opts = S3Options.from_env(
        {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": SECRET}
    )
    assert SECRET not in repr(opts) and "AKID" not in repr(opts)


def test_urls() -> None:
    assert is_s3_url("s3://bucket/prefix") and is_s3_url("S3A://b") and not is_s3_url("file:///tmp/x")
    check_s3_url("s3://bucket/prefix")
    with pytest.raises(ConfigError, match="must not carry credentials"):
        check_s3_url(f"s3://AKID:{SECRET}@bucket/prefix")
    with pytest.raises(ConfigError, match="the bucket is missing"):
        check_s3_url("s3:///prefix")


def test_connection_fields_win_over_the_environment() -> None:
    env = {"AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_SESSION_TOKEN": "envtoken"}
    opts = S3Options.from_connection("CONNKEY", SECRET, {"endpoint_url": "http://minio:9000"}, env)
    assert (opts.key, opts.secret, opts.token, opts.endpoint_url) == ("CONNKEY", SECRET, None, "http://minio:9000")
    only_endpoint = S3Options.from_connection(None, None, {"region_name": "eu-west-1"}, env)
    assert (only_endpoint.key, only_endpoint.token, only_endpoint.region) == ("ENVKEY", "envtoken", "eu-west-1")


@pytest.mark.parametrize(
    ("login", "password", "extra", "message"),
    [
        ("AKID", None, {}, "needs both login"),
        ("AKID", SECRET, {"endpoint": "http://x"}, r"extra fields \['endpoint'\]"),
        ("AKID", SECRET, {"endpoint_url": "ftp://x"}, "not an http"),
    ],
)
def test_bad_connection_is_refused(login: str | None, password: str | None, extra: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        S3Options.from_connection(login, password, extra, {})


def test_settings_carry_connection_options_without_showing_them(tmp_path: Path) -> None:
    base = Settings(home=tmp_path, config_path=BUNDLED_CONFIG, database_url="sqlite://", data_url="s3://bucket/ct")
    settings = settings_with_connection("AKID", SECRET, {"endpoint_url": "http://minio:9000"}, base)
    assert settings.storage_options is not None and settings.storage_options["secret"] == SECRET
    assert SECRET not in repr(settings) and settings == base  # options are not part of equality either
    with pytest.raises(ConfigError, match="is not s3://"):
        settings_with_connection("AKID", SECRET, {}, dataclasses.replace(base, data_url=tmp_path.as_uri()))
