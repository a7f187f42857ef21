"""Rate limits shared through Redis (`[limits] storage`): one budget per client across API
processes, the RateLimit-* headers, and an API that keeps answering when Redis is gone."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.api.limits import RETRY_SECONDS, SharedStorage
from service.api.scopes import EXPERTS_READ
from service.config import ConfigError, load_config
from tests.api.conftest import REDIS_URL, Api, OwnRedis, PublicPeople, Replica, free_port

LIMIT = 6


def _redis_env(url: str, prefix: str) -> dict[str, str]:
    return {"WHOKNOWS_LIMITS_STORAGE": url, "WHOKNOWS_LIMITS_KEY_PREFIX": prefix}


def _storage_errors(api: Api) -> float:
    text = api.client.get("/metrics").get_data(as_text=True)
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "whoknows_rate_limit_storage_errors_total")


def test_two_api_processes_on_one_redis_share_a_clients_limit(
        make_api: Callable[..., Api], replica: Callable[..., Replica], redis_prefix: str,
) -> None:
    env = _redis_env(REDIS_URL, redis_prefix)
    here = make_api(env, rate_limit_per_minute=LIMIT)
    there = replica({**env, "WHOKNOWS_API_RATE_LIMIT_PER_MINUTE": str(LIMIT)})
    token = here.token([EXPERTS_READ])  # one client, calling both processes in turn
    answers = []
    for number in range(2 * LIMIT):
        if number % 2:
            response = there.get("/v1/experts", token, q="claims")
            answers.append((response.status_code, response.headers))
        else:
            local = here.get("/v1/experts", token, q="claims")
            answers.append((local.status_code, local.headers))
    statuses = [status for status, _ in answers]
    assert statuses.count(200) == LIMIT, statuses
    assert statuses == [200] * LIMIT + [429] * LIMIT
    # one count: what is left goes down across both processes
    assert [int(h["RateLimit-Remaining"]) for _, h in answers[:LIMIT]] == list(
        range(LIMIT - 1, -1, -1))
    for _, headers in answers:
        assert headers["RateLimit-Limit"] == str(LIMIT)
    for _, headers in answers[LIMIT:]:
        assert 1 <= int(headers["Retry-After"]) <= 60
        assert int(headers["RateLimit-Reset"]) <= 60
    other = here.token([EXPERTS_READ])  # another client has its own budget
    assert there.get("/v1/experts", other, q="claims").status_code == 200


def test_a_429_is_problem_json_with_the_headers(make_api: Callable[..., Api],
                                                redis_prefix: str) -> None:
    limited = make_api(_redis_env(REDIS_URL, redis_prefix), rate_limit_per_minute=2)
    token = limited.token([EXPERTS_READ])
    first = limited.get("/v1/experts", token, q="claims")
    assert (first.headers["RateLimit-Limit"], first.headers["RateLimit-Remaining"]) == ("2", "1")
    assert "Retry-After" not in first.headers
    limited.get("/v1/experts", token, q="claims")
    refused = limited.get("/v1/experts", token, q="claims")
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    body = refused.get_json()
    assert body["status"] == 429 and "retry in" in body["detail"]
    assert body["detail"].endswith(f"{refused.headers['Retry-After']} s")
    assert refused.headers["RateLimit-Remaining"] == "0"
    # a request without a valid token spends nothing: it is refused before it is counted
    assert "RateLimit-Limit" not in limited.get("/v1/experts", None, q="claims").headers


def test_the_badge_limit_per_address_is_shared_too(
        make_api: Callable[..., Api], public_people: PublicPeople, redis_prefix: str,
) -> None:
    env = _redis_env(REDIS_URL, redis_prefix)
    one, two = (make_api(env, badge_rate_limit_per_minute=3) for _ in range(2))
    path = f"/v1/badges/{public_people.dana}.svg"
    address = {"REMOTE_ADDR": "203.0.113.9"}
    statuses = [app.client.get(path, environ_base=address).status_code
                for app in (one, two, one, two)]
    assert statuses == [200, 200, 200, 429]
    elsewhere = {"REMOTE_ADDR": "198.51.100.1"}
    answer = two.client.get(path, environ_base=elsewhere)
    assert answer.status_code == 200 and answer.headers["RateLimit-Remaining"] == "2"


def test_with_redis_stopped_the_api_still_answers_and_metrics_count_it(
        make_api: Callable[..., Api], own_redis: OwnRedis, redis_prefix: str,
        caplog: pytest.LogCaptureFixture,
) -> None:
    limited = make_api(_redis_env(own_redis.url, redis_prefix), rate_limit_per_minute=100)
    token = limited.token([EXPERTS_READ])
    assert limited.get("/v1/experts", token, q="claims").status_code == 200
    before = _storage_errors(limited)
    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="service.api.limits"):
        started = time.monotonic()
        answers = [limited.get("/v1/experts", token, q="claims") for _ in range(5)]
        took = time.monotonic() - started
    assert [a.status_code for a in answers] == [200] * 5
    # counted in this process meanwhile: the headers still say what is left here
    assert all(int(a.headers["RateLimit-Remaining"]) < 100 for a in answers)
    assert _storage_errors(limited) == before + 1  # then Redis rests for RETRY_SECONDS
    assert [r.message for r in caplog.records].count(
        "rate limits: the limits storage does not answer (ConnectionError); counting in this "
        "process until it does") == 1
    assert took < 5, "a stopped Redis must not hold requests up"
    assert own_redis.url not in caplog.text  # the URL may carry a password


@pytest.mark.parametrize("scheme", ["redis", "redis+cluster"])
def test_an_api_started_while_redis_is_down_boots_and_answers(
        make_api: Callable[..., Api], redis_prefix: str, scheme: str) -> None:
    nowhere = f"{scheme}://127.0.0.1:{free_port()}"  # nothing listens there
    limited = make_api(_redis_env(nowhere, redis_prefix), rate_limit_per_minute=2)
    token = limited.token([EXPERTS_READ])
    before = _storage_errors(limited)
    statuses = [limited.get("/v1/experts", token, q="claims").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # counted in the process meanwhile
    assert _storage_errors(limited) == before + 1


def test_after_an_outage_the_count_goes_back_to_redis(own_redis: OwnRedis,
                                                      redis_prefix: str) -> None:
    from limits import RateLimitItemPerMinute
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    now = [0.0]
    storage = SharedStorage(own_redis.url, redis_prefix, clock=lambda: now[0])
    item = RateLimitItemPerMinute(10, namespace="t")

    def spend(limiter: MovingWindowRateLimiter) -> object:
        limiter.hit(item, "k")
        return limiter.get_window_stats(item, "k").remaining

    assert storage.run(spend) == 9  # type: ignore[arg-type]
    own_redis.stop()
    assert storage.run(spend) == 9  # type: ignore[arg-type]  # memory: its own first hit
    own_redis.start()  # an empty Redis again
    now[0] += RETRY_SECONDS / 2
    assert storage.run(spend) == 8  # type: ignore[arg-type]  # still resting: memory
    now[0] += RETRY_SECONDS
    assert storage.run(spend) == 9  # type: ignore[arg-type]  # Redis, counted there
    redis_side = MovingWindowRateLimiter(storage_from_string(own_redis.url,
                                                              key_prefix=redis_prefix))
    assert redis_side.get_window_stats(item, "k").remaining == 9


@pytest.mark.parametrize("storage", ["memcached://127.0.0.1:11211", "127.0.0.1:6379",
                                     "redis://", "http://redis:6379"])
def test_an_unknown_limits_storage_is_refused_at_start(storage: str, config_file) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="limits.storage: .* is not a limits storage"):
        load_config(config_file, environ={"WHOKNOWS_LIMITS_STORAGE": storage})


def test_the_message_never_shows_the_redis_password(config_file) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as refused:
        load_config(config_file, environ={"WHOKNOWS_LIMITS_STORAGE": "redis:/:s3cret@x"})
    assert "s3cret" not in str(refused.value)
    config = load_config(config_file, environ={
        "WHOKNOWS_LIMITS_STORAGE": "rediss://:pw@redis.example:6380/2"})
    assert config.limits.storage == "rediss://:pw@redis.example:6380/2"


@pytest.mark.parametrize("seconds", ["-1", "61"])
def test_a_revocation_delay_out_of_range_is_refused_at_start(seconds: str,
                                                             config_file) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="api.revocation_check_seconds: must be between"):
        load_config(config_file, environ={"WHOKNOWS_API_REVOCATION_CHECK_SECONDS": seconds})
