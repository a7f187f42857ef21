"""What the job tests share: a partner portal that can hold a page request (the crash
test's `TrippedPortal`) and counts requests in flight, a configuration for a store on
SQLite or PostgreSQL with a queue of its own on the real Redis, `whoknows worker` as a
real process, and an API app on the same store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import pipeline
from service.api import create_app
from service.api.scopes import ADMIN
from service.config import load_config
from service.store import clients as store_clients
from service.store import jobs as store_jobs
from tests.api.conftest import ContractClient
from tests.conftest import PG_URL, create_schema, drop_schema
from tests.connectors.crashsite import (
    PORTAL_OPTIONS,
    REPO,
    TrippedPortal,
    Tripwire,
    portal_items,
    portal_style,
    whoknows_command,
)
from tests.search.osmem import start_osmem

REDIS_URL = os.environ.get("WHOKNOWS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PER_PAGE = 25
ITEMS = 200  # 8 pages


class CountingPortal(TrippedPortal):
    """A portal whose page requests also count how many are in flight at once (two syncs
    of one source would overlap), each taking `page_seconds`."""

    def __init__(self, items: int = ITEMS) -> None:
        super().__init__(portal_style(), portal_items(items), Tripwire())
        self.page_seconds = 0.0
        self._lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def answer(self, query: dict[str, str]) -> Any:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.page_seconds)
            return super().answer(query)
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.fixture
def portal() -> Iterator[CountingPortal]:
    with CountingPortal() as server:
        yield server


def portal_source(server: CountingPortal, source_id: str = "partner-hub") -> str:
    options = PORTAL_OPTIONS.format(per_page=PER_PAGE,
                                    since='updated_since_param = "modified_since"')
    return (f'[[sources]]\nid = "{source_id}"\nkind = "jsonfeed"\naudience = "partner"\n'
            f'url = "{server.url}"\n{options}')


@pytest.fixture(scope="session")
def osmem_url() -> Iterator[str]:
    server = start_osmem()
    yield server.url  # type: ignore[attr-defined]
    server.close()  # type: ignore[attr-defined]


@pytest.fixture
def redis_queue() -> Iterator[str]:
    """A queue name of this test's own on the real Redis; its keys removed afterwards."""
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is needed by the job tests: {exc}")
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    for key in connection.scan_iter(match=f"*{name}*"):
        connection.delete(key)
    connection.close()


@dataclass
class Setup:
    """One store (and its configuration file) the test, its workers and its API share."""

    config: Path
    db: Path | None
    services: pipeline.Services

    def app(self) -> Flask:
        app = create_app({"SERVICES": self.services, "TESTING": True})
        app.test_client_class = ContractClient
        return app

    def admin(self, client: FlaskClient, audience: str = "internal") -> dict[str, str]:
        with self.services.engine.begin() as conn:
            client_id, secret = store_clients.create_client(conn, "ops", [ADMIN], audience)
        answer = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client_id, secret))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}

    def job(self, job_id: str) -> store_jobs.Job:
        with self.services.engine.connect() as conn:
            found = store_jobs.get_job(conn, job_id)
        assert found is not None
        return found

    def wait_for(self, job_id: str, states: tuple[str, ...] = ("succeeded", "failed"),
                 timeout: float = 60.0, alive: Callable[[], bool] = lambda: True
                 ) -> store_jobs.Job:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.state in states:
                return job
            assert alive(), "the worker ended"
            assert time.monotonic() < deadline, f"job still {job.state}: {job}"
            time.sleep(0.05)


@pytest.fixture
def make_setup(tmp_path: Path, request: pytest.FixtureRequest
               ) -> Iterator[Callable[..., Setup]]:
    """`make_setup(sources, store="sqlite"|"postgresql", queue=None, **jobs)`: a store
    (PostgreSQL: a fresh schema, its index on osmem) with the `[jobs]` settings given."""
    opened: list[pipeline.Services] = []
    schemas: list[str] = []

    def make(sources: str, store: str = "sqlite", queue: str | None = None,
             name: str = "main", **jobs: object) -> Setup:
        folder = tmp_path / name
        folder.mkdir()
        db: Path | None = None
        if store == "postgresql":
            schemas.append(create_schema())
            cluster = request.getfixturevalue("osmem_url")
            head = (f'[database]\nurl = "{PG_URL}?options=-csearch_path%3D{schemas[-1]}"\n\n'
                    f'[search]\nengine = "elasticsearch"\nflavor = "opensearch"\n'
                    f'url = "{cluster}"\nindex_prefix = "{schemas[-1].replace("_", "-")}-"\n')
        else:
            db = folder / "whoknows.db"
            head = f'[database]\nurl = "sqlite:///{db}"\n'
        settings = dict(jobs)
        if queue:
            settings.update(redis_url=REDIS_URL, queue=queue)
        lines = "".join(f"{key} = {_toml(value)}\n" for key, value in settings.items())
        config = folder / "whoknows.toml"
        config.write_text(f"{head}\n[jobs]\n{lines}\n{sources}\n", encoding="utf-8")
        services = pipeline.open_services(load_config(config, environ={}))
        opened.append(services)
        return Setup(config, db, services)

    yield make
    for services in opened:
        services.engine.dispose()
    for schema in schemas:
        drop_schema(schema)


def _toml(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return str(value).lower() if isinstance(value, bool) else str(value)


class Workers:
    """`whoknows worker` processes on a configuration; stopped (SIGKILL) at the end."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, config: Path, *args: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if k != "WHOKNOWS_CONFIG"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        log = open(self.cwd / f"worker-{len(self.procs)}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen([*whoknows_command(), "--config", str(config), "worker",
                                 *args],
                                cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                text=True)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[str]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.cwd.glob("worker-*.log")))


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    found = Workers(tmp_path)
    yield found
    for proc in found.procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
