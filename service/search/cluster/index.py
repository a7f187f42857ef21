"""`ExpertIndex` on an Elasticsearch or OpenSearch cluster.

Writes go through the store's outbox (`service.store.outbox`): `update` notes the changed
contributions in the caller's transaction, `drain` pushes them with the client's bulk
helper. Every document write carries an external version, the time its state was read
from the store, so a late write of an older state (two drains, or a drain racing a rebuild)
is refused by the cluster instead of overwriting a newer one.

`rebuild` writes a fresh index from the store and swaps the alias atomically: searches see
the old index, complete, until the new one is complete. While it is built the new index
carries a building alias, and drains write to every such alias too, so changes made during
the build are not lost at the swap.

Ranking is the SQLite engine's (one formula for every engine): the cluster ranks
documents by BM25, the store maps them to people and fades each document's relevance with
its age at its source's half-life (`service.search.candidates`), and `service.search.ranking`
orders the people.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from service.config import SearchConfig
from service.model import VISIBLE_AUDIENCES, Audience
from service.reputation.topics import TopicVocabulary, tokens
from service.search.base import EvidenceHit, ExpertHit, ExpertQuery, QueryError, SearchResult
from service.search.candidates import candidates, scope_of, topic_scores, visible_documents
from service.search.cluster import query as dsl
from service.search.cluster.client import Cluster, ClusterError
from service.search.cluster.mapping import IndexNames, document, index_template
from service.search.cluster.people import display_names
from service.search.ranking import DEFAULT_WEIGHTS, Candidate, RankingWeights, rank
from service.search.result_cache import ResultCache
from service.search.sqlite import (
    CANDIDATE_DOCS,
    ENOUGH_DOCS,
    EVIDENCE_PER_HIT,
    FREQUENT_FRACTION,
    FREQUENT_MIN,
    STOPWORDS,
)
from service.search.suggest import corrections, spelled
from service.store import generation, outbox
from service.store.db import from_db_time
from service.store.profiles import contribution_summaries

__all__ = ["ClusterExpertIndex"]

log = logging.getLogger(__name__)

#: Outbox rows pushed per bulk request by a drain.
DRAIN_BATCH = 2000
#: Documents per bulk request when building an index.
BUILD_CHUNK = 2000


def _version() -> int:
    """An external document version: now, in nanoseconds, taken just before the store is
    read, so that it orders states by when they were read.

    The order can be wrong only when two writers' clocks disagree, or when a change commits
    in the few milliseconds between one writer taking its version and reading, while
    another writer takes a later version and reads the older state; the next change of
    that contribution, or a reindex, puts it right. A per-contribution version kept in the
    store would close that window."""
    return time.time_ns()


class ClusterExpertIndex:
    """`ExpertIndex` on a search cluster, fed through the store's outbox.

    Relevance fades as in the SQLite engine: BM25 × `age_decay` at the document's source's
    half-life (else `default_half_life_days`), its age taken at `clock()` (default: now).

    Results are cached per process (`cache`; none by default) for one search generation
    of the store (`service.store.generation`), which the store's triggers bump with every
    change a search reads, and with the removal of the outbox rows a drain has pushed: a
    drain's writes are searchable before that (`refresh=wait_for`), and a rebuild bumps it
    once the alias is swapped. So a change made through any replica is seen by every other
    replica's next search.
    """

    def __init__(self, engine: Engine, vocabulary: TopicVocabulary, settings: SearchConfig,
                 auth: tuple[str, str] | None = None, default_half_life_days: float = 365.0,
                 clock: Callable[[], datetime] | None = None,
                 weights: RankingWeights = DEFAULT_WEIGHTS,
                 cache: ResultCache | None = None) -> None:
        self.engine = engine
        self.cache = cache if cache is not None else ResultCache(0)
        self.vocabulary = vocabulary
        self.default_half_life_days = default_half_life_days
        self.clock = clock or (lambda: datetime.now(UTC))
        self.weights = weights
        self.names = IndexNames(settings.index_prefix)
        self.cluster = Cluster(settings, auth)
        #: the last drain's failure (None once a drain succeeds)
        self.last_error: str | None = None
        self._checked = False
        self._lock = threading.Lock()

    # -- writes ------------------------------------------------------------------------

    def update(self, changed: Sequence[int], removed: Sequence[int],
               conn: Connection | None = None) -> None:
        """Note changed and removed contributions in the outbox (in `conn`'s transaction
        when given: call `drain` after it commits; otherwise drained at once)."""
        ids = [*changed, *removed]
        if not ids:
            return
        if conn is not None:
            outbox.enqueue(conn, ids)
            return
        with self.engine.begin() as own:
            outbox.enqueue(own, ids)
        self.drain()

    def drain(self) -> int:
        """Push the waiting outbox rows to the cluster; return how many were pushed. A
        cluster failure is logged and kept in `last_error`, and the rows wait."""
        pushed = 0
        try:
            self._ensure_index()
            while (done := self._drain_batch()) > 0:
                pushed += done
            self.last_error = None
        except ClusterError as exc:
            self.last_error = str(exc)
            log.warning("search outbox kept for later: %s", exc)
        return pushed

    def _drain_batch(self) -> int:
        version = _version()
        with self.engine.connect() as conn:
            rows = outbox.pending(conn, DRAIN_BATCH)
            if not rows:
                return 0
            ids = list(dict.fromkeys(cid for _, cid in rows))
            live = outbox.contribution_rows(conn, ids)
        targets = self._write_aliases()
        if self.names.alias not in targets:
            # the cluster lost the index (e.g. it was rebuilt empty): rebuild from the store
            self.rebuild()
            targets = self._write_aliases()
        actions = [_action(alias, cid, live.get(cid), version) for alias in sorted(targets)
                   for cid in ids]
        # searchable once the bulk returns: the outbox rows' removal bumps the search
        # generation, and a search after it must find what was pushed
        self._check(self.cluster.bulk(actions, require_alias=True, refresh="wait_for"))
        with self.engine.begin() as conn:
            outbox.remove(conn, [row_id for row_id, _ in rows])
        return len(rows)

    def _write_aliases(self) -> set[str]:
        aliases = set().union(*self.cluster.aliases(self.names.pattern).values())
        return {a for a in aliases if a == self.names.alias or self.names.is_building_alias(a)}

    def _ensure_index(self) -> None:
        """Build the index from the store the first time this process finds none."""
        if self._checked:
            return
        with self._lock:
            if not self._checked:
                if self.names.alias not in self._write_aliases():
                    self.rebuild()
                self._checked = True

    def rebuild(self) -> int:
        """Build a fresh index from the store, swap the alias to it, delete the old ones;
        return how many documents it holds."""
        self.cluster.put_template(self.names.template,
                                  index_template(self.names, self.vocabulary))
        index, building = self.names.new_index()
        self.cluster.create_index(index, {"aliases": {building: {}},
                                          "settings": {"index": {"refresh_interval": "-1"}}})
        try:
            self._check(self.cluster.bulk(self._build_actions(index), chunk_size=BUILD_CHUNK))
            self.cluster.put_settings(index, {"index": {"refresh_interval": None}})
            self.cluster.refresh(index)
            count = self.cluster.count(index)
            self._swap(index, building)
        except BaseException:
            self._discard(index)
            raise
        with self.engine.begin() as conn:
            generation.bump(conn)  # the cached answers were of the old index
        return count

    def _build_actions(self, index: str) -> Iterator[dict[str, Any]]:
        version = _version()
        with self.engine.connect() as conn:
            for row in outbox.iter_contribution_rows(conn):
                yield _action(index, row.id, row, version)

    def _swap(self, index: str, building: str) -> None:
        current = self.cluster.aliases(self.names.pattern)
        live = [name for name, aliases in current.items()
                if self.names.alias in aliases and name != index]
        self.cluster.update_aliases(
            [{"remove": {"index": name, "alias": self.names.alias}} for name in live]
            + [{"add": {"index": index, "alias": self.names.alias}},
               {"remove": {"index": index, "alias": building}}])
        # the old indices, and any an interrupted build left behind (it has no alias)
        self.cluster.delete_indices(
            live + [name for name, aliases in current.items() if not aliases and name != index])

    def _discard(self, index: str) -> None:
        try:
            self.cluster.delete_indices([index])
        except ClusterError as exc:
            log.warning("could not delete the unfinished index %s: %s", index, exc)

    def _check(self, failed: list[dict[str, Any]]) -> None:
        problems = [item for item in failed if not self._harmless(item)]
        if problems:
            raise ClusterError(f"search cluster {self.cluster.url} refused {len(problems)} "
                               f"document writes, e.g. {problems[0]}")

    def _harmless(self, failed: dict[str, Any]) -> bool:
        op_type, item = next(iter(failed.items()))
        status = item.get("status")
        error = item.get("error") or {}
        kind = error.get("type") if isinstance(error, dict) else None
        return (
            status == 409  # a newer state of the document is already there
            or (op_type == "delete" and status == 404 and not error)  # already gone
            # the building alias went at a swap: the live alias got the write
            or (kind == "index_not_found_exception"
                and self.names.is_building_alias(str(item.get("_index", ""))))
        )

    def status(self) -> dict[str, Any]:
        """The outbox lag, and whether the cluster answers with the index (`ready`)."""
        with self.engine.connect() as conn:
            lag = outbox.lag(conn)
        report: dict[str, Any] = {"outbox": {
            "pending": lag.pending, "oldest_seconds": round(lag.seconds(datetime.now(UTC)), 1)}}
        try:
            report["ready"] = self.names.alias in self._write_aliases()
        except ClusterError as exc:
            report["ready"] = False
            log.warning("search cluster not ready: %s", exc)
        return report

    # -- search ------------------------------------------------------------------------

    def search(self, query: ExpertQuery) -> SearchResult:
        """Rank people for the query; raise `QueryError` when it has no words, and
        `ClusterError` when the cluster fails."""
        words = list(dict.fromkeys(tokens(query.text)))
        if not words:
            raise QueryError("q: the query has no words to search for")
        with self.engine.connect() as conn:
            # read before searching: a change committed meanwhile makes the entry stale
            seen = generation.current(conn)
        result = self.cache.get(query, seen)
        if result is None:
            result = self._search(query, words)
            self.cache.put(query, seen, result)
        return result

    def _search(self, query: ExpertQuery, words: list[str]) -> SearchResult:
        scope = scope_of(query)
        topics = self._query_topics(query.text)
        typed, words = words, self._useful_words(words)
        ranked = self._documents(words, query)
        now = self.clock()
        with self.engine.connect() as conn:
            docs = visible_documents(conn, ranked, query, now, self.default_half_life_days)
            found = candidates(conn, docs, query, topics, now, self.weights)
            ranking = rank(list(found.values()), self.weights, query.offset + query.limit)
            page = ranking[query.offset:query.offset + query.limit]
            # the corrected query's topics are shown (matched topics), not ranked on
            suggestion = self._did_you_mean(typed, query)
            shown = topics | (self._query_topics(suggestion) if suggestion else set())
            matched = topic_scores(conn, scope, shown, [p.person_id for p in page])
            hits = [ExpertHit(person_id=p.person_id, display_name="", department=None,
                              score=round(p.score, 4), relevance=round(p.text, 4),
                              topic_score=round(sum(t.score for t in matched.get(p.person_id, [])),
                                                4),
                              matched_topics=sorted(matched.get(p.person_id, []),
                                                    key=lambda t: -t.score),
                              signals=p.signals)
                    for p in page]
            self._fill(conn, hits, found, words, query)
        return SearchResult(hits=hits, total=len(ranking), query_topics=sorted(shown),
                            did_you_mean=suggestion)

    def _did_you_mean(self, words: list[str], query: ExpertQuery) -> str | None:
        """As the SQLite engine: misspelled words corrected from the topic vocabulary, a
        word being missing when no document of the query's view holds it."""
        def missing(word: str) -> bool:
            response = self.cluster.search(self.names.alias, dsl.enough([word], "or", query, 1))
            return _total(response) == 0

        fixes = corrections(words, self.vocabulary.words, missing, STOPWORDS)
        return spelled(query.text, fixes) if fixes else None

    def _query_topics(self, text: str) -> set[str]:
        topics = self.vocabulary.from_text(text)
        whole = self.vocabulary.normalise(text)
        if whole:
            topics.add(whole)
        return topics

    def _useful_words(self, words: list[str]) -> list[str]:
        """As the SQLite engine: drop stop words, and words in so many documents that they
        cannot tell experts apart (keep the rarest when every word is that common)."""
        kept = [w for w in words if w not in STOPWORDS] or words
        if len(kept) == 1:
            return kept
        everything, *each = self.cluster.msearch(self.names.alias, dsl.frequencies(kept))
        limit = max(FREQUENT_MIN, int(_total(everything) * FREQUENT_FRACTION))
        counts = {word: _total(found) for word, found in zip(kept, each, strict=True)}
        useful = [word for word in kept if 0 < counts[word] < limit]
        if not useful:
            present = [word for word in kept if counts[word]]
            useful = [min(present, key=counts.__getitem__)] if present else kept[:1]
        return useful

    def _documents(self, words: list[str], query: ExpertQuery) -> list[tuple[int, float]]:
        """The best (document, relevance) the audience may see: all words first, any word
        when too few documents have all. Unlike SQLite, the cluster scores every match
        (Lucene skips the uncompetitive ones), so no newest-first bound applies."""
        ranked: list[tuple[int, float]] = []
        for operator in (["and", "or"] if len(words) > 1 else ["or"]):
            response = self.cluster.search(
                self.names.alias, dsl.candidates(words, operator, query, CANDIDATE_DOCS))
            ranked = [(int(hit["_id"]), float(hit["_score"] or 0.0))
                      for hit in response["hits"]["hits"]]
            if len(ranked) >= ENOUGH_DOCS and self._enough_in_public(words, operator, query):
                break
        return ranked

    def _enough_in_public(self, words: list[str], operator: str, query: ExpertQuery) -> bool:
        """As the SQLite engine: all words or any word is decided in the public view for
        every audience, so that the internal view never finds fewer people than the
        external one, and an external answer tells nothing of internal documents."""
        if query.audience != Audience.INTERNAL:
            return True
        public = dataclasses.replace(query, audience=Audience.EXTERNAL)
        response = self.cluster.search(self.names.alias,
                                       dsl.enough(words, operator, public, ENOUGH_DOCS))
        return _total(response) >= ENOUGH_DOCS

    def _fill(self, conn: Connection, hits: list[ExpertHit], found: dict[int, Candidate],
              words: list[str], query: ExpertQuery) -> None:
        """Names, departments (internal only) and evidence with snippets."""
        if not hits:
            return
        ids = [doc for hit in hits for doc, *_ in found[hit.person_id].docs[:EVIDENCE_PER_HIT]]
        snippets = self._snippets(words, query, ids)
        audiences = [str(a) for a in VISIBLE_AUDIENCES[query.audience]]
        summaries = contribution_summaries(conn, ids, audiences)
        names = display_names(conn, [hit.person_id for hit in hits])
        for hit in hits:
            hit.display_name, department = names[hit.person_id]
            # the department comes from the internal directory
            hit.department = department if query.audience == Audience.INTERNAL else None
            hit.evidence = [
                EvidenceHit(doc, row.source_id, row.audience, row.kind, row.title, row.url,
                            from_db_time(row.created_at), snippets[doc], round(rel, 4))
                for doc, rel, _ in found[hit.person_id].docs[:EVIDENCE_PER_HIT]
                if (row := summaries.get(doc)) is not None and doc in snippets]

    def _snippets(self, words: list[str], query: ExpertQuery, ids: list[int]) -> dict[int, str]:
        response = self.cluster.search(self.names.alias, dsl.evidence(words, query, ids))
        return {int(hit["_id"]): " … ".join(hit.get("highlight", {}).get("body", []))
                for hit in response["hits"]["hits"]}


def _action(index: str, contribution_id: int, row: Any, version: int) -> dict[str, Any]:
    """A bulk action writing the contribution's state (`row`), or its deletion (None)."""
    action: dict[str, Any] = {"_index": index, "_id": str(contribution_id),
                              "version": version, "version_type": "external_gte"}
    if row is None:
        return {"_op_type": "delete", **action}
    return {"_op_type": "index", "_source": document(row), **action}


def _total(response: dict[str, Any]) -> int:
    total = response["hits"]["total"]
    return int(total["value"] if isinstance(total, dict) else total)

