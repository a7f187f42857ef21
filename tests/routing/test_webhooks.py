"""Outbound webhook delivery on SQLite and PostgreSQL: signed, retried with backoff, kept
in the outbox across restarts, at least once with one idempotency key per event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from service.config import WebhooksConfig
from service.routing import webhooks
from service.store.db import open_engine
from tests.routing.receiver import Receiver

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
CONFIG = WebhooksConfig(allow_private_networks=True, max_attempts=5, backoff_seconds=30, max_backoff_seconds=3600,
                        timeout_seconds=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _subscribe(engine: Engine, receiver: Receiver, events: list[str] | None = None) -> int:
    with engine.begin() as conn:
        created = webhooks.create_subscription(conn, receiver.url, events or
                                               list(webhooks.EVENTS), "the CRM", T0)
    receiver.secret = created["secret"]
    return int(created["id"])


def _restart(engine: Engine) -> Engine:
    """The process stops and another starts on the same store."""
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    return open_engine(url)


def test_a_receiver_failing_twice_gets_every_event_once_per_key_across_restarts(
        engine: Engine, receiver: Receiver) -> None:
    subscription = _subscribe(engine, receiver)
    receiver.script = [500, 503]
    with engine.begin() as conn:
        ids = [webhooks.enqueue(conn, "question.open", {"question": n}, T0) for n in (1, 2)]
        ids.append(webhooks.enqueue(conn, "organisation.connection_changed",
                                    {"organisation": {"id": "acme"}}, T0))
    first = webhooks.deliver_due(engine, CONFIG, T0)
    assert (first.attempted, first.delivered) == (3, 0)
    assert webhooks.deliver_due(engine, CONFIG, T0 + timedelta(seconds=29)).attempted == 0

    engine = _restart(engine)
    second = webhooks.deliver_due(engine, CONFIG, T0 + timedelta(seconds=30))
    assert (second.attempted, second.delivered) == (3, 0)
    # the second failure doubles the wait
    assert webhooks.deliver_due(engine, CONFIG, T0 + timedelta(seconds=89)).attempted == 0

    engine = _restart(engine)
    third = webhooks.deliver_due(engine, CONFIG, T0 + timedelta(seconds=90))
    assert (third.attempted, third.delivered) == (3, 3)
    assert webhooks.deliver_due(engine, CONFIG, T0 + timedelta(days=1)).attempted == 0

    assert set(receiver.processed) == set(ids)  # every event, each processed once
    assert [receiver.processed[i]["data"] for i in ids] == [
        {"question": 1}, {"question": 2}, {"organisation": {"id": "acme"}}]
    assert all(a.signed for a in receiver.attempts)
    for key in ids:  # three attempts each, the same key and body every time
        tries = [a for a in receiver.attempts if a.key == key]
        assert [a.status for a in tries] == [500, 503, 200]
        assert len({a.body for a in tries}) == 1
    with engine.connect() as conn:
        items, total = webhooks.deliveries(conn, subscription, None, 10, 0)
    assert total == 3
    assert {(d["status"], d["attempts"], d["last_status"]) for d in items} == {
        ("delivered", 3, 200)}
    engine.dispose()


def test_a_process_killed_mid_send_leaves_the_row_due_again(engine: Engine,
                                                            receiver: Receiver) -> None:
    _subscribe(engine, receiver)
    with engine.begin() as conn:
        event = webhooks.enqueue(conn, "question.answered", {"question": 1}, T0)
    lease = timedelta(seconds=CONFIG.timeout_seconds * 2 + 30)
    leased = webhooks._due(engine, T0, lease)  # leased, then the process dies
    assert len(leased) == 1
    assert webhooks.deliver_due(engine, CONFIG, T0 + lease - timedelta(seconds=1)
                                ).attempted == 0  # nobody else sends it meanwhile
    assert webhooks.deliver_due(engine, CONFIG, T0 + lease).delivered == 1
    assert list(receiver.processed) == [event]


def test_a_delivery_that_never_succeeds_fails_after_the_last_attempt(
        engine: Engine, receiver: Receiver) -> None:
    subscription = _subscribe(engine, receiver)
    receiver.script = [500] * 10
    config = WebhooksConfig(allow_private_networks=True, max_attempts=3, backoff_seconds=1, max_backoff_seconds=2)
    with engine.begin() as conn:
        webhooks.enqueue(conn, "question.open", {"question": 1}, T0)
    reports = [webhooks.deliver_due(engine, config, T0 + timedelta(seconds=s))
               for s in (0, 1, 3, 100)]
    assert [(r.attempted, r.failed) for r in reports] == [(1, 0), (1, 0), (1, 1), (0, 0)]
    with engine.connect() as conn:
        items, _ = webhooks.deliveries(conn, subscription, "failed", 10, 0)
    assert [(d["attempts"], d["last_error"], d["next_attempt_at"]) for d in items] == [
        (3, "HTTP 500", None)]


def test_only_subscribers_of_an_event_get_it_and_an_unsubscribed_one_nothing_more(
        engine: Engine, receiver: Receiver) -> None:
    subscription = _subscribe(engine, receiver, ["question.answered"])
    with engine.begin() as conn:
        assert webhooks.enqueue(conn, "question.open", {}, T0) is None
        webhooks.enqueue(conn, "question.answered", {}, T0)
        assert webhooks.delete_subscription(conn, subscription, T0)
    assert webhooks.deliver_due(engine, CONFIG, T0).attempted == 0
    assert receiver.attempts == []


def test_a_refused_connection_is_retried_like_an_error() -> None:
    engine = open_engine("sqlite://")
    with engine.begin() as conn:
        webhooks.create_subscription(conn, "http://127.0.0.1:9/nothing", ["question.open"],
                                     None, T0)
        webhooks.enqueue(conn, "question.open", {}, T0)
    report = webhooks.deliver_due(engine, CONFIG, T0)
    assert (report.attempted, report.delivered, report.failed) == (1, 0, 0)
    with engine.connect() as conn:
        items, _ = webhooks.deliveries(conn, 1, None, 10, 0)
    assert items[0]["last_status"] is None and "ConnectionError" in items[0]["last_error"]


def test_the_signature_is_stripe_style_and_checks_time_and_body() -> None:
    header = webhooks.sign("whsec_x", 1_700_000_000, '{"a":1}')
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert webhooks.verify("whsec_x", header, '{"a":1}', 1_700_000_100)
    assert not webhooks.verify("whsec_x", header, '{"a":2}', 1_700_000_100)
    assert not webhooks.verify("whsec_y", header, '{"a":1}', 1_700_000_100)
    assert not webhooks.verify("whsec_x", header, '{"a":1}', 1_700_001_000)  # replayed late
    assert not webhooks.verify("whsec_x", "garbage", '{"a":1}', 1_700_000_000)


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [webhooks.backoff(n, CONFIG).total_seconds() for n in (1, 2, 3, 10)] == [
        30, 60, 120, 3600]


def test_a_url_inside_the_network_is_never_sent_to_unless_allowed(receiver: Receiver) -> None:
    engine = open_engine("sqlite://")
    with engine.begin() as conn:  # stored before the rule (or by hand): refused at sending
        webhooks.create_subscription(conn, receiver.url, ["question.open"], None, T0)
        webhooks.enqueue(conn, "question.open", {}, T0)
    strict = WebhooksConfig(max_attempts=1)
    report = webhooks.deliver_due(engine, strict, T0)
    assert (report.attempted, report.delivered, report.failed) == (1, 0, 1)
    assert receiver.attempts == []
    with engine.connect() as conn:
        items, _ = webhooks.deliveries(conn, 1, None, 10, 0)
    assert "127.0.0.1" in items[0]["last_error"] and "refused" in items[0]["last_error"]
    for url in ("http://127.0.0.1:8080/", "http://localhost/", "http://10.1.2.3/h",
                "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/",
                "http://192.168.0.10/", "http://[fd00::1]/"):
        assert webhooks.private_address(url), url
    assert webhooks.private_address("https://93.184.215.14/hook") is None
