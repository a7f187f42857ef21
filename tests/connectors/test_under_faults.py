"""Each connector, one sync under every fault at once (tests/connectors/faults.py, the
rates of issue 22's field test): the run ends with the store of a clean sync, never asks
inside a throttle or backoff window, and a second run changes nothing.

The clients wait for real (the windows are the servers' own clock) but briefly: the
servers name 1 s throttles, slow answers are 0.6 s against a 0.4 s timeout, and the
exponential backoff starts at 10 ms.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from service import pipeline
from service.config import SourceConfig
from service.connectors.discourse import DiscourseConnector
from service.connectors.http import HttpClient
from service.connectors.stackexchange import StackExchangeConnector
from service.connectors.wordpress import WordPressConnector
from service.store import sync as store_sync
from tests.connectors.discourse_server import DiscourseServer
from tests.connectors.faults import FaultPlan, Rates
from tests.connectors.stackexchange_server import StackExchangeServer
from tests.connectors.test_stackexchange import snapshot
from tests.connectors.wordpress_server import WordPressServer

Services = pipeline.Services
Connector = StackExchangeConnector | DiscourseConnector | WordPressConnector
EVERY_FAULT = {"error", "throttle", "garbled", "dropped", "slow", "repeat"}


def client() -> HttpClient:
    return HttpClient(timeout=0.4, backoff_base=0.01, backoff_max=0.2)


def sync(services: Services, connector: Connector, source_id: str) -> pipeline.SyncReport:
    with services.engine.connect() as conn:
        cursor = store_sync.get_cursor(conn, source_id)
    pages = connector.pages(cursor)
    return pipeline.ingest_pages(services, source_id, pages, full_pass=cursor is None)


def check_sync_under_faults(
    plan: FaultPlan,
    attach: Callable[[FaultPlan | None], None],
    build: Callable[[], Connector],
    open_store: Callable[[str], Services],
    source_id: str,
    expected_faults: set[str] = EVERY_FAULT,
) -> dict[str, Any]:
    """Sync clean, then under `plan`, then again; assert what the module docstring says
    and return the faulty run's figures."""
    clean = open_store("clean")
    assert sync(clean, build(), source_id).failed is None
    attach(plan)
    faulty = open_store("faulty")
    connector = build()
    started = time.monotonic()

    report = sync(faulty, connector, source_id)

    seconds = time.monotonic() - started
    assert report.failed is None, report.failed
    assert snapshot(faulty) == snapshot(clean)
    assert plan.violations == []
    met = plan.counts()
    assert expected_faults <= set(met), f"the plan never drew {expected_faults - set(met)}"
    again = sync(faulty, build(), source_id)
    assert again.failed is None and again.batch.changed_ids == []
    assert snapshot(faulty) == snapshot(clean)
    return {
        "stored": len(snapshot(faulty)[0]),
        "requests": connector.client.requests_made,
        "retries": connector.client.retries,
        "seconds": round(seconds, 2),
        "faults": dict(met),
    }


# Stack Exchange


@pytest.fixture
def se_site() -> Iterator[StackExchangeServer]:
    with StackExchangeServer.scaled(20) as server:
        yield server


def test_stackexchange_sync_under_every_fault_ends_exact_in_one_run(
    se_site: StackExchangeServer, open_store: Callable[[str], Services]
) -> None:
    source = SourceConfig(
        id="forum",
        kind="stackexchange",
        audience="external",
        url=se_site.url(),
        options={"site": "beer"},
    )
    plan = FaultPlan(seed=3, rates=Rates(backoff=0.03))

    def attach(chosen: FaultPlan | None) -> None:
        se_site.plan = chosen

    figures = check_sync_under_faults(
        plan,
        attach,
        lambda: StackExchangeConnector(source, client(), page_size=5),
        open_store,
        "forum",
        EVERY_FAULT | {"backoff"},
    )
    assert figures["stored"] == 240


# Discourse


@pytest.fixture
def forum() -> Iterator[DiscourseServer]:
    with DiscourseServer.scaled(12, per_page=3) as server:
        yield server


def test_discourse_sync_under_every_fault_ends_exact_in_one_run(
    forum: DiscourseServer, open_store: Callable[[str], Services]
) -> None:
    source = SourceConfig(id="forum", kind="discourse", audience="external", url=forum.base)

    def attach(chosen: FaultPlan | None) -> None:
        forum.plan = chosen

    figures = check_sync_under_faults(
        FaultPlan(seed=4),
        attach,
        lambda: DiscourseConnector(source, client()),
        open_store,
        "forum",
    )
    assert figures["stored"] == 12 * 35


# WordPress

APP_PASSWORD = "whoknows-sync:abcd EFGH ijkl MNOP qrst UVWX"


@pytest.fixture
def blog() -> Iterator[WordPressServer]:
    with WordPressServer.scaled(15) as server:
        server.credentials = APP_PASSWORD
        yield server


def test_wordpress_sync_under_every_fault_ends_exact_in_one_run(
    blog: WordPressServer, open_store: Callable[[str], Services]
) -> None:
    source = SourceConfig(
        id="blog", kind="wordpress", audience="internal", url=blog.url, options={"per_page": 3}
    )

    def attach(chosen: FaultPlan | None) -> None:
        blog.plan = chosen

    figures = check_sync_under_faults(
        FaultPlan(seed=1),
        attach,
        lambda: WordPressConnector(source, client(), APP_PASSWORD),
        open_store,
        "blog",
    )
    assert figures["stored"] == 15 * 12
