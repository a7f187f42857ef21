"""From stored contribution rows to profile rows: topics, values, caps, scopes. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from service.reputation.scoring import (
    PUBLIC_AUDIENCES,
    ContributionFacts,
    TopicBreakdown,
    Weights,
    score_person,
    topic_scores,
    value_of,
)
from service.reputation.topics import TopicVocabulary

if TYPE_CHECKING:
    from service.store.profiles import ScoringRow

__all__ = ["ReputationSettings", "SCOPES", "facts_from_row", "profile_rows", "explain"]

#: scope name -> the audiences whose contributions count in it (None: all)
SCOPES: dict[str, frozenset[str] | None] = {"all": None, "public": PUBLIC_AUDIENCES}
_REPLY_KINDS = frozenset({"reply", "comment"})


@dataclass(frozen=True, slots=True)
class ReputationSettings:
    vocabulary: TopicVocabulary
    weights: Weights
    default_half_life_days: float
    #: source id -> (topics from tags, topics from text)
    topic_options: Mapping[str, tuple[bool, bool]]


def facts_from_row(row: ScoringRow, settings: ReputationSettings) -> ContributionFacts:
    """Return the scoring facts of one stored contribution."""
    from_tags, from_text = settings.topic_options.get(row.source_id, (True, True))
    tags = list(row.tags) + list(row.thread_tags or [])
    texts = [row.title, row.thread_title or "", row.body] if from_text else []
    topics = settings.vocabulary.extract(tags, texts, from_tags=from_tags, from_text=from_text)
    self_reply = row.kind in _REPLY_KINDS and row.parent_person == row.person_id
    return ContributionFacts(
        id=row.id,
        kind=row.kind,
        thread=row.thread,
        created=row.created,
        audience=row.audience,
        topics=frozenset(topics),
        score=row.score,
        likes=row.likes,
        self_likes=row.self_likes,
        accepted=row.accepted,
        self_accepted=row.accepted and row.thread_person == row.person_id,
        self_reply=self_reply,
        half_life_days=row.half_life_days or settings.default_half_life_days,
    )


def profile_rows(
    person_id: int, facts: Iterable[ContributionFacts], settings: ReputationSettings,
    now: datetime,
) -> list[dict[str, Any]]:
    """Return the profile_topics rows of one person, for every scope."""
    facts = [f for f in facts if f.topics]
    created = {f.id: f.created for f in facts}
    valuations = {f.id: value_of(f, settings.weights, now) for f in facts}
    rows = []
    for scope, audiences in SCOPES.items():
        breakdowns = score_person(facts, settings.weights, now, audiences, valuations)
        for score in topic_scores(breakdowns, created, settings.weights.evidence_per_topic):
            if score.score <= 0:
                continue
            rows.append({
                "person_id": person_id, "scope": scope, "topic": score.topic,
                "score": round(score.score, 6), "level": "contributor",
                "contributions": score.contributions,
                "evidence": [[e.contribution_id, e.value] for e in score.evidence],
                "last_active": score.last_active,
            })
    return rows


def explain(
    facts: Iterable[ContributionFacts], settings: ReputationSettings, now: datetime,
    scope: str = "all",
) -> dict[str, TopicBreakdown]:
    """Return the per-topic breakdown behind a person's scores in `scope`."""
    return score_person(list(facts), settings.weights, now, SCOPES[scope])
