#!/usr/bin/env python
"""``make serve``: ``ct serve`` on the demo's champion, with a bearer token, and how to call it.

``make demo`` leaves its registry in its own home (``$CT_HOME/demo``, see
``pipeline/app/demo_home.py``); this points ``ct serve`` at that home's config, SQLite registry
and file store (never at the user's ``CT_DATABASE_URL``), with the token from ``CT_SERVE_TOKEN``
when it is set, else from ``<demo home>/serve-token`` (generated on first use, mode 600, reused
after; a fresh ``make demo`` deletes it with the rest of the demo's data). It prints a ``curl``
of ``/predict`` with a row of the demo's data, then replaces itself with ``ct serve``, so Ctrl-C
stops the server.

    python -m scripts.serve_demo [--home DIR] [--port 8080]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import sys
from pathlib import Path

from pipeline.core.errors import CTError

TOKEN_FILE = "serve-token"


def demo_token(home: Path, env: dict[str, str]) -> tuple[str, str]:
    """The token ``ct serve`` will require and where it came from (``CT_SERVE_TOKEN`` or the file)."""
    if env.get("CT_SERVE_TOKEN"):
        return env["CT_SERVE_TOKEN"], "CT_SERVE_TOKEN"
    path = home / TOKEN_FILE
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token, str(path)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, str(path)


def serve_environment(home: Path, token: str, env: dict[str, str]) -> dict[str, str]:
    """``env`` with the ``CT_*`` locations of the demo's home and ``CT_SERVE_TOKEN`` set."""
    from pipeline.app.demo_home import demo_settings

    settings = demo_settings(home)
    return {
        **env,
        "CT_HOME": str(settings.home),
        "CT_CONFIG": str(settings.config_path),
        "CT_DATABASE_URL": settings.database_url,
        "CT_DATA_URL": settings.data_url,
        "CT_SERVE_TOKEN": token,
    }


def check_champion(home: Path) -> str:
    """The demo's champion as ``model vN``; refuses (saying to run ``make demo``) when there is none."""
    from pipeline.app.demo_home import MARKER, demo_settings
    from pipeline.app.workspace import open_workspace
    from pipeline.registry.base import CHAMPION

    if not (home / MARKER).exists():
        raise CTError(f"no demo in {home}: run `make demo` first (it trains the champion ct serve answers with)")
    ws = open_workspace(demo_settings(home))
    model = ws.config.model.name
    champion = ws.meta.get_alias(model, CHAMPION)
    if champion is None:
        raise CTError(f"the demo in {home} has no champion of {model}: run `make demo` again")
    return f"{model} v{champion.version}"


def example_row() -> dict[str, object]:
    """One row of the demo's churn data as a client sends it (no label)."""
    from pipeline.app.demo_data import DEMO_BATCHES, generate_batch
    from pipeline.core.config import load_config
    from pipeline.core.settings import BUNDLED_CONFIG

    label = load_config(BUNDLED_CONFIG).dataset.label
    frame = generate_batch(DEMO_BATCHES[0]).drop(columns=[label]).dropna()
    return dict(json.loads(frame.head(1).to_json(orient="records"))[0])


def curl_command(url: str, token_source: str, row: dict[str, object]) -> str:
    token = "$CT_SERVE_TOKEN" if token_source == "CT_SERVE_TOKEN" else f"$(cat {shlex.quote(token_source)})"
    body = shlex.quote(json.dumps(row))
    return (
        f'curl -s -H "Authorization: Bearer {token}" -H "Content-Type: application/json" \\\n'
        f"     -d {body} {url}/predict"
    )


def main(argv: list[str] | None = None) -> int:
    from pipeline.app.demo_home import default_demo_home
    from pipeline.core.config import load_config
    from pipeline.core.settings import BUNDLED_CONFIG, load_settings

    parser = argparse.ArgumentParser(prog="python -m scripts.serve_demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="the demo's home (default: $CT_HOME/demo, where `make demo` runs)")
    parser.add_argument("--port", type=int, help="port (default: serving.port of the bundled config)")
    args = parser.parse_args(argv)
    home = (args.home or default_demo_home(load_settings())).expanduser().resolve()
    try:
        champion = check_champion(home)
    except CTError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    token, source = demo_token(home, dict(os.environ))
    serving = load_config(BUNDLED_CONFIG).serving
    port = args.port or serving.port
    url = f"http://{serving.host}:{port}"
    print(f"ct serve: {champion} of the demo in {home}, on {url}")
    print(f"token: {'$CT_SERVE_TOKEN' if source == 'CT_SERVE_TOKEN' else source}. Try, in another terminal:\n")
    print(curl_command(url, source, example_row()))
    print(f"\n(also {url}/metadata with the same header; Ctrl-C stops the server)\n", flush=True)
    command = [sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port)]
    os.execve(sys.executable, command, serve_environment(home, token, dict(os.environ)))
    return 0  # not reached: execve replaced this process


if __name__ == "__main__":
    sys.exit(main())
