"""The store's side of a cluster search: who wrote the documents the cluster found, whether
the audience may see them, and their topic scores.

The cluster already filtered by audience, source and date; the store checks every document
again (the second wall of the audience rule) and adds what only it knows: deletions not yet
pushed, identity merges, opt-outs, and each source's half-life, at which a document's
relevance fades with its age (as the SQLite engine fades it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from service.model import VISIBLE_AUDIENCES, Audience
from service.reputation.scoring import age_decay
from service.search.base import ExpertQuery, MatchedTopic
from service.store.db import chunks, from_db_time, to_utc
from service.store.schema import contributions, identity_links, people, profile_topics, sources

__all__ = ["display_names", "topic_scores", "visible_documents"]

_CHUNK = 500


def visible_documents(conn: Connection, ranked: Sequence[tuple[int, float]],
                      query: ExpertQuery, now: datetime, default_half_life_days: float
                      ) -> list[tuple[int, int, float]]:
    """(document, person, relevance) for the ranked documents the query may show, best
    first; relevance is BM25 faded by the document's age at its source's half-life."""
    c, link, p = contributions.c, identity_links.c, people.c
    audiences = {str(a) for a in VISIBLE_AUDIENCES[query.audience]}
    since = to_utc(query.since) if query.since else None
    statement = (select(c.id, link.person_id, c.audience, c.source_id, c.created_at, c.deleted,
                        p.opt_out_external, sources.c.half_life_days)
                 .join(identity_links, link.identity_id == c.author_identity_id)
                 .join(people, p.id == link.person_id)
                 .join(sources, sources.c.id == c.source_id))
    relevance = dict(ranked)
    found: list[tuple[int, int, float]] = []
    ids = list(relevance)
    for chunk in chunks(ids, _CHUNK):
        for row in conn.execute(statement.where(c.id.in_(chunk))):
            created = from_db_time(row.created_at)
            if (row.audience not in audiences or row.deleted
                    or (row.opt_out_external and query.audience != Audience.INTERNAL)
                    or (query.sources and row.source_id not in query.sources)
                    or (since and (created is None or created < since))):
                continue
            fade = age_decay(created or now, now, row.half_life_days or default_half_life_days)
            found.append((row.id, row.person_id, relevance[row.id] * fade))
    found.sort(key=lambda doc: (-doc[2], doc[0]))
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
    ids = list(person_ids)
    for chunk in chunks(ids, _CHUNK):
        for row in conn.execute(statement.where(t.person_id.in_(chunk))):
            found[row.person_id].append(MatchedTopic(row.topic, row.score, row.level))
    return found


def display_names(conn: Connection, person_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """person -> (display name, department)."""
    rows = conn.execute(select(people.c.id, people.c.display_name, people.c.department)
                        .where(people.c.id.in_(list(person_ids))))
    return {row.id: (row.display_name, row.department) for row in rows}
