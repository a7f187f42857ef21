"""Open questions and their suggested answerers.

A question is *open* when it is on an external or partner source, at least
`open_after_hours` old (and at most `max_age_days`), and its thread has neither an
accepted answer nor a reply from an employee (a member of the company's organisation).

Suggested answerers come from the product's own search (`ExpertIndex.search`: BM25 per
person, the thread, topic and activity signals of `search.ranking`) for the question's
title and the start of its body, as an internal query: employees first, then trusted
external members (expert or authority on a topic the question is about, or the author of
`trusted_accepted` accepted answers). Left out: the
asker, people who opted out, people the directory says are away, and people already
suggested for `max_open_suggestions` open questions (counted oldest question first, so
the load spreads over the next best people).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from service.config import RoutingConfig
from service.model import Audience
from service.reputation.topics import TopicVocabulary
from service.search.base import ExpertHit, ExpertQuery, MatchedTopic, QueryError
from service.search.candidates import topic_scores
from service.store.db import from_db_time, to_utc
from service.store.profiles import person_activity
from service.store.schema import (
    contributions,
    directory_entries,
    identity_links,
    organisation_members,
    organisations,
    people,
)

__all__ = ["BODY_CHARS", "OpenQuestion", "Suggestion", "Suggester", "open_questions",
           "question_text", "route"]

#: the query is the title and this much of the body (as bench/relevance measures it)
BODY_CHARS = 300
#: levels that make an external member trusted to answer
TRUSTED_LEVELS = frozenset({"expert", "authority"})
#: how many ranked people a question's search reads to find its suggestions
_SEARCHED = 30


@dataclass(slots=True)
class Suggestion:
    person_id: int
    display_name: str
    department: str | None
    employee: bool
    score: float
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "display_name": self.display_name,
                "department": self.department, "employee": self.employee,
                "score": round(self.score, 4), "reason": self.reason}


@dataclass(slots=True)
class OpenQuestion:
    contribution_id: int
    source_id: str
    title: str
    body: str
    url: str | None
    created_at: datetime
    tags: list[str]
    asker_id: int
    asker_name: str
    organisation: tuple[str, str] | None
    replies: int
    topics: list[str] = field(default_factory=list)
    suggested: list[Suggestion] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"contribution_id": self.contribution_id, "source_id": self.source_id,
                "title": self.title, "url": self.url,
                "created_at": self.created_at.isoformat(), "topics": self.topics,
                "asker": {"person_id": self.asker_id, "display_name": self.asker_name},
                "organisation": ({"id": self.organisation[0], "name": self.organisation[1]}
                                 if self.organisation else None),
                "replies": self.replies,
                "suggested": [s.as_json() for s in self.suggested]}


def question_text(title: str, body: str) -> str:
    """The search query of a question: its title and the start of its body."""
    return f"{title}\n{body[:BODY_CHARS]}".strip()


def _employees(company_id: str) -> Any:
    m = organisation_members.c
    return select(m.person_id).where(m.organisation_id == company_id)


def open_questions(conn: Connection, config: RoutingConfig, company_id: str, now: datetime,
                   vocabulary: TopicVocabulary) -> list[OpenQuestion]:
    """Every open question, oldest first, without suggestions yet."""
    c, link = contributions.c, identity_links.c
    answer = contributions.alias("answer")
    answer_link = identity_links.alias("answer_link")
    in_thread = and_(answer.c.source_id == c.source_id,
                     answer.c.thread_external_id == c.external_id,
                     answer.c.id != c.id, answer.c.deleted.is_(False))
    accepted = select(answer.c.id).where(in_thread, answer.c.accepted.is_(True))
    employee_reply = (select(answer.c.id)
                      .join(answer_link, answer_link.c.identity_id == answer.c.author_identity_id)
                      .where(in_thread, answer_link.c.person_id.in_(_employees(company_id))))
    member = organisation_members.alias("member")
    rows = conn.execute(
        select(c.id, c.source_id, c.title, c.body, c.url, c.created_at, c.tags, c.replies,
               link.person_id, people.c.display_name, organisations.c.id.label("org_id"),
               organisations.c.name.label("org_name"))
        .join(identity_links, link.identity_id == c.author_identity_id)
        .join(people, people.c.id == link.person_id)
        .outerjoin(member, member.c.person_id == link.person_id)
        .outerjoin(organisations, organisations.c.id == member.c.organisation_id)
        .where(c.kind == "question", c.deleted.is_(False),
               c.audience.in_([str(Audience.EXTERNAL), str(Audience.PARTNER)]),
               c.created_at <= now - timedelta(hours=config.open_after_hours),
               c.created_at >= now - timedelta(days=config.max_age_days),
               ~accepted.exists(), ~employee_reply.exists())
        .order_by(c.created_at, c.id))
    found = []
    for row in rows:
        tags = list(row.tags or [])
        found.append(OpenQuestion(
            row.id, row.source_id, row.title, row.body, row.url,
            from_db_time(row.created_at) or now, tags, row.person_id, row.display_name,
            (row.org_id, row.org_name) if row.org_id else None, row.replies,
            sorted(vocabulary.extract(tags, [row.title, row.body]))))
    return found


@dataclass(slots=True)
class _Person:
    display_name: str
    department: str | None
    employee: bool
    blocked: bool
    accepted: int = 0


class Suggester:
    """Suggests answerers with the product's ranking, minding opt-outs, absences and the
    load of open suggestions (`load`: person -> open questions they are suggested for).

    A trusted member: expert or authority on one of the question's topics, or the author
    of at least `trusted_accepted` accepted answers."""

    def __init__(self, conn: Connection, index: Any, config: RoutingConfig, company_id: str,
                 today: date, load: Counter[int] | None = None) -> None:
        self.conn, self.index, self.config = conn, index, config
        self.company_id, self.today = company_id, today
        self.load: Counter[int] = load if load is not None else Counter()
        self._people: dict[int, _Person] = {}

    def _facts(self, ids: Sequence[int]) -> None:
        wanted = [i for i in ids if i not in self._people]
        if not wanted:
            return
        p, d = people.c, directory_entries.c
        employees = set(self.conn.execute(_employees(self.company_id)
                                          .where(organisation_members.c.person_id
                                                 .in_(wanted))).scalars())
        activity = person_activity(self.conn, "all", wanted)
        for row in self.conn.execute(
                select(p.id, p.display_name, p.department, p.opt_out_external, d.away_until)
                .outerjoin(directory_entries, d.email == p.email).where(p.id.in_(wanted))):
            away = row.away_until is not None and _as_date(row.away_until) >= self.today
            accepted = activity[row.id].accepted if row.id in activity else 0
            self._people[row.id] = _Person(row.display_name, row.department,
                                           row.id in employees,
                                           bool(row.opt_out_external) or away, accepted)

    def suggest(self, text: str, asker: int | None, topics: Sequence[str] = ()
                ) -> list[Suggestion]:
        """Up to `config.suggestions` people for a question's text and topics, employees
        first; each one suggested adds to their load."""
        try:
            result = self.index.search(ExpertQuery(text=text, audience=Audience.INTERNAL,
                                                   limit=_SEARCHED))
        except QueryError:
            return []
        ids = [hit.person_id for hit in result.hits]
        self._facts(ids)
        levels = topic_scores(self.conn, "all", set(topics), ids)
        employees: list[Suggestion] = []
        trusted: list[Suggestion] = []
        for hit in result.hits:
            person = self._people.get(hit.person_id)
            if (person is None or hit.person_id == asker or person.blocked
                    or self.load[hit.person_id] >= self.config.max_open_suggestions):
                continue
            rated = [t for t in levels.get(hit.person_id, []) if t.level in TRUSTED_LEVELS]
            if person.employee:
                employees.append(_suggestion(hit, person, levels.get(hit.person_id, [])))
            elif rated or person.accepted >= self.config.trusted_accepted:
                trusted.append(_suggestion(hit, person, rated))
        chosen = (employees + trusted)[:self.config.suggestions]
        for suggestion in chosen:
            self.load[suggestion.person_id] += 1
        return chosen


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _suggestion(hit: ExpertHit, person: _Person, rated: Sequence[MatchedTopic]
                ) -> Suggestion:
    return Suggestion(hit.person_id, person.display_name, person.department, person.employee,
                      hit.score, _reason(hit, person, rated))


def _reason(hit: ExpertHit, person: _Person, rated: Sequence[MatchedTopic]) -> str:
    parts = []
    if rated:
        ordered = sorted(rated, key=lambda t: (-t.score, t.topic))
        parts.append(", ".join(f"{t.level} on {t.topic}" for t in ordered[:2]))
    signals = {s.name: s for s in hit.signals}
    if hit.evidence:
        parts.append("wrote on what it asks")
    if "thread" in signals and signals["thread"].value > 0:
        parts.append("answered similar questions")
    if person.accepted:
        parts.append(f"{person.accepted} accepted answer{'s' if person.accepted != 1 else ''}")
    recent = signals.get("recent")
    if recent is not None and recent.value >= 1:
        parts.append("active lately")
    who = "employee" if person.employee else "trusted community member"
    return f"{who}: " + ("; ".join(parts) if parts else "their work matches the question")


def route(conn: Connection, index: Any, config: RoutingConfig, company_id: str, now: datetime,
          vocabulary: TopicVocabulary) -> list[OpenQuestion]:
    """Every open question, oldest first, with its suggested answerers (the load spread
    over all of them)."""
    questions = open_questions(conn, config, company_id, to_utc(now), vocabulary)
    suggester = Suggester(conn, index, config, company_id, now.date())
    for question in questions:
        question.suggested = suggester.suggest(question_text(question.title, question.body),
                                               question.asker_id, question.topics)
    return questions
