"""Who knows what on the embedded engine: ranking people, filters, and the audience wall."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

import pytest

from service import pipeline
from service.connectors.base import Page
from service.model import Audience
from service.search.base import ExpertQuery, QueryError
from tests.records import author, record

MARKER = "ZQXV-INTERNAL-ONLY"


def _load(services: pipeline.Services, source: str, records: list) -> None:  # type: ignore[type-arg]
    pipeline.ingest_pages(services, source, [Page(records, cursor=None)], full_pass=False)


@pytest.fixture
def community(services: pipeline.Services) -> pipeline.Services:
    _load(services, "blog", [
        record("b1", "dana", kind="blog_post", email="dana@corp.example",
               title=f"Claims adjudication internals {MARKER}",
               text=f"Our medical insurance claims engine {MARKER} runs nightly",
               tags=["claims adjudication"], url="https://intranet.example/b1"),
        record("b2", "dana", kind="blog_post", email="dana@corp.example", day=2,
               title="Kubernetes at the claims team", text="k8s deployment notes",
               tags=["kubernetes"]),
    ])
    _load(services, "forum", [
        record("q1", "cust1", kind="question", email="c1@customer.example",
               title="How are medical insurance claims adjudicated?",
               text="We submit medical claims and wait", tags=["claims"]),
        record("a1", "dana_f", email="dana@corp.example", thread="q1", accepted=True,
               score=4, liked_by=[author("cust1")], likes=1,
               text="Medical insurance claims go through adjudication rules"),
        record("a2", "cust2", email="c2@customer.example", thread="q1",
               text="I think claims take a week"),
        record("q2", "cust2", kind="question", email="c2@customer.example", day=40,
               title="Billing question", text="Where do I find my invoices?",
               tags=["billing"]),
    ])
    return services


def _search(services: pipeline.Services, text: str, audience: Audience = Audience.INTERNAL,
            **options: object):  # type: ignore[no-untyped-def]
    return services.index.search(ExpertQuery(text=text, audience=audience, **options))  # type: ignore[arg-type]


def test_the_person_with_the_accepted_answer_and_the_blog_ranks_first(
    community: pipeline.Services,
) -> None:
    result = _search(community, "medical insurance claims")
    assert [hit.display_name for hit in result.hits][0] == "Dana"
    top = result.hits[0]
    assert "medical insurance claims" in [t.topic for t in top.matched_topics]
    assert any("«" in ev.snippet for ev in top.evidence)
    # one person across blog and forum: both sources appear in the evidence
    assert {ev.source_id for ev in top.evidence} == {"blog", "forum"}


def test_an_external_search_never_sees_internal_text(community: pipeline.Services) -> None:
    for text in ("medical insurance claims", MARKER, "claims adjudication internals nightly",
                 "kubernetes"):
        for audience in (Audience.EXTERNAL, Audience.PARTNER):
            result = _search(community, text, audience, limit=50)
            dumped = json.dumps([asdict(hit) for hit in result.hits], default=str)
            assert MARKER not in dumped
            assert "intranet.example" not in dumped
            assert all(hit.department is None for hit in result.hits)
            assert all(ev.audience != "internal" for hit in result.hits for ev in hit.evidence)
    internal = json.dumps([asdict(h) for h in _search(community, MARKER).hits], default=str)
    assert MARKER in internal  # the marker is there to be found by the internal view


def test_filters_by_source_and_since(community: pipeline.Services) -> None:
    blog_only = _search(community, "claims", sources=("blog",))
    assert {ev.source_id for hit in blog_only.hits for ev in hit.evidence} == {"blog"}
    recent = _search(community, "billing invoices claims",
                     since=datetime(2026, 10, 20, tzinfo=UTC))
    assert [hit.display_name for hit in recent.hits] == ["Cust2"]


def test_a_query_without_words_is_refused(community: pipeline.Services) -> None:
    with pytest.raises(QueryError, match="q:"):
        _search(community, "  ?! ")


def test_a_deleted_contribution_leaves_the_index(community: pipeline.Services) -> None:
    _load(community, "forum", [record("q2", "cust2", kind="question", deleted=True,
                                      email="c2@customer.example", day=40, title="Billing",
                                      text="invoices")])
    assert _search(community, "invoices").hits == []


def test_rebuild_gives_the_same_answers(community: pipeline.Services) -> None:
    before = [(h.person_id, h.score) for h in _search(community, "medical claims").hits]
    pipeline.rebuild(community)
    after = [(h.person_id, h.score) for h in _search(community, "medical claims").hits]
    assert after == before
