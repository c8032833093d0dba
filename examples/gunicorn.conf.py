"""gunicorn settings for the example under several workers, with the
metrics of every worker in one scrape (docs/production.rst):

    PROMETHEUS_MULTIPROC_DIR=/run/app-metrics gunicorn -c examples/gunicorn.conf.py -w 4 'examples.app:create_app()'

The folder must exist, be empty at start and be writable by the workers.
"""

import os


def child_exit(server, worker):
    """A worker that ended leaves the gauges (``livemax``: live workers only)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
