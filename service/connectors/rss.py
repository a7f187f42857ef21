"""The RSS / Atom connector: intranet blogs, one feed URL per source.

A feed lists only recent items, so a run is never a complete pass (`Page.complete` stays
False): an item that drops out of the feed has aged out, it has not been deleted.

The cursor is a JSON object:

    {"updated": "2024-05-01T09:30:00+00:00",   newest update time emitted (ISO 8601, UTC)
     "ids": ["post-17"],                       ids emitted with exactly that time
     "etag": "\\"abc\\"",                        validators of the last feed read, sent back
     "last_modified": "Wed, 01 May ..."}       as If-None-Match / If-Modified-Since

An entry is emitted when its update time is newer than `updated` (or equal, with an id
not in `ids`), so an edited post comes out again. A 304 answer yields no page at all.

Who wrote it: the entry's author (Atom `<author>`, RSS `<author>` as
"mark@example.org (Mark)", `<dc:creator>` as "Name" or "Name (email)"), else the feed's.
`AuthorRecord.id` is the normalised e-mail when the feed gives one, else the author's name
lower-cased with whitespace collapsed: a blog shows no account ids, and this keeps one
author one identity across runs and across posts.
"""

from __future__ import annotations

import calendar
import io
import json
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import feedparser
from bs4 import BeautifulSoup
from bs4.builder._htmlparser import BeautifulSoupHTMLParser

from service.config import SourceConfig
from service.connectors.base import ConnectorError, FatalSourceError, Page, load_cursor
from service.connectors.http import HttpClient, client_for, credentials_headers
from service.model import AuthorRecord, ContributionKind, ContributionRecord, normalise_email

__all__ = ["RssConnector", "html_to_text"]

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_BLOCK_TAGS = (
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 "
    "h5 h6 header hr li main nav ol p pre section table td th tr ul"
).split()


class _Unmappable(Exception):
    """An entry lacks what a contribution needs; the message says what."""


@dataclass(frozen=True, slots=True)
class _Cursor:
    updated: datetime | None = None
    ids: tuple[str, ...] = ()
    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        return load_cursor(text, cls._parse, cls(), kind="an RSS", afresh="the feed")

    @classmethod
    def _parse(cls, raw: Any) -> _Cursor:
        updated = raw.get("updated")
        return cls(
            updated=datetime.fromisoformat(updated) if updated else None,
            ids=tuple(raw.get("ids") or ()),
            etag=raw.get("etag"),
            last_modified=raw.get("last_modified"),
        )

    def dump(self) -> str:
        raw = {
            "updated": self.updated.isoformat() if self.updated else None,
            "ids": list(self.ids),
            "etag": self.etag,
            "last_modified": self.last_modified,
        }
        return json.dumps(raw, sort_keys=True)

    def validated_by(self, fetched: _Cursor) -> _Cursor:
        return replace(self, etag=fetched.etag, last_modified=fetched.last_modified)

    def is_new(self, record: ContributionRecord) -> bool:
        updated = _updated(record)
        if self.updated is None or updated > self.updated:
            return True
        return updated == self.updated and record.id not in self.ids

    def after(self, record: ContributionRecord, now: datetime) -> _Cursor:
        # Never move past the present: one post dated in the future by a wrong clock would
        # otherwise hide every real post until that date. It is emitted again meanwhile.
        updated = min(_updated(record), now)
        ids: tuple[str, ...] = (record.id,) if updated == _updated(record) else ()
        if updated == self.updated:
            ids = self.ids + ids
        return replace(self, updated=updated, ids=ids)


class RssConnector:
    """Reads one RSS 0.9x/1.0/2.0 or Atom feed; `pages(cursor)` yields new and edited posts.

    `client` defaults to a fresh `HttpClient`; `credentials` is the secret the caller read
    from the source's `credentials_env` ("user:password" for Basic, else a bearer token).
    `page_size` bounds the records per page.
    """

    def __init__(
        self,
        source: SourceConfig,
        client: HttpClient | None = None,
        credentials: str | None = None,
        *,
        page_size: int = 100,
    ) -> None:
        self.source = source
        self.client = client or client_for(source)
        self.page_size = page_size
        self._auth_headers = credentials_headers(credentials)

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Yield pages of posts newer than `cursor`, oldest update first.

        Yields nothing when the feed is unchanged (304). Raises `FatalSourceError` when the
        source has no URL or refuses us, `ConnectorError` when the answer is not a feed or
        the cursor is unreadable, and what `HttpClient.get` raises.
        """
        if not self.source.url:
            raise FatalSourceError(f"source {self.source.id!r} has no feed URL")
        state = _Cursor.load(cursor)
        headers = dict(self._auth_headers)
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        response = self.client.get(self.source.url, headers=headers)
        if response.status_code == 304:
            return
        now = datetime.now(UTC)
        feed_url = response.url or self.source.url
        records, errors = _map_entries(
            _parse(response.content, feed_url, response.headers), feed_url
        )
        fresh = sorted((r for r in records if state.is_new(r)), key=lambda r: (_updated(r), r.id))
        validators = _Cursor(
            etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified")
        )
        yield from self._paginate(fresh, errors, state, validators, now)

    def _paginate(
        self,
        fresh: list[ContributionRecord],
        errors: list[str],
        state: _Cursor,
        validators: _Cursor,
        now: datetime,
    ) -> Iterator[Page]:
        # Only the last page carries the new validators: were they stored after an earlier
        # page and the run then failed, the next run would get a 304 and lose the rest.
        chunks = [fresh[i : i + self.page_size] for i in range(0, len(fresh), self.page_size)]
        for number, chunk in enumerate(chunks, start=1):
            for record in chunk:
                state = state.after(record, now)
            last = number == len(chunks)
            if last:
                state = state.validated_by(validators)
            yield Page(records=chunk, cursor=state.dump(), errors=errors if last else [])
        if not chunks:
            final = state.validated_by(validators)
            if final != state or errors:
                yield Page(records=[], cursor=final.dump(), errors=errors)


def _updated(record: ContributionRecord) -> datetime:
    return record.updated or record.created


def _parse(content: bytes, url: str, headers: Mapping[str, str]) -> Any:
    # A stream, never bytes or str: feedparser would open a str that looks like a URL, and
    # bytes that name a local file, itself. No Content-Location either: feedparser would
    # resolve permalink guids against it, and an id must not change with the feed's URL.
    response_headers: dict[str, str] = {}
    for name in ("Content-Type", "Content-Language"):
        if headers.get(name):
            response_headers[name.lower()] = headers[name]
    feed = feedparser.parse(io.BytesIO(content), response_headers=response_headers)
    if not feed.get("version") and not feed.entries:
        problem = feed.get("bozo_exception")
        detail = f": {problem}" if problem else ""
        kind = headers.get("Content-Type", "no content type")
        raise ConnectorError(f"{url} is not an RSS or Atom feed ({kind}{detail})")
    return feed


def _map_entries(feed: Any, feed_url: str) -> tuple[list[ContributionRecord], list[str]]:
    feed_author = feed.feed.get("author_detail") or {}
    records: list[ContributionRecord] = []
    errors: list[str] = []
    for position, entry in enumerate(feed.entries, start=1):
        try:
            records.append(_map_entry(entry, feed_author, feed_url))
        except _Unmappable as exc:
            label = entry.get("id") or entry.get("link") or entry.get("title") or "untitled"
            errors.append(f"entry {position} ({label}) skipped: {exc}")
    return records, errors


def _map_entry(entry: Any, feed_author: Mapping[str, str], feed_url: str) -> ContributionRecord:
    external_id = (entry.get("id") or entry.get("link") or "").strip()
    if not external_id:
        raise _Unmappable("it has neither an id/guid nor a link")
    published = _timestamp(entry, "published_parsed")
    updated = _timestamp(entry, "updated_parsed")
    created = published or updated
    if created is None:
        raise _Unmappable("it has no readable published or updated date")
    tags = [t.get("term", "").strip() for t in entry.get("tags") or ()]
    return ContributionRecord(
        id=external_id,
        kind=ContributionKind.BLOG_POST,
        author=_author(entry.get("author_detail") or feed_author),
        created=created,
        updated=updated or published,
        title=_text(entry.get("title_detail")) or entry.get("title", ""),
        text=_body(entry),
        url=urljoin(feed_url, entry["link"]) if entry.get("link") else None,
        tags=list(dict.fromkeys(t for t in tags if t)),
    )


def _author(detail: Mapping[str, str]) -> AuthorRecord:
    name = " ".join((detail.get("name") or "").split()) or None
    email = normalise_email(detail.get("email"))
    if not (email or name):
        raise _Unmappable("neither the entry nor the feed names an author")
    return AuthorRecord(
        id=email or (name or "").lower(), name=name, email=email, url=detail.get("href")
    )


def _timestamp(entry: Any, key: str) -> datetime | None:
    # dict.get, not entry.get: feedparser answers `updated_parsed` with the published date
    # when there is none (with a DeprecationWarning), and we want to know which we have.
    value = dict.get(entry, key)
    if not isinstance(value, time.struct_time):
        return None
    return datetime.fromtimestamp(calendar.timegm(value), UTC)


def _body(entry: Any) -> str:
    contents = entry.get("content") or []
    chosen = next((c for c in contents if c.get("type") in _HTML_TYPES), None)
    return _text(chosen or (contents[0] if contents else entry.get("summary_detail")))


def _text(detail: Mapping[str, str] | None) -> str:
    if not detail or not detail.get("value"):
        return ""
    if detail.get("type") in _HTML_TYPES:
        return html_to_text(detail["value"])
    return " ".join(detail["value"].split())


def html_to_text(html: str, *, skip: Collection[tuple[str, str]] = ()) -> str:
    """Return the readable text of an HTML fragment, whitespace collapsed to single spaces.

    Block elements separate words; inline ones do not (`foo<b>bar</b>` is "foobar"), and
    scripts, styles and templates are dropped, as are the elements `skip` names by
    (tag, class), e.g. ("aside", "quote"), with all they hold.

    The text is what Beautiful Soup (html.parser) gives for the fragment with those
    elements decomposed and a space around each block element; it is read from
    html.parser's events directly, without building the tree (about 7 times as fast). Markup
    html.parser rejects goes through Beautiful Soup, which raises as before.
    """
    parser = _TextParser(skip)
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - Beautiful Soup decides, and raises its own error
        return _soup_text(html, skip)
    return " ".join("".join(parser.parts).split())


# What Beautiful Soup's html.parser tree builder does with these (bs4.builder.HTMLTreeBuilder):
# void elements are closed at once (and one stray end tag of theirs is ignored); strings
# inside a string container are of a type `get_text()` leaves out.
_VOID = frozenset(
    "area base br col embed hr img input keygen link menuitem meta param source track wbr "
    "basefont bgsound command frame image isindex nextid spacer".split()
)
_STRING_CONTAINERS = frozenset({"rt", "rp", "style", "script", "template"})
_DROPPED = frozenset({"script", "style", "template"})
_BLOCKS = frozenset(_BLOCK_TAGS)
_DROP, _CONTAINER, _BLOCK = 1, 2, 4


class _NoSoup:
    """Where Beautiful Soup's reference handlers note what they found (unused here)."""

    original_encoding = None
    contains_replacement_characters = False


class _TextParser(BeautifulSoupHTMLParser):
    """Collects the text `html_to_text` returns, keeping the stack of open elements as
    Beautiful Soup's tree builder does: an end tag closes the most recent open element of
    its name and every element opened after it, and is ignored when none is open.

    It is Beautiful Soup's own html.parser subclass, for its reading of character and
    entity references (`&#128;`, `&T`, `&notit;`), with the tree building replaced."""

    def __init__(self, skip: Collection[tuple[str, str]]) -> None:
        HTMLParser.__init__(self, convert_charrefs=False)  # as Beautiful Soup runs it
        self.soup = _NoSoup()  # type: ignore[assignment]
        self.parts: list[str] = []
        self._skip = {tag: cls for tag, cls in skip}
        self._open: list[tuple[str, int]] = []
        self._counts: dict[str, int] = {}
        self._dropped = 0  # open elements whose content is dropped
        self._contained = 0  # open string containers
        self._closed_voids: list[str] = []

    # Beautiful Soup's handle_startendtag (`<p/>`) calls these two with False.
    def handle_starttag(
        self, tag: str, attrs: list[tuple[str, str | None]], handle_empty_element: bool = True
    ) -> None:
        self._start(tag, attrs)
        if handle_empty_element and tag in _VOID:
            self.handle_endtag(tag, check_already_closed=False)
            self._closed_voids.append(tag)

    def handle_endtag(self, tag: str, check_already_closed: bool = True) -> None:
        if check_already_closed and tag in self._closed_voids:
            self._closed_voids.remove(tag)
        else:
            self._pop_to(tag)

    def handle_data(self, data: str) -> None:
        if not self._dropped and not self._contained:
            self.parts.append(data)

    def unknown_decl(self, data: str) -> None:
        # CDATA is text, in or out of a string container; other declarations are not.
        if data.upper().startswith("CDATA[") and not self._dropped:
            self.parts.append(data[6:])

    def handle_comment(self, data: str) -> None:
        pass

    def handle_decl(self, decl: str) -> None:
        pass

    def handle_pi(self, data: str) -> None:
        pass

    def _start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        flags = 0
        if tag in _DROPPED or (tag in self._skip and self._has_class(attrs, self._skip[tag])):
            flags |= _DROP
            self._dropped += 1
        elif tag in _BLOCKS and not self._dropped:
            flags |= _BLOCK
            self.parts.append(" ")
        if tag in _STRING_CONTAINERS:
            flags |= _CONTAINER
            self._contained += 1
        self._open.append((tag, flags))
        self._counts[tag] = self._counts.get(tag, 0) + 1

    def _pop_to(self, tag: str) -> None:
        while self._counts.get(tag):
            name, flags = self._open.pop()
            self._counts[name] -= 1
            if flags & _DROP:
                self._dropped -= 1
            if flags & _CONTAINER:
                self._contained -= 1
            if flags & _BLOCK:
                self.parts.append(" ")
            if name == tag:
                return

    @staticmethod
    def _has_class(attrs: list[tuple[str, str | None]], wanted: str) -> bool:
        classes = dict(attrs).get("class") or ""  # the last one, as Beautiful Soup keeps
        return wanted in classes.split()


def _soup_text(html: str, skip: Collection[tuple[str, str]]) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag, cls in skip:
        for element in soup.find_all(tag, class_=cls):
            element.decompose()
    for element in soup(["script", "style", "template"]):
        element.decompose()
    for element in soup.find_all(_BLOCK_TAGS):
        element.insert_before(" ")
        element.insert_after(" ")
    return " ".join(soup.get_text().split())
