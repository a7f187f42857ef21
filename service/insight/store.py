"""Reading what the insight needs from the store, and writing the insight tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Table, Text, delete, func, select, type_coerce
from sqlalchemy.engine import Connection

from service.store.db import from_db_time
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

__all__ = ["Rows", "count_rows", "last_state", "read_contributions", "read_interactions",
           "record_state", "replace_all"]

_TABLES = {"weeks": insight_topic_weeks, "bursts": insight_bursts, "edges": insight_edges,
           "nodes": insight_nodes, "person_topics": insight_person_topics,
           "maps": insight_maps}
#: rows converted and sent to the database at a time (bounds the memory of the tuples)
_CHUNK = 200_000


def _columns(conn: Connection, query: Any, width: int) -> list[Sequence[Any]]:
    # through the driver's cursor: SQLAlchemy's Row objects doubled the time of reading a
    # million rows (the queries have no parameters)
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def read_contributions(conn: Connection) -> list[Sequence[Any]]:
    """Every live contribution's id, author (person), source, thread, audience and
    creation time (text on SQLite), as columns: no text, the topics come from the
    reputation engine."""
    c, link = contributions.c, identity_links.c
    query = (select(c.id, link.person_id, c.source_id, c.thread_external_id, c.audience,
                    type_coerce(c.created_at, Text))
             .select_from(contributions)
             .join(identity_links, link.identity_id == c.author_identity_id)
             .where(c.deleted.is_(False)))
    return _columns(conn, query, 6)


def read_interactions(conn: Connection) -> list[Sequence[Any]]:
    """Every interaction on a live contribution, between people, as columns: kind, actor
    person, the target contribution, its author's person, its audience, and when."""
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
    return _columns(conn, query, 6)


@dataclass
class Rows:
    """A table's rows as columns: lists or numpy arrays, dates and times as numpy
    datetime64 (NaT for null), in UTC."""

    columns: dict[str, Any]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def tuples(self, dialect: str, start: int = 0, stop: int | None = None
               ) -> list[tuple[Any, ...]]:
        """Rows `start` to `stop` as tuples of values the driver takes: dates and times as
        ISO text (the text SQLAlchemy stores on SQLite; with the UTC offset for
        PostgreSQL)."""
        return list(zip(*(_plain(column[start:stop], dialect)
                          for column in self.columns.values()), strict=True))


def _plain(column: Any, dialect: str) -> list[Any]:
    if not isinstance(column, np.ndarray):
        return list(column)
    if column.dtype.kind != "M":
        return column.tolist()  # type: ignore[no-any-return]
    date = np.datetime_data(column.dtype)[0] == "D"
    text = np.datetime_as_string(column, unit="D" if date else "us").tolist()
    suffix = "" if date or dialect == "sqlite" else "+00:00"
    return [None if value == "NaT" else value.replace("T", " ") + suffix for value in text]


def replace_all(conn: Connection, tables: dict[str, Rows]) -> None:
    """Replace the contents of the insight tables (keys of `_TABLES`) in the open
    transaction.

    SQLite: the secondary indexes are dropped and built again after the insert (sorting
    once is faster than millions of B-tree inserts; WAL readers still see the old tables
    until the commit). PostgreSQL: COPY, indexes kept (dropping one would lock readers
    out until the commit).
    """
    for name, table in _TABLES.items():
        rows = tables.get(name, Rows({}))
        conn.execute(delete(table))  # first: on SQLite, DML opens the transaction
        if conn.dialect.name == "sqlite":
            for index in table.indexes:
                index.drop(conn)
            _insert(conn, table, rows)
            for index in table.indexes:
                index.create(conn)
        else:
            _copy(conn, table, rows)


def _names(conn: Connection, rows: Rows) -> str:
    return ", ".join(conn.dialect.identifier_preparer.quote(name) for name in rows.columns)


def _insert(conn: Connection, table: Table, rows: Rows) -> None:
    if not len(rows):
        return
    sql = (f"INSERT INTO {table.name} ({_names(conn, rows)}) "
           f"VALUES ({', '.join('?' * len(rows.columns))})")
    cursor = conn.connection.cursor()
    for start in range(0, len(rows), _CHUNK):
        cursor.executemany(sql, rows.tuples("sqlite", start, start + _CHUNK))
    cursor.close()


def _copy(conn: Connection, table: Table, rows: Rows) -> None:
    if not len(rows):  # nothing to copy (and no columns to name: `COPY t ()` is an error)
        return
    sql = f"COPY {table.name} ({_names(conn, rows)}) FROM STDIN"
    with conn.connection.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[attr-defined]
        for start in range(0, len(rows), _CHUNK):
            for row in rows.tuples("postgresql", start, start + _CHUNK):
                copy.write_row(row)


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
