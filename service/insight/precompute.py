"""Computing the insight tables from the store, as a whole, after a sync or a rebuild.

Topics are exactly the reputation engine's (`facts_from_row`: tags and text through the
synonym map): `rebuild` hands over the ones it has just computed for the profiles; after
a sync they are computed here. One pass over the live contributions (no text: the topics
are known) gives the weekly activity per topic and audience, each person's recent topics
and the threads; one pass over the interactions and the threads gives the edges, summed
per map in `edges`; bursts and bridges are computed from those. Everything is written in
one transaction, so readers see the old tables or the new, never a mix.

Scope `all` counts everything (internal callers); scope `public` counts only external
and partner contributions and interactions, and leaves out people who opted out of
external views.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from service.insight import store
from service.insight.bursts import detect_bursts, week_of, weekly_series
from service.insight.edges import EdgeEvents
from service.insight.edges import graph_rows as edge_graph_rows
from service.insight.network import MAX_THREAD_PEOPLE
from service.reputation.engine import ReputationSettings, facts_from_row
from service.store.profiles import iter_scoring_rows
from service.store.schema import people

__all__ = ["EDGES_PER_TOPIC", "Insight", "compute", "refresh", "topics_by_contribution"]

#: the strongest edges kept per topic; the whole map (topic "") keeps each person's
#: strongest `EDGES_PER_PERSON` (who they work with most) and the strongest overall
EDGES_PER_TOPIC = 1000
EDGES_PER_PERSON = 10
_PUBLIC = frozenset({"external", "partner"})
_NO_TOPICS: frozenset[str] = frozenset()


@dataclass
class _PersonTopic:
    audiences: Counter[str] = field(default_factory=Counter)
    last_30: int = 0
    last_90: int = 0
    last_active: datetime | None = None


@dataclass
class _Thread:
    audience: str
    people: set[int] = field(default_factory=set)
    topics: set[str] = field(default_factory=set)
    last_at: datetime | None = None


@dataclass
class Insight:
    """Everything the insight tables hold, computed in memory."""

    as_of: datetime
    weeks: Counter[tuple[str, str, Any, str]] = field(default_factory=Counter)
    participants: dict[tuple[str, str, Any, str], set[int]] = field(
        default_factory=lambda: defaultdict(set))
    person_topics: dict[tuple[str, int, str], _PersonTopic] = field(
        default_factory=lambda: defaultdict(_PersonTopic))
    events: EdgeEvents = field(default_factory=EdgeEvents)


def _scopes(audience: str, person: int, opted_out: set[int]) -> tuple[str, ...]:
    if audience in _PUBLIC and person not in opted_out:
        return ("all", "public")
    return ("all",)


def topics_by_contribution(conn: Connection, settings: ReputationSettings
                           ) -> dict[int, frozenset[str]]:
    """Each live contribution's topics, as the reputation engine assigns them."""
    return {row.id: facts_from_row(row, settings).topics for row in iter_scoring_rows(conn)}


def _read_contributions(conn: Connection, topics_of: Mapping[int, frozenset[str]],
                        found: Insight, opted_out: set[int]
                        ) -> dict[tuple[str, str | None], _Thread]:
    threads: dict[tuple[str, str | None], _Thread] = {}
    recent_30 = found.as_of - timedelta(days=30)
    recent_90 = found.as_of - timedelta(days=90)
    for row in store.iter_contributions(conn):
        topics = topics_of.get(row.id, _NO_TOPICS)
        person, audience, created = row.person_id, row.audience, row.created
        thread = threads.get((row.source_id, row.thread))
        if thread is None:
            thread = threads[(row.source_id, row.thread)] = _Thread(audience)
        thread.people.add(person)
        thread.topics |= topics
        if thread.last_at is None or created > thread.last_at:
            thread.last_at = created
        if not topics:
            continue
        week = week_of(created.date())
        for scope in _scopes(audience, person, opted_out):
            for topic in topics:
                for key in ((scope, topic, week, audience), (scope, topic, week, "total")):
                    found.weeks[key] += 1
                    found.participants[key].add(person)
                mine = found.person_topics[(scope, person, topic)]
                mine.audiences[audience] += 1
                mine.last_30 += created >= recent_30
                mine.last_90 += created >= recent_90
                if mine.last_active is None or created > mine.last_active:
                    mine.last_active = created
    return threads


def _read_edges(conn: Connection, found: Insight, opted_out: set[int],
                topics_of: Mapping[int, frozenset[str]],
                threads: dict[tuple[str, str | None], _Thread]) -> None:
    events = found.events
    for row in store.iter_interactions(conn):
        if row.actor == row.target_person:
            continue
        public = (row.audience in _PUBLIC and row.actor not in opted_out
                  and row.target_person not in opted_out)
        events.add(row.actor, row.target_person, row.kind, row.at, row.audience,
                   topics_of.get(row.target, _NO_TOPICS), public)
    for thread in threads.values():
        members = sorted(thread.people)
        if not 2 <= len(members) <= MAX_THREAD_PEOPLE or thread.last_at is None:
            continue
        weight = 1.0 / (len(members) - 1)
        topics = frozenset(thread.topics)
        shown = thread.audience in _PUBLIC
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                public = shown and a not in opted_out and b not in opted_out
                events.add(a, b, "thread", thread.last_at, thread.audience, topics, public,
                           weight)


def compute(conn: Connection, topics_of: Mapping[int, frozenset[str]], as_of: datetime
            ) -> Insight:
    """Read the store and return the insight as of `as_of`, with these topics per
    contribution (`topics_by_contribution`)."""
    found = Insight(as_of)
    opted_out = set(conn.execute(
        select(people.c.id).where(people.c.opt_out_external.is_(True))).scalars())
    threads = _read_contributions(conn, topics_of, found, opted_out)
    _read_edges(conn, found, opted_out, topics_of, threads)
    return found


def bursts_of(found: Insight) -> list[dict[str, Any]]:
    """Rows of insight_bursts: each topic's bursts in each scope."""
    series: dict[tuple[str, str], dict[Any, int]] = defaultdict(dict)
    for (scope, topic, week, audience), count in found.weeks.items():
        if audience == "total":
            series[(scope, topic)][week] = count
    last = week_of(found.as_of.date())
    rows = []
    for (scope, topic), counts in series.items():
        for burst in detect_bursts(weekly_series(counts, min(counts), last)):
            rows.append({"scope": scope, "topic": topic, "start": burst.start,
                         "peak": burst.peak, "end": burst.end,
                         "peak_contributions": burst.peak_count, "baseline": burst.baseline,
                         "strength": burst.strength})
    return rows


def person_topic_rows(found: Insight) -> list[dict[str, Any]]:
    """Rows of insight_person_topics."""
    return [{"scope": scope, "person_id": person, "topic": topic,
             "community": mine.audiences.most_common(1)[0][0],
             "contributions": sum(mine.audiences.values()), "last_30_days": mine.last_30,
             "last_90_days": mine.last_90, "last_active": mine.last_active}
            for (scope, person, topic), mine in found.person_topics.items()]


def week_rows(found: Insight) -> list[dict[str, Any]]:
    """Rows of insight_topic_weeks."""
    return [{"scope": scope, "topic": topic, "week": week, "audience": audience,
             "contributions": count,
             "participants": len(found.participants[(scope, topic, week, audience)])}
            for (scope, topic, week, audience), count in found.weeks.items()]


@dataclass
class Prepared:
    """The insight tables computed and not yet written."""

    as_of: datetime
    tables: dict[str, list[dict[str, Any]]]
    started: float


def prepare(engine: Engine, settings: ReputationSettings, clock: Callable[[], datetime],
            topics: Mapping[int, frozenset[str]] | None = None) -> Prepared:
    """Compute every insight table as of `clock()` (reads only). `topics`: each live
    contribution's topics when the caller has just computed them (a rebuild), else they
    are computed here."""
    started = time.perf_counter()
    as_of = clock()
    with engine.connect() as conn:
        found = compute(conn, topics if topics is not None
                        else topics_by_contribution(conn, settings), as_of)
    edges, nodes = edge_graph_rows(found.events, EDGES_PER_TOPIC, EDGES_PER_PERSON)
    maps = Counter((row["scope"], row["topic"]) for row in edges)
    tables = {"weeks": week_rows(found), "bursts": bursts_of(found), "edges": edges,
              "nodes": nodes, "person_topics": person_topic_rows(found),
              "maps": [{"scope": scope, "topic": topic, "edges": count}
                       for (scope, topic), count in maps.items()]}
    return Prepared(as_of, tables, started)


def write(engine: Engine, prepared: Prepared) -> float:
    """Replace the insight tables with `prepared` in one transaction; return the seconds
    since its computation started."""
    with engine.begin() as conn:
        store.replace_all(conn, prepared.tables)
        seconds = time.perf_counter() - prepared.started
        store.record_state(conn, prepared.as_of, seconds)
    return seconds


def refresh(engine: Engine, settings: ReputationSettings, clock: Callable[[], datetime],
            topics: Mapping[int, frozenset[str]] | None = None) -> float:
    """Recompute every insight table as of `clock()`, in one transaction; return the
    seconds it took."""
    return write(engine, prepare(engine, settings, clock, topics))
