from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from sqlalchemy import select

from service import pipeline
from service.config import ConfigError, SourceConfig
from service.connectors.base import ConnectorError, FatalSourceError, Page
from service.connectors.discourse import DiscourseConnector
from service.connectors.http import HttpClient
from service.model import ContributionKind, ContributionRecord
from service.store import sync as store_sync
from service.store.schema import contributions, identities, interactions
from tests.connectors.discourse_server import DiscourseServer

Services = pipeline.Services


def connector(
    server: DiscourseServer,
    client: HttpClient | None = None,
    key: str | None = "k-1234",
    audience: Literal["internal", "external", "partner"] = "external",
    **options: Any,
) -> DiscourseConnector:
    source = SourceConfig(
        id="forum",
        kind="discourse",
        audience=audience,
        url=server.base,
        options={"api_username": "whoknows", **options},
    )
    client = client or HttpClient(max_attempts=3, backoff_base=0.01, sleep=lambda _: None)
    return DiscourseConnector(source, client, key)


def records(pages: list[Page]) -> dict[str, ContributionRecord]:
    return {record.id: record for page in pages for record in page.records}


def stored_cursor(services: Services) -> str | None:
    with services.engine.connect() as conn:
        return store_sync.get_cursor(conn, "forum")


def sync(services: Services, reader: DiscourseConnector) -> pipeline.SyncReport:
    """One run through the real pipeline, from the cursor it stored."""
    cursor = stored_cursor(services)
    return pipeline.ingest_pages(services, "forum", reader.pages(cursor), full_pass=cursor is None)


def snapshot(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """The store's contributions, identities and interactions, named by external ids."""
    with services.engine.connect() as conn:
        people = {r.id: r for r in conn.execute(select(identities))}
        rows = list(conn.execute(select(contributions)))
        posts = {r.id: r.external_id for r in rows}
        links = list(conn.execute(select(interactions)))
    return {
        "identities": sorted(
            (r.external_id, r.username, r.display_name, r.profile_url) for r in people.values()
        ),
        "contributions": sorted(
            (
                r.external_id,
                r.kind,
                people[r.author_identity_id].external_id,
                r.thread_external_id,
                r.parent_external_id,
                r.url,
                r.title,
                r.body,
                tuple(r.tags),
                r.created_at,
                r.updated_at,
                r.score,
                r.likes,
                r.accepted,
                r.replies,
                r.deleted,
                r.audience,
            )
            for r in rows
        ),
        "interactions": sorted(
            (
                r.kind,
                people[r.actor_identity_id].external_id,
                posts[r.target_contribution_id],
                r.created_at,
            )
            for r in links
        ),
    }


def row(services: Services, external_id: str) -> Any:
    with services.engine.connect() as conn:
        return conn.execute(
            select(contributions).where(contributions.c.external_id == external_id)
        ).one()


def test_topics_map_to_questions_answers_and_replies(forum: DiscourseServer) -> None:
    posts = records(list(connector(forum).pages(None)))

    question, answer, follow_up, other = (posts[i] for i in ("3101", "3102", "3103", "3104"))
    assert question.kind is ContributionKind.QUESTION
    assert question.title == "How do I appeal a denied dental claim?"
    assert question.tags == ["dental", "appeals", "Claims"]
    assert question.url == f"{forum.base}/t/how-do-i-appeal-a-denied-dental-claim/214/1"
    assert question.thread == "3101" and question.parent is None
    assert question.replies == 4
    assert question.created == datetime(2024, 5, 2, 9, 14, 31, 220000, tzinfo=UTC)
    assert question.text.startswith("My crown was denied as not medically necessary although")
    assert answer.kind is ContributionKind.ANSWER and answer.parent == "3101"
    assert answer.title == "" and answer.tags == []
    assert answer.author.id == "7" and answer.author.username == "priya.raman"
    assert answer.author.name == "Priya Raman"
    assert answer.author.url == f"{forum.base}/u/priya.raman"
    assert answer.likes == 3 and answer.accepted
    assert "dental appeal form; a second reviewer" in answer.text
    assert follow_up.kind is ContributionKind.REPLY and follow_up.parent == "3102"
    assert posts["3105"].kind is ContributionKind.REPLY and posts["3105"].parent == "3103"
    assert other.kind is ContributionKind.ANSWER and not other.accepted
    # the quote of post 2 is priya's words, not dtran's
    assert other.text.startswith("Worth adding: the 180 days run from the date on the letter")
    assert "You can appeal" not in other.text
    assert posts["3202"].author.name is None and posts["3202"].author.username == "lwhite"
    assert posts["3201"].tags == ["eob", "billing", "Billing & Payments"]


def test_whispers_small_actions_and_system_posts_are_left_out(forum: DiscourseServer) -> None:
    posts = records(list(connector(forum).pages(None)))

    assert "3203" not in posts  # a staff whisper must never reach an external audience
    assert "3001" not in posts and "3002" not in posts  # the system user's welcome topic
    assert posts["3401"].tags == []  # Uncategorized is no topic


def test_deleted_posts_are_flagged_deleted(forum: DiscourseServer) -> None:
    posts = records(list(connector(forum).pages(None)))

    assert posts["3205"].deleted  # deleted by its author
    assert posts["3309"].deleted  # deleted by staff, still shown to staff
    assert not posts["3202"].deleted
    assert posts["3201"].replies == 2  # the deleted answer is not counted


def test_long_topic_reads_the_rest_of_its_stream_by_post_ids(forum: DiscourseServer) -> None:
    posts = records(list(connector(forum).pages(None)))

    thread = [p for p in posts.values() if p.thread == "3301"]
    assert len(thread) == 24
    fetched = [r for r in forum.requests if r.path == "/t/223/posts.json"]
    assert [r.query["post_ids[]"] for r in fetched] == [["3321", "3322", "3323", "3324"]]
    assert posts["3317"].accepted and posts["3317"].likes == 6
    assert posts["3318"].kind is ContributionKind.REPLY and posts["3318"].parent == "3317"


def test_full_pass_yields_topics_oldest_bump_first_and_ends_complete(
    forum: DiscourseServer,
) -> None:
    forum.per_page = 2
    pages = list(connector(forum).pages(None))

    cursors = [json.loads(page.cursor or "") for page in pages]
    assert [c["topic_ids"] for c in cursors] == [[201], [214], [219], [223], [227]]
    assert [c["bumped_at"] for c in cursors] == sorted(c["bumped_at"] for c in cursors)
    assert [page.complete for page in pages] == [False, False, False, False, True]
    assert forum.count("/latest.json") == 3
    assert {page.total for page in pages} == {37}  # posts_count summed over the list


def test_incremental_run_reads_only_the_bumped_topic(forum: DiscourseServer) -> None:
    full = list(connector(forum).pages(None))
    forum.add_post(
        219,
        author_of=3204,
        cooked="<p>Update: the lab was a subcontractor.</p>",
        at="2024-05-12T08:00:00.000Z",
    )
    forum.requests.clear()

    pages = list(connector(forum).pages(full[-1].cursor))

    assert forum.paths() == ["/latest.json", "/site.json", "/t/219.json"]
    assert len(pages) == 1 and not pages[0].complete
    assert sorted(records(pages)) == ["3201", "3202", "3204", "3205", "3403"]
    assert json.loads(pages[0].cursor or "") == {
        "bumped_at": "2024-05-12T08:00:00+00:00",
        "topic_ids": [219],
    }
    forum.requests.clear()
    assert list(connector(forum).pages(pages[0].cursor)) == []
    assert forum.paths() == ["/latest.json"]


def test_run_resumes_between_topics_bumped_at_the_same_time(forum: DiscourseServer) -> None:
    cursor = list(connector(forum).pages(None))[-1].cursor
    for topic in (214, 219):
        forum.bump(topic, "2024-06-01T12:00:00.000Z")

    first = next(iter(connector(forum).pages(cursor)))  # the run stops after one topic
    rest = list(connector(forum).pages(first.cursor))

    assert {r.thread for r in first.records} == {"3101"}
    assert {r.thread for page in rest for r in page.records} == {"3201"}
    assert json.loads(rest[-1].cursor or "")["topic_ids"] == [214, 219]
    assert list(connector(forum).pages(rest[-1].cursor)) == []


def test_a_topic_listed_on_two_pages_is_read_once(forum: DiscourseServer) -> None:
    forum.per_page, forum.overlap = 2, 1

    pages = list(connector(forum).pages(None))

    assert [json.loads(p.cursor or "")["topic_ids"] for p in pages] == [
        [201],
        [214],
        [219],
        [223],
        [227],
    ]
    assert all(forum.count(f"/t/{t}.json") == 1 for t in (201, 214, 219, 223, 227))
    assert pages[-1].complete


def test_a_list_page_that_repeats_the_previous_one_is_taken_once(
    forum: DiscourseServer,
) -> None:
    forum.per_page, forum.overlap = 2, 2  # page 1 starts where page 0 did, and so on

    pages = list(connector(forum).pages(None))

    assert [json.loads(p.cursor or "")["topic_ids"] for p in pages] == [
        [201],
        [214],
        [219],
        [223],
        [227],
    ]
    assert all(forum.count(f"/t/{t}.json") == 1 for t in (201, 214, 219, 223, 227))
    assert pages[-1].complete


def test_a_forum_that_ignores_paging_stops_the_walk_keeping_where_it_got(
    forum: DiscourseServer,
) -> None:
    forum.per_page, forum.ignores_paging = 2, True
    pages: list[Page] = []

    with pytest.raises(ConnectorError, match="pages 1-3 list only topics already listed"):
        pages.extend(connector(forum).pages(None))

    assert forum.count("/latest.json") == 4
    assert not any(path.startswith("/t/") for path in forum.paths())
    [checkpoint] = pages
    walk = json.loads(checkpoint.cursor or "")["walk"]
    assert walk["page"] == 3 and sorted(i for i, _, _ in walk["found"]) == [201, 227]


def test_a_walk_that_fails_resumes_where_it_stopped(
    forum: DiscourseServer, open_store: Callable[[str], Services]
) -> None:
    clean = open_store("clean")
    assert sync(clean, connector(forum, per_page=2)).failed is None
    forum.requests.clear()
    forum.fail("/latest.json", 502, times=3, page=1)  # past the client's 3 attempts
    faulty = open_store("faulty")
    client = HttpClient(max_attempts=3, backoff_base=0.01, sleep=lambda _: None)

    first = sync(faulty, connector(forum, client, per_page=2))

    assert first.failed and "RetryExhaustedError" in first.failed
    assert first.pages == 1 and first.batch.inserted == 0
    walk = json.loads(stored_cursor(faulty) or "")["walk"]
    assert walk["page"] == 1 and len(walk["found"]) == 2
    forum.requests.clear()
    second = sync(faulty, connector(forum, client, per_page=2))
    assert second.failed is None
    pages = [r.query["page"] for r in forum.requests if r.path == "/latest.json"]
    assert pages == [["1"], ["2"]]  # resumed at page 1, not from the top
    assert snapshot(faulty) == snapshot(clean)
    assert "walk" not in json.loads(stored_cursor(faulty) or "")


def test_a_walk_that_fails_where_it_started_keeps_no_walk(
    forum: DiscourseServer, services: Services
) -> None:
    forum.fail("/latest.json", 502, times=3)
    client = HttpClient(max_attempts=3, backoff_base=0.01, sleep=lambda _: None)

    report = sync(services, connector(forum, client))

    assert report.failed and report.pages == 0
    assert stored_cursor(services) is None  # the next run is still a full pass


def test_api_key_and_username_go_in_headers(forum: DiscourseServer) -> None:
    list(connector(forum).pages(None))

    assert forum.requests
    for request in forum.requests:
        assert request.headers["Api-Key"] == "k-1234"
        assert request.headers["Api-Username"] == "whoknows"
        assert "api_key" not in request.query


def test_a_refused_api_key_is_fatal_at_once(forum: DiscourseServer) -> None:
    with pytest.raises(FatalSourceError, match="403"):
        list(connector(forum, key="wrong").pages(None))
    assert forum.paths() == ["/latest.json"]


def test_malformed_posts_are_skipped_and_described(forum: DiscourseServer) -> None:
    forum.post(3103)["created_at"] = "yesterday"
    forum.post(3104).update({"username": None, "user_id": None})

    pages = list(connector(forum).pages(None))

    posts = records(pages)
    assert "3103" not in posts and "3104" not in posts and "3105" in posts
    errors = [e for page in pages for e in page.errors]
    assert errors == [
        "topic 214 post 3103 skipped: it has no readable created_at",
        "topic 214 post 3104 skipped: it names no author",
    ]
    assert pages[-1].complete


def test_a_topic_answer_without_posts_is_skipped_and_the_pass_not_complete(
    forum: DiscourseServer,
) -> None:
    forum.fail("/t/219.json", 200, body=b'{"errors": ["not found"], "error_type": "not_found"}')

    pages = list(connector(forum).pages(None))

    assert [e for page in pages for e in page.errors] == [
        "topic 219 skipped: its answer has no post_stream.posts"
    ]
    assert not any(page.complete for page in pages)  # its posts were not seen, not deleted
    assert json.loads(pages[-1].cursor or "")["topic_ids"] == [227]


def test_options_are_checked_and_named(forum: DiscourseServer) -> None:
    for options, key in [
        ({"per_page": 0}, "per_page"),
        ({"per_page": True}, "per_page"),
        ({"api_username": " "}, "api_username"),
        ({"site": "x"}, "site"),
        ({"category_tags": "no"}, "category_tags"),
    ]:
        with pytest.raises(ConfigError, match=f"options.{key}"):
            connector(forum, **options)


def test_options_category_tags_and_post_score(forum: DiscourseServer) -> None:
    options = {"category_tags": False, "post_score": True, "include_restricted": True}
    posts = records(list(connector(forum, **options).pages(None)))

    assert "/site.json" not in forum.paths()
    assert posts["3101"].tags == ["dental", "appeals"]
    assert posts["3102"].score == 56  # Discourse's 55.8 (reads, likes, replies), rounded
    assert records(list(connector(forum).pages(None)))["3102"].score == 0


def test_restricted_categories_stay_out_of_a_non_internal_source(
    forum: DiscourseServer,
) -> None:
    billing = next(c for c in forum.site["categories"] if c["id"] == 6)
    billing["read_restricted"] = True  # e.g. a staff-only category the API user can see

    pages = list(connector(forum).pages(None))

    assert not any(r.thread == "3201" for page in pages for r in page.records)
    assert "/t/219.json" not in forum.paths()
    assert pages[-1].complete and not any(page.errors for page in pages)
    internal = records(list(connector(forum, audience="internal").pages(None)))
    assert "3201" in internal
    chosen = records(list(connector(forum, include_restricted=True).pages(None)))
    assert "3201" in chosen


def test_topic_in_a_category_unknown_to_site_json_is_left_out_and_reported(
    forum: DiscourseServer,
) -> None:
    forum.site["categories"] = [c for c in forum.site["categories"] if c["id"] != 7]

    pages = list(connector(forum).pages(None))

    assert "/t/223.json" not in forum.paths()
    assert [e for page in pages for e in page.errors] == [
        "topic 223 left out: its category 7 is not in /site.json and may be restricted "
        "(options.include_restricted reads it)"
    ]


def test_unreadable_cursor_is_a_connector_error(forum: DiscourseServer) -> None:
    with pytest.raises(ConnectorError, match="not a Discourse cursor"):
        list(connector(forum).pages('{"bumped_at": "last tuesday"}'))


def test_edited_post_is_updated_in_the_store(forum: DiscourseServer, services: Services) -> None:
    sync(services, connector(forum))
    forum.edit_post(
        3402,
        "<p>Coatings are covered once a year since 2024.</p>",
        at="2024-05-11T07:00:00.000Z",
        bump=True,
    )

    report = sync(services, connector(forum))

    assert report.batch.updated == 1 and report.failed is None
    edited = row(services, "3402")
    assert edited.body == "Coatings are covered once a year since 2024."
    assert edited.updated_at.replace(tzinfo=UTC) == datetime(2024, 5, 11, 7, tzinfo=UTC)


def test_post_deleted_then_topic_bumped_is_flagged(
    forum: DiscourseServer, services: Services
) -> None:
    sync(services, connector(forum))
    forum.delete_post(3202, at="2024-05-11T09:00:00.000Z")
    forum.add_post(
        219, author_of=3201, cooked="<p>Solved, thanks.</p>", at="2024-05-11T09:05:00.000Z"
    )

    sync(services, connector(forum))

    assert row(services, "3202").deleted
    assert not row(services, "3201").deleted


def test_topic_gone_in_a_full_pass_is_flagged_by_the_pipeline(
    forum: DiscourseServer, services: Services
) -> None:
    sync(services, connector(forum))
    forum.remove_topic(227)
    forum.purge_post(3204)  # what a non-staff API user sees of a deleted post

    report = pipeline.ingest_pages(services, "forum", connector(forum).pages(None), full_pass=True)

    assert report.flagged_deleted == 3
    assert row(services, "3401").deleted and row(services, "3402").deleted
    assert row(services, "3204").deleted
    assert not row(services, "3201").deleted


def test_accepted_answers_become_accept_interactions(
    forum: DiscourseServer, services: Services
) -> None:
    sync(services, connector(forum))

    accepts = [i for i in snapshot(services)["interactions"] if i[0] == "accept"]
    assert [(actor, target) for _, actor, target, _ in accepts] == [("11", "3102"), ("11", "3317")]


def test_sync_through_faults_ends_with_the_store_of_a_clean_sync(
    forum: DiscourseServer, open_store: Callable[[str], Services]
) -> None:
    clean = open_store("clean")
    assert sync(clean, connector(forum)).failed is None
    assert len(snapshot(clean)["contributions"]) == 35
    forum.requests.clear()
    waits: list[float] = []
    client = HttpClient(timeout=0.3, max_attempts=4, backoff_base=0.01, sleep=waits.append)
    forum.fail("/latest.json", 502, times=2)
    forum.rate_limit("/t/214.json", wait_seconds=2)
    forum.slow("/t/223/posts.json", delay=0.8)
    forum.truncate("/t/219.json")
    faulty = open_store("faulty")

    first = sync(faulty, connector(forum, client))

    assert first.failed is None and first.pages == 5
    assert forum.count("/latest.json") == 3  # 2 × 502, then the list
    assert 2.0 in waits  # Retry-After honoured
    assert forum.count("/t/223/posts.json") == 2  # timed out once, then answered
    assert forum.count("/t/219.json") == 2  # cut short once, then whole
    assert snapshot(faulty) == snapshot(clean)


def test_profiles_read_a_members_own_text_for_self_claims(forum: DiscourseServer) -> None:
    """The profile text a self-claim's code is put in (issue 16): the same account id as
    the member's posts, its bio and website; an unknown member is left out."""
    forum.profiles["priya.raman"] = {"bio_raw": "Claims. whoknows-ABCDEFGHJK",
                                     "website": "https://priya.example"}
    by_posts = {r.author.username: r.author.id
                for r in records(list(connector(forum).pages(None))).values()}
    [found] = connector(forum).profiles(["priya.raman", "nobody-here"])
    assert found.id == by_posts["priya.raman"] and found.username == "priya.raman"
    assert found.bio == "Claims. whoknows-ABCDEFGHJK" and found.website == "https://priya.example"
    assert forum.count("/u/nobody-here.json") == 1
