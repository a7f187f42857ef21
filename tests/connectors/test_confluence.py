"""The Confluence Cloud connector, over real HTTP to a fake Confluence site (REST API v2)."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service import pipeline
from service.config import ConfigError, SourceConfig, load_config
from service.connectors import build_connector
from service.connectors.base import ConnectorError, FatalSourceError, Page
from service.connectors.confluence import ConfluenceConnector, rate_limit_reset
from service.connectors.http import HttpClient
from service.model import ContributionKind, ContributionRecord
from service.store.schema import contributions
from service.store.sync import get_cursor
from tests.connectors import crashsite
from tests.connectors.confluence_server import ConfluenceServer, error_body
from tests.connectors.faults import FaultPlan, Rates
from tests.connectors.test_stackexchange import snapshot

TOKEN = "whoknows-sync@example.com:ATATT3xFfGF0T4qZ9exampletoken"
PRIYA = "5b10ac8d82e05b22cc7d4ef5"
TOMASZ = "557058:3f1c9d2e-8a4b-4c7e-9b1a-2d6e5f7a8b9c"
LENA = "5d5c3e0f1a2b3c0d4e5f6a7b"
DANA = "712020:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
ALL_IDS = [
    "blogpost-65601", "blogpost-65602", "comment-34001", "comment-34002", "comment-34003",
    "comment-34004", "comment-35001", "comment-35002", "page-33001", "page-33002",
    "page-33101", "page-33102",
]  # fmt: skip


@pytest.fixture
def wiki() -> Iterator[ConfluenceServer]:
    with ConfluenceServer() as server:
        server.basic = TOKEN
        yield server


def connector(
    wiki: ConfluenceServer,
    credentials: str | None = TOKEN,
    client: HttpClient | None = None,
    audience: str = "internal",
    **options: Any,
) -> ConfluenceConnector:
    source = SourceConfig(
        id="blog", kind="confluence", audience=audience, url=wiki.url, options=options
    )
    client = client or HttpClient(timeout=5.0, max_attempts=5, backoff_base=0.01)
    return ConfluenceConnector(source, client, credentials)


def only(**rates: float) -> Rates:
    """A fault plan's rates with nothing but `rates`."""
    quiet = {"error": 0.0, "throttle": 0.0, "truncated": 0.0, "slow": 0.0, "repeat": 0.0}
    return Rates(**{**quiet, **rates})


def records(pages: list[Page]) -> list[ContributionRecord]:
    return [record for page in pages for record in page.records]


def by_id(pages: list[Page]) -> dict[str, ContributionRecord]:
    return {record.id: record for record in records(pages)}


def sync(services: pipeline.Services, wiki: ConfluenceConnector) -> pipeline.SyncReport:
    """One run from the stored cursor, as `whoknows sync` runs it."""
    with services.engine.begin() as conn:
        cursor = get_cursor(conn, "blog")
    return pipeline.ingest_pages(services, "blog", wiki.pages(cursor), full_pass=cursor is None)


def stored(services: pipeline.Services) -> dict[str, dict[str, Any]]:
    """The stored contributions by source id, each a column -> value dict ("author": the
    author's account id)."""
    skipped = {"id", "author_identity_id", "seen_at"}
    names = ["author"] + [c.name for c in contributions.columns if c.name not in skipped]
    rows = crashsite.snapshot(Path(str(services.engine.url.database)))["contributions"]
    return {row[2]: dict(zip(names, row, strict=True)) for row in rows}


# Mapping


def test_full_pass_maps_blog_posts_pages_and_comments(wiki: ConfluenceServer) -> None:
    pages = list(connector(wiki).pages(None))

    found = by_id(pages)
    assert sorted(found) == ALL_IDS
    assert len(records(pages)) == len(ALL_IDS)  # every item once
    dental = found["blogpost-65601"]
    assert dental.kind is ContributionKind.BLOG_POST
    assert dental.title == "Adjudicating dental claims without the batch window"
    assert dental.text == (
        "For eleven years dental claims waited for the nightly batch. We moved adjudication "
        "to an event stream. claims.stream().forEach(adjudicate); Members now see a "
        "decision in minutes."
    )
    assert dental.tags == ["Claims Engineering"]
    assert dental.url == (
        "https://example-claims.atlassian.net/wiki/spaces/CLAIMSENG/blog/2024/05/14/65601/"
        "Adjudicating+dental+claims+without+the+batch+window"
    )
    assert (dental.author.id, dental.author.name, dental.author.email) == (
        PRIYA, "Priya Raman", "priya.raman@example.com"
    )  # fmt: skip
    runbook = found["page-33001"]
    assert runbook.kind is ContributionKind.ARTICLE
    assert runbook.author.id == PRIYA  # the creator, not Lena who edited it last
    assert runbook.created == datetime(2024, 5, 2, 10, 0, tzinfo=UTC)
    assert runbook.updated == datetime(2024, 5, 28, 9, 0, tzinfo=UTC)
    assert "Check the Claims dashboard first" in runbook.text and "<" not in runbook.text
    # a hidden e-mail leaves the account id for the review queue
    assert (found["page-33002"].author.id, found["page-33002"].author.email) == (TOMASZ, None)
    assert found["page-33002"].author.name == "Tomasz Wójcik"
    assert found["page-33101"].author.email == "lena.fischer@example.com"
    assert [p.complete for p in pages] == [False] * (len(pages) - 1) + [True]


def test_footer_and_inline_comments_thread_under_their_page_or_post(
    wiki: ConfluenceServer,
) -> None:
    found = by_id(list(connector(wiki).pages(None)))

    question, answer = found["comment-34001"], found["comment-34002"]
    assert question.kind is answer.kind is ContributionKind.COMMENT
    assert (question.thread, question.parent) == ("blogpost-65601", "blogpost-65601")
    assert (answer.thread, answer.parent) == ("blogpost-65601", "comment-34001")
    assert question.text == "Did the event stream change how we reprocess denied claims?"
    assert question.created == datetime(2024, 5, 14, 9, 30, tzinfo=UTC)
    inline = found["comment-35002"]
    assert (inline.thread, inline.parent, inline.author.id) == (
        "page-33002", "comment-35001", TOMASZ
    )  # fmt: skip
    assert found["comment-34003"].url.endswith("?focusedCommentId=34003#comment-34003")


def test_likes_name_the_accounts_that_liked(wiki: ConfluenceServer) -> None:
    found = by_id(list(connector(wiki).pages(None)))

    assert {r.id: [a.id for a in r.liked_by] for r in found.values() if r.likes} == {
        "blogpost-65601": [TOMASZ, LENA, DANA],
        "blogpost-65602": [PRIYA],
        "page-33001": [TOMASZ, DANA],
        "page-33101": [PRIYA, TOMASZ],
        "comment-34002": [TOMASZ],
        "comment-35002": [LENA],
    }
    assert found["blogpost-65601"].likes == 3
    assert found["blogpost-65601"].liked_by[1].email == "lena.fischer@example.com"


def test_each_answer_is_a_page_walked_by_its_next_link(wiki: ConfluenceServer) -> None:
    pages = list(connector(wiki, limit=2, likes=False).pages(None))

    assert [[r.id for r in page.records] for page in pages] == [
        ["blogpost-65601", "blogpost-65602"],
        ["page-33001", "page-33002"],
        ["page-33101", "page-33102"],
        ["comment-34001", "comment-34002"],
        ["comment-34003", "comment-34004"],
        ["comment-35001", "comment-35002"],
        [],
    ]
    listed = [r for r in wiki.requests if r.route == "api/v2/pages"]
    assert [r.query.get("sort") for r in listed] == ["id", "modified-date", "modified-date"]
    assert listed[1].query["status"] == "current" and listed[1].query["body-format"] == "storage"
    assert "cursor" in listed[2].query
    middle = json.loads(pages[1].cursor or "")
    assert middle["walk"]["listing"] == "pages"
    assert middle["walk"]["next"].startswith("/wiki/api/v2/pages?")
    assert "walk" not in json.loads(pages[2].cursor or "")


# A store that equals the site


def test_clean_sync_stores_every_item_once_with_authors_likes_and_audience(
    wiki: ConfluenceServer, open_store: Callable[[str], pipeline.Services]
) -> None:
    services = open_store("wiki")

    report = sync(services, connector(wiki, limit=3))

    assert report.failed is None and report.errors == []
    db = crashsite.snapshot(Path(str(services.engine.url.database)))
    assert db["duplicates"] == []
    rows = stored(services)
    assert sorted(rows) == ALL_IDS
    assert {row["audience"] for row in rows.values()} == {"internal"}  # as configured
    assert rows["page-33102"]["author"] == DANA and rows["comment-35001"]["author"] == LENA
    assert rows["page-33101"]["likes"] == 2
    accounts = {row[1]: (row[3], row[4]) for row in db["identities"]}
    assert accounts == {
        PRIYA: ("Priya Raman", "priya.raman@example.com"),
        TOMASZ: ("Tomasz Wójcik", None),
        LENA: ("Lena Fischer", "lena.fischer@example.com"),
        DANA: ("Dana Kim", None),
    }
    likes = sorted((actor, target) for _, kind, actor, target, _ in db["interactions"]
                   if kind == "like")  # fmt: skip
    prefix = {"blogposts": "blogpost", "pages": "page", "footer-comments": "comment",
              "inline-comments": "comment"}  # fmt: skip
    expected = []
    for key, likers in wiki.likes.items():
        route, item_id = key.split("/")
        expected += [(account, f"{prefix[route]}-{item_id}") for account in likers]
    assert likes == sorted(expected)
    assert sync(services, connector(wiki, limit=3)).batch.changed_ids == []


@pytest.fixture
def big_wiki() -> Iterator[ConfluenceServer]:
    """The fixture wiki three times over (36 items), for the fault plans to meet."""
    with ConfluenceServer.scaled(3) as server:
        server.basic = TOKEN
        yield server


def test_the_store_after_faults_equals_a_clean_sync_and_no_request_comes_in_a_window(
    big_wiki: ConfluenceServer, open_store: Callable[[str], pipeline.Services]
) -> None:
    wiki = big_wiki
    clean, faulty = open_store("clean"), open_store("faulty")
    assert sync(clean, connector(wiki, limit=2)).failed is None
    busy = error_body(429, "TOO_MANY_REQUESTS", "Rate limit exceeded")
    wiki.fault("api/v2/pages", status=429, headers={"Retry-After": "1"}, body=busy)
    wiki.fault("api/v2/pages", times=2, status=503, body=b"<html>Service Unavailable</html>",
               headers={"Content-Type": "text/html"})  # fmt: skip
    wiki.fault("api/v2/footer-comments", cut_at=40, when={"sort": "modified-date"})
    wiki.fault("api/v2/blogposts/65601/likes/users", status=502)
    wiki.fault("rest/api/user/bulk", status=200, body=b'{"results": [{"accountId"')
    wiki.plan = FaultPlan(seed=4)
    sleeps: list[float] = []
    client = HttpClient(timeout=0.4, backoff_base=0.01, backoff_max=0.2,
                        sleep=lambda s: (sleeps.append(s), time.sleep(s)))  # fmt: skip

    report = sync(faulty, connector(wiki, client=client, limit=2))

    assert report.failed is None and report.errors == []
    assert snapshot(faulty) == snapshot(clean)
    assert wiki.plan.violations == []
    assert 1.0 in sleeps  # the scripted Retry-After, waited exactly
    met = wiki.plan.counts()
    assert {"error", "garbled", "dropped", "repeat", "throttle", "slow"} <= set(met), met
    assert not any(queue for queue in wiki.faults.values())
    wiki.plan = None
    assert sync(faulty, connector(wiki, limit=2)).batch.changed_ids == []


def test_throttle_bursts_are_waited_out_without_a_request_inside_the_window(
    wiki: ConfluenceServer, open_store: Callable[[str], pipeline.Services]
) -> None:
    clean, faulty = open_store("clean"), open_store("faulty")
    assert sync(clean, connector(wiki, limit=4)).failed is None
    wiki.plan = FaultPlan(seed=2, rates=only(throttle=0.3))

    report = sync(faulty, connector(wiki, client=HttpClient(timeout=2.0), limit=4))

    assert report.failed is None
    assert wiki.plan.counts()["throttle"] >= 3
    assert wiki.plan.violations == []
    assert snapshot(faulty) == snapshot(clean)


def test_an_exhausted_rate_limit_waits_for_its_reset(wiki: ConfluenceServer) -> None:
    wiki.rate_limit = (10, 0.5)

    pages = list(connector(wiki, limit=3).pages(None))

    assert sorted(by_id(pages)) == ALL_IDS
    assert wiki.early == []  # never asked before X-RateLimit-Reset


def test_throttles_naming_only_x_ratelimit_reset_are_waited_out_until_it(
    wiki: ConfluenceServer, open_store: Callable[[str], pipeline.Services]
) -> None:
    clean, faulty = open_store("clean"), open_store("faulty")
    assert sync(clean, connector(wiki, limit=4)).failed is None
    wiki.reset_only = True  # 429s with X-RateLimit-Reset and no Retry-After
    wiki.plan = FaultPlan(seed=2, rates=only(throttle=0.3))
    sleeps: list[float] = []
    # The client's own backoff (10-50 ms) would come back inside the 1 s windows.
    client = HttpClient(timeout=2.0, backoff_base=0.01, backoff_max=0.05,
                        sleep=lambda s: (sleeps.append(s), time.sleep(s)))  # fmt: skip

    report = sync(faulty, connector(wiki, client=client, limit=4))

    assert report.failed is None
    assert wiki.plan.counts()["throttle"] >= 3
    assert wiki.plan.violations == []
    assert snapshot(faulty) == snapshot(clean)
    assert len(sleeps) == wiki.plan.counts()["throttle"] and min(sleeps) > 0.5


def test_a_limit_spent_elsewhere_is_waited_out_to_the_reset_its_429_names(
    wiki: ConfluenceServer,
) -> None:
    wiki.rate_limit, wiki.reset_only = (1000, 0.6), True
    client = HttpClient(timeout=2.0, backoff_base=0.01, backoff_max=0.05)
    pages = connector(wiki, client=client, limit=3).pages(None)
    first = next(pages)
    wiki.spend_elsewhere()
    started = time.monotonic()

    rest = list(pages)

    assert sorted(by_id([first, *rest])) == ALL_IDS
    # The one refused request could not be foreseen; its retry waited for the reset.
    assert len(wiki.early) == 1 and time.monotonic() - started >= 0.55


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2024-07-01T12:05:10.250Z", 40.25),
        ("2024-07-01T12:05Z", 90.0),  # Atlassian's "yyyy-MM-ddTHH:mmZ": to the minute's end
        ("2024-07-01T14:05+02:00", 90.0),
        ("2024-07-01T12:04:00Z", 0.0),  # gone by: no wait
        ("in a minute", None),
        (None, None),
    ],
)
def test_x_ratelimit_reset_is_read_as_the_seconds_until_it(
    header: str | None, seconds: float | None
) -> None:
    now = datetime(2024, 7, 1, 12, 4, 30, tzinfo=UTC)
    assert rate_limit_reset(header, now) == seconds


# Incremental runs


def test_incremental_run_catches_new_edited_and_trashed_items(
    wiki: ConfluenceServer, services: pipeline.Services
) -> None:
    wiki_ = connector(wiki, limit=2)
    sync(services, wiki_)
    before = len(wiki.requests)
    assert sync(services, wiki_).batch.changed_ids == []
    unchanged = [r.query.get("sort") for r in wiki.requests[before:] if r.route == "api/v2/pages"]
    assert unchanged == ["id", "-modified-date", "-modified-date"]  # the trash, then the newest

    wiki.add("pages", "33103", "33101", "<p>Coordination of benefits, step by step.</p>",
             title="Coordination of benefits")  # fmt: skip
    wiki.edit("blogposts", "65601", "<p>Now with appeals.</p>")
    wiki.add("inline-comments", "35003", "35001", "<p>Amendments too?</p>")
    wiki.like("pages", "33103", DANA)
    wiki.trash("pages", "33102")
    report = sync(services, wiki_)

    assert report.failed is None
    rows = stored(services)
    assert rows["page-33103"]["kind"] == "article"
    assert rows["blogpost-65601"]["body"] == "Now with appeals."
    assert rows["comment-35003"]["author"] == LENA
    deleted = {key for key, row in rows.items() if row["deleted"]}
    assert deleted == {"page-33102"}


def test_full_pass_flags_purged_content_and_comments_of_trashed_content(
    wiki: ConfluenceServer, services: pipeline.Services
) -> None:
    sync(services, connector(wiki))
    del wiki.items["blogposts"]["65602"]  # purged from the trash
    wiki.trash("pages", "33101")  # its comment 34004 is no longer listed

    incremental = sync(services, connector(wiki))
    assert incremental.flagged_deleted == 0
    report = pipeline.ingest_pages(services, "blog", connector(wiki).pages(None), full_pass=True)

    assert report.flagged_deleted == 2
    deleted = {key for key, row in stored(services).items() if row["deleted"]}
    assert deleted == {"blogpost-65602", "page-33101", "comment-34004"}


def test_an_item_edited_during_a_full_pass_is_stored_once_in_its_last_version(
    wiki: ConfluenceServer, services: pipeline.Services
) -> None:
    def edit_a_read_page(request: Any) -> None:
        if request.route == "api/v2/pages" and "cursor" in request.query and not edited:
            edited.append(True)
            wiki.edit("pages", "33001", "<p>Replay from the offset.</p>")

    edited: list[bool] = []
    wiki.on_request(edit_a_read_page)

    report = sync(services, connector(wiki, limit=2))

    assert report.failed is None and report.flagged_deleted == 0
    rows = stored(services)
    assert sorted(rows) == ALL_IDS
    assert rows["page-33001"]["body"] == "Replay from the offset."


def test_a_resumed_walk_is_kept_while_the_listings_before_it_yield_changes(
    wiki: ConfluenceServer,
) -> None:
    pages = list(connector(wiki, limit=2, likes=False).pages(None))
    mid_pages = pages[1].cursor  # the pages' walk after its first answer
    wiki.edit("blogposts", "65601", "<p>Now with appeals.</p>")
    before = len(wiki.requests)

    resumed = list(connector(wiki, limit=2, likes=False).pages(mid_pages))

    assert json.loads(resumed[0].cursor or "")["walk"]["listing"] == "pages"
    listed = [r for r in wiki.requests[before:] if r.route == "api/v2/pages"]
    assert [("cursor" in r.query, r.query.get("sort")) for r in listed][1:] == [
        (True, "modified-date")
    ]
    assert [r.id for r in records(resumed)][:4] == [
        "blogpost-65602",
        "blogpost-65601",
        "page-33101",
        "page-33102",
    ]  # the blog post sharing the newest time read again, the edited one, the walk on


# Authentication


def test_api_token_goes_as_basic_auth(wiki: ConfluenceServer) -> None:
    list(connector(wiki).pages(None))

    token = base64.b64encode(TOKEN.encode()).decode()
    assert {r.headers["Authorization"] for r in wiki.requests} == {f"Basic {token}"}


def test_oauth_access_token_goes_as_bearer(wiki: ConfluenceServer) -> None:
    wiki.basic, wiki.bearer = None, "eyJraWQiOiJhdXRoLmF0bGFzc2lhbi5jb20"

    pages = list(connector(wiki, "eyJraWQiOiJhdXRoLmF0bGFzc2lhbi5jb20").pages(None))

    assert len(records(pages)) == len(ALL_IDS)
    assert {r.headers["Authorization"] for r in wiki.requests} == {
        "Bearer eyJraWQiOiJhdXRoLmF0bGFzc2lhbi5jb20"
    }


def test_through_the_oauth_gateway_next_links_resolve_under_the_cloud_id(
    wiki: ConfluenceServer,
) -> None:
    wiki.basic, wiki.bearer = None, "oauth-token"
    wiki.prefix = "/ex/confluence/1324a887-45db-1bf4-1e99-ef0ff456d421"
    assert wiki.url.endswith("/ex/confluence/1324a887-45db-1bf4-1e99-ef0ff456d421/wiki")

    pages = list(connector(wiki, "oauth-token", limit=2).pages(None))

    assert sorted(by_id(pages)) == ALL_IDS
    followed = [r for r in wiki.requests if "cursor" in r.query]
    assert followed and all(r.route.startswith("api/v2/") for r in followed)


def test_refused_credentials_are_fatal_without_retrying(wiki: ConfluenceServer) -> None:
    with pytest.raises(FatalSourceError, match="HTTP 401"):
        list(connector(wiki, "whoknows-sync@example.com:revoked").pages(None))

    assert len(wiki.requests) == 1


def test_without_the_user_lookup_accounts_keep_their_ids_noted_once(
    wiki: ConfluenceServer,
) -> None:
    wiki.can_look_up_users = False

    pages = list(connector(wiki, limit=2).pages(None))

    assert len(records(pages)) == len(ALL_IDS)
    assert all(r.author.email is None and r.author.name is None for r in records(pages))
    notes = [error for page in pages for error in page.errors]
    assert len(notes) == 1 and "not looked up" in notes[0] and "HTTP 403" in notes[0]
    assert wiki.count("rest/api/user/bulk") == 1


# Options and errors


def test_spaces_option_reads_only_those_spaces(wiki: ConfluenceServer) -> None:
    pages = list(connector(wiki, spaces=["CLAIMSOPS"]).pages(None))

    assert sorted(by_id(pages)) == ["blogpost-65602", "comment-34004", "page-33101", "page-33102"]
    listed = [r for r in wiki.requests if r.route == "api/v2/pages"]
    assert {r.query["space-id"] for r in listed} == {"98306"}


def test_unknown_space_is_fatal(wiki: ConfluenceServer) -> None:
    with pytest.raises(FatalSourceError, match="options.spaces: no space 'NOPE'"):
        list(connector(wiki, spaces=["CLAIMSOPS", "NOPE"]).pages(None))


def test_a_listing_that_keeps_answering_the_same_page_gives_up(wiki: ConfluenceServer) -> None:
    wiki.plan = FaultPlan(seed=1, rates=only(repeat=1.0))

    with pytest.raises(ConnectorError, match="lead back to the page just read"):
        list(connector(wiki, limit=1, likes=False).pages(None))


def test_malformed_items_are_skipped_and_described(wiki: ConfluenceServer) -> None:
    wiki.add("pages", "33104", "33101", "<p>?</p>", authorId=None)
    wiki.items["pages"]["33104"]["version"]["authorId"] = None
    wiki.add("footer-comments", "34009", "34004", "<p>?</p>")
    wiki.items["footer-comments"]["34009"]["version"]["createdAt"] = "soon"

    pages = list(connector(wiki).pages(None))

    errors = sorted(error for page in pages for error in page.errors)
    assert errors == [
        "footer comment 34009 skipped: no id or no readable version.createdAt",
        "page 33104 skipped: it names no author",
    ]
    assert len(records(pages)) == len(ALL_IDS)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 251}, "limit"),
        ({"limit": "50"}, "limit"),
        ({"spaces": "CLAIMSENG"}, "spaces"),
        ({"spaces": [""]}, "spaces"),
        ({"likes": "yes"}, "likes"),
        ({"trash": 1}, "trash"),
        ({"space": ["CLAIMSENG"]}, "space"),
    ],
)
def test_bad_options_raise_config_error_naming_the_key(options: dict[str, Any], key: str) -> None:
    source = SourceConfig(id="wiki", kind="confluence", audience="internal",
                          url="https://example.atlassian.net/wiki", options=options)  # fmt: skip

    with pytest.raises(ConfigError, match=f"source 'wiki': options.{key}: "):
        ConfluenceConnector(source)


def test_unreadable_cursor_raises_connector_error(wiki: ConfluenceServer) -> None:
    with pytest.raises(ConnectorError, match="not a Confluence cursor"):
        list(connector(wiki).pages('{"since": {"pages": "yesterday"}}'))


def test_readme_example_loads_and_syncs(wiki: ConfluenceServer, tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"\[\[sources\]\][^\n]*Confluence[^\n]*\n(?:(?!```)[^\n]+\n)+", readme)
    assert block is not None, "README has no Confluence [[sources]] example"
    config_file = tmp_path / "whoknows.toml"
    config_file.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/w.db"\n\n{block.group(0)}')
    config = load_config(config_file, environ={"CONFLUENCE_API_TOKEN": TOKEN})
    (source,) = config.sources
    assert source.kind == "confluence" and config.secrets == {source.id: TOKEN}
    source = SourceConfig(**{**{f: getattr(source, f) for f in source.__struct_fields__},
                             "url": wiki.url})  # fmt: skip

    built = build_connector(source, config.secrets[source.id])

    assert isinstance(built, ConfluenceConnector)
    assert len(records(list(built.pages(None)))) > 0


# A sync killed with SIGKILL


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("block_at", [6, 11])  # in the walk of the pages; of the comments
def test_a_sync_killed_mid_run_resumes_losing_and_duplicating_nothing(
    tmp_path: Path, block_at: int
) -> None:
    tripwire = crashsite.Tripwire()
    with ConfluenceServer.scaled(4) as wiki:
        wiki.tripwire = tripwire
        crashsite._quiet_about_killed_clients(wiki)
        source = (
            f'[[sources]]\nid = "wiki"\nkind = "confluence"\naudience = "internal"\n'
            f'url = "{wiki.url}"\noptions = {{ limit = 4 }}\n'
        )
        clean = crashsite.write_config(tmp_path / "clean.toml", tmp_path / "clean.db", source)
        crashed = crashsite.write_config(tmp_path / "crashed.toml", tmp_path / "crash.db", source)
        tripwire.arm(None)
        services = pipeline.open_services(load_config(clean, environ={}))
        try:
            assert pipeline.sync_source(services, "wiki", build_connector).failed is None
        finally:
            services.engine.dispose()
        total = len(crashsite.snapshot(tmp_path / "clean.db")["contributions"])

        # Killed while the server holds listing request `block_at`: what came before it
        # is stored, the page it would bring is not.
        tripwire.arm(block_at)
        proc = crashsite.start_sync(crashed, "wiki", tmp_path)
        assert tripwire.wait(tripwire.is_blocking, lambda: proc.poll() is None)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        tripwire.release()
        assert proc.returncode == -signal.SIGKILL
        assert 0 < len(crashsite.snapshot(tmp_path / "crash.db")["contributions"]) < total

        tripwire.arm(None)
        out, _ = crashsite.start_sync(crashed, "wiki", tmp_path).communicate(timeout=60)
        assert "wiki" in out

    want, got = crashsite.snapshot(tmp_path / "clean.db"), crashsite.snapshot(tmp_path / "crash.db")
    assert got["duplicates"] == [] and len(got["contributions"]) == total == 4 * 12
    assert got["contributions"] == want["contributions"]
    assert got["identities"] == want["identities"]
    assert got["interactions"] == want["interactions"]
    assert got["people"] == want["people"]
