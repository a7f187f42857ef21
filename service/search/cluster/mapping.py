"""What the cluster holds: index names, the index template (analysis and mappings), and
the document made of a contribution.

Contributions are the documents (document-centric expert finding): the person behind a
document is looked up in the store at query time, as identity merges and opt-outs change it
without changing the contribution. Topic scores are read from the store's profiles too, so
the cluster holds no person documents.

Names, for prefix `whoknows-`: documents live in `whoknows-contributions-<stamp>` indices;
searches go through the alias `whoknows-contributions`; an index being built carries the
alias `whoknows-building-<stamp>` so that drains write to it too until the swap.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.reputation.topics import TopicVocabulary
from service.store.db import from_db_time

__all__ = ["IndexNames", "TEXT_FIELDS", "document", "index_template", "synonym_rules"]

#: The searched fields and their boosts, as the SQLite engine weighs its columns.
TEXT_FIELDS = ("title^3", "tags^2", "body")
TEXT_ANALYZER = "whoknows_text"
SEARCH_ANALYZER = "whoknows_search"


@dataclass(frozen=True, slots=True)
class IndexNames:
    prefix: str

    @property
    def alias(self) -> str:
        """The alias every search and drain goes through."""
        return f"{self.prefix}contributions"

    @property
    def pattern(self) -> str:
        return f"{self.prefix}contributions-*"

    @property
    def template(self) -> str:
        return f"{self.prefix}contributions"

    def new_index(self) -> tuple[str, str]:
        """A fresh index name and the alias it carries while it is built."""
        stamp = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
        return f"{self.prefix}contributions-{stamp}", f"{self.prefix}building-{stamp}"

    def is_building_alias(self, name: str) -> bool:
        return name.startswith(f"{self.prefix}building-")


def synonym_rules(vocabulary: TopicVocabulary) -> list[str]:
    """One equivalence rule per topic with synonyms: `alias, alias, canonical`."""
    phrases: dict[str, set[str]] = defaultdict(set)
    for phrase, topic in vocabulary.canonical.items():
        phrases[topic] |= {phrase, topic}
    return [", ".join(sorted(group)) for _, group in sorted(phrases.items()) if len(group) > 1]


def index_template(names: IndexNames, vocabulary: TopicVocabulary) -> dict[str, Any]:
    """The composable index template every contributions index is created from."""
    text = {"type": "text", "analyzer": TEXT_ANALYZER, "search_analyzer": SEARCH_ANALYZER}
    exact = {"type": "keyword", "ignore_above": 256, "normalizer": "whoknows_exact"}
    analysis = {
        # "claim's" -> "claim s": words split at apostrophes, as the SQLite engine splits them
        "char_filter": {"whoknows_apostrophes": {
            "type": "pattern_replace", "pattern": "['\u2019]", "replacement": " "}},
        "filter": {
            "whoknows_stemmer": {"type": "stemmer", "language": "english"},
            # at search time only, where multi-word synonyms work (synonym_graph); the
            # rules pass through the filters before it (lower case), the stemmer follows
            "whoknows_topics": {"type": "synonym_graph", "lenient": True,
                                "synonyms": synonym_rules(vocabulary)},
        },
        "normalizer": {"whoknows_exact": {"type": "custom", "filter": ["lowercase"]}},
        "analyzer": {
            TEXT_ANALYZER: {"type": "custom", "char_filter": ["whoknows_apostrophes"],
                            "tokenizer": "standard",
                            "filter": ["lowercase", "whoknows_stemmer"]},
            SEARCH_ANALYZER: {"type": "custom", "char_filter": ["whoknows_apostrophes"],
                              "tokenizer": "standard",
                              "filter": ["lowercase", "whoknows_topics", "whoknows_stemmer"]},
        },
    }
    mappings = {"dynamic": "strict", "properties": {
        "id": {"type": "long"},
        "source_id": {"type": "keyword"},
        "audience": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "title": {**text, "fields": {"keyword": exact}},
        "body": text,
        "tags": {**text, "fields": {"keyword": exact}},
        "created": {"type": "date"},
    }}
    return {"index_patterns": [names.pattern], "priority": 100,
            "_meta": {"owner": "whoknows"},
            "template": {"settings": {"analysis": analysis}, "mappings": mappings}}


def document(row: Any) -> dict[str, Any]:
    """The search document of a stored contribution row (see `store.outbox`)."""
    created = from_db_time(row.created_at)
    return {"id": row.id, "source_id": row.source_id, "audience": row.audience,
            "kind": row.kind, "title": row.title or "", "body": row.body or "",
            "tags": list(row.tags or []),
            "created": created.isoformat() if created else None}
