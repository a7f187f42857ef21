"""Self-claims of accounts: a person says "that account is me" and proves it with a
one-time code in the account's profile text, which the next sync stores (the `bio` of
the account). Never on the word alone: a claim links nothing until its code is seen,
expires after `CLAIM_HOURS`, and a code works once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from service.identity.audit import Cause
from service.store import people as store_people
from service.store.db import from_db_time
from service.store.schema import identities, identity_claims, identity_links

__all__ = ["CLAIM_HOURS", "Claim", "apply_due", "claims_of", "create", "due", "mark",
           "waiting_accounts"]

CLAIM_HOURS = 48
PENDING, VERIFIED, EXPIRED, CONFLICT = "pending", "verified", "expired", "conflict"
#: no 0/O, 1/I/L: the code is typed by hand into a profile
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


@dataclass(slots=True)
class Claim:
    id: int
    person_id: int
    identity_id: int
    subject: str
    code: str
    status: str
    created_at: datetime
    expires_at: datetime
    source_id: str
    account: str | None


def new_code() -> str:
    """A one-time code: `whoknows-` and 10 random characters (50 bits)."""
    return "whoknows-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def _claim(row: Any) -> Claim:
    return Claim(row.id, row.person_id, row.identity_id, row.subject, row.code, row.status,
                 from_db_time(row.created_at) or datetime.now(UTC),
                 from_db_time(row.expires_at) or datetime.now(UTC), row.source_id,
                 row.username or row.external_id)


def _query() -> Any:
    c, t = identity_claims.c, identities.c
    return (select(identity_claims, t.source_id, t.username, t.external_id)
            .join(identities, identities.c.id == c.identity_id))


def claims_of(conn: Connection, person_id: int) -> list[Claim]:
    """The person's claims, newest first."""
    query = _query().where(identity_claims.c.person_id == person_id)
    return [_claim(r) for r in conn.execute(query.order_by(identity_claims.c.id.desc()))]


def create(conn: Connection, person_id: int, identity_id: int, subject: str,
           now: datetime) -> Claim:
    """A new claim: pending with a fresh code, or `conflict` when another person claims
    the account too (pending or verified) — then it waits for an administrator."""
    c = identity_claims.c
    others = conn.execute(select(c.id).where(
        c.identity_id == identity_id, c.person_id != person_id,
        c.status.in_([PENDING, VERIFIED]))).first()
    status = CONFLICT if others is not None else PENDING
    result = conn.execute(identity_claims.insert().values(
        person_id=person_id, identity_id=identity_id, subject=subject[:255], code=new_code(),
        status=status, created_at=now, expires_at=now + timedelta(hours=CLAIM_HOURS)))
    claim_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    row = conn.execute(_query().where(c.id == claim_id)).one()
    return _claim(row)


def due(conn: Connection, now: datetime) -> list[Claim]:
    """The pending claims whose code the account's stored profile text now holds, oldest
    first; pending claims past their time are marked expired (their code no longer
    counts)."""
    c = identity_claims.c
    found = []
    rows = conn.execute(_query().add_columns(identities.c.bio)
                        .where(c.status == PENDING).order_by(c.id)).all()
    for row in rows:
        claim = _claim(row)
        if claim.expires_at <= now:
            mark(conn, claim.id, EXPIRED, now)
        elif row.bio and claim.code in row.bio:
            found.append(claim)
    return found


def waiting_accounts(conn: Connection, source_id: str, now: datetime) -> list[str]:
    """The usernames on a source that pending, unexpired claims wait on."""
    c, t = identity_claims.c, identities.c
    rows = conn.execute(select(t.username, t.external_id).join(
        identity_claims, c.identity_id == t.id).where(
        t.source_id == source_id, c.status == PENDING, c.expires_at > now).distinct())
    return sorted({r.username or r.external_id for r in rows})


def mark(conn: Connection, claim_id: int, status: str, now: datetime) -> None:
    conn.execute(update(identity_claims).where(identity_claims.c.id == claim_id)
                 .values(status=status, decided_at=now))


def owner_of(conn: Connection, identity_id: int) -> int | None:
    """The person the account belongs to now."""
    return conn.execute(select(identity_links.c.person_id).where(
        identity_links.c.identity_id == identity_id)).scalar()


def apply_due(conn: Connection, now: datetime) -> tuple[set[int], list[int]]:
    """Verify the claims whose code is in their account's profile now: each links the
    account to the claimant by hand and resolves, crediting the claimant (`self:<sub>`,
    method `self-claim`). Returns the people touched and the audit entries written."""
    touched: set[int] = set()
    entries: list[int] = []
    for claim in due(conn, now):
        anchor = store_people.person_identities(conn, claim.person_id)
        if not anchor:  # the claimant is gone (erased)
            mark(conn, claim.id, EXPIRED, now)
            continue
        store_people.add_manual_link(conn, min(anchor), claim.identity_id)
        mark(conn, claim.id, VERIFIED, now)
        resolution = store_people.resolve_people(conn, Cause(
            f"self:{claim.subject}", "self-claim",
            f"claim #{claim.id}: its code is in the profile on {claim.source_id}",
            frozenset((min(anchor), claim.identity_id))))
        touched |= resolution.touched_people
        entries += resolution.audit_ids
    return touched, entries
