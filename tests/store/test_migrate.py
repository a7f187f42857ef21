"""Schema creation under concurrent first use: three `whoknows sync` processes started at
once on a new SQLite store (one per connector, each against its local server) all
succeed, and the store ends at the newest schema with every source's items. On
PostgreSQL (which `whoknows sync` pairs with a search cluster) three processes open a new
schema at once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.store import migrate
from service.store.db import open_engine
from service.store.schema import contributions
from tests.conftest import PG_URL, create_schema, drop_schema
from tests.connectors.discourse_server import DiscourseServer
from tests.connectors.stackexchange_server import StackExchangeServer
from tests.connectors.wordpress_server import WordPressServer

WHOKNOWS = Path(sys.executable).with_name("whoknows")


@pytest.fixture
def servers() -> Iterator[tuple[DiscourseServer, WordPressServer, StackExchangeServer]]:
    with (
        DiscourseServer() as forum,
        WordPressServer() as blog,
        StackExchangeServer.from_fixtures("beer_site") as beer,
    ):
        yield forum, blog, beer


def test_three_processes_opening_a_new_postgresql_store_at_once_all_succeed() -> None:
    schema = create_schema()
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    opening = f"from service.store.db import open_engine; open_engine({url!r})"
    try:
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", opening],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [run.communicate(timeout=120)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], "\n".join(outputs)
        engine = open_engine(url, run_migrations=False)
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
        engine.dispose()
    finally:
        drop_schema(schema)


def test_three_first_syncs_at_once_on_a_new_sqlite_store_all_succeed(
    tmp_path: Path, servers: tuple[DiscourseServer, WordPressServer, StackExchangeServer]
) -> None:
    forum, blog, beer = servers
    new_store = f"sqlite:///{tmp_path / 'new' / 'whoknows.db'}"
    config = tmp_path / "whoknows.toml"
    config.write_text(f"""
[database]
url = "{new_store}"

[[sources]]
id = "forum"
kind = "discourse"
url = "{forum.base}"
audience = "external"

[[sources]]
id = "blog"
kind = "wordpress"
url = "{blog.url}"
audience = "internal"

[[sources]]
id = "beer"
kind = "stackexchange"
url = "{beer.url()}"
audience = "external"
options = {{ site = "beer" }}
""")
    runs = [
        subprocess.Popen(
            [str(WHOKNOWS), "--config", str(config), "sync", source],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "WHOKNOWS_LOG_LEVEL": "WARNING"},
        )
        for source in ("forum", "blog", "beer")
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0, 0], "\n".join(outputs)
    engine = open_engine(new_store, run_migrations=False)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
        with engine.connect() as conn:
            counted = dict(
                conn.execute(
                    select(contributions.c.source_id, func.count()).group_by(
                        contributions.c.source_id
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert set(counted) == {"forum", "blog", "beer"} and all(counted.values())
