"""The WordPress REST API connector: a site's posts and their comments.

It reads `<url>/wp-json/wp/v2/` (a URL already ending in `/wp-json` is the API root):
`posts?_embed=author,wp:term`, `comments?_embed=author`, and with credentials (an
application password, sent as HTTP Basic) `users?context=edit` for the authors' e-mails
(the user needs `list_users`; without it the e-mails are left out, noted once a run).

Records: a post is a `blog_post` `post-<id>`: tags are its category and tag names (less
"uncategorized"), its author the WordPress user (id = user id, username = slug). A
comment is a `comment` `comment-<id>` in thread `post-<post>`, replying to
`comment-<parent>` or the post. A guest commenter gets the id `guest-<hash of the name>`
and never an e-mail: anyone can type any address into a comment form, and people are
merged on e-mails.

Walking. Posts are listed `orderby=modified&order=asc`, comments `orderby=date_gmt`, each
request asking only for what is after the newest time read (keyset paging): page numbers
over a list ordered by modification shift when a post already read is edited or trashed
during the walk, and the post that slides back onto a read page would be missed, then
flagged deleted by the full pass. The time asked for is one second early, so that items
sharing the newest second are not lost; those already read are dropped by id. Page
numbers serve only where keyset paging cannot move on: a page wholly of one second, or a
site older than WordPress 5.7 that ignores `modified_after` (read whole each run).
`X-WP-TotalPages` ends a walk, and so does a page past the end (HTTP 400
`rest_post_invalid_page_number`: posts vanished meanwhile). An answer with nothing new and
items older than asked for (a cache replaying an earlier page) is asked again, up to
`_REPLAYS` times, before the walk concludes that the site ignores the filter.

Each posts answer is one `Page`, with its posts' comments (`post=<ids>`). A comment does
not change its post's modified time, so new comments are read after the posts, by date;
a full pass reads comments per post, then those made since it started by the site's
clock (`Date`). Its last page (no records) has `complete=True`. Comments have no modified
time: an edited comment comes again with its post, or with the next full pass.

The cursor is a JSON object; `time` is the newest `modified_gmt` (comments: `date_gmt`)
read and `ids` the items read with exactly that time:

    {"posts": {"time": "2024-06-05T08:00:00+00:00", "ids": [115, 118]},
     "comments": {"time": "2024-06-04T09:10:00+00:00", "ids": [36]}}

Options: `per_page` (items per request, 1-100, default 100), `comments` (default true),
`emails` (look e-mails up with the credentials, default true).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from service.config import SourceConfig
from service.connectors.base import (
    ConnectorError,
    FatalSourceError,
    Page,
    checked_flags,
    known_options,
    load_cursor,
    whole_number,
)
from service.connectors.http import HttpClient, client_for, credentials_headers
from service.connectors.rss import html_to_text
from service.model import AuthorRecord, ContributionKind, ContributionRecord, normalise_email

__all__ = ["WordPressConnector"]

_ONE_SECOND = timedelta(seconds=1)
# The site's clock and comment dates may differ by a proxy's clock; read a little early.
_COMMENT_MARGIN = timedelta(minutes=10)
# WordPress compares `modified_after` in the site's local time, so around a DST change an
# answer may start an hour early; an answer starting a day early ignored the filter.
_FILTER_IGNORED = timedelta(days=1)
_DEFAULTS: dict[str, Any] = {"per_page": 100, "comments": True, "emails": True}
#: Answers in a row that are older than asked for before the walk takes them as they are.
_REPLAYS = 3


class _Unmappable(Exception):
    """An item lacks what a contribution needs; the message says what."""


@dataclass(frozen=True, slots=True)
class _Options:
    per_page: int = 100
    comments: bool = True
    emails: bool = True

    @classmethod
    def of(cls, source: SourceConfig) -> _Options:
        values = known_options(source, _DEFAULTS)
        per_page = whole_number(source, values, "per_page", 1, 100)
        checked_flags(source, values, ("comments", "emails"))
        return cls(per_page, values["comments"], values["emails"])


@dataclass(frozen=True, slots=True)
class _Position:
    """How far one listing was read: its newest time and the ids with exactly that time."""

    time: datetime | None = None
    ids: tuple[int, ...] = ()

    def is_new(self, item_id: int, time: datetime) -> bool:
        if self.time is None or time > self.time:
            return True
        return time == self.time and item_id not in self.ids

    def after(self, read: Iterable[tuple[int, datetime]]) -> _Position:
        position = self
        for item_id, time in read:
            if position.time is None or time > position.time:
                position = _Position(time, (item_id,))
            elif time == position.time and item_id not in position.ids:
                position = _Position(time, (*position.ids, item_id))
        return position

    @classmethod
    def load(cls, raw: Any) -> _Position:
        if raw is None:
            return cls()
        time = raw.get("time")
        ids = tuple(int(i) for i in raw.get("ids") or ())
        return cls(datetime.fromisoformat(time) if time else None, ids)

    def dump(self) -> dict[str, Any]:
        return {"time": self.time.isoformat() if self.time else None, "ids": list(self.ids)}


@dataclass(frozen=True, slots=True)
class _Cursor:
    posts: _Position = _Position()
    comments: _Position = _Position()

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        return load_cursor(text, cls._parse, cls(), kind="a WordPress", afresh="the site")

    @classmethod
    def _parse(cls, raw: Any) -> _Cursor:
        return cls(_Position.load(raw.get("posts")), _Position.load(raw.get("comments")))

    def dump(self) -> str:
        return json.dumps(
            {"posts": self.posts.dump(), "comments": self.comments.dump()}, sort_keys=True
        )


@dataclass(frozen=True, slots=True)
class _Listing:
    """A collection read in time order: its route, filter parameter, order and time field."""

    route: str
    after: str
    orderby: str
    time_field: str
    embed: str


_POSTS = _Listing("posts", "modified_after", "modified", "modified_gmt", "author,wp:term")
_COMMENTS = _Listing("comments", "after", "date_gmt", "date_gmt", "author")


@dataclass(slots=True)
class _Answer:
    """One page of a listing: the items not read before, and where the listing stands."""

    fresh: list[dict[str, Any]]
    position: _Position
    errors: list[str]
    site_time: datetime | None


class WordPressConnector:
    """Reads one WordPress site's posts and comments through the REST API (WordPress 5.7+
    for incremental runs; older sites are read whole each run).

    `client` defaults to a fresh `HttpClient`; `credentials` is the secret the caller read
    from the source's `credentials_env` ("user:application password" for Basic). Raises
    `ConfigError` naming `options.<key>` for a bad option.
    """

    def __init__(
        self,
        source: SourceConfig,
        client: HttpClient | None = None,
        credentials: str | None = None,
    ) -> None:
        self.source = source
        self.options = _Options.of(source)
        self.client = client or client_for(source)
        self._auth_headers = credentials_headers(credentials)
        self._read_emails = bool(credentials) and self.options.emails
        self._users: dict[int, dict[str, Any]] = {}

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Yield pages of posts and comments changed after `cursor`, oldest first.

        With no cursor the pass reads the whole site and its last page is complete.
        Raises `FatalSourceError` when the source has no URL or refuses us,
        `ConnectorError` when an answer is not a JSON list or the cursor is unreadable, and
        what `HttpClient.get_json` raises (a body that is not JSON is retried there).
        """
        if not self.source.url:
            raise FatalSourceError(f"source {self.source.id!r} has no site URL")
        state = _Cursor.load(cursor)
        full = cursor is None
        first = True
        for answer in self._walk(_POSTS, state.posts):
            if first and full and answer.site_time is not None:
                state = replace(state, comments=_Position(answer.site_time - _COMMENT_MARGIN))
            first = False
            moved = answer.position != state.posts
            state = replace(state, posts=answer.position)
            comments, errors = self._comments_of([post["id"] for post in answer.fresh])
            records, mapping_errors = self._records(answer.fresh, comments)
            errors = answer.errors + errors + mapping_errors
            if records or errors or moved:
                yield Page(records, state.dump(), errors=errors)
        if self.options.comments:
            for answer in self._walk(_COMMENTS, state.comments):
                moved = answer.position != state.comments
                state = replace(state, comments=answer.position)
                records, errors = self._records([], answer.fresh)
                errors = answer.errors + errors
                if records or errors or moved:
                    yield Page(records, state.dump(), errors=errors)
        if full:
            yield Page([], state.dump(), complete=True)

    def _walk(self, listing: _Listing, start: _Position) -> Iterator[_Answer]:
        position, window, page, keyset, replays = start, start.time, 1, True, 0
        while True:
            params: dict[str, Any] = {
                "per_page": self.options.per_page,
                "page": page,
                "orderby": listing.orderby,
                "order": "asc",
                "_embed": listing.embed,
            }
            if window is not None:
                params[listing.after] = _query_time(window - _ONE_SECOND)
            answer = self._list(listing.route, params)
            if answer is None:
                return
            items, headers = answer
            timed, errors = _timed(items, listing)
            fresh = [(item, i, t) for item, i, t in timed if position.is_new(i, t)]
            early = window is not None and any(t < window - _ONE_SECOND for _, _, t in timed)
            if keyset and early and not fresh and replays < _REPLAYS:
                # Nothing new and older than asked for: a cache replaying an earlier answer
                # (asking again gets the real one) or a site ignoring the filter (it does
                # not; moving on now could skip this page).
                replays += 1
                continue
            replays = 0
            if window is not None and any(t < window - _FILTER_IGNORED for _, _, t in timed):
                keyset = False
            position = position.after((i, t) for _, i, t in fresh)
            yield _Answer([item for item, _, _ in fresh], position, errors, _site_time(headers))
            if not items or page >= _total_pages(headers, len(items), self.options.per_page, page):
                return
            if keyset and position.time is not None and (window is None or position.time > window):
                window, page = position.time, 1
            else:
                page += 1

    def _records(
        self, posts: list[dict[str, Any]], comments: list[dict[str, Any]]
    ) -> tuple[list[ContributionRecord], list[str]]:
        errors = self._look_up_users(item.get("author") for item in posts + comments)
        records: list[ContributionRecord] = []
        for noun, items, mapper in (
            ("post", posts, _map_post),
            ("comment", comments, _map_comment),
        ):
            for item in items:
                try:
                    records.append(mapper(item, self._users))
                except _Unmappable as exc:
                    errors.append(f"{noun} {item.get('id')} skipped: {exc}")
        return records, errors

    def _comments_of(self, post_ids: list[int]) -> tuple[list[dict[str, Any]], list[str]]:
        if not post_ids or not self.options.comments:
            return [], []
        comments: list[dict[str, Any]] = []
        errors: list[str] = []
        params = {
            "post": ",".join(map(str, post_ids)),
            "per_page": self.options.per_page,
            "orderby": "id",
            "order": "asc",
            "_embed": "author",
        }
        page = 1
        while answer := self._list("comments", {**params, "page": page}):
            items, headers = answer
            timed, problems = _timed(items, _COMMENTS)
            comments += [item for item, _, _ in timed]
            errors += problems
            if not items or page >= _total_pages(headers, len(items), self.options.per_page, page):
                break
            page += 1
        return comments, errors

    def _look_up_users(self, user_ids: Iterable[Any]) -> list[str]:
        wanted = sorted({i for i in user_ids if isinstance(i, int) and i > 0} - set(self._users))
        if not self._read_emails or not wanted:
            return []
        try:
            for start in range(0, len(wanted), 100):
                chunk = wanted[start : start + 100]
                params = {"context": "edit", "include": ",".join(map(str, chunk)), "per_page": 100}
                answer = self._list("users", params)
                found = {
                    u.get("id"): u for u in (answer[0] if answer else []) if isinstance(u, dict)
                }
                # a miss is remembered too (as {}), so it is not asked for again
                self._users.update({i: found.get(i) or {} for i in chunk})
        except FatalSourceError as exc:
            self._read_emails = False
            return [
                f"authors' e-mails not read (the credentials' user needs the list_users "
                f"capability): {exc}"
            ]
        return []

    def _list(
        self, route: str, params: Mapping[str, Any]
    ) -> tuple[list[Any], Mapping[str, str]] | None:
        url = f"{_api_root(self.source.url or '')}/wp/v2/{route}"
        try:
            data, response = self.client.get_json(url, params=params, headers=self._auth_headers)
        except FatalSourceError as exc:
            # The client keeps the answer's body to itself; a 400 on a later page is
            # WordPress's rest_post_invalid_page_number: the listing ended meanwhile.
            if int(params.get("page", 1)) > 1 and "HTTP 400" in str(exc):
                return None
            raise
        if not isinstance(data, list):
            raise ConnectorError(
                f"GET {url} page {params.get('page', 1)}: expected a JSON list, got "
                f"{type(data).__name__}"
            )
        return data, response.headers


def _api_root(url: str) -> str:
    root = url.rstrip("/")
    return root if root.endswith("/wp-json") else f"{root}/wp-json"


def _total_pages(headers: Mapping[str, str], count: int, per_page: int, page: int) -> int:
    try:
        return int(headers["X-WP-TotalPages"])
    except (KeyError, ValueError):
        return page + 1 if count >= per_page else page


def _site_time(headers: Mapping[str, str]) -> datetime | None:
    try:
        return parsedate_to_datetime(headers["Date"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        return None


def _query_time(time: datetime) -> str:
    return time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gmt(value: Any) -> datetime | None:
    """Read a `*_gmt` field ("2024-05-14T08:12:45", UTC without an offset)."""
    if not isinstance(value, str) or value.startswith("0000"):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _timed(
    items: list[Any], listing: _Listing
) -> tuple[list[tuple[dict[str, Any], int, datetime]], list[str]]:
    timed: list[tuple[dict[str, Any], int, datetime]] = []
    errors: list[str] = []
    noun = listing.route.rstrip("s")
    for item in items:
        item_id = item.get("id") if isinstance(item, dict) else None
        time = _gmt(item.get(listing.time_field)) if isinstance(item, dict) else None
        if not isinstance(item_id, int) or time is None:
            label = item_id if isinstance(item_id, int) else str(item)[:80]
            errors.append(f"{noun} {label} skipped: no id or no readable {listing.time_field}")
            continue
        timed.append((item, item_id, time))
    return timed, errors


def _map_post(post: dict[str, Any], users: Mapping[int, dict[str, Any]]) -> ContributionRecord:
    created = _gmt(post.get("date_gmt"))
    if created is None:
        raise _Unmappable("no readable date_gmt")
    author = _user(post.get("author"), _embedded(post, "author"), users, None)
    if author is None:
        raise _Unmappable("it names no author")
    return ContributionRecord(
        id=f"post-{post['id']}",
        kind=ContributionKind.BLOG_POST,
        author=author,
        created=created,
        updated=_gmt(post.get("modified_gmt")) or created,
        title=html_to_text(_rendered(post, "title")),
        text=html_to_text(_rendered(post, "content")),
        url=post.get("link") or None,
        tags=_terms(post),
    )


def _map_comment(
    comment: dict[str, Any], users: Mapping[int, dict[str, Any]]
) -> ContributionRecord:
    created = _gmt(comment.get("date_gmt"))
    post_id, parent = comment.get("post"), comment.get("parent") or 0
    if created is None:
        raise _Unmappable("no readable date_gmt")
    if not isinstance(post_id, int) or not isinstance(parent, int):
        raise _Unmappable("no post id")
    name = " ".join(str(comment.get("author_name") or "").split()) or None
    author = _user(comment.get("author"), _embedded(comment, "author"), users, name)
    if author is None:
        if name is None:
            raise _Unmappable("a guest comment without an author name")
        digest = hashlib.sha256(name.lower().encode("utf-8")).hexdigest()[:16]
        author = AuthorRecord(
            id=f"guest-{digest}", name=name, url=comment.get("author_url") or None
        )
    return ContributionRecord(
        id=f"comment-{comment['id']}",
        kind=ContributionKind.COMMENT,
        author=author,
        created=created,
        updated=created,
        text=html_to_text(_rendered(comment, "content")),
        url=comment.get("link") or None,
        thread=f"post-{post_id}",
        parent=f"comment-{parent}" if parent else f"post-{post_id}",
    )


def _user(
    user_id: Any, embedded: Any, users: Mapping[int, dict[str, Any]], name: str | None
) -> AuthorRecord | None:
    """The WordPress account `user_id`, from the users read with the credentials, else from
    the embedded author (an error object when the site will not show that user)."""
    if not isinstance(user_id, int) or user_id <= 0:
        return None
    user = users.get(user_id) or {}
    if not user and isinstance(embedded, dict) and embedded.get("id") == user_id:
        user = embedded
    return AuthorRecord(
        id=str(user_id),
        username=user.get("slug") or None,
        name=user.get("name") or name,
        email=normalise_email(user.get("email")),
        url=user.get("link") or None,
    )


def _embedded(item: dict[str, Any], rel: str) -> Any:
    found = (item.get("_embedded") or {}).get(rel)
    return found[0] if isinstance(found, list) and found else None


def _rendered(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    rendered = value.get("rendered") if isinstance(value, dict) else value
    return rendered if isinstance(rendered, str) else ""


def _terms(post: dict[str, Any]) -> list[str]:
    groups = (post.get("_embedded") or {}).get("wp:term") or []
    terms = [t for group in groups if isinstance(group, list) for t in group]
    names = [
        html_to_text(str(t.get("name") or ""))
        for t in terms
        if isinstance(t, dict)
        and t.get("taxonomy") in ("category", "post_tag")
        and t.get("slug") != "uncategorized"  # WordPress's default category says nothing
    ]
    return list(dict.fromkeys(name for name in names if name))
