"""Contribution values and topic scores, explainable line by line. Pure functions.

A contribution's value = base weight of its kind × quality from its signals × time decay
(half-life per source) × audience weight. An accepted answer multiplies its quality;
self-replies earn nothing; self-likes do not count as likes; an answer its own author
accepted earns no accept bonus. A person's topic score sums their values on the topic,
processed oldest first under two caps: per thread and per day.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from service.model import Evidence, TopicScore

__all__ = [
    "ContributionFacts",
    "Valuation",
    "Weights",
    "age_decay",
    "score_person",
    "value_of",
]

DEFAULT_KIND_WEIGHTS: dict[str, float] = {
    "blog_post": 4.0,
    "article": 4.0,
    "answer": 3.0,
    "question": 1.0,
    "reply": 1.0,
    "comment": 0.5,
}
ACCEPTED_MULTIPLIER = 2.5
PUBLIC_AUDIENCES = frozenset({"external", "partner"})


@dataclass(frozen=True, slots=True)
class Weights:
    kind: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_KIND_WEIGHTS))
    audience: Mapping[str, float] = field(
        default_factory=lambda: {"internal": 1.0, "external": 1.0, "partner": 1.0}
    )
    thread_cap: float = 12.0
    day_cap: float = 20.0
    evidence_per_topic: int = 5

    @classmethod
    def from_config(
        cls, kind: Mapping[str, float], audience: Mapping[str, float], thread_cap: float,
        day_cap: float, evidence_per_topic: int,
    ) -> Weights:
        return cls(
            kind={**DEFAULT_KIND_WEIGHTS, **kind},
            audience={"internal": 1.0, "external": 1.0, "partner": 1.0, **audience},
            thread_cap=thread_cap, day_cap=day_cap, evidence_per_topic=evidence_per_topic,
        )


@dataclass(slots=True)
class ContributionFacts:
    """What scoring needs to know of one contribution (self-facts already worked out)."""

    id: int
    kind: str
    thread: str
    created: datetime
    audience: str
    topics: frozenset[str]
    score: int = 0
    likes: int = 0
    self_likes: int = 0
    accepted: bool = False
    self_accepted: bool = False
    self_reply: bool = False
    half_life_days: float = 365.0


@dataclass(slots=True)
class Valuation:
    """The breakdown of one contribution's value."""

    contribution_id: int
    kind: str
    base: float
    quality: float
    decay: float
    audience_weight: float
    value: float
    note: str = ""


def value_of(facts: ContributionFacts, weights: Weights, now: datetime) -> Valuation:
    """Return the value of one contribution with its breakdown."""
    base = weights.kind.get(facts.kind, 1.0)
    likes = max(0, facts.likes - facts.self_likes)
    quality = 1.0 + 0.5 * math.log1p(max(facts.score, 0)) + 0.3 * math.log1p(likes)
    if facts.score < 0:
        quality = max(0.2, quality + 0.1 * facts.score)
    notes = []
    if facts.accepted and not facts.self_accepted:
        quality *= ACCEPTED_MULTIPLIER
        notes.append("accepted")
    elif facts.accepted:
        notes.append("self-accepted: no bonus")
    if facts.self_likes:
        notes.append(f"{facts.self_likes} self-like(s) ignored")
    decay = age_decay(facts.created, now, facts.half_life_days)
    audience = weights.audience.get(facts.audience, 1.0)
    value = base * quality * decay * audience
    if facts.self_reply:
        value = 0.0
        notes.append("self-reply: ignored")
    return Valuation(facts.id, facts.kind, base, quality, decay, audience, value, "; ".join(notes))


def age_decay(created: datetime, now: datetime, half_life_days: float) -> float:
    """Return the time decay of something created at `created`: 1 when new (or dated
    after `now`), halving every `half_life_days`."""
    age_days = max(0.0, (now - created).total_seconds() / 86400.0)
    return float(0.5 ** (age_days / half_life_days))


@dataclass(slots=True)
class TopicBreakdown:
    """Per topic: each contribution's valuation and what the caps let count."""

    topic: str
    lines: list[tuple[Valuation, float]] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(counted for _, counted in self.lines)


def score_person(
    contributions: Iterable[ContributionFacts],
    weights: Weights,
    now: datetime,
    audiences: frozenset[str] | None = None,
    valuations: Mapping[int, Valuation] | None = None,
) -> dict[str, TopicBreakdown]:
    """Return the person's topic breakdowns over the contributions in `audiences` (all
    when None). Caps apply oldest first, per topic and thread and per topic and day.
    `valuations` (by contribution id) saves valuing the same contribution twice."""
    chosen = sorted(
        (c for c in contributions if audiences is None or c.audience in audiences),
        key=lambda c: (c.created, c.id),
    )
    thread_used: dict[tuple[str, str], float] = defaultdict(float)
    day_used: dict[tuple[str, object], float] = defaultdict(float)
    topics: dict[str, TopicBreakdown] = {}
    for facts in chosen:
        if not facts.topics:
            continue
        valuation = valuations[facts.id] if valuations else value_of(facts, weights, now)
        day = facts.created.date()
        for topic in facts.topics:
            thread_key, day_key = (topic, facts.thread), (topic, day)
            counted = max(0.0, min(
                valuation.value,
                weights.thread_cap - thread_used[thread_key],
                weights.day_cap - day_used[day_key],
            ))
            thread_used[thread_key] += counted
            day_used[day_key] += counted
            topics.setdefault(topic, TopicBreakdown(topic)).lines.append((valuation, counted))
    return topics


def topic_scores(
    breakdowns: Mapping[str, TopicBreakdown],
    created: Mapping[int, datetime],
    evidence_per_topic: int,
) -> list[TopicScore]:
    """Turn breakdowns into `TopicScore`s (level left to `levels.assign_levels`)."""
    scores = []
    for topic, breakdown in breakdowns.items():
        ranked = sorted(breakdown.lines, key=lambda line: (-line[1], -line[0].contribution_id))
        evidence = [
            Evidence(valuation.contribution_id, round(counted, 4))
            for valuation, counted in ranked[:evidence_per_topic]
            if counted > 0
        ]
        scores.append(TopicScore(
            topic=topic,
            score=breakdown.score,
            contributions=len(breakdown.lines),
            evidence=evidence,
            last_active=max(created[v.contribution_id] for v, _ in breakdown.lines),
        ))
    return scores
