"""The embedded search engine: SQLite FTS5 in the store's own file.

Documents are contributions (rowid = contribution id); BM25 ranks them, the best
documents are aggregated per person (document-centric expert finding, Balog's Model 2)
and combined with the person's topic scores on the query's topics.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from service.model import VISIBLE_AUDIENCES, Audience
from service.reputation.topics import TopicVocabulary, tokens
from service.search.base import (
    EvidenceHit,
    ExpertHit,
    ExpertQuery,
    MatchedTopic,
    QueryError,
    SearchResult,
)
from service.store.db import from_db_time

__all__ = ["SqliteExpertIndex", "fts5_available"]

#: How many best documents are aggregated, overall and per person.
CANDIDATE_DOCS = 1000
DOCS_PER_PERSON = 5
EVIDENCE_PER_HIT = 3
#: Weight of text relevance against topic reputation in the final score.
RELEVANCE_WEIGHT = 0.6
MARK_START, MARK_END = "«", "»"
_BM25 = "bm25(contribution_fts, 3.0, 1.0, 2.0)"


def fts5_available(engine: Engine) -> bool:
    """Return whether this SQLite build has FTS5."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        options = {row[0] for row in conn.exec_driver_sql("PRAGMA compile_options")}
    return "ENABLE_FTS5" in options


class SqliteExpertIndex:
    """`ExpertIndex` on SQLite FTS5, living in the store's database file."""

    def __init__(self, engine: Engine, vocabulary: TopicVocabulary) -> None:
        if engine.dialect.name != "sqlite":
            raise ValueError("the sqlite search engine needs a SQLite store")
        self.engine = engine
        self.vocabulary = vocabulary
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE VIRTUAL TABLE IF NOT EXISTS contribution_fts USING fts5("
                "title, body, tags, tokenize = 'porter unicode61')"
            )

    def update(self, changed: Sequence[int], removed: Sequence[int],
               conn: Connection | None = None) -> None:
        """Refresh changed contributions and drop removed ones (in `conn`'s transaction
        when given, so the index commits with the batch)."""
        if conn is None:
            with self.engine.begin() as own:
                self._update(own, changed, removed)
        else:
            self._update(conn, changed, removed)

    def _update(self, conn: Connection, changed: Sequence[int], removed: Sequence[int]) -> None:
        ids = list(changed) + list(removed)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            conn.exec_driver_sql(f"DELETE FROM contribution_fts WHERE rowid IN ({marks})",
                                 tuple(chunk))
        changed = list(changed)
        for start in range(0, len(changed), 500):
            chunk = changed[start:start + 500]
            marks = ",".join("?" * len(chunk))
            conn.exec_driver_sql(
                "INSERT INTO contribution_fts(rowid, title, body, tags) "
                f"SELECT id, title, body, tags FROM contributions WHERE id IN ({marks}) "
                "AND NOT deleted",
                tuple(chunk),
            )

    def rebuild(self) -> int:
        with self.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM contribution_fts")
            conn.exec_driver_sql(
                "INSERT INTO contribution_fts(rowid, title, body, tags) "
                "SELECT id, title, body, tags FROM contributions WHERE NOT deleted"
            )
            conn.exec_driver_sql(
                "INSERT INTO contribution_fts(contribution_fts) VALUES ('optimize')")
            return int(conn.exec_driver_sql("SELECT count(*) FROM contribution_fts").scalar()
                       or 0)

    def search(self, query: ExpertQuery) -> SearchResult:
        words = tokens(query.text)
        if not words:
            raise QueryError("q: the query has no words to search for")
        match = " OR ".join(f'"{word}"' for word in dict.fromkeys(words))
        scope = "all" if query.audience == Audience.INTERNAL else "public"
        topics = self._query_topics(query.text)
        with self.engine.connect() as conn:
            docs = self._documents(conn, match, query)
            people = self._aggregate(docs)
            topic_scores = self._topic_scores(conn, scope, topics, list(people))
            ranked = _rank(people, topic_scores)
            total = len(ranked)
            page = ranked[query.offset:query.offset + query.limit]
            hits = self._hits(conn, match, page, people, topic_scores)
        return SearchResult(hits=hits, total=total, query_topics=sorted(topics))

    def _query_topics(self, text_: str) -> set[str]:
        topics = self.vocabulary.from_text(text_)
        whole = self.vocabulary.normalise(text_)
        if whole:
            topics.add(whole)
        return topics

    def _documents(self, conn: Connection, match: str, query: ExpertQuery) -> list[Any]:
        audiences = [str(a) for a in VISIBLE_AUDIENCES[query.audience]]
        params: dict[str, Any] = {"match": match, "limit": CANDIDATE_DOCS}
        where = ["contribution_fts MATCH :match", "NOT c.deleted"]
        where.append("c.audience IN (" + ",".join(f":aud{i}" for i in range(len(audiences))) + ")")
        params.update({f"aud{i}": a for i, a in enumerate(audiences)})
        if query.audience != Audience.INTERNAL:
            where.append("NOT p.opt_out_external")
        if query.sources:
            where.append("c.source_id IN (" + ",".join(
                f":src{i}" for i in range(len(query.sources))) + ")")
            params.update({f"src{i}": s for i, s in enumerate(query.sources)})
        if query.since is not None:
            where.append("c.created_at >= :since")
            params["since"] = query.since.strftime("%Y-%m-%d %H:%M:%S")
        sql = (
            f"SELECT c.id, l.person_id, -{_BM25} AS rel FROM contribution_fts "
            "JOIN contributions c ON c.id = contribution_fts.rowid "
            "JOIN identity_links l ON l.identity_id = c.author_identity_id "
            "JOIN people p ON p.id = l.person_id "
            f"WHERE {' AND '.join(where)} ORDER BY {_BM25} LIMIT :limit"
        )
        return list(conn.execute(text(sql), params))

    @staticmethod
    def _aggregate(docs: list[Any]) -> dict[int, list[tuple[int, float]]]:
        people: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for doc_id, person_id, rel in docs:
            if len(people[person_id]) < DOCS_PER_PERSON:
                people[person_id].append((doc_id, rel))
        return people

    @staticmethod
    def _topic_scores(
        conn: Connection, scope: str, topics: set[str], person_ids: list[int]
    ) -> dict[int, list[MatchedTopic]]:
        found: dict[int, list[MatchedTopic]] = defaultdict(list)
        if not topics or not person_ids:
            return found
        topic_list = sorted(topics)
        for start in range(0, len(person_ids), 500):
            chunk = person_ids[start:start + 500]
            sql = (
                "SELECT person_id, topic, score, level FROM profile_topics WHERE scope = ? "
                f"AND topic IN ({','.join('?' * len(topic_list))}) "
                f"AND person_id IN ({','.join('?' * len(chunk))})"
            )
            for person_id, topic, score, level in conn.exec_driver_sql(
                sql, (scope, *topic_list, *chunk)
            ):
                found[person_id].append(MatchedTopic(topic, score, level))
        return found

    def _hits(
        self, conn: Connection, match: str, page: list[tuple[int, float, float, float]],
        people: dict[int, list[tuple[int, float]]], topic_scores: dict[int, list[MatchedTopic]],
    ) -> list[ExpertHit]:
        if not page:
            return []
        ids = [pid for pid, *_ in page]
        marks = ",".join("?" * len(ids))
        info = {row[0]: row for row in conn.exec_driver_sql(
            f"SELECT id, display_name, department FROM people WHERE id IN ({marks})",
            tuple(ids))}
        evidence_ids = [doc for pid in ids for doc, _ in people[pid][:EVIDENCE_PER_HIT]]
        evidence = self._evidence(conn, match, evidence_ids)
        hits = []
        for person_id, score, relevance, topic_score in page:
            docs = people[person_id][:EVIDENCE_PER_HIT]
            hits.append(ExpertHit(
                person_id=person_id, display_name=info[person_id][1],
                department=info[person_id][2], score=round(score, 4),
                relevance=round(relevance, 4), topic_score=round(topic_score, 4),
                matched_topics=sorted(topic_scores.get(person_id, []), key=lambda t: -t.score),
                evidence=[_with_relevance(evidence[doc], rel) for doc, rel in docs
                          if doc in evidence],
            ))
        return hits

    @staticmethod
    def _evidence(conn: Connection, match: str, ids: list[int]) -> dict[int, EvidenceHit]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        sql = (
            "SELECT c.id, c.source_id, c.audience, c.kind, "
            "COALESCE(NULLIF(c.title, ''), root.title, ''), c.url, c.created_at, "
            f"snippet(contribution_fts, 1, '{MARK_START}', '{MARK_END}', '…', 24) "
            "FROM contribution_fts JOIN contributions c ON c.id = contribution_fts.rowid "
            # an answer or a comment has no title of its own: show its thread's
            "LEFT JOIN contributions root ON root.source_id = c.source_id "
            "AND root.external_id = c.thread_external_id "
            f"WHERE contribution_fts MATCH ? AND contribution_fts.rowid IN ({marks})"
        )
        return {
            row[0]: EvidenceHit(row[0], row[1], row[2], row[3], row[4], row[5],
                                from_db_time(row[6]), row[7], 0.0)
            for row in conn.exec_driver_sql(sql, (match, *ids))
        }


def _with_relevance(hit: EvidenceHit, relevance: float) -> EvidenceHit:
    hit.relevance = round(relevance, 4)
    return hit


def _rank(
    people: dict[int, list[tuple[int, float]]], topic_scores: dict[int, list[MatchedTopic]]
) -> list[tuple[int, float, float, float]]:
    """Return (person, final score, relevance, topic score), best first."""
    relevance = {pid: sum(rel for _, rel in docs) for pid, docs in people.items()}
    topic = {pid: sum(t.score for t in topic_scores.get(pid, [])) for pid in people}
    best_rel = max(relevance.values(), default=0.0) or 1.0
    best_topic = max(topic.values(), default=0.0) or 1.0
    # The square root keeps a clear expert ahead of an occasional contributor without
    # letting a huge score drown the text relevance.
    ranked = [
        (pid,
         RELEVANCE_WEIGHT * relevance[pid] / best_rel
         + (1 - RELEVANCE_WEIGHT) * math.sqrt(topic[pid] / best_topic),
         relevance[pid], topic[pid])
        for pid in people
    ]
    ranked.sort(key=lambda item: (-item[1], item[0]))
    return ranked
