"""Operator scripts that are not part of the `ct` command: the native Celery topology
(``python -m scripts.celery_topology up``), its settings and REST client, and the Celery workers'
``hostname_callable``. A package, so tests, benchmarks and the scripts import each other by name
(``from scripts.airflow_rest import AirflowClient``) instead of putting folders on ``sys.path``.
"""
