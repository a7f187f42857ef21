"""Sync jobs and leases in the store: what a job is doing, who runs it, until when.

A worker *claims* a queued job and, in the same transaction, the lease of its source
(`sync:<source id>`): a conditional UPDATE on each row, so of two workers claiming at
once (on SQLite the write lock, on PostgreSQL the row lock and its re-check) one wins.
Every change to a running job names its owner: a worker whose lease was taken over (it
stalled past `lease_until`) changes nothing any more.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Connection

from service.store import sync as store_sync
from service.store.db import from_db_time, insert_ignore
from service.store.schema import jobs, leases, schedule_state

__all__ = [
    "Job",
    "STATES",
    "abandoned",
    "acquire_lease",
    "break_lease",
    "cancel",
    "claim",
    "create_job",
    "finish",
    "get_job",
    "last_full_success",
    "lease_owner",
    "mark_delivered",
    "pending_job",
    "purge_finished",
    "release",
    "release_lease",
    "claim_slot",
    "renew",
    "report_progress",
    "requeue_abandoned",
    "source_lease",
    "undelivered",
]

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED)


@dataclass(slots=True)
class Job:
    id: str
    kind: str
    source_id: str
    full: bool
    state: str
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pass_started_at: datetime | None
    attempts: int
    owner: str | None
    lease_until: datetime | None
    items: int
    items_total: int | None
    pages: int
    errors: int
    result: dict[str, Any] | None
    error: str | None


def _job(row: Any) -> Job:
    return Job(
        id=row.id, kind=row.kind, source_id=row.source_id, full=bool(row.full),
        state=row.state, requested_by=row.requested_by,
        created_at=from_db_time(row.created_at),  # type: ignore[arg-type]
        started_at=from_db_time(row.started_at), finished_at=from_db_time(row.finished_at),
        pass_started_at=from_db_time(row.pass_started_at), attempts=row.attempts,
        owner=row.owner, lease_until=from_db_time(row.lease_until), items=row.items,
        items_total=row.items_total, pages=row.pages, errors=row.errors, result=row.result,
        error=row.error)


def create_job(conn: Connection, source_id: str, full: bool, requested_by: str,
               now: datetime) -> Job:
    """A new queued sync job; returns it."""
    job_id = uuid.uuid4().hex
    conn.execute(jobs.insert(), [{
        "id": job_id, "kind": "sync", "source_id": source_id, "full": full,
        "state": QUEUED, "requested_by": requested_by[:64], "created_at": now,
        "attempts": 0, "items": 0, "pages": 0, "errors": 0}])
    found = get_job(conn, job_id)
    assert found is not None
    return found


def get_job(conn: Connection, job_id: str) -> Job | None:
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    return _job(row) if row else None


def list_jobs(conn: Connection, sources: list[str], states: list[str], limit: int,
              offset: int) -> tuple[list[Job], int]:
    """Jobs, newest first, of these sources and states (all when empty), and how many
    match."""
    where = []
    if sources:
        where.append(jobs.c.source_id.in_(sources))
    if states:
        where.append(jobs.c.state.in_(states))
    total = conn.execute(select(func.count()).select_from(jobs).where(*where)).scalar_one()
    rows = conn.execute(select(jobs).where(*where)
                        .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
                        .limit(limit).offset(offset))
    return [_job(row) for row in rows], int(total)


def pending_job(conn: Connection, source_id: str, full: bool) -> Job | None:
    """The source's queued job that a new request of this kind would repeat: a queued
    full pass covers an incremental one."""
    kinds = [True] if full else [True, False]
    row = conn.execute(select(jobs).where(
        jobs.c.source_id == source_id, jobs.c.state == QUEUED, jobs.c.full.in_(kinds))
        .order_by(jobs.c.created_at).limit(1)).first()
    return _job(row) if row else None


def last_full_success(conn: Connection, source_id: str) -> datetime | None:
    """When the source's newest succeeded full pass began, or None."""
    return from_db_time(conn.execute(select(func.max(jobs.c.pass_started_at)).where(
        jobs.c.source_id == source_id, jobs.c.state == SUCCEEDED, jobs.c.full.is_(True)
    )).scalar())


def mark_delivered(conn: Connection, job_id: str, now: datetime) -> None:
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(delivered_at=now))


def acquire_lease(conn: Connection, name: str, owner: str, holder: str | None,
                  now: datetime, seconds: float) -> bool:
    """Take or renew the lease `name` for `owner` (and the job `holder`) until now +
    seconds; False when someone else holds it and it has not expired."""
    conn.execute(insert_ignore(conn.dialect.name, leases),
                 [{"name": name, "owner": None, "holder": None, "expires_at": now}])
    mine = leases.c.owner == owner
    if holder is not None:
        mine = and_(mine, leases.c.holder == holder)
    taken = conn.execute(update(leases).where(
        leases.c.name == name, or_(leases.c.expires_at <= now, leases.c.owner.is_(None), mine))
        .values(owner=owner, holder=holder, expires_at=now + timedelta(seconds=seconds)))
    return taken.rowcount == 1


def lease_owner(conn: Connection, name: str, now: datetime) -> tuple[str, str | None] | None:
    """(owner, holder job) of the lease `name` while it holds, else None."""
    row = conn.execute(select(leases.c.owner, leases.c.holder).where(
        leases.c.name == name, leases.c.expires_at > now, leases.c.owner.is_not(None))).first()
    return (row.owner, row.holder) if row else None


def break_lease(conn: Connection, name: str, owner: str, now: datetime) -> bool:
    """End the lease `name` held by `owner` (a process known dead) and the lease of the job
    it held, so that a sweep queues that job again; False when it changed hands."""
    row = conn.execute(select(leases.c.holder).where(leases.c.name == name,
                                                     leases.c.owner == owner)).first()
    if row is None:
        return False
    release_lease(conn, name, owner, now)
    if row.holder:
        conn.execute(update(jobs).where(jobs.c.id == row.holder, jobs.c.owner == owner,
                                        jobs.c.state == RUNNING).values(lease_until=now))
    return True


def release_lease(conn: Connection, name: str, owner: str, now: datetime) -> None:
    conn.execute(update(leases).where(leases.c.name == name, leases.c.owner == owner)
                 .values(owner=None, holder=None, expires_at=now))


def source_lease(source_id: str) -> str:
    return f"sync:{source_id}"


def claim(conn: Connection, job_id: str, owner: str, now: datetime, seconds: float
          ) -> Job | None | bool:
    """Claim a queued job and its source's lease for `owner`: the job now running, or
    None when it is not queued (done, or run by another worker), or False when its
    source is being synced by another job (the job stays queued). A job's first run
    of a full pass resets the source's cursor here, so a retry resumes it."""
    job = get_job(conn, job_id)
    if job is None or job.state != QUEUED:
        return None
    if not acquire_lease(conn, source_lease(job.source_id), owner, job_id, now, seconds):
        return False
    values: dict[str, Any] = {
        "state": RUNNING, "owner": owner, "lease_until": now + timedelta(seconds=seconds),
        "attempts": jobs.c.attempts + 1, "started_at": func.coalesce(jobs.c.started_at, now)}
    if job.pass_started_at is None and job.attempts == 0:
        if job.full:
            store_sync.reset_cursor(conn, job.source_id)
        if job.full or store_sync.get_cursor(conn, job.source_id) is None:
            values["pass_started_at"] = now
    taken = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == QUEUED,
                                            jobs.c.attempts == job.attempts).values(**values))
    if taken.rowcount != 1:  # another worker claimed it since we read it
        release_lease(conn, source_lease(job.source_id), owner, now)
        return None
    return get_job(conn, job_id)


def cancel(conn: Connection, job_id: str, now: datetime, reason: str) -> bool:
    """Mark a queued job failed with `reason` (a job no one will run); False when it was
    not queued any more."""
    done = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == QUEUED)
                        .values(state=FAILED, finished_at=now, error=reason))
    return done.rowcount == 1


def renew(conn: Connection, job: Job, owner: str, now: datetime, seconds: float) -> bool:
    """Extend a running job's lease and its source's; False when it is no longer ours."""
    held = conn.execute(update(jobs).where(
        jobs.c.id == job.id, jobs.c.owner == owner, jobs.c.state == RUNNING)
        .values(lease_until=now + timedelta(seconds=seconds)))
    if held.rowcount != 1:
        return False
    return acquire_lease(conn, source_lease(job.source_id), owner, job.id, now, seconds)


def report_progress(conn: Connection, job: Job, owner: str, items: int,
                    items_total: int | None, pages: int, errors: int) -> bool:
    """Record how far the running job is; False when it is no longer ours."""
    done = conn.execute(update(jobs).where(
        jobs.c.id == job.id, jobs.c.owner == owner, jobs.c.state == RUNNING)
        .values(items=items, items_total=items_total, pages=pages, errors=errors))
    return done.rowcount == 1


def finish(conn: Connection, job: Job, owner: str, now: datetime, state: str,
           result: dict[str, Any] | None, error: str | None) -> bool:
    """End a running job (succeeded or failed) and free its source; False when it is no
    longer ours (another worker took it over: its run decides)."""
    done = conn.execute(update(jobs).where(
        jobs.c.id == job.id, jobs.c.owner == owner, jobs.c.state == RUNNING)
        .values(state=state, finished_at=now, result=result, error=error, owner=None,
                lease_until=None))
    release_lease(conn, source_lease(job.source_id), owner, now)
    return done.rowcount == 1


def release(conn: Connection, job: Job, owner: str, now: datetime) -> bool:
    """Put a running job back in the queue (its worker is stopping): the next run
    resumes from the source's cursor. False when it was no longer ours."""
    done = conn.execute(update(jobs).where(
        jobs.c.id == job.id, jobs.c.owner == owner, jobs.c.state == RUNNING)
        .values(state=QUEUED, owner=None, lease_until=None, delivered_at=None))
    release_lease(conn, source_lease(job.source_id), owner, now)
    return done.rowcount == 1


def abandoned(conn: Connection, now: datetime) -> list[Job]:
    """Running jobs whose lease has expired: their worker died or stalled."""
    rows = conn.execute(select(jobs).where(jobs.c.state == RUNNING, jobs.c.lease_until < now))
    return [_job(row) for row in rows]


def requeue_abandoned(conn: Connection, job: Job, now: datetime, max_attempts: int) -> str | None:
    """Queue an abandoned job again (or fail it after `max_attempts` runs); returns the
    state it now has, or None when another sweeper (or its worker, back) was first."""
    lost = f"the worker running it was lost {job.attempts} time(s)"
    values: dict[str, Any] = (
        {"state": FAILED, "finished_at": now, "error": lost}
        if job.attempts >= max_attempts else {"state": QUEUED, "delivered_at": None})
    done = conn.execute(update(jobs).where(
        jobs.c.id == job.id, jobs.c.state == RUNNING, jobs.c.attempts == job.attempts,
        jobs.c.lease_until < now).values(owner=None, lease_until=None, **values))
    return str(values["state"]) if done.rowcount == 1 else None


def undelivered(conn: Connection, older_than: datetime) -> list[Job]:
    """Queued jobs not handed to the queue since `older_than`: the queue lost them (Redis
    restarted, or was down when they were submitted) or a worker put them aside while
    their source was busy."""
    rows = conn.execute(select(jobs).where(
        jobs.c.state == QUEUED,
        or_(jobs.c.delivered_at.is_(None), jobs.c.delivered_at < older_than),
        jobs.c.created_at < older_than).order_by(jobs.c.created_at))
    return [_job(row) for row in rows]


def purge_finished(conn: Connection, older_than: datetime) -> int:
    """Delete the jobs that ended before `older_than`; returns how many."""
    done = conn.execute(jobs.delete().where(jobs.c.state.in_([SUCCEEDED, FAILED]),
                                            jobs.c.finished_at < older_than))
    return int(done.rowcount or 0)


def claim_slot(conn: Connection, source_id: str, slot: datetime) -> bool:
    """Record that the schedule slot `slot` of this source is enqueued; False when it (or
    a newer one) already was, by this scheduler or another."""
    conn.execute(insert_ignore(conn.dialect.name, schedule_state),
                 [{"source_id": source_id, "last_slot": None}])
    taken = conn.execute(update(schedule_state).where(
        schedule_state.c.source_id == source_id,
        or_(schedule_state.c.last_slot.is_(None), schedule_state.c.last_slot < slot))
        .values(last_slot=slot))
    return taken.rowcount == 1
