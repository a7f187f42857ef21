"""The search generation: one number in the store that every change a search reads bumps,
in the change's own transaction (triggers of migration 0008 on the tables a search reads
and on the search outbox; an index bumps it itself for its own writes).

Each process keeps its search results for one generation (`service.search.result_cache`):
a search reads the number first, so a change committed through any process, replica or
worker is seen by every other on its next search, with no message between them.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

__all__ = ["bump", "current"]

_READ = "SELECT value FROM search_generation WHERE id = 1"
_BUMP = "UPDATE search_generation SET value = value + 1 WHERE id = 1"


def current(conn: Connection) -> int:
    """The generation as committed (read it before searching: a change committed later
    makes what the search found stale)."""
    return int(conn.exec_driver_sql(_READ).scalar() or 0)


def bump(conn: Connection) -> None:
    """Mark a change the triggers do not see (the embedded index's own table)."""
    conn.exec_driver_sql(_BUMP)
