"""/metrics on the app: the request histogram by route template, the store's figures,
and nothing from a contribution or a request in it (the contract client checks the
documented answer)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import MARKER, Api


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
