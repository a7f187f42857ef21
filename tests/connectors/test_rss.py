from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from service.config import SourceConfig
from service.connectors.base import ConnectorError, FatalSourceError, Page
from service.connectors.http import HttpClient
from service.connectors.rss import RssConnector, html_to_text
from service.model import ContributionKind, ContributionRecord
from tests.connectors.feedserver import FeedServer

ATOM = "application/atom+xml; charset=utf-8"


def connector(
    server: FeedServer, path: str, credentials: str | None = None, **options: int
) -> RssConnector:
    source = SourceConfig(id="blog", kind="rss", audience="internal", url=server.url(path))
    client = HttpClient(max_attempts=3, backoff_base=0.01, sleep=lambda _: None)
    return RssConnector(source, client, credentials, **options)


def run(rss: RssConnector, cursor: str | None = None) -> tuple[list[Page], str | None]:
    """All pages of one run, and the cursor the pipeline would hold after it."""
    pages = list(rss.pages(cursor))
    return pages, (pages[-1].cursor if pages else cursor)


def records(pages: list[Page]) -> list[ContributionRecord]:
    return [record for page in pages for record in page.records]


def by_title(pages: list[Page]) -> dict[str, ContributionRecord]:
    return {record.title: record for record in records(pages)}


def test_wordpress_feed_maps_author_tags_and_text(feed_server: FeedServer) -> None:
    feed_server.file("/claims/feed/", "wordpress_rss2.xml")

    pages, _ = run(connector(feed_server, "/claims/feed/"))

    post = by_title(pages)["Adjudicating dental claims without the batch window"]
    assert post.id == "https://blogs.intranet.example.com/claims/?p=412"
    assert post.kind is ContributionKind.BLOG_POST
    assert post.author.name == "Priya Raman"
    assert post.author.id == "priya raman"
    assert post.author.email is None
    assert post.tags == ["Claims", "Dental", "Medical Insurance Claims"]
    assert post.url.endswith("/2024/05/14/adjudicating-dental-claims-without-the-batch-window/")
    assert post.created == post.updated == datetime(2024, 5, 14, 8, 12, 45, tzinfo=UTC)
    assert post.text.startswith("For eleven years dental claims waited for the nightly batch.")
    assert "moved adjudication to an event stream" in post.text
    assert "go Members saw “pending” for up to 36 hours." in post.text
    assert "<" not in post.text and "console.log" not in post.text
    assert "  " not in post.text


def test_wordpress_feed_keeps_one_identity_per_author_and_dedupes_tags(
    feed_server: FeedServer,
) -> None:
    feed_server.file("/claims/feed/", "wordpress_rss2.xml")

    posts = by_title(run(connector(feed_server, "/claims/feed/"))[0])

    outage = posts["Fee schedules & caching: lessons from the March outage"]
    dental = posts["Adjudicating dental claims without the batch window"]
    assert outage.author.id == dental.author.id == "priya raman"
    assert outage.tags == ["Claims", "Incident Review"]
    assert posts["Reading an EOB: a field guide for engineers"].author.id == "tomasz wójcik"


def test_records_come_out_oldest_update_first_and_never_complete(
    feed_server: FeedServer,
) -> None:
    feed_server.file("/claims/feed/", "wordpress_rss2.xml")

    pages, _ = run(connector(feed_server, "/claims/feed/"))

    updated = [record.updated for record in records(pages)]
    assert updated == sorted(updated) and len(updated) == 3
    assert not any(page.complete for page in pages)


def test_atom_feed_maps_author_email_categories_and_dates(feed_server: FeedServer) -> None:
    feed_server.file("/atom.xml", "atom_intranet.xml", ATOM)

    posts = by_title(run(connector(feed_server, "/atom.xml"))[0])

    riders = posts["Pricing long-term care riders"]
    assert riders.author.email == "amara.okafor@example.com"
    assert riders.author.id == "amara.okafor@example.com"
    assert riders.author.name == "Amara Okafor"
    assert riders.author.url == "https://people.intranet.example.com/aokafor"
    assert riders.tags == ["underwriting", "long-term care"]
    assert riders.created == datetime(2024, 5, 28, 7, 0, tzinfo=UTC)
    assert riders.updated == datetime(2024, 6, 3, 10, 15, tzinfo=UTC)
    assert riders.text == (
        "How we price LTC riders after the 2023 mortality tables. Morbidity assumptions come first."
    )
    questionnaires = posts["Medical underwriting questionnaires, simplified"]
    assert questionnaires.text == "We cut the questionnaire from 41 to 17 questions."


def test_feedparser_rss20dc_example_falls_back_to_the_channel_creator(
    feed_server: FeedServer,
) -> None:
    feed_server.file("/rss20dc.xml", "rss20dc.xml")

    (post,) = records(run(connector(feed_server, "/rss20dc.xml"))[0])

    assert post.id == "1983@example.org"
    assert post.author.name == "Mark Pilgrim"
    assert post.author.id == post.author.email == "mark@example.org"
    assert post.tags == ["Quotes"]
    assert post.created == post.updated == datetime(2002, 9, 4, 18, 54, 20, tzinfo=UTC)
    assert post.text == (
        "Ian Hickson: Americans are fat. Smokers are stupid. "
        "People who don't speak Perl are irrelevant."
    )


def test_feedparser_atom10_example_maps_and_drops_unsafe_markup(
    feed_server: FeedServer,
) -> None:
    feed_server.file("/atom10.xml", "atom10.xml", ATOM)

    (post,) = records(run(connector(feed_server, "/atom10.xml"))[0])

    assert post.id == "tag:feedparser.org,2005-11-09:/docs/examples/atom10.xml:3"
    assert post.url == "http://example.org/entry/3"
    assert post.author.id == "mark@example.org"
    assert post.created == datetime(2005, 11, 9, 0, 23, 47, tzinfo=UTC)
    assert post.updated == datetime(2005, 11, 9, 11, 56, 34, tzinfo=UTC)
    assert post.text == "Watch out for nasty tricks"


def test_rss_author_in_email_name_form_gives_the_email(feed_server: FeedServer) -> None:
    feed_server.file("/actuarial/feed", "malformed_entries.xml")

    posts = by_title(run(connector(feed_server, "/actuarial/feed"))[0])

    credibility = posts["Credibility weighting for small groups"]
    assert credibility.author.name == "Raj Patel"
    assert credibility.author.id == "raj.patel@example.com"
    assert credibility.text == "Bühlmann credibility, explained."
    triangles = posts["Reserving triangles in practice"]
    assert triangles.author.email == "lena.fischer@example.com"


def test_malformed_entries_are_reported_and_the_rest_still_map(feed_server: FeedServer) -> None:
    feed_server.file("/actuarial/feed", "malformed_entries.xml")

    pages, _ = run(connector(feed_server, "/actuarial/feed"))

    assert [r.id for r in records(pages)] == [
        "actuarial-101",
        "https://blogs.intranet.example.com/actuarial/credibility/",
    ]
    errors = pages[-1].errors
    assert len(errors) == 3
    assert "entry 2 (A post with neither guid nor link)" in errors[0]
    assert "neither an id/guid nor a link" in errors[0]
    assert "actuarial-103" in errors[1] and "no readable published or updated date" in errors[1]
    assert "actuarial-104" in errors[2]


def test_second_run_with_the_cursor_yields_nothing_new(feed_server: FeedServer) -> None:
    feed_server.file("/claims/feed/", "wordpress_rss2.xml")
    rss = connector(feed_server, "/claims/feed/")

    first, cursor = run(rss)
    second, _ = run(rss, cursor)

    assert len(records(first)) == 3
    assert records(second) == []
    assert json.loads(cursor or "")["updated"] == "2024-05-14T08:12:45+00:00"


def test_edited_post_comes_out_again(feed_server: FeedServer) -> None:
    feed_server.file("/atom.xml", "atom_intranet.xml", ATOM)
    feed_server.file("/atom.xml", "atom_intranet_edited.xml", ATOM)
    rss = connector(feed_server, "/atom.xml")

    _, cursor = run(rss)
    pages, _ = run(rss, cursor)

    (edited,) = records(pages)
    assert edited.id == "urn:uuid:1f6a9c20-0f43-4c1e-8a3c-0c5d0f6b1a02"
    assert edited.text == "We cut the questionnaire from 41 to 15 questions."
    assert edited.created == datetime(2024, 5, 30, 16, 20, tzinfo=UTC)
    assert edited.updated == datetime(2024, 6, 5, 8, 0, tzinfo=UTC)


def test_new_post_with_the_same_time_as_the_cursor_is_not_lost(feed_server: FeedServer) -> None:
    sibling = (
        '<rss version="2.0"><channel><title>t</title><item><title>Same second</title>'
        "<guid>p-999</guid><author>ana@example.com (Ana)</author>"
        "<pubDate>Tue, 14 May 2024 08:12:45 +0000</pubDate></item></channel></rss>"
    )
    feed_server.file("/claims/feed/", "wordpress_rss2.xml")
    feed_server.reply("/claims/feed/", body=sibling)
    rss = connector(feed_server, "/claims/feed/")

    _, cursor = run(rss)
    pages, _ = run(rss, cursor)

    assert [r.id for r in records(pages)] == ["p-999"]


def test_unchanged_feed_answers_304_and_yields_nothing(feed_server: FeedServer) -> None:
    modified = "Tue, 14 May 2024 08:12:45 GMT"
    feed_server.file("/claims/feed/", "wordpress_rss2.xml", etag='"w-412"', last_modified=modified)
    rss = connector(feed_server, "/claims/feed/")

    _, cursor = run(rss)
    second = list(rss.pages(cursor))

    assert second == []
    sent = feed_server.requests[-1].headers
    assert sent["If-None-Match"] == '"w-412"'
    assert sent["If-Modified-Since"] == modified
    assert json.loads(cursor or "")["etag"] == '"w-412"'


def test_last_modified_alone_gives_a_conditional_get(feed_server: FeedServer) -> None:
    modified = "Tue, 14 May 2024 08:12:45 GMT"
    feed_server.file("/claims/feed/", "wordpress_rss2.xml", last_modified=modified)
    rss = connector(feed_server, "/claims/feed/")

    _, cursor = run(rss)

    assert list(rss.pages(cursor)) == []
    assert "If-None-Match" not in feed_server.requests[-1].headers


def test_only_the_last_page_carries_the_feed_validators(feed_server: FeedServer) -> None:
    feed_server.file("/claims/feed/", "wordpress_rss2.xml", etag='"w-412"')
    rss = connector(feed_server, "/claims/feed/", page_size=2)

    pages, _ = run(rss)
    resumed, _ = run(rss, pages[0].cursor)

    assert [len(page.records) for page in pages] == [2, 1]
    assert json.loads(pages[0].cursor or "")["etag"] is None
    assert json.loads(pages[1].cursor or "")["etag"] == '"w-412"'
    assert [r.id for r in records(resumed)] == [pages[1].records[0].id]


def test_post_dated_in_the_future_does_not_push_the_cursor_past_now(
    feed_server: FeedServer,
) -> None:
    future = (
        '<rss version="2.0"><channel><title>t</title><item><title>From 2099</title>'
        "<guid>p-2099</guid><author>ana@example.com (Ana)</author>"
        "<pubDate>Thu, 01 Jan 2099 00:00:00 +0000</pubDate></item></channel></rss>"
    )
    feed_server.reply("/feed", body=future)
    rss = connector(feed_server, "/feed")

    _, cursor = run(rss)
    again, _ = run(rss, cursor)

    assert datetime.fromisoformat(json.loads(cursor or "")["updated"]) <= datetime.now(UTC)
    assert [r.id for r in records(again)] == ["p-2099"]


def test_html_page_instead_of_a_feed_raises_connector_error(feed_server: FeedServer) -> None:
    feed_server.file("/sso", "sso_login.html", "text/html; charset=utf-8")

    with pytest.raises(ConnectorError, match="is not an RSS or Atom feed \\(text/html"):
        list(connector(feed_server, "/sso").pages(None))


def test_credentials_are_sent_as_basic_auth(feed_server: FeedServer) -> None:
    feed_server.file("/claims/feed/", "wordpress_rss2.xml")

    run(connector(feed_server, "/claims/feed/", credentials="reader:pw"))

    assert feed_server.requests[0].headers["Authorization"] == "Basic cmVhZGVyOnB3"


def test_refused_feed_is_fatal_without_retrying(feed_server: FeedServer) -> None:
    feed_server.reply("/claims/feed/", status=401)

    with pytest.raises(FatalSourceError, match="HTTP 401"):
        list(connector(feed_server, "/claims/feed/").pages(None))

    assert feed_server.count("/claims/feed/") == 1


def test_source_without_url_is_fatal() -> None:
    source = SourceConfig(id="blog", kind="rss", audience="internal")

    with pytest.raises(FatalSourceError, match="no feed URL"):
        list(RssConnector(source).pages(None))


def test_unreadable_cursor_raises_connector_error(feed_server: FeedServer) -> None:
    feed_server.file("/claims/feed/", "wordpress_rss2.xml")

    with pytest.raises(ConnectorError, match="not an RSS cursor"):
        list(connector(feed_server, "/claims/feed/").pages("2024-05-01"))


def test_html_to_text_separates_blocks_but_not_inline_elements() -> None:
    html = "<p>foo<b>bar</b></p><p>next&nbsp;para</p><ul><li>one</li><li>two</li></ul>"

    assert html_to_text(html) == "foobar next para one two"


_PIECES = ["<p>", "</p>", "<div class='quote'>", "</div>", "<b>", "</b>", "<br>", "</br>",
           "<br/>", "<li>", "<ul>", "</ul>", "<script>x<y</script>", "<style>p{}</style>",
           "<template>t", "</template>", "<rt>r</rt>", "<ruby>", "<!-- c -->",
           "<![CDATA[cd]]>", "&amp;", "&T", "&notit;", "&#128;", "&#0;", "&unknown;", "a < b",
           "text", " ", "\n", "\xa0", "é"]


@pytest.mark.parametrize("seed", range(5))
def test_html_to_text_gives_what_beautiful_soup_gives(seed: int) -> None:
    """The fast path reads html.parser's events; it must give BeautifulSoup's text."""
    import random

    from service.connectors import rss

    rng = random.Random(seed)
    for _ in range(400):
        html = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 20)))
        assert rss.html_to_text(html) == rss._soup_text(html, ()), html
