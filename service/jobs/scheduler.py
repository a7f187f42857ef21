"""`whoknows scheduler`: enqueues the scheduled syncs; the workers run them.

Several schedulers may run (one per replica, or two for availability): the one holding
the `scheduler` lease in the store is the leader and the others wait to take over once
it stops renewing. Enqueuing a slot is also claimed in the store (the source's newest
enqueued slot, moved forward by a conditional UPDATE in the transaction that creates the
job), so even two leaders for a moment cannot enqueue one slot twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from service import pipeline
from service.jobs.dispatch import deliver
from service.jobs.queues import JobQueue
from service.jobs.runner import owner_name
from service.jobs.schedule import parse_schedule
from service.store import jobs as store_jobs

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)

LEADER_LEASE = "scheduler"


@dataclass
class Scheduler:
    services: pipeline.Services
    queue: JobQueue
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    owner: str = field(default_factory=lambda: owner_name("scheduler-"))

    @property
    def lease_seconds(self) -> float:
        # a leader that missed three rounds has lost its lead
        return 3 * self.services.config.jobs.scheduler_tick_seconds

    def tick(self) -> list[store_jobs.Job]:
        """One round: lead (or not), and enqueue the syncs due now; returns the jobs
        enqueued (none when another scheduler leads)."""
        now = self.clock()
        with self.services.engine.begin() as conn:
            if not store_jobs.acquire_lease(conn, LEADER_LEASE, self.owner, None, now,
                                            self.lease_seconds):
                return []
        queued: list[store_jobs.Job] = []
        for source in self.services.config.sources:
            if source.schedule is None:
                continue
            slot = parse_schedule(source.schedule).latest_slot(now)
            with self.services.engine.begin() as conn:
                if not store_jobs.claim_slot(conn, source.id, slot):
                    continue
                full = self._full_due(conn, source.id, source.full_every_days, now)
                if store_jobs.pending_job(conn, source.id, full) is not None:
                    continue  # the last one has not started yet: one is enough
                job = store_jobs.create_job(conn, source.id, full, "scheduler", now)
            log.info("scheduled %s sync of %s (slot %s): job %s",
                     "full" if full else "incremental", source.id, slot.isoformat(), job.id)
            queued.append(job)
        for job in queued:
            deliver(self.services, self.queue, job.id)
        return queued

    @staticmethod
    def _full_due(conn: object, source_id: str, every_days: float | None,
                  now: datetime) -> bool:
        if every_days is None:
            return False
        last = store_jobs.last_full_success(conn, source_id)  # type: ignore[arg-type]
        return last is None or now - last >= timedelta(days=every_days)

    def resign(self) -> None:
        """Give the lead up at once (a scheduler stopping), so another takes over at its
        next round."""
        with self.services.engine.begin() as conn:
            store_jobs.release_lease(conn, LEADER_LEASE, self.owner, self.clock())

    def run(self, stop: threading.Event, beat: Callable[[], None] = lambda: None) -> None:
        """Tick every `scheduler_tick_seconds` until `stop` is set; `beat` after each
        round that reached the store (the health endpoint's heartbeat)."""
        interval = self.services.config.jobs.scheduler_tick_seconds
        log.info("scheduler %s: every %.0f s", self.owner, interval)
        try:
            while not stop.is_set():
                try:
                    self.tick()
                    beat()
                except Exception:  # noqa: BLE001 - the store is away: next round
                    log.warning("scheduler round failed", exc_info=True)
                stop.wait(interval)
        finally:
            self.resign()
