"""The insight tables on generated data with planted patterns, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from service import insight, pipeline
from service.insight import queries
from service.insight.groups import choose_group
from service.store.contributions import store_batch
from service.store.people import find_identity, person_of
from service.store.schema import insight_edges, insight_nodes, insight_person_topics
from service.store.sync import register_source
from tests.insight import planted


@pytest.fixture
def community(engine: Engine, services: pipeline.Services) -> pipeline.Services:
    """The planted community in the store the `engine` fixture gives (both dialects):
    stored, resolved and recomputed by the pipeline's functions, without a search index
    (PostgreSQL pairs with the cluster engine, which these tests do not need)."""
    on_engine = replace(services, engine=engine, index=None)
    with engine.begin() as conn:
        for source, audience in (("blog", "internal"), ("forum", "external"),
                                 ("portal", "partner")):
            register_source(conn, {"id": source, "kind": "push", "audience": audience})
    touched: set[int] = set()
    for source, records in planted.batches():
        with engine.begin() as conn:
            info = pipeline.source_info(conn, services.config, source)
            touched |= store_batch(conn, info, records).touched_identities
    pipeline.resolve_and_recompute(on_engine, touched)
    return on_engine


def _person(services: pipeline.Services, source: str, account: str) -> int:
    with services.engine.connect() as conn:
        found = person_of(conn, find_identity(conn, source, account))  # type: ignore[arg-type]
    assert found is not None
    return found


def test_the_planted_burst_is_detected_within_a_week(community: pipeline.Services) -> None:
    with community.engine.connect() as conn:
        found = queries.activity(conn, "public", planted.BURST_TOPIC, planted.NOW.date(), 40)
    assert found is not None
    [burst] = found["bursts"]
    start = planted.FIRST + timedelta(weeks=planted.BURST_WEEKS[0])
    end = planted.FIRST + timedelta(weeks=planted.BURST_WEEKS[1])
    assert abs((_day(burst["start"]) - start.date()).days) <= 7
    assert abs((_day(burst["end"]) - end.date()).days) <= 7
    busiest = max(found["weeks"], key=lambda week: week["contributions"])
    assert busiest["contributions"] >= 20
    assert busiest["by_audience"] == {"external": {"contributions": busiest["contributions"],
                                                   "participants": 7}}


def _day(value: str):  # type: ignore[no-untyped-def]
    from datetime import date

    return date.fromisoformat(value)


def test_the_planted_bridge_ranks_first(community: pipeline.Services) -> None:
    bea = _person(community, "blog", "bea")
    assert _person(community, "forum", "bea_f") == bea
    with community.engine.connect() as conn:
        page = queries.graph_page(conn, "all", planted.CLAIMS, None, 100, 0)
    assert page["bridges"][0]["person_id"] == bea
    assert page["bridges"][0]["communities"] == ["external", "internal"]


def test_a_hot_group_covers_every_community_on_the_topic(
    community: pipeline.Services
) -> None:
    with community.engine.connect() as conn:
        candidates = queries.group_candidates(conn, "all", planted.CLAIMS, 12)
    group = choose_group(candidates, planted.CLAIMS, 4, planted.NOW)
    assert {member["community"] for member in group} == {"internal", "external", "partner"}
    assert all(member["reason"] for member in group)


def test_the_public_map_holds_nothing_internal(community: pipeline.Services) -> None:
    employees = {_person(community, "blog", f"emp{i}") for i in range(1, 5)}
    with community.engine.connect() as conn:
        page = queries.graph_page(conn, "public", "", None, 1000, 0)
        internal = queries.graph_page(conn, "all", "", None, 1000, 0)
        trending = queries.trending(conn, "public", planted.NOW.date(), 52, 100)
    people = {node["id"] for node in page["nodes"]}
    assert people and not people & employees
    assert all("internal" not in node["communities"] for node in page["nodes"])
    assert employees <= {node["id"] for node in internal["nodes"]}
    assert planted.INTERNAL_TOPIC not in {item["topic"] for item in trending}


def test_recent_topics_count_the_last_30_and_90_days(community: pipeline.Services) -> None:
    bea = _person(community, "blog", "bea")
    with community.engine.connect() as conn:
        internal = queries.recent_topics(conn, "all", bea)
        public = queries.recent_topics(conn, "public", bea)
    assert [(t["topic"], t["last_30_days"], t["last_90_days"]) for t in internal] == [
        (planted.CLAIMS, 2, 2)]
    assert [(t["topic"], t["last_30_days"]) for t in public] == [(planted.CLAIMS, 1)]


def test_a_refresh_keeps_the_tables_indexes(community: pipeline.Services) -> None:
    insight.refresh(community.engine, community.settings, lambda: planted.NOW)
    inspector = inspect(community.engine)
    for table in (insight_edges, insight_nodes, insight_person_topics):
        assert {index["name"] for index in inspector.get_indexes(table.name)} == {
            index.name for index in table.indexes}
    with community.engine.connect() as conn:
        page = queries.graph_page(conn, "all", planted.CLAIMS, None, 100, 0)
    assert page["total"] == len(page["edges"]) > 0


def test_a_quiet_store_refreshes_to_empty_tables(engine: Engine,
                                                 services: pipeline.Services) -> None:
    """No burst, no edge yet (a new install): the refresh writes empty tables on both
    databases instead of failing (PostgreSQL's COPY of no columns is a syntax error)."""
    quiet = replace(services, engine=engine, index=None)
    insight.refresh(quiet.engine, quiet.settings, lambda: planted.NOW)
    with engine.connect() as conn:
        assert queries.trending(conn, "all", planted.NOW.date(), 8, 10) == []
        assert queries.graph_page(conn, "all", "", None, 100, 0)["edges"] == []
        assert insight.store.last_state(conn) is not None
