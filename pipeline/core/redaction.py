"""Secrets stay off the screen: URLs, environment values and free text as they may be shown.

A database URL carries its password, a broker URL its Redis password, a webhook URL its token
in the path. Whatever the project prints or logs goes through one of these helpers first:
:func:`redact_url` for a URL, :func:`redact_env_value` for an environment variable by name and
value, and :func:`scrub` for text that may quote a secret (a subprocess's log lines).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from pipeline.core.settings import Settings

HIDDEN = "***"

_SECRET_PARAM = re.compile(r"pass|secret|token|key|sig|auth|credential", re.IGNORECASE)
_SECRET_VAR = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|FERNET|API_KEY|PRIVATE_KEY|_KEY$|BASIC_AUTH|CREDENTIAL", re.IGNORECASE
)
_WEBHOOK_VAR = re.compile(r"WEBHOOK", re.IGNORECASE)


def redact_url(url: str, keep_path: bool = True) -> str:
    """``url`` with its password and secret-looking query values replaced by ``***``.

    ``keep_path=False`` also drops the path and query (``scheme://host[:port]/…``), for URLs whose
    path is the secret, such as chat webhooks. Text that is not a URL comes back unchanged.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # e.g. an invalid port: show nothing of it rather than guess
        return HIDDEN
    if not parts.scheme or "://" not in url:
        return url
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:{HIDDEN}@{hostport}"
    if not keep_path:
        return f"{parts.scheme}://{netloc}/…"
    shown = url.replace(parts.netloc, netloc, 1)  # edit in place: urlunsplit would rewrite sqlite:////abs paths
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(_SECRET_PARAM.search(k) for k, _ in pairs):
            query = "&".join(f"{k}={HIDDEN if _SECRET_PARAM.search(k) else v}" for k, v in pairs)
            head, _, _ = shown.partition("?")
            shown = f"{head}?{query}" + (f"#{parts.fragment}" if parts.fragment else "")
    return shown


def redact_env_value(name: str, value: str) -> str:
    """An environment variable's value as it may be shown: secrets by name, URLs by their parts."""
    if not value:
        return value
    if _SECRET_VAR.search(name):
        return HIDDEN
    if "://" in value:
        return redact_url(value, keep_path=not _WEBHOOK_VAR.search(name))
    return value


def url_secrets(url: str | None) -> list[str]:
    """The secret pieces of a URL (password, decoded and raw; secret query values) for :func:`scrub`."""
    if not url or "://" not in url:
        return []
    try:
        parts = urlsplit(url)
        found = [parts.password, unquote(parts.password)] if parts.password else []
    except ValueError:
        return [url]
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if _SECRET_PARAM.search(k)]
    return [s for s in found if s]


def settings_secrets(settings: Settings) -> list[str]:
    """What must never be shown of these settings: URL passwords and the whole webhook URL's path."""
    found = url_secrets(settings.database_url) + url_secrets(settings.data_url)
    hook = settings.alert_webhook_url
    if hook:
        found += url_secrets(hook)
        path = urlsplit(hook).path.strip("/")
        if path:
            found.append(path)
    return found


_URL_PASSWORD = re.compile(r"(\b[A-Za-z][\w+.-]*://[^\s:/@]*:)[^\s@/]+@")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (4+ characters) and any URL's password hidden."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return _URL_PASSWORD.sub(lambda m: f"{m[1]}{HIDDEN}@", text)
