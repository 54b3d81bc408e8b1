"""The application layer: the workspace that wires settings, config and stores together, the
stages (one function per DAG task, JSON-ready in and out), the in-process and Airflow runners,
the work-request ledger, onboarding and the demo. The Airflow glue in ``plugins/`` imports from
here and nowhere lower."""
