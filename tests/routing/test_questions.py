"""Which questions are open, on SQLite and PostgreSQL: an accepted answer or an
employee's reply closes one; age decides when it opens and when it is no longer routed."""

from __future__ import annotations

from datetime import timedelta

from service.config import RoutingConfig
from service.routing.questions import open_questions
from service.store.contributions import SourceInfo, store_batch
from tests.organisations.conftest import NOW, SETTINGS, Community
from tests.records import record


def _open(community: Community, config: RoutingConfig | None = None
          ) -> list[tuple[str, tuple[str, str] | None]]:
    with community.engine.connect() as conn:
        return [(q.title, q.organisation) for q in open_questions(
            conn, config or RoutingConfig(), "company", NOW, SETTINGS.vocabulary)]


def test_only_the_question_nobody_from_the_company_answered_is_open(
        community: Community) -> None:
    # q1: Dana's answer accepted; q2: Dana replied; q3: nobody answered
    assert _open(community) == [("Billing question", ("acme", "Acme Corp"))]


def test_a_customer_answer_does_not_close_it_but_an_accepted_one_does(
        community: Community) -> None:
    forum = SourceInfo("forum", "external")
    with community.engine.begin() as conn:
        store_batch(conn, forum, [record("a3", "cleo", thread="q3", day=-2, text="Same here")])
    assert [t for t, _ in _open(community)] == ["Billing question"]
    with community.engine.begin() as conn:
        store_batch(conn, forum, [record("a3", "cleo", thread="q3", day=-2, accepted=True,
                                         text="Same here")])
    assert _open(community) == []


def test_age_decides_when_a_question_opens_and_when_routing_gives_up(
        community: Community) -> None:
    age = NOW - (record("x", day=-3).created)  # q3's age
    hours = age.total_seconds() / 3600
    assert _open(community, RoutingConfig(open_after_hours=hours + 1)) == []
    assert _open(community, RoutingConfig(max_age_days=age.days - 1)) == []
    assert len(_open(community, RoutingConfig(open_after_hours=hours - 1,
                                              max_age_days=age.days + 1))) == 1
    assert timedelta(hours=hours) == age
