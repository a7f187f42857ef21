"""The pipeline: pages stored with their cursor, a crash resumes without loss or
duplicates, complete passes flag deletions, incremental recompute equals a rebuild."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select

from service import pipeline
from service.connectors.base import ConnectorError, Page
from service.model import ContributionRecord
from service.store import sync as store_sync
from service.store.schema import contributions, profile_topics
from tests.records import record

RECORDS = [record(f"a{i}", f"user{i % 3}", day=i, tags=["claims"]) for i in range(9)]


class ListSource:
    """A source of three-record pages whose cursor is the index of the next record; it
    can be told to fail after some pages, as a flaky platform does."""

    def __init__(self, records: list[ContributionRecord], fail_after: int | None = None):
        self.records = records
        self.fail_after = fail_after
        self.started_at: list[str | None] = []

    def pages(self, cursor: str | None) -> Iterator[Page]:
        self.started_at.append(cursor)
        start = int(cursor or 0)
        for served, index in enumerate(range(start, len(self.records), 3)):
            if self.fail_after is not None and served == self.fail_after:
                raise ConnectorError("503 from the platform, retries exhausted")
            end = index + 3
            yield Page(self.records[index:end], cursor=str(end),
                       complete=end >= len(self.records))


def _count(services: pipeline.Services) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(contributions)).scalar() or 0)


def _run(services: pipeline.Services, source: ListSource, full: bool = False):  # type: ignore[no-untyped-def]
    with services.engine.connect() as conn:
        cursor = None if full else store_sync.get_cursor(conn, "forum")
    return pipeline.ingest_pages(services, "forum", source.pages(cursor),
                                 full_pass=cursor is None)


def test_a_crash_mid_sync_resumes_at_the_last_stored_page(services: pipeline.Services) -> None:
    flaky = ListSource(RECORDS, fail_after=2)
    report = _run(services, flaky)
    assert report.failed and "503" in report.failed
    assert _count(services) == 6
    with services.engine.connect() as conn:
        assert store_sync.get_cursor(conn, "forum") == "6"
        status = {s.id: s for s in store_sync.list_sources(conn)}["forum"]
    assert status.last_error is not None and "503" in status.last_error
    healthy = ListSource(RECORDS)
    again = _run(services, healthy)
    assert healthy.started_at == ["6"]
    assert again.failed is None and again.batch.inserted == 3
    assert _count(services) == 9  # nothing lost, nothing twice


def test_a_complete_pass_flags_items_gone_from_the_source(services: pipeline.Services) -> None:
    _run(services, ListSource(RECORDS))
    shrunk = ListSource([r for r in RECORDS if r.id != "a4"])
    report = _run(services, shrunk, full=True)
    assert report.flagged_deleted == 1
    with services.engine.connect() as conn:
        gone = conn.execute(select(contributions.c.external_id)
                            .where(contributions.c.deleted.is_(True))).scalars().all()
    assert gone == ["a4"]


def _profiles(services: pipeline.Services) -> list[tuple[int, str, str, float, str]]:
    with services.engine.connect() as conn:
        rows = conn.execute(select(profile_topics).order_by(
            profile_topics.c.person_id, profile_topics.c.scope, profile_topics.c.topic))
        return [(r.person_id, r.scope, r.topic, round(r.score, 4), r.level) for r in rows]


def test_incremental_recompute_matches_a_full_rebuild(services: pipeline.Services) -> None:
    _run(services, ListSource(RECORDS))
    extra = ListSource([record("late", "user1", day=20, tags=["claims"], accepted=True,
                               thread="a0")])
    report = pipeline.ingest_pages(services, "forum", extra.pages(None), full_pass=False)
    assert report.people_recomputed == 2  # the author, and the author of the thread
    incremental = _profiles(services)
    # all three authors have a claims profile: an empty one would equal an empty rebuild
    claims = {person for person, _, topic, _, _ in incremental if topic == "claims"}
    assert len(claims) == 3
    pipeline.rebuild(services)
    assert _profiles(services) == incremental
