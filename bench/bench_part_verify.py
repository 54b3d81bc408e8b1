"""Benchmark: what checking a snapshot part on read costs, on a 1M-row part of the demo schema.

Reading a part now checks its bytes against the SHA-256 the manifest records (cheap); a part of an
older manifest, without that checksum, has its rows hashed again once per process (as much as the
read itself); ``ct snapshots verify`` always re-hashes. Compares, best of ``--repeat`` runs:

* the plain read (``pq.read_table`` + ``to_pandas``, what ``load_parts`` did before);
* ``load_parts`` with the manifest's file checksum;
* ``load_parts`` of an older manifest (rows re-hashed, first read in the process);
* ``verify_snapshots`` of the one-part snapshot.

Run: ``.venv/bin/python -m bench.bench_part_verify [--rows 1000000]``
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.app.demo_data import BatchSpec, generate_batch
from pipeline.core.config import load_config
from pipeline.core.settings import BUNDLED_CONFIG
from pipeline.core.storage import ObjectStore
from pipeline.data import snapshots
from pipeline.data.snapshots import SourceFile, create_snapshot, load_parts, verify_snapshots, write_part


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dataset = load_config(BUNDLED_CONFIG).dataset
    frame = generate_batch(BatchSpec(rows=args.rows, seed=1))
    with tempfile.TemporaryDirectory(prefix="ct-bench-verify-") as tmp:
        store = ObjectStore(Path(tmp).as_uri())
        part = write_part(store, frame, dataset, SourceFile("bench.csv", "0" * 64, 0))
        snapshot = create_snapshot(store, dataset, None, [part])
        legacy = replace(part, file_sha256=None)
        size = store.size(part.key)

        def plain() -> None:
            pq.read_table(io.BytesIO(store.get(part.key))).to_pandas()

        def legacy_first_read() -> None:
            snapshots._ROWS_VERIFIED.clear()
            load_parts(store, [legacy])

        rows = {
            "plain read (before)": _best(plain, args.repeat),
            "load_parts, file checksum in the manifest": _best(lambda: load_parts(store, [part]), args.repeat),
            "load_parts, older manifest: rows re-hashed (first read in a process)": _best(
                legacy_first_read, args.repeat
            ),
            "ct snapshots verify (always re-hashes)": _best(lambda: verify_snapshots(store, [snapshot]), args.repeat),
        }
    print(f"{args.rows} rows, part file {size / 1e6:.1f} MB, load average {os.getloadavg()[0]:.2f}")
    for what, seconds in rows.items():
        print(f"| {what} | {seconds:.2f} s |")


if __name__ == "__main__":
    main()
