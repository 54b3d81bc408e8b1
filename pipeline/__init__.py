"""Continuous-training pipeline domain package.

Everything here is plain Python that knows nothing of Airflow: each stage is a function
you can call from a test. The DAGs in ``dags/`` call into it through ``plugins/``.
"""

__version__ = "0.1.0"
