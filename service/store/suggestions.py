"""The review queue of merge suggestions: refreshed after each resolution, decided by
an administrator. Decided rows stay, so a pair is never suggested twice."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from service.identity.suggestions import THRESHOLD, Account, Candidate, PersonFacts, suggest
from service.store.db import from_db_time
from service.store.schema import (
    directory_entries,
    identities,
    identity_links,
    identity_suggestions,
    link_blocks,
    people,
    sources,
)

__all__ = ["OPEN", "Side", "Suggestion", "blocked_people", "decide", "get", "list_suggestions",
           "people_facts", "queue_claim_conflict", "refresh"]

OPEN, ACCEPTED, REJECTED, UNDONE = "open", "accepted", "rejected", "undone"
#: the reason of a pair two claims put in the queue: kept there until decided
CLAIM_CONFLICT = "claim_conflict"
STATUSES = (OPEN, ACCEPTED, REJECTED, UNDONE)


@dataclass(slots=True)
class Side:
    """One side of a pair as it is now: its person (None once erased) and accounts."""

    identity_id: int
    person_id: int | None
    display_name: str | None
    department: str | None
    accounts: list[dict[str, Any]]


@dataclass(slots=True)
class Suggestion:
    id: int
    confidence: float
    reasons: list[dict[str, Any]]
    status: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    first: Side
    second: Side


def people_facts(conn: Connection) -> list[PersonFacts]:
    """Every person with their accounts, as the suggestions read them."""
    listed = set(conn.execute(select(directory_entries.c.email)).scalars())
    accounts: dict[int, list[Account]] = defaultdict(list)
    t = identities.c
    rows = conn.execute(
        select(identity_links.c.person_id, t.id, t.source_id, sources.c.audience, t.username,
               t.display_name, t.email, t.email_verified, t.bio, t.website)
        .join(identities, identities.c.id == identity_links.c.identity_id)
        .join(sources, sources.c.id == t.source_id))
    for r in rows:
        accounts[r.person_id].append(Account(
            r.id, r.source_id, r.audience, r.username, r.display_name,
            r.email if r.email_verified else None, r.bio, r.website))
    return [PersonFacts(p.id, p.display_name, tuple(accounts.get(p.id, ())), p.email,
                        p.department, p.email in listed)
            for p in conn.execute(select(people))]


def blocked_people(conn: Connection) -> set[frozenset[int]]:
    """The pairs of people a block keeps apart (a rejected or undone pair)."""
    owner = {r.identity_id: r.person_id for r in conn.execute(
        select(identity_links.c.identity_id, identity_links.c.person_id))}
    found = set()
    for a, b in conn.execute(select(link_blocks.c.identity_id, link_blocks.c.other_identity_id)):
        if a in owner and b in owner and owner[a] != owner[b]:
            found.add(frozenset((owner[a], owner[b])))
    return found


def refresh(conn: Connection, threshold: float = THRESHOLD) -> int:
    """Recompute the open suggestions from the people as they are now: new pairs are
    queued, open ones updated, open ones no longer likely dropped; a decided pair is left
    alone. Returns how many are open."""
    candidates = {(c.identity_id, c.other_identity_id): c
                  for c in suggest(people_facts(conn), blocked_people(conn), threshold)}
    s = identity_suggestions.c
    existing = {(r.identity_id, r.other_identity_id): r for r in conn.execute(
        select(s.id, s.identity_id, s.other_identity_id, s.status, s.confidence, s.reasons))}
    now = datetime.now(UTC)
    stale = [r.id for key, r in existing.items() if r.status == OPEN and key not in candidates
             and not any(reason.get("code") == CLAIM_CONFLICT for reason in r.reasons)]
    if stale:
        conn.execute(delete(identity_suggestions).where(s.id.in_(stale)))
    new: list[dict[str, Any]] = []
    for key, candidate in candidates.items():
        reasons = _reasons(candidate)
        row = existing.get(key)
        if row is None:
            new.append({"identity_id": key[0], "other_identity_id": key[1],
                        "confidence": candidate.confidence, "reasons": reasons,
                        "status": OPEN, "created_at": now, "updated_at": now})
        elif row.status == OPEN and (row.confidence != candidate.confidence
                                     or row.reasons != reasons) and not any(
                reason.get("code") == CLAIM_CONFLICT for reason in row.reasons):
            conn.execute(update(identity_suggestions).where(s.id == row.id).values(
                confidence=candidate.confidence, reasons=reasons, updated_at=now))
    if new:
        conn.execute(identity_suggestions.insert(), new)
    return sum(1 for key, r in existing.items() if r.status == OPEN and key in candidates) \
        + len(new)


def _reasons(candidate: Candidate) -> list[dict[str, Any]]:
    return [{"code": r.code, "detail": r.detail, "weight": round(r.weight, 3)}
            for r in candidate.reasons]


def _side(conn: Connection, identity_id: int) -> Side:
    person_id = conn.execute(select(identity_links.c.person_id).where(
        identity_links.c.identity_id == identity_id)).scalar()
    person = conn.execute(select(people).where(people.c.id == person_id)).first() \
        if person_id is not None else None
    t = identities.c
    query = (select(t.id, t.source_id, t.username, t.display_name, t.profile_url)
             .join(identity_links, identity_links.c.identity_id == t.id)
             .where(identity_links.c.person_id == person_id).order_by(t.id))
    accounts = [{"identity_id": r.id, "source": r.source_id, "username": r.username,
                 "display_name": r.display_name, "profile_url": r.profile_url}
                for r in conn.execute(query)] if person_id is not None else []
    return Side(identity_id, person_id, person.display_name if person else None,
                person.department if person else None, accounts)


def _suggestion(conn: Connection, row: Any) -> Suggestion:
    return Suggestion(row.id, row.confidence, list(row.reasons), row.status,
                      from_db_time(row.created_at) or datetime.now(UTC), row.decided_by,
                      from_db_time(row.decided_at), row.note,
                      _side(conn, row.identity_id), _side(conn, row.other_identity_id))


def get(conn: Connection, suggestion_id: int) -> Suggestion | None:
    row = conn.execute(select(identity_suggestions).where(
        identity_suggestions.c.id == suggestion_id)).first()
    return _suggestion(conn, row) if row else None


def list_suggestions(conn: Connection, status: str = OPEN, min_confidence: float = 0.0,
                     limit: int = 50, after_id: int | None = None) -> list[Suggestion]:
    """The suggestions of a status, most confident first (then by id); `after_id` pages
    on from the last one of a page."""
    s = identity_suggestions.c
    query = select(identity_suggestions).where(s.status == status,
                                               s.confidence >= min_confidence)
    rows = conn.execute(query.order_by(s.confidence.desc(), s.id)).all()
    if after_id is not None:
        at = next((i for i, r in enumerate(rows) if r.id == after_id), None)
        rows = rows[at + 1:] if at is not None else []
    return [_suggestion(conn, row) for row in rows[:limit]]


def decide(conn: Connection, suggestion_id: int, status: str, actor: str,
           note: str | None) -> None:
    """Record the decision on a suggestion (accepted, rejected, or undone)."""
    conn.execute(update(identity_suggestions).where(
        identity_suggestions.c.id == suggestion_id).values(
        status=status, decided_by=actor[:200], decided_at=datetime.now(UTC), note=note,
        updated_at=datetime.now(UTC)))


def queue_claim_conflict(conn: Connection, claimant: int, identity_id: int, detail: str) -> None:
    """Queue the pair of a claim that another person claims too: the claimant's person
    and the account's person, for an administrator to accept or reject."""
    owner = conn.execute(select(identity_links.c.person_id).where(
        identity_links.c.identity_id == identity_id)).scalar()
    if owner is None or owner == claimant:
        return
    firsts = [conn.execute(select(identity_links.c.identity_id).where(
        identity_links.c.person_id == p).order_by(identity_links.c.identity_id)).scalar()
        for p in (claimant, owner)]
    a, b = sorted(int(i) for i in firsts if i is not None)
    s = identity_suggestions.c
    row = conn.execute(select(s.id, s.status, s.reasons).where(
        s.identity_id == a, s.other_identity_id == b)).first()
    reason = {"code": CLAIM_CONFLICT, "detail": detail, "weight": 1.0}
    now = datetime.now(UTC)
    if row is None:
        conn.execute(identity_suggestions.insert().values(
            identity_id=a, other_identity_id=b, confidence=0.5, reasons=[reason],
            status=OPEN, created_at=now, updated_at=now))
    elif row.status == OPEN:
        conn.execute(update(identity_suggestions).where(s.id == row.id).values(
            reasons=[reason, *row.reasons], updated_at=now))
