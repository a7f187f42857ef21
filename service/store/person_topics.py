"""What people decided about their own topics (`service.reputation.own_topics`): one row
per e-mail and topic, the person it finds beside it; every change is an entry of the
identity audit log, in the same transaction (append-only: an undo is a new entry)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from service.identity.audit import Change
from service.reputation.own_topics import hiding_states
from service.store import audit as store_audit
from service.store.db import chunks
from service.store.queries import person_by_email
from service.store.schema import identity_links, person_topics

__all__ = ["decide", "follow", "hiding", "states"]

#: the audit entry's action; its method is the new state (`shown` for an undo)
ACTION = "topic"
SHOWN = "shown"
_WORDS = {"hidden_all": "hid {topic!r} from everyone",
          "hidden_external": "hid {topic!r} from the external and partner audiences",
          "confirmed": "confirmed {topic!r}", SHOWN: "shows {topic!r} again, unmarked"}


def decide(conn: Connection, person_id: int, email: str, topic: str, state: str | None,
           subject: str, now: datetime) -> str | None:
    """Set (or, with `state` None, clear) the person's decision on a topic and write its
    audit entry, credited to `self:<subject>`. Returns the state before."""
    t = person_topics.c
    before = conn.execute(select(t.state).where(t.email == email, t.topic == topic)).scalar()
    if before == state:
        return before
    conn.execute(delete(person_topics).where(t.email == email, t.topic == topic))
    if state is not None:
        conn.execute(person_topics.insert().values(
            email=email, topic=topic, person_id=person_id, state=state, subject=subject,
            at=now))
    accounts = sorted(conn.execute(select(identity_links.c.identity_id).where(
        identity_links.c.person_id == person_id)).scalars())
    group = [{"person_id": person_id, "identities": accounts}]
    store_audit.write(conn, Change(
        action=ACTION, method=state or SHOWN, actor=f"self:{subject}",
        reason=_WORDS[state or SHOWN].format(topic=topic), before=group, after=group), now)
    return before


def states(conn: Connection, person_ids: Sequence[int] | None) -> dict[int, dict[str, str]]:
    """person -> topic -> state, for these people (everyone's: None)."""
    t = person_topics.c
    query = select(t.person_id, t.topic, t.state).where(t.person_id.is_not(None))
    found: dict[int, dict[str, str]] = defaultdict(dict)
    batches: Iterable[Sequence[int] | None] = [None] if person_ids is None else chunks(
        list(person_ids), 500)
    for batch in batches:
        where = query if batch is None else query.where(t.person_id.in_(batch))
        for row in conn.execute(where):
            found[row.person_id][row.topic] = row.state
    return found


def hiding(conn: Connection, scope: str, topics: Iterable[str], person_ids: Sequence[int]
           ) -> set[int]:
    """Those of these people who hid one of these topics from `scope`."""
    wanted = sorted(set(topics))
    if not wanted or not person_ids:
        return set()
    t = person_topics.c
    query = select(t.person_id).where(t.topic.in_(wanted), t.state.in_(hiding_states(scope)))
    found: set[int] = set()
    for chunk in chunks(list(person_ids), 500):
        found |= set(conn.execute(query.where(t.person_id.in_(chunk))).scalars())
    return found


def follow(conn: Connection) -> set[int]:
    """Point every row at the person its e-mail finds now (none: null), after a resolution
    made, merged or removed people. Returns the people whose decisions changed (to
    recompute)."""
    t = person_topics.c
    moved: set[int] = set()
    for email, person_id in conn.execute(select(t.email, t.person_id).distinct()).all():
        now = person_by_email(conn, email)
        if now != person_id:
            conn.execute(update(person_topics).where(t.email == email).values(person_id=now))
            moved |= {p for p in (now, person_id) if p is not None}
    return moved
