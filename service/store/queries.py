"""Read queries the API serves: people as an audience may see them, their contributions,
topics with counts and trend. Every query takes the audiences the caller may see."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection

from service.model import VISIBLE_AUDIENCES, Audience, normalise_email
from service.reputation.own_topics import CONFIRMED
from service.store.db import from_db_time
from service.store.schema import (
    contributions,
    identities,
    identity_links,
    people,
    person_topics,
    profile_topics,
)

__all__ = ["audience_profile", "confirmed_topics", "person_by_email", "person_contributions", "person_summary",
           "scope_of", "topic_counts"]


def scope_of(audience: Audience) -> str:
    """The reputation scope an audience reads: `all` inside, `public` for the others."""
    return "all" if audience == Audience.INTERNAL else "public"


def _visible(person_id: int, audiences: Sequence[str]) -> Any:
    c = contributions.c
    return (select(c.audience, func.count().label("n"), func.max(c.created_at).label("last"))
            .join(identity_links, identity_links.c.identity_id == c.author_identity_id)
            .where(identity_links.c.person_id == person_id, c.deleted.is_(False),
                   c.audience.in_(list(audiences)))
            .group_by(c.audience))


def person_summary(conn: Connection, person_id: int, audiences: Sequence[str], *,
                   hide_opted_out: bool) -> dict[str, Any] | None:
    """The person with contribution totals per visible audience, or None when the person
    does not exist, opted out of this view, or has nothing in it."""
    row = conn.execute(select(people).where(people.c.id == person_id)).first()
    if row is None or (hide_opted_out and row.opt_out_external):
        return None
    totals = {r.audience: (r.n, from_db_time(r.last))
              for r in conn.execute(_visible(person_id, audiences))}
    if not totals:
        return None
    last = max(last for _, last in totals.values() if last is not None)
    return {"id": row.id, "display_name": row.display_name, "department": row.department,
            "email": row.email,
            "totals": {audience: count for audience, (count, _) in sorted(totals.items())},
            "last_active": last.isoformat() if last else None}


def audience_profile(conn: Connection, person_id: int, audience: Audience
                     ) -> dict[str, Any] | None:
    """The person's profile as `audience` sees it: `person_summary` with their topics in
    the audience's scope, best first (score, level, contributions, evidence ids, last
    active, and `confirmed` when they confirmed it); no department or e-mail outside.
    None when the audience may not see them. The API's profile, the badge, the card and
    "my profile" all read it, so each shows what the audience gets."""
    outside = audience != Audience.INTERNAL
    found = person_summary(conn, person_id, [str(a) for a in VISIBLE_AUDIENCES[audience]],
                           hide_opted_out=outside)
    if found is None:
        return None
    if outside:
        found["department"] = None
        found["email"] = None
    t = profile_topics.c
    confirmed = confirmed_topics(conn, person_id)
    rows = conn.execute(select(profile_topics).where(
        t.person_id == person_id, t.scope == scope_of(audience)).order_by(t.score.desc()))
    found["topics"] = [
        {"topic": row.topic, "score": round(row.score, 4), "level": row.level,
         "contributions": row.contributions, "evidence": [item[0] for item in row.evidence],
         "last_active": _iso(row.last_active), "confirmed": row.topic in confirmed}
        for row in rows]
    return found


def confirmed_topics(conn: Connection, person_id: int) -> set[str]:
    """The topics the person confirmed on "my profile"."""
    mine = person_topics.c
    return set(conn.execute(select(mine.topic).where(
        mine.person_id == person_id, mine.state == CONFIRMED)).scalars())


def _iso(value: Any) -> str | None:
    found = from_db_time(value)
    return found.isoformat() if found else None


def person_by_email(conn: Connection, email: str) -> int | None:
    """The person holding this e-mail (their own or a verified account's)."""
    value = normalise_email(email)
    if value is None:
        return None
    found = conn.execute(select(people.c.id).where(people.c.email == value)).scalar()
    if found is None:
        found = conn.execute(
            select(identity_links.c.person_id)
            .join(identities, identities.c.id == identity_links.c.identity_id)
            .where(identities.c.email == value, identities.c.email_verified.is_(True))
        ).scalar()
    return found


def person_contributions(conn: Connection, person_id: int, audiences: Sequence[str],
                         limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the person's visible contributions (newest first) and the total."""
    c = contributions.alias("c")
    root = contributions.alias("root")
    where = and_(identity_links.c.person_id == person_id, c.c.deleted.is_(False),
                 c.c.audience.in_(list(audiences)))
    base = select(c).join(identity_links, identity_links.c.identity_id == c.c.author_identity_id)
    total = conn.execute(select(func.count()).select_from(base.where(where).subquery())).scalar()
    title = func.coalesce(func.nullif(c.c.title, ""), root.c.title, "")
    rows = conn.execute(
        select(c.c.id, c.c.source_id, c.c.audience, c.c.kind, title.label("title"), c.c.url,
               c.c.created_at, c.c.score, c.c.accepted)
        .join(identity_links, identity_links.c.identity_id == c.c.author_identity_id)
        .outerjoin(root, and_(root.c.source_id == c.c.source_id,
                              root.c.external_id == c.c.thread_external_id))
        .where(where).order_by(c.c.created_at.desc(), c.c.id.desc())
        .limit(limit).offset(offset))
    items = [{"id": r.id, "source": r.source_id, "audience": r.audience, "kind": r.kind,
              "title": r.title, "url": r.url,
              "created": from_db_time(r.created_at).isoformat(),  # type: ignore[union-attr]
              "score": r.score, "accepted": bool(r.accepted)} for r in rows]
    return items, int(total or 0)


def topic_counts(conn: Connection, scope: str, now: datetime, limit: int
                 ) -> list[dict[str, Any]]:
    """Topics by the number of people with a score, with a 90-day trend of the people
    active on them (last 90 days against the 90 before)."""
    t = profile_topics.c
    recent = now.astimezone(UTC) - timedelta(days=90)
    before = recent - timedelta(days=90)
    rows = conn.execute(
        select(t.topic, func.count().label("people"), func.sum(t.contributions).label("n"),
               func.sum(case((t.last_active >= recent, 1), else_=0)).label("recent"),
               func.sum(case((and_(t.last_active >= before, t.last_active < recent), 1),
                             else_=0)).label("before"))
        .where(t.scope == scope).group_by(t.topic)
        .order_by(func.count().desc(), t.topic).limit(limit))
    return [{"topic": r.topic, "people": r.people, "contributions": int(r.n or 0),
             "active_people_90d": int(r.recent or 0),
             "trend": _trend(int(r.recent or 0), int(r.before or 0))} for r in rows]


def _trend(recent: int, before: int) -> str:
    if recent > before * 1.25:
        return "rising"
    if recent < before * 0.8:
        return "falling"
    return "steady"
