"""Sources and their sync state: cursors committed after each stored page, errors kept."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from service.store.db import from_db_time, insert_ignore, upsert
from service.store.schema import contributions, sources, sync_errors, sync_state

__all__ = [
    "SourceStatus",
    "commit_cursor",
    "get_cursor",
    "list_sources",
    "live_counts",
    "record_error",
    "finish_run",
    "register_source",
    "reset_cursor",
]


@dataclass(slots=True)
class SourceStatus:
    id: str
    kind: str
    audience: str
    name: str | None
    url: str | None
    contributions: int
    cursor: str | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    #: skipped items recorded in all runs, and when the newest was
    errors: int
    last_error_item_at: datetime | None = None


def register_source(conn: Connection, values: dict[str, Any]) -> None:
    """Create or refresh a source row (id, kind, audience, name, url, half_life_days)."""
    row = {key: values.get(key) for key in ("id", "kind", "audience", "name", "url",
                                             "half_life_days")}
    conn.execute(
        upsert(conn.dialect.name, sources, ["id"],
               ["kind", "audience", "name", "url", "half_life_days"]),
        [row],
    )


def get_cursor(conn: Connection, source_id: str) -> str | None:
    return conn.execute(
        select(sync_state.c.cursor).where(sync_state.c.source_id == source_id)
    ).scalar()


def _ensure_state(conn: Connection, source_id: str) -> None:
    conn.execute(insert_ignore(conn.dialect.name, sync_state), [{"source_id": source_id,
                                                                  "items_total": 0}])


def commit_cursor(conn: Connection, source_id: str, cursor: str | None, items: int) -> None:
    """Remember the cursor after a stored page (in the page's own transaction). A page
    with no cursor (an import, a pushed batch) leaves the pull cursor where it was."""
    _ensure_state(conn, source_id)
    values: dict[str, Any] = {"items_total": sync_state.c.items_total + items,
                              "last_run_at": datetime.now(UTC)}
    if cursor is not None:
        values["cursor"] = cursor
    conn.execute(update(sync_state).where(sync_state.c.source_id == source_id).values(**values))


def reset_cursor(conn: Connection, source_id: str) -> None:
    _ensure_state(conn, source_id)
    conn.execute(update(sync_state).where(sync_state.c.source_id == source_id)
                 .values(cursor=None))


def finish_run(conn: Connection, source_id: str, error: str | None) -> None:
    """Close a run: success clears the last error, failure records it."""
    _ensure_state(conn, source_id)
    now = datetime.now(UTC)
    values: dict[str, Any] = {"last_run_at": now, "last_error": error}
    if error is None:
        values["last_success_at"] = now
    conn.execute(update(sync_state).where(sync_state.c.source_id == source_id).values(**values))


def record_error(conn: Connection, source_id: str, message: str, cursor: str | None) -> None:
    conn.execute(sync_errors.insert(), [{"source_id": source_id, "at": datetime.now(UTC),
                                         "cursor": cursor, "message": message[:4000]}])


def live_counts(conn: Connection) -> dict[str, int]:
    """Live (not deleted) contributions per source id: one scan of every contribution
    (about 0.5 s at a million on SQLite)."""
    return dict(conn.execute(
        select(contributions.c.source_id, func.count())
        .where(contributions.c.deleted.is_(False))
        .group_by(contributions.c.source_id)
    ).all())


def list_sources(conn: Connection, counts: Mapping[str, int] | None = None
                 ) -> list[SourceStatus]:
    """Every known source with its sync state and counts. `counts`: `live_counts` read
    earlier (e.g. kept by /metrics), to spare the scan."""
    counts = live_counts(conn) if counts is None else counts
    errors = {row.source_id: (row.n, from_db_time(row.newest)) for row in conn.execute(
        select(sync_errors.c.source_id, func.count().label("n"),
               func.max(sync_errors.c.at).label("newest")).group_by(sync_errors.c.source_id))}
    rows = conn.execute(
        select(sources, sync_state.c.cursor, sync_state.c.last_run_at,
               sync_state.c.last_success_at, sync_state.c.last_error)
        .outerjoin(sync_state, sync_state.c.source_id == sources.c.id)
        .order_by(sources.c.id)
    )
    return [
        SourceStatus(
            id=row.id, kind=row.kind, audience=row.audience, name=row.name, url=row.url,
            contributions=counts.get(row.id, 0), cursor=row.cursor,
            last_run_at=from_db_time(row.last_run_at),
            last_success_at=from_db_time(row.last_success_at),
            last_error=row.last_error, errors=errors.get(row.id, (0, None))[0],
            last_error_item_at=errors.get(row.id, (0, None))[1],
        )
        for row in rows
    ]
