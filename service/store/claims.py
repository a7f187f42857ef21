"""Self-claims of accounts: a person says "that account is me" and proves it, either with
a one-time code in the account's profile text, which the next sync stores (the `bio` of
the account), or with a link e-mailed to the address the account's platform verified
(only the sha256 of the link's token is stored). Never on the word alone: a claim links
nothing until it is proven, expires after `CLAIM_HOURS`, and a code or link works once."""

from __future__ import annotations

import hashlib
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

__all__ = ["CLAIM_HOURS", "Claim", "apply_due", "claims_of", "create", "due", "find_link",
           "link_sent", "link_token", "mark", "mask", "use_link", "verified_email",
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
    #: the account's platform-verified e-mail address, masked (a•••@example.com); None
    #: when it has none: then no link can be sent
    mail_to: str | None = None
    #: where and when the latest link went (masked)
    link_sent_to: str | None = None
    link_sent_at: datetime | None = None


def new_code() -> str:
    """A one-time code: `whoknows-` and 10 random characters (50 bits)."""
    return "whoknows-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def _claim(row: Any) -> Claim:
    return Claim(row.id, row.person_id, row.identity_id, row.subject, row.code, row.status,
                 from_db_time(row.created_at) or datetime.now(UTC),
                 from_db_time(row.expires_at) or datetime.now(UTC), row.source_id,
                 row.username or row.external_id,
                 mask(row.email) if row.email and row.email_verified else None,
                 row.link_sent_to, from_db_time(row.link_sent_at))


def mask(address: str) -> str:
    """An address as the claimant sees it: its first letter and its domain."""
    local, _, domain = address.strip().rpartition("@")
    return f"{local[:1]}•••@{domain}" if local else "•••"


def _query() -> Any:
    c, t = identity_claims.c, identities.c
    return (select(identity_claims, t.source_id, t.username, t.external_id, t.email,
                   t.email_verified)
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


def due(conn: Connection, now: datetime) -> list[tuple[Claim, str]]:
    """The pending claims proven now, oldest first, each with how: its e-mailed link was
    used (before the claim expired), or its code is in the account's stored profile
    text. Pending claims past their time are marked expired (their code no longer
    counts)."""
    c = identity_claims.c
    found = []
    rows = conn.execute(_query().add_columns(identities.c.bio)
                        .where(c.status == PENDING).order_by(c.id)).all()
    for row in rows:
        claim = _claim(row)
        if row.link_used_at is not None:
            found.append((claim, f"claim #{claim.id}: link sent to {row.link_sent_to} "
                                 "verified"))
        elif claim.expires_at <= now:
            mark(conn, claim.id, EXPIRED, now)
        elif row.bio and claim.code in row.bio:
            found.append((claim, f"claim #{claim.id}: its code is in the profile on "
                                 f"{claim.source_id}"))
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
    """Verify the claims proven now (`due`: a code in the account's profile, a used
    link): each links the account to the claimant by hand and resolves, crediting the
    claimant (`self:<sub>`, method `self-claim`). Returns the people touched and the
    audit entries written."""
    touched: set[int] = set()
    entries: list[int] = []
    for claim, reason in due(conn, now):
        anchor = store_people.person_identities(conn, claim.person_id)
        if not anchor:  # the claimant is gone (erased)
            mark(conn, claim.id, EXPIRED, now)
            continue
        store_people.add_manual_link(conn, min(anchor), claim.identity_id)
        mark(conn, claim.id, VERIFIED, now)
        resolution = store_people.resolve_people(conn, Cause(
            f"self:{claim.subject}", "self-claim", reason,
            frozenset((min(anchor), claim.identity_id))))
        touched |= resolution.touched_people
        entries += resolution.audit_ids
    return touched, entries


# --- the e-mailed link ---


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_token() -> tuple[str, str]:
    """A new link's token (for the message only) and its sha256 (for the store)."""
    token = secrets.token_urlsafe(32)
    return token, _digest(token)


def verified_email(conn: Connection, identity_id: int) -> str | None:
    """The address the account's platform verified, or None."""
    row = conn.execute(select(identities.c.email, identities.c.email_verified).where(
        identities.c.id == identity_id)).first()
    return row.email if row is not None and row.email and row.email_verified else None


def link_sent(conn: Connection, claim_id: int, digest: str, sent_to: str,
              now: datetime) -> None:
    """Record the link just sent (masked address); an earlier link of the claim no longer
    works."""
    conn.execute(update(identity_claims).where(identity_claims.c.id == claim_id).values(
        link_hash=digest, link_sent_to=sent_to, link_sent_at=now))


def find_link(conn: Connection, token: str, now: datetime) -> tuple[Claim | None, str | None]:
    """The claim a link's token is for, and why it no longer works: `unknown` (no such
    link, or a newer one replaced it), `used` (once already, or the claim is verified),
    `expired`; None when it works."""
    row = conn.execute(_query().where(identity_claims.c.link_hash == _digest(token))).first()
    if row is None:
        return None, "unknown"
    claim = _claim(row)
    if row.link_used_at is not None or claim.status == VERIFIED:
        return claim, "used"
    if claim.status != PENDING or claim.expires_at <= now:
        return claim, "expired"
    return claim, None


def use_link(conn: Connection, claim_id: int, token: str, now: datetime) -> bool:
    """Use the link once: True when it still worked (the next resolution verifies the
    claim, `apply_due`), False when it was used, replaced or expired meanwhile."""
    c = identity_claims.c
    result = conn.execute(update(identity_claims).where(
        c.id == claim_id, c.link_hash == _digest(token), c.link_used_at.is_(None),
        c.status == PENDING, c.expires_at > now).values(link_used_at=now))
    return result.rowcount == 1
