"""The reputation rules, on the pure scoring functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.reputation.levels import assign_levels
from service.reputation.scoring import ContributionFacts, Weights, score_person, value_of
from service.reputation.topics import TopicVocabulary

NOW = datetime(2026, 11, 1, tzinfo=UTC)
WEIGHTS = Weights()


def facts(ident: int = 1, kind: str = "answer", *, days_ago: float = 0, thread: str = "t1",
          topics: tuple[str, ...] = ("claims",), audience: str = "external",
          **fields: object) -> ContributionFacts:
    return ContributionFacts(id=ident, kind=kind, thread=thread,
                             created=NOW - timedelta(days=days_ago), audience=audience,
                             topics=frozenset(topics), **fields)  # type: ignore[arg-type]


def test_decay_halves_the_value_at_the_half_life() -> None:
    fresh = value_of(facts(half_life_days=90), WEIGHTS, NOW).value
    aged = value_of(facts(days_ago=90, half_life_days=90), WEIGHTS, NOW).value
    twice = value_of(facts(days_ago=180, half_life_days=90), WEIGHTS, NOW).value
    assert aged == pytest.approx(fresh / 2)
    assert twice == pytest.approx(fresh / 4)


def test_an_accepted_answer_outweighs_a_plain_reply() -> None:
    accepted = value_of(facts(kind="answer", accepted=True), WEIGHTS, NOW).value
    reply = value_of(facts(kind="reply"), WEIGHTS, NOW).value
    plain_answer = value_of(facts(kind="answer"), WEIGHTS, NOW).value
    assert accepted > plain_answer > reply


def test_self_likes_are_ignored() -> None:
    liked = value_of(facts(likes=3), WEIGHTS, NOW).value
    self_liked = value_of(facts(likes=4, self_likes=1), WEIGHTS, NOW).value
    assert self_liked == pytest.approx(liked)
    assert value_of(facts(likes=1, self_likes=1), WEIGHTS, NOW).value == pytest.approx(
        value_of(facts(), WEIGHTS, NOW).value)


def test_self_replies_earn_nothing_and_self_accepts_no_bonus() -> None:
    assert value_of(facts(kind="reply", self_reply=True), WEIGHTS, NOW).value == 0
    own = value_of(facts(accepted=True, self_accepted=True), WEIGHTS, NOW).value
    assert own == pytest.approx(value_of(facts(), WEIGHTS, NOW).value)


def test_the_thread_cap_holds() -> None:
    weights = Weights(thread_cap=5.0, day_cap=1000.0)
    many = [facts(i, score=10, days_ago=i) for i in range(1, 30)]
    topics = score_person(many, weights, NOW)
    assert topics["claims"].score == pytest.approx(5.0)


def test_the_day_cap_holds_across_threads() -> None:
    weights = Weights(thread_cap=1000.0, day_cap=7.0)
    same_day = [facts(i, thread=f"t{i}", score=10) for i in range(1, 30)]
    other_day = [facts(100, thread="t100", score=10, days_ago=3)]
    topics = score_person(same_day + other_day, weights, NOW)
    expected = 7.0 + value_of(other_day[0], weights, NOW).value
    assert topics["claims"].score == pytest.approx(expected)


def test_scopes_count_only_their_audiences() -> None:
    inside = facts(1, audience="internal")
    outside = facts(2)
    public = score_person([inside, outside], WEIGHTS, NOW, frozenset({"external", "partner"}))
    everything = score_person([inside, outside], WEIGHTS, NOW)
    assert [v.contribution_id for v, _ in public["claims"].lines] == [2]
    assert everything["claims"].score > public["claims"].score


def test_levels_follow_the_percentile_within_a_topic() -> None:
    scores = {person: float(person) for person in range(1, 101)}
    levels = assign_levels(scores)
    assert [levels[p] for p in (100, 96, 95, 81, 80, 10)] == [
        "authority", "authority", "expert", "expert", "contributor", "contributor"]


def test_synonyms_map_tags_and_text_to_one_topic() -> None:
    vocabulary = TopicVocabulary({"medical insurance claims": ["claims adjudication"],
                                  "kubernetes deployment": ["k8s"]})
    assert vocabulary.normalise("Claims-Adjudication") == "medical insurance claims"
    assert vocabulary.normalise("espresso") == "espresso"
    assert vocabulary.from_text("Our K8s cluster and claims adjudication rules") == {
        "kubernetes deployment", "medical insurance claims"}
