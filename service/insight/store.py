"""Reading what the insight needs from the store, and writing the insight tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Text, delete, func, select, type_coerce
from sqlalchemy.engine import Connection

from service.store.db import chunks, from_db_time, insert_rows
from service.store.schema import (
    contributions,
    identity_links,
    insight_bursts,
    insight_edges,
    insight_maps,
    insight_nodes,
    insight_person_topics,
    insight_state,
    insight_topic_weeks,
    interactions,
)

__all__ = ["ContributionRow", "InteractionRow", "iter_contributions", "iter_interactions",
           "last_state", "record_state", "replace_all"]

_TABLES = {"weeks": insight_topic_weeks, "bursts": insight_bursts, "edges": insight_edges,
           "nodes": insight_nodes, "person_topics": insight_person_topics,
           "maps": insight_maps}


class ContributionRow(NamedTuple):
    id: int
    person_id: int
    source_id: str
    thread: str | None
    audience: str
    created: datetime


def iter_contributions(conn: Connection) -> Iterator[ContributionRow]:
    """Yield every live contribution's author (person), thread, audience and time: no
    text, the topics come from the reputation engine."""
    c, link = contributions.c, identity_links.c
    query = (select(c.id, link.person_id, c.source_id, c.thread_external_id, c.audience,
                    type_coerce(c.created_at, Text))
             .select_from(contributions)
             .join(identity_links, link.identity_id == c.author_identity_id)
             .where(c.deleted.is_(False)))
    for row in conn.execute(query.execution_options(yield_per=5000)):
        yield ContributionRow(row[0], row[1], row[2], row[3], row[4],
                              from_db_time(row[5]))  # type: ignore[arg-type]


class InteractionRow(NamedTuple):
    kind: str
    actor: int
    target: int
    target_person: int
    audience: str
    at: datetime


def iter_interactions(conn: Connection) -> Iterator[InteractionRow]:
    """Yield every interaction on a live contribution, between people (actor person, the
    target contribution and its author's person), with the audience it happened in."""
    actor = identity_links.alias("actor")
    author = identity_links.alias("author")
    i, c = interactions.c, contributions.c
    query = (select(i.kind, actor.c.person_id.label("actor"), c.id, author.c.person_id,
                    c.audience, type_coerce(i.created_at, Text).label("at"))
             .select_from(interactions)
             .join(contributions, c.id == i.target_contribution_id)
             .join(actor, actor.c.identity_id == i.actor_identity_id)
             .join(author, author.c.identity_id == c.author_identity_id)
             .where(c.deleted.is_(False)))
    for row in conn.execute(query.execution_options(yield_per=5000)):
        yield InteractionRow(row[0], row[1], row[2], row[3], row[4],
                             from_db_time(row[5]))  # type: ignore[arg-type]


def replace_all(conn: Connection, tables: dict[str, list[dict[str, Any]]]) -> None:
    """Replace the contents of the insight tables (keys of `_TABLES`) in the open
    transaction."""
    for name, table in _TABLES.items():
        conn.execute(delete(table))
        for chunk in chunks(tables.get(name, []), 20000):
            insert_rows(conn, table, chunk)


def record_state(conn: Connection, as_of: datetime, seconds: float) -> None:
    conn.execute(delete(insight_state))
    conn.execute(insight_state.insert().values(
        id=1, computed_at=datetime.now(UTC), as_of=as_of, seconds=seconds))


def last_state(conn: Connection) -> tuple[datetime, datetime, float] | None:
    """When the insight was last computed, as of which time, and how long it took."""
    row = conn.execute(select(insight_state.c.computed_at, insight_state.c.as_of,
                              insight_state.c.seconds)).first()
    if row is None:
        return None
    return (from_db_time(row.computed_at), from_db_time(row.as_of),  # type: ignore[return-value]
            row.seconds)


def count_rows(conn: Connection) -> dict[str, int]:
    """How many rows each insight table holds (for reports)."""
    return {name: int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
            for name, table in _TABLES.items()}
