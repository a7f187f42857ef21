"""The scheduler on a driven clock: it enqueues a source's sync once per slot of its
schedule (`every 15m` or cron), a full pass when the last one is `full_every_days` old,
and of two schedulers on one store only one enqueues, the other taking over when the
leader stops. The jobs go to the real Redis queue; PostgreSQL holds the store where two
schedulers race."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq import Queue
from sqlalchemy import select, update

from service.config import ConfigError, load_config
from service.jobs.dispatch import open_queue
from service.jobs.schedule import ScheduleError, parse_schedule
from service.jobs.scheduler import Scheduler
from service.store import jobs as store_jobs
from service.store.db import open_engine
from service.store.schema import jobs
from tests.jobs.conftest import REDIS_URL, CountingPortal, Setup, portal_source

START = datetime(2026, 12, 4, 9, 1, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _scheduled(portal: CountingPortal, schedule: str, full_every_days: float | None = None
               ) -> str:
    source = portal_source(portal).replace(
        'audience = "partner"\n',
        f'audience = "partner"\nschedule = "{schedule}"\n'
        + (f"full_every_days = {full_every_days}\n" if full_every_days else ""), 1)
    return source


def _jobs(setup: Setup) -> list[store_jobs.Job]:
    with setup.services.engine.connect() as conn:
        ids = conn.execute(select(jobs.c.id).order_by(jobs.c.created_at)).scalars().all()
        return [job for job_id in ids if (job := store_jobs.get_job(conn, job_id))]


def _finish_all(setup: Setup) -> None:
    """As a worker would: every queued job run and succeeded (its pass begun when it was
    created)."""
    with setup.services.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.state == "queued").values(
            state="succeeded", pass_started_at=jobs.c.created_at,
            finished_at=jobs.c.created_at))


def _waiting(queue_name: str) -> int:
    return Queue(queue_name, connection=redis.Redis.from_url(REDIS_URL)).count


def test_one_job_per_slot_and_none_while_the_last_still_waits(
        portal: CountingPortal, make_setup: Callable[..., Setup], redis_queue: str) -> None:
    setup = make_setup(_scheduled(portal, "every 15m"), queue=redis_queue)
    clock = Clock(START)
    scheduler = Scheduler(setup.services, open_queue(setup.services), clock=clock)

    first = scheduler.tick()  # never synced: due at once (the 09:00 slot)
    assert [(job.source_id, job.full, job.requested_by) for job in first] == [
        ("partner-hub", False, "scheduler")]
    assert _waiting(redis_queue) == 1
    clock.now = START + timedelta(minutes=10)  # 09:11, still the 09:00 slot
    assert scheduler.tick() == []
    clock.now = START + timedelta(minutes=14)  # 09:15: due, but the 09:00 job waits
    assert scheduler.tick() == []
    _finish_all(setup)
    clock.now = START + timedelta(minutes=29, seconds=30)  # 09:30:30
    assert len(scheduler.tick()) == 1
    _finish_all(setup)
    clock.now = START + timedelta(hours=5)  # down for hours: one job, not twenty
    assert len(scheduler.tick()) == 1
    assert len(scheduler.tick()) == 0
    assert len(_jobs(setup)) == 3 and _waiting(redis_queue) == 3


def test_a_cron_schedule_and_a_full_pass_every_n_days(
        portal: CountingPortal, make_setup: Callable[..., Setup], redis_queue: str) -> None:
    setup = make_setup(_scheduled(portal, "0 3 * * *", full_every_days=2), queue=redis_queue)
    clock = Clock(START)
    scheduler = Scheduler(setup.services, open_queue(setup.services), clock=clock)
    # never synced: today's 03:00 is due at once, a full pass (none was ever made)
    kinds = [job.full for job in scheduler.tick()]
    _finish_all(setup)
    for day in range(1, 5):
        clock.now = START.replace(hour=2, minute=59) + timedelta(days=day)
        assert scheduler.tick() == []  # 02:59: today's 03:00 is not due yet ...
        clock.now += timedelta(minutes=1, seconds=5)  # ... at 03:00:05 it is
        found = scheduler.tick()
        assert len(found) == 1
        kinds.append(found[0].full)
        _finish_all(setup)
    # a full pass once the last one (day 0, 09:01) is two days old: on day 3 at 03:00
    assert kinds == [True, False, False, True, False]


@pytest.mark.postgres
def test_two_schedulers_never_both_enqueue_and_one_takes_over_from_the_other(
        portal: CountingPortal, make_setup: Callable[..., Setup], redis_queue: str) -> None:
    setup = make_setup(_scheduled(portal, "every 1m"), store="postgresql", queue=redis_queue,
                       scheduler_tick_seconds=10)
    # the second scheduler on the same store through an engine of its own, as another
    # process would be
    url = setup.services.engine.url.render_as_string(hide_password=False)
    other = dataclasses.replace(setup.services, engine=open_engine(url))
    clock = Clock(START)
    a = Scheduler(setup.services, open_queue(setup.services), clock=clock, owner="a")
    b = Scheduler(other, open_queue(other), clock=clock, owner="b")

    enqueued: dict[str, int] = {"a": 0, "b": 0}
    for step in range(72):  # twelve minutes of ticks, both schedulers at once each time
        clock.now = START + timedelta(seconds=10 * step)
        barrier = threading.Barrier(2)

        def run(scheduler: Scheduler, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            enqueued[scheduler.owner] += len(scheduler.tick())

        threads = [threading.Thread(target=run, args=(s,)) for s in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _finish_all(setup)
    assert enqueued == {"a": 12, "b": 0} or enqueued == {"a": 0, "b": 12}
    assert len(_jobs(setup)) == 12

    leader, follower = (a, b) if enqueued["a"] else (b, a)
    clock.now += timedelta(seconds=20)  # the leader stopped ticking ...
    assert follower.tick() == []  # ... but its lease (three ticks) has not run out
    clock.now += timedelta(seconds=11)  # now it has
    assert len(follower.tick()) == 1
    assert leader.tick() == []  # back, it follows
    follower.resign()  # stopping: the other leads at its next round
    _finish_all(setup)
    clock.now += timedelta(minutes=1)
    assert len(leader.tick()) == 1
    other.engine.dispose()


def test_schedules_parse_and_bad_ones_name_the_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    every = parse_schedule("every 15m")
    assert every.latest_slot(START) == START.replace(minute=0)
    assert every.next_slot(START) == START.replace(minute=15)
    cron = parse_schedule("*/20 * * * *")
    assert cron.latest_slot(START.replace(minute=40)) == START.replace(minute=40)
    for bad in ("every day", "every 5s", "61 * * * *"):
        with pytest.raises(ScheduleError):
            parse_schedule(bad)
    config = tmp_path / "whoknows.toml"
    for source, key in (
        ('kind = "rss"\nurl = "http://x/feed"\nschedule = "hourly"', "sources[0].schedule"),
        ('kind = "push"\nschedule = "every 1h"', "sources[0].schedule"),
        ('kind = "rss"\nurl = "http://x/feed"\nfull_every_days = 7', "sources[0].full_every_days"),
    ):
        config.write_text(f'[[sources]]\nid = "s"\naudience = "internal"\n{source}\n')
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            load_config(config, environ={})
    config.write_text('[jobs]\nredis_url = "http://127.0.0.1:6379"\n')
    with pytest.raises(ConfigError, match="jobs.redis_url"):
        load_config(config, environ={})
