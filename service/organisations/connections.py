"""Who knows who at one organisation, and what it asks about.

The interaction graph folded per organisation: for each employee, what passed between
them and the organisation's people — replies either way, their answers the organisation's
people accepted, likes either way, threads both wrote in — each weighted as on the
connection map (`insight.network.KIND_WEIGHTS`; a shared thread counts `THREAD_WEIGHT`)
and faded by age at the reputation's default half-life, so that the strongest connection
is the one that is both close and current. Topics come from the reputation's own topic
extraction of the organisation's contributions (`reputation.engine.facts_from_row`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Connection

from service.insight.network import KIND_WEIGHTS
from service.organisations.store import members
from service.reputation.engine import ReputationSettings, facts_from_row
from service.reputation.scoring import age_decay
from service.store.db import chunks, from_db_time
from service.store.profiles import iter_scoring_rows
from service.store.schema import contributions, identity_links, interactions, people

__all__ = ["THREAD_WEIGHT", "TREND_DAYS", "connections", "organisation_topics"]

THREAD_WEIGHT = 0.5
#: topics: the recent window compared with the one before it
TREND_DAYS = 90
_TOPICS_SHOWN = 5
_PEOPLE_SHOWN = 5
_EVIDENCE_SHOWN = 5
ThreadKey = tuple[str, str]


@dataclass(slots=True)
class _Tally:
    strength: float = 0.0
    replies: int = 0
    their_replies: int = 0
    accepted: int = 0
    likes: int = 0
    threads: set[ThreadKey] = field(default_factory=set)
    people: Counter[int] = field(default_factory=Counter)
    evidence: dict[int, datetime] = field(default_factory=dict)
    last_at: datetime | None = None

    def saw(self, at: datetime | None) -> None:
        if at is not None and (self.last_at is None or at > self.last_at):
            self.last_at = at


def _their_threads(conn: Connection, member_ids: list[int], settings: ReputationSettings
                   ) -> dict[ThreadKey, set[str]]:
    """The threads the organisation's people wrote in, with the topics of what they wrote."""
    found: dict[ThreadKey, set[str]] = defaultdict(set)
    for chunk in chunks(member_ids):
        for row in iter_scoring_rows(conn, list(chunk)):
            found[(row.source_id, row.thread)] |= facts_from_row(row, settings).topics
    return found


def _interactions(conn: Connection, member_ids: list[int], employees: set[int]
                  ) -> Iterable[tuple[str, int, int, bool, Any, int, ThreadKey]]:
    """(kind, employee, member, whether the employee acted, when, the target contribution,
    its thread) for each interaction between an employee and one of the members, either
    way (employees are never members, so each comes out of one of the two statements)."""
    actor, author = identity_links.alias("actor"), identity_links.alias("author")
    i, c = interactions.c, contributions.c
    base = (select(i.kind, actor.c.person_id.label("actor"), author.c.person_id.label("author"),
                   i.created_at, c.id, c.source_id, c.thread_external_id)
            .select_from(interactions)
            .join(contributions, c.id == i.target_contribution_id)
            .join(actor, actor.c.identity_id == i.actor_identity_id)
            .join(author, author.c.identity_id == c.author_identity_id)
            .where(c.deleted.is_(False)))
    for chunk in chunks(member_ids):
        ids = list(chunk)
        for column in (actor.c.person_id, author.c.person_id):
            for row in conn.execute(base.where(column.in_(ids))):
                thread = (row.source_id, row.thread_external_id)
                if row.author in employees:
                    yield row.kind, row.author, row.actor, False, row.created_at, row.id, thread
                elif row.actor in employees:
                    yield row.kind, row.actor, row.author, True, row.created_at, row.id, thread


def _employees_in(conn: Connection, threads: Iterable[ThreadKey], employees: set[int]
                  ) -> Iterable[tuple[int, ThreadKey, Any, int]]:
    """(employee, thread, when, their contribution) for what employees wrote in these
    threads."""
    c, link = contributions.c, identity_links.c
    statement = (select(link.person_id, c.source_id, c.thread_external_id, c.created_at, c.id)
                 .join(identity_links, link.identity_id == c.author_identity_id)
                 .where(c.deleted.is_(False)))
    for chunk in chunks(sorted(threads)):
        for row in conn.execute(statement.where(
                tuple_(c.source_id, c.thread_external_id).in_(list(chunk)))):
            if row.person_id in employees:
                yield (row.person_id, (row.source_id, row.thread_external_id),
                       row.created_at, row.id)


def connections(conn: Connection, org_id: str, company_id: str, settings: ReputationSettings,
                now: datetime, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The employees connected to the organisation's people, strongest first (at most
    `limit`), with their evidence, recency, topics and the people they know there; and how
    many employees are connected in all."""
    member_ids = members(conn, org_id)
    employees = set(members(conn, company_id)) - set(member_ids)
    if not member_ids or not employees:
        return [], 0
    threads = _their_threads(conn, member_ids, settings)
    half_life = settings.default_half_life_days
    tallies: dict[int, _Tally] = defaultdict(_Tally)
    topics: dict[int, Counter[str]] = defaultdict(Counter)
    for kind, employee, member, acted, raw_at, target, thread in _interactions(
            conn, member_ids, employees):
        at = from_db_time(raw_at)
        tally = tallies[employee]
        tally.strength += KIND_WEIGHTS.get(kind, 0.0) * age_decay(at or now, now, half_life)
        if kind == "reply":
            tally.replies += acted
            tally.their_replies += not acted
        elif kind == "accept":
            tally.accepted += not acted  # their acceptance of the employee's answer
        else:
            tally.likes += 1
        tally.people[member] += 1
        tally.saw(at)
        if not acted and at is not None:  # their own post: replied to, accepted, liked
            tally.evidence[target] = at
        topics[employee].update(threads.get(thread, ()))
    latest: dict[tuple[int, ThreadKey], datetime] = {}
    for employee, thread, raw_at, own in _employees_in(conn, threads, employees):
        at = from_db_time(raw_at) or now
        key = (employee, thread)
        latest[key] = max(latest.get(key, at), at)
        tallies[employee].evidence.setdefault(own, at)
    for (employee, thread), at in latest.items():
        tally = tallies[employee]
        tally.threads.add(thread)
        tally.strength += THREAD_WEIGHT * age_decay(at, now, half_life)
        tally.saw(at)
        topics[employee].update(threads.get(thread, ()))
    ranked = sorted(tallies.items(), key=lambda item: (-item[1].strength, item[0]))
    shown = ranked[:limit]
    names = _people(conn, {e for e, _ in shown}
                    | {p for _, t in shown for p, _ in t.people.most_common(_PEOPLE_SHOWN)})
    return [_connection(employee, tally, topics[employee], names) for employee, tally in shown
            ], len(ranked)


def _people(conn: Connection, ids: set[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for chunk in chunks(sorted(ids)):
        for row in conn.execute(select(people.c.id, people.c.display_name, people.c.department)
                                .where(people.c.id.in_(list(chunk)))):
            found[row.id] = row
    return found


def _connection(employee: int, tally: _Tally, topics: Counter[str], names: dict[int, Any]
                ) -> dict[str, Any]:
    person = names.get(employee)
    evidence = sorted(tally.evidence.items(), key=lambda item: (-item[1].timestamp(), item[0]))
    return {
        "person_id": employee,
        "display_name": person.display_name if person else None,
        "department": person.department if person else None,
        "strength": round(tally.strength, 4),
        "evidence": {"replies": tally.replies, "their_replies": tally.their_replies,
                     "accepted_answers": tally.accepted, "likes": tally.likes,
                     "shared_threads": len(tally.threads)},
        "last_at": tally.last_at.isoformat() if tally.last_at else None,
        "topics": [topic for topic, _ in sorted(topics.items(), key=lambda t: (-t[1], t[0]))
                   [:_TOPICS_SHOWN]],
        "knows": [{"person_id": p, "display_name": names[p].display_name if p in names
                   else None, "interactions": n}
                  for p, n in tally.people.most_common(_PEOPLE_SHOWN)],
        "contributions": [cid for cid, _ in evidence[:_EVIDENCE_SHOWN]],
    }


def organisation_topics(conn: Connection, org_id: str, settings: ReputationSettings,
                        now: datetime, limit: int) -> list[dict[str, Any]]:
    """What the organisation's people write about: per topic, their contributions, how
    many of them wrote, the last `TREND_DAYS` days against the `TREND_DAYS` before, and a
    trend (rising, falling, steady, new); the most recently active topics first."""
    member_ids = members(conn, org_id)
    recent_start = now - timedelta(days=TREND_DAYS)
    before_start = recent_start - timedelta(days=TREND_DAYS)
    tallies: dict[str, dict[str, Any]] = {}
    for chunk in chunks(member_ids):
        for row in iter_scoring_rows(conn, list(chunk)):
            facts = facts_from_row(row, settings)
            for topic in facts.topics:
                tally = tallies.setdefault(topic, {"contributions": 0, "people": set(),
                                                   "recent": 0, "before": 0, "last": None,
                                                   "questions": 0})
                tally["contributions"] += 1
                tally["people"].add(row.person_id)
                tally["questions"] += row.kind == "question"
                if row.created >= recent_start:
                    tally["recent"] += 1
                elif row.created >= before_start:
                    tally["before"] += 1
                if tally["last"] is None or row.created > tally["last"]:
                    tally["last"] = row.created
    ordered = sorted(tallies.items(), key=lambda item: (-item[1]["recent"],
                                                       -item[1]["contributions"], item[0]))
    return [{"topic": topic, "contributions": t["contributions"], "questions": t["questions"],
             "people": len(t["people"]), "last_90_days": t["recent"],
             "previous_90_days": t["before"], "trend": _trend(t["recent"], t["before"]),
             "last_active": t["last"].isoformat() if t["last"] else None}
            for topic, t in ordered[:limit]]


def _trend(recent: int, before: int) -> str:
    if recent and not before:
        return "new"
    if recent >= 2 and recent >= 1.5 * before:
        return "rising"
    if before >= 2 and recent <= before / 1.5:
        return "falling"
    return "steady"
