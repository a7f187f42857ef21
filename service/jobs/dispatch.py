"""Submitting jobs, delivering them to the queue, and the sweep that retries the jobs a
dead worker left and delivers again what the queue lost."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from service import pipeline
from service.jobs.queues import JobQueue, QueueUnavailable, RedisQueue, ThreadQueue
from service.store import jobs as store_jobs

__all__ = ["deliver", "open_queue", "submit_sync", "sweep"]

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def open_queue(services: pipeline.Services) -> JobQueue:
    """The configured queue: RQ on `[jobs] redis_url`, else a thread of this process
    that runs the jobs itself, sweeps what a process that died left, when a source has a
    schedule enqueues its syncs (leading through the store, as `whoknows scheduler`
    does: several API processes on one store enqueue each slot once) and, once a webhook
    is subscribed, notices events and delivers them (`WebhookRounds`)."""
    jobs = services.config.jobs
    if jobs.redis_url:
        return RedisQueue(jobs.redis_url, jobs.queue)
    import threading

    from service.jobs.runner import owner_name, run_job

    owner = owner_name("embedded-")
    never = threading.Event()
    thread_queue: ThreadQueue

    from service.jobs.scheduler import Scheduler

    def run(job_id: str) -> None:
        run_job(services, thread_queue, job_id, owner, stop=never)

    from service.routing.events import WebhookRounds

    scheduled = any(source.schedule for source in services.config.sources)
    planner = Scheduler(services, _Deferred(lambda: thread_queue), owner=owner)
    webhook_rounds = WebhookRounds(services, owner, services.clock)

    def rounds() -> None:
        sweep(services, thread_queue)
        if scheduled:
            planner.tick()
        webhook_rounds()

    interval = min(max(1.0, jobs.lease_seconds / 2), services.config.webhooks.poll_seconds)
    if scheduled:
        interval = min(interval, jobs.scheduler_tick_seconds)
    thread_queue = ThreadQueue(run, rounds, interval)
    if scheduled or webhook_rounds.subscribed():
        thread_queue.start()
    return thread_queue


class _Deferred:
    """The queue a scheduler delivers to, known once built (the thread queue and its
    scheduler refer to each other)."""

    def __init__(self, queue: Callable[[], JobQueue]) -> None:
        self._queue = queue

    def deliver(self, job_id: str) -> None:
        self._queue().deliver(job_id)


def deliver(services: pipeline.Services, queue: JobQueue, job_id: str) -> bool:
    """Hand a queued job to the queue and note when; False (logged) when the queue is
    unavailable: the job stays queued and a later sweep delivers it."""
    try:
        queue.deliver(job_id)
    except QueueUnavailable as exc:
        log.warning("job %s not delivered: %s", job_id, exc)
        return False
    with services.engine.begin() as conn:
        store_jobs.mark_delivered(conn, job_id, _now())
    return True


def submit_sync(services: pipeline.Services, queue: JobQueue, source_id: str, full: bool,
                requested_by: str) -> tuple[store_jobs.Job, bool]:
    """Queue a sync of the source; returns the job and whether it is new. A source that
    has a queued job of this kind (a full pass covers an incremental one) gets that job
    again rather than a second one."""
    with services.engine.begin() as conn:
        pending = store_jobs.pending_job(conn, source_id, full)
        if pending is not None:
            return pending, False
        job = store_jobs.create_job(conn, source_id, full, requested_by, _now())
    deliver(services, queue, job.id)
    return job, True


def sweep(services: pipeline.Services, queue: JobQueue) -> int:
    """Queue again the running jobs whose lease expired (their worker died: the next run
    resumes from the source's cursor; after `max_attempts` runs the job fails), deliver
    again the queued jobs the queue has not had for a lease's time, and delete the jobs
    finished more than `keep_days` ago. Returns how many jobs were delivered."""
    settings = services.config.jobs
    now = _now()
    redeliver: list[str] = []
    with services.engine.begin() as conn:
        for job in store_jobs.abandoned(conn, now):
            state = store_jobs.requeue_abandoned(conn, job, now, settings.max_attempts)
            if state is not None:
                log.warning("job %s (source %s): its worker was lost; %s", job.id,
                            job.source_id, "queued again" if state == "queued" else "failed")
            if state == "queued":
                redeliver.append(job.id)
        older = now - timedelta(seconds=settings.lease_seconds)
        redeliver += [job.id for job in store_jobs.undelivered(conn, older)
                      if job.id not in redeliver]
        store_jobs.purge_finished(conn, now - timedelta(days=settings.keep_days))
    return sum(deliver(services, queue, job_id) for job_id in redeliver)
