"""People, identity links, the directory, manual links and unlinks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from service.identity import DirectoryEntry, IdentityFacts, Link, ResolvedPerson, resolve
from service.identity.audit import Cause, changes
from service.model import normalise_email
from service.store import audit as store_audit
from service.store import person_topics as store_person_topics
from service.store.db import chunks, insert_ignore
from service.store.schema import (
    directory_accounts,
    directory_entries,
    identities,
    identity_links,
    link_blocks,
    manual_links,
    people,
    profile_people,
    profile_topics,
)

__all__ = [
    "Resolution",
    "add_manual_link",
    "block_between",
    "block_link",
    "find_identity",
    "find_person",
    "person_of",
    "import_directory",
    "person_accounts",
    "person_identities",
    "resolve_people",
    "unresolved_exists",
]


@dataclass(slots=True)
class Resolution:
    """What a resolution pass changed: the people whose profile must be recomputed."""

    touched_people: set[int]
    removed_people: set[int]
    #: the identity audit entries the pass wrote
    audit_ids: list[int]


def _load_facts(conn: Connection) -> list[IdentityFacts]:
    t = identities.c
    rows = conn.execute(
        select(t.id, t.source_id, t.username, t.display_name, t.email, t.email_verified)
    )
    return [IdentityFacts(r.id, r.source_id, r.username, r.display_name, r.email,
                          bool(r.email_verified)) for r in rows]


def _load_directory(conn: Connection) -> list[DirectoryEntry]:
    accounts: dict[str, dict[str, str]] = {}
    for row in conn.execute(select(directory_accounts)):
        accounts.setdefault(row.email, {})[row.source_id] = row.username
    return [
        DirectoryEntry(row.email, row.name, row.department, accounts.get(row.email, {}))
        for row in conn.execute(select(directory_entries).order_by(directory_entries.c.email))
    ]


def _pairs(conn: Connection, table: Any) -> list[tuple[int, int]]:
    return [(r.identity_id, r.other_identity_id) for r in conn.execute(select(table))]


def resolve_people(conn: Connection, cause: Cause | None = None) -> Resolution:
    """Run identity resolution over every identity, write the changes, and an identity
    audit entry for each merge or split (credited to `cause` where it touches its
    accounts, to the rules otherwise).

    Returns the people whose identities changed (to recompute) and the people removed.
    """
    current = {
        row.identity_id: Link(row.person_id, row.method, row.detail)
        for row in conn.execute(select(identity_links))
    }
    resolved = resolve(_load_facts(conn), _load_directory(conn), _pairs(conn, manual_links),
                       _pairs(conn, link_blocks), current)
    existing = {row.id: row for row in conn.execute(select(people))}
    touched: set[int] = set()
    link_rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    after: dict[int, int] = {}
    methods: dict[int, str] = {}
    for person in resolved:
        person_id = _save_person(conn, person, existing)
        for identity_id in person.identity_ids:
            method, detail = person.links[identity_id]
            after[identity_id], methods[identity_id] = person_id, method
            old = current.get(identity_id)
            if old != Link(person_id, method, detail):
                link_rows.append({"identity_id": identity_id, "person_id": person_id,
                                  "method": method, "detail": detail, "linked_at": now})
                touched.add(person_id)
                if old is not None:
                    touched.add(old.person_id)
    _write_links(conn, link_rows)
    kept = {r.person_id for r in conn.execute(select(identity_links.c.person_id).distinct())}
    removed = set(existing) - kept
    if removed:
        conn.execute(delete(profile_topics).where(profile_topics.c.person_id.in_(removed)))
        conn.execute(delete(profile_people).where(profile_people.c.person_id.in_(removed)))
        conn.execute(delete(people).where(people.c.id.in_(removed)))
    # a person's own topic decisions follow their e-mail to the person it finds now
    touched |= store_person_topics.follow(conn)
    before = {identity_id: link.person_id for identity_id, link in current.items()}
    audit_ids = [store_audit.write(conn, change, now)
                 for change in changes(before, after, methods, cause)]
    return Resolution(touched_people=touched - removed, removed_people=removed,
                      audit_ids=audit_ids)


def _save_person(conn: Connection, person: ResolvedPerson, existing: dict[int, Any]) -> int:
    values = {"display_name": person.display_name, "email": person.email,
              "department": person.department}
    if person.person_id is None:
        result = conn.execute(people.insert().values(opt_out_external=False, **values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]
    old = existing[person.person_id]
    if any(getattr(old, key) != value for key, value in values.items()):
        conn.execute(update(people).where(people.c.id == person.person_id).values(**values))
    return person.person_id


def _write_links(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    ids = [row["identity_id"] for row in rows]
    for chunk in chunks(ids, 500):
        conn.execute(delete(identity_links).where(
            identity_links.c.identity_id.in_(chunk)))
    conn.execute(identity_links.insert(), rows)


def unresolved_exists(conn: Connection) -> bool:
    """Whether some account belongs to no person yet."""
    linked = select(identity_links.c.identity_id).where(
        identity_links.c.identity_id == identities.c.id)
    found = conn.execute(select(identities.c.id).where(~linked.exists()).limit(1)).first()
    return found is not None


def import_directory(conn: Connection, entries: Iterable[DirectoryEntry]) -> int:
    """Store (replace) directory entries; return how many were stored."""
    count = 0
    for entry in entries:
        email = normalise_email(entry.email)
        if email is None:
            continue
        conn.execute(delete(directory_accounts).where(directory_accounts.c.email == email))
        conn.execute(delete(directory_entries).where(directory_entries.c.email == email))
        away = date.fromisoformat(entry.away_until) if entry.away_until else None
        conn.execute(directory_entries.insert().values(
            email=email, name=entry.name, department=entry.department,
            organisation=entry.organisation, away_until=away))
        accounts = [{"email": email, "source_id": s, "username": u}
                    for s, u in entry.accounts.items() if u]
        if accounts:
            conn.execute(directory_accounts.insert(), accounts)
        count += 1
    return count


def find_identity(conn: Connection, source_id: str, account: str) -> int | None:
    """Return the identity id of an account, by its external id or its username."""
    t = identities.c
    row = conn.execute(select(t.id).where(t.source_id == source_id, t.external_id == account))
    found = row.scalar()
    if found is None:
        found = conn.execute(
            select(t.id).where(t.source_id == source_id, t.username == account)
        ).scalar()
    return found


def person_identities(conn: Connection, person_id: int) -> list[int]:
    rows = conn.execute(
        select(identity_links.c.identity_id).where(identity_links.c.person_id == person_id)
    )
    return [row.identity_id for row in rows]


def person_accounts(conn: Connection, person_id: int) -> list[Any]:
    """The person's accounts (id, source_id, username, display_name, profile_url)."""
    t = identities.c
    return list(conn.execute(
        select(t.id, t.source_id, t.username, t.display_name, t.profile_url)
        .join(identity_links, identity_links.c.identity_id == t.id)
        .where(identity_links.c.person_id == person_id).order_by(t.source_id, t.id)))


def block_link(conn: Connection, identity_id: int, person_id: int) -> None:
    """Manually unlink an identity from a person; the split is remembered for good."""
    others = [i for i in person_identities(conn, person_id) if i != identity_id]
    now = datetime.now(UTC)
    conn.execute(delete(manual_links).where(
        ((manual_links.c.identity_id == identity_id) & manual_links.c.other_identity_id.in_(others))
        | ((manual_links.c.other_identity_id == identity_id)
           & manual_links.c.identity_id.in_(others))))
    if others:
        conn.execute(insert_ignore(conn.dialect.name, link_blocks),
                     [{"identity_id": identity_id, "other_identity_id": o, "created_at": now}
                      for o in others])


def block_between(conn: Connection, left: Iterable[int], right: Iterable[int]) -> None:
    """Keep these two sets of accounts apart for good: drop the manual links between
    them and block every pair (a rejected suggestion, an undone merge)."""
    left, right = sorted(set(left)), sorted(set(right))
    if not left or not right:
        return
    m = manual_links.c
    conn.execute(delete(manual_links).where(
        (m.identity_id.in_(left) & m.other_identity_id.in_(right))
        | (m.identity_id.in_(right) & m.other_identity_id.in_(left))))
    now = datetime.now(UTC)
    conn.execute(insert_ignore(conn.dialect.name, link_blocks),
                 [{"identity_id": a, "other_identity_id": b, "created_at": now}
                  for a in left for b in right if a != b])


def add_manual_link(conn: Connection, identity_id: int, other_identity_id: int) -> None:
    """Manually link two identities (lifting any block between them)."""
    a, b = sorted((identity_id, other_identity_id))
    conn.execute(delete(link_blocks).where(
        ((link_blocks.c.identity_id == a) & (link_blocks.c.other_identity_id == b))
        | ((link_blocks.c.identity_id == b) & (link_blocks.c.other_identity_id == a))))
    conn.execute(insert_ignore(conn.dialect.name, manual_links),
                 [{"identity_id": a, "other_identity_id": b, "created_at": datetime.now(UTC)}])


def person_of(conn: Connection, identity_id: int) -> int | None:
    """Return the person an identity belongs to."""
    return conn.execute(
        select(identity_links.c.person_id).where(identity_links.c.identity_id == identity_id)
    ).scalar()


def find_person(conn: Connection, who: str) -> Any | None:
    """Return the person row for an e-mail (person or any verified account) or an id."""
    if who.isdigit():
        return conn.execute(select(people).where(people.c.id == int(who))).first()
    email = normalise_email(who)
    if email is None:
        return None
    row = conn.execute(select(people).where(people.c.email == email)).first()
    if row is None:
        row = conn.execute(
            select(people).join(identity_links, identity_links.c.person_id == people.c.id)
            .join(identities, identities.c.id == identity_links.c.identity_id)
            .where(identities.c.email == email, identities.c.email_verified.is_(True))
        ).first()
    return row
