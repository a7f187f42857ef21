"""What the search generation's triggers cost a write (migration 0008): batches of
contributions stored with `store_batch` (the sync's write path) on a fresh PostgreSQL
schema and a fresh SQLite file, with the triggers on and with them off.

    python bench/generation_trigger.py [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--batches 6] [--size 5000]

Each batch is new contributions (inserts), then the same batch again with new text
(updates). Prints one JSON line per store and setting: median milliseconds per batch of
inserts and of updates. Figures go in BENCHMARKS.md, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from service.model import AuthorRecord, ContributionRecord
from service.store import contributions as store_contributions
from service.store.db import open_engine

TABLES = ("contributions", "identity_links", "people", "sources", "profile_topics",
          "profile_people", "search_outbox")


def _records(batch: int, size: int, version: int) -> list[ContributionRecord]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [ContributionRecord(
        id=f"c{batch}-{n}", kind="answer",
        author=AuthorRecord(id=f"u{n % 500}", username=f"u{n % 500}"),
        created=start + timedelta(minutes=n),
        updated=start + timedelta(minutes=n, seconds=version),
        text=f"medical insurance claims answer {n} version {version}", tags=["claims"])
        for n in range(size)]


def _switch(engine: Engine, on: bool) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in TABLES:
                state = "ENABLE" if on else "DISABLE"
                conn.execute(text(
                    f"ALTER TABLE {table} {state} TRIGGER search_generation_{table}"))
        elif not on:
            for table in TABLES:
                for event in ("insert", "update", "delete"):
                    conn.execute(text(
                        f"DROP TRIGGER IF EXISTS search_generation_{table}_{event}"))


def _measure(engine: Engine, batches: int, size: int, tag: str) -> dict[str, float]:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sources (id, kind, audience, name, url) VALUES "
                          f"('{tag}', 'push', 'external', '{tag}', NULL)"))
    source = store_contributions.SourceInfo(tag, "external", True)
    inserts, updates = [], []
    for batch in range(batches):
        for version, times in ((0, inserts), (1, updates)):
            records = _records(batch, size, version)
            started = time.perf_counter()
            with engine.begin() as conn:
                store_contributions.store_batch(conn, source, records)
            times.append(time.perf_counter() - started)
    return {"insert_ms": round(statistics.median(inserts) * 1000, 1),
            "update_ms": round(statistics.median(updates) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--size", type=int, default=5000)
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = open_engine(args.pg, run_migrations=False)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    folder = Path(tempfile.mkdtemp(prefix="wk-bench-gen-"))
    try:
        stores = {"postgresql": open_engine(f"{args.pg}?options=-csearch_path%3D{schema}"),
                  "sqlite": open_engine(f"sqlite:///{folder / 'bench.db'}")}
        for name, engine in stores.items():
            # a first, unreported round fills the tables and lets ANALYZE see them (the
            # first batches on empty tables get other plans); then PostgreSQL alternates
            # off and on; SQLite's triggers are dropped for "off", so it comes last there
            _measure(engine, 2, args.size, f"w{uuid.uuid4().hex[:6]}")
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            for on in ((False, True, False, True) if name == "postgresql" else (True, False)):
                _switch(engine, on)
                figures = _measure(engine, args.batches, args.size, f"s{uuid.uuid4().hex[:6]}")
                print(json.dumps({"store": name, "triggers": on, "batch": args.size,
                                  **figures}))
            engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
