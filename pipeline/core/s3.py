"""Connection settings of an ``s3://`` data root, read from the environment, never from config files.

The data root URL (``CT_DATA_URL=s3://bucket/prefix``) says only where; who and through which endpoint
come from the standard AWS variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``)
or, to point only this project at another endpoint, ``CT_S3_ENDPOINT_URL``. In Airflow tasks an
Airflow connection may provide them instead (the glue in ``plugins/`` reads it and passes the fields
to :meth:`S3Options.from_connection`). With no key at all, botocore's own chain (profile, instance
role) decides. The values become s3fs storage
options; the secret parts never appear in a URL, a repr or a log line, so lineage and messages that
show :meth:`ObjectStore.uri <pipeline.core.storage.ObjectStore.uri>` carry no credential.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pipeline.core.errors import ConfigError

S3_PROTOCOLS = ("s3", "s3a")


def is_s3_url(url: str) -> bool:
    """True for ``s3://`` (and Hadoop's ``s3a://``) URLs."""
    return urlsplit(url).scheme.lower() in S3_PROTOCOLS


@dataclass(frozen=True)
class S3Options:
    """Endpoint, region and credentials of the S3 API behind the data root (secrets hidden in repr)."""

    endpoint_url: str | None = None
    region: str | None = None
    key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Options:
        """Read the variables named in the module docstring; empty values count as unset."""
        env = os.environ if env is None else env

        def first(*names: str) -> str | None:
            return next((env[n] for n in names if env.get(n)), None)

        key, secret = first("AWS_ACCESS_KEY_ID"), first("AWS_SECRET_ACCESS_KEY")
        if bool(key) != bool(secret):
            have, missing = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if not key:
                have, missing = missing, have
            raise ConfigError(
                f"{have} is set but {missing} is not: set both (the S3 data root's key pair) or neither "
                "(botocore's profile or instance role)"
            )
        endpoint = first("CT_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
            raise ConfigError(
                f"S3 endpoint {endpoint!r} (CT_S3_ENDPOINT_URL/AWS_ENDPOINT_URL): expected an http:// or "
                "https:// URL such as http://minio:9000"
            )
        return cls(
            endpoint_url=endpoint,
            region=first("AWS_REGION", "AWS_DEFAULT_REGION"),
            key=key,
            secret=secret,
            token=first("AWS_SESSION_TOKEN"),
        )

    @classmethod
    def from_connection(
        cls, login: str | None, password: str | None, extra: Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> S3Options:
        """The fields of an ``aws``-type connection (login = key id, password = secret; extra
        ``endpoint_url``, ``region_name``, ``aws_session_token``) over what the environment says."""
        base = cls.from_env(env)
        unknown = sorted(set(extra) - {"endpoint_url", "region_name", "aws_session_token"})
        if unknown:
            raise ConfigError(
                f"the data root's Airflow connection has extra fields {unknown} this project does not read; "
                "expected endpoint_url, region_name, aws_session_token"
            )
        if bool(login) != bool(password):
            raise ConfigError(
                "the data root's Airflow connection needs both login (the access key id) and password (the "
                "secret access key), or neither"
            )
        endpoint = extra.get("endpoint_url") or base.endpoint_url
        if endpoint and urlsplit(str(endpoint)).scheme not in ("http", "https"):
            raise ConfigError(f"the data root's Airflow connection: endpoint_url {endpoint!r} is not an http(s) URL")
        return cls(
            endpoint_url=str(endpoint) if endpoint else None,
            region=str(extra.get("region_name") or base.region or "") or None,
            key=login or base.key,
            secret=password or base.secret,
            token=str(extra.get("aws_session_token") or "") or (None if login else base.token),
        )

    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments for ``s3fs.S3FileSystem``.

        The listings cache is off: other processes (ingest, training, serving) write under the same
        prefixes, and a cached listing would hide their objects from ``exists`` and ``list``.
        """
        opts: dict[str, Any] = {"use_listings_cache": False}
        if self.key and self.secret:
            opts.update(key=self.key, secret=self.secret)
        if self.token:
            opts["token"] = self.token
        client: dict[str, Any] = {}
        if self.endpoint_url:
            client["endpoint_url"] = self.endpoint_url
        if self.region:
            client["region_name"] = self.region
        if client:
            opts["client_kwargs"] = client
        return opts


def check_s3_url(url: str) -> None:
    """Refuse an ``s3://`` URL that carries credentials or no bucket (it would be shown in lineage)."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise ConfigError(
            "CT_DATA_URL must not carry credentials (s3://KEY:SECRET@bucket/...): it is shown in lineage and "
            "logs. Use s3://bucket/prefix and put the key pair in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        )
    if not parts.netloc:
        raise ConfigError(f"CT_DATA_URL {url!r}: expected s3://bucket/prefix (the bucket is missing)")
