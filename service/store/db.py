"""Opening the store: engine, SQLite pragmas, migrations, dialect-specific upserts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from service.store import migrate

__all__ = ["chunks", "from_db_time", "insert_ignore", "insert_rows", "missing_sqlite_file",
           "open_engine", "sqlite_time", "to_utc", "upsert"]


def _sqlite_path(url: str) -> str:
    return url.split("///", 1)[1] if url.startswith("sqlite") and "///" in url else ""


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite store `url` names when it does not exist yet, else None
    (other databases, in-memory stores and existing files)."""
    path = _sqlite_path(url)
    if not path or path == ":memory:" or Path(path).exists():
        return None
    return Path(path)


def open_engine(url: str, *, run_migrations: bool = True) -> Engine:
    """Return an engine for `url`, with the schema migrated to the newest version.

    SQLite files get their folder created and run in WAL mode.
    """
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
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


def insert_rows(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, ignore: bool = False
) -> None:
    """Insert many rows with the same keys; `ignore` skips rows hitting a unique key.

    On SQLite the rows go straight to the driver's executemany, converted the way
    SQLAlchemy stores them: SQLAlchemy's per-row processing was most of the import time.
    """
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert_ignore(conn.dialect.name, table) if ignore else table.insert(),
                     list(rows))
        return
    names = list(rows[0])
    getter = itemgetter(*names)
    converted = [(i, convert) for i, name in enumerate(names)
                 if (convert := _sqlite_converter(table.c[name].type)) is not None]
    sql = (f"INSERT {'OR IGNORE ' if ignore else ''}INTO {table.name} ({', '.join(names)}) "
           f"VALUES ({', '.join('?' * len(names))})")
    params = []
    for row in rows:
        values = list(getter(row)) if len(names) > 1 else [getter(row)]
        for index, convert in converted:
            values[index] = convert(values[index])
        params.append(tuple(values))
    conn.exec_driver_sql(sql, params)


def _sqlite_converter(column_type: Any) -> Callable[[Any], Any] | None:
    if isinstance(column_type, DateTime):
        return sqlite_time
    if isinstance(column_type, JSON):
        return lambda value: None if value is None else json.dumps(value)
    if isinstance(column_type, Boolean):
        return lambda value: None if value is None else int(value)
    return None


def sqlite_time(value: datetime | None) -> str | None:
    """`value` as SQLAlchemy's SQLite DateTime writes it (for rows sent to the driver)."""
    # the format SQLAlchemy's SQLite DateTime writes and reads back: naive UTC
    if value is None:
        return None
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """Yield `items` in slices of `size`: what one IN list or one executemany takes."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
