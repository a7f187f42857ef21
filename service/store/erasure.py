"""Erasing a person: identities, contributions, interactions, links and profiles go, and
the accounts and e-mails are suppressed so that no later sync stores them again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.engine import Connection

from service.model import AuthorRecord, normalise_email
from service.store.schema import (
    contributions,
    identities,
    identity_claims,
    identity_links,
    identity_suggestions,
    interactions,
    link_blocks,
    manual_links,
    organisation_connections,
    organisation_members,
    people,
    person_topics,
    profile_people,
    profile_topics,
    recompute_queue,
    routing_questions,
    suppressions,
)

__all__ = ["Erased", "erase_person", "suppressed_authors"]


@dataclass(slots=True)
class Erased:
    contribution_ids: list[int]
    topics: set[tuple[str, str]]


def erase_person(conn: Connection, person_id: int, suppress: bool = True) -> Erased | None:
    """Delete the person and everything of theirs; return what went (None: no person)."""
    person = conn.execute(select(people).where(people.c.id == person_id)).first()
    if person is None:
        return None
    ids = list(conn.execute(select(identity_links.c.identity_id)
                            .where(identity_links.c.person_id == person_id)).scalars())
    accounts = conn.execute(select(identities.c.source_id, identities.c.external_id,
                                   identities.c.email).where(identities.c.id.in_(ids))).all()
    owned = list(conn.execute(select(contributions.c.id)
                              .where(contributions.c.author_identity_id.in_(ids))).scalars())
    topics = {(r.scope, r.topic) for r in conn.execute(
        select(profile_topics.c.scope, profile_topics.c.topic)
        .where(profile_topics.c.person_id == person_id))}
    conn.execute(delete(interactions).where(or_(
        interactions.c.actor_identity_id.in_(ids),
        interactions.c.target_contribution_id.in_(owned))))
    conn.execute(delete(routing_questions).where(routing_questions.c.contribution_id.in_(owned)))
    conn.execute(delete(contributions).where(contributions.c.id.in_(owned)))
    for table in (organisation_members, organisation_connections):
        conn.execute(delete(table).where(table.c.person_id == person_id))
    conn.execute(delete(profile_topics).where(profile_topics.c.person_id == person_id))
    conn.execute(delete(profile_people).where(profile_people.c.person_id == person_id))
    conn.execute(delete(person_topics).where(person_topics.c.person_id == person_id))
    for table in (link_blocks, manual_links, identity_suggestions):
        conn.execute(delete(table).where(or_(table.c.identity_id.in_(ids),
                                             table.c.other_identity_id.in_(ids))))
    conn.execute(delete(identity_claims).where(or_(identity_claims.c.identity_id.in_(ids),
                                                   identity_claims.c.person_id == person_id)))
    conn.execute(delete(recompute_queue).where(recompute_queue.c.identity_id.in_(ids)))
    conn.execute(delete(identity_links).where(identity_links.c.person_id == person_id))
    conn.execute(delete(identities).where(identities.c.id.in_(ids)))
    conn.execute(delete(people).where(people.c.id == person_id))
    if suppress:
        now = datetime.now(UTC)
        emails = {a.email for a in accounts if a.email}
        if person.email:
            emails.add(person.email)
        rows = [{"source_id": a.source_id, "external_id": a.external_id, "email": None,
                 "created_at": now} for a in accounts]
        rows += [{"source_id": None, "external_id": None, "email": e, "created_at": now}
                 for e in emails]
        if rows:
            conn.execute(suppressions.insert(), rows)
    return Erased(owned, topics)


def suppressed_authors(conn: Connection, source_id: str, authors: Iterable[AuthorRecord]
                       ) -> set[str]:
    """The external ids among these accounts that belong to erased people."""
    wanted = {a.id: normalise_email(a.email) for a in authors}
    if not wanted or conn.execute(select(suppressions.c.id).limit(1)).first() is None:
        return set()
    by_account = set(conn.execute(select(suppressions.c.external_id).where(
        suppressions.c.source_id == source_id,
        suppressions.c.external_id.in_(list(wanted)))).scalars())
    emails = {e for e in wanted.values() if e}
    by_email = set(conn.execute(select(suppressions.c.email).where(
        suppressions.c.email.in_(list(emails)))).scalars()) if emails else set()
    return by_account | {key for key, email in wanted.items() if email in by_email}
