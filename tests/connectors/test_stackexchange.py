"""The StackExchange connector against a local API 2.3 serving recorded and fixture items."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import aliased

from service import pipeline
from service.config import ConfigError, SourceConfig
from service.connectors.base import ConnectorError, FatalSourceError, Page
from service.connectors.http import HttpClient
from service.connectors.stackexchange import StackExchangeConnector
from service.model import ContributionKind, ContributionRecord
from service.store import sync as store_sync
from service.store.schema import contributions, identities, interactions
from tests.connectors.stackexchange_server import StackExchangeServer


@pytest.fixture
def api() -> Iterator[StackExchangeServer]:
    """The recorded Stack Overflow questions and answers plus the fixture beer site."""
    with StackExchangeServer.from_fixtures("questions", "answers", "beer_site") as server:
        yield server


@pytest.fixture
def beer() -> Iterator[StackExchangeServer]:
    """The fixture beer site alone (four questions, two of them at the same second)."""
    with StackExchangeServer.from_fixtures("beer_site") as server:
        yield server


def connect(
    server: StackExchangeServer,
    sleep: Callable[[float], None] | None = None,
    *,
    credentials: str | None = None,
    path: str = "/2.3",
    page_size: int = 5,
    **options: Any,
) -> StackExchangeConnector:
    options = {"site": "beer", **options}
    source = SourceConfig(
        id="forum",
        kind="stackexchange",
        audience="external",
        url=server.url(path),
        options={k: v for k, v in options.items() if v is not None},
    )
    sleep = sleep or (lambda _: None)
    client = HttpClient(max_attempts=4, backoff_base=0.01, timeout=1.0, sleep=sleep)
    return StackExchangeConnector(source, client, credentials, page_size=page_size, sleep=sleep)


def run(
    connector: StackExchangeConnector, cursor: str | None = None
) -> tuple[list[Page], str | None]:
    """All pages of one run, and the cursor the pipeline would hold after it."""
    pages = list(connector.pages(cursor))
    return pages, (pages[-1].cursor if pages else cursor)


def by_id(pages: list[Page]) -> dict[str, ContributionRecord]:
    records = [record for page in pages for record in page.records]
    found = {record.id: record for record in records}
    assert len(found) == len(records), "a record came out twice"
    return found


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def sync(services: pipeline.Services, connector: StackExchangeConnector) -> pipeline.SyncReport:
    """One run from the stored cursor, as `whoknows sync` does it."""
    with services.engine.connect() as conn:
        cursor = store_sync.get_cursor(conn, "forum")
    return pipeline.ingest_pages(
        services, "forum", connector.pages(cursor), full_pass=cursor is None
    )


def snapshot(services: pipeline.Services) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The stored contributions and interactions, by external ids (row ids and the time a
    pass saw them left out)."""
    c, author, actor = contributions.c, aliased(identities), aliased(identities)
    target = aliased(contributions)
    skip = {"id", "author_identity_id", "seen_at"}
    columns = [column for column in contributions.columns if column.name not in skip]
    with services.engine.connect() as conn:
        rows = conn.execute(
            select(author.c.external_id, *columns).join(author, author.c.id == c.author_identity_id)
        ).all()
        links = conn.execute(
            select(
                interactions.c.kind,
                actor.c.external_id,
                target.c.external_id,
                interactions.c.created_at,
            )
            .join(actor, actor.c.id == interactions.c.actor_identity_id)
            .join(target, target.c.id == interactions.c.target_contribution_id)
        ).all()
    return sorted(tuple(map(str, row)) for row in rows), sorted(tuple(map(str, r)) for r in links)


# Mapping


def test_questions_answers_and_comments_map_to_one_thread(api: StackExchangeServer) -> None:
    records = by_id(run(connect(api))[0])

    question = records["q5001"]
    assert question.kind is ContributionKind.QUESTION
    assert (question.thread, question.parent) == ("q5001", None)
    assert question.title == "How long should I cold crash a lager?"
    assert question.text == (
        "My lager finished fermenting at 1.010. How long should it sit at 1°C before "
        "kegging? OG 1.048 FG 1.010"
    )
    assert question.tags == ["lager", "fermentation"]
    assert (question.score, question.likes, question.replies) == (5, 6, 2)
    assert question.created == question.updated == at(1740000000)
    assert (
        question.url
        == "https://beer.stackexchange.com/questions/5001/how-long-should-i-cold-crash-a-lager"
    )
    assert question.author.id == "1001" and question.author.name == "Ana Brewer"
    assert question.author.url == "https://beer.stackexchange.com/users/1001/ana-brewer"
    assert question.author.email is None

    answer = records["a5003"]
    assert answer.kind is ContributionKind.ANSWER
    assert (answer.thread, answer.parent, answer.accepted) == ("q5001", "q5001", True)
    assert answer.author.name == "Lena Müller"
    assert (answer.created, answer.updated) == (at(1740020000), at(1740100000))
    assert answer.text.startswith("Cold crash for 48 to 72 hours, then add gelatin")
    assert answer.url == f"{question.url}#5003" and answer.replies == 1
    assert records["a5002"].accepted is False

    on_answer, on_question = records["c6002"], records["c6001"]
    assert on_answer.kind is ContributionKind.COMMENT
    assert (on_answer.thread, on_answer.parent) == ("q5001", "a5003")
    assert on_answer.text == "Thanks, 72 hours did it. Details"
    assert on_answer.url == f"{question.url}#comment6002_5003"
    assert (on_question.thread, on_question.parent) == ("q5001", "q5001")


def test_recorded_stack_overflow_items_map_without_bodies(api: StackExchangeServer) -> None:
    records = by_id(run(connect(api))[0])

    question = records["q39084838"]
    assert question.title == "Why can't PowerShell find the gcloud cmdlets?"
    assert question.text == ""  # the recording used the default filter: no body
    assert (question.created, question.updated) == (at(1471884708), at(1471903989))
    assert question.author.id == "22656" and question.author.name == "Jon Skeet"
    assert question.tags == ["powershell", "google-cloud-sdk", "google-cloud-powershell"]
    answer = records["a247623"]
    assert (answer.thread, answer.parent, answer.accepted) == ("q247621", "q247621", True)
    assert answer.score == 3056
    assert records["q5027999"].title == (
        'C# 5 async CTP: why is internal "state" set to 0 in generated code before EndAwait call?'
    )
    # 30 recorded questions, the 2 recorded answers to them, and the beer site's 12 posts
    assert len(records) == 30 + 2 + 12


def test_an_owner_whose_account_is_gone_is_named_not_numbered(api: StackExchangeServer) -> None:
    records = by_id(run(connect(api))[0])

    for post in ("q5020", "a5011"):
        author = records[post].author
        assert (author.id, author.name, author.email, author.url) == (
            "name:user9911",
            "user9911",
            None,
            None,
        )


def test_malformed_items_are_reported_and_the_rest_still_map(beer: StackExchangeServer) -> None:
    del beer.item("questions", 5010)["owner"]
    del beer.item("answers", 5002)["creation_date"]
    beer.data["questions"].append({"title": "no id", "last_activity_date": 1740000001})
    beer.data["answers"].append({"question_id": 5001, "creation_date": 1740000002})

    pages, _ = run(connect(beer))

    errors = [error for page in pages for error in page.errors]
    assert "question 5010 skipped: it has no owner" in errors
    assert "answer 5002 skipped: it has no creation_date" in errors
    assert any(e.startswith("question at position") and "no question_id" in e for e in errors)
    assert "/questions/{ids}/answers page 1 item 2 skipped: it has no answer_id" in errors
    records = by_id(pages)
    assert "q5010" not in records and "a5011" in records and "a5003" in records


# Pages and cursors


def test_a_full_pass_yields_oldest_activity_first_and_ends_complete(
    api: StackExchangeServer,
) -> None:
    pages, cursor = run(connect(api))

    assert [page.complete for page in pages] == [False] * (len(pages) - 1) + [True]
    questions = [r for page in pages for r in page.records if r.kind is ContributionKind.QUESTION]
    activity = {q["question_id"]: q["last_activity_date"] for q in api.data["questions"]}
    order = [activity[int(q.id[1:])] for q in questions]
    assert order == sorted(order) and len(questions) == 34
    assert all(len([r for r in p.records if r.kind == "question"]) <= 5 for p in pages)
    assert json.loads(cursor or "") == {"activity": 1740300000, "ids": [5020, 5030]}
    sent = api.requests[0].query
    assert sent["sort"] == "activity" and sent["order"] == "asc" and "min" not in sent
    assert (sent["site"], sent["filter"], sent["pagesize"]) == ("beer", "withbody", "5")


def test_questions_at_one_second_across_a_page_break_each_come_out_once(
    beer: StackExchangeServer,
) -> None:
    pages, cursor = run(connect(beer, page_size=1))

    assert sorted(r for r in by_id(pages) if r.startswith("q")) == [
        "q5001",
        "q5010",
        "q5020",
        "q5030",
    ]
    assert pages[-1].complete
    assert json.loads(cursor or "") == {"activity": 1740300000, "ids": [5020, 5030]}


def test_a_second_run_asks_once_and_yields_nothing(api: StackExchangeServer) -> None:
    _, cursor = run(connect(api))
    before = api.count()

    pages, again = run(connect(api), cursor)

    assert pages == [] and again == cursor
    assert api.count() - before == 1
    assert api.requests[-1].query["min"] == "1740300000"


def test_a_run_fetches_only_threads_with_new_activity(api: StackExchangeServer) -> None:
    _, cursor = run(connect(api))
    api.data["answers"].append(
        {
            "owner": {"user_id": 1001, "user_type": "registered", "display_name": "Ana Brewer"},
            "is_accepted": False,
            "score": 0,
            "creation_date": 1740400000,
            "last_activity_date": 1740400000,
            "answer_id": 5012,
            "question_id": 5010,
            "body": "<p>Use oxygen-barrier hoses.</p>",
        }
    )
    api.item("questions", 5010)["last_activity_date"] = 1740400000
    api.data["questions"].append(
        {
            "tags": ["cider"],
            "owner": {"user_id": 1002, "display_name": "Tom Hops"},
            "answer_count": 0,
            "score": 0,
            "creation_date": 1740500000,
            "last_activity_date": 1740500000,
            "question_id": 5040,
            "title": "Cider &amp; perry?",
            "link": "https://beer.stackexchange.com/questions/5040/cider-and-perry",
        }
    )
    before = api.count()

    pages, cursor = run(connect(api), cursor)

    assert sorted(by_id(pages)) == ["a5011", "a5012", "c6003", "q5010", "q5040"]
    # questions, then answers of 5010 only (5040 has none), comments on both questions,
    # comments on the two answers
    assert [r.route for r in api.requests[before:]] == [
        "questions",
        "question-answers",
        "question-comments",
        "answer-comments",
    ]
    assert json.loads(cursor or "") == {"activity": 1740500000, "ids": [5040]}
    assert not any(page.complete for page in pages)


def test_an_edit_comes_out_again_as_updated(
    api: StackExchangeServer, services: pipeline.Services
) -> None:
    sync(services, connect(api))
    edited = api.item("questions", 5030)
    edited |= {
        "last_edit_date": 1740600000,
        "last_activity_date": 1740600000,
        "body": "<p>The slurry is <em>very</em> dark.</p>",
    }

    report = sync(services, connect(api))

    assert report.failed is None and report.batch.updated >= 1
    with services.engine.connect() as conn:
        row = conn.execute(
            select(contributions).where(contributions.c.external_id == "q5030")
        ).one()
    assert row.body == "The slurry is very dark."
    assert row.updated_at.replace(tzinfo=UTC) == at(1740600000)


def test_a_full_pass_flags_a_vanished_question_with_its_thread(
    api: StackExchangeServer, services: pipeline.Services
) -> None:
    sync(services, connect(api))
    api.remove("questions", 5010)
    api.remove("answers", 5011)
    api.remove("comments", 6003)
    with services.engine.begin() as conn:
        store_sync.reset_cursor(conn, "forum")

    report = sync(services, connect(api))

    assert report.failed is None and report.flagged_deleted == 3
    with services.engine.connect() as conn:
        gone = (
            conn.execute(
                select(contributions.c.external_id).where(contributions.c.deleted.is_(True))
            )
            .scalars()
            .all()
        )
    assert sorted(gone) == ["a5011", "c6003", "q5010"]


def test_an_accepted_answer_becomes_an_accept_by_the_asker(
    api: StackExchangeServer, services: pipeline.Services
) -> None:
    sync(services, connect(api))

    accepts = {
        (actor, target) for kind, actor, target, _ in snapshot(services)[1] if kind == "accept"
    }
    assert accepts == {
        ("1001", "a5003"),  # Ana accepted Lena's answer
        ("1003", "a5031"),  # Lena accepted Ana's answer
        ("22656", "a247623"),
        ("22656", "a39084839"),  # recorded: self-answered
    }
    replies = {(a, t) for kind, a, t, _ in snapshot(services)[1] if kind == "reply"}
    assert ("name:user9911", "q5010") in replies and ("1001", "a5003") in replies


# Faults, rate limits and quota

RETRIED = [
    pytest.param("questions", "status", {"status": 503, "times": 3, "after": 2}, id="5xx-burst"),
    pytest.param(
        "question-answers",
        "status",
        {"status": 429, "headers": {"Retry-After": "2"}, "after": 1},
        id="429",
    ),
    pytest.param("answer-comments", "timeout", {"delay": 1.5, "after": 1}, id="timeout"),
    pytest.param("question-comments", "cut", {"after": 2}, id="cut-short"),
    pytest.param("questions", "duplicate", {"after": 2}, id="duplicated-page"),
    pytest.param("questions", "duplicate", {"after": 2, "times": 3}, id="duplicated-thrice"),
    pytest.param("questions", "garbled", {"after": 3}, id="truncated-json"),
    pytest.param("question-answers", "throttle", {"after": 2}, id="throttle-400"),
]
STOPPED = [
    pytest.param(
        "questions", "status", {"status": 502, "times": 6, "after": 1}, id="5xx-past-the-budget"
    ),
]


@pytest.mark.parametrize(("route", "kind", "options"), RETRIED + STOPPED)
def test_a_sync_through_faults_ends_with_the_clean_store(
    api: StackExchangeServer,
    services: pipeline.Services,
    open_store: Callable[[str], pipeline.Services],
    route: str,
    kind: str,
    options: dict[str, Any],
) -> None:
    clean = open_store("clean")
    assert sync(clean, connect(api)).failed is None
    api.fault(route, kind, **options)

    runs = [sync(services, connect(api)) for _ in range(2)]

    assert api.faults == []  # the fault happened
    stopped = kind == "status" and options.get("times", 1) >= 4
    assert (runs[0].failed is not None) is stopped
    assert runs[-1].failed is None
    assert snapshot(services) == snapshot(clean)


def test_a_throttle_violation_is_waited_out_for_the_seconds_it_names(
    api: StackExchangeServer,
) -> None:
    waits: list[float] = []
    api.fault("question-answers", "throttle", after=1, wait=3)

    pages, _ = run(connect(api, waits.append))

    assert pages[-1].complete
    assert waits.count(3.0) == 1
    assert api.count("question-answers") == api.count("questions") + 1


def test_a_throttle_asking_for_more_than_allowed_stops_the_run_at_once(
    api: StackExchangeServer, services: pipeline.Services
) -> None:
    api.fault("question-answers", "throttle", after=1, wait=86400)

    report = sync(services, connect(api))

    assert report.failed and report.failed.startswith("RetryExhaustedError")
    assert "/questions/" in report.failed and "HTTP 400" in report.failed
    assert "wait 86400 s, more than the 300 s allowed" in report.failed
    assert api.count("question-answers") == 2  # not asked again
    with services.engine.connect() as conn:
        assert json.loads(store_sync.get_cursor(conn, "forum") or "")["activity"] is not None


def test_an_error_wrapper_in_a_200_answer_is_reported_by_name(beer: StackExchangeServer) -> None:
    beer.fault("questions", "throttle", error_status=200)

    with pytest.raises(
        ConnectorError, match="throttle_violation .502.: Violation of backoff"
    ) as exc:
        run(connect(beer))
    assert not isinstance(exc.value, FatalSourceError)


def test_backoff_is_waited_before_the_same_method_only(api: StackExchangeServer) -> None:
    waits: list[tuple[float, int]] = []
    api.fault("questions", "backoff", backoff=7)

    pages, _ = run(connect(api, lambda seconds: waits.append((seconds, api.count("questions")))))

    assert pages[-1].complete
    # waited once, after the first /questions answer and before the second
    assert waits == [(7.0, 1)]
    assert [r.route for r in api.requests[:4]] == [
        "questions",
        "question-answers",
        "question-comments",
        "questions",
    ]


def test_a_backoff_longer_than_allowed_stops_the_run(beer: StackExchangeServer) -> None:
    beer.fault("questions", "backoff", backoff=3600)

    with pytest.raises(ConnectorError, match="back off 3600 s, more than the 300 s allowed"):
        run(connect(beer, page_size=2))


def test_a_used_up_quota_stops_before_the_next_request_and_resumes(
    api: StackExchangeServer,
    services: pipeline.Services,
    open_store: Callable[[str], pipeline.Services],
) -> None:
    clean = open_store("clean")
    sync(clean, connect(api))
    api.quota_remaining, before = 6, api.count()

    report = sync(services, connect(api))

    assert report.failed and "ConnectorError" in report.failed
    assert "quota is used up (10000 requests a day" in report.failed
    assert api.count() - before == 6  # never a request with no quota left
    with services.engine.connect() as conn:
        stored = store_sync.get_cursor(conn, "forum")
    assert stored is not None and report.pages >= 1
    api.quota_remaining = 10000
    assert sync(services, connect(api)).failed is None
    assert snapshot(services) == snapshot(clean)


# Configuration and credentials


def test_options_are_checked_and_the_bad_key_named(beer: StackExchangeServer) -> None:
    with pytest.raises(ConfigError, match=r"options\.site: required for the public API"):
        connect(beer, site=None)
    with pytest.raises(ConfigError, match=r"options\.sites: unknown"):
        connect(beer, sites="beer")
    with pytest.raises(ConfigError, match=r"options\.filter: must be a non-empty string"):
        connect(beer, filter="")
    with pytest.raises(ConfigError, match=r"options\.key: the public API takes an access token"):
        connect(beer, credentials="token-123")


def test_the_public_api_gets_key_token_and_tags_in_the_query(beer: StackExchangeServer) -> None:
    run(connect(beer, credentials="token-123", key="app-key", tagged=["lager", "yeast"]))

    first = beer.requests[0]
    assert (first.query["key"], first.query["access_token"]) == ("app-key", "token-123")
    assert first.query["tagged"] == "lager;yeast"
    assert "X-API-Access-Token" not in first.headers
    assert "tagged" not in beer.requests[1].query  # only /questions filters by tag


def test_teams_get_the_token_in_a_header_and_need_no_site(beer: StackExchangeServer) -> None:
    pages, _ = run(connect(beer, credentials="pat-1", site=None, team="acme"))

    assert pages[-1].complete
    for request in beer.requests:
        assert request.headers["X-API-Access-Token"] == "pat-1"
        assert request.query["team"] == "acme" and "site" not in request.query
        assert "access_token" not in request.query

    newer = connect(beer, credentials="pat-2", site=None, team="acme", path="/v2.3/teams/acme")
    run(newer)
    assert beer.requests[-1].headers["Authorization"] == "Bearer pat-2"


def test_an_unreadable_cursor_is_a_connector_error(beer: StackExchangeServer) -> None:
    with pytest.raises(ConnectorError, match="not a StackExchange cursor"):
        run(connect(beer), '{"updated": "2024-01-01"}')
