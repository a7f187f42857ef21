"""Helpers for the crash test: replay servers that stop on a chosen request, generated
portal data, `whoknows sync` as a real process, and a store snapshot by source ids.

A `Tripwire` counts the requests that fetch a page (the portal's listing requests, or
Discourse's `/t/<id>.json`). Armed with `block_at=n`, the n-th such request waits inside
the server until the test has killed the client and calls `release()`, so a SIGKILL lands
at a known point of the run. `served(k)` waits until the k-th answer has been produced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import aliased

from service.store.schema import (
    contributions,
    identities,
    identity_links,
    interactions,
    profile_topics,
    sync_state,
)
from tests.connectors.discourse_server import _TOPIC, DiscourseServer
from tests.connectors.portal_server import Item, Listing, PortalServer, PortalStyle, total_pages

REPO = Path(__file__).resolve().parent.parent.parent
#: How long a blocked request waits for the test before it answers anyway.
_HOLD_LIMIT = 60.0


class Tripwire:
    """Counts page requests; blocks the `block_at`-th until `release()`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.count = 0
        self.answered = 0
        self.block_at: int | None = None
        self._released = threading.Event()

    def arm(self, block_at: int | None) -> None:
        with self._cond:
            self.count = self.answered = 0
            self.block_at = block_at
            self._released = threading.Event()

    def release(self) -> None:
        with self._cond:
            self.block_at = None
            self._released.set()
            self._cond.notify_all()

    def enter(self) -> None:
        """Called by the server before it answers a page request."""
        with self._cond:
            self.count += 1
            blocking = self.count == self.block_at
            released = self._released
            if blocking:
                self._cond.notify_all()
        if blocking:
            released.wait(_HOLD_LIMIT)

    def leave(self) -> None:
        """Called by the server once the answer is ready to go out."""
        with self._cond:
            self.answered += 1
            self._cond.notify_all()

    def wait(self, condition: Callable[[], bool], alive: Callable[[], bool],
             timeout: float = 30.0) -> bool:
        """Wait until `condition()` holds (True) or `alive()` stops holding (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                if not alive():
                    return False
                if time.monotonic() > deadline:
                    raise TimeoutError("the sync neither reached the request nor ended")
                self._cond.wait(0.02)
        return True

    def is_blocking(self) -> bool:
        return self.block_at is not None and self.count >= self.block_at


def _quiet_about_killed_clients(server: Any) -> None:
    """A killed client resets its kept-alive connection: not worth a traceback."""
    httpd = server._httpd
    report = httpd.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            report(request, client_address)

    httpd.handle_error = handle_error


class TrippedPortal(PortalServer):
    """`PortalServer` whose listing requests go through a `Tripwire`."""

    def __init__(self, style: PortalStyle, items: list[Item], tripwire: Tripwire) -> None:
        super().__init__(style, items)
        self.tripwire = tripwire
        _quiet_about_killed_clients(self)

    def answer(self, query: dict[str, str]) -> Any:
        self.tripwire.enter()
        try:
            return super().answer(query)
        finally:
            self.tripwire.leave()


class TrippedDiscourse(DiscourseServer):
    """`DiscourseServer` whose topic requests (`/t/<id>.json`) go through a `Tripwire`."""

    def __init__(self, tripwire: Tripwire, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tripwire = tripwire
        _quiet_about_killed_clients(self)

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if not _TOPIC.match(path):
            return super().answer(path, query)
        self.tripwire.enter()
        try:
            return super().answer(path, query)
        finally:
            self.tripwire.leave()


# -- a generated partner portal ---------------------------------------------------------------

PORTAL_OPTIONS = """
[sources.options]
items = "data.results"
pagination = "page"
per_page = {per_page}
total_pages = "meta.total_pages"
total = "meta.total"
order = "asc"
params = {{ sort = "updated_at" }}
kinds = {{ comment = "reply" }}
{since}

[sources.options.fields]
id = "id"
kind = "type"
author = {{ id = "author.uid", username = "author.login", name = "author.display_name", \
email = "author.mail", url = "author.profile" }}
title = "subject"
html = "body_html"
url = "links.web"
created = "created_at"
updated = "updated_at"
thread = "topic_id"
parent = "in_reply_to"
tags = "tags"
score = "votes"
likes = "kudos"
replies = "reply_count"
accepted = "is_accepted"
deleted = "is_deleted"
"""


def portal_style() -> PortalStyle:
    """The partner hub's layout: `{"data": {"results": [...]}, "meta": {...}}`, oldest
    update first, filtered by `modified_since`."""

    def envelope(page: Listing) -> Any:
        return {
            "data": {"results": page.items},
            "meta": {"page": page.page, "total_pages": total_pages(page), "total": page.total},
        }

    def iso(value: str) -> float:
        return datetime.fromisoformat(value).timestamp()

    return PortalStyle(
        pagination="page",
        envelope=envelope,
        updated=lambda item: iso(item["updated_at"]),
        since_param="modified_since",
        since=iso,
    )


_WORDS = (
    "claims adjudication dental frequency code payer portal eligibility prior authorization "
    "remittance denial appeal batch clearinghouse member provider network fee schedule"
).split()


def portal_items(count: int) -> list[Item]:
    """`count` threads' worth of questions, answers and comments, oldest update first;
    every seventh item shares its update time with the one before (ties at page edges)."""
    start = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    people = [
        {
            "uid": f"ph-{n:04d}",
            "login": f"user{n}",
            "display_name": f"Partner User {n}",
            "mail": f"User{n}@Partner{n % 3}.example" if n % 4 else None,
            "profile": f"/members/user{n}",
        }
        for n in range(1, 15)
    ]
    items: list[Item] = []
    updated = start
    question_id = 0
    for n in range(count):
        item_id = 9000 + n
        position = n % 5  # a question, then two answers and two comments
        if position == 0:
            question_id = item_id
        if n % 7:
            updated = updated + timedelta(minutes=13 + n % 11)
        words = " ".join(_WORDS[(n + i) % len(_WORDS)] for i in range(12))
        created = updated - timedelta(hours=(n % 3))
        items.append(
            {
                "id": item_id,
                "type": ["question", "answer", "answer", "comment", "comment"][position],
                "subject": f"Question {n}: {words[:40]}" if position == 0 else "",
                "body_html": f"<p>{words}</p><ul><li>item {n}</li></ul>",
                "author": people[(n * 5 + position) % len(people)],
                "created_at": created.isoformat().replace("+00:00", "Z"),
                "updated_at": updated.isoformat().replace("+00:00", "Z"),
                "topic_id": question_id,
                "in_reply_to": None if position == 0 else (
                    question_id if position < 3 else item_id - 2
                ),
                "tags": [_WORDS[n % len(_WORDS)], _WORDS[(n * 3) % len(_WORDS)]],
                "votes": n % 9,
                "kudos": n % 4,
                "reply_count": 2 if position in (0, 1) else 0,
                "is_accepted": position == 1 and n % 2 == 0,
                "is_deleted": n % 31 == 30,
                "links": {"web": f"/t/{question_id}#p{item_id}"},
            }
        )
    return items


# -- whoknows as a process ----------------------------------------------------------------------


def write_config(path: Path, db: Path, source: str) -> Path:
    path.write_text(f'[database]\nurl = "sqlite:///{db}"\n\n{source}', encoding="utf-8")
    return path


def whoknows_command() -> list[str]:
    """The `whoknows` console script beside this interpreter (as `make test` installs it in
    .venv/bin), else the same entry point through `-c`."""
    script = Path(sys.executable).with_name("whoknows")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from service.cli import main; main()"]


def start_sync(config: Path, source_id: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "WHOKNOWS_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [*whoknows_command(), "--config", str(config), "sync", source_id],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


# -- the store, by source ids --------------------------------------------------------------------

Rows = list[tuple[Any, ...]]


def snapshot(db: Path) -> dict[str, Any]:
    """Everything a sync writes, keyed by source ids, not row ids (which a rolled-back
    transaction may leave differently numbered)."""
    engine = create_engine(f"sqlite:///{db}")
    c = contributions.c
    author, actor, target = aliased(identities), aliased(identities), aliased(contributions)
    skipped = {"id", "author_identity_id", "seen_at"}
    columns = [column for column in contributions.columns if column.name not in skipped]
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                select(author.c.external_id, *columns)
                .join(author, author.c.id == c.author_identity_id)
                .order_by(c.source_id, c.external_id)
            ).all()
            duplicates = conn.execute(
                select(c.source_id, c.external_id, func.count())
                .group_by(c.source_id, c.external_id)
                .having(func.count() > 1)
            ).all()
            accounts = conn.execute(
                select(
                    identities.c.source_id,
                    identities.c.external_id,
                    identities.c.username,
                    identities.c.display_name,
                    identities.c.email,
                    identities.c.email_verified,
                    identities.c.profile_url,
                ).order_by(identities.c.source_id, identities.c.external_id)
            ).all()
            linked = conn.execute(
                select(
                    interactions.c.source_id,
                    interactions.c.kind,
                    actor.c.external_id,
                    target.c.external_id,
                    interactions.c.created_at,
                )
                .join(actor, actor.c.id == interactions.c.actor_identity_id)
                .join(target, target.c.id == interactions.c.target_contribution_id)
                .order_by(
                    interactions.c.kind, target.c.external_id, actor.c.external_id
                )
            ).all()
            cursors = dict(conn.execute(select(sync_state.c.source_id, sync_state.c.cursor)).all())
            persons = _people(conn)
            profiles = _profiles(conn, persons)
    finally:
        engine.dispose()
    return {
        "contributions": [tuple(row) for row in stored],
        "duplicates": [tuple(row) for row in duplicates],
        "identities": [tuple(row) for row in accounts],
        "interactions": [tuple(row) for row in linked],
        "cursors": cursors,
        "people": sorted(persons.values()),
        "profiles": profiles,
    }


def _people(conn: Any) -> dict[int, tuple[str, ...]]:
    """person id -> the accounts linked to them ("source:external id"), sorted."""
    persons: dict[int, list[str]] = {}
    for row in conn.execute(
        select(identity_links.c.person_id, identities.c.source_id, identities.c.external_id)
        .join(identities, identities.c.id == identity_links.c.identity_id)
    ):
        persons.setdefault(row.person_id, []).append(f"{row.source_id}:{row.external_id}")
    return {person: tuple(sorted(accounts)) for person, accounts in persons.items()}


def _profiles(conn: Any, persons: dict[int, tuple[str, ...]]) -> dict[tuple[Any, ...], Any]:
    """(person's accounts, scope, topic) -> (score, (level, contributions, evidence by
    external id, last active)); the score apart, as the clock moves between two syncs
    and decay with it."""
    external = dict(conn.execute(select(contributions.c.id, contributions.c.external_id)).all())
    found: dict[tuple[Any, ...], tuple[float, Any]] = {}
    for row in conn.execute(select(profile_topics)):
        who = persons.get(row.person_id, (f"person {row.person_id}",))
        evidence = sorted(external.get(cid, cid) for cid, _ in row.evidence)
        found[(who, row.scope, row.topic)] = (
            row.score,
            (row.level, row.contributions, evidence, row.last_active),
        )
    return found
