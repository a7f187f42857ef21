"""The jobs' store on SQLite and PostgreSQL: a claim takes the job and its source's lease
together, a second sync of the source waits, a lost worker's job is queued again until
`max_attempts`, and old finished jobs are deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from service.store import jobs as store_jobs
from service.store import sync as store_sync

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _source(engine: Engine) -> None:
    with engine.begin() as conn:
        store_sync.register_source(conn, {"id": "hub", "kind": "jsonfeed",
                                          "audience": "partner", "name": "hub"})


def test_one_sync_per_source_and_one_run_per_claim(engine: Engine) -> None:
    _source(engine)
    with engine.begin() as conn:
        first = store_jobs.create_job(conn, "hub", False, "test", NOW)
        second = store_jobs.create_job(conn, "hub", True, "test", NOW)
        running = store_jobs.claim(conn, first.id, "w1", NOW, 60)
        assert isinstance(running, store_jobs.Job) and running.state == "running"
        assert running.attempts == 1 and running.pass_started_at == NOW  # never synced
        assert store_jobs.claim(conn, first.id, "w2", NOW, 60) is None  # a repeated delivery
        assert store_jobs.claim(conn, second.id, "w2", NOW, 60) is False  # source busy
        assert store_jobs.get_job(conn, second.id).state == "queued"  # type: ignore[union-attr]
        assert not store_jobs.finish(conn, running, "w2", NOW, "succeeded", {}, None)
        assert store_jobs.finish(conn, running, "w1", NOW, "succeeded", {"pages": 1}, None)
        later = NOW + timedelta(seconds=5)
        full = store_jobs.claim(conn, second.id, "w2", later, 60)
        assert isinstance(full, store_jobs.Job) and full.pass_started_at == later
        assert store_jobs.pending_job(conn, "hub", False) is None


def test_a_lost_worker_s_job_is_queued_again_then_failed(engine: Engine) -> None:
    _source(engine)
    with engine.begin() as conn:
        job = store_jobs.create_job(conn, "hub", False, "test", NOW)
        when = NOW
        for attempt in (1, 2):
            running = store_jobs.claim(conn, job.id, f"w{attempt}", when, 60)
            assert isinstance(running, store_jobs.Job) and running.attempts == attempt
            assert store_jobs.abandoned(conn, when + timedelta(seconds=59)) == []
            when += timedelta(seconds=61)
            (lost,) = store_jobs.abandoned(conn, when)
            assert store_jobs.requeue_abandoned(conn, lost, when, 2) == (
                "queued" if attempt == 1 else "failed")
            assert store_jobs.requeue_abandoned(conn, lost, when, 2) is None  # once
        failed = store_jobs.get_job(conn, job.id)
        assert failed is not None and failed.state == "failed"
        assert failed.error == "the worker running it was lost 2 time(s)"
        # a stalled worker coming back changes nothing
        assert not store_jobs.report_progress(conn, running, "w2", 5, None, 1, 0)
        assert store_jobs.purge_finished(conn, when - timedelta(days=1)) == 0
        assert store_jobs.purge_finished(conn, when + timedelta(days=1)) == 1
        assert store_jobs.get_job(conn, job.id) is None
