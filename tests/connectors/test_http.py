from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from service.connectors.base import ConnectorError, FatalSourceError, RetryExhaustedError
from service.connectors.http import (
    USER_AGENT,
    HttpClient,
    credentials_headers,
    parse_retry_after,
)
from tests.connectors.feedserver import FeedServer


def client(sleeps: list[float], **options: object) -> HttpClient:
    """A client that records its waits instead of sleeping."""
    settings: dict[str, object] = {"max_attempts": 5, "backoff_base": 0.01, "timeout": 2.0}
    settings.update(options)
    return HttpClient(sleep=sleeps.append, **settings)  # type: ignore[arg-type]


def test_get_sends_user_agent_and_caller_headers(feed_server: FeedServer) -> None:
    feed_server.reply("/ok", body="fine")
    http = client([], headers={"X-Team": "claims"})

    response = http.get(feed_server.url("/ok"), headers={"Accept": "application/rss+xml"})

    assert response.text == "fine"
    sent = feed_server.requests[0].headers
    assert sent["User-Agent"] == USER_AGENT == "whoknows/0.1"
    assert sent["X-Team"] == "claims"
    assert sent["Accept"] == "application/rss+xml"


def test_503_twice_then_200_is_retried_and_succeeds(feed_server: FeedServer) -> None:
    feed_server.reply("/flaky", status=503)
    feed_server.reply("/flaky", status=503)
    feed_server.reply("/flaky", body="back")
    sleeps: list[float] = []

    response = client(sleeps).get(feed_server.url("/flaky"))

    assert response.text == "back"
    assert feed_server.count("/flaky") == 3
    assert len(sleeps) == 2


def test_backoff_grows_exponentially_with_bounded_jitter(feed_server: FeedServer) -> None:
    feed_server.reply("/down", status=502)
    sleeps: list[float] = []

    with pytest.raises(RetryExhaustedError):
        client(sleeps, max_attempts=4, backoff_base=1.0, backoff_max=60.0).get(
            feed_server.url("/down")
        )

    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps):
        assert 2**attempt <= wait <= 2**attempt + 1.0


def test_retries_really_wait_when_no_sleep_is_injected(feed_server: FeedServer) -> None:
    feed_server.reply("/flaky", status=500)
    feed_server.reply("/flaky", body="ok")
    http = HttpClient(max_attempts=3, backoff_base=0.05)

    assert http.get(feed_server.url("/flaky")).text == "ok"

    first, second = feed_server.requests
    assert second.at - first.at >= 0.05


def test_429_with_retry_after_seconds_is_honoured(feed_server: FeedServer) -> None:
    feed_server.reply("/busy", status=429, headers={"Retry-After": "7"})
    feed_server.reply("/busy", body="ok")
    sleeps: list[float] = []

    assert client(sleeps).get(feed_server.url("/busy")).text == "ok"

    assert sleeps == [7.0]
    assert feed_server.count("/busy") == 2


def test_503_with_retry_after_http_date_is_honoured(feed_server: FeedServer) -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    feed_server.reply("/busy", status=503, headers={"Retry-After": format_datetime(later, True)})
    feed_server.reply("/busy", body="ok")
    sleeps: list[float] = []

    client(sleeps).get(feed_server.url("/busy"))

    assert len(sleeps) == 1
    assert 25 <= sleeps[0] <= 30


def test_retry_after_longer_than_allowed_gives_up_at_once(feed_server: FeedServer) -> None:
    feed_server.reply("/busy", status=429, headers={"Retry-After": "3600"})
    sleeps: list[float] = []

    with pytest.raises(RetryExhaustedError, match="3600 s"):
        client(sleeps, max_retry_after=120).get(feed_server.url("/busy"))

    assert sleeps == []
    assert feed_server.count("/busy") == 1


def test_500_forever_gives_retry_exhausted_after_max_attempts(feed_server: FeedServer) -> None:
    feed_server.reply("/broken", status=500)

    with pytest.raises(RetryExhaustedError, match="gave up after 3 attempts: HTTP 500"):
        client([], max_attempts=3).get(feed_server.url("/broken"))

    assert feed_server.count("/broken") == 3


@pytest.mark.parametrize("status", [401, 403, 404, 410, 400])
def test_client_errors_are_fatal_at_once(feed_server: FeedServer, status: int) -> None:
    feed_server.reply("/private", status=status)
    sleeps: list[float] = []

    with pytest.raises(FatalSourceError, match=f"HTTP {status}"):
        client(sleeps).get(feed_server.url("/private"))

    assert feed_server.count("/private") == 1
    assert sleeps == []


def test_timeout_is_retried(feed_server: FeedServer) -> None:
    feed_server.reply("/slow", body="late", delay=1.0)
    feed_server.reply("/slow", body="quick")

    response = client([], timeout=0.2).get(feed_server.url("/slow"))

    assert response.text == "quick"
    assert feed_server.count("/slow") == 2


def test_refused_connection_is_retried_then_exhausted() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []

    with pytest.raises(RetryExhaustedError, match="connection failed"):
        client(sleeps, max_attempts=2).get(f"http://127.0.0.1:{port}/feed")

    assert len(sleeps) == 1


def test_get_json_retries_a_body_that_does_not_parse(feed_server: FeedServer) -> None:
    feed_server.reply("/api", body='{"items": [1, 2', headers={"Content-Type": "application/json"})
    feed_server.reply("/api", body='{"items": [1, 2]}')
    sleeps: list[float] = []
    http = client(sleeps)

    data, response = http.get_json(feed_server.url("/api"))

    assert data == {"items": [1, 2]} and response.status_code == 200
    assert feed_server.count("/api") == 2 and len(sleeps) == 1 and http.retries == 1


def test_get_json_gives_up_on_a_body_that_never_parses(feed_server: FeedServer) -> None:
    feed_server.reply("/login", body="<html>Sign in</html>", headers={"Content-Type": "text/html"})

    with pytest.raises(RetryExhaustedError, match=r"gave up after 3 attempts: the answer is not"):
        client([], max_attempts=3).get_json(feed_server.url("/login"))
    assert feed_server.count("/login") == 3


def test_a_4xx_the_caller_calls_a_throttle_waits_the_seconds_it_names(
    feed_server: FeedServer,
) -> None:
    feed_server.reply("/api", status=400, body='{"wait": 4}')
    feed_server.reply("/api", body="{}")
    sleeps: list[float] = []

    def throttled(response: requests.Response) -> float | None:
        return float(response.json()["wait"]) if response.status_code == 400 else None

    data, _ = client(sleeps).get_json(feed_server.url("/api"), throttled=throttled)

    assert data == {} and sleeps == [4.0]


def test_a_4xx_the_caller_does_not_call_a_throttle_stays_fatal(feed_server: FeedServer) -> None:
    feed_server.reply("/api", status=400, body='{"error": "bad filter"}')

    with pytest.raises(FatalSourceError, match="HTTP 400"):
        client([]).get(feed_server.url("/api"), throttled=lambda _: None)
    assert feed_server.count("/api") == 1


def test_a_429_without_retry_after_waits_what_the_caller_reads_in_it(
    feed_server: FeedServer,
) -> None:
    feed_server.reply("/api", status=429, headers={"X-Reset-In": "7"})
    feed_server.reply("/api", status=429, headers={"Retry-After": "2", "X-Reset-In": "7"})
    feed_server.reply("/api", status=429)
    feed_server.reply("/api", body="{}")
    sleeps: list[float] = []

    def reset(response: requests.Response) -> float | None:
        named = response.headers.get("X-Reset-In")
        return float(named) if named else None

    data, _ = client(sleeps).get_json(feed_server.url("/api"), throttled=reset)

    # the platform's header; Retry-After first when both come; else the own backoff
    assert data == {} and sleeps[:2] == [7.0, 2.0] and 0.04 <= sleeps[2] <= 0.05


def test_a_fatal_status_carries_its_code(feed_server: FeedServer) -> None:
    feed_server.reply("/api", status=401)

    with pytest.raises(FatalSourceError) as raised:
        client([]).get(feed_server.url("/api"))
    assert raised.value.status == 401


def test_a_throttle_asking_more_than_allowed_gives_up_at_once(feed_server: FeedServer) -> None:
    feed_server.reply("/api", status=400)

    with pytest.raises(RetryExhaustedError, match=r"\(a throttle\); the server asks to wait 900 s"):
        client([], max_retry_after=300).get(feed_server.url("/api"), throttled=lambda _: 900.0)
    assert feed_server.count("/api") == 1


def test_request_budget_counts_retries_and_stops_the_run(feed_server: FeedServer) -> None:
    feed_server.reply("/page", status=503)
    feed_server.reply("/page", body="ok")
    http = client([], max_requests=3)

    http.get(feed_server.url("/page"))
    http.get(feed_server.url("/page"))
    assert http.requests_made == 3
    with pytest.raises(ConnectorError, match="request budget exhausted \\(3 requests per run\\)"):
        http.get(feed_server.url("/page"))

    assert feed_server.count("/page") == 3


def test_error_messages_hide_secret_query_parameters(feed_server: FeedServer) -> None:
    feed_server.reply("/api", status=403)

    with pytest.raises(FatalSourceError) as raised:
        client([]).get(feed_server.url("/api?key=s3cr3t&page=2"))

    assert "s3cr3t" not in str(raised.value)
    assert "page=2" in str(raised.value)


def test_client_auth_goes_with_every_request(feed_server: FeedServer) -> None:
    feed_server.reply("/feed", body="ok")

    client([], auth=("reader", "pw")).get(feed_server.url("/feed"))

    assert feed_server.requests[0].headers["Authorization"] == "Basic cmVhZGVyOnB3"


def test_credentials_become_basic_or_bearer_headers() -> None:
    assert credentials_headers(None) == {}
    assert credentials_headers("reader:pw") == {"Authorization": "Basic cmVhZGVyOnB3"}
    assert credentials_headers("tok-123") == {"Authorization": "Bearer tok-123"}


def test_retry_after_parsing() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
