"""Shared fixtures: real SQLite files and a real PostgreSQL schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from service import pipeline
from service.config import load_config
from service.store.db import open_engine

# fixtures shared across folders: `forum` (a Discourse replay server)
pytest_plugins = ["tests.connectors.discourse_server"]

PG_URL = os.environ.get("WHOKNOWS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 1, tzinfo=UTC)

CONFIG = """
[database]
url = "sqlite:///{db}"

[[sources]]
id = "blog"
kind = "push"
audience = "internal"
half_life_days = 180

[[sources]]
id = "forum"
kind = "push"
audience = "external"

[[sources]]
id = "portal"
kind = "push"
audience = "partner"

# the tests make webhook passes themselves (routing.events.run_once); the API's embedded
# thread would make one every 5 s beside them (tests/api/test_routing.py sets it short)
[webhooks]
poll_seconds = 3600
allow_private_networks = true  # the receivers listen on 127.0.0.1
"""


def create_schema() -> str:
    """A fresh, empty PostgreSQL schema at PG_URL; its name."""
    schema = f"wk_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - say plainly what the suite needs
        pytest.fail(f"PostgreSQL at {PG_URL} is needed by the store tests: {exc}")
    finally:
        admin.dispose()
    return schema


def drop_schema(schema: str) -> None:
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A migrated store in a fresh PostgreSQL schema, dropped afterwards."""
    schema = create_schema()
    engine = open_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
    yield engine
    engine.dispose()
    drop_schema(schema)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same store test on both dialects."""
    return request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'sqlite'}_engine")


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "whoknows.toml"
    path.write_text(CONFIG.format(db=tmp_path / "whoknows.db"))
    return path


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Callable[[str], pipeline.Services]]:
    """Opens more whole pipelines like `services`, one per name, each on its own SQLite
    file (e.g. a clean sync's store to compare a faulty sync's with)."""
    opened: list[pipeline.Services] = []

    def open_one(name: str) -> pipeline.Services:
        folder = tmp_path / name
        folder.mkdir()
        config = folder / "whoknows.toml"
        config.write_text(CONFIG.format(db=folder / "whoknows.db"))
        opened.append(pipeline.open_services(load_config(config, environ={}), clock=lambda: NOW))
        return opened[-1]

    yield open_one
    for services in opened:
        services.engine.dispose()


@pytest.fixture
def services(config_file: Path) -> Iterator[pipeline.Services]:
    """The whole pipeline on the embedded default, with the clock fixed at NOW."""
    services = pipeline.open_services(load_config(config_file, environ={}), clock=lambda: NOW)
    yield services
    services.engine.dispose()
