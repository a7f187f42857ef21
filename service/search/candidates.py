"""The store's side of every search: from the documents an engine found to the candidates
`ranking.rank` orders.

The engine (FTS5 or the cluster) ranks documents by BM25 and already filtered them by
audience, source and date; the store checks every document again (the second wall of the
audience rule) and adds what only it knows: deletions not yet pushed, identity merges,
opt-outs, each source's half-life (at which a document's relevance fades with its age),
who answered the matching threads, the people's topic scores and their activity, and
the topics people hid.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, select, tuple_, type_coerce
from sqlalchemy.engine import Connection

from service.model import VISIBLE_AUDIENCES, Audience
from service.reputation.activity import RESPONSE_KINDS, recent_activity
from service.reputation.scoring import age_decay
from service.search.base import ExpertQuery, MatchedTopic
from service.search.ranking import Candidate, RankingWeights
from service.store.db import chunks, from_db_time, to_utc
from service.store.person_topics import hiding
from service.store.profiles import person_activity
from service.store.schema import (
    contributions,
    identity_links,
    people,
    profile_topics,
    sources,
)

__all__ = ["DOCS_PER_PERSON", "Doc", "candidates", "topic_scores", "visible_documents"]

#: How many best documents, and matching threads, count per person.
DOCS_PER_PERSON = 5
#: The kinds of post that open a thread others answer.
OPENING_KINDS = ("question", "blog_post", "article")
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Doc:
    id: int
    person_id: int
    relevance: float
    kind: str
    source_id: str
    thread: str | None


def scope_of(query: ExpertQuery) -> str:
    return "all" if query.audience == Audience.INTERNAL else "public"


def _visible_statement() -> Any:
    c, link, p = contributions.c, identity_links.c, people.c
    # compiled once (an expanding IN); the raw timestamp: SQLAlchemy's per-row DateTime
    # processing was a third of the time
    return (select(c.id, link.person_id, c.audience, c.source_id,
                   type_coerce(c.created_at, Text).label("created_at"), c.deleted,
                   c.kind, c.external_id, c.thread_external_id,
                   p.opt_out_external, sources.c.half_life_days)
            .join(identity_links, link.identity_id == c.author_identity_id)
            .join(people, p.id == link.person_id)
            .join(sources, sources.c.id == c.source_id)
            .where(c.id.in_(bindparam("ids", expanding=True))))


_VISIBLE = _visible_statement()


def visible_documents(conn: Connection, ranked: Sequence[tuple[int, float]],
                      query: ExpertQuery, now: datetime, default_half_life_days: float
                      ) -> list[Doc]:
    """The ranked (document, BM25) the query may show, best first; relevance is BM25
    faded by the document's age at its source's half-life."""
    audiences = {str(a) for a in VISIBLE_AUDIENCES[query.audience]}
    since = to_utc(query.since) if query.since else None
    relevance = dict(ranked)
    found: list[Doc] = []
    for chunk in chunks(list(relevance), _CHUNK):
        for (doc, person, audience, source, created_at, deleted, kind, external_id, thread,
             opted_out, half_life) in conn.execute(_VISIBLE, {"ids": chunk}).all():
            created = from_db_time(created_at)
            if (audience not in audiences or deleted
                    or (opted_out and query.audience != Audience.INTERNAL)
                    or (query.sources and source not in query.sources)
                    or (since and (created is None or created < since))):
                continue
            fade = age_decay(created or now, now, half_life or default_half_life_days)
            found.append(Doc(doc, person, relevance[doc] * fade, kind, source,
                             thread or external_id))
    found.sort(key=lambda doc: (-doc.relevance, doc.id))
    return found


def candidates(conn: Connection, docs: Sequence[Doc], query: ExpertQuery, topics: set[str],
               now: datetime, weights: RankingWeights) -> dict[int, Candidate]:
    """Everyone the query found: the authors of the documents and, when the ranking weighs
    them, the people who answered the matching threads, each with their activity and (when
    weighed) topic scores. Every candidate has evidence for the query: a person is never
    found for their activity alone."""
    found: dict[int, Candidate] = {}

    def of(person: int) -> Candidate:
        return found.setdefault(person, Candidate(person))

    for doc in docs:
        mine = of(doc.person_id).docs
        if len(mine) < DOCS_PER_PERSON:
            mine.append((doc.id, doc.relevance, doc.kind))
    for person, response, relevance in (_responders(conn, docs, query) if weights.thread
                                        else ()):
        threads = of(person).threads
        if len(threads) < DOCS_PER_PERSON:
            threads.append((response, relevance))
    scope = scope_of(query)
    # a query on a topic someone hid from this audience finds nothing of theirs
    for person in hiding(conn, scope, topics, list(found)):
        del found[person]
    ids = list(found)
    for person, matched in (topic_scores(conn, scope, topics, ids) if weights.topics
                            else {}).items():
        found[person].topics = sum(t.score for t in matched)
    for person, row in person_activity(conn, scope, ids).items():
        candidate = found[person]
        candidate.responses, candidate.accepted, candidate.votes = (
            row.responses, row.accepted, row.votes)
        candidate.recent = recent_activity(row.activity_log2, now)
    return found


def _responders(conn: Connection, docs: Sequence[Doc], query: ExpertQuery
                ) -> list[tuple[int, int, float]]:
    """(person, their response, the opening post's relevance) for the matching threads
    they answered (not their own), best thread first."""
    openings: dict[tuple[str, str], Doc] = {}
    for doc in docs:
        if doc.kind in OPENING_KINDS and doc.thread:
            openings.setdefault((doc.source_id, doc.thread), doc)
    if not openings:
        return []
    c, link, p = contributions.c, identity_links.c, people.c
    audiences = [str(a) for a in VISIBLE_AUDIENCES[query.audience]]
    statement = (select(c.id, c.source_id, c.thread_external_id, link.person_id)
                 .join(identity_links, link.identity_id == c.author_identity_id)
                 .join(people, p.id == link.person_id)
                 .where(c.kind.in_(sorted(RESPONSE_KINDS)), c.deleted.is_(False),
                        c.audience.in_(audiences)))
    if query.audience != Audience.INTERNAL:
        statement = statement.where(p.opt_out_external.is_(False))
    found = []
    keys = list(openings)
    for chunk in chunks(keys, _CHUNK):
        rows = conn.execute(statement.where(tuple_(c.source_id, c.thread_external_id)
                                            .in_(chunk)))
        for row in rows:
            opening = openings[(row.source_id, row.thread_external_id)]
            if row.person_id != opening.person_id:
                found.append((row.person_id, row.id, opening.relevance))
    found.sort(key=lambda item: (-item[2], item[1]))
    return found


def topic_scores(conn: Connection, scope: str, topics: set[str], person_ids: Sequence[int]
                 ) -> dict[int, list[MatchedTopic]]:
    """The people's scores on the query's topics, by person."""
    found: dict[int, list[MatchedTopic]] = defaultdict(list)
    if not topics or not person_ids:
        return found
    t = profile_topics.c
    statement = select(t.person_id, t.topic, t.score, t.level).where(
        t.scope == scope, t.topic.in_(sorted(topics)))
    for chunk in chunks(list(person_ids), _CHUNK):
        for row in conn.execute(statement.where(t.person_id.in_(chunk))):
            found[row.person_id].append(MatchedTopic(row.topic, row.score, row.level))
    return found
