"""Storing batches: idempotent, edits in place, deletions flagged, interactions kept.
Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from service.store.contributions import SourceInfo, flag_unseen_deleted, store_batch
from service.store.schema import contributions, identities, interactions
from service.store.sync import register_source
from tests.records import BASE, author, record

FORUM = SourceInfo("forum", "external")


def _register(engine: Engine) -> None:
    with engine.begin() as conn:
        register_source(conn, {"id": "forum", "kind": "push", "audience": "external"})


def _count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def _store(engine: Engine, records, seen_at=None):  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return store_batch(conn, FORUM, records, seen_at)


def test_storing_the_same_batch_twice_changes_nothing(engine: Engine) -> None:
    _register(engine)
    batch = [record("q1", "bob", kind="question"), record("a1", "alice", thread="q1")]
    first = _store(engine, batch)
    second = _store(engine, batch)
    assert (first.inserted, first.updated) == (2, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 2)
    assert second.changed_ids == []
    assert _count(engine, contributions) == 2
    assert _count(engine, identities) == 2


def test_an_edited_item_updates_in_place(engine: Engine) -> None:
    _register(engine)
    _store(engine, [record("a1", text="first version")])
    edited = record("a1", text="second version", updated=BASE + timedelta(hours=2), score=4)
    result = _store(engine, [edited])
    assert (result.inserted, result.updated) == (0, 1)
    with engine.connect() as conn:
        rows = conn.execute(select(contributions.c.body, contributions.c.score)).all()
    assert [(r.body, r.score) for r in rows] == [("second version", 4)]


def test_a_deleted_item_is_flagged_not_removed(engine: Engine) -> None:
    _register(engine)
    _store(engine, [record("a1")])
    result = _store(engine, [record("a1", deleted=True)])
    assert len(result.deleted_ids) == 1 and result.changed_ids == []
    with engine.connect() as conn:
        assert conn.execute(select(contributions.c.deleted)).scalar() is True


def test_a_complete_pass_flags_what_it_did_not_see(engine: Engine) -> None:
    _register(engine)
    _store(engine, [record("a1"), record("a2")], seen_at=BASE)
    later = BASE + timedelta(days=1)
    _store(engine, [record("a1")], seen_at=later)
    with engine.begin() as conn:
        flagged = flag_unseen_deleted(conn, "forum", later)
        gone = conn.execute(
            select(contributions.c.external_id).where(contributions.c.deleted.is_(True))
        ).scalars().all()
    assert len(flagged) == 1 and gone == ["a2"]


def test_replies_likes_and_accepts_become_interactions(engine: Engine) -> None:
    _register(engine)
    # The reply arrives before its parent: the link is made when the parent comes.
    _store(engine, [record("r1", "carol", kind="reply", thread="q1", parent="a1")])
    _store(engine, [
        record("q1", "bob", kind="question"),
        record("a1", "alice", thread="q1", accepted=True,
               liked_by=[author("bob"), author("carol")], likes=2),
    ])
    _store(engine, [record("q1", "bob", kind="question")])  # again: nothing duplicates
    with engine.connect() as conn:
        rows = conn.execute(
            select(interactions.c.kind, identities.c.external_id)
            .join(identities, identities.c.id == interactions.c.actor_identity_id)
        ).all()
    assert sorted((r.kind, r.external_id) for r in rows) == [
        ("accept", "bob"), ("like", "bob"), ("like", "carol"), ("reply", "alice"),
        ("reply", "carol"),
    ]


def test_an_unaccepted_answer_loses_its_accept(engine: Engine) -> None:
    _register(engine)
    _store(engine, [record("q1", "bob", kind="question"),
                    record("a1", "alice", thread="q1", accepted=True)])
    with engine.connect() as conn:
        kinds = conn.execute(select(interactions.c.kind)).scalars().all()
    assert sorted(kinds) == ["accept", "reply"]
    _store(engine, [record("a1", "alice", thread="q1", accepted=False)])
    with engine.connect() as conn:
        kinds = conn.execute(select(interactions.c.kind)).scalars().all()
    assert kinds == ["reply"]  # the answer still replies to the question


def test_an_account_gains_its_email_when_the_source_shows_it(engine: Engine) -> None:
    _register(engine)
    _store(engine, [record("a1", "alice")])
    _store(engine, [record("a2", "alice", email="Alice@Example.com ")])
    with engine.connect() as conn:
        emails = conn.execute(select(identities.c.email)).scalars().all()
    assert emails == ["alice@example.com"]
