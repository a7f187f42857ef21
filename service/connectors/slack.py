"""The Slack connector: questions asked in Q&A channels and the replies that answer them.

A run calls `auth.test` (the workspace URL, for permalinks; a bad token fails here),
`users.list` (names and e-mails; needs `users:read.email`) and `conversations.list`
(channel names to ids), then for each configured channel `conversations.history` from the
channel's window (below) to now, and `conversations.replies` for every thread in it. All
four lists are paged by `response_metadata.next_cursor`. One `Page` per top-level message,
oldest first, its cursor the position after it.

The cursor is a JSON object, one entry per channel id:

    {"C0Q0A0001": {"ts": "1714650071.220009",        newest top-level message emitted
                   "threads": {"1714640071.220009":  each thread of the window: its
                               ["1714641200.000400", [  last activity, its messages
                                 ["1714640071.220009", "U01ASKER"], ...]]}}}

The window is what a run reads again: threads whose last activity lies within
`window_days` (default 30) of the newest message seen. A run re-reads every thread of it
(so edits, reactions and new replies to those threads are picked up, however old the
question) and emits a deleted record for a message of the window that is gone. A run killed
mid-way resumes at its last stored thread; what it reads again updates in place.

Mapping: a top-level message is a question (title: its first line; tags: the channel
name), a reply by someone else an answer, the asker's own reply a reply to the question.
The accepted answer is the first reply the asker reacted to with `accepted_reaction`
(default "white_check_mark"), else, with `thanks` (default true), the last answer before
the asker's first reply saying thanks or solved. Likes are the people who reacted to a
message in any other way, its author left out. `edited.ts` is the update time. A question
deleted under its answers (a tombstone) and a message gone from the window are emitted
deleted (with the author the cursor noted and no text); a tombstone never seen alive is
left out, its answers kept. Bots, joins and other subtypes are left out. Ids are
`<channel>:<ts>` (a ts is unique per channel).

Errors: Slack answers most failures HTTP 200 with `"ok": false`. `invalid_auth`,
`not_authed`, `token_revoked`, `missing_scope` and the like are fatal; `not_in_channel` and
`channel_not_found` skip the channel with an error (invite the bot); any other `error` ends
the run as a `ConnectorError` (the next run resumes). Throttles come as HTTP 429 with
`Retry-After`, which the shared client waits out (per-method tiers are Slack's concern: one
run sends one request at a time). A list page served again is taken once; the walk gives up
after `_STALLED` pages in a row that name a cursor already followed.

Why not slack_sdk: its `WebClient` sends through urllib and retries with handlers of its
own (connection errors by default; 429 and 5xx handlers opt-in) that sleep inside the
client: a second retry policy beside `HttpClient`, without its request budget, its counts
of requests and retries, its cap on `Retry-After` or its retry of a 2xx body that is not
JSON, and one more dependency. Its cursor iterator is the few lines of `_SlackApi.paged`.

Known limits: a thread quiet for longer than `window_days` that then gets a reply is missed
until a full run (Slack's Web API has no "changed since" listing for a bot token); so are
edits and reactions older than the window. Reactions' `users` lists are capped by Slack, so
likes of a much-liked message are undercounted. "Thanks" is a heuristic ("thanks, but it
still fails" accepts too; `thanks = false` turns it off). A 200 `ratelimited` body (not
429) ends the run rather than waiting. Every run reads all of `users.list` (Tier 2, about
20 pages a minute: a workspace of 10,000 people costs some 50 requests a run).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from service.config import SourceConfig
from service.connectors.base import (
    ConnectorError,
    FatalSourceError,
    Page,
    load_cursor,
    option_error,
)
from service.connectors.http import HttpClient, client_for, credentials_headers
from service.model import AuthorRecord, ContributionKind, ContributionRecord

__all__ = ["SlackConnector"]

_FATAL = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
    "missing_scope", "no_permission", "not_allowed_token_type", "ekm_access_denied",
})
_SKIP_CHANNEL = frozenset({"not_in_channel", "channel_not_found"})
#: Message subtypes that are someone's words (None: a plain message).
_KEPT_SUBTYPES = frozenset({None, "thread_broadcast", "file_share", "me_message"})
_THANKS = re.compile(r"\b(thanks|thank you|thx|solved|that worked|works now)\b", re.I)
_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<([^>|@#!][^>|]*)(?:\|([^>]*))?>")
_STALLED = 3
_DAY = 86400.0
_OPTIONS: dict[str, type] = {
    "channels": list,
    "accepted_reaction": str,
    "thanks": bool,
    "window_days": int,
    "page_size": int,
}


@dataclass(frozen=True, slots=True)
class _Options:
    channels: tuple[str, ...]
    accepted_reaction: str = "white_check_mark"
    thanks: bool = True
    window_days: int = 30
    page_size: int = 200

    @classmethod
    def parse(cls, source: SourceConfig) -> _Options:
        for key, value in source.options.items():
            wanted = _OPTIONS.get(key)
            if wanted is None:
                raise option_error(
                    source, key, f"not a slack option (known: {', '.join(_OPTIONS)})")
            if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
                raise option_error(source, key, f"must be a {wanted.__name__}")
        channels = source.options.get("channels")
        if not channels or not all(isinstance(c, str) and c.strip("# ") for c in channels):
            raise option_error(source, "channels", "a list of channel names or ids is required")
        options = cls(**{**source.options, "channels": tuple(c.strip("# ") for c in channels)})
        if not options.accepted_reaction.strip(": "):
            raise option_error(
                source, "accepted_reaction", "must name a reaction, e.g. white_check_mark")
        if not 1 <= options.window_days <= 3650:
            raise option_error(source, "window_days", "must be 1 to 3650")
        if not 1 <= options.page_size <= 999:
            raise option_error(source, "page_size", "must be 1 to 999")
        return options


@dataclass(slots=True)
class _Channel:
    """One channel's part of the cursor."""

    ts: str | None = None
    #: thread ts -> (last activity ts, [(message ts, user id), ...])
    threads: dict[str, tuple[str, list[tuple[str, str]]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> _Channel:
        threads = {
            str(ts): (str(last), [(str(m), str(u)) for m, u in messages])
            for ts, (last, messages) in raw.get("threads", {}).items()
        }
        ts = raw.get("ts")
        float(ts or 0)  # a ts is a number in a string
        return cls(str(ts) if ts else None, threads)

    def dump(self) -> dict[str, Any]:
        threads = {ts: [last, [list(m) for m in ms]] for ts, (last, ms) in self.threads.items()}
        return {"ts": self.ts, "threads": threads}

    def oldest(self) -> str:
        """The `oldest` a history walk starts after: just before the window's oldest
        thread or the newest message (0 when nothing was seen)."""
        if self.ts is None:
            return "0"
        # Decimal: a ts has 16 digits, at the edge of a float's precision
        start = min(Decimal(ts) for ts in [self.ts, *self.threads]) - Decimal("0.000001")
        return str(max(start, Decimal(0)))


def _load_cursor(text: str | None) -> dict[str, _Channel]:
    def parse(raw: Any) -> dict[str, _Channel]:
        return {str(cid): _Channel.parse(part) for cid, part in raw.items()}

    return load_cursor(text, parse, {}, kind="a Slack", afresh="the channels")


def _dump_cursor(channels: Mapping[str, _Channel]) -> str:
    return json.dumps({cid: part.dump() for cid, part in channels.items()}, sort_keys=True)


class SlackError(ConnectorError):
    """Slack answered `"ok": false`; `code` is its `error`."""

    def __init__(self, method: str, code: str) -> None:
        super().__init__(f"{method}: Slack says {code}")
        self.code = code


class _SlackApi:
    """Knows Slack's Web API methods and its `ok`/`error` envelope."""

    def __init__(self, base: str, client: HttpClient, headers: Mapping[str, str]) -> None:
        self.base = base
        self.client = client
        self.headers = dict(headers)

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data, _ = self.client.get_json(
            f"{self.base}/{method}", params=params, headers=self.headers
        )
        if not isinstance(data, dict):
            raise ConnectorError(f"{method}: expected a JSON object, got {type(data).__name__}")
        if data.get("ok") is not True:
            code = str(data.get("error") or "no error given")
            if code in _FATAL:
                raise FatalSourceError(f"{method}: Slack refuses the token: {code}")
            raise SlackError(method, code)
        return data

    def paged(self, method: str, key: str, params: Mapping[str, Any]) -> Iterator[Any]:
        """Yield the items under `key` of every page, following `next_cursor`; a page
        served again (its cursor already followed) brings nothing twice."""
        cursor, followed, stalled = "", set[str](), 0
        while True:
            page = self.call(method, {**params, **({"cursor": cursor} if cursor else {})})
            items = page.get(key)
            if not isinstance(items, list):
                raise ConnectorError(f"{method}: the answer has no {key} list")
            yield from items
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return
            stalled = stalled + 1 if cursor in followed else 0
            if stalled >= _STALLED:
                raise ConnectorError(f"{method}: {_STALLED} pages in a row repeat a cursor")
            followed.add(cursor)


@dataclass(frozen=True, slots=True)
class _Workspace:
    url: str
    people: dict[str, AuthorRecord]
    bots: frozenset[str]


class SlackConnector:
    """Reads configured channels of one Slack workspace; `pages(cursor)` yields threads.

    `source.url` is the Web API base (https://slack.com/api); `credentials` is a bot token
    (xoxb-…) with channels:history, groups:history, channels:read, groups:read, users:read
    and users:read.email. Options: `channels` (names or ids, required),
    `accepted_reaction`, `thanks`, `window_days`, `page_size` (1-999, default 200).
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
        headers = {"Accept": "application/json", **credentials_headers(credentials)}
        self._api = _SlackApi(self.base, self.client, headers)
        self._has_token = bool(credentials)

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Yield one page per top-level message of each channel's window, oldest first.

        Raises `FatalSourceError` with no URL or token or when Slack refuses the token,
        `ConnectorError` for an unreadable cursor, a malformed answer or an `ok: false`
        other than a channel the bot cannot read (that channel is skipped, said in the
        page's errors), and what `HttpClient.get_json` raises.
        """
        if not self.base or not self._has_token:
            raise FatalSourceError(f"source {self.source.id!r} needs a URL and a bot token")
        state = _load_cursor(cursor)
        workspace = self._workspace()
        channels, errors = self._channels()
        whole = cursor is None and not errors
        emitted = False
        for position, (cid, name) in enumerate(channels, start=1):
            part = state.setdefault(cid, _Channel())
            try:
                parents = self._history(cid, part.oldest())
            except SlackError as exc:
                if exc.code not in _SKIP_CHANNEL:
                    raise
                errors.append(f"channel #{name} skipped: {exc.code} (invite the bot to it)")
                whole = False
                continue
            order = sorted({*parents, *part.threads}, key=float)
            for number, ts in enumerate(order, start=1):
                messages = self._thread(cid, parents[ts]) if ts in parents else None
                records = _map_thread(cid, name, messages, workspace, self.options) if (
                    messages) else []
                _, before = part.threads.get(ts, ("", []))
                here = {r.id for r in records}
                gone = [(m, u) for m, u in before if f"{cid}:{m}" not in here]
                records += _vanished(cid, ts, dict(before).get(ts), gone, workspace)
                _remember(part, ts, messages, records, self.options.window_days)
                last = position == len(channels) and number == len(order)
                yield Page(records, _dump_cursor(state), complete=whole and last,
                           errors=errors)
                errors, emitted = [], True
        if not emitted or errors:
            yield Page([], _dump_cursor(state), complete=whole, errors=errors)

    def _workspace(self) -> _Workspace:
        url = str(self._api.call("auth.test").get("url") or "").rstrip("/")
        people: dict[str, AuthorRecord] = {}
        bots: set[str] = set()
        for member in self._api.paged("users.list", "members", {"limit": self.options.page_size}):
            if not isinstance(member, dict) or not member.get("id"):
                continue
            uid = str(member["id"])
            if member.get("is_bot") or uid == "USLACKBOT":
                bots.add(uid)
            profile = member.get("profile") or {}
            people[uid] = AuthorRecord(
                id=uid,
                username=str(profile.get("display_name") or member.get("name") or "") or None,
                name=str(member.get("real_name") or profile.get("real_name") or "") or None,
                email=str(profile.get("email") or "") or None,
                url=f"{url}/team/{uid}" if url else None,
            )
        return _Workspace(url, people, frozenset(bots))

    def _channels(self) -> tuple[list[tuple[str, str]], list[str]]:
        """The configured channels as (id, name), in the configured order, and errors for
        those not found."""
        params = {"types": "public_channel,private_channel", "exclude_archived": "true",
                  "limit": self.options.page_size}
        known: dict[str, tuple[str, str]] = {}
        for channel in self._api.paged("conversations.list", "channels", params):
            if isinstance(channel, dict) and channel.get("id"):
                pair = (str(channel["id"]), str(channel.get("name") or channel["id"]))
                known[pair[0]] = known[pair[1]] = pair
        found, errors = [], []
        for wanted in self.options.channels:
            if wanted in known:
                found.append(known[wanted])
            else:
                errors.append(f"channel {wanted!r} skipped: not found (or archived, or "
                              "private without the bot in it)")
        return list(dict.fromkeys(found)), errors

    def _history(self, cid: str, oldest: str) -> dict[str, dict[str, Any]]:
        """The channel's top-level messages after `oldest`, by ts."""
        params = {"channel": cid, "oldest": oldest, "limit": self.options.page_size}
        parents: dict[str, dict[str, Any]] = {}
        for message in self._api.paged("conversations.history", "messages", params):
            if not isinstance(message, dict) or not isinstance(message.get("ts"), str):
                continue
            ts = message["ts"]
            if message.get("thread_ts", ts) != ts:
                continue  # a reply broadcast to the channel: read with its thread
            # a tombstone keeps its thread: the question deleted under its answers
            if message.get("subtype") in _KEPT_SUBTYPES | {"tombstone"}:
                parents.setdefault(ts, message)
        return parents

    def _thread(self, cid: str, parent: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The thread's messages, parent first; None when it is gone."""
        messages, seen = [parent], {parent["ts"]}
        if not parent.get("reply_count"):
            return messages
        params = {"channel": cid, "ts": parent["ts"], "limit": self.options.page_size}
        try:
            for reply in self._api.paged("conversations.replies", "messages", params):
                if isinstance(reply, dict) and isinstance(reply.get("ts"), str) and (
                        reply["ts"] not in seen):
                    seen.add(reply["ts"])
                    messages.append(reply)
        except SlackError as exc:
            if exc.code != "thread_not_found":
                raise
            return None  # deleted since the history was read
        return messages


def _remember(part: _Channel, ts: str, messages: list[dict[str, Any]] | None,
              records: list[ContributionRecord], window_days: int) -> None:
    """Note the thread `ts` as the cursor keeps it (its messages stored, not deleted), move
    the channel's newest ts and drop the threads that fell out of the window."""
    if messages is None:
        part.threads.pop(ts, None)
    else:
        stamps = [ts, *(str(m["ts"]) for m in messages if isinstance(m.get("ts"), str))]
        kept = [(r.id.split(":", 1)[1], r.author.id) for r in records if not r.deleted]
        part.threads[ts] = (max(stamps, key=float), kept)
    if part.ts is None or float(ts) > float(part.ts):
        part.ts = ts
    edge = float(part.ts) - window_days * _DAY
    for old in [t for t, (last, _) in part.threads.items() if float(last) < edge]:
        del part.threads[old]


def _map_thread(cid: str, name: str, messages: list[dict[str, Any]], workspace: _Workspace,
                options: _Options) -> list[ContributionRecord]:
    parent = messages[0]
    root = f"{cid}:{parent['ts']}"
    asker = str(parent.get("user") or "")
    words = [m for m in messages[1:] if _is_words(m, workspace)]
    accepted = _accepted(asker, words, options)
    answers = sum(1 for m in words if m.get("user") != asker)
    records = []
    if _is_words(parent, workspace):  # a tombstone is Slackbot's
        records.append(_record(parent, cid, root, None, ContributionKind.QUESTION, workspace,
                               options, name=name, replies=answers))
    for message in words:
        kind = ContributionKind.REPLY if message.get("user") == asker else ContributionKind.ANSWER
        records.append(_record(message, cid, root, root, kind, workspace, options,
                               accepted=message["ts"] == accepted))
    return records


def _is_words(message: Mapping[str, Any], workspace: _Workspace) -> bool:
    user = message.get("user")
    return (isinstance(user, str) and bool(user) and user not in workspace.bots
            and not message.get("bot_id") and message.get("subtype") in _KEPT_SUBTYPES)


def _accepted(asker: str, replies: list[dict[str, Any]], options: _Options) -> str | None:
    reaction = options.accepted_reaction.strip(": ")
    for message in replies:
        if message.get("user") == asker:
            continue
        for r in message.get("reactions") or ():
            if r.get("name") == reaction and asker in (r.get("users") or ()):
                return str(message["ts"])
    if not options.thanks:
        return None
    last = None
    for message in replies:
        if message.get("user") != asker:
            last = str(message["ts"])
        elif _THANKS.search(str(message.get("text") or "")):
            return last
    return None


def _record(message: Mapping[str, Any], cid: str, root: str, parent: str | None,
            kind: ContributionKind, workspace: _Workspace, options: _Options, *,
            name: str = "", replies: int = 0, accepted: bool = False) -> ContributionRecord:
    ts = str(message["ts"])
    user = str(message.get("user") or "")
    text = _plain(str(message.get("text") or ""), workspace)
    edited = (message.get("edited") or {}).get("ts")
    likers = sorted({u for r in message.get("reactions") or ()
                     if r.get("name") != options.accepted_reaction.strip(": ")
                     for u in r.get("users") or () if u != user})
    link = f"{workspace.url}/archives/{cid}/p{ts.replace('.', '')}" if workspace.url else None
    if link and parent:
        link += f"?thread_ts={root.split(':')[1]}&cid={cid}"
    return ContributionRecord(
        id=f"{cid}:{ts}",
        kind=kind,
        author=workspace.people.get(user) or AuthorRecord(id=user or "unknown"),
        created=_time(ts),
        updated=_time(edited) if edited else _time(ts),
        title=text.split("\n", 1)[0][:120] if parent is None else "",
        text=text,
        url=link,
        thread=root,
        parent=parent,
        tags=[name] if parent is None else [],
        likes=len(likers),
        accepted=accepted,
        replies=replies,
        liked_by=[workspace.people.get(u) or AuthorRecord(id=u) for u in likers],
    )


def _vanished(cid: str, thread: str, asker: str | None, gone: list[tuple[str, str]],
              workspace: _Workspace) -> list[ContributionRecord]:
    """Deleted records for messages of the window that Slack no longer returns (their
    kinds as `_map_thread` gave them)."""
    root = f"{cid}:{thread}"

    def kind(ts: str, user: str) -> ContributionKind:
        if ts == thread:
            return ContributionKind.QUESTION
        return ContributionKind.REPLY if user == asker else ContributionKind.ANSWER

    return [
        ContributionRecord(
            id=f"{cid}:{ts}",
            kind=kind(ts, user),
            author=workspace.people.get(user) or AuthorRecord(id=user or "unknown"),
            created=_time(ts),
            thread=root,
            parent=None if ts == thread else root,
            deleted=True,
        )
        for ts, user in gone
    ]


def _plain(text: str, workspace: _Workspace) -> str:
    """Slack's mrkdwn as plain text: mentions as @name, links as their label."""

    def mention(match: re.Match[str]) -> str:
        sigil, target, label = match.groups()
        if sigil == "@":
            person = workspace.people.get(target)
            return "@" + (label or (person.username if person else None) or target)
        if sigil == "#":
            return "#" + (label or target)
        return "@" + (label or target.split("^")[0])

    text = _MENTION.sub(mention, text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def _time(ts: Any) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)
