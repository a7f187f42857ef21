"""/metrics on the app: the request histogram by route template, the store's figures
(contribution counts kept with their age, the insight's freshness), and nothing from a
contribution or a request in it (the contract client checks the documented answer)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete

from service import pipeline
from service.cli import cli
from service.config import ConfigError, load_config
from service.connectors.base import Page
from service.insight import store as insight_store
from service.store.schema import insight_state
from tests.api.conftest import MARKER, Api
from tests.records import record


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_requests_by_route_and_read_sync_state_from_the_store(api: Api) -> None:
    token = api.token(["profiles:read"])
    before = _samples(api.client.get("/metrics").get_data(as_text=True))
    for person in (1, 2, 999999):
        api.get(f"/v1/people/{person}", token)
    api.get("/v1/people", token, email=f"{MARKER}@corp.example")
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.get_data(as_text=True)
    after = _samples(text)
    route = frozenset({("endpoint", "/v1/people/<int:person_id>"), ("method", "GET")})
    counted = sum(value - before.get(key, 0) for key, value in after.items()
                  if key[0] == "whoknows_http_request_duration_seconds_count"
                  and route <= key[1])
    assert counted == 3  # one series per route template, not per id
    assert MARKER not in text and "corp.example" not in text
    labels = {value for _, pairs in after for _, value in pairs}
    assert not [value for value in labels if "999999" in value or "@" in value]
    forum = frozenset({("source", "forum")})
    assert after[("whoknows_source_contributions", forum)] == 8
    assert after[("whoknows_source_items_synced_total", forum)] == 8
    assert after[("whoknows_index_documents", frozenset())] == 9
    assert after[("whoknows_store_up", frozenset())] == 1


def test_every_answer_carries_a_request_id_and_a_sane_incoming_one_is_kept(api: Api) -> None:
    kept = api.client.get("/healthz", headers={"X-Request-ID": "edge-42.a"})
    assert kept.headers["X-Request-ID"] == "edge-42.a"
    made = api.client.get("/healthz", headers={"X-Request-ID": "<script>" + "x" * 200})
    assert made.headers["X-Request-ID"].isalnum() and len(made.headers["X-Request-ID"]) == 32


def test_a_store_that_does_not_answer_shows_in_the_metrics_and_the_scrape_still_works(
        api: Api) -> None:
    with api.services.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE sync_errors")
    response = api.client.get("/metrics")
    assert response.status_code == 200
    found = _samples(response.get_data(as_text=True))
    assert found[("whoknows_store_up", frozenset())] == 0
    assert ("whoknows_source_contributions", frozenset({("source", "forum")})) not in found


def _metrics(api: Api) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    return _samples(response.get_data(as_text=True))


def _computed(found: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    return found[("whoknows_insight_computed_timestamp_seconds", frozenset())]


def test_metrics_show_when_the_insight_was_computed_and_a_refresh_moves_it(
        api: Api, config_file: Path) -> None:
    with api.services.engine.connect() as conn:
        state = insight_store.last_state(conn)
    assert state is not None  # loading the community computed it
    found = _metrics(api)
    assert _computed(found) == pytest.approx(state[0].timestamp())
    assert found[("whoknows_insight_compute_seconds", frozenset())] == pytest.approx(state[2])
    time.sleep(0.01)
    # what the insight CronJob runs
    done = CliRunner().invoke(cli, ["--config", str(config_file), "topics", "--refresh"])
    assert done.exit_code == 0, done.output
    with api.services.engine.connect() as conn:
        refreshed = insight_store.last_state(conn)
    assert refreshed is not None
    after = _metrics(api)
    assert _computed(after) == pytest.approx(refreshed[0].timestamp())
    assert _computed(after) > _computed(found)
    assert time.time() - _computed(after) < 60
    assert after[("whoknows_insight_compute_seconds", frozenset())] == \
        pytest.approx(refreshed[2])


def test_an_insight_never_computed_shows_as_computed_at_zero_so_its_age_alerts(
        api: Api) -> None:
    with api.services.engine.begin() as conn:
        conn.execute(delete(insight_state))
    found = _metrics(api)
    assert _computed(found) == 0
    assert ("whoknows_insight_compute_seconds", frozenset()) not in found
    assert found[("whoknows_store_up", frozenset())] == 1


def _forum_count(found: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    return found[("whoknows_source_contributions", frozenset({("source", "forum")}))]


def _age(found: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
    return found[("whoknows_store_counts_age_seconds", frozenset())]


def _push_forum_answer(api: Api, external_id: str) -> None:
    pipeline.ingest_pages(api.services, "forum", [Page([
        record(external_id, "late_helper", thread="q1", text="one more claims tip")],
        cursor=None)], full_pass=False)


def test_contribution_counts_are_kept_with_their_age_and_recounted_once_stale(
        make_api: Callable[..., Api]) -> None:
    # counts kept 5 s: a push between two scrapes takes well under that even on a loaded
    # machine (it resolves identities, memberships and the review queue)
    keep = 5.0
    kept = make_api(metrics_counts_seconds=keep)
    first = _metrics(kept)
    counted_at = time.monotonic()
    assert (_forum_count(first), _age(first)) == (8, 0)
    _push_forum_answer(kept, "a-late-1")
    cached = _metrics(kept)  # the kept counts, and how old they are: not a silent lie
    assert _forum_count(cached) == 8 and 0 < _age(cached) < keep
    assert cached[("whoknows_index_documents", frozenset())] == 9
    time.sleep(max(0.0, counted_at + keep + 0.1 - time.monotonic()))
    stale = _metrics(kept)  # answers at once with the old counts, recounts behind
    assert _forum_count(stale) == 8 and _age(stale) > keep
    deadline = time.monotonic() + 30
    while _forum_count(recounted := _metrics(kept)) == 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _forum_count(recounted) == 9 and _age(recounted) < _age(stale)
    assert recounted[("whoknows_index_documents", frozenset())] == 10


def test_with_no_counts_age_every_scrape_counts(make_api: Callable[..., Api]) -> None:
    every = make_api(metrics_counts_seconds=0)
    assert _forum_count(_metrics(every)) == 8
    _push_forum_answer(every, "a-late-2")
    found = _metrics(every)
    assert (_forum_count(found), _age(found)) == (9, 0)


def test_a_negative_counts_age_is_refused_naming_the_key(config_file: Path) -> None:
    with pytest.raises(ConfigError, match="api.metrics_counts_seconds"):
        load_config(config_file, environ={"WHOKNOWS_API_METRICS_COUNTS_SECONDS": "-1"})
