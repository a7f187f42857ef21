"""gunicorn settings for the production entry point (the container's command):

    gunicorn -c python:service.gunicorn_conf 'service.api.wsgi:app'

Command-line flags override these (the Helm chart passes `--workers` and `--threads`).
This is gunicorn's configuration file, read by gunicorn's master: it is the one place
besides `service.config` that looks at the environment, for the two settings that must be
known before the app is loaded (`PORT`, `PROMETHEUS_MULTIPROC_DIR`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# Several workers share their metrics through files (prometheus_client multiprocess
# mode); the variable must be set before prometheus_client is first imported (below, by
# service.ops), since it picks its storage then, and the workers inherit that choice.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="whoknows-metrics-")
_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]

from service.ops.logs import logging_config  # noqa: E402 - after the variable is set

bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
worker_class = "gthread"
workers = 2
threads = 4
#: a request running longer than this is killed with its worker (a search takes < 1 s)
timeout = 60
#: after SIGTERM, workers finish the requests they hold for up to this long; Kubernetes
#: waits terminationGracePeriodSeconds (the chart: this + 10 s) before it sends SIGKILL
graceful_timeout = 30
keepalive = 5
#: worker heartbeats on a RAM disk: no blocking on a slow or read-only disk
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None
#: the app logs each request itself (JSON, with its request id); gunicorn logs the rest
accesslog = None
logconfig_dict = logging_config("json", os.environ.get("WHOKNOWS_LOG_LEVEL", "INFO"))
#: no control socket: the root filesystem is read-only, and nothing uses it
control_socket_disable = True
#: trust X-Forwarded-* only from the ingress (the chart sets FORWARDED_ALLOW_IPS)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")



def on_starting(server: Any) -> None:
    """Start with an empty metrics folder: samples of a previous run's workers would be
    summed with this run's."""
    folder = Path(_METRICS_DIR)
    if folder.exists():
        for entry in folder.iterdir():
            if entry.is_file():
                entry.unlink()
            else:
                shutil.rmtree(entry)
    folder.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges (its counters and histograms keep counting)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
