"""Writes of the audit trail off the request's path: a bounded queue and one
writer thread a process.

A request hands its write (a job) to the queue and goes on; the thread runs
the jobs in order. The queue is flushed when the interpreter exits normally
(``atexit``: a gunicorn worker that is stopped or restarted, a Ctrl-C).
What is still queued when the process dies without exiting (SIGKILL, the
OOM killer, a crash of the interpreter) is lost: in practice the events of
the last few milliseconds, at most ``QUEUE_SIZE``. A full queue (the database
slower than the events for a while) drops new events, with a warning.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from typing import Callable, Optional

from pymongo.errors import InvalidOperation, PyMongoError

log = logging.getLogger("flask_auth_service_mongo")

Job = Callable[[], None]
QUEUE_SIZE = 10_000
#: Pauses before the retries of a job whose write failed (then it is dropped).
RETRY_SECONDS = (0.1, 0.5, 2.0)
EXIT_FLUSH_SECONDS = 5.0
#: The writer thread's name (command monitors may tell its commands apart).
THREAD_NAME = "flask-auth-audit-writer"


def run_job(job: Job) -> bool:
    """Run ``job`` once; a database failure is logged (the event is lost), False."""
    try:
        job()
    except PyMongoError as error:
        log.error("an audit event could not be written (%s): it is lost", type(error).__name__)
        return False
    return True


class Writer:
    """The queue and the writer thread of one process."""

    def __init__(self, size: int = QUEUE_SIZE):
        self.pid = os.getpid()
        self.jobs: queue.Queue[Job] = queue.Queue(size)
        self.dropped = 0
        self.thread = threading.Thread(target=self.run, name=THREAD_NAME, daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> None:
        """Queue ``job``; dropped (and logged) when the queue is full."""
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("the audit queue is full: %d event(s) dropped so far", self.dropped)

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                self.run_with_retries(job)
            except Exception:  # noqa: BLE001 - the thread must outlive any one job
                log.exception("an audit event could not be written: it is lost")
            finally:
                self.jobs.task_done()

    @staticmethod
    def run_with_retries(job: Job) -> None:
        for pause in RETRY_SECONDS:
            try:
                job()
                return
            except InvalidOperation:
                break  # the client was closed: retrying cannot help
            except PyMongoError:
                time.sleep(pause)
        run_job(job)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every queued job ran (at most ``timeout`` seconds); whether they did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.jobs.all_tasks_done:
            while self.jobs.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.jobs.all_tasks_done.wait(remaining)
        return True


_writer: Optional[Writer] = None
_lock = threading.Lock()


def writer() -> Writer:
    """This process's writer, started on first use (again in a forked child)."""
    global _writer
    current = _writer
    if current is None or current.pid != os.getpid():
        with _lock:
            current = _writer
            if current is None or current.pid != os.getpid():
                current = _writer = Writer()
    return current


def submit(job: Job) -> None:
    """Run ``job`` in this process's writer thread."""
    writer().submit(job)


def flush(timeout: Optional[float] = None) -> bool:
    """Wait for this process's queued writes; True when none is left."""
    current = _writer
    if current is None or current.pid != os.getpid():
        return True
    return current.flush(timeout)


@atexit.register
def _flush_at_exit() -> None:
    if not flush(EXIT_FLUSH_SECONDS):
        log.warning("audit events still queued at exit were lost")
