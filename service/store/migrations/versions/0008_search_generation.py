"""the search generation in the store, on both dialects: one number every change a search
reads bumps, in the change's own transaction (the result caches of every process compare
it; service.store.generation)

SQLite (one writer at a time): a row trigger per table and write, as the embedded index
created them itself before (kept when present). PostgreSQL (concurrent writers): a
deferred constraint trigger, so the one row is updated at commit, once per transaction,
as its last lock (writers never wait on it for long, and never deadlock over it).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: The tables a search reads besides the index itself, and the outbox a cluster drain
#: empties once the cluster holds the change (as they are at this revision).
TABLES = ("contributions", "identity_links", "people", "sources", "profile_topics",
          "profile_people", "search_outbox")
_BUMP = "UPDATE search_generation SET value = value + 1 WHERE id = 1"

_PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION whoknows_search_changed() RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- true for the first change of a transaction: one deferred bump per transaction
    IF current_setting('whoknows.search_changed', true) = txid_current()::text THEN
        RETURN false;
    END IF;
    PERFORM set_config('whoknows.search_changed', txid_current()::text, true);
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION whoknows_bump_search_generation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {_BUMP};
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TABLE IF NOT EXISTS search_generation ("
                   "id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL)")
        op.execute("INSERT OR IGNORE INTO search_generation VALUES (1, 0)")
        for table in TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER IF NOT EXISTS search_generation_{table}_"
                           f"{event.lower()} AFTER {event} ON {table} BEGIN {_BUMP}; END")
        return
    op.execute("CREATE TABLE search_generation ("
               "id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL)")
    op.execute("INSERT INTO search_generation VALUES (1, 0)")
    op.execute(_PG_FUNCTIONS)
    for table in TABLES:
        op.execute(f"CREATE CONSTRAINT TRIGGER search_generation_{table} "
                   f"AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                   "WHEN (whoknows_search_changed()) "
                   "EXECUTE FUNCTION whoknows_bump_search_generation()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS search_generation_{table}_{event}")
        op.execute("DROP TABLE IF EXISTS search_generation")
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS search_generation_{table} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS whoknows_bump_search_generation()")
    op.execute("DROP FUNCTION IF EXISTS whoknows_search_changed()")
    op.execute("DROP TABLE IF EXISTS search_generation")
