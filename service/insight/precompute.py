"""Computing the insight tables from the store, as a whole, after a sync or a rebuild.

One pass over the live contributions (topics exactly as the reputation engine assigns
them: `facts_from_row`, tags and text through the synonym map) gives the weekly activity
per topic and audience, each person's recent topics and the threads; one pass over the
interactions gives the edges; bursts and bridges are computed from those. Everything is
written in one transaction, so readers see the old tables or the new, never a mix.

Scope `all` counts everything (internal callers); scope `public` counts only external
and partner contributions and interactions, and leaves out people who opted out of
external views.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from service.insight import store
from service.insight.bursts import detect_bursts, week_of, weekly_series
from service.insight.network import MAX_THREAD_PEOPLE, EdgeTally, bridge_scores, pair
from service.reputation.engine import ReputationSettings, facts_from_row
from service.store.profiles import iter_scoring_rows
from service.store.schema import people

__all__ = ["EDGES_PER_TOPIC", "Insight", "compute", "refresh"]

#: the strongest edges kept per topic; the whole map (topic "") keeps each person's
#: strongest `EDGES_PER_PERSON` (who they work with most) and the strongest overall
EDGES_PER_TOPIC = 1000
EDGES_PER_PERSON = 10
ALL_TOPICS = ""
_PUBLIC = frozenset({"external", "partner"})


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
    edges: dict[tuple[str, str], dict[tuple[int, int], EdgeTally]] = field(
        default_factory=lambda: defaultdict(dict))
    #: (scope, topic) -> person -> audiences they are active in there
    communities: dict[tuple[str, str], dict[int, set[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set)))


def _scopes(audience: str, person: int, opted_out: set[int]) -> tuple[str, ...]:
    if audience in _PUBLIC and person not in opted_out:
        return ("all", "public")
    return ("all",)


def _read_contributions(conn: Connection, settings: ReputationSettings, found: Insight,
                        opted_out: set[int]) -> tuple[dict[int, frozenset[str]],
                                                      dict[tuple[str, str], _Thread]]:
    topics_of: dict[int, frozenset[str]] = {}
    threads: dict[tuple[str, str], _Thread] = {}
    recent_30 = found.as_of - timedelta(days=30)
    recent_90 = found.as_of - timedelta(days=90)
    for row in iter_scoring_rows(conn):
        topics = facts_from_row(row, settings).topics
        topics_of[row.id] = topics
        person, audience, created = row.person_id, row.audience, row.created
        thread = threads.get((row.source_id, row.thread))
        if thread is None:
            thread = threads[(row.source_id, row.thread)] = _Thread(audience)
        thread.people.add(person)
        thread.topics |= topics
        if thread.last_at is None or created > thread.last_at:
            thread.last_at = created
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
    return topics_of, threads


def _tally(found: Insight, scope: str, topics: frozenset[str] | set[str], a: int, b: int,
           audience: str, kind: str, at: datetime, weight: float | None = None) -> None:
    key = pair(a, b)
    for topic in (ALL_TOPICS, *topics):
        edges = found.edges[(scope, topic)]
        tally = edges.get(key)
        if tally is None:
            tally = edges[key] = EdgeTally()
        tally.add(kind, at, weight)
        communities = found.communities[(scope, topic)]
        communities[a].add(audience)
        communities[b].add(audience)


def _read_edges(conn: Connection, found: Insight, opted_out: set[int],
                topics_of: dict[int, frozenset[str]], threads: dict[tuple[str, str], _Thread]
                ) -> None:
    for row in store.iter_interactions(conn):
        if row.actor == row.target_person:
            continue
        topics = topics_of.get(row.target, frozenset())
        for scope in _scopes(row.audience, row.actor, opted_out):
            if scope == "public" and row.target_person in opted_out:
                continue
            _tally(found, scope, topics, row.actor, row.target_person, row.audience,
                   row.kind, row.at)
    for thread in threads.values():
        members = sorted(thread.people)
        if not 2 <= len(members) <= MAX_THREAD_PEOPLE or thread.last_at is None:
            continue
        weight = 1.0 / (len(members) - 1)
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                for scope in _scopes(thread.audience, a, opted_out):
                    if scope == "public" and b in opted_out:
                        continue
                    _tally(found, scope, thread.topics, a, b, thread.audience, "thread",
                           thread.last_at, weight)


def compute(conn: Connection, settings: ReputationSettings, as_of: datetime) -> Insight:
    """Read the store and return the insight as of `as_of`."""
    found = Insight(as_of)
    opted_out = set(conn.execute(
        select(people.c.id).where(people.c.opt_out_external.is_(True))).scalars())
    topics_of, threads = _read_contributions(conn, settings, found, opted_out)
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


def graph_rows(found: Insight) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of insight_edges (the strongest per topic, all of the whole map) and
    insight_nodes (everyone on a kept edge, with communities, strength and bridge score)."""
    edge_rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []
    for (scope, topic), edges in found.edges.items():
        ranked = sorted(edges.items(), key=lambda item: (-item[1].weight, item[0]))
        strongest = ranked[:EDGES_PER_TOPIC]
        kept = _per_person(ranked, strongest) if topic == ALL_TOPICS else strongest
        communities = found.communities[(scope, topic)]
        bridges = bridge_scores(((a, b, t.weight) for (a, b), t in strongest),
                                {p: frozenset(c) for p, c in communities.items()}, scope)
        strength: defaultdict[int, float] = defaultdict(float)
        for (a, b), tally in kept:
            edge_rows.append({"scope": scope, "topic": topic, "person_a": a, "person_b": b,
                              "weight": round(tally.weight, 4), "replies": tally.replies,
                              "likes": tally.likes, "accepts": tally.accepts,
                              "threads": tally.threads, "last_at": tally.last_at})
            strength[a] += tally.weight
            strength[b] += tally.weight
        node_rows += [{"scope": scope, "topic": topic, "person_id": person,
                       "communities": ",".join(sorted(communities[person])),
                       "strength": round(total, 4), "bridge": bridges.get(person, 0.0)}
                      for person, total in strength.items()]
    return edge_rows, node_rows


def _per_person(ranked: list[tuple[tuple[int, int], EdgeTally]],
                strongest: list[tuple[tuple[int, int], EdgeTally]]
                ) -> list[tuple[tuple[int, int], EdgeTally]]:
    """The strongest edges, and each person's strongest `EDGES_PER_PERSON`."""
    taken: Counter[int] = Counter()
    kept = dict(strongest)
    for key, tally in ranked:
        a, b = key
        if taken[a] < EDGES_PER_PERSON or taken[b] < EDGES_PER_PERSON:
            kept[key] = tally
        taken[a] += 1
        taken[b] += 1
    return sorted(kept.items(), key=lambda item: (-item[1].weight, item[0]))


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


def refresh(engine: Engine, settings: ReputationSettings, clock: Callable[[], datetime]
            ) -> float:
    """Recompute every insight table as of `clock()`, in one transaction; return the
    seconds it took."""
    started = time.perf_counter()
    as_of = clock()
    with engine.connect() as conn:
        found = compute(conn, settings, as_of)
    edges, nodes = graph_rows(found)
    tables = {"weeks": week_rows(found), "bursts": bursts_of(found), "edges": edges,
              "nodes": nodes, "person_topics": person_topic_rows(found)}
    with engine.begin() as conn:
        store.replace_all(conn, tables)
        seconds = time.perf_counter() - started
        store.record_state(conn, as_of, seconds)
    return seconds
