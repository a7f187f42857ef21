"""The production entry point started as the container starts it: gunicorn with the
production configuration (`-c python:service.gunicorn_conf`), two workers, a real port, on
PostgreSQL and the search cluster engine (opensearch flavor, osmem-server), with data
loaded and an API client created through the CLI. Then: token, search, badges, the intranet
page, metrics, JSON logs, and a clean exit on SIGTERM. With WHOKNOWS_IMAGE set (`make
test-image`), the entry point and the CLI are the container image's (tests/deploy/image.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

from service.api.keys import load_signing_key
from tests.deploy.image import IMAGE, Container
from tests.records import record

#: the console script the image puts on PATH
WHOKNOWS = Path(sys.executable).parent / "whoknows"
MARKER = "QQX-INTERNAL-4412"  # internal text that must never reach /metrics
CONFIG = """
[search]
engine = "elasticsearch"
flavor = "opensearch"
url = "{search_url}"
index_prefix = "{prefix}"

[api]
issuer = "http://127.0.0.1:{port}"
signing_key_file = "{key}"

[[sources]]
id = "blog"
kind = "push"
audience = "internal"

[[sources]]
id = "forum"
kind = "push"
audience = "external"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(command: list[str], env: dict[str, str]) -> str:
    """Run a `whoknows` command line as an operator would (`kubectl exec … whoknows …`);
    return its stdout."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def whoknows(env: dict[str, str], *args: str) -> str:
    return run_cli([str(WHOKNOWS), *args], env)


def local_cli(*args: str) -> list[str]:
    return [str(WHOKNOWS), *args]


@dataclass
class Deployment:
    base: str
    server: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    #: the command line of `whoknows ARGS` where the server runs
    cli: Callable[..., list[str]]
    #: the command line of the image's HEALTHCHECK (None: no image)
    healthcheck: list[str] | None = None

    def log_lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.strip()]


def write_records(path: Path) -> None:
    records = [record("b1", "dana", kind="blog_post", email="dana@corp.example",
                      title=f"Claims adjudication internals {MARKER}",
                      text=f"Medical insurance claims engine {MARKER}", tags=["claims"])]
    path.joinpath("blog.jsonl").write_bytes(b"\n".join(msgspec.json.encode(r) for r in records))
    records = [record("q1", "cust1", kind="question", title="Medical insurance claims?",
                      tags=["claims"])]
    records += [record(f"a{i}", f"helper{i}", thread="q1", day=i, accepted=i == 1,
                       text=f"Medical insurance claims are adjudicated by rule {i}")
                for i in range(1, 6)]
    path.joinpath("forum.jsonl").write_bytes(
        b"\n".join(msgspec.json.encode(r) for r in records))


@pytest.fixture
def deployment(tmp_path: Path, pg_engine: Engine, osmem_base_url: str
               ) -> Iterator[Deployment]:
    port = free_port()
    key = tmp_path / "keys" / "signing-key.pem"
    load_signing_key(key)  # in production: the Secret every pod mounts
    (tmp_path / "whoknows.toml").write_text(CONFIG.format(
        search_url=osmem_base_url, prefix=f"wk-{uuid.uuid4().hex[:10]}-", port=port, key=key))
    env = {**os.environ, "WHOKNOWS_CONFIG": str(tmp_path / "whoknows.toml"),
           "WHOKNOWS_DATABASE_URL": pg_engine.url.render_as_string(hide_password=False),
           "WHOKNOWS_LOG_FORMAT": "json"}
    # no PROMETHEUS_MULTIPROC_DIR: the gunicorn configuration makes one (the chart sets it)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    write_records(tmp_path)
    container = None
    job, cli = local_cli, local_cli
    serve = [sys.executable, "-m", "gunicorn", "-c", "python:service.gunicorn_conf",
             "--workers", "2", "--bind", f"127.0.0.1:{port}", "service.api.wsgi:app"]
    if IMAGE is not None:
        container = Container(IMAGE, tmp_path, {
            name: env[name] for name in
            ("WHOKNOWS_CONFIG", "WHOKNOWS_DATABASE_URL", "WHOKNOWS_LOG_FORMAT")})
        job, cli, serve = container.job, container.exec, container.serve(port)
    run_cli(job("init"), env)
    run_cli(job("import", str(tmp_path / "blog.jsonl"), "--source", "blog"), env)
    run_cli(job("import", str(tmp_path / "forum.jsonl"), "--source", "forum"), env)
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as handle:
        server = subprocess.Popen(serve, cwd=tmp_path, env=env, stdout=handle,
                                  stderr=subprocess.STDOUT)
    deployment = Deployment(f"http://127.0.0.1:{port}", server, log, env, cli,
                            container.healthcheck() if container is not None else None)
    try:
        wait_ready(deployment)
        yield deployment
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        if container is not None:
            container.remove()


def wait_ready(deployment: Deployment, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert deployment.server.poll() is None, deployment.log.read_text()
        try:
            if requests.get(f"{deployment.base}/readyz", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or its workers still booting (a loaded machine)
        time.sleep(0.2)
    pytest.fail(f"gunicorn not ready after {timeout} s:\n{deployment.log.read_text()}")


def client_token(deployment: Deployment, audience: str) -> str:
    out = run_cli(deployment.cli("clients", "create", f"smoke-{audience}",
                                 "--scope", "experts:read", "--audience", audience),
                  deployment.env)
    client_id = re.search(r"client_id:\s+(\S+)", out)
    secret = re.search(r"client_secret:\s+(\S+)", out)
    assert client_id and secret, out
    answer = requests.post(f"{deployment.base}/oauth/token",
                           data={"grant_type": "client_credentials"},
                           auth=(client_id.group(1), secret.group(1)), timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.mark.postgres
def test_the_container_entry_point_serves_searches_metrics_and_json_logs(
        deployment: Deployment) -> None:
    if deployment.healthcheck is not None:
        run_cli(deployment.healthcheck, deployment.env)
    internal = client_token(deployment, "internal")
    external = client_token(deployment, "external")
    searches = 6
    found_by: dict[str, list[dict[str, Any]]] = {}
    for number in range(searches):
        token = internal if number % 2 == 0 else external
        answer = requests.get(f"{deployment.base}/v1/experts",
                              params={"q": "medical insurance claims"},
                              headers={"Authorization": f"Bearer {token}",
                                       "X-Request-ID": f"smoke-{number}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Request-ID"] == f"smoke-{number}"
        hits = answer.json()["hits"]
        assert hits, answer.text
        found_by["external" if token == external else "internal"] = hits
        if token == external:
            assert MARKER not in answer.text

    # badges: public, no token, external audience only
    helper = found_by["external"][0]
    svg = requests.get(f"{deployment.base}/v1/badges/{helper['person_id']}.svg", timeout=10)
    assert svg.status_code == 200, svg.text
    assert svg.headers["Content-Type"].startswith("image/svg+xml")
    badge = requests.get(f"{deployment.base}/v1/badges/{helper['person_id']}.json", timeout=10)
    assert badge.status_code == 200 and badge.headers["Access-Control-Allow-Origin"] == "*"
    level = helper["matched_topics"][0]["level"]
    assert badge.json()["message"].startswith(f"{level} · ")
    assert badge.json()["message"] in svg.text and helper["display_name"] in svg.text
    (dana,) = [hit for hit in found_by["internal"] if hit["display_name"] == "Dana"]
    assert dana["person_id"] not in {hit["person_id"] for hit in found_by["external"]}
    for path in (f"/v1/badges/{dana['person_id']}.svg", f"/v1/badges/{dana['person_id']}.json",
                 "/v1/badges/by-account/blog/dana.svg"):
        hidden = requests.get(deployment.base + path, timeout=10)
        assert hidden.status_code == 404, path
        assert MARKER not in hidden.text and "Dana" not in hidden.text

    # the intranet page on the same entry point (no sign-in configured: open, internal view)
    page = requests.get(f"{deployment.base}/", params={"q": "medical insurance claims"},
                        timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    first = found_by["internal"][0]
    assert first["display_name"] in page.text
    assert f'/people/{first["person_id"]}' in page.text
    profile = requests.get(f"{deployment.base}/people/{first['person_id']}", timeout=10)
    assert profile.status_code == 200 and "Connections" in profile.text
    topic = first["matched_topics"][0]["topic"]
    graph = requests.get(f"{deployment.base}/map", params={"topic": topic}, timeout=10)
    assert graph.status_code == 200 and "<svg" in graph.text

    metrics = requests.get(f"{deployment.base}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert MARKER not in metrics.text and "dana" not in metrics.text
    found = samples(metrics.text)
    experts = frozenset({("endpoint", "/v1/experts"), ("method", "GET"), ("status", "200")})
    # every worker's requests, whichever worker answered the scrape
    assert found[("whoknows_http_request_duration_seconds_count", experts)] == searches
    assert found[("whoknows_http_request_duration_seconds_bucket",
                  experts | {("le", "+Inf")})] == searches
    assert found[("whoknows_source_contributions", frozenset({("source", "forum")}))] == 6
    assert found[("whoknows_source_items_synced_total", frozenset({("source", "forum")}))] == 6
    assert found[("whoknows_source_sync_errors_total", frozenset({("source", "blog")}))] == 0
    assert found[("whoknows_source_failing", frozenset({("source", "blog")}))] == 0
    assert found[("whoknows_index_documents", frozenset())] == 7
    assert found[("whoknows_outbox_pending", frozenset())] == 0
    assert found[("whoknows_store_up", frozenset())] == 1
    # the imports computed the insight on PostgreSQL a moment ago
    computed = found[("whoknows_insight_computed_timestamp_seconds", frozenset())]
    assert 0 <= time.time() - computed < 300
    assert found[("whoknows_insight_compute_seconds", frozenset())] > 0

    deployment.server.send_signal(signal.SIGTERM)
    assert deployment.server.wait(timeout=40) == 0

    lines = deployment.log_lines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    requests_logged = [r for r in records if r.get("logger") == "whoknows.request"
                       and r.get("path") == "/v1/experts"]
    assert len(requests_logged) == searches
    first = requests_logged[0]
    assert first["method"] == "GET" and first["status"] == 200
    assert first["request_id"] == "smoke-0" and first["duration_ms"] > 0
    assert "q=" not in json.dumps(requests_logged)  # the query string is not logged
    assert any(r.get("logger") == "gunicorn.error" and "Shutting down" in r["message"]
               for r in records)


def test_sync_stopped_by_sigterm_ends_after_the_stored_page_and_resumes_there(
        tmp_path: Path) -> None:
    """A CronJob pod stopped mid-run (SIGTERM) keeps every page it stored, says why it
    stopped, and the next run picks up after the last stored page: nothing lost, nothing
    stored twice."""
    from sqlalchemy import func, select

    from service.store import sync as store_sync
    from service.store.db import open_engine
    from service.store.schema import contributions
    from tests.connectors.portal_server import FIXTURES, Fault, PortalServer, load_items
    from tests.connectors.test_jsonfeed import hub_style

    items = load_items("partner_hub_posts.json")  # 8 items, 3 per page
    server = PortalServer(hub_style(), items).start()
    try:
        config = (FIXTURES / "partner_hub.toml").read_text()
        config = re.sub(r'(?m)^url = .*$', f'url = "{server.url}"', config)
        database = tmp_path / "whoknows.db"
        (tmp_path / "whoknows.toml").write_text(
            f'[database]\nurl = "sqlite:///{database}"\n\n{config}')
        env = {**os.environ, "WHOKNOWS_CONFIG": str(tmp_path / "whoknows.toml"),
               "PARTNER_HUB_TOKEN": "token", "WHOKNOWS_LOG_FORMAT": "json"}
        server.schedule(Fault(delay=1.5))  # the first page is slow: SIGTERM arrives meanwhile
        run = subprocess.Popen([str(WHOKNOWS), "sync", "partner-hub"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
        assert run.returncode == 143, err
        engine = open_engine(f"sqlite:///{database}", run_migrations=False)
        try:
            with engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(contributions)).scalar()
                (source,) = store_sync.list_sources(conn)
                assert stored == 3  # the page being fetched, stored; no later one
                assert store_sync.get_cursor(conn, "partner-hub") is not None
                assert "stopped by SIGTERM" in (source.last_error or "")
            logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
            assert any(r["message"] == "sync finished" and r["source"] == "partner-hub"
                       and r["inserted"] == 3 for r in logged), err
            whoknows(env, "sync", "partner-hub")
            with engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(contributions)).scalar()
                (source,) = store_sync.list_sources(conn)
            assert stored == len(items) and source.last_error is None
        finally:
            engine.dispose()
    finally:
        server.stop()
