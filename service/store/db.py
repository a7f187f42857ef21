"""Opening the store: engine, SQLite pragmas, migrations, dialect-specific upserts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from service.store import migrate

__all__ = ["open_engine", "insert_ignore", "upsert", "to_utc", "from_db_time"]


def open_engine(url: str, *, run_migrations: bool = True) -> Engine:
    """Return an engine for `url`, with the schema migrated to the newest version.

    SQLite files get their folder created and run in WAL mode.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if run_migrations:
        migrate.upgrade(engine)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-200000")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _insert_for(engine_or_dialect: str, table: Table) -> Any:
    module = postgresql if engine_or_dialect == "postgresql" else sqlite
    return module.insert(table)


def insert_ignore(dialect: str, table: Table) -> Any:
    """An INSERT that skips rows conflicting with a unique key (SQLite and PostgreSQL)."""
    return _insert_for(dialect, table).on_conflict_do_nothing()


def upsert(dialect: str, table: Table, keys: list[str], update: list[str]) -> Any:
    """An INSERT that updates `update` columns when a row with the same `keys` exists."""
    statement = _insert_for(dialect, table)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in update}
    )


def to_utc(value: datetime) -> datetime:
    """Return `value` in UTC; a naive time is taken as UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def from_db_time(value: datetime | str | None) -> datetime | None:
    """Return a time read from either dialect as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return to_utc(value)
