"""The host name Airflow records for a task instance, per Celery worker of the native topology.

The two Celery workers of ``scripts/celery_topology.py`` run on one machine, so Airflow's default
(the FQDN) would give both the same name and a task instance would not say which worker ran it.
Each worker process gets ``CT_TOPOLOGY_HOSTNAME`` (its Celery node name, e.g.
``ct-worker-1@myhost``) and ``[core] hostname_callable = ct_topology_hostname.hostname``; every
other process falls back to the FQDN, as Airflow would.

Kept apart from the topology script because Airflow imports it in every task process: it must
stay tiny and import nothing but the standard library.
"""

from __future__ import annotations

import os
import socket

ENV_VAR = "CT_TOPOLOGY_HOSTNAME"


def hostname() -> str:
    """``$CT_TOPOLOGY_HOSTNAME`` when set (a topology worker), else the machine's FQDN."""
    return os.environ.get(ENV_VAR) or socket.getfqdn()
