"""The cluster engine's query builder: the audience clause is in every search it builds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from service.model import Audience
from service.reputation.topics import load_vocabulary
from service.search.base import ExpertQuery
from service.search.cluster import query as dsl
from service.search.cluster.mapping import IndexNames, index_template, synonym_rules


def _filters(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(body["query"]["bool"]["filter"])


@pytest.mark.parametrize("audience", list(Audience))
def test_every_document_search_filters_by_the_audience(audience: Audience) -> None:
    query = ExpertQuery("claims", audience, sources=("forum",),
                        since=datetime(2026, 1, 1, tzinfo=UTC))
    visible = {"internal": ["internal", "external", "partner"],
               "external": ["external", "partner"], "partner": ["external", "partner"]}
    for body in (dsl.candidates(["claims"], "and", query, 500),
                 dsl.evidence(["claims"], query, [1, 2])):
        filters = _filters(body)
        assert {"terms": {"audience": visible[audience]}} in filters
        assert {"terms": {"source_id": ["forum"]}} in filters
        assert {"range": {"created": {"gte": "2026-01-01T00:00:00+00:00"}}} in filters


def test_the_template_maps_each_topic_with_its_synonyms() -> None:
    vocabulary = load_vocabulary()
    rules = synonym_rules(vocabulary)
    assert "data privacy, data privacy gdpr, data protection, gdpr, right to be forgotten" in rules
    template = index_template(IndexNames("wk-"), vocabulary)
    assert template["index_patterns"] == ["wk-contributions-*"]
    analysis = template["template"]["settings"]["analysis"]
    assert analysis["filter"]["whoknows_topics"]["synonyms"] == rules
