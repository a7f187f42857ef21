"""The GitHub Discussions connector: one repository's discussions, read through GitHub's
GraphQL API (`POST /graphql`, or a GitHub Enterprise Server's `/api/graphql`).

A run walks `repository.discussions(orderBy: {field: UPDATED_AT, direction: DESC})`, a list
page of `per_page` discussions a request, each with its first `_NESTED` comments and their
first `_NESTED` replies; comments and replies past those are read through `node(id:)` with
their own `pageInfo.endCursor`. The walk stops at the first discussion not updated since the
cursor (a new or edited comment or reply bumps its discussion's `updatedAt`). One `Page` per
list page, newest first: the walk is resumable instead of oldest-first, because the list
cannot be asked for "updated since". A run from no cursor that walks the whole list ends
`complete`: the pipeline flags what it did not see.

The cursor is a JSON object:

    {"updated_at": "2024-05-02T14:03:18+00:00",   newest `updatedAt` a finished walk read
     "ids": ["D_kwDOA"],                          discussions read with exactly that time
     "walk": {"after": "Y3Vyc29yOjI1",            only while a walk is under way: the list
              "top": "2024-06-01T09:00:00+00:00", page to go on after, and the newest
              "top_ids": ["D_kwDOB"]}}            discussions it met (the next cursor)

A discussion updated while a walk runs moves to the head of the list, above `top`: the next
run reads it. A killed run resumes its walk from `after` (a page read twice updates in
place). A list page that repeats its `endCursor` `_STALLED` times ends the run.

Mapping: a discussion is a question (id its node id, thread itself; category and labels
as tags); a top-level comment an answer (`accepted` = `isAnswer`); a reply a reply whose
parent is its comment. Likes are `upvoteCount` plus the positive reactions (👍 ❤️ 🎉 🚀);
someone who upvotes and reacts counts twice (the API counts, it does not say who). Text is
`bodyText`. A comment with `deletedAt` is deleted. An author whose account is gone
(`author: null`) is GitHub's `ghost`.

Auth: a token sent as a bearer (a personal access token, or an installation token minted
elsewhere), or, with `options.app_id` and `options.installation_id`, the GitHub App's
private key: installation tokens are then minted and refreshed here (github.py), and a 401
on a token thought live mints another, once.

Rate limits: every query asks `rateLimit { remaining resetAt }`; when it reaches 0 (or the
`X-RateLimit-Remaining` header does) the run waits until `resetAt`, or stops with a
`ConnectorError` when that is more than the client's `max_retry_after` away (the next run
resumes the walk). The secondary limit (403 or 429 with `Retry-After`, or a 403 with
`X-RateLimit-Remaining: 0` naming `X-RateLimit-Reset`) is waited out by the shared client.

Known limits: an edited comment or reply is taken to bump its discussion as a new one does
(the local test server does so); one that does not arrives with the next change or the next
full run. A discussion deleted (or moved to another repository) vanishes from the list,
so only a full run flags it, with its comments; so does a comment deleted without leaving a
`deletedAt` placeholder. Upvotes, reactions and a newly chosen answer are not counted on to
bump `updatedAt` (not checked against GitHub): they are sure to arrive only with the
discussion's next change or the next full run.

Why plain requests through `HttpClient` and not a GraphQL client (gql): the API is one
POST endpoint and three fixed queries, so a client library would add only its transport,
and that transport would bring its own retries; ours holds the retry, throttle and budget
policy every connector shares.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from service.config import ConfigError, SourceConfig
from service.connectors.base import (
    ConnectorError,
    FatalSourceError,
    Page,
    known_options,
    load_cursor,
    option_error,
    whole_number,
)
from service.connectors.github import InstallationAuth, app_auth, parse_time, secondary_limit
from service.connectors.http import HttpClient, client_for, credentials_headers
from service.model import AuthorRecord, ContributionKind, ContributionRecord

__all__ = ["GitHubDiscussionsConnector"]

#: the options and their defaults (`app_id` and `installation_id`: service/connectors/github.py)
_DEFAULTS: dict[str, Any] = {"repository": None, "per_page": 25, "app_id": None,
                             "installation_id": None}
_NESTED = 50  # comments per discussion, replies per comment, in one query
_STALLED = 5  # list answers in a row that repeat the last page (a cache) before giving up
_POSITIVE = frozenset({"THUMBS_UP", "HEART", "HOORAY", "ROCKET"})
_RESUMES = "the next run resumes the walk"

_POST = """author { login url ... on User { databaseId name } ... on Bot { databaseId } }
bodyText url createdAt updatedAt upvoteCount
reactionGroups { content reactors { totalCount } }"""
_PAGED = "totalCount pageInfo { hasNextPage endCursor }"


@dataclass(frozen=True, slots=True)
class _Queries:
    """The three queries, `nested` comments (and replies per comment) a page."""

    listing: str
    comments: str
    replies: str

    @classmethod
    def build(cls, nested: int) -> _Queries:
        reply = f"nodes {{ id deletedAt {_POST} }}"
        comment = f"id isAnswer deletedAt {_POST} replies(first: {nested}) {{ {_PAGED} {reply} }}"

        def comments(after: str) -> str:
            return f"comments(first: {nested}{after}) {{ {_PAGED} nodes {{ {comment} }} }}"

        limit = "rateLimit { remaining resetAt }"
        listing = f"""query($owner: String!, $name: String!, $first: Int!, $after: String) {{
  {limit}
  repository(owner: $owner, name: $name) {{
    discussions(first: $first, after: $after, orderBy: {{field: UPDATED_AT, direction: DESC}}) {{
      {_PAGED}
      nodes {{ id number title {_POST} category {{ name }} labels(first: 20) {{ nodes {{ name }} }}
        {comments("")} }} }} }} }}"""
        by_node = "query($id: ID!, $after: String) {{ {limit} node(id: $id) {{ ... on {on} }} }}"
        return cls(
            listing,
            by_node.format(limit=limit, on=f"Discussion {{ {comments(', after: $after')} }}"),
            by_node.format(
                limit=limit,
                on=f"DiscussionComment {{ replies(first: {nested}, after: $after) "
                f"{{ {_PAGED} {reply} }} }}",
            ),
        )


Item = dict[str, Any]


class _Unmappable(Exception):
    """An item lacks what a contribution needs; the message says what."""


@dataclass(frozen=True, slots=True)
class _Settings:
    url: str
    owner: str
    name: str
    per_page: int


def _settings(source: SourceConfig) -> _Settings:
    """Validate `source.options`; raise `ConfigError` naming the key."""
    where = f"source {source.id!r}"
    values = known_options(source, _DEFAULTS)
    repository = values["repository"]
    parts = repository.split("/") if isinstance(repository, str) else []
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise option_error(source, "repository",
                           'required, as "owner/name" (e.g. "octo-org/octo-repo")')
    per_page = whole_number(source, values, "per_page", 1, 100)
    if not source.url:
        raise ConfigError(
            f"{where}: url: required (the GraphQL endpoint: https://api.github.com/graphql, "
            "or https://<host>/api/graphql on GitHub Enterprise Server)"
        )
    return _Settings(source.url.rstrip("/"), parts[0].strip(), parts[1].strip(), per_page)


@dataclass(frozen=True, slots=True)
class _Mark:
    """A point in update time: the newest `updatedAt` and the discussions at exactly it."""

    at: datetime | None = None
    ids: frozenset[str] = frozenset()

    def is_new(self, at: datetime, discussion_id: str) -> bool:
        if self.at is None or at > self.at:
            return True
        return at == self.at and discussion_id not in self.ids

    def with_item(self, at: datetime, discussion_id: str) -> _Mark:
        if self.at is None or at > self.at:
            return _Mark(at, frozenset({discussion_id}))
        if at == self.at:
            return _Mark(at, self.ids | {discussion_id})
        return self

    def dump(self) -> tuple[str | None, list[str]]:
        return (self.at.isoformat() if self.at else None), sorted(self.ids)


@dataclass(frozen=True, slots=True)
class _Cursor:
    done: _Mark = _Mark()
    #: While a walk is under way: the list cursor to go on after and the newest it met.
    after: str | None = None
    top: _Mark | None = None

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        return load_cursor(
            text, cls._parse, cls(), kind="a GitHub Discussions", afresh="the repository"
        )

    @classmethod
    def _parse(cls, raw: Any) -> _Cursor:
        done = _mark(raw.get("updated_at"), raw.get("ids"))
        walk = raw.get("walk")
        if not walk:
            return cls(done)
        return cls(done, str(walk["after"]), _mark(walk.get("top"), walk.get("top_ids")))

    def dump(self) -> str:
        at, ids = self.done.dump()
        raw: dict[str, Any] = {"updated_at": at, "ids": ids}
        if self.after is not None and self.top is not None:
            top, top_ids = self.top.dump()
            raw["walk"] = {"after": self.after, "top": top, "top_ids": top_ids}
        return json.dumps(raw)


def _mark(at: Any, ids: Any) -> _Mark:
    when = parse_time(at) if at is not None else None
    if at is not None and when is None:
        raise ValueError(f"{at!r} is not a time")
    return _Mark(when, frozenset(str(i) for i in ids or ()))


class GitHubDiscussionsConnector:
    """Reads one repository's discussions; `pages(cursor)` yields the discussions updated
    since `cursor`, a list page each, with all their comments and replies.

    `source.url` is the GraphQL endpoint (`https://api.github.com/graphql`);
    `options.repository` is "owner/name", `options.per_page` the discussions per list page
    (1-100, default 25). With `options.app_id` and `options.installation_id`, `credentials`
    is the GitHub App's private key (PEM) and the connector mints installation tokens
    itself (service/connectors/github.py); without them, a token sent as a bearer (a
    personal access token, or an installation token minted elsewhere). `client` defaults to
    a fresh `HttpClient`; `sleep` waits out a spent primary rate limit; `clock` judges
    rate-limit resets and token expiry. Raises `ConfigError` naming the bad option, or
    `credentials_env` for an unreadable App key.
    """

    def __init__(
        self,
        source: SourceConfig,
        client: HttpClient | None = None,
        credentials: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        nested: int = _NESTED,
    ) -> None:
        self.source = source
        self.client = client or client_for(source)
        self._settings = _settings(source)
        self.app: InstallationAuth | None = app_auth(source, credentials, self.client, clock)
        self._headers = {"Accept": "application/json"}
        if self.app is None:
            self._headers.update(credentials_headers(credentials))
        if not 1 <= nested <= 100:
            raise ValueError("nested must be between 1 and 100")
        self._queries = _Queries.build(nested)
        self._sleep = sleep
        self._clock = clock
        self._reset: datetime | None = None  # when a spent primary limit comes back

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Yield one page per list page that holds discussions updated since `cursor`.

        Raises `FatalSourceError` for a refused token (401, 403) or a repository the API
        does not resolve, `ConnectorError` for an answer that is not the API's, GraphQL
        errors, a list that stops moving, a rate limit that resets too late or an
        unreadable cursor, and what `HttpClient.post_json` raises.
        """
        state = _Cursor.load(cursor)
        top = state.top or _Mark()
        after, stalled = state.after, 0
        whole = cursor is None  # a skipped discussion was not seen: no deletions
        while True:
            variables = {
                "owner": self._settings.owner,
                "name": self._settings.name,
                "first": self._settings.per_page,
                "after": after,
            }
            data = self._query(self._queries.listing, variables)
            listing = (data.get("repository") or {}).get("discussions")
            if not isinstance(listing, dict) or not isinstance(listing.get("nodes"), list):
                raise FatalSourceError(
                    f"{self._settings.owner}/{self._settings.name}: no such repository, or "
                    "its discussions are off or hidden from this token"
                )
            records, errors, behind = [], [], False
            for position, node in enumerate(listing["nodes"], start=1):
                at = parse_time(node.get("updatedAt")) if isinstance(node, dict) else None
                if at is None or not isinstance(node.get("id"), str):
                    errors.append(f"list item {position} skipped: no id or updatedAt")
                    continue
                if not state.done.is_new(at, node["id"]):
                    behind = behind or (state.done.at is not None and at < state.done.at)
                    continue
                top = top.with_item(at, node["id"])
                try:
                    records += self._discussion(node)
                except _Unmappable as exc:
                    errors.append(f"discussion {node.get('number')} skipped: {exc}")
            whole = whole and not errors
            info = listing.get("pageInfo") or {}
            end = info.get("endCursor")
            last = behind or not info.get("hasNextPage") or not end
            if last:
                done = top if top.at is not None else state.done
                yield Page(
                    records,
                    _Cursor(done).dump(),
                    complete=whole,
                    errors=errors,
                )
                return
            stalled = stalled + 1 if end == after else 0
            if stalled >= _STALLED:
                raise ConnectorError(
                    f"discussions: the list answered the same page {stalled} times in a "
                    f"row after {after!r}; {_RESUMES}"
                )
            after = end
            yield Page(
                records,
                _Cursor(state.done, after, top).dump(),
                errors=errors,
            )

    def _discussion(self, node: Item) -> list[ContributionRecord]:
        """The records of one listed discussion, reading its further comments and
        replies."""
        comments = self._all(node.get("comments"), self._queries.comments, node["id"], "comments")
        replies = {
            c["id"]: self._all(c.get("replies"), self._queries.replies, c["id"], "replies")
            for c in comments
        }
        return _map_discussion(node, comments, replies)

    def _all(self, connection: Any, query: str, node_id: str, field: str) -> list[Item]:
        """Every node of a nested connection: its first page, then the rest by `node(id)`."""
        if not isinstance(connection, dict):
            raise _Unmappable(f"it has no {field}")
        nodes = list(connection.get("nodes") or ())
        info = connection.get("pageInfo") or {}
        while info.get("hasNextPage") and info.get("endCursor"):
            more = (
                self._query(query, {"id": node_id, "after": info["endCursor"]}).get("node") or {}
            ).get(field)
            if not isinstance(more, dict):
                raise _Unmappable(f"{field} of {node_id} vanished while read")
            nodes += more.get("nodes") or ()
            info = more.get("pageInfo") or {}
        seen: dict[str, Item] = {}
        for item in nodes:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                seen.setdefault(item["id"], item)
        return list(seen.values())

    def _query(self, query: str, variables: Mapping[str, Any]) -> Item:
        """POST one query; return its `data`. Waits out a spent primary rate limit."""
        if self._reset is not None:
            wait = (self._reset - self._clock()).total_seconds()
            self._reset = None
            if wait > self.client.max_retry_after:
                raise ConnectorError(
                    f"the GitHub rate limit is spent until {self._clock().isoformat()} + "
                    f"{wait:.0f} s, more than the {self.client.max_retry_after:.0f} s "
                    f"allowed; {_RESUMES} after it resets"
                )
            if wait > 0:
                self._sleep(wait)
        answer, response = self._post({"query": query, "variables": dict(variables)})
        if not isinstance(answer, dict):
            raise ConnectorError("the GraphQL answer is not a JSON object")
        errors = answer.get("errors") or []
        data = answer.get("data")
        if errors:
            first = errors[0] if isinstance(errors[0], dict) else {}
            message = f"GraphQL {first.get('type') or 'error'}: {first.get('message')}"
            if first.get("type") in ("NOT_FOUND", "FORBIDDEN"):
                raise FatalSourceError(message)
            if not isinstance(data, dict) or first.get("type") == "RATE_LIMITED":
                raise ConnectorError(f"{message}; {_RESUMES}")
        if not isinstance(data, dict):
            raise ConnectorError("the GraphQL answer has no data")
        self._note_limit(data.get("rateLimit"), response)
        return data

    def _post(self, body: Item) -> tuple[Any, requests.Response]:
        """POST to the endpoint with the token; with App auth, a 401 on a token still
        thought live (revoked, or the clocks disagree) mints another, once."""
        try:
            return self._send(body)
        except FatalSourceError as exc:
            if self.app is None or exc.status != 401:
                raise
            self.app.expire()
            return self._send(body)

    def _send(self, body: Item) -> tuple[Any, requests.Response]:
        headers = self._headers if self.app is None else {**self._headers, **self.app.headers()}
        return self.client.post_json(
            self._settings.url, body, headers=headers, throttled=secondary_limit
        )

    def _note_limit(self, limit: Any, response: requests.Response) -> None:
        remaining = (limit or {}).get("remaining") if isinstance(limit, dict) else None
        if remaining is None:
            remaining = _int(response.headers.get("X-RateLimit-Remaining"), None)
        if remaining is None or remaining > 0:
            return
        reset = parse_time((limit or {}).get("resetAt")) if isinstance(limit, dict) else None
        epoch = _int(response.headers.get("X-RateLimit-Reset"), None)
        if reset is None and epoch is not None:
            reset = datetime.fromtimestamp(epoch, UTC)
        self._reset = reset or self._clock()


def _map_discussion(
    node: Item, comments: list[Item], replies: Mapping[str, list[Item]]
) -> list[ContributionRecord]:
    tags = [str((node.get("category") or {}).get("name") or "")]
    tags += [str(n.get("name") or "") for n in (node.get("labels") or {}).get("nodes") or ()]
    question = _record(node, ContributionKind.QUESTION, node["id"], None)
    question.title = str(node.get("title") or "")
    question.tags = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
    question.replies = sum(1 for c in comments if not c.get("deletedAt"))
    records = [question]
    for comment in comments:
        answer = _record(comment, ContributionKind.ANSWER, node["id"], node["id"])
        answer.accepted = comment.get("isAnswer") is True
        below = replies[comment["id"]]
        answer.replies = sum(1 for r in below if not r.get("deletedAt"))
        records.append(answer)
        records += [_record(r, ContributionKind.REPLY, node["id"], comment["id"]) for r in below]
    return records


def _record(
    item: Item, kind: ContributionKind, thread: str, parent: str | None
) -> ContributionRecord:
    created = parse_time(item.get("createdAt"))
    if created is None:
        raise _Unmappable(f"{item.get('id')} has no readable createdAt")
    return ContributionRecord(
        id=str(item["id"]),
        kind=kind,
        author=_author(item.get("author")),
        created=created,
        updated=parse_time(item.get("updatedAt")) or created,
        text=str(item.get("bodyText") or ""),
        url=item.get("url") if isinstance(item.get("url"), str) else None,
        thread=thread,
        parent=parent,
        likes=_int(item.get("upvoteCount")) + _reactions(item),
        deleted=bool(item.get("deletedAt")),
    )


def _author(author: Any) -> AuthorRecord:
    if not isinstance(author, dict) or not author.get("login"):
        # GitHub shows a deleted account's posts as its placeholder user.
        return AuthorRecord(id="ghost", username="ghost", url="https://github.com/ghost")
    login = str(author["login"])
    database_id = author.get("databaseId")
    return AuthorRecord(
        id=str(database_id) if isinstance(database_id, int) else login,
        username=login,
        name=str(author.get("name") or "").strip() or None,
        url=author.get("url") if isinstance(author.get("url"), str) else None,
    )


def _reactions(item: Item) -> int:
    return sum(
        _int((group.get("reactors") or {}).get("totalCount"))
        for group in item.get("reactionGroups") or ()
        if isinstance(group, dict) and group.get("content") in _POSITIVE
    )


def _int(value: Any, default: Any = 0) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return default
