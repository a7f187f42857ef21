"""The embedded search engine: SQLite FTS5 in the store's own file.

Documents are contributions (rowid = contribution id); BM25 ranks them, each document's
relevance fades with its age at its source's half-life (as its reputation value does),
and `service.search.candidates` and `service.search.ranking` turn the documents into
ranked people (the same for every engine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from service.model import VISIBLE_AUDIENCES, Audience
from service.reputation.topics import TopicVocabulary, tokens
from service.search.base import EvidenceHit, ExpertHit, ExpertQuery, QueryError, SearchResult
from service.search.candidates import candidates, scope_of, topic_scores, visible_documents
from service.search.ranking import DEFAULT_WEIGHTS, Candidate, RankedPerson, RankingWeights, rank
from service.search.result_cache import ResultCache
from service.search.suggest import corrections, spelled
from service.store import generation
from service.store.db import chunks, from_db_time

__all__ = ["SqliteExpertIndex", "fts5_available"]

#: How many best documents a query scores (per person: candidates.DOCS_PER_PERSON).
CANDIDATE_DOCS = 500
EVIDENCE_PER_HIT = 3
MARK_START, MARK_END = "«", "»"
_BM25 = "bm25(contribution_fts, 3.0, 1.0, 2.0, 0.0)"
_TEXT_COLUMNS = "{title body tags}"
#: At most this many matching documents (the newest) are scored per query.
MAX_SCORED = 5000
#: Take the documents matching all words when at least this many do.
ENOUGH_DOCS = 100
#: A word in more documents than this (a fraction of the index, at least the minimum)
#: is too common to tell experts apart.
FREQUENT_FRACTION = 0.02
FREQUENT_MIN = 5000
# facets holds tokens for filters inside the match itself (audience: audinternal, ...).
_INSERT_FTS = (
    "INSERT INTO contribution_fts(rowid, title, body, tags, facets) "
    "SELECT id, title, body, tags, 'aud' || audience FROM contributions"
)
STOPWORDS = frozenset(
    "a about an and are as at be by can do does for from had has have how i in is it its "
    "me my no not of on or our so that the their them there these this to was we what "
    "when where which who why will with without you your".split()
)


def fts5_available(engine: Engine) -> bool:
    """Return whether this SQLite build has FTS5."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        options = {row[0] for row in conn.exec_driver_sql("PRAGMA compile_options")}
    return "ENABLE_FTS5" in options


class SqliteExpertIndex:
    """`ExpertIndex` on SQLite FTS5, living in the store's database file.

    A document's relevance is its BM25 × `age_decay` at its source's half-life (else
    `default_half_life_days`), its age taken at `clock()` (default: now).

    Results are cached per process (`cache`; `ResultCache(0)` turns it off) for one
    search generation (`service.store.generation`): `update` and `rebuild` bump it in
    their own transaction, and the store's triggers on every write to the other tables a
    search reads (opt-outs, merges, profile scores), so every process sees every change at
    once.
    """

    def __init__(self, engine: Engine, vocabulary: TopicVocabulary,
                 default_half_life_days: float = 365.0,
                 clock: Callable[[], datetime] | None = None,
                 cache: ResultCache | None = None,
                 weights: RankingWeights = DEFAULT_WEIGHTS, max_scored: int = MAX_SCORED
                 ) -> None:
        if engine.dialect.name != "sqlite":
            raise ValueError("the sqlite search engine needs a SQLite store")
        self.engine = engine
        self.vocabulary = vocabulary
        self.default_half_life_days = default_half_life_days
        self.clock = clock or (lambda: datetime.now(UTC))
        self.cache = cache if cache is not None else ResultCache()
        self.weights = weights
        #: at most this many matches (the newest) are scored per query (bench/relevance/
        #: bounded.py compares the top 10 with exact scoring)
        self.max_scored = max_scored
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE VIRTUAL TABLE IF NOT EXISTS contribution_fts USING fts5("
                "title, body, tags, facets, tokenize = 'porter unicode61')"
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
        if ids:
            generation.bump(conn)
        for chunk in chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            conn.exec_driver_sql(f"DELETE FROM contribution_fts WHERE rowid IN ({marks})",
                                 tuple(chunk))
        changed = list(changed)
        for chunk in chunks(changed, 500):
            marks = ",".join("?" * len(chunk))
            conn.exec_driver_sql(
                f"{_INSERT_FTS} WHERE id IN ({marks}) "
                "AND NOT deleted",
                tuple(chunk),
            )

    def add(self, conn: Connection, ids: Sequence[int]) -> None:
        """Index contributions stored just now that were never indexed (a bulk load's
        batch), in `conn`'s transaction: `update` without its deletes, and a range scan
        when the ids run consecutively (they do in a bulk load)."""
        if not ids:
            return
        generation.bump(conn)
        low, high = min(ids), max(ids)
        if high - low + 1 == len(ids):
            conn.exec_driver_sql(f"{_INSERT_FTS} WHERE id BETWEEN ? AND ? AND NOT deleted",
                                 (low, high))
            return
        for chunk in chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            conn.exec_driver_sql(f"{_INSERT_FTS} WHERE id IN ({marks}) AND NOT deleted",
                                 tuple(chunk))

    def rebuild(self) -> int:
        with self.engine.begin() as conn:
            generation.bump(conn)
            conn.exec_driver_sql("DELETE FROM contribution_fts")
            conn.exec_driver_sql(f"{_INSERT_FTS} WHERE NOT deleted")
            conn.exec_driver_sql(
                "INSERT INTO contribution_fts(contribution_fts) VALUES ('optimize')")
            return int(conn.exec_driver_sql("SELECT count(*) FROM contribution_fts").scalar()
                       or 0)

    def search(self, query: ExpertQuery) -> SearchResult:
        words = list(dict.fromkeys(tokens(query.text)))
        if not words:
            raise QueryError("q: the query has no words to search for")
        with self.engine.connect() as conn:
            # read before searching: a change committed meanwhile makes the entry stale
            seen = generation.current(conn)
            result = self.cache.get(query, seen)
            if result is None:
                result = self._search(conn, words, query)
                self.cache.put(query, seen, result)
        return result

    def candidates(self, query: ExpertQuery, weights: RankingWeights | None = None
                   ) -> dict[int, Candidate]:
        """Everyone the query finds, with their signals, unranked (for fitting weights:
        bench/relevance/fit.py); the signals `weights` weighs (default: the index's)."""
        words = list(dict.fromkeys(tokens(query.text)))
        if not words:
            raise QueryError("q: the query has no words to search for")
        with self.engine.connect() as conn:
            return self._gather(conn, words, query, weights or self.weights)[1]

    def _gather(self, conn: Connection, words: list[str], query: ExpertQuery,
                weights: RankingWeights) -> tuple[str, dict[int, Candidate], set[str]]:
        topics = self._query_topics(query.text)
        match, ranked = self._documents(conn, self._useful_words(conn, words), query)
        now = self.clock()
        docs = visible_documents(conn, ranked, query, now, self.default_half_life_days)
        return match, candidates(conn, docs, query, topics, now, weights), topics

    def _search(self, conn: Connection, words: list[str], query: ExpertQuery) -> SearchResult:
        match, found, topics = self._gather(conn, words, query, self.weights)
        ranking = rank(list(found.values()), self.weights, query.offset + query.limit)
        page = ranking[query.offset:query.offset + query.limit]
        # the corrected query's topics are shown (matched topics), not ranked on
        suggestion = self._did_you_mean(conn, words, query)
        shown = topics | (self._query_topics(suggestion) if suggestion else set())
        hits = self._hits(conn, match, page, found, scope_of(query), shown)
        if query.audience != Audience.INTERNAL:
            # the department comes from the internal directory
            for hit in hits:
                hit.department = None
        return SearchResult(hits=hits, total=len(ranking), query_topics=sorted(shown),
                            did_you_mean=suggestion)

    def _did_you_mean(self, conn: Connection, words: list[str], query: ExpertQuery
                      ) -> str | None:
        """The query with its misspelled words corrected (`service.search.suggest`), a word
        being missing when no document of the query's view holds it."""
        def missing(word: str) -> bool:
            return conn.exec_driver_sql(
                "SELECT 1 FROM contribution_fts WHERE contribution_fts MATCH ? LIMIT 1",
                (f'{_TEXT_COLUMNS} : "{word}"{_facet(query.audience)}',)).first() is None

        fixes = corrections(words, self.vocabulary.words, missing, STOPWORDS)
        return spelled(query.text, fixes) if fixes else None

    def _query_topics(self, text_: str) -> set[str]:
        topics = self.vocabulary.from_text(text_)
        whole = self.vocabulary.normalise(text_)
        if whole:
            topics.add(whole)
        return topics

    def _useful_words(self, conn: Connection, words: list[str]) -> list[str]:
        """Drop stop words and words in so many documents that they cannot tell experts
        apart (their BM25 weight is tiny, but scoring their matches costs the most); keep
        the rarest word when every word is that common."""
        kept = [w for w in words if w not in STOPWORDS] or words
        newest = conn.exec_driver_sql(
            "SELECT rowid FROM contribution_fts ORDER BY rowid DESC LIMIT 1").scalar() or 0
        limit = max(FREQUENT_MIN, int(newest * FREQUENT_FRACTION))
        counts = {
            word: conn.exec_driver_sql(
                "SELECT count(*) FROM (SELECT rowid FROM contribution_fts WHERE "
                "contribution_fts MATCH ? LIMIT ?)", (f'{_TEXT_COLUMNS} : "{word}"', limit),
            ).scalar() or 0
            for word in kept
        }
        useful = [word for word in kept if 0 < counts[word] < limit]
        if not useful:
            present = [word for word in kept if counts[word]]
            useful = [min(present, key=counts.__getitem__)] if present else kept[:1]
        return useful

    def _documents(
        self, conn: Connection, words: list[str], query: ExpertQuery
    ) -> tuple[str, list[tuple[int, float]]]:
        """Return the match expression used and the best (doc, BM25) rows: all words
        first, any word when too few documents have all in the public view (the store
        checks the audience again)."""
        quoted = [f'"{word}"' for word in words]
        expressions = [" AND ".join(quoted), " OR ".join(quoted)] if len(quoted) > 1 else quoted
        # The audience is part of the full-text match itself, and checked again below.
        facet = _facet(query.audience)
        filtered = bool(query.sources or query.since)
        limit = CANDIDATE_DOCS * (5 if filtered else 1)
        match, ranked = "", list[Any]()
        for expression in expressions:
            match = f"{_TEXT_COLUMNS} : ({expression}){facet}"
            # BM25 costs the same for every match: score only the newest max_scored
            # matches (exact whenever fewer match), so a common word stays fast.
            ranked = list(conn.exec_driver_sql(
                f"SELECT rowid, rel FROM (SELECT rowid, -{_BM25} AS rel FROM contribution_fts "
                "WHERE contribution_fts MATCH ? ORDER BY rowid DESC LIMIT ?) "
                "ORDER BY rel DESC LIMIT ?", (match, self.max_scored, limit)).all())
            if len(ranked) >= ENOUGH_DOCS and self._enough_in_public(conn, expression, query):
                break
        return match, [(int(row[0]), float(row[1])) for row in ranked]

    @staticmethod
    def _enough_in_public(conn: Connection, expression: str, query: ExpertQuery) -> bool:
        """Whether ENOUGH_DOCS documents of the public view match `expression`. The
        switch from all words to any word is decided there for every audience: decided
        in each view, the internal view (more documents) kept all words where the
        external one fell back to any word, and found fewer people than it (issue 21:
        29 against 54 for "medical insurance claims"); decided in the internal view, an
        external answer would tell how many internal documents match."""
        if query.audience != Audience.INTERNAL:
            return True  # the external and partner views are the public view
        public = f"{_TEXT_COLUMNS} : ({expression}){_facet(Audience.EXTERNAL)}"
        found = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT rowid FROM contribution_fts "
            "WHERE contribution_fts MATCH ? LIMIT ?)", (public, ENOUGH_DOCS)).scalar()
        return int(found or 0) >= ENOUGH_DOCS

    def _hits(self, conn: Connection, match: str, page: list[RankedPerson],
              found: dict[int, Candidate], scope: str, topics: set[str]) -> list[ExpertHit]:
        if not page:
            return []
        ids = [person.person_id for person in page]
        marks = ",".join("?" * len(ids))
        info = {row[0]: row for row in conn.exec_driver_sql(
            f"SELECT id, display_name, department FROM people WHERE id IN ({marks})",
            tuple(ids))}
        matched = topic_scores(conn, scope, topics, ids)
        evidence_ids = [doc for pid in ids for doc, *_ in found[pid].docs[:EVIDENCE_PER_HIT]]
        evidence = self._evidence(conn, match, evidence_ids)
        hits = []
        for person in page:
            docs = found[person.person_id].docs[:EVIDENCE_PER_HIT]
            hits.append(ExpertHit(
                person_id=person.person_id, display_name=info[person.person_id][1],
                department=info[person.person_id][2], score=round(person.score, 4),
                relevance=round(person.text, 4),
                topic_score=round(sum(t.score for t in matched.get(person.person_id, [])), 4),
                matched_topics=sorted(matched.get(person.person_id, []),
                                      key=lambda t: -t.score),
                evidence=[_with_relevance(evidence[doc], rel) for doc, rel, _ in docs
                          if doc in evidence],
                signals=person.signals,
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


def _facet(audience: Audience) -> str:
    """The match clause keeping the audience's documents (none for the internal view)."""
    if audience == Audience.INTERNAL:
        return ""
    return " AND facets : (" + " OR ".join(f"aud{a}" for a in VISIBLE_AUDIENCES[audience]) + ")"


def _with_relevance(hit: EvidenceHit, relevance: float) -> EvidenceHit:
    hit.relevance = round(relevance, 4)
    return hit
