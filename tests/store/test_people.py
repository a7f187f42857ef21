"""Identity resolution in the store: e-mail merges, names never do, the directory does,
manual links hold and manual unlinks stick. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from service.identity import DirectoryEntry
from service.store.contributions import SourceInfo, store_batch
from service.store.people import (
    add_manual_link,
    block_link,
    find_identity,
    import_directory,
    person_of,
    resolve_people,
)
from service.store.schema import identity_links, people
from service.store.sync import register_source
from tests.records import record

BLOG = SourceInfo("blog", "internal")
FORUM = SourceInfo("forum", "external")


def _setup(engine: Engine) -> None:
    with engine.begin() as conn:
        register_source(conn, {"id": "blog", "kind": "push", "audience": "internal"})
        register_source(conn, {"id": "forum", "kind": "push", "audience": "external"})


def _person(engine: Engine, source: str, account: str) -> int | None:
    with engine.connect() as conn:
        identity = find_identity(conn, source, account)
        assert identity is not None
        return person_of(conn, identity)


def _resolve(engine: Engine):  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        return resolve_people(conn)


def test_same_email_in_two_sources_is_one_person(engine: Engine) -> None:
    _setup(engine)
    with engine.begin() as conn:
        store_batch(conn, BLOG, [record("b1", "alice.w", email="alice@corp.example")])
        store_batch(conn, FORUM, [record("f1", "awonder", email="ALICE@corp.example")])
    _resolve(engine)
    assert _person(engine, "blog", "alice.w") == _person(engine, "forum", "awonder")
    with engine.connect() as conn:
        methods = conn.execute(select(identity_links.c.method)).scalars().all()
    assert methods == ["email", "email"]


def test_same_display_name_alone_never_merges(engine: Engine) -> None:
    _setup(engine)
    with engine.begin() as conn:
        store_batch(conn, BLOG, [record("b1", "akim1", name="Alex Kim", email="a1@corp.example")])
        store_batch(conn, FORUM, [record("f1", "akim2", name="Alex Kim")])
    _resolve(engine)
    assert _person(engine, "blog", "akim1") != _person(engine, "forum", "akim2")


def test_unverified_emails_do_not_merge(engine: Engine) -> None:
    _setup(engine)
    with engine.begin() as conn:
        store_batch(conn, BLOG, [record("b1", "alice", email="alice@corp.example")])
        store_batch(conn, SourceInfo("forum", "external", verified_emails=False),
                    [record("f1", "impostor", email="alice@corp.example")])
    _resolve(engine)
    assert _person(engine, "blog", "alice") != _person(engine, "forum", "impostor")


def test_a_directory_entry_names_accounts_into_one_person(engine: Engine) -> None:
    _setup(engine)
    with engine.begin() as conn:
        store_batch(conn, BLOG, [record("b1", "dana.s")])
        store_batch(conn, FORUM, [record("f1", "dsmith")])
        import_directory(conn, [DirectoryEntry("dana@corp.example", "Dana Smith", "Claims",
                                               {"blog": "dana.s", "forum": "DSmith"})])
    _resolve(engine)
    person = _person(engine, "blog", "dana.s")
    assert person == _person(engine, "forum", "dsmith")
    with engine.connect() as conn:
        row = conn.execute(select(people).where(people.c.id == person)).one()
    assert (row.display_name, row.department) == ("Dana Smith", "Claims")


def test_a_manual_unlink_is_never_undone_by_an_automatic_merge(engine: Engine) -> None:
    _setup(engine)
    with engine.begin() as conn:
        store_batch(conn, BLOG, [record("b1", "sam", email="sam@corp.example")])
        store_batch(conn, FORUM, [record("f1", "sam_f", email="sam@corp.example")])
    _resolve(engine)
    person = _person(engine, "forum", "sam_f")
    with engine.begin() as conn:
        block_link(conn, find_identity(conn, "forum", "sam_f"), person)  # type: ignore[arg-type]
    _resolve(engine)
    # New evidence arrives: the same e-mail again, and a later sync.
    with engine.begin() as conn:
        store_batch(conn, FORUM, [record("f2", "sam_f", email="sam@corp.example")])
    _resolve(engine)
    assert _person(engine, "blog", "sam") != _person(engine, "forum", "sam_f")


def test_a_manual_link_joins_accounts_without_evidence(engine: Engine) -> None:
    _setup(engine)
    with engine.begin() as conn:
        store_batch(conn, BLOG, [record("b1", "lee")])
        store_batch(conn, FORUM, [record("f1", "lee_outside")])
        add_manual_link(conn, find_identity(conn, "blog", "lee"),  # type: ignore[arg-type]
                        find_identity(conn, "forum", "lee_outside"))  # type: ignore[arg-type]
    resolution = _resolve(engine)
    person = _person(engine, "blog", "lee")
    assert person == _person(engine, "forum", "lee_outside")
    assert person in resolution.touched_people
    with engine.connect() as conn:
        assert set(conn.execute(select(identity_links.c.method)).scalars()) == {"manual"}


def test_person_ids_stay_stable_across_resolutions(engine: Engine) -> None:
    _setup(engine)
    with engine.begin() as conn:
        store_batch(conn, BLOG, [record("b1", "kai", email="kai@corp.example")])
    _resolve(engine)
    before = _person(engine, "blog", "kai")
    with engine.begin() as conn:
        store_batch(conn, FORUM, [record("f1", "kai_f", email="kai@corp.example")])
    _resolve(engine)
    assert _person(engine, "blog", "kai") == before == _person(engine, "forum", "kai_f")
