"""Pacing a source: the token bucket every request of a source shares, a `Retry-After`
that holds every thread of the source, and concurrent reads that yield what one thread
reads, in the same order.

Nothing here times our code: the rate tests count the requests the forum saw in each
window of its own clock, against the bound the bucket promises.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.config import ConfigError, SourceConfig, load_config
from service.connectors.base import Page
from service.connectors.discourse import DiscourseConnector
from service.connectors.http import HttpClient, client_for
from service.connectors.pacer import Pacer
from tests.connectors.discourse_server import DiscourseServer, Recorded
from tests.connectors.faults import RateLimit

#: Arrival jitter allowed on the forum's clock (a request sent at the end of one window
#: may arrive at the start of the next).
JITTER = 0.05


@pytest.fixture
def big_forum() -> Iterator[DiscourseServer]:
    """50 topics, some beyond one chunk of posts."""
    with DiscourseServer.scaled(10, chunk_size=5) as server:
        yield server


def source(server: DiscourseServer, source_id: str, **pacing: Any) -> SourceConfig:
    return SourceConfig(id=source_id, kind="discourse", audience="external", url=server.base,
                        **pacing)


def read(connector: DiscourseConnector) -> list[tuple[Any, ...]]:
    """What a run yields, page by page: cursor, record ids and texts, errors, complete."""
    return [_page(page) for page in connector.pages(None)]


def _page(page: Page) -> tuple[Any, ...]:
    return (page.cursor, [(r.id, r.kind, r.text, r.parent) for r in page.records],
            page.errors, page.complete)


def most_in_a_window(requests: list[Recorded], window: float) -> int:
    arrivals = sorted(r.at for r in requests)
    return max(sum(1 for t in arrivals[i:] if t < start + window)
               for i, start in enumerate(arrivals))


# The bucket itself, on a clock of its own


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        self.now += seconds


def test_a_pacer_lets_a_burst_go_then_spaces_requests_at_its_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(10, burst=3, clock=lambda: clock.now, sleep=clock.sleep)

    for _ in range(6):
        pacer.acquire()

    assert clock.waits == [0.1, 0.1, 0.1]  # three at once, then one each 1/10 s
    assert clock.now == pytest.approx(0.3)


def test_a_pause_holds_the_other_threads_but_not_the_one_told_to_wait() -> None:
    clock = FakeClock()
    pacer = Pacer(None, clock=lambda: clock.now, sleep=clock.sleep)
    told = threading.Thread(target=pacer.pause, args=(2.0,))
    told.start()
    told.join()

    assert pacer.acquire() == pytest.approx(2.0)  # another thread: waits out the pause
    pacer.pause(5.0)
    assert pacer.acquire() == 0.0  # this thread waits in its own retry, not twice


@pytest.mark.parametrize("rate, burst", [(0, 1), (-1, 1), (5, 0)])
def test_a_pacer_refuses_a_rate_or_burst_that_cannot_be(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        Pacer(rate, burst)


# Against a forum


def test_concurrent_requests_stay_within_the_sources_rate(big_forum: DiscourseServer) -> None:
    paced = source(big_forum, "paced-forum", concurrency=8, requests_per_second=20)
    connector = DiscourseConnector(paced, client_for(paced, backoff_base=0.01))

    pages = read(connector)

    assert len(pages) == 50
    assert len(big_forum.requests) > 40
    # The bucket allows `burst` (= concurrency) at once, then `rate` a second.
    assert most_in_a_window(big_forum.requests, 1.0) <= int(20 * (1.0 + JITTER)) + 8
    assert most_in_a_window(big_forum.requests, 0.5) <= int(20 * (0.5 + JITTER)) + 8


def test_two_runs_of_one_source_share_its_rate(big_forum: DiscourseServer) -> None:
    paced = source(big_forum, "shared-forum", concurrency=4, requests_per_second=40)
    runs = [DiscourseConnector(paced, client_for(paced)) for _ in range(2)]
    threads = [threading.Thread(target=read, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(big_forum.requests) > 80
    assert most_in_a_window(big_forum.requests, 1.0) <= int(40 * (1.0 + JITTER)) + 4


def test_a_retry_after_holds_every_thread_of_the_source(big_forum: DiscourseServer) -> None:
    throttled = "/t/1223.json"  # a topic in the middle of the walk
    big_forum.rate_limit(throttled, 1)
    big_forum.latency = 0.05  # the other threads' work spreads over the wait
    forum_source = source(big_forum, "throttled-forum", concurrency=4)
    connector = DiscourseConnector(forum_source, HttpClient(backoff_base=0.01))

    pages = read(connector)

    assert len(pages) == 50
    told = next(r for r in big_forum.requests if r.status == 429)
    assert told.path == throttled
    on_their_way = big_forum.latency + RateLimit.in_flight  # sent before the 429 came
    inside = [r.path for r in big_forum.requests
              if told.at + on_their_way <= r.at < told.at + 1.0]
    assert inside == []
    after = [r for r in big_forum.requests if r.at >= told.at + 1.0]
    assert len(after) >= 10  # the rest of the run came after the wait
    assert throttled in [r.path for r in after]  # the throttled request too, retried


def test_a_rate_limited_forum_sees_no_request_before_its_retry_after(
    big_forum: DiscourseServer,
) -> None:
    big_forum.latency = 0.02
    big_forum.limit = RateLimit(rate=30, burst=16, in_flight=0.02 + RateLimit.in_flight)
    greedy = source(big_forum, "greedy-forum", concurrency=8)
    connector = DiscourseConnector(greedy, HttpClient(backoff_base=0.01))

    assert len(read(connector)) == 50

    assert big_forum.limit.throttled > 0  # the forum did throttle the run
    assert big_forum.limit.violations == []


def test_concurrent_reads_yield_what_one_thread_reads_in_the_same_order(
    big_forum: DiscourseServer,
) -> None:
    alone = read(DiscourseConnector(source(big_forum, "forum-1", concurrency=1),
                                    HttpClient(backoff_base=0.01)))
    big_forum.latency = 0.005  # answers come back out of order
    together = read(DiscourseConnector(source(big_forum, "forum-8", concurrency=8),
                                       HttpClient(backoff_base=0.01)))

    assert len(alone) == 50
    assert together == alone


# Configuration


def _config(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "whoknows.toml"
    path.write_text('[[sources]]\nid = "forum"\nkind = "discourse"\naudience = "external"\n'
                    f'url = "https://forum.example"\n{line}\n')
    return path


def test_a_source_reads_its_concurrency_and_rate(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, "concurrency = 8\nrequests_per_second = 2.5"),
                         environ={})
    assert (config.sources[0].concurrency, config.sources[0].requests_per_second) == (8, 2.5)
    default = load_config(_config(tmp_path, ""), environ={}).sources[0]
    assert (default.concurrency, default.requests_per_second) == (4, None)


@pytest.mark.parametrize("line, key", [
    ("concurrency = 0", "sources[0].concurrency"),
    ("concurrency = 17", "sources[0].concurrency"),
    ('concurrency = "many"', "concurrency"),
    ("requests_per_second = 0", "sources[0].requests_per_second"),
    ("requests_per_second = -2", "sources[0].requests_per_second"),
    ("requests_per_second = 5000", "sources[0].requests_per_second"),
])
def test_a_bad_concurrency_or_rate_names_its_key(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_config(_config(tmp_path, line), environ={})
