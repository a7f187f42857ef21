"""The `ExpertIndex` interface every search engine implements, and its records.

A query ranks people, not documents: the relevance of each person's contributions to
the query (BM25) is aggregated per person and combined with the other signals of
`service.search.ranking` (matching threads they answered, topic scores, activity). The
audience is a required part of every query: an external or partner query never sees an
internal contribution, its title, snippet or URL, nor a person who opted out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from service.model import Audience
from service.search.ranking import Signal

__all__ = ["EvidenceHit", "ExpertHit", "ExpertIndex", "ExpertQuery", "MatchedTopic",
           "QueryError", "SearchResult"]


class QueryError(ValueError):
    """The query cannot be run (e.g. it has no words); the message says why."""


@dataclass(frozen=True, slots=True)
class ExpertQuery:
    text: str
    audience: Audience
    sources: tuple[str, ...] = ()
    since: datetime | None = None
    limit: int = 10
    offset: int = 0


@dataclass(slots=True)
class EvidenceHit:
    contribution_id: int
    source_id: str
    audience: str
    kind: str
    title: str
    url: str | None
    created: datetime | None
    snippet: str
    relevance: float


@dataclass(slots=True)
class MatchedTopic:
    topic: str
    score: float
    level: str


@dataclass(slots=True)
class ExpertHit:
    person_id: int
    display_name: str
    department: str | None
    score: float
    relevance: float
    topic_score: float
    matched_topics: list[MatchedTopic] = field(default_factory=list)
    evidence: list[EvidenceHit] = field(default_factory=list)
    #: why the person ranks here: each signal's value, weight and points (score = Σ points)
    signals: list[Signal] = field(default_factory=list)


@dataclass(slots=True)
class SearchResult:
    hits: list[ExpertHit]
    #: people found in all (for paging)
    total: int
    query_topics: list[str]
    #: the query with its misspelled words corrected from the topic vocabulary, if any
    did_you_mean: str | None = None


class ExpertIndex(Protocol):
    """A search engine over contributions that ranks people."""

    def update(self, changed: Sequence[int], removed: Sequence[int]) -> None:
        """Refresh these contributions in the index and drop the removed ones."""

    def rebuild(self) -> int:
        """Rebuild the whole index from the store; return how many documents it holds."""

    def search(self, query: ExpertQuery) -> SearchResult:
        """Rank people for the query; raise `QueryError` when it cannot run."""
