"""The Confluence Cloud connector: blog posts, pages and their comments, read through the
REST API v2.

Walk. A run reads the spaces (`/api/v2/spaces`: names for tags, ids for `options.spaces`),
the trash (`status=trashed` blog posts and pages, with `options.trash`: yielded as deleted),
then four listings of `<url>/api/v2/`, in order: `blogposts` and `pages` (`status=current`,
`body-format=storage`, `space-id=` when `options.spaces` names spaces), `footer-comments`
and `inline-comments` (the whole site's; with `options.spaces` a comment on content
elsewhere is left out). Each is paged by the cursor link in `_links.next` (it starts with
`/wiki`: resolved against the site, not the API root), `options.limit` items a request.

- A listing never read is walked oldest change first (`sort=modified-date`): each answer
  is one `Page` whose cursor keeps the `next` link, so a run that dies resumes the walk
  there. An item edited meanwhile moves to the end of the order and comes again.
- A listing read before is walked newest change first (`sort=-modified-date`) down to the
  newest version time read (that time included: items sharing it come again, unchanged);
  what changed is yielded oldest first, `limit` items a `Page`. An item edited during the
  walk moves ahead of it and is newer than the cursor: the next run reads it.
- A repeated answer (the `next` link just followed, again) is asked again, at most
  `_STALLED` times in a row; an item already read this run is not yielded again.

A run from no cursor ends with an empty `complete` page: the pipeline flags what it did not
see (purged content, comments of trashed content, content no longer visible to us).

Per answer, with `options.likes`, each item's `<listing>/{id}/likes/users` (one request an
item, paged the same way), and with `options.emails` the accounts not yet looked up
through the v1 `/rest/api/user/bulk?accountId=...` (v2's lookup is a POST).

The cursor is a JSON object:

    {"since": {"pages": "2024-06-03T10:15:00+00:00", ...},   newest version time read
     "walk": {"listing": "pages", "next": "/wiki/api/v2/pages?...&cursor=..."}}   mid-walk only

Mapping: a blog post is a `blog_post` `blogpost-<id>`, a page an `article` `page-<id>`:
title, the storage-format body as plain text, the space's name as its tag, `createdAt`,
`version.createdAt` as updated, `authorId` (the creator) as author. A footer or inline
comment is a `comment` `comment-<id>` in thread `page-<id>` or `blogpost-<id>`, replying to
`comment-<parentCommentId>` or to the page; author and creation time are its own
(`authorId`, `createdAt`) where the answer has them, else its version's. Likes are
`liked_by` the liking accounts. Authors are Atlassian account ids; the e-mail comes only
where the user's profile visibility shows it (else the account waits in the review queue
unmerged), the name from `publicName` or `displayName`.

Auth: credentials "e-mail:API token" go as HTTP Basic (`url` the site's wiki,
`https://<site>.atlassian.net/wiki`); anything else as an OAuth 2.0 bearer token (`url`
then `https://api.atlassian.com/ex/confluence/<cloud id>/wiki`). Rate limits, as Atlassian's
"Rate limiting" page has them: 429 and 5xx are retried by the shared client, waiting the
`Retry-After` seconds exactly or, without one, until `X-RateLimit-Reset` (an ISO 8601
time; one given to the minute, as the page's "yyyy-MM-ddTHH:mmZ", is waited to that
minute's end, since the reset falls within it); an answer with `X-RateLimit-Remaining: 0`
makes the next request wait until `X-RateLimit-Reset`.

Known limits: a change that makes no new version (a like, a label, a page restored from
the trash, a permission change) waits for the item's next edit or a full run; so do
comments of trashed content. Labels are not read. Likes cost a request an item. An
incremental walk holds what changed in memory before yielding it. A 429 that names neither
`Retry-After` nor `X-RateLimit-Reset` is retried after the client's own backoff.

Options: `limit` (items a request, 1-250, default 100), `spaces` (space keys; default all
the credentials see), `likes`, `emails`, `trash` (each default true).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from service.config import SourceConfig
from service.connectors.base import (
    ConnectorError,
    FatalSourceError,
    Page,
    checked_flags,
    known_options,
    load_cursor,
    option_error,
    whole_number,
)
from service.connectors.http import HttpClient, client_for, credentials_headers
from service.connectors.rss import html_to_text
from service.model import AuthorRecord, ContributionKind, ContributionRecord, normalise_email

__all__ = ["ConfluenceConnector", "rate_limit_reset"]

#: Answers in a row that repeat the link just followed before the walk gives up.
_STALLED = 3
_USERS_PER_LOOKUP = 50
_TO_THE_MINUTE = re.compile(r"T\d{2}:\d{2}(?:Z|[+-]\d{2}:?\d{2})?$")
_MACRO_PARAMETER = re.compile(r"<ac:parameter\b[^>]*>.*?</ac:parameter>", re.DOTALL)
_BARE_LINK = re.compile(
    r"<ac:link\b[^>]*>\s*<ri:(?:page|blog-post)\b[^>]*ri:content-title=\"([^\"]*)\"[^>]*/>"
    r"\s*</ac:link>"
)
_DEFAULTS: dict[str, Any] = {
    "limit": 100,
    "spaces": [],
    "likes": True,
    "emails": True,
    "trash": True,
}


class _Unmappable(Exception):
    """An item lacks what a contribution needs; the message says what."""


@dataclass(frozen=True, slots=True)
class _Listing:
    route: str  # under /api/v2/
    noun: str
    prefix: str  # of the record id
    kind: ContributionKind


_BLOGPOSTS = _Listing("blogposts", "blog post", "blogpost", ContributionKind.BLOG_POST)
_PAGES = _Listing("pages", "page", "page", ContributionKind.ARTICLE)
_FOOTER = _Listing("footer-comments", "footer comment", "comment", ContributionKind.COMMENT)
_INLINE = _Listing("inline-comments", "inline comment", "comment", ContributionKind.COMMENT)
_LISTINGS = (_BLOGPOSTS, _PAGES, _FOOTER, _INLINE)
_CONTENT = (_BLOGPOSTS, _PAGES)


@dataclass(frozen=True, slots=True)
class _Options:
    limit: int = 100
    spaces: tuple[str, ...] = ()
    likes: bool = True
    emails: bool = True
    trash: bool = True

    @classmethod
    def of(cls, source: SourceConfig) -> _Options:
        values = known_options(source, _DEFAULTS)
        limit = whole_number(source, values, "limit", 1, 250)
        spaces = values["spaces"]
        if not isinstance(spaces, list) or not all(
            isinstance(key, str) and key.strip() for key in spaces
        ):
            raise option_error(source, "spaces", f"must be a list of space keys, not {spaces!r}")
        checked_flags(source, values, ("likes", "emails", "trash"))
        return cls(
            limit,
            tuple(k.strip() for k in spaces),
            values["likes"],
            values["emails"],
            values["trash"],
        )


@dataclass(frozen=True, slots=True)
class _Cursor:
    since: Mapping[str, datetime] = field(default_factory=dict)
    walk: tuple[str, str] | None = None  # (listing, next link)

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        return load_cursor(text, cls._parse, cls(), kind="a Confluence", afresh="the site")

    @classmethod
    def _parse(cls, raw: Any) -> _Cursor:
        since: dict[str, datetime] = {}
        for route, value in (raw.get("since") or {}).items():
            when = _time(value)
            if when is None:
                raise ValueError(f"since.{route}: {value!r} is not a time")
            since[str(route)] = when
        walk = raw.get("walk")
        return cls(since, (str(walk["listing"]), str(walk["next"])) if walk else None)

    def dump(self) -> str:
        raw: dict[str, Any] = {"since": {k: v.isoformat() for k, v in self.since.items()}}
        if self.walk:
            raw["walk"] = {"listing": self.walk[0], "next": self.walk[1]}
        return json.dumps(raw, sort_keys=True)

    def read(self, route: str, newest: datetime | None, walk: str | None) -> _Cursor:
        since = dict(self.since)
        if newest is not None and (route not in since or newest > since[route]):
            since[route] = newest
        if walk:
            return _Cursor(since, (route, walk))
        # another listing's walk, not resumed yet, stays
        return _Cursor(since, self.walk if self.walk and self.walk[0] != route else None)


class _ConfluenceApi:
    """Knows Confluence's URLs, headers and rate-limit headers; returns JSON objects."""

    def __init__(
        self,
        url: str,
        client: HttpClient,
        headers: Mapping[str, str],
        sleep: Callable[[float], None],
    ) -> None:
        root = url.rstrip("/")
        self.wiki = root if root.endswith("/wiki") else root + "/wiki"
        # `_links.next` starts with /wiki: it is relative to what is before it
        self.site = self.wiki.removesuffix("/wiki")
        self.client = client
        self.headers = {"Accept": "application/json", **headers}
        self._sleep = sleep
        self._resume_at: float | None = None
        self.base = self.wiki

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET an API path ("/api/v2/pages") or a `_links.next` link ("/wiki/api/...")."""
        url = self.site + path if path.startswith("/wiki/") else self.wiki + path
        if self._resume_at is not None:
            self._sleep(max(0.0, self._resume_at - time.time()))
            self._resume_at = None
        data, response = self.client.get_json(
            url, params=params, headers=self.headers, throttled=_reset_wait
        )
        self._pace(response)
        if not isinstance(data, dict):
            raise ConnectorError(f"GET {path}: expected a JSON object, got {type(data).__name__}")
        return data

    def _pace(self, response: requests.Response) -> None:
        if response.headers.get("X-RateLimit-Remaining", "").strip() != "0":
            return
        wait = rate_limit_reset(response.headers.get("X-RateLimit-Reset"))
        if wait is not None:
            self._resume_at = time.time() + min(wait, self.client.max_retry_after)

    def listing(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[Any], str | None]:
        """One list answer: its `results` and its `_links.next` (None on the last)."""
        data = self.get(path, params)
        results = data.get("results")
        if not isinstance(results, list):
            raise ConnectorError(f"GET {path}: the answer has no results list")
        links = data.get("_links") or {}
        if isinstance(links.get("base"), str) and links["base"]:
            self.base = links["base"]  # what an item's `_links.webui` is relative to
        following = links.get("next")
        return results, following if isinstance(following, str) and following else None

    def walk(
        self, path: str, params: Mapping[str, Any] | None
    ) -> Iterator[tuple[list[Any], str | None]]:
        """Every answer of a listing from `path` on, with the link after it, following
        `_links.next` to the end. An answer that leads back to the link just followed (the
        page before, served again) is asked again, up to `_STALLED` times in a row."""
        link, repeats = path, 0
        while True:
            results, following = self.listing(link, params)
            yield results, following
            if not following:
                return
            repeats = repeats + 1 if following == link else 0
            if repeats >= _STALLED:
                raise ConnectorError(
                    f"GET {path}: {_STALLED} answers in a row lead back to the page just "
                    "read; the listing cannot be walked to its end"
                )
            link, params = following, None


class ConfluenceConnector:
    """Reads one Confluence Cloud site through the REST API v2 (see the module docstring).

    `credentials` is the secret read from the source's `credentials_env`: "e-mail:API
    token" (Basic) or an OAuth 2.0 access token (Bearer). `client` defaults to a fresh
    `HttpClient`; `sleep` waits out an exhausted rate limit. Raises `ConfigError` naming
    `options.<key>` for a bad option.
    """

    def __init__(
        self,
        source: SourceConfig,
        client: HttpClient | None = None,
        credentials: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self.options = _Options.of(source)
        self.client = client or client_for(source)
        self._api = _ConfluenceApi(
            source.url or "", self.client, credentials_headers(credentials), sleep
        )
        self._users: dict[str, dict[str, Any]] = {}
        self._read_emails = self.options.emails
        self._spaces: dict[str, dict[str, Any]] = {}
        self._containers: dict[str, str | None] = {}  # record id -> space id
        self._seen: set[tuple[str, str, int]] = set()

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Yield pages of changed content and comments after `cursor`, oldest first.

        With no cursor the run reads everything and its last page is complete. Raises
        `FatalSourceError` when the source has no URL, names unknown spaces or refuses us
        (401, 403, 404), `ConnectorError` when an answer is not a list answer, repeats
        itself or the cursor is unreadable, and what `HttpClient.get_json` raises.
        """
        if not self.source.url:
            raise FatalSourceError(f"source {self.source.id!r} has no site URL")
        state = _Cursor.load(cursor)
        self._seen.clear()
        self._read_spaces()
        errors: list[str] = []
        if self.options.trash:
            records, errors = self._trash()
            if records or errors:
                yield Page(records, state.dump(), errors=errors)
                errors = []
        for listing in _LISTINGS:
            if state.walk and state.walk[0] == listing.route:  # resumed, oldest change first
                answers = self._api.walk(state.walk[1], None)
            elif listing.route not in state.since:
                params = self._list_params(listing, "modified-date")
                answers = self._api.walk(f"/api/v2/{listing.route}", params)
            else:
                answers = self._walk_down(listing, state.since[listing.route])
            for items, following in answers:
                records, problems = self._records(listing, items)
                newest = max((t for _, t in _timed(items)[0]), default=None)
                state = state.read(listing.route, newest, following)
                yield Page(records, state.dump(), errors=errors + problems)
                errors = []
        if cursor is None:
            yield Page([], state.dump(), complete=True, errors=errors)

    def _list_params(self, listing: _Listing, sort: str, status: str = "current") -> dict[str, Any]:
        params: dict[str, Any] = {
            "limit": self.options.limit,
            "body-format": "storage",
            "sort": sort,
        }
        if listing in _CONTENT:
            params["status"] = status
            if self.options.spaces:
                params["space-id"] = ",".join(sorted(self._spaces))
        return params

    def _walk_down(
        self, listing: _Listing, since: datetime
    ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        """Newest change first down to `since`; what changed, oldest first, in answers of
        `limit` items (no link: nothing is left to resume)."""
        changed: dict[str, tuple[datetime, dict[str, Any]]] = {}
        params = self._list_params(listing, "-modified-date")
        for items, _ in self._api.walk(f"/api/v2/{listing.route}", params):
            timed, _ = _timed(items)
            for item, when in timed:
                if when >= since and (item["id"] not in changed or when > changed[item["id"]][0]):
                    changed[item["id"]] = (when, item)
            if any(when < since for _, when in timed):
                break
        ordered = [item for _, item in sorted(changed.values(), key=lambda p: (p[0], p[1]["id"]))]
        for start in range(0, len(ordered), self.options.limit):
            yield ordered[start : start + self.options.limit], None

    def _read_spaces(self) -> None:
        params: dict[str, Any] = {"limit": 250}
        if self.options.spaces:
            params["keys"] = ",".join(self.options.spaces)
        self._spaces = {
            str(space["id"]): space
            for items, _ in self._api.walk("/api/v2/spaces", params)
            for space in items
            if isinstance(space, dict) and space.get("id") is not None
        }
        missing = set(self.options.spaces) - {str(s.get("key")) for s in self._spaces.values()}
        if missing:
            raise FatalSourceError(
                f"source {self.source.id!r}: options.spaces: no space {sorted(missing)[0]!r} "
                "(or the credentials may not see it)"
            )

    def _trash(self) -> tuple[list[ContributionRecord], list[str]]:
        records: list[ContributionRecord] = []
        errors: list[str] = []
        for listing in _CONTENT:
            path = f"/api/v2/{listing.route}"
            for items, _ in self._api.walk(path, self._list_params(listing, "id", "trashed")):
                mapped, problems = self._records(listing, items, deleted=True)
                records += mapped
                errors += problems
        return records, errors

    def _records(
        self, listing: _Listing, items: list[Any], deleted: bool = False
    ) -> tuple[list[ContributionRecord], list[str]]:
        timed, errors = _timed(items, listing.noun)
        fresh: list[tuple[dict[str, Any], datetime]] = []
        for item, when in timed:
            key = (listing.route, item["id"], _version(item))
            if key not in self._seen:
                self._seen.add(key)
                fresh.append((item, when))
        if listing in _CONTENT:
            for item, _ in fresh:
                self._containers[f"{listing.prefix}-{item['id']}"] = str(item.get("spaceId"))
        else:
            fresh = [(item, when) for item, when in fresh if self._in_spaces(item)]
        # the trash's likes count for nothing: deleted items earn nothing
        likers = {i["id"]: [] if deleted else self._likers(listing, i["id"]) for i, _ in fresh}
        errors += self._look_up(
            {_author_id(item) for item, _ in fresh} | {a for ids in likers.values() for a in ids}
        )
        records: list[ContributionRecord] = []
        for item, when in fresh:
            try:
                records.append(self._map(listing, item, when, likers[item["id"]], deleted))
            except _Unmappable as exc:
                errors.append(f"{listing.noun} {item['id']} skipped: {exc}")
        return records, errors

    def _in_spaces(self, comment: dict[str, Any]) -> bool:
        """Whether a comment's page or blog post lies in the spaces read (always true
        without `options.spaces`)."""
        if not self.options.spaces:
            return True
        thread, listing = _thread(comment)
        if thread is None or listing is None:
            return False
        if thread not in self._containers:
            try:
                content = self._api.get(f"/api/v2/{listing.route}/{thread.split('-', 1)[1]}")
                self._containers[thread] = str(content.get("spaceId"))
            except FatalSourceError:
                self._containers[thread] = None  # trashed, purged or not ours to see
        return self._containers[thread] in self._spaces

    def _likers(self, listing: _Listing, item_id: str) -> list[str]:
        if not self.options.likes:
            return []
        path = f"/api/v2/{listing.route}/{item_id}/likes/users"
        return [
            str(like["accountId"])
            for items, _ in self._api.walk(path, {"limit": 250})
            for like in items
            if isinstance(like, dict) and like.get("accountId")
        ]

    def _look_up(self, account_ids: Iterable[str | None]) -> list[str]:
        wanted = sorted({a for a in account_ids if a} - set(self._users))
        if not self._read_emails or not wanted:
            return []
        try:
            for start in range(0, len(wanted), _USERS_PER_LOOKUP):
                chunk = wanted[start : start + _USERS_PER_LOOKUP]
                data = self._api.get("/rest/api/user/bulk", {"accountId": ",".join(chunk)})
                found = {
                    u.get("accountId"): u for u in data.get("results") or () if isinstance(u, dict)
                }
                self._users.update({a: found.get(a) or {} for a in chunk})
        except FatalSourceError as exc:
            self._read_emails = False
            return [f"accounts not looked up (names and e-mails left out): {exc}"]
        return []

    def _map(
        self,
        listing: _Listing,
        item: dict[str, Any],
        updated: datetime,
        likers: list[str],
        deleted: bool,
    ) -> ContributionRecord:
        author_id = _author_id(item)
        if author_id is None:
            raise _Unmappable("it names no author")
        body = ((item.get("body") or {}).get("storage") or {}).get("value")
        links = item.get("_links") or {}
        base = str(links.get("base") or self._api.base)
        webui = links.get("webui")
        record = ContributionRecord(
            id=f"{listing.prefix}-{item['id']}",
            kind=listing.kind,
            author=self._author(author_id),
            created=_time(item.get("createdAt")) or updated,
            updated=updated,
            text=_storage_text(body) if isinstance(body, str) else "",
            url=base + webui if isinstance(webui, str) else None,
            likes=len(likers),
            liked_by=[self._author(a) for a in likers],
            deleted=deleted,
        )
        if listing in _CONTENT:
            space = self._spaces.get(str(item.get("spaceId"))) or {}
            record.title = str(item.get("title") or "")
            record.tags = [str(space["name"])] if space.get("name") else []
            return record
        thread, _ = _thread(item)
        if thread is None:
            raise _Unmappable("it names no page or blog post")
        parent = item.get("parentCommentId")
        record.thread = thread
        record.parent = f"comment-{parent}" if parent else thread
        return record

    def _author(self, account_id: str) -> AuthorRecord:
        user = self._users.get(account_id) or {}
        return AuthorRecord(
            id=account_id,
            name=user.get("publicName") or user.get("displayName") or None,
            email=normalise_email(user.get("email")),
        )


def _storage_text(storage: str) -> str:
    """The plain text of a storage-format (XHTML) body: a macro's parameters (a code
    block's language, a panel's colour) left out, a link with no text of its own read as
    the title of the page it links to."""
    storage = _MACRO_PARAMETER.sub(" ", storage)
    return html_to_text(_BARE_LINK.sub(lambda m: " " + m.group(1) + " ", storage))


def _thread(comment: Mapping[str, Any]) -> tuple[str | None, _Listing | None]:
    if comment.get("pageId"):
        return f"page-{comment['pageId']}", _PAGES
    if comment.get("blogPostId"):
        return f"blogpost-{comment['blogPostId']}", _BLOGPOSTS
    return None, None


def _author_id(item: Mapping[str, Any]) -> str | None:
    author = item.get("authorId") or (item.get("version") or {}).get("authorId")
    return str(author) if author else None


def _version(item: Mapping[str, Any]) -> int:
    number = (item.get("version") or {}).get("number")
    return number if isinstance(number, int) else 0


def _timed(
    items: list[Any], noun: str = "item"
) -> tuple[list[tuple[dict[str, Any], datetime]], list[str]]:
    """The items with an id and a readable `version.createdAt`, with that time; and a
    description of each other one."""
    timed: list[tuple[dict[str, Any], datetime]] = []
    errors: list[str] = []
    for item in items:
        item_id = item.get("id") if isinstance(item, dict) else None
        when = _time((item.get("version") or {}).get("createdAt")) if item_id else None
        if not isinstance(item_id, str) or when is None:
            label = item_id if isinstance(item_id, str) else str(item)[:80]
            errors.append(f"{noun} {label} skipped: no id or no readable version.createdAt")
            continue
        timed.append((item, when))
    return timed, errors


def rate_limit_reset(value: str | None, now: datetime | None = None) -> float | None:
    """The seconds (never negative) until the time an `X-RateLimit-Reset` header names, or
    None when it is absent or unreadable. A time given only to the minute ("2024-07-01T12:05Z",
    Atlassian's documented form) counts as that minute's end: the reset falls within it."""
    reset = _time(value)
    if reset is None or value is None:
        return None
    if _TO_THE_MINUTE.search(value.strip()):
        reset += timedelta(minutes=1)
    return max(0.0, (reset - (now or datetime.now(UTC))).total_seconds())


def _reset_wait(response: requests.Response) -> float | None:
    """For a 429 without a readable `Retry-After` (the shared client asks): the seconds
    until its `X-RateLimit-Reset`; None for other answers (a 5xx may carry the header of a
    window it has nothing to do with), or without one."""
    if response.status_code != 429:
        return None
    return rate_limit_reset(response.headers.get("X-RateLimit-Reset"))


def _time(value: Any) -> datetime | None:
    """Read an ISO 8601 time ("2024-05-14T08:12:45.123Z"); a time without zone is UTC."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
