"""The store's side of a cluster search that only the cluster engine needs: the names of
the people on a page of hits (the rest is `service.search.candidates`, shared by every
engine)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.engine import Connection

from service.store.schema import people

__all__ = ["display_names"]


def display_names(conn: Connection, person_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """person -> (display name, department)."""
    rows = conn.execute(select(people.c.id, people.c.display_name, people.c.department)
                        .where(people.c.id.in_(list(person_ids))))
    return {row.id: (row.display_name, row.department) for row in rows}
