"""The review queue and the identity audit log in the store, on SQLite and PostgreSQL:
resolution writes what it changed, the queue follows the people, a decided pair stays
decided, a bio read from an account is evidence, erasure takes the person's pairs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from service.identity.audit import Cause
from service.model import AuthorRecord, ContributionKind, ContributionRecord
from service.store import audit as store_audit
from service.store import erasure as store_erasure
from service.store import suggestions as store_suggestions
from service.store.contributions import store_batch
from service.store.people import (
    add_manual_link,
    block_between,
    find_identity,
    person_of,
    resolve_people,
)
from service.store.schema import identity_suggestions
from tests.records import record
from tests.store.test_people import BLOG, FORUM
from tests.store.test_people import _setup as _sources


def _setup(engine: Engine) -> None:
    _sources(engine)
    with engine.begin() as conn:
        store_batch(conn, BLOG, [record("b1", "rvega", name="Rosa Vega",
                                        email="rosa@corp.example")])
        store_batch(conn, FORUM, [record("f1", "RosaV", name="Rosa Vega")])
        resolve_people(conn)
        store_suggestions.refresh(conn)


def _ids(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        blog, forum = find_identity(conn, "blog", "rvega"), find_identity(conn, "forum", "RosaV")
    assert blog is not None and forum is not None
    return blog, forum


def test_the_queue_holds_the_pair_and_follows_a_merge(engine: Engine) -> None:
    _setup(engine)
    blog, forum = _ids(engine)
    with engine.connect() as conn:
        [found] = store_suggestions.list_suggestions(conn)
    assert (found.first.identity_id, found.second.identity_id) == (blog, forum)
    assert found.first.display_name == "Rosa Vega" and found.confidence >= 0.5
    with engine.begin() as conn:
        add_manual_link(conn, blog, forum)
        resolution = resolve_people(conn, Cause("tester", "manual", "same person",
                                                frozenset((blog, forum))))
        assert store_suggestions.refresh(conn) == 0  # one person now: nothing to suggest
        assert person_of(conn, blog) == person_of(conn, forum)
        [entry] = [store_audit.entry(conn, i) for i in resolution.audit_ids]
        assert entry is not None
        assert (entry.action, entry.method, entry.actor, entry.reason) == (
            "merge", "manual", "tester", "same person")
        assert [g["identities"] for g in entry.before] == [[blog], [forum]]
        assert entry.after == [{"person_id": person_of(conn, blog),
                                "identities": [blog, forum]}]
        history = store_audit.entries(conn, person_of(conn, blog))
    assert [e.id for e in history] == [entry.id]


def test_a_decided_pair_stays_decided_and_blocked_pairs_are_not_queued(engine: Engine) -> None:
    _setup(engine)
    blog, forum = _ids(engine)
    with engine.begin() as conn:
        [found] = store_suggestions.list_suggestions(conn)
        store_suggestions.decide(conn, found.id, store_suggestions.REJECTED, "tester", None)
        block_between(conn, [blog], [forum])
        resolve_people(conn)
        store_suggestions.refresh(conn)
        assert store_suggestions.list_suggestions(conn) == []
        rows = conn.execute(select(identity_suggestions.c.status)).scalars().all()
    assert rows == ["rejected"]


def test_a_bio_stored_with_the_account_names_the_employee(engine: Engine) -> None:
    _setup(engine)
    author = AuthorRecord("u7", "helpful_h", "H.", bio="Contact: rosa@corp.example")
    with engine.begin() as conn:
        store_batch(conn, FORUM, [ContributionRecord(
            "f7", ContributionKind.ANSWER, author, datetime(2026, 10, 2, tzinfo=UTC))])
        resolve_people(conn)
        store_suggestions.refresh(conn)
        found = store_suggestions.list_suggestions(conn)
    bio = next(s for s in found if s.second.accounts[0]["username"] == "helpful_h")
    assert bio.reasons[0]["code"] == "bio_email" and bio.confidence >= 0.9


def test_erasing_a_person_takes_their_pairs_but_not_the_history(engine: Engine) -> None:
    _setup(engine)
    blog, forum = _ids(engine)
    with engine.begin() as conn:
        forum_person = person_of(conn, forum)
        assert forum_person is not None
        before = len(store_audit.entries(conn))
        store_erasure.erase_person(conn, forum_person)
        assert conn.execute(select(identity_suggestions)).first() is None
        assert len(store_audit.entries(conn)) == before
        store_suggestions.refresh(conn)
        assert store_suggestions.list_suggestions(conn) == []
