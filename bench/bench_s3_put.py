"""Benchmark: ``ObjectStore.put`` of new objects, this store's way vs the rename-based way it replaced.

On S3 (moto's server on 127.0.0.1, the one the tests use) the store now writes with one conditional
PUT (``If-None-Match: *``); before, it checked ``exists``, wrote a temporary key and ``mv``-ed it
into place, which on S3 is a copy plus a delete. On a local folder it now links a fsynced temporary
file into place (``os.link``, refused when the name exists); before, it checked ``exists`` and
renamed. For each size the table gives the median time per put and, on S3, the HTTP requests each
put sent (counted with a botocore event hook). moto is in-process-fast and local: the request count
is what carries over to a real S3 endpoint, where each request is a network round trip.

Run:

    .venv/bin/python -m bench.bench_s3_put               # the run recorded in docs/measurements.md
    .venv/bin/python -m bench.bench_s3_put --quick
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.core.storage import ObjectStore, atomic_write_bytes
from tests.s3_server import start_moto_server

SIZES = {"1 KiB": 1024, "1 MiB": 2**20, "16 MiB": 16 * 2**20}


def old_put(store: ObjectStore, key: str, data: bytes) -> bool:
    """The store's put before this change: check, write a temporary name, move it into place."""
    path = store.path(key)
    if store.fs.exists(path):
        return False
    if store._local:
        atomic_write_bytes(Path(path), data)
        return True
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    store.fs.pipe_file(tmp, data)
    store.fs.mv(tmp, path)
    return True


def count_requests(store: ObjectStore) -> list[int]:
    """A one-item counter of the S3 requests ``store`` sends from now on (call once per store)."""
    counter = [0]

    def seen(**_: Any) -> None:
        counter[0] += 1

    store.exists("bench/warm-up")  # opens the client the hook is registered on
    store.fs.s3.meta.events.register("before-send.s3", seen)
    return counter


def measure(
    store: ObjectStore, counter: list[int], put: Callable[[ObjectStore, str, bytes], bool], size: int, n: int
) -> tuple[float, float]:
    """(median ms per put, requests per put) over ``n`` new keys."""
    data = os.urandom(size)
    times = []
    start_count = counter[0]
    for _ in range(n):
        key = f"bench/{uuid.uuid4().hex}.bin"
        t0 = time.perf_counter()
        assert put(store, key, data)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), (counter[0] - start_count) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer puts per size")
    args = parser.parse_args()
    counts = {"1 KiB": 200, "1 MiB": 40, "16 MiB": 6} if not args.quick else {"1 KiB": 30, "1 MiB": 8, "16 MiB": 2}

    with tempfile.TemporaryDirectory(prefix="ct-bench-s3-") as tmp:
        proc, server = start_moto_server(Path(tmp) / "moto.log")
        try:
            os.environ.update(server.env())
            bucket = server.new_bucket()
            s3 = ObjectStore(f"s3://{bucket}/ct")
            stores = {"s3 (moto)": (s3, count_requests(s3)), "file": (ObjectStore(Path(tmp, "root").as_uri()), [0])}
            rows = []
            for label, size in SIZES.items():
                for where, (store, counter) in stores.items():
                    new_ms, new_req = measure(store, counter, ObjectStore.put, size, counts[label])
                    old_ms, old_req = measure(store, counter, old_put, size, counts[label])
                    rows.append((where, label, counts[label], new_ms, new_req, old_ms, old_req))
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"# ObjectStore.put of new objects — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {os.cpu_count()} vCPU, {platform.platform()}, Python {platform.python_version()}")
    print(f"# load: {load}")
    print()
    print("| root | size | puts | conditional PUT / link: ms | requests | exists + tmp + mv: ms | requests | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for where, label, n, new_ms, new_req, old_ms, old_req in rows:
        on_s3 = where.startswith("s3")
        new_r, old_r = (f"{new_req:.1f}", f"{old_req:.1f}") if on_s3 else ("-", "-")
        print(f"| {where} | {label} | {n} | {new_ms:.2f} | {new_r} | {old_ms:.2f} | {old_r} | {old_ms / new_ms:.2f}x |")


if __name__ == "__main__":
    main()
