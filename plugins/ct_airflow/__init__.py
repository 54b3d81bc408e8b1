"""Airflow-only glue shared by the project's DAGs: Assets, default args, stage runner.

Nothing here holds domain logic; it adapts ``pipeline/`` functions to Airflow tasks.
"""
