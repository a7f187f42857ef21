"""An API app on the real pipeline, with a small community and clients per audience."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

from service import pipeline
from service.api import create_app
from service.connectors.base import Page
from service.store import clients as store_clients
from tests.records import author, record

MARKER = "QQX-INTERNAL-7731"
SPEC = OpenAPI.from_file_path(
    str(Path(__file__).parents[2] / "openapi.yaml"),
    config=Config(extra_media_type_deserializers={"application/problem+json": json.loads}),
)


class _SentRequest(WerkzeugOpenAPIRequest):
    """The request as sent; its body stream is spent once the app has answered, and
    response validation needs only the operation it matched."""

    @property
    def body(self) -> bytes | None:
        return b""


class ContractClient(FlaskClient):
    """A test client that holds every response it receives to openapi.yaml."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        if response.request.path.startswith(("/v1/", "/oauth/", "/.well-known/", "/healthz",
                                             "/readyz")):
            SPEC.validate_response(_SentRequest(response.request),
                                   WerkzeugOpenAPIResponse(response))
        return response


@dataclass
class Api:
    app: Flask
    client: FlaskClient
    services: pipeline.Services

    def token(self, scopes: list[str], audience: str = "internal") -> str:
        with self.services.engine.begin() as conn:
            client_id, secret = store_clients.create_client(conn, "test", scopes, audience)
        response = self.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                    auth=(client_id, secret))
        assert response.status_code == 200, response.get_data(as_text=True)
        return str(response.get_json()["access_token"])

    def get(self, path: str, token: str | None, **params: object):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.get(path, query_string=params, headers=headers)


def _load(services: pipeline.Services) -> None:
    def ingest(source: str, records: list) -> None:  # type: ignore[type-arg]
        pipeline.ingest_pages(services, source, [Page(records, cursor=None)], full_pass=False)

    ingest("blog", [
        record("b1", "dana", kind="blog_post", email="dana@corp.example",
               title=f"Claims adjudication internals {MARKER}",
               text=f"Our medical insurance claims engine {MARKER}", tags=["claims"],
               url=f"https://intranet.example/{MARKER}"),
    ])
    ingest("forum", [
        record("q1", "cust1", kind="question", email="c1@customer.example",
               title="How are medical insurance claims adjudicated?", tags=["claims"]),
        record("a1", "dana_f", email="dana@corp.example", thread="q1", accepted=True,
               liked_by=[author("cust1")], likes=1,
               text="Medical insurance claims go through adjudication rules"),
    ] + [record(f"a{i}", f"helper{i}", thread="q1", text=f"claims tip number {i}")
         for i in range(2, 8)])


@pytest.fixture
def api(services: pipeline.Services) -> Api:
    _load(services)
    app = create_app({"SERVICES": services, "TESTING": True})
    app.test_client_class = ContractClient
    return Api(app, app.test_client(), services)


@pytest.fixture
def token_for(api: Api) -> Callable[..., str]:
    return api.token


# --- public badges and embeds (tests/api/test_badges*.py, test_embed*.py) ---

HOSTILE_NAME = '<script>alert("x")</script> Eve\u202e & "Mallory"\x07 <img src=x onerror=alert(1)>'
#: what a badge or card shows of it: the same text, less the control and bidi characters
HOSTILE_SHOWN = '<script>alert("x")</script> Eve & "Mallory" <img src=x onerror=alert(1)>'


@dataclass
class PublicPeople:
    """Person ids: `dana` (internal and external work), `ivan` (internal only), `eve`
    (a hostile display name, external work), `olga` (external work, opted out)."""

    dana: int
    ivan: int
    eve: int
    olga: int


@pytest.fixture
def public_people(api: Api) -> PublicPeople:
    """The `api` community plus the people the public badge tests need."""
    from sqlalchemy import update

    from service.store import people as store_people
    from service.store.schema import people

    def ingest(source: str, records: list) -> None:  # type: ignore[type-arg]
        pipeline.ingest_pages(api.services, source, [Page(records, cursor=None)],
                              full_pass=False)

    ingest("blog", [record("b9", "ivan", kind="blog_post", email="ivan@corp.example",
                           title=f"Fraud models {MARKER}", text=f"fraud {MARKER}",
                           tags=["fraud"], url=f"https://intranet.example/ivan-{MARKER}")])
    ingest("forum", [
        record("q9", "cust9", kind="question", title="Is my data GDPR safe?", tags=["gdpr"]),
        record("a90", "eve", name=HOSTILE_NAME, thread="q9", accepted=True, tags=["gdpr"],
               text="GDPR answers"),
        record("a91", "olga", thread="q9", tags=["gdpr"], text="GDPR, again"),
    ])
    with api.services.engine.begin() as conn:
        def person(source: str, account: str) -> int:
            found = store_people.person_of(conn, store_people.find_identity(conn, source,
                                                                            account) or 0)
            assert found is not None
            return found

        ids = PublicPeople(dana=person("forum", "dana_f"), ivan=person("blog", "ivan"),
                           eve=person("forum", "eve"), olga=person("forum", "olga"))
        conn.execute(update(people).where(people.c.id == ids.olga).values(opt_out_external=True))
    return ids


@pytest.fixture
def make_api(api: Api, config_file: Path) -> Iterator[Callable[..., Api]]:
    """Another app on the `api` fixture's store, with [api] settings given as keywords
    (e.g. `badge_rate_limit_per_minute=3`), read the way the environment overrides them."""
    from service.config import load_config
    from tests.conftest import NOW

    opened: list[pipeline.Services] = []
    apps: list[Flask] = []

    def make(env: dict[str, str] | None = None, **settings: object) -> Api:
        """`env`: more variables (other sections' settings, e.g. WHOKNOWS_LIMITS_STORAGE)."""
        environ = {f"WHOKNOWS_API_{key.upper()}": str(value) for key, value in settings.items()}
        environ.update(env or {})
        services = pipeline.open_services(load_config(config_file, environ=environ),
                                          clock=lambda: NOW)
        opened.append(services)
        app = create_app({"SERVICES": services, "TESTING": True})
        app.test_client_class = ContractClient
        apps.append(app)
        return Api(app, app.test_client(), services)

    yield make
    for app in apps:  # the embedded job thread, when it started
        getattr(app.extensions["whoknows_jobs"], "close", lambda: None)()
    for services in opened:
        services.engine.dispose()


# --- other processes: another API replica, Redis (tests/api/test_limits.py, test_oauth.py) ---

REDIS_URL = "redis://127.0.0.1:6379/0"  # the machine's Redis (scripts/test-prereqs starts it)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(ready: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} after {timeout} s")
        time.sleep(0.1)


@dataclass
class Replica:
    """Another API process (`whoknows serve`) on the same store and signing key."""

    base: str
    process: subprocess.Popen[bytes]

    def get(self, path: str, token: str | None, **params: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(self.base + path, params=params,  # type: ignore[arg-type]
                            headers=headers, timeout=30)


@pytest.fixture
def replica(api: Api, config_file: Path, tmp_path: Path) -> Iterator[Callable[..., Replica]]:
    """Start `whoknows serve` on the `api` fixture's store with more environment (e.g.
    `WHOKNOWS_LIMITS_STORAGE`); every one started is stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> Replica:
        port = free_port()
        log = (tmp_path / f"replica-{port}.log").open("wb")
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "whoknows"), "serve", "--port", str(port)],
            env={**os.environ, "WHOKNOWS_CONFIG": str(config_file), **env},
            stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        served = Replica(f"http://127.0.0.1:{port}", process)

        def up() -> bool:
            assert process.poll() is None, (tmp_path / f"replica-{port}.log").read_text()
            try:
                return requests.get(served.base + "/healthz", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, "the replica did not answer")
        return served

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the machine's Redis (its keys deleted after)."""
    import redis

    prefix = f"wk-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@dataclass
class OwnRedis:
    """A redis-server of the test's own, on a free port: stopping it leaves the machine's
    Redis alone."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(up, "redis-server did not start", 20)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis(free_port())
    server.start()
    yield server
    server.stop()
