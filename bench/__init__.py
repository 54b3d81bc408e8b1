"""Benchmarks behind the numbers in docs/ (not tests: nothing here runs in `make test`). Run each from
the project folder as a module, e.g. ``.venv/bin/python -m bench.bench_snapshots``, so ``pipeline``,
``scripts`` and ``tests`` are imported from this tree by name.
"""
