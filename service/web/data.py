"""What the intranet page shows, read through the search index and the store's queries.

The page is an internal view: every audience is visible, opted-out people included (the
opt-out is from external views). Nothing here ranks or scores: the index does that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from service import pipeline
from service.insight import queries as insight_queries
from service.model import VISIBLE_AUDIENCES, Audience
from service.reputation.activity import recent_activity
from service.search.base import EvidenceHit, ExpertHit, ExpertQuery, SearchResult
from service.search.sqlite import MARK_END, MARK_START
from service.store import profiles as store_profiles
from service.store import queries
from service.store.db import from_db_time
from service.store.schema import contributions, identity_links, profile_topics, sources
from service.web.graphmap import ConnectionMap, home_community, layout_map

__all__ = ["Card", "SIGNAL_LABELS", "Community", "Profile", "Search", "Segment", "highlight",
           "load_map", "load_profile", "list_sources", "search_cards"]

AUDIENCE = Audience.INTERNAL
AUDIENCES = [str(a) for a in VISIBLE_AUDIENCES[AUDIENCE]]
#: the community insight scope of the internal view
SCOPE = "all"
PAGE_SIZE = 10
TOP_TOPICS = 3
TIMELINE_MONTHS = 24
#: a profile reads this many of the person's strongest connections (it shows up to 8
#: colleagues and 8 customers or partners among them)
CONNECTIONS = 40
#: the map reads this many of the strongest edges and keeps the strongest people on them
MAP_EDGES = 200


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a snippet; `marked` pieces matched the query."""

    text: str
    marked: bool


@dataclass(frozen=True, slots=True)
class Community:
    source_id: str
    name: str
    audience: str
    contributions: int
    last_active: datetime | None


@dataclass(slots=True)
class Card:
    hit: ExpertHit
    top_topics: list[Any] = field(default_factory=list)
    communities: list[Community] = field(default_factory=list)
    evidence: list[tuple[EvidenceHit, list[Segment]]] = field(default_factory=list)

    @property
    def last_active(self) -> datetime | None:
        return max((c.last_active for c in self.communities if c.last_active), default=None)


@dataclass(frozen=True, slots=True)
class Search:
    """A search as the page's form asks for it (already validated)."""

    text: str
    sources: tuple[str, ...] = ()
    communities: tuple[str, ...] = ()
    since: date | None = None
    page: int = 1


@dataclass(slots=True)
class Profile:
    summary: dict[str, Any]
    topics: list[Any]
    evidence: dict[int, Any]
    communities: list[Community]
    recent: list[dict[str, Any]]
    timeline: list[tuple[date, dict[str, int]]]
    #: who they work with most (`insight.queries.connections`), strongest first, each
    #: with its `home` community (internal: a colleague; else a customer or partner)
    connections: list[dict[str, Any]]
    #: their topics of the last 90 days (`insight.queries.recent_topics`)
    working_on: list[dict[str, Any]]
    #: what search weighs besides the matching text (service.search.ranking): responses,
    #: accepted, votes and `recent` (decayed now); None without answers or replies
    activity: dict[str, float] | None = None
    #: the topics they confirmed themselves (shown with a mark)
    confirmed: set[str] = field(default_factory=set)


def highlight(snippet: str) -> list[Segment]:
    """Split an index snippet at its match marks; the template escapes every piece."""
    segments: list[Segment] = []
    for index, part in enumerate(snippet.split(MARK_START)):
        marked, _, rest = part.partition(MARK_END) if index else ("", "", part)
        if marked:
            segments.append(Segment(marked, True))
        if rest:
            segments.append(Segment(rest, False))
    return segments


def list_sources(conn: Connection) -> list[Any]:
    """The communities (sources) the page can filter on, by audience then name."""
    return list(conn.execute(select(sources.c.id, sources.c.name, sources.c.audience)
                             .order_by(sources.c.audience, sources.c.id)))


def _effective_sources(known: Sequence[Any], search: Search) -> tuple[str, ...] | None:
    """The sources to search in (() for all), or None when the filters exclude them all."""
    if not search.sources and not search.communities:
        return ()
    chosen = [s.id for s in known
              if (not search.sources or s.id in search.sources)
              and (not search.communities or s.audience in search.communities)]
    return tuple(chosen) or None


#: What each ranking signal (service.search.ranking) means, for "why this rank".
SIGNAL_LABELS = {
    "text": "Matching contributions (relevance)",
    "thread": "Answered matching threads (relevance)",
    "topics": "Reputation on the query's topics",
    "responses": "Answers and replies",
    "accepted": "Accepted answers",
    "votes": "Votes received",
    "recent": "Recent answers (30-day half-life)",
}


def search_cards(services: pipeline.Services, search: Search, known: Sequence[Any]
                 ) -> tuple[SearchResult, list[Card]]:
    """Run the search for the internal view and dress each hit as a person card; `known`:
    the communities `list_sources` read (the page has them already).

    Raises the index's `QueryError` (no searchable words) and `ClusterError` (down)."""
    chosen = _effective_sources(known, search)
    if chosen is None:
        return SearchResult([], 0, []), []
    result = services.index.search(ExpertQuery(
        text=search.text, audience=AUDIENCE, sources=chosen, since=_day_start(search.since),
        limit=PAGE_SIZE,
        offset=(search.page - 1) * PAGE_SIZE))
    ids = [hit.person_id for hit in result.hits]
    with services.engine.connect() as conn:
        topics = _top_topics(conn, ids)
        communities = _communities(conn, ids)
    cards = [Card(hit, topics.get(hit.person_id, []), communities.get(hit.person_id, []),
                  [(ev, highlight(ev.snippet)) for ev in hit.evidence])
             for hit in result.hits]
    return result, cards


def _day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), tzinfo=UTC) if day else None


def _top_topics(conn: Connection, person_ids: list[int]) -> dict[int, list[Any]]:
    t = profile_topics.c
    found: dict[int, list[Any]] = defaultdict(list)
    rows = conn.execute(select(t.person_id, t.topic, t.score, t.level)
                        .where(t.person_id.in_(person_ids), t.scope == SCOPE)
                        .order_by(t.person_id, t.score.desc()))
    for row in rows:
        if len(found[row.person_id]) < TOP_TOPICS:
            found[row.person_id].append(row)
    return found


def _communities(conn: Connection, person_ids: list[int]) -> dict[int, list[Community]]:
    """Per person, the sources they contributed to, busiest first."""
    c = contributions.c
    rows = conn.execute(
        select(identity_links.c.person_id, c.source_id, c.audience, sources.c.name,
               func.count().label("n"), func.max(c.created_at).label("last"))
        .join(identity_links, identity_links.c.identity_id == c.author_identity_id)
        .join(sources, sources.c.id == c.source_id)
        .where(identity_links.c.person_id.in_(person_ids), c.deleted.is_(False),
               c.audience.in_(AUDIENCES))
        .group_by(identity_links.c.person_id, c.source_id, c.audience, sources.c.name))
    found: dict[int, list[Community]] = defaultdict(list)
    for row in rows:
        found[row.person_id].append(Community(row.source_id, row.name or row.source_id,
                                              row.audience, row.n, from_db_time(row.last)))
    for items in found.values():
        items.sort(key=lambda item: -item.contributions)
    return found


def load_profile(services: pipeline.Services, person_id: int) -> Profile | None:
    """The person's internal profile, or None when nobody with contributions has this id."""
    with services.engine.connect() as conn:
        summary = queries.person_summary(conn, person_id, AUDIENCES, hide_opted_out=False)
        if summary is None:
            return None
        topics = store_profiles.person_topics(conn, person_id, SCOPE)
        evidence_ids = [item[0] for row in topics for item in row.evidence]
        evidence = store_profiles.contribution_summaries(conn, evidence_ids, AUDIENCES)
        recent, _ = queries.person_contributions(conn, person_id, AUDIENCES, 10, 0)
        timeline = _timeline(conn, person_id, services.clock())
        communities = _communities(conn, [person_id]).get(person_id, [])
        connections = [{**item, "home": home_community(item["communities"])} for item in
                       insight_queries.connections(conn, SCOPE, person_id, CONNECTIONS)]
        working_on = insight_queries.recent_topics(conn, SCOPE, person_id)
        row = store_profiles.person_activity(conn, SCOPE, [person_id]).get(person_id)
        confirmed = queries.confirmed_topics(conn, person_id)
    activity = None if row is None else {
        "responses": row.responses, "accepted": row.accepted, "votes": row.votes,
        "recent": recent_activity(row.activity_log2, services.clock())}
    return Profile(summary, topics, evidence, communities, recent, timeline, connections,
                   working_on, activity, confirmed)


def load_map(services: pipeline.Services, topic: str, since: date | None) -> ConnectionMap:
    """The internal connection map of a topic ("" for every topic), over the interactions
    since that day, laid out for the page."""
    with services.engine.connect() as conn:
        page = insight_queries.graph_page(conn, SCOPE, topic, _day_start(since), MAP_EDGES, 0)
    return layout_map(page)


def _month(value: datetime) -> date:
    return date(value.year, value.month, 1)


def _months_back(end: date, count: int) -> list[date]:
    months = []
    year, month = end.year, end.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _timeline(conn: Connection, person_id: int, now: datetime
              ) -> list[tuple[date, dict[str, int]]]:
    """Contributions per month and audience over the last TIMELINE_MONTHS months."""
    months = _months_back(_month(now), TIMELINE_MONTHS)
    start = datetime.combine(months[0], time(), tzinfo=UTC)
    c = contributions.c
    counts: dict[date, dict[str, int]] = {month: defaultdict(int) for month in months}
    rows = conn.execute(
        select(c.created_at, c.audience)
        .join(identity_links, identity_links.c.identity_id == c.author_identity_id)
        .where(identity_links.c.person_id == person_id, c.deleted.is_(False),
               c.audience.in_(AUDIENCES), c.created_at >= start))
    for row in rows:
        created = from_db_time(row.created_at)
        if created is not None and _month(created) in counts:
            counts[_month(created)][row.audience] += 1
    return [(month, dict(counts[month])) for month in months]
