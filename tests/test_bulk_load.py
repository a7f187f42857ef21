"""A first import loads in bulk (no change detection, reply and accept links made at the end):
it stores what the careful path stores, and a load killed midway is finished by the next
run, losing and duplicating nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from service import pipeline
from service.connectors.base import Page
from service.model import Audience, ContributionRecord
from service.search.base import ExpertQuery
from service.store import contributions as store_contributions
from service.store.schema import contributions, identities, interactions
from tests.records import BASE, author, record


def _records() -> list[ContributionRecord]:
    """A thread whose reply arrives before the answer it replies to, an accepted answer
    with likes, an account that gains its e-mail later, an answer edited in a later page."""
    return [
        record("q1", "alice", kind="question", title="Reinsurance treaty pricing",
               text="How do we price a reinsurance treaty?", tags=["reinsurance"]),
        record("c1", "carol", kind="comment", thread="q1", parent="a1", day=2,
               text="Treaty pricing also needs the loss triangle"),
        record("a1", "bob", thread="q1", parent="q1", day=1, accepted=True,
               text="Reinsurance treaty pricing starts from the burning cost",
               liked_by=[author("alice"), author("dave")]),
        record("q2", "dave", kind="question", email="dave@corp.example", day=3,
               text="Which reinsurance layers do we buy?", tags=["reinsurance"]),
        record("a1", "bob", thread="q1", parent="q1", day=1, accepted=True,
               text="Reinsurance treaty pricing starts from the burning cost and exposure",
               updated=BASE + timedelta(days=20), liked_by=[author("alice")]),
        record("a2", "carol", thread="q2", parent="q2", day=4,
               text="Reinsurance layers: the cat layer and the per-risk layer"),
        record("c2", "alice", kind="comment", thread="q2", parent="a2", day=5,
               text="And the aggregate excess cover"),
    ]


def _pages(records: list[ContributionRecord], die_after: int | None = None) -> Iterator[Page]:
    for number, start in enumerate(range(0, len(records), 2)):
        if number == die_after:
            raise KeyboardInterrupt  # the process is killed: no error handling runs
        yield Page(records[start:start + 2], cursor=None)


def _stored(services: pipeline.Services) -> tuple[list[tuple[object, ...]], set[tuple[str, ...]],
                                                   list[tuple[object, ...]]]:
    c, t = contributions.c, identities.c
    actor, target = aliased(identities), aliased(contributions)
    with services.engine.connect() as conn:
        rows = conn.execute(
            select(c.external_id, c.kind, t.username, c.thread_external_id,
                   c.parent_external_id, c.body, c.tags, c.accepted, c.created_at,
                   c.updated_at, c.deleted)
            .join(identities, identities.c.id == c.author_identity_id)
            .order_by(c.external_id)).all()
        links = conn.execute(
            select(interactions.c.kind, actor.c.username, target.c.external_id)
            .join(actor, actor.c.id == interactions.c.actor_identity_id)
            .join(target, target.c.id == interactions.c.target_contribution_id)).all()
        accounts = conn.execute(select(t.username, t.email).order_by(t.username)).all()
    return [tuple(r) for r in rows], {tuple(r) for r in links}, [tuple(r) for r in accounts]


def _experts(services: pipeline.Services, text: str) -> list[str]:
    found = services.index.search(ExpertQuery(text=text, audience=Audience.INTERNAL))
    return [hit.display_name for hit in found.hits]


def test_a_bulk_load_stores_what_the_careful_path_stores(
    open_store: Callable[[str], pipeline.Services],
) -> None:
    careful, bulk = open_store("careful"), open_store("bulk")
    pipeline.ingest_pages(careful, "forum", _pages(_records()), full_pass=False)
    report = pipeline.ingest_pages(bulk, "forum", _pages(_records()), full_pass=False,
                                   bulk=True)

    assert _stored(bulk) == _stored(careful)
    rows, links, accounts = _stored(bulk)
    assert len(rows) == 6  # a1 twice in the file, once in the store, as edited
    assert ("reply", "carol", "a1") in links and ("accept", "alice", "a1") in links
    assert ("reply", "alice", "a2") in links
    assert ("like", "dave", "a1") in links
    assert ("dave", "dave@corp.example") in accounts
    assert report.batch.inserted + report.batch.updated == 7
    for text in ("reinsurance treaty pricing", "loss triangle", "cat layer"):
        assert _experts(bulk, text) == _experts(careful, text) != []
    with bulk.engine.connect() as conn:
        assert store_contributions.bulk_pending(conn) == []


def test_only_a_source_that_holds_nothing_loads_in_bulk(services: pipeline.Services) -> None:
    pipeline.ingest_pages(services, "forum", _pages(_records()[:2]), full_pass=False)
    # the source holds two contributions now: the careful path, which sees a1 unchanged
    report = pipeline.ingest_pages(services, "forum", _pages(_records()), full_pass=False,
                                   bulk=True)
    assert report.batch.unchanged >= 2
    with services.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(contributions)).scalar() == 6


@pytest.mark.parametrize("finish", ["import again", "rebuild"])
def test_a_killed_bulk_load_is_finished_by_the_next_run(
    services: pipeline.Services, open_store: Callable[[str], pipeline.Services], finish: str,
) -> None:
    with pytest.raises(KeyboardInterrupt):
        pipeline.ingest_pages(services, "forum", _pages(_records(), die_after=2),
                              full_pass=False, bulk=True)
    with services.engine.connect() as conn:
        assert store_contributions.bulk_pending(conn) == ["forum"]
    # what the killed run stored is kept; its reply and accept links wait for the end
    assert [r[0] for r in _stored(services)[0]] == ["a1", "c1", "q1", "q2"]
    assert ("reply", "carol", "a1") not in _stored(services)[1]

    if finish == "import again":
        pipeline.ingest_pages(services, "forum", _pages(_records()), full_pass=False,
                              bulk=True)
    else:
        pipeline.rebuild(services)

    with services.engine.connect() as conn:
        assert store_contributions.bulk_pending(conn) == []
    clean = open_store("clean")
    pipeline.ingest_pages(clean, "forum", _pages(_records()), full_pass=False)
    rows, links, _ = _stored(services)
    if finish == "import again":
        assert _stored(services) == _stored(clean)
    else:  # the rows the killed run stored, with their links, once each
        assert [r[0] for r in rows] == ["a1", "c1", "q1", "q2"]
        assert ("reply", "carol", "a1") in links and ("accept", "alice", "a1") in links
    assert _experts(services, "loss triangle") == ["Carol"]
