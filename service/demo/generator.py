"""A deterministic demo: two years of what Lumen Mutual's people wrote on three sources.

`generate_demo(end, seed)` returns the same `DemoData` for the same arguments (one seeded
`random.Random`, no clock, no network); `write_demo` writes it as the files `whoknows
import` and the directory import read:

    sources.json           [{id, kind: "push", audience, name}, ...]
    <source id>.jsonl      one canonical `ContributionRecord` per line, oldest update first
    people.csv             email,name,department,<one column per source: the username there>

The people and sources are in `service.demo.company`. Threads: blog posts and comments on
the intranet blog, questions, answers (some accepted), replies and likes (`liked_by`) on
the customer forum, articles and comments on the partner portal. Each topic's planted
expert (`DemoData.planted`) writes most and best (longer, liked, accepted); "data privacy
gdpr" spikes on the forum about five months before `end` and fades. Some people reply on
their own threads and a few like their own answers, to exercise the rules; a handful of
blog posts carry `MARKER`, which must never reach an external search.

Usage: python -m service.demo.generator OUT_DIR [--end YYYY-MM-DD] [--seed N]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from service.demo.company import (
    BLOG,
    FORUM,
    PORTAL,
    SOURCE_IDS,
    SOURCES,
    SPIKE_TOPIC,
    TOPIC_WEIGHTS,
    DemoPerson,
    make_people,
)
from service.demo.vocabulary import TOPICS, Topic, body, title
from service.model import AuthorRecord, ContributionKind, ContributionRecord

__all__ = [
    "BLOG",
    "FORUM",
    "MARKER",
    "PORTAL",
    "SOURCES",
    "DemoData",
    "DemoPerson",
    "generate_demo",
    "main",
    "write_demo",
]

#: Planted in a few intranet blog posts; tests assert it never reaches external searches.
MARKER = "INTERNAL-ONLY-7f3a"
SPAN = timedelta(days=730)

_PREFIX = {BLOG: "blog", FORUM: "forum", PORTAL: "portal"}
_HOST = {
    BLOG: "https://intranet.lumenmutual.example",
    FORUM: "https://community.lumenmutual.example",
    PORTAL: "https://partners.lumenmutual.example",
}
_THREAD_PATH = {BLOG: "/blog/posts/", FORUM: "/t/", PORTAL: "/articles/"}
_PROFILE_PATH = {BLOG: "/people/", FORUM: "/u/", PORTAL: "/members/"}
_THREADS = {BLOG: 260, FORUM: 300, PORTAL: 115}
_BURST_THREADS = {BLOG: 6, FORUM: 64}
_BURST_CENTRE = timedelta(days=152)
_BURST_HALF_WIDTH = timedelta(days=21)
_ASKERS = {"customer": 1.0, "employee": 0.12}
_ANSWERERS = {"employee": 3.0, "customer": 0.35}
_BLOGGERS = {"employee": 1.0}
_PORTAL_WRITERS = {"partner": 1.0, "employee": 1.6}
_TOPICS_BY_NAME = {t.name: t for t in TOPICS}


@dataclass(slots=True)
class DemoData:
    """The generated company: what `write_demo` writes and what tests assert against."""

    sources: list[dict[str, str]]
    records: dict[str, list[ContributionRecord]]
    directory: list[dict[str, str]]
    planted: dict[str, str]
    people: list[DemoPerson] = field(default_factory=list)


# --- contributions --------------------------------------------------------------------


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _Builder:
    """Creates records for the three sources and remembers who wrote which."""

    def __init__(self, rng: random.Random, end: datetime, people: list[DemoPerson]) -> None:
        self.rng, self.end = rng, end
        self.members = {s: [p for p in people if s in p.usernames] for s in SOURCE_IDS}
        self.records: dict[str, list[ContributionRecord]] = {s: [] for s in SOURCE_IDS}
        self.writer: dict[str, DemoPerson] = {}
        self._authors: dict[tuple[str, str], AuthorRecord] = {}

    def author(self, source: str, person: DemoPerson) -> AuthorRecord:
        key = (source, person.email)
        if key not in self._authors:
            username = person.usernames[source]
            url = f"{_HOST[source]}{_PROFILE_PATH[source]}{username}"
            self._authors[key] = AuthorRecord(username, username, person.name, person.email, url)
        return self._authors[key]

    def pick(
        self, source: str, topic: str, roles: dict[str, float], exclude: DemoPerson | None = None
    ) -> DemoPerson:
        candidates = [p for p in self.members[source] if p.role in roles and p is not exclude]
        weights = [p.weight(topic) * roles[p.role] for p in candidates]
        return self.rng.choices(candidates, weights)[0]

    def later(self, after: datetime, mean_hours: float) -> datetime | None:
        """Return a time some hours after `after`, or None when it would pass `end`."""
        moment = after + timedelta(hours=self.rng.expovariate(1 / mean_hours))
        return moment.replace(microsecond=0) if moment <= self.end else None

    def add(
        self,
        source: str,
        kind: ContributionKind,
        person: DemoPerson,
        created: datetime,
        topic: str,
        parent: ContributionRecord | None = None,
    ) -> ContributionRecord:
        records = self.records[source]
        number = len(records) + 1
        record_id = f"{_PREFIX[source]}-{number}"
        record = ContributionRecord(record_id, kind, self.author(source, person), created)
        record.updated = self._updated(created)
        record.text = body(self.rng, kind, _topic(topic), self._length(kind, person, topic))
        if parent is None:
            record.thread = record_id
            record.title = title(self.rng, kind, _topic(topic))
            record.tags = self._tags(topic)
            record.url = f"{_HOST[source]}{_THREAD_PATH[source]}{number}"
        else:
            record.thread, record.parent = parent.thread, parent.id
            record.url = f"{(parent.url or '').split('#')[0]}#post-{number}"
        self._signals(source, record, person, topic)
        records.append(record)
        self.writer[record_id] = person
        return record

    def _updated(self, created: datetime) -> datetime:
        if self.rng.random() > 0.12:
            return created
        edited = created + timedelta(hours=self.rng.uniform(0.2, 120))
        return min(edited, self.end).replace(microsecond=0)

    def _length(self, kind: ContributionKind, person: DemoPerson, topic: str) -> int:
        depth = min(int(person.expertise(topic) / 4), 3)  # experts explain at more length
        if kind in (ContributionKind.BLOG_POST, ContributionKind.ARTICLE):
            return self.rng.randint(4, 11) + depth
        return self.rng.randint(1, 4) + depth

    def _tags(self, topic: str) -> list[str]:
        tags = _topic(topic).tags
        first = tags[0] if self.rng.random() < 0.6 else self.rng.choice(tags[1:])
        extra = [t for t in tags if t != first]
        return [first] + ([self.rng.choice(extra)] if self.rng.random() < 0.3 else [])

    def _signals(
        self, source: str, record: ContributionRecord, person: DemoPerson, topic: str
    ) -> None:
        lam = 0.3 + 0.6 * math.sqrt(person.expertise(topic))
        if record.parent is None:
            lam *= 2
        record.likes = _poisson(self.rng, lam)
        if source == FORUM:
            fans = [p for p in self.members[FORUM] if p is not person]
            likers = self.rng.sample(fans, min(record.likes, len(fans)))
            record.liked_by = [AuthorRecord(p.usernames[FORUM]) for p in likers]
            record.likes = record.score = len(likers)
        elif source == PORTAL:
            record.score = record.likes


def _topic(name: str) -> Topic:
    return _TOPICS_BY_NAME[name]


# --- threads --------------------------------------------------------------------------


def _comments(
    b: _Builder, source: str, root: ContributionRecord, topic: str, roles: dict[str, float]
) -> None:
    """Add comments under `root`; its author now and then answers on their own thread."""
    owner, thread, moment = b.writer[root.id], [root], root.created
    for _ in range(b.rng.choices(range(7), (0.2, 0.25, 0.2, 0.15, 0.1, 0.06, 0.04))[0]):
        next_moment = b.later(moment, 20)
        if next_moment is None:
            return
        moment = next_moment
        parent = root if b.rng.random() < 0.75 else b.rng.choice(thread)
        who = b.pick(source, topic, roles, exclude=b.writer[parent.id])
        comment = b.add(source, ContributionKind.COMMENT, who, moment, topic, parent)
        thread.append(comment)
        reply_at = b.later(moment, 6)
        if who is not owner and reply_at and b.rng.random() < 0.15:
            thread.append(b.add(source, ContributionKind.COMMENT, owner, reply_at, topic, comment))


def _blog_thread(b: _Builder, topic: str, start: datetime) -> None:
    author = b.pick(BLOG, topic, _BLOGGERS)
    post = b.add(BLOG, ContributionKind.BLOG_POST, author, start, topic)
    _comments(b, BLOG, post, topic, _BLOGGERS)


def _portal_thread(b: _Builder, topic: str, start: datetime) -> None:
    author = b.pick(PORTAL, topic, _PORTAL_WRITERS)
    article = b.add(PORTAL, ContributionKind.ARTICLE, author, start, topic)
    _comments(b, PORTAL, article, topic, {"partner": 1.0, "employee": 1.0})


def _forum_thread(b: _Builder, topic: str, start: datetime) -> None:
    asker = b.pick(FORUM, topic, _ASKERS)
    question = b.add(FORUM, ContributionKind.QUESTION, asker, start, topic)
    answers, moment = [], start
    for _ in range(b.rng.choices(range(5), (0.08, 0.35, 0.3, 0.17, 0.1))[0]):
        next_moment = b.later(moment, 14)
        if next_moment is None:
            break
        moment = next_moment
        who = b.pick(FORUM, topic, _ANSWERERS, exclude=asker)
        answers.append(b.add(FORUM, ContributionKind.ANSWER, who, moment, topic, question))
    _accept(b, answers, topic)
    _follow_ups(b, asker, answers, topic)


def _accept(b: _Builder, answers: list[ContributionRecord], topic: str) -> None:
    if not answers or b.rng.random() > 0.7:
        return
    weights = [b.writer[a.id].expertise(topic) ** 1.5 for a in answers]
    b.rng.choices(answers, weights)[0].accepted = True


def _follow_ups(
    b: _Builder, asker: DemoPerson, answers: list[ContributionRecord], topic: str
) -> None:
    for answer in answers:
        thanks_at, other_at = b.later(answer.created, 8), b.later(answer.created, 30)
        if thanks_at and b.rng.random() < 0.3:  # the asker, on their own thread
            b.add(FORUM, ContributionKind.REPLY, asker, thanks_at, topic, answer)
        if other_at and b.rng.random() < 0.12:
            roles = {"customer": 1.0, "employee": 1.0}
            who = b.pick(FORUM, topic, roles, exclude=b.writer[answer.id])
            b.add(FORUM, ContributionKind.REPLY, who, other_at, topic, answer)


def _schedule(rng: random.Random, end: datetime, source: str) -> list[tuple[datetime, str]]:
    """Return (start, topic) of each thread of `source`, oldest first: busier lately."""
    weights = TOPIC_WEIGHTS[source]
    names, values = list(weights), list(weights.values())
    usable = SPAN - timedelta(days=2)
    plan = [
        (end - SPAN + usable * rng.random() ** 0.85, rng.choices(names, values)[0])
        for _ in range(_THREADS[source])
    ]
    centre = end - _BURST_CENTRE
    plan += [
        (centre + _BURST_HALF_WIDTH * rng.uniform(-1, 1), SPIKE_TOPIC)
        for _ in range(_BURST_THREADS.get(source, 0))
    ]
    return sorted((moment.replace(microsecond=0), topic) for moment, topic in plan)


# --- finishing touches ----------------------------------------------------------------

_MARKER_LINES = (
    "{marker}: the loss ratio figures above are confidential; do not share them outside Lumen.",
    "{marker} - draft numbers from the board pack, internal readers only.",
    "Reminder ({marker}): this roadmap has not been announced to customers or partners.",
)


def _mark_internal(b: _Builder, count: int = 5) -> None:
    posts = [r for r in b.records[BLOG] if r.kind is ContributionKind.BLOG_POST]
    for post in b.rng.sample(posts, count):
        post.text += "\n\n" + b.rng.choice(_MARKER_LINES).format(marker=MARKER)


def _plant_self_likes(b: _Builder, count: int = 6) -> None:
    liked = [r for r in b.records[FORUM] if r.kind is ContributionKind.ANSWER and r.likes]
    for record in b.rng.sample(liked, count):
        record.liked_by.append(AuthorRecord(record.author.id))
        record.likes += 1
        record.score += 1


def _finish(records: list[ContributionRecord]) -> list[ContributionRecord]:
    """Count direct replies and return the records oldest update first."""
    counts = Counter(r.parent for r in records if r.parent)
    for record in records:
        record.replies = counts.get(record.id, 0)
    return sorted(records, key=lambda r: (r.updated or r.created, int(r.id.rsplit("-", 1)[1])))


def _directory(people: list[DemoPerson]) -> list[dict[str, str]]:
    return [
        {"email": p.email, "name": p.name, "department": p.department or ""}
        | {source: p.usernames.get(source, "") for source in SOURCE_IDS}
        for p in people
        if p.role == "employee"
    ]


# --- entry points ---------------------------------------------------------------------


def generate_demo(end: datetime, seed: int = 7) -> DemoData:
    """Return the demo company whose two years of activity end at `end` (naive means UTC).

    The same `end` and `seed` always give the same data.
    """
    end = (end if end.tzinfo else end.replace(tzinfo=UTC)).replace(microsecond=0)
    rng = random.Random(seed)
    people, planted = make_people(rng)
    builder = _Builder(rng, end, people)
    threads = {BLOG: _blog_thread, FORUM: _forum_thread, PORTAL: _portal_thread}
    for source, make_thread in threads.items():
        for start, topic in _schedule(rng, end, source):
            make_thread(builder, topic, start)
    _mark_internal(builder)
    _plant_self_likes(builder)
    records = {source: _finish(rs) for source, rs in builder.records.items()}
    return DemoData([dict(s) for s in SOURCES], records, _directory(people), planted, people)


def write_demo(data: DemoData, folder: Path) -> None:
    """Write `sources.json`, one `<source>.jsonl` per source and `people.csv` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sources.json").write_text(json.dumps(data.sources, indent=2) + "\n")
    encoder = msgspec.json.Encoder()
    for source, records in data.records.items():
        with (folder / f"{source}.jsonl").open("wb") as out:
            for record in records:
                out.write(encoder.encode(record) + b"\n")
    columns = ["email", "name", "department", *(s["id"] for s in data.sources)]
    with (folder / "people.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(data.directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the whoknows demo company's files.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--end", help="last day of activity, YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    day = datetime.strptime(args.end, "%Y-%m-%d") if args.end else datetime.now(UTC)
    end = datetime(day.year, day.month, day.day, tzinfo=UTC)
    data = generate_demo(end, args.seed)
    write_demo(data, args.out_dir)
    total = sum(len(rs) for rs in data.records.values())
    print(f"wrote {total} contributions by {len(data.people)} people to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
