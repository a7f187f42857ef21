"""Where a submitted job goes: RQ on Redis (`[jobs] redis_url`), or, the embedded
default, a thread of this process. Either only delivers job ids; the store decides.

RQ, not Dramatiq or Celery: whoknows needs a Redis list of job ids and a worker loop, and
RQ is that and little more (Redis only, no broker abstraction, jobs are plain functions,
its worker runs in our own `whoknows worker` command). Retries of lost workers and the
one-sync-per-source rule live in the store, where the API reads them on any replica, so
the queue's own retry and result machinery is not used.
"""

from __future__ import annotations

import logging
import queue as stdlib_queue
import threading
import uuid
from collections.abc import Callable
from typing import Protocol

__all__ = ["JOB_FUNCTION", "JobQueue", "RedisQueue", "ThreadQueue", "QueueUnavailable"]

log = logging.getLogger(__name__)

#: what a worker calls with a job id (service/jobs/worker.py)
JOB_FUNCTION = "service.jobs.worker.perform"


class QueueUnavailable(Exception):
    """The queue could not take the delivery (Redis down); the job stays queued in the
    store and a sweep delivers it later."""


class JobQueue(Protocol):
    def deliver(self, job_id: str) -> None:
        """Hand the job to a worker; raise QueueUnavailable."""

    def start(self) -> None:
        """Begin the rounds this process makes itself, if it makes any (the embedded
        thread: sweeps, schedules, webhook passes)."""


class RedisQueue:
    """RQ's queue `name` on the Redis at `url`."""

    def __init__(self, url: str, name: str) -> None:
        import redis
        from rq import Queue

        self.connection = redis.Redis.from_url(url, socket_timeout=10,
                                               socket_connect_timeout=5)
        self.queue = Queue(name, connection=self.connection)

    def deliver(self, job_id: str) -> None:
        import redis

        try:
            # a delivery of its own id each time: one job may be delivered again (a
            # retry), and RQ keeps the record of an earlier delivery for a while
            self.queue.enqueue_call(JOB_FUNCTION, args=(job_id,), timeout=-1,
                                    result_ttl=60, failure_ttl=3600,
                                    job_id=f"{job_id}-{uuid.uuid4().hex[:8]}")
        except redis.RedisError as exc:
            raise QueueUnavailable(f"the job queue is unavailable: {type(exc).__name__}") from exc

    def start(self) -> None:
        """Nothing: `whoknows worker` and `whoknows scheduler` make the rounds."""


class ThreadQueue:
    """The embedded default: a thread of this process runs the delivered jobs one after
    another (`run`), and when idle for `sweep_seconds` calls `sweep` (jobs lost with a
    process that died, scheduled syncs). The thread starts with the first delivery or
    `start()`."""

    def __init__(self, run: Callable[[str], object], sweep: Callable[[], object],
                 sweep_seconds: float) -> None:
        self._run, self._sweep, self._sweep_seconds = run, sweep, sweep_seconds
        self._ids: stdlib_queue.Queue[str] = stdlib_queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def deliver(self, job_id: str) -> None:
        self._ids.put(job_id)
        self.start()

    def start(self) -> None:
        """Start the thread (once): at the first delivery, or at once when it has rounds
        to make (scheduled syncs)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="whoknows-jobs",
                                                daemon=True)
                self._thread.start()

    def close(self) -> None:
        """End the thread after what it is doing (the jobs queued behind stay queued in
        the store: a sweep of another process delivers them)."""
        self._closed.set()
        self._ids.put("")

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                job_id = self._ids.get(timeout=self._sweep_seconds)
            except stdlib_queue.Empty:
                self._guarded(self._sweep)
                continue
            if self._closed.is_set():
                return
            self._guarded(lambda job_id=job_id: self._run(job_id))  # type: ignore[misc]

    @staticmethod
    def _guarded(call: Callable[[], object]) -> None:
        try:
            call()
        except Exception:  # noqa: BLE001 - the thread must outlive one bad job
            log.exception("embedded job thread: unexpected error")
