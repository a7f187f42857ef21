"""Result caches across replicas, on every engine (SQLite; the cluster engine on SQLite
and on PostgreSQL): two `Services` on one store, as two API replicas are, each with its
own cache; a change made through one is in the other's next search, cached before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from service import pipeline
from service.config import load_config
from service.model import Audience
from service.search.base import ExpertQuery
from tests.conftest import NOW
from tests.records import record
from tests.search.conftest import BLOG, FORUM, OpenServices, load

ENGINES = ["sqlite", "opensearch", "opensearch-postgresql"]


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def replicas(open_services: OpenServices, tmp_path: Path
             ) -> Iterator[tuple[pipeline.Services, pipeline.Services]]:
    """Two replicas on one store and one index, the store loaded through the first."""
    one = open_services()
    load(one, "blog", BLOG)
    load(one, "forum", FORUM)
    two = pipeline.open_services(load_config(tmp_path / "main" / "whoknows.toml", environ={}),
                                 clock=lambda: NOW)
    yield one, two
    two.engine.dispose()


def _names(services: pipeline.Services, words: str,
           audience: Audience = Audience.INTERNAL) -> list[str]:
    result = services.index.search(ExpertQuery(text=words, audience=audience))
    return [hit.display_name for hit in result.hits]


def test_both_replicas_cache_their_answers(
        replicas: tuple[pipeline.Services, pipeline.Services]) -> None:
    for services in replicas:
        assert services.index.cache.size > 0
        first = services.index.search(ExpertQuery(text="claims", audience=Audience.INTERNAL))
        assert services.index.search(ExpertQuery(text="claims",
                                                 audience=Audience.INTERNAL)) == first
        assert len(services.index.cache._entries) == 1


def test_a_contribution_stored_through_one_replica_is_in_the_others_next_search(
        replicas: tuple[pipeline.Services, pipeline.Services]) -> None:
    one, two = replicas
    assert "Frank" not in _names(two, "claims")  # cached by the second replica
    load(one, "forum", [record("a7", "frank", email="frank@customer.example", thread="q1",
                               text="Medical claims adjudication, step by step")])
    assert "Frank" in _names(two, "claims")
    assert "Frank" in _names(one, "claims")


def test_an_opt_out_through_one_replica_empties_the_others_external_answer(
        replicas: tuple[pipeline.Services, pipeline.Services]) -> None:
    one, two = replicas
    assert _names(two, "claims", Audience.EXTERNAL)
    with one.engine.begin() as conn:
        conn.execute(text("UPDATE people SET opt_out_external = TRUE"))
    assert _names(two, "claims", Audience.EXTERNAL) == []


def test_a_rebuild_through_one_replica_makes_the_others_cache_stale(
        replicas: tuple[pipeline.Services, pipeline.Services]) -> None:
    """`whoknows reindex` (a new synonym map, a new mapping) answers every replica's next
    search from the new index, not from what they cached of the old one."""
    one, two = replicas
    before = _names(two, "claims")
    with one.engine.connect() as conn:
        seen = conn.execute(text("SELECT value FROM search_generation")).scalar()
    one.index.rebuild()
    with one.engine.connect() as conn:
        now = conn.execute(text("SELECT value FROM search_generation")).scalar()
    assert now > seen
    assert two.index.cache.get(ExpertQuery(text="claims", audience=Audience.INTERNAL),
                               now) is None
    assert _names(two, "claims") == before


def test_a_transaction_bumps_the_generation_once_on_postgresql(
        replicas: tuple[pipeline.Services, pipeline.Services], engine_name: str) -> None:
    one, _ = replicas
    if not engine_name.endswith("postgresql"):
        pytest.skip("SQLite bumps per row: one writer at a time, nothing to wait on")
    with one.engine.connect() as conn:
        seen = conn.execute(text("SELECT value FROM search_generation")).scalar()
    with one.engine.begin() as conn:
        conn.execute(text("UPDATE people SET opt_out_external = FALSE"))
        conn.execute(text("UPDATE contributions SET score = score"))
        # deferred to the commit: the row is not locked while the transaction works
        assert conn.execute(text("SELECT value FROM search_generation")).scalar() == seen
    with one.engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM search_generation")).scalar() == seen + 1
