"""The loop's web console: what the Airflow UI plugin shows, as read models and HTML pages.

One module per page family (models, snapshots, validation, monitoring) builds a frozen read model
from the metadata and object stores (``build_*``) and renders it (``render_*``) with the project's
autoescaped templates; ``api.py`` serves every page as HTML under ``/ui`` and as JSON under
``/api``, behind whatever access check the host passes in. Airflow's plugin
(``plugins/ct_airflow/console_plugin.py``) passes its auth manager; nothing here imports Airflow.
"""
