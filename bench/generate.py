"""Benchmark data: many people, a million contributions and realistic full-text queries.

    python bench/generate.py OUT_DIR --people 100000 --contributions 1000000 --seed 1

writes into OUT_DIR:

    sources.json      the three sources: `intranet` (internal), `forum` (external) and
                      `portal` (partner), the ids bench/run.py configures
    <source>.jsonl    canonical `ContributionRecord`s, one per line, oldest update first
    queries.txt       ~300 queries: topic phrases, partial phrases and mixed terms

Activity is Zipf-like (a few people write a lot); ~200 topics (40 domains x 5 aspects)
each have their own vocabulary, and the text comes from the demo company's vocabulary
(`service.demo.vocabulary`). Employees use the same e-mail on the intranet and the forum
so identity resolution has work to do. Records are streamed: only the replies still
pending (a few days' worth) are held, in a heap that releases them in update order.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import msgspec

from service.demo.company import COMPANY_DOMAIN
from service.demo.vocabulary import (
    FIRST_NAMES,
    LAST_NAMES,
    TOPICS,
    VERBS,
    Topic,
    body,
    sentence,
    title,
)
from service.model import AuthorRecord, ContributionKind, ContributionRecord

K = ContributionKind
DAY = 86_400.0
SPAN_DAYS = 730


@dataclass(frozen=True, slots=True)
class Channel:
    """One benchmark source: what its threads start with and where they live."""

    id: str
    audience: str
    name: str
    root: ContributionKind
    host: str
    path: str
    share: float  # of all threads


# fmt: off
CHANNELS = (
    Channel("intranet", "internal", "Intranet blog", K.BLOG_POST,
            f"https://intranet.{COMPANY_DOMAIN}", "/blog/posts/", 0.3),
    Channel("forum", "external", "Customer forum", K.QUESTION,
            f"https://community.{COMPANY_DOMAIN}", "/t/", 0.5),
    Channel("portal", "partner", "Partner portal", K.ARTICLE,
            f"https://partners.{COMPANY_DOMAIN}", "/articles/", 0.2),
)
# fmt: on
INTRANET, FORUM, PORTAL = range(3)
EMPLOYEE, CUSTOMER, PARTNER = range(3)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split(", "))


#: Domains beyond the demo's twelve; each becomes five topics with the aspects below.
# fmt: off
_DOMAIN_ROWS = (
    ("travel insurance", "travel cover",
     "trip cancellation, baggage claim, travel policy, medical evacuation, cover period, "
     "destination country, emergency assistance"),
    ("car insurance", "motor insurance",
     "no-claims bonus, windscreen claim, telematics box, vehicle registration, policy excess, "
     "courtesy car, accident report"),
    ("home insurance", "property insurance",
     "contents cover, flood risk, buildings sum, storm damage, loss adjuster, accidental "
     "damage, subsidence"),
    ("life insurance", "life cover",
     "beneficiary, term policy, death benefit, surrender value, trust form, critical illness, "
     "premium waiver"),
    ("reinsurance", "reinsurance treaties",
     "treaty, ceded premium, catastrophe layer, bordereau, retrocession, quota share, excess "
     "of loss"),
    ("broker portal", "brokers",
     "broker commission, quote request, agency code, submission, binding authority, broker "
     "dashboard, renewal list"),
    ("claims automation", "straight-through processing",
     "claim triage, OCR extraction, document classification, automation rate, manual review, "
     "claim intake, workflow rule"),
    ("document management", "documents",
     "document archive, retention label, scanned letter, metadata field, document template, "
     "e-signature, version history"),
    ("identity and access management", "iam",
     "single sign-on, SAML assertion, role mapping, MFA, access review, service account, SCIM "
     "provisioning"),
    ("observability", "monitoring",
     "Prometheus metric, Grafana dashboard, alert rule, trace span, log aggregation, SLO, "
     "error budget"),
    ("ci cd pipelines", "continuous delivery",
     "GitHub Actions workflow, build cache, release tag, artifact registry, pipeline stage, "
     "merge request, canary release"),
    ("database performance", "postgresql",
     "PostgreSQL index, query plan, connection pool, vacuum, replication lag, slow query log, "
     "deadlock"),
    ("cloud cost management", "finops",
     "reserved instance, cost allocation tag, spot instance, budget alert, storage tier, idle "
     "resource, rightsizing"),
    ("machine learning operations", "mlops",
     "model registry, feature store, training pipeline, model drift, inference endpoint, "
     "experiment tracking, model card"),
    ("customer support", "support",
     "support ticket, escalation path, first response time, knowledge base, chat transcript, "
     "support macro, satisfaction survey"),
    ("policy administration", "policy admin",
     "policy endorsement, policy renewal, mid-term adjustment, cancellation notice, policy "
     "schedule, cover start date"),
    ("regulatory reporting", "solvency ii",
     "Solvency II return, quarterly return, regulator submission, capital requirement, "
     "reporting template, data lineage"),
    ("actuarial reserving", "reserving",
     "IBNR reserve, chain ladder, loss triangle, development factor, reserve review, claims "
     "run-off, best estimate"),
    ("web frontend", "frontend",
     "React component, CSS layout, bundle size, form validation, page load, design system, "
     "TypeScript type"),
    ("search engine", "search",
     "search index, relevance ranking, BM25 score, synonym list, query parser, facet filter, "
     "autocomplete"),
    ("event streaming", "kafka",
     "Kafka topic, consumer group, partition key, schema registry, dead letter queue, event "
     "replay, offset commit"),
    ("security incident response", "incident response",
     "incident ticket, phishing email, forensic image, containment step, security alert, "
     "post-mortem, vulnerability scan"),
    ("data warehouse modelling", "dbt",
     "star schema, fact table, dimension table, dbt model, slowly changing dimension, "
     "surrogate key, data mart"),
    ("partner integrations", "partner api",
     "integration contract, certification test, partner sandbox, mapping file, SFTP transfer, "
     "partner SLA, partner API"),
    ("health benefits", "employee benefits",
     "benefit plan, network provider, dental cover, vision cover, annual limit, waiting "
     "period, wellness programme"),
    ("digital payments", "payments gateway",
     "card tokenisation, payment gateway, 3-D Secure, chargeback, payment link, SEPA transfer,"
     " PCI DSS"),
    ("chatbot assistant", "chatbot",
     "intent model, chatbot flow, handover to an agent, utterance, fallback answer, "
     "conversation log, chat widget"),
    ("email communications", "email",
     "email template, bounce rate, unsubscribe link, SPF record, newsletter, transactional "
     "email, open rate"),
)
ASPECTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ()),
    ("security", _words("access control, audit log, encryption key, vulnerability, "
                        "penetration test, least privilege")),
    ("performance", _words("latency, throughput, cache hit rate, load test, response time, "
                           "memory usage")),
    ("migration", _words("legacy system, cutover plan, data migration, backward compatibility, "
                         "rollback plan, parallel run")),
    ("testing", _words("test coverage, regression test, test data, integration test, "
                       "acceptance criteria, test environment")),
)
_EMAIL_DOMAINS = {
    CUSTOMER: tuple(f"{a}{b}.example"
                    for a in "harbour bright north fern city alpine oak river summit green".split()
                    for b in "health dental logistics schools care retail".split()),
    PARTNER: tuple(f"{a}.example" for a in
                   "claimsoft cloudnorth datavault policyworks insurtechlab brokerlink".split()),
}
# fmt: on
EXTRA_DOMAINS = tuple(
    Topic(name, (name, synonym), _words(terms), "") for name, synonym, terms in _DOMAIN_ROWS
)


def build_topics() -> list[Topic]:
    """Return the ~200 benchmark topics: every domain alone and with each aspect."""
    topics = []
    for domain in (*TOPICS, *EXTRA_DOMAINS):
        for aspect, terms in ASPECTS:
            name = f"{domain.name} {aspect}".strip()
            tags = domain.tags if not aspect else (name, f"{domain.tags[-1]} {aspect}")
            topics.append(Topic(name, tags, domain.terms + terms, domain.department))
    return topics


@dataclass(slots=True)
class TextPool:
    """Pre-written text for one topic, so a million bodies cost a join each."""

    sentences: list[str]
    short: list[str]
    titles: dict[ContributionKind, list[str]]


def build_pools(rng: random.Random, topics: list[Topic]) -> list[TextPool]:
    roots = [c.root for c in CHANNELS]
    return [
        TextPool(
            [sentence(rng, topic) for _ in range(48)],
            [body(rng, K.COMMENT, topic, 0) for _ in range(16)],
            {kind: [title(rng, kind, topic) for _ in range(12)] for kind in roots},
        )
        for topic in topics
    ]


class Crowd:
    """Draws people with Zipf-like weights, a buffer of draws at a time (fast, seeded)."""

    def __init__(self, members: list[int], weights: list[float], batch: int = 4096) -> None:
        self.members, self.batch = members, batch
        self.cumulative: list[float] = []
        total = 0.0
        for weight in weights:
            total += weight
            self.cumulative.append(total)
        self._buffer: list[int] = []

    def draw(self, rng: random.Random) -> int:
        if not self._buffer:
            self._buffer = rng.choices(self.members, cum_weights=self.cumulative, k=self.batch)
        return self._buffer.pop()


@dataclass(slots=True)
class People:
    """N people as parallel lists (cheap at 100,000)."""

    slugs: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    roles: list[int] = field(default_factory=list)
    primary: list[int] = field(default_factory=list)
    secondary: list[int] = field(default_factory=list)
    activity: list[float] = field(default_factory=list)
    channels: list[tuple[int, ...]] = field(default_factory=list)


def _role(rng: random.Random) -> tuple[int, tuple[int, ...]]:
    draw = rng.random()
    if draw < 0.2:  # employees: always internal, often helping on the forum too
        extra = (FORUM,) * (rng.random() < 0.6) + (PORTAL,) * (rng.random() < 0.25)
        return EMPLOYEE, (INTRANET, *extra)
    return (CUSTOMER, (FORUM,)) if draw < 0.9 else (PARTNER, (PORTAL,))


def build_people(rng: random.Random, count: int, topic_weights: list[float]) -> People:
    people, topics = People(), range(len(topic_weights))
    ranks = list(range(1, count + 1))
    rng.shuffle(ranks)
    for i in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        role, channels = _role(rng)
        slug = f"{first}.{last}".lower()
        domain = COMPANY_DOMAIN if role == EMPLOYEE else rng.choice(_EMAIL_DOMAINS[role])
        people.slugs.append(slug)
        people.names.append(f"{first} {last}")
        people.emails.append(f"{slug}.{i}@{domain}")
        people.roles.append(role)
        people.primary.append(rng.choices(topics, topic_weights)[0])
        people.secondary.append(rng.randrange(len(topic_weights)))
        people.activity.append(1.0 / ranks[i] ** 0.7)
        people.channels.append(channels)
    return people


def build_crowds(people: People, topics: int) -> tuple[list[Crowd], list[dict[int, Crowd]]]:
    """Return, per channel, everyone there and, per topic, those whose topic it is."""
    members: list[list[int]] = [[] for _ in CHANNELS]
    by_topic: list[dict[int, list[int]]] = [{} for _ in CHANNELS]
    for person, channels in enumerate(people.channels):
        for channel in channels:
            members[channel].append(person)
            by_topic[channel].setdefault(people.primary[person], []).append(person)
    weigh = people.activity
    crowds = [Crowd(m, [weigh[p] for p in m]) for m in members]
    experts = [
        {t: Crowd(m, [weigh[p] for p in m], 256) for t, m in sorted(groups.items())}
        for groups in by_topic
    ]
    return crowds, experts


class Writer:
    """Streams records to one JSON Lines file per channel, in update order.

    A thread's replies come later than its root, so records wait in a heap until no
    record still to be made can be older (everything made later starts at or after the
    newest thread root).
    """

    def __init__(self, folder: Path) -> None:
        self.files: list[BinaryIO] = [(folder / f"{c.id}.jsonl").open("wb") for c in CHANNELS]
        self.buffers: list[list[ContributionRecord]] = [[] for _ in CHANNELS]
        self.pending: list[tuple[float, int, int, ContributionRecord]] = []
        self.encoder = msgspec.json.Encoder()
        self.written = [0] * len(CHANNELS)
        self._seq = 0

    def add(self, channel: int, updated: float, record: ContributionRecord) -> None:
        self._seq += 1
        heapq.heappush(self.pending, (updated, self._seq, channel, record))

    def release(self, until: float) -> None:
        pending, buffers = self.pending, self.buffers
        while pending and pending[0][0] <= until:
            _, _, channel, record = heapq.heappop(pending)
            buffers[channel].append(record)
            if len(buffers[channel]) >= 10_000:
                self._flush(channel)

    def close(self) -> None:
        self.release(float("inf"))
        for channel, file in enumerate(self.files):
            self._flush(channel)
            file.close()

    def _flush(self, channel: int) -> None:
        self.files[channel].write(self.encoder.encode_lines(self.buffers[channel]))
        self.written[channel] += len(self.buffers[channel])
        self.buffers[channel].clear()


class Generator:
    """Makes threads: a root by a Zipf-drawn author, replies mostly by people of its topic."""

    def __init__(self, rng: random.Random, people: People, topics: list[Topic], end: float):
        self.rng, self.people, self.end = rng, people, end
        self.topic_count = len(topics)
        self.pools = build_pools(rng, topics)
        self.crowds, self.experts = build_crowds(people, len(topics))
        self.tags = [(t.tags[0], t.tags[1:]) for t in topics]
        self.counters = [0] * len(CHANNELS)

    def thread(self, channel: int, start: float, budget: int, writer: Writer) -> int:
        """Write one thread of at most `budget` records starting at `start`; return its size."""
        rng = self.rng
        author = self.crowds[channel].draw(rng)
        topic = self._topic_of(author)
        made = [self._record(channel, author, topic, start, None)]
        for _ in range(min(budget - 1, int(rng.expovariate(0.45)))):
            parent = made[0] if rng.random() < 0.75 else rng.choice(made)
            after = parent.created.timestamp()
            at = min(after + rng.expovariate(1 / DAY), self.end)
            made.append(self._record(channel, self._responder(channel, topic), topic, at, parent))
        self._finish(channel, made, writer)
        return len(made)

    def _topic_of(self, person: int) -> int:
        draw = self.rng.random()
        if draw < 0.7:
            return self.people.primary[person]
        if draw < 0.9:
            return self.people.secondary[person]
        return self.rng.randrange(self.topic_count)

    def _responder(self, channel: int, topic: int) -> int:
        experts = self.experts[channel].get(topic)
        if experts and self.rng.random() < 0.6:
            return experts.draw(self.rng)
        return self.crowds[channel].draw(self.rng)

    def _record(
        self, channel: int, person: int, topic: int, at: float, parent: ContributionRecord | None
    ) -> ContributionRecord:
        spec = CHANNELS[channel]
        self.counters[channel] += 1
        number = self.counters[channel]
        created = datetime.fromtimestamp(int(at), UTC)
        kind = spec.root if parent is None else _response_kind(channel, parent)
        record = ContributionRecord(
            f"{spec.id}-{number}", kind, self._author(channel, person), created, created
        )
        if self.rng.random() < 0.05:  # edited later
            edited = min(at + self.rng.expovariate(0.5 / DAY), self.end)
            record.updated = datetime.fromtimestamp(int(edited), UTC)
        if parent is None:
            self._root(record, topic, f"{spec.host}{spec.path}{number}")
        else:
            root_number = (parent.thread or "").rsplit("-", 1)[1]
            self._response(record, topic, parent, f"{spec.host}{spec.path}{root_number}")
        self._likes(channel, record, person)
        return record

    def _root(self, record: ContributionRecord, topic: int, url: str) -> None:
        rng, pool = self.rng, self.pools[topic]
        record.thread, record.url = record.id, url
        record.title = rng.choice(pool.titles[record.kind])
        record.text = " ".join(rng.choices(pool.sentences, k=rng.randint(3, 12)))
        canonical, synonyms = self.tags[topic]
        record.tags = [rng.choice(synonyms) if synonyms and rng.random() < 0.2 else canonical]

    def _response(
        self, record: ContributionRecord, topic: int, parent: ContributionRecord, url: str
    ) -> None:
        rng, pool = self.rng, self.pools[topic]
        record.thread, record.parent = parent.thread, parent.id
        record.url = f"{url}#post-{record.id.rsplit('-', 1)[1]}"
        if record.kind is not K.ANSWER and rng.random() < 0.5:
            record.text = rng.choice(pool.short)
        else:
            record.text = " ".join(rng.choices(pool.sentences, k=rng.randint(1, 6)))

    def _likes(self, channel: int, record: ContributionRecord, person: int) -> None:
        rng = self.rng
        likes = int(rng.expovariate(0.8 if record.parent is None else 1.2))
        if channel == FORUM and likes:
            fans = rng.sample(self.crowds[FORUM].members, likes)
            record.liked_by = [AuthorRecord(_username(FORUM, self.people, p)) for p in fans]
        record.likes = likes
        record.score = likes if channel != INTRANET else 0

    def _author(self, channel: int, person: int) -> AuthorRecord:
        people = self.people
        username = _username(channel, people, person)
        profile = f"{CHANNELS[channel].host}/u/{username}"
        return AuthorRecord(
            username, username, people.names[person], people.emails[person], profile
        )

    def _finish(self, channel: int, made: list[ContributionRecord], writer: Writer) -> None:
        children: dict[str, int] = {}
        for record in made[1:]:
            children[record.parent or ""] = children.get(record.parent or "", 0) + 1
        answers = [r for r in made if r.kind is K.ANSWER]
        if answers and self.rng.random() < 0.5:
            self.rng.choice(answers).accepted = True
        for record in made:
            record.replies = children.get(record.id, 0)
            writer.add(channel, (record.updated or record.created).timestamp(), record)


def _response_kind(channel: int, parent: ContributionRecord) -> ContributionKind:
    if channel != FORUM:
        return K.COMMENT
    return K.ANSWER if parent.parent is None else K.REPLY


def _username(channel: int, people: People, person: int) -> str:
    slug = people.slugs[person]
    if channel == FORUM:
        return f"{slug.replace('.', '_')}{person}"
    return f"{slug}{person}" if channel == INTRANET else f"{slug}.{person}"


# --- queries --------------------------------------------------------------------------


def _full_phrase(rng: random.Random, topics: list[Topic], weights: list[float]) -> str:
    return rng.choices(topics, weights)[0].name


def _partial_phrase(rng: random.Random, topics: list[Topic], weights: list[float]) -> str:
    topic = rng.choices(topics, weights)[0]
    words = topic.name.split()
    if rng.random() < 0.5:
        return rng.choice(topic.terms)
    return f"{rng.choice(words)} {rng.choice(topic.terms).split()[-1]}"


def _mixed_terms(rng: random.Random, topics: list[Topic], weights: list[float]) -> str:
    first, second = rng.choices(topics, weights, k=2)
    if rng.random() < 0.5:
        return f"{rng.choice(VERBS)[0]} {rng.choice(first.terms)}"
    return f"{rng.choice(first.terms)} {rng.choice(second.terms)}"


def build_queries(
    rng: random.Random, topics: list[Topic], weights: list[float], count: int = 300
) -> list[str]:
    """Return `count` distinct queries, a third each of whole, partial and mixed phrases."""
    makers = (_full_phrase, _partial_phrase, _mixed_terms)
    queries: dict[str, None] = {}
    for attempt in range(count * 20):
        query = makers[attempt % len(makers)](rng, topics, weights).lower()
        queries.setdefault(query, None)
        if len(queries) == count:
            break
    return list(queries)


# --- entry point ----------------------------------------------------------------------


def _zipf(rng: random.Random, count: int, exponent: float) -> list[float]:
    ranks = list(range(1, count + 1))
    rng.shuffle(ranks)
    return [1.0 / rank**exponent for rank in ranks]


def write_sources(folder: Path) -> None:
    sources = [
        {"id": c.id, "kind": "push", "audience": c.audience, "name": c.name} for c in CHANNELS
    ]
    (folder / "sources.json").write_text(json.dumps(sources, indent=2) + "\n")


def generate(
    folder: Path, people_count: int, contributions: int, seed: int, end: datetime
) -> list[int]:
    """Write the benchmark files into `folder`; return the records written per channel."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    topics = build_topics()
    topic_weights = _zipf(rng, len(topics), 0.8)
    people = build_people(rng, people_count, topic_weights)
    end_ts = end.timestamp()
    generator = Generator(rng, people, topics, end_ts)
    write_sources(folder)
    (folder / "queries.txt").write_text("\n".join(build_queries(rng, topics, topic_weights)) + "\n")
    writer = Writer(folder)
    _run(rng, generator, writer, contributions, end_ts)
    writer.close()
    return writer.written


def _run(rng: random.Random, generator: Generator, writer: Writer, total: int, end: float) -> None:
    live = [i for i, crowd in enumerate(generator.crowds) if crowd.members]
    shares = [CHANNELS[i].share for i in live]
    first, usable = end - SPAN_DAYS * DAY, (SPAN_DAYS - 1) * DAY
    made, last, report = 0, first, 100_000
    while made < total:
        # Thread roots advance with progress, never backwards: the writer relies on it.
        last = max(last, first + usable * made / total + rng.uniform(0, 60))
        made += generator.thread(rng.choices(live, shares)[0], last, total - made, writer)
        writer.release(last)
        if made >= report:
            print(f"  {made:,} contributions", file=sys.stderr)
            report += 100_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write benchmark data for bench/run.py.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--contributions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--end", help="last day of activity, YYYY-MM-DD (default: today, UTC)")
    args = parser.parse_args(argv)
    day = datetime.strptime(args.end, "%Y-%m-%d") if args.end else datetime.now(UTC)
    end = datetime(day.year, day.month, day.day, tzinfo=UTC)
    started = time.perf_counter()
    written = generate(args.out_dir, args.people, args.contributions, args.seed, end)
    counts = ", ".join(f"{c.id} {n:,}" for c, n in zip(CHANNELS, written, strict=True))
    seconds = time.perf_counter() - started
    print(f"wrote {sum(written):,} contributions ({counts}) in {seconds:.0f}s to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
