"""The search outbox: which contributions the search cluster must refresh.

A change to a contribution writes an outbox row in the same transaction as the change, so
the store never holds a change the cluster will not hear of. A drain reads the rows,
pushes each contribution's current state (or its deletion) to the cluster, then deletes
the rows it pushed: a cluster outage only leaves rows waiting.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from service.store.db import chunks, from_db_time, insert_rows
from service.store.schema import contributions, search_outbox

__all__ = ["Lag", "contribution_rows", "enqueue", "iter_contribution_rows", "lag", "pending",
           "remove"]

_CHUNK = 500
#: The contribution columns a search document is made of.
_DOCUMENT_COLUMNS = (contributions.c.id, contributions.c.source_id, contributions.c.audience,
                     contributions.c.kind, contributions.c.title, contributions.c.body,
                     contributions.c.tags, contributions.c.created_at)


@dataclass(frozen=True, slots=True)
class Lag:
    #: rows waiting to be pushed
    pending: int
    #: when the oldest of them was written (None: nothing waits)
    oldest: datetime | None

    def seconds(self, now: datetime) -> float:
        """How long the oldest row has waited (0 when nothing waits)."""
        return max(0.0, (now - self.oldest).total_seconds()) if self.oldest else 0.0


def enqueue(conn: Connection, contribution_ids: Sequence[int]) -> None:
    """Note these contributions as due a refresh, in `conn`'s transaction."""
    now = datetime.now(UTC)
    insert_rows(conn, search_outbox, [{"contribution_id": cid, "created_at": now}
                                      for cid in dict.fromkeys(contribution_ids)])


def pending(conn: Connection, limit: int) -> list[tuple[int, int]]:
    """The oldest waiting rows as (row id, contribution id)."""
    o = search_outbox.c
    return [(row.id, row.contribution_id) for row in conn.execute(
        select(o.id, o.contribution_id).order_by(o.id).limit(limit))]


def remove(conn: Connection, row_ids: Sequence[int]) -> None:
    """Delete these rows (they have been pushed)."""
    ids = list(row_ids)
    for chunk in chunks(ids, _CHUNK):
        conn.execute(delete(search_outbox).where(search_outbox.c.id.in_(chunk)))


def lag(conn: Connection) -> Lag:
    """How many rows wait, and since when."""
    row = conn.execute(select(func.count(), func.min(search_outbox.c.created_at))).one()
    return Lag(int(row[0] or 0), from_db_time(row[1]))


def contribution_rows(conn: Connection, ids: Sequence[int]) -> dict[int, Any]:
    """The live (not deleted) contributions among these ids, by id, with the columns a
    search document needs; an id missing from the answer is to be deleted from the index."""
    found: dict[int, Any] = {}
    ids = list(ids)
    for chunk in chunks(ids, _CHUNK):
        rows = conn.execute(select(*_DOCUMENT_COLUMNS).where(
            contributions.c.id.in_(chunk),
            contributions.c.deleted.is_(False)))
        found.update({row.id: row for row in rows})
    return found


def iter_contribution_rows(conn: Connection, batch: int = 5000) -> Iterator[Any]:
    """Every live contribution with the columns a search document needs, streamed from one
    statement (one consistent snapshot of the store)."""
    yield from conn.execute(
        select(*_DOCUMENT_COLUMNS).where(contributions.c.deleted.is_(False))
        .order_by(contributions.c.id).execution_options(stream_results=True, yield_per=batch))
