"""The Discourse connector: a forum's topics and posts, read through Discourse's JSON API.

A run walks `/latest.json?order=activity&no_definitions=true&page=N` (by `bumped_at`, newest;
pinned ones lead the first page) down to the first topic not bumped since the cursor, then
reads each changed topic, oldest bump first: `/t/{id}.json` (the first `chunk_size` posts
and, in `post_stream.stream`, the ids of all), then `/t/{id}/posts.json?post_ids[]=...`
for the rest. One `Page` per topic, its cursor the position after it. A run from no cursor
that walks the whole list ends `complete`: the pipeline flags what it did not see.

The cursor is a JSON object:

    {"bumped_at": "2024-05-02T14:03:18.390000+00:00",   newest bump emitted (UTC)
     "topic_ids": [214],                                 topics emitted with exactly that bump
     "walk": {"page": 7,                                 only after a walk that failed: the
              "found": [[230, "2024-...", 5]]}}          list page to resume at, and the
                                                         changed topics listed before it
                                                         (id, bump, category)

A walk that fails (retries exhausted, a list that stops making progress) stores where it
got to before the run ends, so the next run resumes the walk there instead of starting
over: under faults every run makes progress. A topic listed again (offset paging shifts
the list down when topics are bumped or created at its head) is taken once; the walk only
gives up after `_STALLED` list pages in a row that bring no topic it has not seen.

Mapping: a topic's first post is a question (title, tags, category names as tags); a post
replying to an answer is a reply to it, any other an answer to the question. Likes count
post action 2; `accepted` is the solved plugin's `accepted_answer`; `deleted_at` or
`user_deleted` mean deleted. Whispers, small and moderator actions, posts by Discourse's own
users (system, discobot) and, for a non-internal source, topics in categories restricted to
groups are left out. Text is the cooked HTML as plain text without quotes of other posts.
Discourse's post `score` mixes reads and likes (likes would count twice): it is the record's
`score` only with `options.post_score`.

Known limits: an edit, like or accepted answer that does not bump its topic (Discourse bumps
for new posts and edits of the last post) waits for the next bump or full run; so does a
post that vanishes (the full run flags it). The list is paged by offset: a topic deleted
during a full run's walk can shift another out of view, flagged until a run sees it again.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from urllib.parse import quote

from service.config import SourceConfig
from service.connectors.base import (
    ConnectorError,
    FatalSourceError,
    Page,
    load_cursor,
    option_error,
)
from service.connectors.http import HttpClient, client_for
from service.connectors.rss import html_to_text
from service.model import AuthorRecord, ContributionKind, ContributionRecord

__all__ = ["DiscourseConnector"]

_QUOTES = (("aside", "quote"),)  # <aside class="quote">: another post quoted
_LIKE = 2  # post action type of a like
_REGULAR = 1  # post_type; 2 moderator action, 3 small action, 4 whisper
#: Topics read ahead of the one yielded, per thread of the pool.
_AHEAD = 4
#: List pages in a row with no topic new to the walk before it gives up.
_STALLED = 3
_OPTIONS: dict[str, type] = {
    "api_username": str,
    "per_page": int,
    "category_tags": bool,
    "post_score": bool,
    "include_restricted": bool,
}


#: What reading one listed topic gave: its records, its problems, and False when it was
#: skipped as unmappable (the pass then saw less than the whole forum).
_Read = tuple[list[ContributionRecord], list[str], bool]


class _Unmappable(Exception):
    """An item lacks what a contribution needs; the message says what."""


@dataclass(frozen=True, slots=True)
class _Options:
    api_username: str = "system"
    per_page: int | None = None
    category_tags: bool = True
    post_score: bool = False
    include_restricted: bool = False

    @classmethod
    def parse(cls, source: SourceConfig) -> _Options:
        for key, value in source.options.items():
            wanted = _OPTIONS.get(key)
            if wanted is None:
                raise option_error(
                    source, key, f"not a discourse option (known: {', '.join(_OPTIONS)})")
            if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
                raise option_error(source, key, f"must be a {wanted.__name__}")
        # Staff API users see staff-only categories: only internal audiences may get them.
        default = {"include_restricted": source.audience == "internal"}
        options = cls(**{**default, **source.options})
        if not options.api_username.strip():
            raise option_error(source, "api_username", "must not be empty")
        if options.per_page is not None and not 1 <= options.per_page <= 100:
            raise option_error(source, "per_page", "must be 1 to 100")
        return options


@dataclass(frozen=True, slots=True)
class _Listed:
    """A topic as `/latest.json` lists it."""

    id: int
    bumped_at: datetime
    pinned: bool
    posts_count: int
    category_id: int | None


@dataclass(frozen=True, slots=True)
class _Site:
    """Category id -> tag names (parent's first; Uncategorized gives none), and the
    categories a run may read (None: all of them)."""

    tags: dict[int, list[str]]
    readable: frozenset[int] | None


@dataclass(frozen=True, slots=True)
class _Walk:
    """How far a walk of the list got: the page to list next and the changed topics
    listed before it."""

    page: int = 0
    found: tuple[_Listed, ...] = ()

    @classmethod
    def parse(cls, raw: Any) -> _Walk:
        found = []
        for topic_id, bumped, category in raw.get("found") or ():
            when = _parse_time(bumped)
            if when is None:
                raise ValueError(f"walk.found bumped_at {bumped!r} is not a time")
            category = int(category) if category is not None else None
            found.append(_Listed(int(topic_id), when, False, 0, category))
        return cls(int(raw["page"]), tuple(found))

    def dump(self) -> dict[str, Any]:
        found = [[t.id, t.bumped_at.isoformat(), t.category_id] for t in self.found]
        return {"page": self.page, "found": found}


@dataclass(frozen=True, slots=True)
class _Cursor:
    bumped_at: datetime | None = None
    topic_ids: tuple[int, ...] = ()
    walk: _Walk | None = None

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        return load_cursor(text, cls._parse, cls(), kind="a Discourse", afresh="the forum")

    @classmethod
    def _parse(cls, raw: Any) -> _Cursor:
        bumped = raw.get("bumped_at")
        when = _parse_time(bumped)
        if bumped and when is None:
            raise ValueError(f"bumped_at {bumped!r} is not a time")
        walk = _Walk.parse(raw["walk"]) if raw.get("walk") else None
        return cls(when, tuple(int(i) for i in raw.get("topic_ids") or ()), walk)

    def dump(self) -> str:
        bumped = self.bumped_at.isoformat() if self.bumped_at else None
        raw: dict[str, Any] = {"bumped_at": bumped, "topic_ids": list(self.topic_ids)}
        if self.walk is not None:
            raw["walk"] = self.walk.dump()
        return json.dumps(raw)

    def is_new(self, topic: _Listed) -> bool:
        if self.bumped_at is None or topic.bumped_at > self.bumped_at:
            return True
        return topic.bumped_at == self.bumped_at and topic.id not in self.topic_ids

    def is_behind(self, topic: _Listed) -> bool:
        """Whether the list has gone past the cursor (pinned topics lead out of order)."""
        return self.bumped_at is not None and not topic.pinned and topic.bumped_at < self.bumped_at

    def after(self, topic: _Listed) -> _Cursor:
        if topic.bumped_at == self.bumped_at:
            return replace(self, topic_ids=(*self.topic_ids, topic.id), walk=None)
        return _Cursor(topic.bumped_at, (topic.id,))


class _DiscourseApi:
    """Knows Discourse's URLs and headers; returns each answer's JSON object."""

    def __init__(self, base: str, client: HttpClient, headers: Mapping[str, str]) -> None:
        self.base = base
        self.client = client
        self.headers = dict(headers)

    def latest(self, page: int, per_page: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"order": "activity", "no_definitions": "true", "page": page}
        if per_page:
            params["per_page"] = per_page
        return self._get("/latest.json", params)

    def topic(self, topic_id: int) -> dict[str, Any]:
        return self._get(f"/t/{topic_id}.json")

    def posts(self, topic_id: int, post_ids: list[int]) -> dict[str, Any]:
        return self._get(f"/t/{topic_id}/posts.json", {"post_ids[]": post_ids})

    def site(self) -> dict[str, Any]:
        return self._get("/site.json")

    def user(self, username: str) -> dict[str, Any]:
        return self._get(f"/u/{quote(username)}.json")

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        # A body that is not JSON is retried by the client; a forum that requires login
        # answers HTML every time, and the client's message says so.
        data, _ = self.client.get_json(self.base + path, params=params, headers=self.headers)
        if not isinstance(data, dict):
            raise ConnectorError(f"GET {path}: expected a JSON object, got {type(data).__name__}")
        return data


class DiscourseConnector:
    """Reads one Discourse forum; `pages(cursor)` yields the posts of bumped topics.

    `source.url` is the forum's base URL. `credentials` is an API key, sent as `Api-Key`
    with `Api-Username` = `options.api_username` ("system" by default); without one the
    forum is read anonymously. `client` defaults to a fresh `HttpClient`. Other options:
    `per_page` (topics per list page, 1-100; Discourse's default otherwise),
    `category_tags` (default true), `post_score` (default false), `include_restricted`
    (read categories restricted to groups; default true only for an internal source).
    Raises `ConfigError` naming `options.<key>` for a bad option.
    """

    def __init__(
        self,
        source: SourceConfig,
        client: HttpClient | None = None,
        credentials: str | None = None,
    ) -> None:
        self.source = source
        self.options = _Options.parse(source)
        self.client = client or client_for(source)
        self.base = (source.url or "").rstrip("/")
        headers = {"Accept": "application/json"}
        if credentials:
            headers.update({"Api-Key": credentials, "Api-Username": self.options.api_username})
        self._api = _DiscourseApi(self.base, self.client, headers)
        self._failed_at = 0

    def profiles(self, usernames: Iterable[str]) -> list[AuthorRecord]:
        """The accounts' own profile text (`bio_raw`) and website, as author records (the
        pipeline asks for the accounts a self-claim waits on). An account the forum does
        not know (404) is left out."""
        found = []
        for username in usernames:
            try:
                user = self._api.user(username).get("user")
            except FatalSourceError:
                continue
            if not isinstance(user, dict) or not isinstance(user.get("id"), int):
                continue
            found.append(AuthorRecord(
                id=str(user["id"]), username=str(user.get("username") or username),
                name=str(user.get("name") or "").strip() or None,
                url=f"{self.base}/u/{quote(str(user.get('username') or username))}",
                bio=str(user.get("bio_raw") or "") or None,
                website=str(user.get("website") or "") or None))
        return found

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Yield one page per topic bumped since `cursor`, oldest bump first.

        Yields nothing when no topic changed. Raises `FatalSourceError` when the source has
        no URL or refuses us (401, 403, 404), `ConnectorError` when an answer is not a JSON
        object, the list stops making progress or the cursor is unreadable, and what
        `HttpClient.get_json` raises; a walk that fails first yields an empty page whose
        cursor resumes it.
        """
        if not self.base:
            raise FatalSourceError(f"source {self.source.id!r} has no forum URL")
        state = _Cursor.load(cursor)
        walk = state.walk or _Walk()
        found = {topic.id: topic for topic in walk.found}
        errors: list[str] = []
        try:
            listed = self._changed_topics(state, walk.page, found, errors)
        except ConnectorError:
            # Keep the walk for the next run: it resumes here rather than from the top
            # (nothing to keep when it failed where it started).
            if self._failed_at > walk.page:
                checkpoint = replace(state, walk=_Walk(self._failed_at, tuple(found.values())))
                yield Page([], checkpoint.dump(), errors=errors)
            raise
        resumed, state = state.walk is not None, replace(state, walk=None)
        whole = cursor is None and not errors  # a skipped topic was not seen: no deletions
        if not listed:
            if whole or errors or resumed:
                yield Page([], state.dump(), complete=whole, errors=errors)
            return
        site = self._site()
        total = sum(topic.posts_count for topic in listed)
        for number, (topic, (records, problems, mapped)) in enumerate(
            self._read(listed, site), start=1
        ):
            whole = whole and mapped
            state = state.after(topic)
            if number == 1:
                problems = errors + problems
            yield Page(
                records,
                state.dump(),
                complete=whole and number == len(listed),
                errors=problems,
                total=total,
            )

    def _read(
        self, listed: list[_Listed], site: _Site
    ) -> Iterator[tuple[_Listed, _Read]]:
        """Each of `listed` with what `_topic` read of it, in order, read by up to
        `source.concurrency` threads at once through the one client. The pool reads up to
        `_AHEAD` times that many topics ahead of the one yielded (one topic retried after
        a failure does not stall the other threads); a run stopped there has stored and
        checkpointed only the topics yielded before, and the next run reads the others
        again."""
        width = self.source.concurrency
        if width <= 1:
            yield from ((topic, self._topic(topic, site)) for topic in listed)
            return
        pool = ThreadPoolExecutor(width, thread_name_prefix=f"discourse-{self.source.id}")
        try:
            ahead: deque[tuple[_Listed, Future[_Read]]] = deque()
            waiting = iter(listed)
            for topic in islice(waiting, width * _AHEAD):
                ahead.append((topic, pool.submit(self._topic, topic, site)))
            while ahead:
                topic, reading = ahead.popleft()
                read = reading.result()
                for following in islice(waiting, 1):
                    ahead.append((following, pool.submit(self._topic, following, site)))
                yield topic, read
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _topic(self, topic: _Listed, site: _Site) -> _Read:
        """A listed topic's records, its problems and whether it could be mapped (nothing
        is read from a category this source may not read)."""
        # A category missing from /site.json (lazily loaded) may be restricted too.
        if site.readable is None or topic.category_id in site.readable:
            try:
                return (*self._topic_records(topic.id, site.tags), True)
            except _Unmappable as exc:
                return [], [f"topic {topic.id} skipped: {exc}"], False
        if topic.category_id not in site.tags:
            return [], [
                f"topic {topic.id} left out: its category {topic.category_id} is not in "
                "/site.json and may be restricted (options.include_restricted reads it)"
            ], True
        return [], [], True

    def _changed_topics(
        self, state: _Cursor, page: int, found: dict[int, _Listed], errors: list[str]
    ) -> list[_Listed]:
        """Walk the list from `page`, newest bump first, down to the cursor, adding the
        changed topics to `found` and the list items skipped as malformed to `errors`;
        return `found` oldest bump first. On a `ConnectorError`, `_failed_at` is the page
        to resume at."""
        seen = set(found)
        stalled = 0
        while True:
            self._failed_at = page
            topic_list = self._api.latest(page, self.options.per_page).get("topic_list")
            if not isinstance(topic_list, dict) or not isinstance(topic_list.get("topics"), list):
                raise ConnectorError(f"/latest.json page {page} has no topic_list.topics")
            items = topic_list["topics"]
            behind, new = False, False
            for position, item in enumerate(items, start=1):
                try:
                    topic = _listed(item)
                except _Unmappable as exc:
                    errors.append(f"/latest.json page {page} topic {position} skipped: {exc}")
                    continue
                new = new or topic.id not in seen
                seen.add(topic.id)
                known = found.get(topic.id)
                if state.is_new(topic) and (known is None or topic.bumped_at > known.bumped_at):
                    # A topic bumped during the walk shows up twice: keep its newest bump.
                    found[topic.id] = topic
                behind = behind or state.is_behind(topic)
            if behind or not items or not topic_list.get("more_topics_url"):
                return sorted(found.values(), key=lambda t: (t.bumped_at, t.id))
            # A page of topics already listed: the list shifted down (topics bumped or
            # created at its head: the next page goes on) or the forum ignores paging (every
            # page repeats).
            stalled = 0 if new else stalled + 1
            if stalled >= _STALLED:
                raise ConnectorError(
                    f"/latest.json pages {page - stalled + 1}-{page} list only topics already "
                    "listed: the forum ignores paging, so the run cannot tell where the "
                    "list ends"
                )
            page += 1

    def _site(self) -> _Site:
        """Read the categories: their names as tags, and which not to read."""
        if not self.options.category_tags and self.options.include_restricted:
            return _Site({}, None)
        site = self._api.site()
        rows = {c.get("id"): c for c in site.get("categories") or () if isinstance(c, dict)}
        skip = site.get("uncategorized_category_id")
        tags: dict[int, list[str]] = {}
        readable: set[int] = set()
        for cid, row in rows.items():
            if not isinstance(cid, int):
                continue
            parent = rows.get(row.get("parent_category_id")) or {}
            if not (row.get("read_restricted") or parent.get("read_restricted")):
                readable.add(cid)
            names = [str(c.get("name") or "").strip() for c in (parent, row) if c.get("id") != skip]
            tags[cid] = [n for n in names if n] if self.options.category_tags else []
        return _Site(tags, None if self.options.include_restricted else frozenset(readable))

    def topic_page(self, topic_id: int) -> Page:
        """Read one topic now and return its records as a page with no cursor (so the
        pull cursor stays where it is): a webhook names a topic that changed.

        Raises what `HttpClient.get` raises; a topic in a restricted category that this
        source may not read gives an empty page that says so.
        """
        site = self._site()
        view = self._api.topic(topic_id)
        category = view.get("category_id")
        if site.readable is not None and category not in site.readable:
            return Page([], None, errors=[f"topic {topic_id} left out: restricted category"])
        try:
            records, problems = self._topic_records(topic_id, site.tags, view)
        except _Unmappable as exc:
            return Page([], None, errors=[f"topic {topic_id} skipped: {exc}"])
        return Page(records, None, errors=problems)

    def _topic_records(
        self,
        topic_id: int,
        categories: Mapping[int, list[str]],
        view: dict[str, Any] | None = None,
    ) -> tuple[list[ContributionRecord], list[str]]:
        view = view if view is not None else self._api.topic(topic_id)
        stream = view.get("post_stream")
        if not isinstance(stream, dict) or not isinstance(stream.get("posts"), list):
            raise _Unmappable("its answer has no post_stream.posts")
        posts = {p.get("id"): p for p in stream["posts"] if isinstance(p, dict)}
        missing = [i for i in stream.get("stream") or () if i not in posts]
        # Discourse's own chunk size: what its web client asks for in one request.
        chunk = view.get("chunk_size")
        size = chunk if isinstance(chunk, int) and chunk > 0 else 20
        for start in range(0, len(missing), size):
            more = self._api.posts(topic_id, missing[start : start + size]).get("post_stream")
            for post in (more or {}).get("posts") or ():
                if isinstance(post, dict):
                    posts[post.get("id")] = post
        return _map_topic(
            topic_id, view, list(posts.values()), self.base, categories, self.options.post_score
        )


def _listed(item: Any) -> _Listed:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        raise _Unmappable("it has no topic id")
    bumped = _parse_time(item.get("bumped_at") or item.get("last_posted_at"))
    if bumped is None:
        raise _Unmappable(f"topic {item['id']} has no readable bumped_at")
    category = item.get("category_id")
    return _Listed(
        item["id"],
        bumped,
        bool(item.get("pinned")),
        _count(item.get("posts_count")),
        category if isinstance(category, int) else None,
    )


def _map_topic(
    topic_id: int,
    view: dict[str, Any],
    posts: list[dict[str, Any]],
    base: str,
    categories: Mapping[int, list[str]],
    post_score: bool,
) -> tuple[list[ContributionRecord], list[str]]:
    regular = sorted(
        (
            p
            for p in posts
            if p.get("post_type", _REGULAR) == _REGULAR
            and isinstance(p.get("post_number"), int)
            and not _is_system(p)
        ),
        key=lambda p: p["post_number"],
    )
    ids = {p["post_number"]: str(p["id"]) for p in regular if isinstance(p.get("id"), int)}
    accepted = (view.get("accepted_answer") or {}).get("post_number")
    category = view.get("category_id")
    topic = _Topic(
        id=topic_id,
        title=str(view.get("title") or ""),
        slug=str(view.get("slug") or ""),
        tags=_tags(view.get("tags")) + (categories.get(category, []) if category else []),
        root=ids.get(1),
        ids=ids,
        accepted=accepted if isinstance(accepted, int) else None,
        answers=sum(1 for p in regular if p["post_number"] > 1 and not _is_deleted(p)),
    )
    records: list[ContributionRecord] = []
    errors: list[str] = []
    for post in regular:
        try:
            records.append(_map_post(post, topic, base, post_score))
        except _Unmappable as exc:
            errors.append(f"topic {topic.id} post {post.get('id')} skipped: {exc}")
    return records, errors


@dataclass(frozen=True, slots=True)
class _Topic:
    id: int
    title: str
    slug: str
    tags: list[str]
    root: str | None
    ids: dict[int, str]
    accepted: int | None
    answers: int


def _map_post(
    post: dict[str, Any], topic: _Topic, base: str, post_score: bool
) -> ContributionRecord:
    if not isinstance(post.get("id"), int):
        raise _Unmappable("it has no id")
    created = _parse_time(post.get("created_at"))
    if created is None:
        raise _Unmappable("it has no readable created_at")
    number = post["post_number"]
    first = number == 1
    # The API reference types reply_to_post_number as a string; Discourse sends an integer.
    reply_to = post.get("reply_to_post_number")
    target = topic.ids.get(int(str(reply_to))) if str(reply_to).isdigit() else None
    parent = None if first else target or topic.root
    if first:
        kind = ContributionKind.QUESTION
    elif target is not None and target != topic.root:
        kind = ContributionKind.REPLY
    else:
        kind = ContributionKind.ANSWER
    score = post.get("score") if post_score else 0
    return ContributionRecord(
        id=str(post["id"]),
        kind=kind,
        author=_author(post, base),
        created=created,
        updated=_parse_time(post.get("updated_at")) or created,
        title=topic.title if first else "",
        text=_post_text(str(post.get("cooked") or "")),
        url=f"{base}/t/{post.get('topic_slug') or topic.slug}/{topic.id}/{number}",
        thread=topic.root,
        parent=parent,
        tags=list(dict.fromkeys(topic.tags)) if first else [],
        score=round(score) if isinstance(score, int | float) else 0,
        likes=_likes(post),
        accepted=not first and (post.get("accepted_answer") is True or number == topic.accepted),
        replies=topic.answers if first else _count(post.get("reply_count")),
        deleted=_is_deleted(post),
    )


def _author(post: Mapping[str, Any], base: str) -> AuthorRecord:
    username = str(post.get("username") or "").strip() or None
    user_id = post.get("user_id")
    if username is None and not isinstance(user_id, int):
        raise _Unmappable("it names no author")
    name = str(post.get("name") or "").strip() or None
    return AuthorRecord(
        id=str(user_id) if isinstance(user_id, int) else str(username),
        username=username,
        name=name,
        url=f"{base}/u/{quote(username)}" if username else None,
    )


def _likes(post: Mapping[str, Any]) -> int:
    for action in post.get("actions_summary") or ():
        if isinstance(action, dict) and action.get("id") == _LIKE:
            return _count(action.get("count"))
    return 0


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _is_system(post: Mapping[str, Any]) -> bool:
    user_id = post.get("user_id")
    return isinstance(user_id, int) and user_id < 0


def _is_deleted(post: Mapping[str, Any]) -> bool:
    return bool(post.get("deleted_at") or post.get("user_deleted"))


def _tags(value: Any) -> list[str]:
    # Discourse lists tags as names, newer versions as {"id", "name", "slug"} objects.
    names = [t.get("name") if isinstance(t, dict) else t for t in value or ()]
    return [n.strip() for n in names if isinstance(n, str) and n.strip()]


def _post_text(cooked: str) -> str:
    # A quote is another post's words: counting them would credit the one who quoted.
    return html_to_text(cooked, skip=_QUOTES)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
