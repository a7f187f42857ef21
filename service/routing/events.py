"""Noticing what subscribers are told: a question became open, an open question was
answered, the employees connected to an organisation changed.

`scan` compares the store with what was announced before (`routing_questions`,
`organisation_connections`) and, in one transaction, records the new state and writes
the events to the webhook outbox: a restart in between announces nothing twice and loses
nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from service.organisations import connections as org_connections
from service.routing import webhooks
from service.routing.questions import Suggester, open_questions, question_text
from service.store import jobs as store_jobs
from service.store.db import insert_rows
from service.store.schema import (
    contributions,
    identity_links,
    organisation_connections,
    organisation_members,
    organisations,
    people,
    routing_questions,
)

__all__ = ["Scanned", "WebhookRounds", "run_once", "scan"]

#: the store lease (service/store/jobs.py) a process holds while it makes a webhook pass
WEBHOOKS_LEASE = "webhooks"

#: connections per organisation an organisation.connection_changed event compares
_CONNECTIONS = 500


@dataclass(slots=True)
class Scanned:
    opened: int = 0
    answered: int = 0
    closed: int = 0
    organisations_changed: int = 0


def scan(conn: Connection, services: Any, now: datetime) -> Scanned:
    """Record and announce what changed since the last scan, in `conn`'s transaction.

    `services` is the pipeline's (`pipeline.Services`): its index ranks the suggested
    answerers, its configuration says when a question is open."""
    report = Scanned()
    company = services.config.organisations.company_id
    _scan_questions(conn, services, company, now, report)
    _scan_connections(conn, services, company, now, report)
    return report


def _scan_questions(conn: Connection, services: Any, company: str, now: datetime,
                    report: Scanned) -> None:
    """Announce the questions that became open (suggesting answerers for those only, the
    load counted from the suggestions still open) and the open ones since answered."""
    config = services.config.routing
    open_now = {q.contribution_id: q for q in open_questions(
        conn, config, company, now, services.vocabulary)}
    r = routing_questions.c
    known = {row.contribution_id: row for row in conn.execute(select(routing_questions))}
    load: Counter[int] = Counter(person for row in known.values() if row.state == "open"
                                 and row.contribution_id in open_now
                                 for person in row.suggested)
    suggester = Suggester(conn, services.index, config, company, now.date(), load)
    for question_id, question in open_now.items():  # oldest first
        if question_id in known:
            continue
        question.suggested = suggester.suggest(question_text(question.title, question.body),
                                               question.asker_id, question.topics)
        conn.execute(routing_questions.insert().values(
            contribution_id=question_id, state="open", opened_at=now, answered_at=None,
            suggested=[s.person_id for s in question.suggested]))
        webhooks.enqueue(conn, "question.open", question.as_json(), now)
        report.opened += 1
    for question_id, row in known.items():
        if row.state != "open" or question_id in open_now:
            continue
        answered = _answers(conn, question_id, company)
        state = "answered" if answered is not None else "closed"
        conn.execute(update(routing_questions).where(r.contribution_id == question_id)
                     .values(state=state, answered_at=now if answered is not None else None))
        if answered is not None:
            webhooks.enqueue(conn, "question.answered", answered, now)
            report.answered += 1
        else:
            report.closed += 1


def _answers(conn: Connection, question_id: int, company: str) -> dict[str, Any] | None:
    """What answered the question (its accepted answer, its employees' replies), or None
    when nothing did (it was deleted, or grew too old to route)."""
    c = contributions.c
    question = conn.execute(select(c.id, c.source_id, c.external_id, c.title, c.url,
                                   c.deleted).where(c.id == question_id)).first()
    if question is None or question.deleted:
        return None
    link, m = identity_links.c, organisation_members.c
    rows = conn.execute(
        select(c.id, c.accepted, link.person_id, people.c.display_name,
               m.organisation_id)
        .join(identity_links, link.identity_id == c.author_identity_id)
        .join(people, people.c.id == link.person_id)
        .outerjoin(organisation_members, m.person_id == link.person_id)
        .where(c.source_id == question.source_id, c.thread_external_id == question.external_id,
               c.id != question.id, c.deleted.is_(False))
        .order_by(c.created_at, c.id)).all()
    answers = [{"contribution_id": row.id, "person_id": row.person_id,
                "display_name": row.display_name, "accepted": bool(row.accepted),
                "employee": row.organisation_id == company}
               for row in rows if row.accepted or row.organisation_id == company]
    if not answers:
        return None
    return {"question": {"contribution_id": question.id, "source_id": question.source_id,
                         "title": question.title, "url": question.url},
            "accepted": any(a["accepted"] for a in answers), "answers": answers}


def _scan_connections(conn: Connection, services: Any, company: str, now: datetime,
                      report: Scanned) -> None:
    if not webhooks.subscribed(conn, ["organisation.connection_changed"]):
        return  # nobody listens: the comparison would cost a fold per organisation
    o, k = organisations.c, organisation_connections.c
    before: dict[str, dict[int, float]] = {}
    for row in conn.execute(select(organisation_connections)):
        before.setdefault(row.organisation_id, {})[row.person_id] = row.strength
    for org in conn.execute(select(o.id, o.name).where(o.id != company).order_by(o.id)).all():
        items, _ = org_connections.connections(conn, org.id, company, services.settings, now,
                                               _CONNECTIONS)
        current = {item["person_id"]: item for item in items}
        old = before.get(org.id, {})
        added, removed = sorted(set(current) - set(old)), sorted(set(old) - set(current))
        if added or removed:
            webhooks.enqueue(conn, "organisation.connection_changed", {
                "organisation": {"id": org.id, "name": org.name},
                "added": [_brief(current[p]) for p in added], "removed": removed,
                "connections": len(current)}, now)
            report.organisations_changed += 1
        conn.execute(delete(organisation_connections).where(k.organisation_id == org.id))
        insert_rows(conn, organisation_connections, [
            {"organisation_id": org.id, "person_id": p, "strength": item["strength"]}
            for p, item in current.items()])
    gone = set(before) - {row.id for row in conn.execute(select(o.id))}
    if gone:
        conn.execute(delete(organisation_connections).where(k.organisation_id.in_(gone)))


def _brief(item: dict[str, Any]) -> dict[str, Any]:
    return {key: item[key] for key in ("person_id", "display_name", "strength", "evidence",
                                       "topics")}


def run_once(services: Any, now: Callable[[], datetime]) -> tuple[Scanned, webhooks.Delivered]:
    """One pass: scan (one transaction), then deliver what is due."""
    with services.engine.begin() as conn:
        scanned = scan(conn, services, now())
    delivered = webhooks.deliver_due(services.engine, services.config.webhooks, now())
    return scanned, delivered




class WebhookRounds:
    """Webhook passes made by a process that is there for other work: the embedded job
    thread of the API and `whoknows worker`, so that subscribers are told without a
    separate `whoknows webhooks deliver --loop`. A call makes a pass when a webhook is
    subscribed, this process made none for `[webhooks] poll_seconds`, and it holds the
    store's `webhooks` lease for that long: of several API replicas and workers, one
    scans and delivers per interval. Returns the pass's figures, or None."""

    def __init__(self, services: Any, owner: str, now: Callable[[], datetime]) -> None:
        self._services, self._owner, self._now = services, owner, now
        self._last = time.monotonic()  # the first pass a poll interval after start

    def subscribed(self) -> bool:
        with self._services.engine.connect() as conn:
            return webhooks.subscribed(conn, webhooks.EVENTS)

    def __call__(self) -> tuple[Scanned, webhooks.Delivered] | None:
        poll = self._services.config.webhooks.poll_seconds
        if time.monotonic() - self._last < poll:
            return None
        self._last = time.monotonic()
        if not self.subscribed():
            return None
        with self._services.engine.begin() as conn:
            if not store_jobs.acquire_lease(conn, WEBHOOKS_LEASE, self._owner, None,
                                            self._now(), poll):
                return None
        return run_once(self._services, self._now)
