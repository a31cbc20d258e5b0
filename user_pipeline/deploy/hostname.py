"""The hostname a Celery worker of the deployment records in its task instances.

Airflow records ``[core] hostname_callable()`` as a task instance's ``hostname``; two workers on
one machine would both record the machine's name, so the deployment points each worker at this
function with its own ``DEPLOY_WORKER_NAME`` (workers on separate machines keep Airflow's default).
Kept free of imports: the task runner imports it in every task process.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    """``DEPLOY_WORKER_NAME`` of this worker's environment, else the machine's FQDN (Airflow's default)."""
    return os.environ.get("DEPLOY_WORKER_NAME") or socket.getfqdn()
