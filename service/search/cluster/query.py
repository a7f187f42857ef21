"""The query builder: request bodies for both flavors (the query DSL they share).

Every body that reads documents goes through `_bool`, whose filter always holds the
audience clause: there is no way to build a search without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.model import VISIBLE_AUDIENCES
from service.search.base import ExpertQuery
from service.search.cluster.mapping import TEXT_FIELDS
from service.search.sqlite import MARK_END, MARK_START
from service.store.db import to_utc

__all__ = ["candidates", "enough", "evidence", "frequencies"]

#: Characters of body text around the matches in an evidence snippet.
SNIPPET_CHARS = 160


def _text(words: Sequence[str], operator: str) -> dict[str, Any]:
    # cross_fields: with "and", every word must be in the document, in any of its fields,
    # as in the SQLite engine's `{title body tags} : (a AND b)`
    return {"multi_match": {"query": " ".join(words), "type": "cross_fields",
                            "fields": list(TEXT_FIELDS), "operator": operator}}


def _filters(query: ExpertQuery) -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = [
        {"terms": {"audience": [str(a) for a in VISIBLE_AUDIENCES[query.audience]]}}]
    if query.sources:
        clauses.append({"terms": {"source_id": list(query.sources)}})
    if query.since:
        clauses.append({"range": {"created": {"gte": to_utc(query.since).isoformat()}}})
    return clauses


def _bool(words: Sequence[str], operator: str, query: ExpertQuery,
          *more: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"must": [_text(words, operator)], "filter": [*_filters(query), *more]}}


def frequencies(words: Sequence[str]) -> list[dict[str, Any]]:
    """Counting bodies: the whole index first, then the documents holding each word."""
    return [{"size": 0, "track_total_hits": True, "query": {"match_all": {}}}] + [
        {"size": 0, "track_total_hits": True, "query": _text([word], "or")} for word in words]


def candidates(words: Sequence[str], operator: str, query: ExpertQuery,
               size: int) -> dict[str, Any]:
    """The best documents the audience may see, by BM25 (sorted by score alone, so that
    Lucene can skip the documents that cannot make the top)."""
    return {"size": size, "_source": False, "track_total_hits": False,
            "query": _bool(words, operator, query)}


def enough(words: Sequence[str], operator: str, query: ExpertQuery, count: int
           ) -> dict[str, Any]:
    """Counting the documents the audience may see, up to `count` (no more is counted)."""
    return {"size": 0, "track_total_hits": count, "query": _bool(words, operator, query)}


def evidence(words: Sequence[str], query: ExpertQuery, ids: Sequence[int]) -> dict[str, Any]:
    """These documents with a snippet of their body, the query's words marked « »."""
    return {
        "size": len(ids), "_source": False,
        "query": _bool(words, "or", query, {"ids": {"values": [str(i) for i in ids]}}),
        "highlight": {"pre_tags": [MARK_START], "post_tags": [MARK_END],
                      "fields": {"body": {"fragment_size": SNIPPET_CHARS,
                                          "number_of_fragments": 1,
                                          "no_match_size": SNIPPET_CHARS}}},
    }
