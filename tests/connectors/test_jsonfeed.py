"""The jsonfeed connector against two differently shaped fake portals, configured only by
options (tests/fixtures/jsonfeed/*.toml), over real HTTP."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import select

from service import pipeline
from service.config import ConfigError, SourceConfig, load_config
from service.connectors import jsonfeed
from service.connectors.base import ConnectorError, Page
from service.connectors.http import HttpClient
from service.connectors.jsonfeed import JsonFeedConnector
from service.connectors.jsonfeed.mapping import lookup, parse_timestamp
from service.connectors.jsonfeed.options import parse_path
from service.model import ContributionKind, ContributionRecord
from service.store import sync as store_sync
from service.store.schema import contributions, identities, interactions
from tests.connectors.portal_server import (
    FIXTURES,
    Fault,
    Item,
    Listing,
    PortalServer,
    PortalStyle,
    load_items,
    total_pages,
)

HUB_IDS = ["5101", "5102", "5103", "5110", "5111", "5120", "5121", "5130"]
KB_IDS = ["kb-7f3a", "kb-1c20", "kb-3e77", "kb-9d41", "kb-b802"]  # oldest update first


def _iso(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def hub_style(pagination: str = "page") -> PortalStyle:
    return PortalStyle(
        pagination=pagination,
        envelope=lambda page: {
            "data": {"results": page.items},
            "meta": {"page": page.page, "total_pages": total_pages(page), "total": page.total},
            "paging": {"next": page.next_cursor},
        },
        updated=lambda item: _iso(item["updated_at"]),
        since_param="modified_since",
        since=_iso,
    )


def kb_style(pagination: str = "offset") -> PortalStyle:
    def envelope(page: Listing) -> Any:
        return page.items if pagination == "link" else {"entries": page.items, "count": page.total}

    return PortalStyle(pagination, envelope, updated=lambda item: item["modified"], order="desc")


@pytest.fixture
def hub() -> Iterator[PortalServer]:
    with PortalServer(hub_style(), load_items("partner_hub_posts.json")) as server:
        yield server


@pytest.fixture
def kb() -> Iterator[PortalServer]:
    with PortalServer(kb_style(), load_items("knowledge_base_articles.json")) as server:
        yield server


@pytest.fixture
def clean_services(open_store: Callable[[str], pipeline.Services]) -> pipeline.Services:
    """A second store, for a clean sync to compare with."""
    return open_store("clean")


def source(server: PortalServer, fixture: str, **options: Any) -> SourceConfig:
    """The fixture's source pointed at `server`, its options changed (None drops a key)."""
    (configured,) = load_config(FIXTURES / fixture, environ={}).sources
    merged = {
        key: value for key, value in {**configured.options, **options}.items() if value is not None
    }
    return msgspec.structs.replace(configured, url=server.url, options=merged)


def connector(
    server: PortalServer,
    fixture: str,
    credentials: str | None = None,
    sleeps: list[float] | None = None,
    timeout: float = 5.0,
    **options: Any,
) -> JsonFeedConnector:
    """The connector for a fixture's portal at `server`; `sleeps` records the waits."""
    client = HttpClient(
        max_attempts=4,
        backoff_base=0.01,
        timeout=timeout,
        sleep=(sleeps.append if sleeps is not None else lambda _: None),
    )
    return JsonFeedConnector(source(server, fixture, **options), client, credentials)


HUB_CURSOR: dict[str, Any] = {
    "pagination": "cursor",
    "next_cursor": "paging.next",
    "per_page_param": "per_page",
    "total_pages": None,
}
KB_LINK: dict[str, Any] = {
    "pagination": "link",
    "items": "",
    "per_page_param": "limit",
    "total": None,
}


def run(feed: JsonFeedConnector, cursor: str | None = None) -> tuple[list[Page], str | None]:
    pages = list(feed.pages(cursor))
    return pages, (pages[-1].cursor if pages else cursor)


def records(pages: list[Page]) -> list[ContributionRecord]:
    return [record for page in pages for record in page.records]


def ids(pages: list[Page]) -> list[str]:
    return [record.id for record in records(pages)]


def sync(services: pipeline.Services, feed: JsonFeedConnector) -> pipeline.SyncReport:
    with services.engine.connect() as conn:
        cursor = store_sync.get_cursor(conn, "portal")
    return pipeline.ingest_pages(services, "portal", feed.pages(cursor), full_pass=cursor is None)


def snapshot(services: pipeline.Services) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every stored contribution and interaction, by source ids (not row ids)."""
    c, author = contributions.c, identities.alias("author")
    skipped = {"id", "author_identity_id", "seen_at"}
    columns = [column for column in contributions.columns if column.name not in skipped]
    actor, target = identities.alias("actor"), contributions.alias("target")
    with services.engine.connect() as conn:
        stored = conn.execute(
            select(author.c.external_id, *columns)
            .join(author, author.c.id == c.author_identity_id)
            .order_by(c.external_id)
        ).all()
        linked = conn.execute(
            select(
                interactions.c.kind,
                actor.c.external_id,
                target.c.external_id,
                interactions.c.created_at,
            )
            .join(actor, actor.c.id == interactions.c.actor_identity_id)
            .join(target, target.c.id == interactions.c.target_contribution_id)
            .order_by(interactions.c.kind, target.c.external_id, actor.c.external_id)
        ).all()
    return [tuple(row) for row in stored], [tuple(row) for row in linked]


def test_page_style_full_sync_maps_the_partner_hub(hub: PortalServer) -> None:
    pages, _ = run(connector(hub, "partner_hub.toml"))

    assert ids(pages) == HUB_IDS
    assert [len(page.records) for page in pages] == [3, 3, 2]
    assert [page.complete for page in pages] == [False, False, True]
    assert {page.total for page in pages} == {8}
    assert [r.query.get("page") for r in hub.requests] == ["1", "2", "3"]
    assert {r.query["per_page"] for r in hub.requests} == {"3"}
    assert {r.query["sort"] for r in hub.requests} == {"updated_at"}
    assert "modified_since" not in hub.requests[0].query
    by_id = {record.id: record for record in records(pages)}
    question, answer, comment = by_id["5101"], by_id["5102"], by_id["5103"]
    assert question.kind is ContributionKind.QUESTION and comment.kind is ContributionKind.REPLY
    assert question.author.id == "ph-2201" and question.author.username == "mreyes"
    assert question.author.name == "Marta Reyes"
    assert question.author.email == "marta.reyes@brokerco.example"
    assert question.author.url == f"{hub.url.rsplit('/api', 1)[0]}/members/mreyes"
    assert question.title == "Corrected dental claims: which frequency code?"
    assert question.text.startswith("We resubmitted a corrected dental claim with frequency code 7")
    assert question.tags == ["dental", "claims"] and question.score == 4 and question.replies == 2
    assert question.url == f"{hub.url.rsplit('/api', 1)[0]}/t/5101"
    assert answer.created == datetime(2024, 4, 2, 9, 40, tzinfo=UTC)
    assert answer.updated == datetime(2024, 4, 3, 8, 0, tzinfo=UTC)
    assert (answer.thread, answer.parent, answer.accepted, answer.likes) == (
        "5101",
        "5101",
        True,
        6,
    )
    assert answer.text.endswith("Code 8 voids. Code 7 replaces.")
    assert "track(" not in by_id["5120"].text
    assert by_id["5110"].author.email is None
    # the member's company, as the portal names it (spacing normalised), for organisations
    assert question.author.organisation == "BrokerCo Ltd"
    assert by_id["5110"].author.organisation is None


def test_cursor_style_full_sync_follows_the_next_cursor(hub: PortalServer) -> None:
    hub.restyle(pagination="cursor")

    pages, _ = run(connector(hub, "partner_hub.toml", **HUB_CURSOR))

    assert ids(pages) == HUB_IDS and pages[-1].complete
    sent = [r.query.get("cursor") for r in hub.requests]
    assert sent[0] is None and all(sent[1:]) and len(sent) == 3


def test_offset_style_full_sync_maps_the_knowledge_base(kb: PortalServer) -> None:
    pages, _ = run(connector(kb, "knowledge_base.toml", credentials="kb-secret"))

    assert sorted(ids(pages)) == sorted(KB_IDS) and pages[-1].complete
    assert [(r.query["offset"], r.query["limit"]) for r in kb.requests] == [
        ("0", "2"),
        ("2", "2"),
        ("4", "2"),
    ]
    assert kb.requests[0].headers["X-Api-Key"] == "kb-secret"
    assert "Authorization" not in kb.requests[0].headers
    article = {record.id: record for record in records(pages)}["kb-7f3a"]
    assert article.kind is ContributionKind.ARTICLE
    assert article.created == datetime(2024, 4, 1, 10, 0, tzinfo=UTC)  # epoch milliseconds
    assert article.updated == datetime(2024, 4, 2, 10, 0, tzinfo=UTC)  # epoch seconds
    assert article.author.id == "j.okoye" and article.author.name == "Jide Okoye"
    assert article.tags == ["underwriting", "long-term care"] and article.likes == 12
    assert article.text == (
        "How we price LTC riders after the 2023 mortality tables. Morbidity assumptions come first."
    )
    assert article.url == f"{kb.url.rsplit('/api', 1)[0]}/kb/articles/kb-7f3a"
    remote = {record.id: record for record in records(pages)}["kb-b802"]
    assert remote.url == "https://kb.partner.example.com/kb/articles/kb-b802"


def test_link_style_full_sync_follows_the_link_header(kb: PortalServer) -> None:
    kb.restyle(pagination="link", envelope=kb_style("link").envelope)

    pages, cursor = run(connector(kb, "knowledge_base.toml", credentials="kb-secret", **KB_LINK))

    assert sorted(ids(pages)) == sorted(KB_IDS) and pages[-1].complete
    assert [r.query.get("page") for r in kb.requests] == [None, "2", "3"]
    assert all(r.query["limit"] == "2" for r in kb.requests)
    assert all(r.headers["X-Api-Key"] == "kb-secret" for r in kb.requests)
    assert json.loads(cursor or "") == {
        "updated": "2024-04-09T10:00:00+00:00",
        "ids": ["kb-b802"],
        "walk": None,
    }


def test_pages_come_out_oldest_update_first(hub: PortalServer) -> None:
    hub.restyle(order="insertion", per_page=8)

    (page,) = run(connector(hub, "partner_hub.toml", per_page=8, order="any"))[0]

    updated = [record.updated for record in page.records]
    assert updated == sorted(updated)  # type: ignore[type-var]


def test_incremental_run_asks_since_the_watermark_and_gets_only_new_items(
    hub: PortalServer,
) -> None:
    feed = connector(hub, "partner_hub.toml")
    _, cursor = run(feed)
    hub.items.append(
        {
            **hub.items[0],
            "id": 5140,
            "subject": "New",
            "topic_id": 5140,
            "created_at": "2024-04-11T09:00:00Z",
            "updated_at": "2024-04-11T09:00:00Z",
        }
    )
    hub.requests.clear()

    pages, _ = run(feed, cursor)

    assert ids(pages) == ["5140"]
    assert hub.requests[0].query["modified_since"] == "2024-04-10T09:59:59Z"
    assert len(hub.requests) == 1 and not pages[-1].complete


def test_without_a_since_parameter_every_run_walks_all_and_skips_what_it_has(
    kb: PortalServer,
) -> None:
    feed = connector(kb, "knowledge_base.toml", order="any")
    _, cursor = run(feed)
    second, cursor = run(feed, cursor)
    kb.items.append({**kb.items[0], "uuid": "kb-0001", "modified": 1712000000})  # older
    kb.items.append({**kb.items[0], "uuid": "kb-0002", "modified": 1712700000})  # newer
    kb.requests.clear()

    third, _ = run(feed, cursor)

    assert records(second) == [] and len(second) == 3
    assert ids(third) == ["kb-0002"] and len(kb.requests) == 4


def test_newest_first_listing_ends_an_incremental_walk_at_the_watermark(
    kb: PortalServer,
) -> None:
    feed = connector(kb, "knowledge_base.toml")
    _, cursor = run(feed)
    kb.items.append({**kb.items[0], "uuid": "kb-0002", "modified": 1712700000})
    kb.requests.clear()

    pages, cursor = run(feed, cursor)

    # the first page ends at the watermark's item; the second is older, and last
    assert ids(pages) == ["kb-0002"] and len(kb.requests) == 2
    assert json.loads(cursor or "")["ids"] == ["kb-0002"]


def test_an_interrupted_walk_resumes_at_its_position(kb: PortalServer) -> None:
    kb.restyle(order="insertion")
    feed = connector(kb, "knowledge_base.toml", order="any")
    first = next(iter(feed.pages(None)))
    kb.requests.clear()

    rest, cursor = run(feed, first.cursor)

    assert json.loads(first.cursor or "")["walk"]["next"] == {"offset": 2}
    assert json.loads(first.cursor or "")["updated"] is None
    assert [r.query["offset"] for r in kb.requests] == ["2", "4"]
    assert sorted(ids([first]) + ids(rest)) == sorted(KB_IDS)
    assert json.loads(cursor or "")["walk"] is None


def test_an_item_added_mid_walk_shifts_pages_without_emitting_twice(kb: PortalServer) -> None:
    feed = connector(kb, "knowledge_base.toml")
    original = kb.answer

    def then_add(query: dict[str, str]) -> Any:
        answer = original(query)
        if len(kb.requests) == 1:
            kb.items.append({**kb.items[0], "uuid": "kb-0002", "modified": 1712700000})
        return answer

    kb.answer = then_add  # type: ignore[method-assign]

    pages, cursor = run(feed)
    later, _ = run(feed, cursor)

    assert sorted(ids(pages)) == sorted(KB_IDS)
    assert [message for page in pages for message in page.errors] == []
    assert ids(later) == ["kb-0002"]


def test_an_edit_comes_out_again_and_updates_the_store(
    services: pipeline.Services, hub: PortalServer
) -> None:
    feed = connector(hub, "partner_hub.toml")
    sync(services, feed)
    hub.items[1] = {
        **hub.items[1],
        "body_html": "<p>Use code 7 and the original number.</p>",
        "updated_at": "2024-04-12T10:00:00Z",
        "votes": 11,
    }

    report = sync(services, feed)

    assert report.failed is None and report.batch.updated == 1 and report.batch.inserted == 0
    with services.engine.connect() as conn:
        row = conn.execute(
            select(contributions.c.body, contributions.c.score).where(
                contributions.c.external_id == "5102"
            )
        ).one()
    assert tuple(row) == ("Use code 7 and the original number.", 11)


def test_a_full_pass_flags_items_gone_from_the_portal_as_deleted(
    services: pipeline.Services, kb: PortalServer
) -> None:
    feed = connector(kb, "knowledge_base.toml")
    sync(services, feed)
    del kb.items[2]  # kb-9d41

    report = pipeline.ingest_pages(services, "portal", feed.pages(None), full_pass=True)

    assert report.flagged_deleted == 1
    with services.engine.connect() as conn:
        deleted = (
            conn.execute(
                select(contributions.c.external_id).where(contributions.c.deleted.is_(True))
            )
            .scalars()
            .all()
        )
    assert deleted == ["kb-9d41"]


def test_a_deleted_flag_in_the_item_maps(hub: PortalServer) -> None:
    hub.items[7] = {**hub.items[7], "is_deleted": True}

    pages, _ = run(connector(hub, "partner_hub.toml"))

    assert [record.id for record in records(pages) if record.deleted] == ["5130"]


@pytest.mark.parametrize(
    ("portal", "fixture", "changes", "count"),
    [("hub", "partner_hub.toml", {}, 8), ("kb", "knowledge_base.toml", KB_LINK, 5)],
)
def test_faults_end_with_the_same_store_as_a_clean_sync(
    services: pipeline.Services,
    clean_services: pipeline.Services,
    request: pytest.FixtureRequest,
    portal: str,
    fixture: str,
    changes: dict[str, Any],
    count: int,
) -> None:
    server: PortalServer = request.getfixturevalue(portal)
    if changes:
        server.restyle(pagination="link", envelope=kb_style("link").envelope)
    assert sync(clean_services, connector(server, fixture, **changes)).failed is None
    sleeps: list[float] = []
    page_1 = [Fault(status=429, retry_after="2"), None]
    page_2 = [Fault(status=503), Fault(cut=True), Fault(delay=1.0), None]  # 4 attempts
    page_3 = [Fault(repeat=True)]  # page 2 again: this run stops
    next_run = [Fault(cut_json=True)]  # a broken answer: retried
    server.schedule(*page_1, *page_2, *page_3, *next_run)
    faulty = connector(server, fixture, sleeps=sleeps, timeout=0.5, **changes)

    reports = [sync(services, faulty) for _ in range(2)]

    assert [bool(report.failed) for report in reports] == [True, False]
    assert "repeats the previous answer" in (reports[0].failed or "")
    assert 2.0 in sleeps
    assert snapshot(services) == snapshot(clean_services)
    assert len(snapshot(services)[0]) == count
    with services.engine.connect() as conn, clean_services.engine.connect() as clean:
        assert store_sync.get_cursor(conn, "portal") == store_sync.get_cursor(clean, "portal")


def test_malformed_items_are_reported_and_the_rest_stored(
    services: pipeline.Services, hub: PortalServer
) -> None:
    hub.items[:] = load_items("partner_hub_malformed.json")
    hub.restyle(order="insertion", per_page=8)

    report = sync(services, connector(hub, "partner_hub.toml", per_page=8, order="any"))

    assert report.failed is None and report.batch.inserted == 2
    assert len(report.errors) == 6
    messages = "\n".join(report.errors)
    assert "page 1, item 2 skipped: no id at 'id'" in messages
    assert "page 1, item 3 (6003) skipped: no author.id at 'author.uid'" in messages
    assert "page 1, item 4 skipped: it is a string, not an object" in messages
    assert "item 5 (6005) skipped: created at 'created_at' is not a readable time" in messages
    assert "item 6 (6006) skipped: kind at 'type' is 'poll'" in messages
    assert "item 7 (6007) skipped: score at 'votes' is 'many', not a number" in messages
    with services.engine.connect() as conn:
        stored = (
            conn.execute(select(contributions.c.external_id).order_by(contributions.c.external_id))
            .scalars()
            .all()
        )
    assert stored == ["6001", "6008"]


def test_an_answer_that_is_not_json_is_retried(hub: PortalServer) -> None:
    hub.schedule(None, Fault(cut_json=True))
    reader = connector(hub, "partner_hub.toml")

    pages, _ = run(reader)

    assert pages[-1].complete and reader.client.retries == 1


def test_without_a_page_size_the_walk_ends_on_an_empty_page(hub: PortalServer) -> None:
    pages, _ = run(connector(hub, "partner_hub.toml", per_page_param="", total_pages=None))

    assert ids(pages) == HUB_IDS and pages[-1].complete and pages[-1].records == []
    assert [r.query.get("page") for r in hub.requests] == ["1", "2", "3", "4"]
    assert all("per_page" not in r.query for r in hub.requests)


def test_a_portal_ignoring_the_page_parameter_is_caught(hub: PortalServer) -> None:
    with pytest.raises(ConnectorError, match="page 2 repeats the previous answer"):
        run(connector(hub, "partner_hub.toml", page_param="p", total_pages=None))


def test_a_next_link_to_another_site_is_not_followed(kb: PortalServer) -> None:
    kb.restyle(pagination="link", envelope=kb_style("link").envelope)
    feed = connector(kb, "knowledge_base.toml", credentials="kb-secret", **KB_LINK)
    original = kb.answer

    def elsewhere(query: dict[str, str]) -> Any:
        answer = original(query)
        answer.headers["Link"] = '<https://evil.example.net/steal?page=2>; rel="next"'
        return answer

    kb.answer = elsewhere  # type: ignore[method-assign]

    with pytest.raises(ConnectorError, match="away from the portal"):
        run(feed)
    assert len(kb.requests) == 1


def test_a_listing_out_of_the_promised_order_is_reported(kb: PortalServer) -> None:
    kb.restyle(order="insertion")

    pages, _ = run(connector(kb, "knowledge_base.toml"))

    assert sorted(ids(pages)) == sorted(KB_IDS)
    errors = [message for page in pages for message in page.errors]
    assert len(errors) == 1 and "options.order says 'desc' but 'kb-1c20'" in errors[0]


def test_credentials_go_as_a_bearer_token_by_default(hub: PortalServer) -> None:
    run(connector(hub, "partner_hub.toml", credentials="hub-token"))

    assert {r.headers["Authorization"] for r in hub.requests} == {"Bearer hub-token"}


FIELDS = {"id": "id", "kind": "t", "author.id": "a", "created": "c"}


def without(name: str) -> dict[str, str]:
    return {key: path for key, path in FIELDS.items() if key != name}


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"fields": without("id")}, "options.fields.id: required"),
        ({"fields": without("author.id")}, "options.fields.author.id: required"),
        ({"fields": without("created")}, "options.fields.created: required"),
        ({"fields": {**FIELDS, "body": "b"}}, "options.fields.body: not a canonical field"),
        ({"fields": {**without("author.id"), "author": {"uid": "a"}}}, "options.fields.author.uid"),
        ({"fields": without("kind")}, "options.fields.kind: required unless"),
        ({"fields": {**FIELDS, "text": "x", "html": "y"}}, "options.fields.html"),
        ({"fields": {**FIELDS, "id": "a..b"}}, "options.fields.id: not a dotted path"),
        ({"fields": {**FIELDS, "title": 3}}, "options.fields.title: must be a dotted path"),
        ({"fields": "id"}, "options.fields: required: a table"),
        ({"pagination": "scroll"}, "options.pagination: 'scroll' is not one of"),
        ({"pagination": "cursor"}, "options.total_pages: only used with pagination = page"),
        ({"pagination": "cursor", "total_pages": None}, "options.next_cursor: required"),
        (
            {"pagination": "cursor", "total_pages": None, "next_cursor": "paging.next"},
            "options.per_page: needs options.per_page_param",
        ),
        ({"per_page": 0}, "options.per_page: must be a whole number of at least 1"),
        ({"page_size": 10}, "options.page_size: unknown option"),
        ({"items": None}, "options.items: required"),
        ({"order": "newest"}, "options.order"),
        ({"updated_since_format": "rfc822"}, "options.updated_since_format"),
        ({"kinds": {"post": "posting"}}, "options.kinds.post: 'posting' is not a contribution"),
        ({"kind_value": "essay"}, "options.kind_value"),
        ({"params": {"sort": ["a"]}}, "options.params.sort"),
    ],
)
def test_config_errors_name_the_key(hub: PortalServer, changes: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=f"source 'partner-hub': {key}".replace(".", r"\.")):
        connector(hub, "partner_hub.toml", **changes)


def test_a_since_parameter_needs_the_updated_field(hub: PortalServer) -> None:
    with pytest.raises(ConfigError, match=r"options\.updated_since_param: needs"):
        connector(hub, "partner_hub.toml", fields=FIELDS)


@pytest.mark.parametrize(
    ("fmt", "sent", "read"),
    [
        ("iso", "2024-04-10T09:59:59Z", _iso),
        ("epoch", "1712743199", float),
        ("epoch_ms", "1712743199000", lambda value: float(value) / 1000),
    ],
)
def test_the_since_parameter_goes_in_the_format_asked(
    hub: PortalServer, fmt: str, sent: str, read: Any
) -> None:
    hub.restyle(since=read)
    feed = connector(hub, "partner_hub.toml", updated_since_format=fmt)
    _, cursor = run(feed)

    pages, _ = run(feed, cursor)

    assert hub.requests[-1].query["modified_since"] == sent
    assert records(pages) == []


def test_a_stored_position_from_other_options_starts_the_walk_afresh(kb: PortalServer) -> None:
    stored = json.dumps({"updated": None, "ids": [], "walk": {"next": {"page": 7}, "ids": []}})

    pages, _ = run(connector(kb, "knowledge_base.toml"), stored)

    assert kb.requests[0].query["offset"] == "0" and len(records(pages)) == 5
    assert not pages[-1].complete


def test_an_unreadable_cursor_says_to_reset_it(kb: PortalServer) -> None:
    with pytest.raises(ConnectorError, match="reset the source's cursor"):
        run(connector(kb, "knowledge_base.toml"), '{"updated": "yesterday"}')


def test_the_documented_example_is_a_valid_source(tmp_path: Path) -> None:
    doc = jsonfeed.__doc__ or ""
    block = doc[doc.index("    [[sources]]") : doc.index("\nPagination keys")]
    (tmp_path / "whoknows.toml").write_text(textwrap.dedent(block))

    (configured,) = load_config(tmp_path / "whoknows.toml", environ={}).sources
    feed = JsonFeedConnector(configured, HttpClient(), "token")

    assert feed.options.pagination.total_pages == ("meta", "total_pages")
    assert feed.options.fields["author.id"] == ("author", "uid")
    assert feed.options.kinds == {
        "post": ContributionKind.QUESTION,
        "comment": ContributionKind.REPLY,
    }


def test_dotted_paths_reach_into_lists() -> None:
    item: Item = {"authors": [{"name": "A"}, {"name": "B"}], "data": {"n": 0}}

    assert lookup(item, parse_path("authors.0.name")) == "A"
    assert lookup(item, parse_path("authors.-1.name")) == "B"
    assert lookup(item, parse_path("data.n")) == 0
    assert lookup([1, 2], parse_path("")) == [1, 2]
    assert repr(lookup(item, parse_path("authors.2.name"))) == "MISSING"
    assert repr(lookup(item, parse_path("data.n.x"))) == "MISSING"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-04-02T09:15:00Z", datetime(2024, 4, 2, 9, 15, tzinfo=UTC)),
        ("2024-04-02T11:15:00+02:00", datetime(2024, 4, 2, 9, 15, tzinfo=UTC)),
        ("2024-04-02 09:15:00", datetime(2024, 4, 2, 9, 15, tzinfo=UTC)),
        ("Tue, 02 Apr 2024 09:15:00 GMT", datetime(2024, 4, 2, 9, 15, tzinfo=UTC)),
        (1712049300, datetime(2024, 4, 2, 9, 15, tzinfo=UTC)),
        (1712049300000, datetime(2024, 4, 2, 9, 15, tzinfo=UTC)),
        ("1712049300", datetime(2024, 4, 2, 9, 15, tzinfo=UTC)),
        (1712049300.5, datetime(2024, 4, 2, 9, 15, 0, 500000, tzinfo=UTC)),
    ],
)
def test_timestamps_are_iso_or_epoch_seconds_or_milliseconds(
    value: Any, expected: datetime
) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", ["last Tuesday", True, None, {"at": 1}])
def test_unreadable_timestamps_raise(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(value)
