"""Reading what reputation needs and writing the derived profiles."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Text,
    and_,
    bindparam,
    delete,
    func,
    select,
    true,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection

from service.store.db import chunks, from_db_time, insert_rows
from service.store.schema import (
    contributions,
    identity_links,
    interactions,
    profile_people,
    profile_topics,
    sources,
)

__all__ = [
    "ScoringRow",
    "iter_scoring_rows",
    "refresh_levels",
    "replace_all_profiles",
    "replace_profiles",
    "all_person_ids",
    "person_activity",
]


@dataclass(slots=True)
class ScoringRow:
    id: int
    person_id: int
    source_id: str
    kind: str
    thread: str
    title: str
    body: str
    tags: list[str]
    thread_title: str | None
    thread_tags: list[str] | None
    created: datetime
    audience: str
    score: int
    likes: int
    accepted: bool
    parent_person: int | None
    thread_person: int | None
    self_likes: int
    half_life_days: float | None


def _scoring_query(person_ids: Sequence[int] | None) -> Any:
    c = contributions.alias("c")
    parent = contributions.alias("parent")
    root = contributions.alias("root")
    link = identity_links.alias("link")
    parent_link = identity_links.alias("parent_link")
    root_link = identity_links.alias("root_link")
    liker = identity_links.alias("liker")
    self_likes = (
        select(func.count())
        .select_from(
            interactions.join(liker, liker.c.identity_id == interactions.c.actor_identity_id)
        )
        .where(interactions.c.target_contribution_id == c.c.id, interactions.c.kind == "like",
               liker.c.person_id == link.c.person_id)
        .scalar_subquery()
    )
    query = (
        select(
            c.c.id, link.c.person_id, c.c.source_id, c.c.kind, c.c.thread_external_id,
            # raw values: SQLAlchemy's per-row JSON and DateTime processing was a third
            # of a full rebuild; _raw_list and from_db_time read either dialect's form
            c.c.title, c.c.body, type_coerce(c.c.tags, Text).label("tags"),
            root.c.title.label("thread_title"),
            type_coerce(root.c.tags, Text).label("thread_tags"),
            type_coerce(c.c.created_at, Text).label("created_at"), c.c.audience, c.c.score,
            c.c.likes, c.c.accepted, parent_link.c.person_id.label("parent_person"),
            root_link.c.person_id.label("thread_person"), self_likes.label("self_likes"),
            sources.c.half_life_days,
        )
        .select_from(c)
        .join(link, link.c.identity_id == c.c.author_identity_id)
        .join(sources, sources.c.id == c.c.source_id)
        .outerjoin(parent, and_(parent.c.source_id == c.c.source_id,
                                parent.c.external_id == c.c.parent_external_id))
        .outerjoin(parent_link, parent_link.c.identity_id == parent.c.author_identity_id)
        .outerjoin(root, and_(root.c.source_id == c.c.source_id,
                              root.c.external_id == c.c.thread_external_id,
                              root.c.id != c.c.id))
        .outerjoin(root_link, root_link.c.identity_id == root.c.author_identity_id)
        .where(c.c.deleted.is_(False))
    )
    if person_ids is not None:
        query = query.where(link.c.person_id.in_(person_ids))
    return query


def iter_scoring_rows(
    conn: Connection, person_ids: Sequence[int] | None = None
) -> Iterator[ScoringRow]:
    """Yield every live contribution of these people (all people when None)."""
    # on the statement: Connection.execution_options would change `conn` for good, and
    # PostgreSQL would then run the caller's next DELETE through a server-side cursor
    result = conn.execute(_scoring_query(person_ids).execution_options(yield_per=5000))
    for row in result:
        yield ScoringRow(
            row.id, row.person_id, row.source_id, row.kind, row.thread_external_id,
            row.title, row.body, _raw_list(row.tags), row.thread_title,
            _raw_list(row.thread_tags) if row.thread_tags is not None else None,
            from_db_time(row.created_at), row.audience, row.score, row.likes,  # type: ignore[arg-type]
            bool(row.accepted), row.parent_person, row.thread_person, row.self_likes or 0,
            row.half_life_days,
        )


def _raw_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else list(value)


def all_person_ids(conn: Connection) -> list[int]:
    rows = conn.execute(select(identity_links.c.person_id).distinct())
    return sorted(row.person_id for row in rows)


def replace_profiles(
    conn: Connection, person_ids: Iterable[int], rows: list[dict[str, Any]],
    activity: list[dict[str, Any]],
) -> None:
    """Replace these people's profile rows with `rows` (level filled in by refresh_levels)
    and their activity rows (profile_people) with `activity`."""
    ids = list(person_ids)
    for chunk in chunks(ids, 500):
        for table in (profile_topics, profile_people):
            conn.execute(delete(table).where(table.c.person_id.in_(chunk)))
    for chunk in chunks(rows, 5000):
        insert_rows(conn, profile_topics, chunk)
    for chunk in chunks(activity, 5000):
        insert_rows(conn, profile_people, chunk)


def replace_all_profiles(conn: Connection, rows: list[dict[str, Any]],
                         activity: list[dict[str, Any]], assign: Any) -> None:
    """Replace every profile row and activity row (the full rebuild), the levels assigned
    here with `assign(scores) -> levels` per (scope, topic) before one bulk insert, which
    leaves nothing for `refresh_levels` to do. On SQLite the secondary indexes are built
    after the insert (sorting once beats a B-tree insert per row; WAL readers see the old
    rows until the commit)."""
    scores: dict[tuple[str, str], dict[int, float]] = {}
    for row in rows:
        scores.setdefault((row["scope"], row["topic"]), {})[row["person_id"]] = row["score"]
    levels = {key: assign(found) for key, found in scores.items()}
    for row in rows:
        row["level"] = levels[(row["scope"], row["topic"])][row["person_id"]]
    sqlite = conn.dialect.name == "sqlite"
    for table, data in ((profile_topics, rows), (profile_people, activity)):
        conn.execute(delete(table))
        if sqlite:
            for index in table.indexes:
                index.drop(conn)
        for chunk in chunks(data, 5000):
            insert_rows(conn, table, chunk)
        if sqlite:
            for index in table.indexes:
                index.create(conn)


_ACTIVITY = select(profile_people).where(
    profile_people.c.scope == bindparam("scope"),
    profile_people.c.person_id.in_(bindparam("ids", expanding=True)))


def person_activity(conn: Connection, scope: str, person_ids: Sequence[int]
                    ) -> dict[int, Any]:
    """person -> their profile_people row in `scope` (absent: no responses)."""
    found: dict[int, Any] = {}
    for chunk in chunks(list(person_ids), 500):
        rows = conn.execute(_ACTIVITY, {"scope": scope, "ids": chunk}).all()
        found.update({row.person_id: row for row in rows})
    return found


def topic_scores(
    conn: Connection, keys: Iterable[tuple[str, str]] | None
) -> dict[tuple[str, str], dict[int, tuple[float, str]]]:
    """Return (scope, topic) -> person -> (score, level) for these keys (all when None)."""
    t = profile_topics.c
    query = select(t.scope, t.topic, t.person_id, t.score, t.level)
    found: dict[tuple[str, str], dict[int, tuple[float, str]]] = {}
    key_list = None if keys is None else sorted(set(keys))
    batches = [None] if key_list is None else [
        key_list[i:i + 200] for i in range(0, len(key_list), 200)
    ]
    for batch in batches:
        where = true() if batch is None else tuple_(t.scope, t.topic).in_(batch)
        for row in conn.execute(query.where(where)):
            found.setdefault((row.scope, row.topic), {})[row.person_id] = (row.score, row.level)
    return found


def refresh_levels(
    conn: Connection, keys: Iterable[tuple[str, str]] | None, assign: Any
) -> int:
    """Recompute levels for these (scope, topic) keys with `assign(scores) -> levels`;
    return how many rows changed level."""
    changes: list[dict[str, Any]] = []
    for (scope, topic), people in topic_scores(conn, keys).items():
        levels = assign({person: score for person, (score, _) in people.items()})
        for person, (_, old) in people.items():
            if levels[person] != old:
                changes.append({"_p": person, "_s": scope, "_t": topic, "level": levels[person]})
    t = profile_topics.c
    statement = update(profile_topics).where(
        t.person_id == bindparam("_p"), t.scope == bindparam("_s"), t.topic == bindparam("_t")
    )
    for chunk in chunks(changes, 5000):
        conn.execute(statement, chunk)
    return len(changes)


def person_topics(conn: Connection, person_id: int, scope: str) -> list[Any]:
    """Return a person's profile rows in a scope, best first."""
    t = profile_topics.c
    return list(conn.execute(
        select(profile_topics).where(t.person_id == person_id, t.scope == scope)
        .order_by(t.score.desc())
    ))


def contribution_summaries(
    conn: Connection, ids: Sequence[int], audiences: Sequence[str]
) -> dict[int, Any]:
    """Return id -> (id, source_id, kind, title, url, created_at) for the visible ones."""
    c = contributions.alias("c")
    root = contributions.alias("root")
    # an answer or a comment has no title of its own: show its thread's
    title = func.coalesce(func.nullif(c.c.title, ""), root.c.title, "").label("title")
    query = select(c.c.id, c.c.source_id, c.c.kind, title, c.c.url, c.c.created_at,
                   c.c.audience).outerjoin(root, and_(
                       root.c.source_id == c.c.source_id,
                       root.c.external_id == c.c.thread_external_id))
    found: dict[int, Any] = {}
    ids = list(ids)
    for chunk in chunks(ids, 500):
        rows = conn.execute(query.where(c.c.id.in_(chunk),
                                        c.c.audience.in_(list(audiences))))
        found.update({row.id: row for row in rows})
    return found
