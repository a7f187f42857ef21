"""The WordPress REST API connector, over real HTTP to a fake WordPress site."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Row, select
from sqlalchemy.orm import aliased

from service import pipeline
from service.config import ConfigError, SourceConfig
from service.connectors.base import ConnectorError, FatalSourceError, Page, RetryExhaustedError
from service.connectors.http import HttpClient
from service.connectors.wordpress import WordPressConnector
from service.model import ContributionKind, ContributionRecord
from service.store.schema import contributions, identities, interactions
from service.store.sync import get_cursor
from tests.connectors.wordpress_server import Recorded, WordPressServer, error_body

APP_PASSWORD = "whoknows-sync:abcd EFGH ijkl MNOP qrst UVWX"


@pytest.fixture
def site() -> Iterator[WordPressServer]:
    with WordPressServer() as server:
        yield server


@pytest.fixture
def clean_services(open_store: Callable[[str], pipeline.Services]) -> pipeline.Services:
    """A second store, for a clean sync to compare with."""
    return open_store("clean")


def connector(
    site: WordPressServer,
    credentials: str | None = None,
    sleeps: list[float] | None = None,
    timeout: float = 5.0,
    **options: Any,
) -> WordPressConnector:
    source = SourceConfig(
        id="blog", kind="wordpress", audience="internal", url=site.url, options=options
    )
    client = HttpClient(
        timeout=timeout,
        max_attempts=5,
        backoff_base=0.01,
        sleep=sleeps.append if sleeps is not None else lambda _: None,
    )
    return WordPressConnector(source, client, credentials)


def records(pages: list[Page]) -> list[ContributionRecord]:
    return [record for page in pages for record in page.records]


def by_id(pages: list[Page]) -> dict[str, ContributionRecord]:
    return {record.id: record for record in records(pages)}


def sync(services: pipeline.Services, wp: WordPressConnector) -> pipeline.SyncReport:
    """One run from the stored cursor, as `whoknows sync` runs it."""
    with services.engine.begin() as conn:
        cursor = get_cursor(conn, "blog")
    return pipeline.ingest_pages(services, "blog", wp.pages(cursor), full_pass=cursor is None)


def full_pass(services: pipeline.Services, wp: WordPressConnector) -> pipeline.SyncReport:
    return pipeline.ingest_pages(services, "blog", wp.pages(None), full_pass=True)


def snapshot(services: pipeline.Services) -> tuple[list[Row[Any]], list[Row[Any]]]:
    """The stored contributions and interactions, by source ids (no surrogate keys)."""
    c, i, who = contributions.c, interactions.c, identities.c
    target = aliased(contributions)
    with services.engine.connect() as conn:
        rows = conn.execute(
            select(
                c.external_id.label("id"),
                c.kind,
                who.external_id.label("author"),
                who.username,
                who.display_name,
                who.email,
                c.thread_external_id,
                c.parent_external_id,
                c.url,
                c.title,
                c.body,
                c.tags,
                c.created_at,
                c.updated_at,
                c.deleted,
            )
            .join(identities, who.id == c.author_identity_id)
            .order_by(c.external_id)
        ).all()
        links = conn.execute(
            select(i.kind, who.external_id.label("actor"), target.c.external_id, i.created_at)
            .join(identities, who.id == i.actor_identity_id)
            .join(target, target.c.id == i.target_contribution_id)
            .order_by(target.c.external_id, who.external_id)
        ).all()
    return list(rows), list(links)


def stored(services: pipeline.Services) -> dict[str, Row[Any]]:
    return {row.id: row for row in snapshot(services)[0]}


def posts_requests(site: WordPressServer) -> list[Recorded]:
    return [r for r in site.requests if r.route == "posts"]


def test_full_pass_maps_posts_with_author_tags_and_text(site: WordPressServer) -> None:
    pages = list(connector(site).pages(None))

    posts = by_id(pages)
    dental = posts["post-101"]
    assert dental.kind is ContributionKind.BLOG_POST
    assert dental.title == "Adjudicating dental claims without the batch window"
    assert (dental.author.id, dental.author.username, dental.author.name) == (
        "7",
        "priya-raman",
        "Priya Raman",
    )
    assert dental.author.url == "https://intranet.example.com/claims/author/priya-raman/"
    assert dental.author.email is None
    assert dental.tags == ["Claims", "dental", "medical insurance claims"]
    assert dental.url == (
        "https://intranet.example.com/claims/2024/05/14/"
        "adjudicating-dental-claims-without-the-batch-window/"
    )
    assert dental.created == dental.updated == datetime(2024, 5, 14, 8, 12, 45, tzinfo=UTC)
    assert dental.text.startswith(
        "For eleven years dental claims waited for the nightly batch. Members saw “pending”"
    )
    assert "moved adjudication to an event stream" in dental.text
    assert "console.log" not in dental.text and "<" not in dental.text
    assert posts["post-109"].title == "Fee schedules & caching: lessons from the March outage"
    assert posts["post-104"].updated == datetime(2024, 5, 21, 7, 45, tzinfo=UTC)
    assert posts["post-104"].created == datetime(2024, 5, 20, 13, 2, 10, tzinfo=UTC)
    assert posts["post-118"].tags == ["audit & compliance"]  # not "Uncategorized"
    assert [p.complete for p in pages] == [False] * (len(pages) - 1) + [True]


def test_comments_map_to_threads_with_account_and_guest_authors(site: WordPressServer) -> None:
    comments = by_id(list(connector(site).pages(None)))

    question, answer = comments["comment-31"], comments["comment-32"]
    assert question.kind is ContributionKind.COMMENT
    assert (question.thread, question.parent) == ("post-101", "post-101")
    assert (answer.thread, answer.parent) == ("post-101", "comment-31")
    assert question.text == "Did the event stream change how we reprocess denied claims?"
    assert question.created == question.updated == datetime(2024, 5, 14, 9, 30, tzinfo=UTC)
    assert question.url.endswith("/adjudicating-dental-claims-without-the-batch-window/#comment-31")
    assert (answer.author.id, answer.author.username) == ("7", "priya-raman")
    guest, again = comments["comment-33"].author, comments["comment-35"].author
    assert guest.id == again.id and guest.id.startswith("guest-")
    assert (guest.name, guest.email, guest.url) == (
        "Dana Kim",
        None,
        "https://partner.example.org/dana",
    )
    # Lena has published nothing, so the site shows only the name on her comment.
    lena = comments["comment-34"].author
    assert (lena.id, lena.name, lena.username) == ("15", "Lena Fischer", None)


def test_each_answer_is_a_page_and_each_request_asks_after_the_last_one(
    site: WordPressServer,
) -> None:
    pages = list(connector(site, per_page=2, comments=False).pages(None))

    assert [[r.id for r in page.records] for page in pages] == [
        ["post-101", "post-104"],
        ["post-109"],
        ["post-112"],
        ["post-115"],
        ["post-118"],
        [],
    ]
    asked = [(r.query.get("modified_after"), r.query["page"]) for r in posts_requests(site)]
    assert asked == [
        (None, "1"),
        ("2024-05-21T07:44:59Z", "1"),
        ("2024-05-28T08:59:59Z", "1"),
        ("2024-06-03T10:14:59Z", "1"),
        ("2024-06-05T07:59:59Z", "1"),
    ]
    assert all(
        r.query["orderby"] == "modified" and r.query["order"] == "asc" for r in posts_requests(site)
    )
    cursor = json.loads(pages[-1].cursor or "")
    assert cursor["posts"] == {"time": "2024-06-05T08:00:00+00:00", "ids": [115, 118]}


def test_posts_sharing_a_second_across_pages_are_all_read(site: WordPressServer) -> None:
    pages = list(connector(site, per_page=1, comments=False).pages(None))

    assert sorted(by_id(pages)) == [
        "post-101",
        "post-104",
        "post-109",
        "post-112",
        "post-115",
        "post-118",
    ]
    assert len(records(pages)) == 6
    assert ("2024-06-05T07:59:59Z", "2") in [
        (r.query.get("modified_after"), r.query["page"]) for r in posts_requests(site)
    ]


def test_incremental_run_asks_only_for_what_changed(site: WordPressServer) -> None:
    wp = connector(site)
    cursor = list(wp.pages(None))[-1].cursor
    before = len(site.requests)

    unchanged = list(wp.pages(cursor))
    assert records(unchanged) == []
    assert len(site.requests) - before == 2  # the posts after the cursor, the new comments

    site.add_post(120, "Subrogation after the 2024 rules", "<p>Recovering what we paid.</p>")
    site.add_comment(37, 104, "<p>Where do I find the adjustment codes?</p>")
    before = len(site.requests)
    later = list(wp.pages(cursor))

    assert [r.id for r in records(later)] == ["post-120", "comment-37"]
    assert [r.route for r in site.requests[before:]] == ["posts", "comments", "comments"]
    assert site.requests[before].query["modified_after"] == "2024-06-05T07:59:59Z"
    assert site.requests[before + 1].query["post"] == "120"
    assert site.requests[before + 2].query["after"] == "2024-07-01T11:49:59Z"
    assert not any(page.complete for page in unchanged + later)


def test_edited_post_is_stored_as_an_update(
    site: WordPressServer, services: pipeline.Services
) -> None:
    wp = connector(site)
    sync(services, wp)
    site.edit_post(109, "<p>We now stagger expiry by region.</p>")

    report = sync(services, wp)

    assert (report.batch.inserted, report.batch.updated) == (0, 1)
    edited = stored(services)["post-109"]
    assert edited.body == "We now stagger expiry by region."
    assert edited.updated_at.replace(tzinfo=UTC) == datetime(2024, 7, 1, 12, 1, tzinfo=UTC)


def test_full_pass_flags_a_trashed_post_and_its_comments_deleted(
    site: WordPressServer, services: pipeline.Services
) -> None:
    wp = connector(site)
    sync(services, wp)
    site.trash_post(112)

    incremental = sync(services, wp)
    assert incremental.flagged_deleted == 0
    report = full_pass(services, wp)

    assert report.flagged_deleted == 3
    deleted = {key for key, row in stored(services).items() if row.deleted}
    assert deleted == {"post-112", "comment-35", "comment-36"}


def test_post_edited_during_the_walk_is_stored_once_and_nothing_is_missed(
    site: WordPressServer, services: pipeline.Services
) -> None:
    def edit_a_read_post(request: Recorded) -> None:
        if request.route == "posts" and len(posts_requests(site)) == 3:
            site.edit_post(101, "<p>Now with appeals.</p>")

    site.on_request(edit_a_read_post)

    report = full_pass(services, connector(site, per_page=2))

    rows = stored(services)
    assert report.flagged_deleted == 0
    posts = sorted(key for key, row in rows.items() if row.kind == "blog_post")
    assert posts == ["post-101", "post-104", "post-109", "post-112", "post-115", "post-118"]
    assert rows["post-101"].body == "Now with appeals."
    assert not any(row.deleted for row in rows.values())


def test_post_trashed_between_pages_ends_the_walk_at_the_past_the_end_error(
    site: WordPressServer,
) -> None:
    def trash_the_next(request: Recorded) -> None:
        if (
            request.query.get("modified_after") == "2024-06-05T07:59:59Z"
            and request.query.get("page") == "2"
        ):
            site.trash_post(118)

    site.on_request(trash_the_next)

    pages = list(connector(site, per_page=1, comments=False).pages(None))

    assert "post-118" not in by_id(pages) and len(records(pages)) == 5
    assert pages[-1].complete
    assert posts_requests(site)[-1].query["page"] == "2"


def test_comment_made_during_a_full_pass_is_read_after_it(site: WordPressServer) -> None:
    def comment_on_a_read_post(request: Recorded) -> None:
        if request.route == "posts" and len(posts_requests(site)) == 3:
            site.add_comment(38, 101, "<p>Late question about vision claims.</p>")

    site.on_request(comment_on_a_read_post)

    pages = list(connector(site, per_page=2).pages(None))

    assert by_id(pages)["comment-38"].thread == "post-101"
    assert pages[-1].complete


def test_faults_end_with_the_same_store_as_a_clean_sync(
    site: WordPressServer, services: pipeline.Services, clean_services: pipeline.Services
) -> None:
    site.credentials = APP_PASSWORD
    clean = sync(clean_services, connector(site, APP_PASSWORD, per_page=2))
    assert clean.failed is None
    busy = error_body("rest_too_many_requests", "Slow down.", 429)
    site.fault("posts", status=429, headers={"Retry-After": "2"}, body=busy)
    site.fault(
        "posts",
        times=2,
        status=503,
        body=b"<html>Service Unavailable</html>",
        headers={"Content-Type": "text/html"},
    )
    site.fault("posts", delay=0.6, when={"modified_after": "2024-05-28T08:59:59Z"})
    site.fault("posts", cut_at=50, when={"modified_after": "2024-06-03T10:14:59Z"})
    site.fault("comments", status=502, when={"post": "109"})
    site.fault("comments", cut_at=10, when={"post": "112"})
    site.fault("users", times=2, status=500)
    sleeps: list[float] = []

    report = sync(services, connector(site, APP_PASSWORD, sleeps, timeout=0.3, per_page=2))

    assert report.failed is None and report.errors == []
    assert snapshot(services) == snapshot(clean_services)
    assert 2.0 in sleeps  # Retry-After was honoured
    assert len(sleeps) == 9
    assert not any(fault for faults in site.faults.values() for fault in faults)


def test_garbled_answer_is_retried_and_the_run_ends_with_the_same_store(
    site: WordPressServer, services: pipeline.Services, clean_services: pipeline.Services
) -> None:
    sync(clean_services, connector(site, per_page=2))
    site.fault(
        "posts",
        status=200,
        body=b'[{"id": 109, "date": "2024-05',
        when={"modified_after": "2024-05-21T07:44:59Z"},
    )
    wp = connector(site, per_page=2)

    first = sync(services, wp)

    assert first.failed is None
    assert wp.client.retries == 1
    assert sync(services, wp).batch.changed_ids == []
    assert snapshot(services) == snapshot(clean_services)


def test_application_password_goes_as_basic_auth_and_brings_emails(
    site: WordPressServer,
) -> None:
    site.credentials, site.private = APP_PASSWORD, True

    people = {r.id: r.author for r in records(list(connector(site, APP_PASSWORD).pages(None)))}

    token = base64.b64encode(APP_PASSWORD.encode()).decode()
    assert {r.headers["Authorization"] for r in site.requests} == {f"Basic {token}"}
    assert people["post-101"].email == "priya.raman@example.com"
    assert people["post-104"].email == "tomasz.wojcik@example.com"
    assert (people["comment-34"].username, people["comment-34"].email) == (
        "lena-fischer",
        "lena.fischer@example.com",
    )
    assert people["comment-33"].email is None
    (users,) = [r for r in site.requests if r.route == "users"]
    assert (users.query["context"], users.query["include"]) == ("edit", "7,9,12,15")


def test_without_the_right_to_list_users_emails_are_left_out_once_noted(
    site: WordPressServer,
) -> None:
    site.credentials, site.can_list_users = APP_PASSWORD, False

    pages = list(connector(site, APP_PASSWORD, per_page=2).pages(None))

    assert all(r.author.email is None for r in records(pages))
    notes = [error for page in pages for error in page.errors]
    assert len(notes) == 1 and "e-mails not read" in notes[0] and "HTTP 403" in notes[0]
    assert site.count("users") == 1
    assert len(by_id(pages)) == 12


def test_refused_credentials_are_fatal_without_retrying(site: WordPressServer) -> None:
    site.credentials = APP_PASSWORD

    with pytest.raises(FatalSourceError, match="HTTP 401"):
        list(connector(site, "whoknows-sync:wrong").pages(None))

    assert site.count("posts") == 1


def test_comments_become_reply_interactions(
    site: WordPressServer, services: pipeline.Services
) -> None:
    sync(services, connector(site))

    rows, links = snapshot(services)

    author = {row.id: row.author for row in rows}
    assert {(kind, actor, target) for kind, actor, target, _ in links} == {
        ("reply", "9", "post-101"),
        ("reply", "7", "comment-31"),
        ("reply", author["comment-33"], "post-101"),
        ("reply", "15", "post-104"),
        ("reply", author["comment-35"], "post-112"),
        ("reply", "12", "comment-35"),
    }
    assert author["post-101"] == "7"  # Tomasz's question replies to Priya's post


def test_malformed_items_are_skipped_and_described(site: WordPressServer) -> None:
    site.add_post(130, "Nobody wrote this", "<p>?</p>")
    site.posts[130]["author"] = 0
    site.add_post(131, "Undated", "<p>?</p>")
    site.posts[131]["date_gmt"] = "0000-00-00T00:00:00"
    site.add_comment(39, 101, "<p>anonymous</p>")
    site.comments[39]["author_name"] = ""
    site.now += timedelta(hours=1)  # else the pass reads comment 39 again, as made during it

    pages = list(connector(site).pages(None))

    errors = [error for page in pages for error in page.errors]
    assert sorted(errors) == [
        "comment 39 skipped: a guest comment without an author name",
        "post 130 skipped: it names no author",
        "post 131 skipped: no readable date_gmt",
    ]
    assert len(records(pages)) == 12


def test_site_older_than_5_7_is_read_whole_and_only_new_posts_come_out(
    site: WordPressServer,
) -> None:
    site.ignores_modified_after = True
    wp = connector(site, per_page=2, comments=False)
    cursor = list(wp.pages(None))[-1].cursor
    site.add_post(120, "Subrogation after the 2024 rules", "<p>Recovering what we paid.</p>")
    before = len(site.requests)

    pages = list(wp.pages(cursor))

    assert [r.id for r in records(pages)] == ["post-120"]
    # page 1 asked three times more: an answer older than asked for may be a cache's replay
    pages_asked = [r.query["page"] for r in site.requests[before:]]
    assert pages_asked == ["1", "1", "1", "1", "2", "3", "4"]


def test_source_url_may_name_the_api_root(site: WordPressServer) -> None:
    source = SourceConfig(
        id="blog",
        kind="wordpress",
        audience="internal",
        url=site.url + "/wp-json/",
        options={"comments": False},
    )
    wp = WordPressConnector(source, HttpClient(backoff_base=0.01))

    assert len(records(list(wp.pages(None)))) == 6


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"per_page": 0}, "per_page"),
        ({"per_page": "50"}, "per_page"),
        ({"per_page": True}, "per_page"),
        ({"comments": "yes"}, "comments"),
        ({"emails": 1}, "emails"),
        ({"perpage": 50}, "perpage"),
    ],
)
def test_bad_options_raise_config_error_naming_the_key(options: dict[str, Any], key: str) -> None:
    source = SourceConfig(
        id="blog",
        kind="wordpress",
        audience="internal",
        url="https://intranet.example.com/claims",
        options=options,
    )

    with pytest.raises(ConfigError, match=f"source 'blog': options.{key}: "):
        WordPressConnector(source)


def test_answer_that_is_never_json_gives_up_after_the_retries(site: WordPressServer) -> None:
    site.fault(
        "posts",
        times=10,
        status=200,
        body=b"<html>Sign in</html>",
        headers={"Content-Type": "text/html; charset=utf-8"},
    )

    with pytest.raises(RetryExhaustedError, match=r"not JSON \(20 bytes of text/html"):
        list(connector(site).pages(None))


def test_unreadable_cursor_raises_connector_error(site: WordPressServer) -> None:
    with pytest.raises(ConnectorError, match="not a WordPress cursor"):
        list(connector(site).pages("2024-05-01"))


def test_source_without_url_is_fatal() -> None:
    source = SourceConfig(id="blog", kind="wordpress", audience="internal")

    with pytest.raises(FatalSourceError, match="no site URL"):
        list(WordPressConnector(source).pages(None))
