"""`whoknows worker`: RQ's worker on the configured Redis queue, running each delivered
job in this process (RQ's SimpleWorker: no fork, the store's engine stays open), and a
sweep thread that queues again the jobs a dead worker left.

SIGTERM (a pod stopped) lets the running sync end after the page being stored; the job
goes back to the queue and another worker resumes it from the cursor. SIGKILL leaves the
job running in the store until its lease expires; the next sweep, in any worker, queues
it again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from rq import SimpleWorker

from service import pipeline
from service.config import ConfigError
from service.jobs.dispatch import sweep
from service.jobs.queues import RedisQueue
from service.jobs.runner import owner_name, run_job

__all__ = ["perform", "run_worker"]

log = logging.getLogger(__name__)


@dataclass
class _Context:
    services: pipeline.Services
    queue: RedisQueue
    owner: str
    stop: threading.Event


#: the worker of this process (set by `run_worker`): what `perform` runs jobs with
_context: _Context | None = None


def perform(job_id: str) -> str:
    """The function RQ calls with a delivered job id; returns how the run ended."""
    if _context is None:
        raise RuntimeError("perform() runs inside `whoknows worker` only")
    return run_job(_context.services, _context.queue, job_id, _context.owner,
                   _context.stop)


class _Worker(SimpleWorker):
    stop: threading.Event

    def handle_warm_shutdown_request(self) -> None:
        self.stop.set()  # the running sync ends after its page
        super().handle_warm_shutdown_request()

    def subscribe(self) -> None:
        """No pubsub channel: RQ's remote commands (`rq` stopping a job) are not used, since
        the store and signals steer our jobs, and its thread, polling every 60 s, held a
        stopping worker's exit up to a minute."""


def _sweeping(services: pipeline.Services, queue: RedisQueue, done: threading.Event,
              beat: Any, owner: str) -> None:
    """The worker's rounds beside its jobs: the sweep, then a webhook pass when due."""
    from service.routing.events import WebhookRounds

    webhook_rounds = WebhookRounds(services, owner, services.clock)
    interval = min(max(0.5, services.config.jobs.lease_seconds / 4),
                   services.config.webhooks.poll_seconds)
    while not done.wait(interval):
        try:
            sweep(services, queue)
            beat()
        except Exception:  # noqa: BLE001 - the store or Redis is away: next round
            log.warning("job sweep failed", exc_info=True)
        try:
            webhook_rounds()
        except Exception:  # noqa: BLE001 - a receiver or the store is away: next round
            log.warning("webhook pass failed", exc_info=True)


def run_worker(services: pipeline.Services, *, burst: bool = False,
               beat: Any = lambda: None) -> None:
    """Run jobs from the queue until SIGTERM (or, `burst`, until the queue is empty).
    `beat` is called after each sweep round (the health endpoint's heartbeat)."""
    global _context
    settings = services.config.jobs
    if not settings.redis_url:
        raise ConfigError("whoknows worker needs [jobs] redis_url (WHOKNOWS_JOBS_REDIS_URL): "
                          "without it the API runs sync jobs in its own process")
    queue = RedisQueue(settings.redis_url, settings.queue)
    owner = owner_name()
    stop = threading.Event()
    _context = _Context(services, queue, owner, stop)
    worker = _Worker([queue.queue], connection=queue.connection, name=owner,
                     maintenance_interval=60)
    worker.stop = stop
    done = threading.Event()
    sweeper = threading.Thread(target=_sweeping, args=(services, queue, done, beat, owner),
                               name="whoknows-sweep", daemon=True)
    sweep(services, queue)  # what was left while no worker ran
    beat()
    sweeper.start()
    log.info("worker %s: running jobs from queue %r", owner, settings.queue)
    try:
        worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
    finally:
        done.set()
        sweeper.join(timeout=5)
        _context = None
