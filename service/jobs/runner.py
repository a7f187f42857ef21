"""Running one delivered job: claim it (and its source's lease) in the store, sync the
source through `pipeline.sync_source`, write its progress after every stored page and
renew its lease meanwhile, then record the result.

A run ends in one of these ways: the job succeeded or failed (its result stored), or the
worker is stopping (the job goes back to the queue and the next run resumes from the
cursor), or its lease was lost (it stalled and another worker took the job over: this run
stops after its page and records nothing).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from service import pipeline
from service.config import ConfigError
from service.connectors import build_connector
from service.jobs.dispatch import deliver
from service.jobs.queues import JobQueue
from service.ops.shutdown import stoppable
from service.store import jobs as store_jobs

__all__ = ["Outcome", "owner_name", "report_result", "run_job"]

log = logging.getLogger(__name__)

Outcome = Literal["succeeded", "failed", "released", "lost", "busy", "skipped"]


def _now() -> datetime:
    return datetime.now(UTC)


def report_result(report: pipeline.SyncReport) -> dict[str, Any]:
    """What a finished sync did, as `GET /v1/jobs/{id}` shows it."""
    batch = report.batch
    return {"source": report.source_id, "pages": report.pages, "created": batch.inserted,
            "updated": batch.updated, "unchanged": batch.unchanged,
            "deleted": report.flagged_deleted, "skipped": len(report.errors),
            "people_recomputed": report.people_recomputed, "failed": report.failed}


class _Lease:
    """Renews the job's lease every quarter of its length in a thread; `lost` is set
    when a renewal finds the job taken over."""

    def __init__(self, services: pipeline.Services, job: store_jobs.Job, owner: str,
                 lost: threading.Event) -> None:
        self.services, self.job, self.owner, self.lost = services, job, owner, lost
        self.seconds = services.config.jobs.lease_seconds
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{job.id[:8]}",
                                        daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._done.wait(self.seconds / 4):
            try:
                with self.services.engine.begin() as conn:
                    held = store_jobs.renew(conn, self.job, self.owner, _now(), self.seconds)
            except Exception:  # noqa: BLE001 - a store hiccup: try again next round
                log.warning("job %s: could not renew its lease", self.job.id, exc_info=True)
                continue
            if not held:
                log.warning("job %s: its lease was taken over; stopping", self.job.id)
                self.lost.set()
                return


def run_job(services: pipeline.Services, queue: JobQueue | None, job_id: str, owner: str,
            stop: threading.Event, *, report: pipeline.SyncReport | None = None,
            progress: pipeline.Progress | None = None) -> Outcome:
    """Run the job if it is queued and its source free; returns how the run ended.
    `stop` set (the worker stopping) ends the sync after the page being stored.
    `report` is filled as the sync goes (`whoknows sync` prints it) and `progress` called
    after each page; with no `queue` the source's next waiting job is not delivered."""
    lease_seconds = services.config.jobs.lease_seconds
    with services.engine.begin() as conn:
        claimed = store_jobs.claim(conn, job_id, owner, _now(), lease_seconds)
    if claimed is False and _break_dead_local_lease(services, job_id):
        with services.engine.begin() as conn:
            claimed = store_jobs.claim(conn, job_id, owner, _now(), lease_seconds)
    if claimed is None:
        return "skipped"  # done, or running elsewhere: this delivery repeated it
    if claimed is False:
        return "busy"  # its source is being synced: delivered again once that ends
    assert isinstance(claimed, store_jobs.Job)
    job = claimed
    log.info("job %s: syncing %s (run %d)", job.id, job.source_id, job.attempts)
    lost = threading.Event()
    halt = threading.Event()
    report = report if report is not None else pipeline.SyncReport(job.source_id)
    def advanced(done: int, total: int | None) -> None:
        if progress:
            progress(done, total)
        if stop.is_set() or lost.is_set():
            halt.set()
        with services.engine.begin() as conn:
            mine = store_jobs.report_progress(conn, job, owner, done, total, report.pages,
                                              len(report.errors))
        if not mine:
            lost.set()
            halt.set()

    def connector(source: Any) -> Any:
        return stoppable(build_connector(source, services.config.secrets.get(source.id)),
                         halt)

    error: str | None = None
    with _Lease(services, job, owner, lost):
        try:
            pipeline.sync_source(services, job.source_id, connector, progress=advanced,
                                 report=report, full_pass_since=job.pass_started_at)
        except ConfigError as exc:  # the source's settings (a connector's options): says which
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - recorded; the traceback stays in the log
            log.exception("job %s: the sync raised", job.id)
            error = f"internal error ({type(exc).__name__}); see the worker's log"
    stopped = stop.is_set() and (report.failed or "").startswith("SyncStopped")
    outcome = _record(services, job, owner, report, error, stopping=stopped,
                      lost=lost.is_set())
    if queue is not None:
        _hand_off(services, queue, job.source_id)
    return outcome


def owner_name(kind: str = "") -> str:
    """A process's name in leases: host and pid (how a dead one is recognised on this
    host), and a random part (two owners in one process, a pid used again)."""
    return f"{socket.gethostname()}:{os.getpid()}:{kind}{uuid.uuid4().hex[:6]}"


def _dead_here(owner: str) -> bool:
    """Whether `owner` names a process of this host that is no longer running (a sync
    killed a moment ago, whose lease has not expired yet)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this process (another of its job threads), or a restarted
        # container's earlier one that got the same pid: its lease will expire
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _break_dead_local_lease(services: pipeline.Services, job_id: str) -> bool:
    """When the lease of the job's source is held by a dead process of this host, end it
    (its job is then queued again by the next sweep); returns whether it did."""
    now = _now()
    with services.engine.begin() as conn:
        job = store_jobs.get_job(conn, job_id)
        held = job and store_jobs.lease_owner(conn, store_jobs.source_lease(job.source_id), now)
        if not job or not held or not _dead_here(held[0]):
            return False
        log.warning("source %s: the process holding its sync (%s) is gone; taking over",
                    job.source_id, held[0])
        return store_jobs.break_lease(conn, store_jobs.source_lease(job.source_id), held[0],
                                      now)


def _record(services: pipeline.Services, job: store_jobs.Job, owner: str,
            report: pipeline.SyncReport, error: str | None, *, stopping: bool,
            lost: bool) -> Outcome:
    if lost:
        return "lost"
    now = _now()
    with services.engine.begin() as conn:
        if stopping:
            store_jobs.release(conn, job, owner, now)
            log.info("job %s: worker stopping; queued again after page %d", job.id,
                     report.pages)
            return "released"
        failed = error or report.failed
        state = store_jobs.FAILED if failed else store_jobs.SUCCEEDED
        if not store_jobs.finish(conn, job, owner, now, state, report_result(report), failed):
            return "lost"
    log.info("job %s: %s", job.id, state)
    return "failed" if failed else "succeeded"


def _hand_off(services: pipeline.Services, queue: JobQueue, source_id: str) -> None:
    """Deliver the source's next queued job, put aside while this one ran."""
    with services.engine.connect() as conn:
        waiting = store_jobs.pending_job(conn, source_id, False)
    if waiting is not None:
        deliver(services, queue, waiting.id)
