"""The embedded engine's result cache: every write a search reads invalidates it, in every
process, and the audience is part of what a cached answer is for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from service import pipeline
from service.config import ConfigError, load_config
from service.model import Audience
from service.search.base import ExpertQuery
from service.search.result_cache import ResultCache
from service.search.sqlite import SqliteExpertIndex
from service.store.db import open_engine
from tests.records import record
from tests.search.conftest import BLOG, FORUM, MARKER, load


@pytest.fixture
def loaded(services: pipeline.Services) -> pipeline.Services:
    """Dana's internal blog post and a customer's question, on the embedded engine."""
    load(services, "blog", BLOG[:1])
    load(services, "forum", FORUM[:1])
    return services


@pytest.fixture
def other_process(loaded: pipeline.Services) -> Iterator[SqliteExpertIndex]:
    """The index as another worker sees it: its own engine and its own cache."""
    engine = open_engine(loaded.config.database.url, run_migrations=False)
    yield SqliteExpertIndex(engine, loaded.vocabulary, clock=loaded.index.clock)  # type: ignore[union-attr]
    engine.dispose()


def _names(index: object, words: str, audience: Audience = Audience.INTERNAL) -> list[str]:
    result = index.search(ExpertQuery(text=words, audience=audience))  # type: ignore[attr-defined]
    return [hit.display_name for hit in result.hits]


def test_a_repeated_search_is_answered_from_the_cache(loaded: pipeline.Services) -> None:
    first = loaded.index.search(ExpertQuery(text="claims", audience=Audience.INTERNAL))
    # dropping the index behind the engine's back leaves the generation as it was
    with loaded.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM contribution_fts")
    assert loaded.index.search(ExpertQuery(text="claims", audience=Audience.INTERNAL)) == first


def test_a_new_contribution_shows_up_in_the_next_search_in_every_process(
    loaded: pipeline.Services, other_process: SqliteExpertIndex,
) -> None:
    assert "Erin" not in _names(loaded.index, "claims")
    assert "Erin" not in _names(other_process, "claims")
    load(loaded, "forum", [
        record("a9", "erin", email="erin@customer.example", thread="q1",
               text="Medical claims adjudication rules explained")])
    assert "Erin" in _names(loaded.index, "claims")
    assert "Erin" in _names(other_process, "claims")


def test_an_external_search_never_gets_the_cached_internal_answer(
    loaded: pipeline.Services,
) -> None:
    internal = loaded.index.search(ExpertQuery(text="claims engine", audience=Audience.INTERNAL))
    assert any(MARKER in e.snippet for hit in internal.hits for e in hit.evidence)
    external = loaded.index.search(ExpertQuery(text="claims engine", audience=Audience.EXTERNAL))
    assert MARKER not in repr(external)


def test_an_opt_out_written_by_another_process_empties_the_cached_external_answer(
    loaded: pipeline.Services, other_process: SqliteExpertIndex,
) -> None:
    assert "Cust1" in _names(other_process, "claims", Audience.EXTERNAL)
    with loaded.engine.begin() as conn:
        conn.execute(text("UPDATE people SET opt_out_external = 1"))
    assert _names(other_process, "claims", Audience.EXTERNAL) == []


def test_changing_what_the_caller_got_does_not_change_the_cache(
    loaded: pipeline.Services,
) -> None:
    got = loaded.index.search(ExpertQuery(text="claims", audience=Audience.INTERNAL))
    got.hits[0].display_name = "changed"
    again = loaded.index.search(ExpertQuery(text="claims", audience=Audience.INTERNAL))
    assert again.hits[0].display_name != "changed"


def test_a_cached_answer_expires_after_its_ttl_and_the_oldest_goes_first() -> None:
    from service.search.base import SearchResult

    now = [0.0]
    cache = ResultCache(size=2, ttl=60.0, clock=lambda: now[0])
    queries = [ExpertQuery(text=w, audience=Audience.INTERNAL) for w in ("a", "b", "c")]
    results = [SearchResult(hits=[], total=0, query_topics=[q.text]) for q in queries]
    for query, result in zip(queries, results, strict=True):
        cache.put(query, 7, result)
    assert cache.get(queries[0], 7) is None
    assert cache.get(queries[2], 7) == results[2]
    assert cache.get(queries[2], 8) is None
    now[0] = 61.0
    assert cache.get(queries[1], 7) is None


def test_a_cache_of_size_zero_is_off() -> None:
    from service.search.base import SearchResult

    cache = ResultCache(size=0)
    query = ExpertQuery(text="a", audience=Audience.INTERNAL)
    cache.put(query, 1, SearchResult(hits=[], total=0, query_topics=[]))
    assert cache.get(query, 1) is None


def test_the_cache_is_configured_and_can_be_turned_off(config_file: Path) -> None:
    """`[search] result_cache_size = 0` (or WHOKNOWS_SEARCH_RESULT_CACHE_SIZE=0): every
    search reads the index, so a change behind the engine's back shows at once."""
    off = pipeline.open_services(load_config(config_file, environ={
        "WHOKNOWS_SEARCH_RESULT_CACHE_SIZE": "0"}))
    try:
        load(off, "forum", [record("q1", "cust1", kind="question", title="Claims question",
                                    text="medical claims", tags=["claims"])])
        assert _names(off.index, "claims") == ["Cust1"]
        with off.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM contribution_fts")
        assert _names(off.index, "claims") == []
    finally:
        off.engine.dispose()
    with pytest.raises(ConfigError, match="search.result_cache_seconds"):
        load_config(config_file, environ={"WHOKNOWS_SEARCH_RESULT_CACHE_SECONDS": "-1"})
