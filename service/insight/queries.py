"""Read queries on the insight tables, for one scope (`all` for internal callers,
`public` for everyone else): what the API and the CLI serve."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.engine import Connection

from service.insight.bursts import week_of
from service.reputation.own_topics import hiding_states
from service.store.db import from_db_time
from service.store.schema import (
    insight_bursts,
    insight_edges,
    insight_maps,
    insight_nodes,
    insight_person_topics,
    insight_topic_weeks,
    people,
    person_topics,
    profile_topics,
)

__all__ = ["activity", "connections", "graph_page", "group_candidates", "recent_topics",
           "trending"]


def _burst(row: Any, today: date) -> dict[str, Any]:
    return {"topic": row.topic, "start": row.start.isoformat(), "peak": row.peak.isoformat(),
            "end": row.end.isoformat() if row.end else None, "ongoing": row.end is None,
            "peak_contributions": row.peak_contributions, "baseline": row.baseline,
            "strength": row.strength, "weeks_ago": (week_of(today) - row.peak).days // 7}


def trending(conn: Connection, scope: str, today: date, weeks: int, limit: int
             ) -> list[dict[str, Any]]:
    """Bursts going on or ended in the last `weeks` weeks, strongest first."""
    b = insight_bursts.c
    recent = week_of(today) - timedelta(weeks=weeks)
    rows = conn.execute(select(insight_bursts).where(
        b.scope == scope, or_(b.end.is_(None), b.end >= recent))
        .order_by(b.end.is_(None).desc(), b.strength.desc(), b.topic).limit(limit))
    return [_burst(row, today) for row in rows]


def activity(conn: Connection, scope: str, topic: str, today: date, weeks: int
             ) -> dict[str, Any] | None:
    """The topic's weekly series over the last `weeks` weeks (zeros filled in) and its
    bursts, or None when the topic has no activity in this scope."""
    w = insight_topic_weeks.c
    last = week_of(today)
    first = last - timedelta(weeks=weeks - 1)
    exists = conn.execute(select(w.topic).where(w.scope == scope, w.topic == topic).limit(1))
    if exists.first() is None:
        return None
    series: dict[date, dict[str, Any]] = {
        first + timedelta(weeks=i): {"week": (first + timedelta(weeks=i)).isoformat(),
                                     "contributions": 0, "participants": 0, "by_audience": {}}
        for i in range(weeks)}
    for row in conn.execute(select(insight_topic_weeks).where(
            w.scope == scope, w.topic == topic, w.week >= first, w.week <= last)):
        week = series[row.week]
        if row.audience == "total":
            week["contributions"], week["participants"] = row.contributions, row.participants
        else:
            week["by_audience"][row.audience] = {"contributions": row.contributions,
                                                 "participants": row.participants}
    b = insight_bursts.c
    bursts = conn.execute(select(insight_bursts).where(b.scope == scope, b.topic == topic)
                          .order_by(b.start))
    return {"topic": topic, "weeks": list(series.values()),
            "bursts": [_burst(row, today) for row in bursts]}


def _names(conn: Connection, ids: set[int]) -> dict[int, str]:
    rows = conn.execute(select(people.c.id, people.c.display_name)
                        .where(people.c.id.in_(sorted(ids))))
    return {row.id: row.display_name for row in rows}


def _nodes(conn: Connection, scope: str, topic: str, ids: set[int]) -> dict[int, Any]:
    n = insight_nodes.c
    rows = conn.execute(select(insight_nodes).where(
        n.scope == scope, n.topic == topic, n.person_id.in_(sorted(ids))))
    return {row.person_id: row for row in rows}


def _edge(row: Any) -> dict[str, Any]:
    return {"source": row.person_a, "target": row.person_b, "weight": row.weight,
            "replies": row.replies, "likes": row.likes, "accepts": row.accepts,
            "threads": row.threads,
            "last_at": from_db_time(row.last_at).isoformat()}  # type: ignore[union-attr]


def graph_page(conn: Connection, scope: str, topic: str, since: datetime | None,
               limit: int, offset: int) -> dict[str, Any]:
    """A page of the map's edges (strongest first), the people on them, the total edge
    count and the map's strongest bridges."""
    e = insight_edges.c
    where = and_(e.scope == scope, e.topic == topic,
                 e.last_at >= since if since is not None else true())
    if since is None:  # counting the whole map's million edges was most of a page's time
        m = insight_maps.c
        total = conn.execute(select(m.edges).where(m.scope == scope, m.topic == topic)
                             ).scalar() or 0
    else:
        total = int(conn.execute(select(func.count()).where(where)).scalar() or 0)
    rows = list(conn.execute(select(insight_edges).where(where)
                             .order_by(e.weight.desc(), e.person_a, e.person_b)
                             .limit(limit).offset(offset)))
    ids = {row.person_a for row in rows} | {row.person_b for row in rows}
    n = insight_nodes.c
    bridge_rows = list(conn.execute(select(insight_nodes).where(
        n.scope == scope, n.topic == topic, n.bridge > 0)
        .order_by(n.bridge.desc(), n.person_id).limit(10)))
    nodes = _nodes(conn, scope, topic, ids)
    names = _names(conn, ids | {row.person_id for row in bridge_rows})
    return {
        "topic": topic or None, "total": total,
        "nodes": [_node(nodes[p], names) for p in sorted(ids) if p in nodes],
        "edges": [_edge(row) for row in rows],
        "bridges": [{"person_id": row.person_id, "display_name": names[row.person_id],
                     "communities": row.communities.split(","), "score": row.bridge}
                    for row in bridge_rows if row.person_id in names],
    }


def _node(row: Any, names: dict[int, str]) -> dict[str, Any]:
    return {"id": row.person_id, "display_name": names.get(row.person_id, ""),
            "communities": row.communities.split(","), "strength": row.strength,
            "bridge": row.bridge}


def connections(conn: Connection, scope: str, person_id: int, limit: int
                ) -> list[dict[str, Any]]:
    """Who the person works with most (every topic), strongest first; `outside` when
    they share no community with the person."""
    e = insight_edges.c
    rows = list(conn.execute(select(insight_edges).where(
        e.scope == scope, e.topic == "", or_(e.person_a == person_id, e.person_b == person_id))
        .order_by(e.weight.desc(), e.person_a, e.person_b).limit(limit)))
    others = {row.person_b if row.person_a == person_id else row.person_a for row in rows}
    nodes = _nodes(conn, scope, "", others | {person_id})
    names = _names(conn, others)
    own = set(nodes[person_id].communities.split(",")) if person_id in nodes else set()
    found = []
    for row in rows:
        other = row.person_b if row.person_a == person_id else row.person_a
        communities = nodes[other].communities.split(",") if other in nodes else []
        item = _edge(row)
        del item["source"], item["target"]
        found.append({"person_id": other, "display_name": names.get(other, ""),
                      "communities": communities, "outside": not own & set(communities),
                      **item})
    return found


def group_candidates(conn: Connection, scope: str, topic: str, per_order: int
                     ) -> list[dict[str, Any]]:
    """People on the topic in this scope: the best by score and the most engaged lately,
    with their community, score, level, recent activity and bridge score."""
    pt, t = insight_person_topics.c, profile_topics.c
    score = func.coalesce(t.score, 0.0)
    base = (select(pt.person_id, pt.community, pt.last_90_days, pt.contributions,
                   pt.last_active, score.label("score"),
                   func.coalesce(t.level, "contributor").label("level"))
            .select_from(insight_person_topics)
            .outerjoin(profile_topics, and_(t.person_id == pt.person_id, t.scope == pt.scope,
                                            t.topic == pt.topic))
            .where(pt.scope == scope, pt.topic == topic))
    found: dict[int, dict[str, Any]] = {}
    for order in (score.desc(), pt.last_90_days.desc()):
        for row in conn.execute(base.order_by(order, pt.person_id).limit(per_order)):
            found[row.person_id] = {**row._mapping,
                                    "last_active": from_db_time(row.last_active)}
    bridges = _nodes(conn, scope, topic, set(found))
    names = _names(conn, set(found))
    for person, item in found.items():
        item["display_name"] = names.get(person, "")
        item["bridge"] = bridges[person].bridge if person in bridges else 0.0
    return list(found.values())


def recent_topics(conn: Connection, scope: str, person_id: int, limit: int = 10
                  ) -> list[dict[str, Any]]:
    """The person's topics of the last 90 days, busiest lately first."""
    pt, mine = insight_person_topics.c, person_topics.c
    hidden = select(mine.topic).where(mine.person_id == person_id,
                                      mine.state.in_(hiding_states(scope)))
    rows = conn.execute(select(insight_person_topics).where(
        pt.scope == scope, pt.person_id == person_id, pt.last_90_days > 0,
        pt.topic.not_in(hidden))
        .order_by(pt.last_30_days.desc(), pt.last_90_days.desc(), pt.topic).limit(limit))
    return [{"topic": row.topic, "last_30_days": row.last_30_days,
             "last_90_days": row.last_90_days,
             "last_active": from_db_time(row.last_active).isoformat()}  # type: ignore[union-attr]
            for row in rows]
