"""Schema migrations with Alembic: the store's schema version lives in `alembic_version`.

Migrating is safe when several processes open a new store at once (a CronJob's syncs, a
server starting beside them): each takes a lock first and the ones that come second find
the schema at the newest version. SQLite's DDL outside a transaction cannot be made to wait
by SQLite itself (two `CREATE TABLE` race), so the lock there is `flock` on a file beside
the database (`<file>.migrate-lock`); PostgreSQL takes a transaction-level advisory lock.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

__all__ = ["upgrade", "current_revision", "head_revision"]

_MIGRATIONS = Path(__file__).parent / "migrations"
#: The advisory lock key migrations take on PostgreSQL (any constant of our own).
_PG_LOCK = 0x77686F6B  # "whok"


def _alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    # configparser interpolates "%": escape it (URL-encoded passwords and options have it).
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (the newest by default), one process at a time."""
    config = _alembic_config(engine)
    with _sqlite_file_lock(engine), engine.begin() as connection:
        _advisory_lock(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def _advisory_lock(connection: Connection) -> None:
    # Held until the migration's transaction ends; a second process waits, then sees
    # the schema at the newest version.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})


def current_revision(engine: Engine) -> str | None:
    """Return the schema version the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    """Return the newest schema version this code knows."""
    return ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
