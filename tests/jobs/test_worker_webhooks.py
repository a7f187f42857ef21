"""`whoknows worker` also tells webhook subscribers: with workers on Redis there is no
embedded job thread, and a deployment should not need a separate deliverer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from service import pipeline
from service.connectors.base import Page
from service.routing import webhooks
from tests.api.conftest import wait_until
from tests.jobs.conftest import Workers
from tests.records import BASE, record
from tests.routing.receiver import Receiver

SOURCES = """
[webhooks]
poll_seconds = 0.2
allow_private_networks = true

[[sources]]
id = "forum"
kind = "push"
audience = "external"
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def test_a_worker_delivers_what_subscribers_asked_for(  # type: ignore[no-untyped-def]
        make_setup, redis_queue: str, workers: Workers, receiver: Receiver) -> None:
    setup = make_setup(SOURCES, queue=redis_queue)
    client = setup.app().test_client()
    answer = client.post("/v1/webhooks", json={"url": receiver.url,
                                               "events": ["question.open"]},
                         headers=setup.admin(client))
    assert answer.status_code == 201
    receiver.secret = answer.get_json()["secret"]
    asked = (datetime.now(UTC) - BASE).days - 2  # unanswered for two days: open
    pipeline.ingest_pages(setup.services, "forum", [Page([record(
        "q1", "cust1", kind="question", day=asked, title="Where do invoices go?",
        tags=["billing"])], cursor=None)], full_pass=False)

    worker = workers.start(setup.config)
    wait_until(lambda: bool(receiver.processed) or worker.poll() is not None,
               "the worker's delivery", timeout=60)
    assert worker.poll() is None, workers.logs()
    [event] = receiver.processed.values()
    assert event["type"] == "question.open" and event["data"]["title"] == "Where do invoices go?"
    assert all(a.signed for a in receiver.attempts)

    def delivered() -> bool:  # the worker marks it once the receiver has answered
        with setup.services.engine.connect() as conn:
            return webhooks.pending_count(conn) == 0

    wait_until(delivered, "the delivery marked done", timeout=30)
    assert len(receiver.processed) == 1  # and not delivered twice meanwhile
