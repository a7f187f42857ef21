"""The StackExchange connector: one Stack Exchange site through API 2.3, or a Stack Overflow
for Teams team through the same API.

Questions are read oldest activity first (`/questions?sort=activity&order=asc&min=`). Each
API page of questions becomes one `Page` holding those questions, all their answers
(`/questions/{ids}/answers`) and all the comments on both (`/questions/{ids}/comments`,
`/answers/{ids}/comments`), fetched by up to 100 ids a call. A run that starts without a
cursor reads every question, so its last page is `complete`: a deleted question (and its
answers and comments) simply vanishes from the API, and the pipeline flags it.

The cursor is a JSON object:

    {"activity": 1740300000,      newest question `last_activity_date` emitted (unix seconds)
     "ids": [5020, 5030]}         questions emitted with exactly that activity

A question is emitted when its activity is newer than `activity` (or equal, with an id not
in `ids`), so a question with a new answer or an edit comes out again with its whole thread.
Pages are fetched by keyset: each request asks `min=<activity>` afresh, page 1, so questions
whose activity moves during a run are neither skipped nor lost; the page number only grows
while a whole page sits at one second.

Records: questions are "question" (id `q<question_id>`, thread = itself), answers "answer"
(`a<answer_id>`, thread and parent the question, `accepted` = `is_accepted`), comments
"comment" (`c<comment_id>`, parent the post commented on, thread the question). An author is
the owner's `user_id`; an owner whose account is gone (`user_type` "does_not_exist") has no
id, so it becomes `name:<display_name>`. The API shows no e-mails.

Limits the API sets: a response's `backoff` (seconds) is waited before the next call to the
same method; a throttle (HTTP 400, `throttle_violation`, "more requests available in N
seconds") is retried after those N seconds (or its `backoff`, or the client's own backoff
when it names neither); when `quota_remaining` reaches 0 the run stops with a
`ConnectorError` before its next request (the next run resumes from the last stored page).
A questions page older than asked for (a cache replaying the previous answer) is asked
again, up to `_STALLED` times in a row. What this does not see
between full passes: new comments, votes and accepts do not move a question's
`last_activity_date`, so they arrive with the question's next activity or the next full pass.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import requests

from service.config import ConfigError, SourceConfig
from service.connectors.base import ConnectorError, FatalSourceError, Page, load_cursor
from service.connectors.http import HttpClient, client_for
from service.connectors.rss import html_to_text
from service.model import AuthorRecord, ContributionKind, ContributionRecord

__all__ = ["StackExchangeConnector"]

OPTIONS = ("site", "team", "key", "filter", "tagged")
#: The built-in filter that adds `body` to the default fields.
DEFAULT_FILTER = "withbody"
_MAX_IDS = 100  # the API's cap on an {ids} list and on a page
_RESUMES = "the next run resumes from the last stored page"
#: Stale questions pages in a row before the run gives up on a cache that keeps replaying.
_STALLED = 5
_AVAILABLE_IN = re.compile(r"available in (\d+(?:\.\d+)?) second")

Item = dict[str, Any]


class _Unmappable(Exception):
    """An item lacks what a contribution needs; the message says what."""


@dataclass(frozen=True, slots=True)
class _Settings:
    base: str
    params: dict[str, str]
    headers: dict[str, str]
    tagged: str | None


def _settings(source: SourceConfig, credentials: str | None) -> _Settings:
    """Validate `source.options`; raise `ConfigError` naming the key."""
    where = f"source {source.id!r}"
    options = dict(source.options)
    for name in sorted(options):
        if name not in OPTIONS:
            raise ConfigError(f"{where}: options.{name}: unknown (known: {', '.join(OPTIONS)})")

    def text(name: str) -> str | None:
        value = options.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{where}: options.{name}: must be a non-empty string")
        return value.strip() if value is not None else None

    if not source.url:
        raise ConfigError(
            f"{where}: url: required (the API root, e.g. https://api.stackexchange.com/2.3)"
        )
    parts = urlsplit(source.url)
    site, team, key = text("site"), text("team"), text("key")
    teams = team is not None or (parts.hostname or "").endswith("stackoverflowteams.com")
    if site is None and not teams:
        raise ConfigError(
            f"{where}: options.site: required for the public API (the site's "
            'API name, e.g. "stackoverflow" or "beer")'
        )
    tagged = options.get("tagged")
    if isinstance(tagged, list) and tagged and all(isinstance(t, str) and t for t in tagged):
        tagged = ";".join(tagged)
    elif tagged is not None and (not isinstance(tagged, str) or not tagged.strip()):
        raise ConfigError(f"{where}: options.tagged: must be a tag or a list of tags")
    params = {"filter": text("filter") or DEFAULT_FILTER}
    params |= {k: v for k, v in (("site", site), ("team", team), ("key", key)) if v is not None}
    headers: dict[str, str] = {}
    if credentials and teams:
        # Teams takes the token in a header only (a query token is invalidated); its newer
        # /v2.3/teams/<team>/ root takes a personal access token as a bearer token.
        name = "Authorization" if "/teams/" in parts.path else "X-API-Access-Token"
        headers[name] = f"Bearer {credentials}" if name == "Authorization" else credentials
    elif credentials:
        if key is None:
            raise ConfigError(
                f"{where}: options.key: the public API takes an access token only with the "
                "app's key"
            )
        params["access_token"] = credentials
    return _Settings(source.url.rstrip("/"), params, headers, tagged)


@dataclass(frozen=True, slots=True)
class _Cursor:
    activity: int | None = None
    ids: frozenset[int] = frozenset()

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        return load_cursor(
            text, cls._parse, cls(), kind="a StackExchange", afresh="the site", describe=repr
        )

    @classmethod
    def _parse(cls, raw: Any) -> _Cursor:
        activity = raw["activity"]
        return cls(
            None if activity is None else int(activity),
            frozenset(int(i) for i in raw.get("ids") or ()),
        )

    def dump(self) -> str:
        return json.dumps({"activity": self.activity, "ids": sorted(self.ids)})

    def is_new(self, activity: int, question_id: int) -> bool:
        if self.activity is None or activity > self.activity:
            return True
        return activity == self.activity and question_id not in self.ids

    def after(self, activity: int, question_id: int) -> _Cursor:
        if self.activity is None or activity > self.activity:
            return _Cursor(activity, frozenset({question_id}))
        if activity == self.activity:
            return _Cursor(activity, self.ids | {question_id})
        return self


class StackExchangeConnector:
    """Reads one site (or team) through the Stack Exchange API 2.3; `pages(cursor)` yields
    questions with their answers and comments, oldest activity first.

    `client` defaults to a fresh `HttpClient`; `credentials` is the access token the caller
    read from the source's `credentials_env` (optional on the public API, needed for Teams).
    `page_size` is the questions per API page and per `Page` (1 to 100); `sleep` waits out
    the API's `backoff`. Raises `ConfigError` naming the bad option.
    """

    def __init__(
        self,
        source: SourceConfig,
        client: HttpClient | None = None,
        credentials: str | None = None,
        *,
        page_size: int = _MAX_IDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= page_size <= _MAX_IDS:
            raise ValueError(f"page_size must be between 1 and {_MAX_IDS}")
        self.source = source
        self.client = client or client_for(source)
        self.page_size = page_size
        self._settings = _settings(source, credentials)
        self._sleep = sleep
        self._backoff: dict[str, float] = {}
        self._quota: tuple[int, int | None] | None = None  # (remaining, max)

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Yield one page per API page of questions whose activity is newer than `cursor`.

        The last page of a run started without a cursor is `complete`. Raises
        `ConnectorError` when the quota is used up, an answer is not the API's JSON, the API
        reports an error, or the cursor is unreadable, and what `HttpClient.get` raises
        (`FatalSourceError` for the HTTP 400 the API answers errors with).
        """
        full = cursor is None
        state = _Cursor.load(cursor)
        page_number, repeated = 1, 0
        while True:
            asked = state
            wrapper = self._call("/questions", self._question_params(asked, page_number))
            fresh, stale, errors = _select(wrapper["items"], asked)
            if stale and not fresh:
                # Only questions older than asked for: a cache replaying the last page. Asking
                # again is safe; moving on to the next page number could skip questions.
                repeated += 1
                if repeated >= _STALLED:
                    raise ConnectorError(
                        f"/questions: the API answered min={asked.activity} with older "
                        f"questions {repeated} times in a row; {_RESUMES}"
                    )
                continue
            repeated = 0
            records, thread_errors = self._threads(fresh)
            for question in fresh:
                state = state.after(_activity(question), question["question_id"])
            last = not wrapper.get("has_more")
            if records or errors or thread_errors or (last and full):
                yield Page(
                    records, state.dump(), complete=last and full, errors=errors + thread_errors
                )
            if last:
                return
            page_number = 1 if state.activity != asked.activity else page_number + 1

    def _question_params(self, asked: _Cursor, page_number: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "sort": "activity",
            "order": "asc",
            "page": page_number,
            "pagesize": self.page_size,
        }
        if asked.activity is not None:
            params["min"] = asked.activity
        if self._settings.tagged:
            params["tagged"] = self._settings.tagged
        return params

    def _threads(self, questions: list[Item]) -> tuple[list[ContributionRecord], list[str]]:
        """Fetch the answers and comments of `questions`; return the records, each question
        followed by its comments, answers and their comments, and the items skipped."""
        if not questions:
            return [], []
        errors: list[str] = []
        answered = [q["question_id"] for q in questions if q.get("answer_count", 1) != 0]
        answers = self._by_ids("/questions/{ids}/answers", answered, "answer_id", errors)
        comments = self._by_ids(
            "/questions/{ids}/comments", [q["question_id"] for q in questions], "comment_id", errors
        )
        comments += self._by_ids(
            "/answers/{ids}/comments", [a["answer_id"] for a in answers], "comment_id", errors
        )
        records, skipped = _map_threads(
            questions, _group(answers, "question_id"), _group(comments, "post_id")
        )
        return records, errors + skipped

    def _by_ids(self, route: str, ids: list[int], id_field: str, errors: list[str]) -> list[Item]:
        """All items of `route` for `ids`, 100 ids a call, every page, each item once; those
        without their id are described in `errors`."""
        found: dict[int, Item] = {}
        for start in range(0, len(ids), _MAX_IDS):
            path = route.format(ids=";".join(str(i) for i in ids[start : start + _MAX_IDS]))
            page_number, more = 1, True
            while more:
                wrapper = self._call(
                    path,
                    {"sort": "creation", "order": "asc", "page": page_number, "pagesize": _MAX_IDS},
                    method=route,
                )
                for position, item in enumerate(wrapper["items"], start=1):
                    if isinstance(item, dict) and isinstance(item.get(id_field), int):
                        found.setdefault(item[id_field], item)
                    else:
                        errors.append(
                            f"{route} page {page_number} item {position} skipped: "
                            f"it has no {id_field}"
                        )
                more, page_number = bool(wrapper.get("has_more")), page_number + 1
        return list(found.values())

    def _call(self, path: str, params: Mapping[str, Any], method: str | None = None) -> Item:
        """GET one API method and return its wrapper; waits out the method's `backoff`."""
        method = method or path
        if self._quota is not None and self._quota[0] <= 0:
            limit = f"{self._quota[1]} requests a day" if self._quota[1] else "its daily quota"
            raise ConnectorError(
                f"{self.source.id}: the Stack Exchange API quota is used up ({limit} for this "
                f"key and address, 0 left); stopped before {method}; {_RESUMES} once the "
                "quota resets"
            )
        wait = self._backoff.pop(method, 0.0)
        if wait > self.client.max_retry_after:
            raise ConnectorError(
                f"{method}: the API asks to back off {wait:.0f} s, more than "
                f"the {self.client.max_retry_after:.0f} s allowed; {_RESUMES}"
            )
        if wait:
            self._sleep(wait)
        try:
            data, _ = self.client.get_json(
                self._settings.base + path,
                params={**self._settings.params, **params},
                headers=self._settings.headers,
                throttled=_throttle_wait,
            )
        except FatalSourceError as exc:
            raise FatalSourceError(
                f"{method}: {exc} (the API answers HTTP 400 to a bad option, a bad filter or "
                "a refused token: check the source's url, options and token)"
            ) from exc
        wrapper = _wrapper(data, method)
        backoff = wrapper.get("backoff")
        if isinstance(backoff, int | float) and backoff > 0:
            self._backoff[method] = float(backoff)
        if isinstance(wrapper.get("quota_remaining"), int):
            self._quota = (wrapper["quota_remaining"], wrapper.get("quota_max"))
        return wrapper


def _throttle_wait(response: requests.Response) -> float | None:
    """The seconds a 4xx answer asks to wait when it is the API's `throttle_violation`
    ("more requests available in N seconds", or its `backoff`); None for any other error."""
    try:
        error = response.json()
    except ValueError:
        return None
    if not isinstance(error, dict) or error.get("error_name") != "throttle_violation":
        return None
    named = _AVAILABLE_IN.search(str(error.get("error_message") or ""))
    backoff = error.get("backoff")
    return max(
        float(named.group(1)) if named else 0.0,
        float(backoff) if isinstance(backoff, int | float) else 0.0,
    )


def _wrapper(wrapper: Any, method: str) -> Item:
    if not isinstance(wrapper, dict):
        raise ConnectorError(f"{method}: the answer is not the API's wrapper object")
    if "error_id" in wrapper:
        # Errors come as HTTP 400 (which the client refuses first) except through JSONP or
        # a proxy that rewrites the status; ids 500 and up may pass, the others will not.
        detail = (
            f"{method}: the API reports {wrapper.get('error_name')} "
            f"({wrapper.get('error_id')}): {wrapper.get('error_message')}"
        )
        error_id = wrapper["error_id"]
        if isinstance(error_id, int) and error_id >= 500:
            raise ConnectorError(f"{detail}; {_RESUMES}")
        raise FatalSourceError(detail)
    if not isinstance(wrapper.get("items"), list):
        raise ConnectorError(f"{method}: the answer has no `items` list")
    return wrapper


def _select(items: Iterable[Any], asked: _Cursor) -> tuple[list[Item], bool, list[str]]:
    """Split a questions page: the new questions, whether any were older than asked for,
    and the malformed ones described."""
    fresh: dict[int, Item] = {}
    stale = False
    errors: list[str] = []
    for position, item in enumerate(items, start=1):
        qid = item.get("question_id") if isinstance(item, dict) else None
        if not isinstance(qid, int) or not isinstance(_activity(item), int):
            errors.append(
                f"question {qid or f'at position {position}'} skipped: it has no "
                "question_id or no last_activity_date"
            )
            continue
        if asked.activity is not None and _activity(item) < asked.activity:
            stale = True
        elif asked.is_new(_activity(item), qid):
            fresh.setdefault(qid, item)
    return list(fresh.values()), stale, errors


def _group(items: list[Item], key: str) -> dict[Any, list[Item]]:
    grouped: dict[Any, list[Item]] = {}
    for item in items:
        grouped.setdefault(item.get(key), []).append(item)
    return grouped


def _map_threads(
    questions: list[Item], answers_of: dict[Any, list[Item]], comments_on: dict[Any, list[Item]]
) -> tuple[list[ContributionRecord], list[str]]:
    records: list[ContributionRecord] = []
    errors: list[str] = []

    def add(kind: str, item: Item, build: Callable[..., ContributionRecord], *args: Any) -> None:
        try:
            records.append(build(item, *args))
        except _Unmappable as exc:
            errors.append(f"{kind} {item.get(f'{kind}_id', '(no id)')} skipped: {exc}")

    for question in questions:
        qid, link = question["question_id"], question.get("link")
        answers = answers_of.get(qid, [])
        add("question", question, _question, len(answers))
        for comment in comments_on.get(qid, []):
            add("comment", comment, _comment, "q", qid, link)
        for answer in answers:
            on_answer = comments_on.get(answer["answer_id"], [])
            add("answer", answer, _answer, len(on_answer), qid, link)
            for comment in on_answer:
                add("comment", comment, _comment, "a", qid, link)
    posts = {q["question_id"] for q in questions}
    for answer in (a for key, group in answers_of.items() if key not in posts for a in group):
        errors.append(f"answer {answer['answer_id']} skipped: its question_id is not one asked for")
    posts |= {a["answer_id"] for group in answers_of.values() for a in group}
    for comment in (c for key, group in comments_on.items() if key not in posts for c in group):
        errors.append(f"comment {comment['comment_id']} skipped: its post_id is not one asked for")
    return records, errors


def _activity(item: Item) -> Any:
    return item.get("last_activity_date", item.get("creation_date"))


def _question(item: Item, answers: int) -> ContributionRecord:
    qid = item["question_id"]
    tags = [str(tag) for tag in item.get("tags") or ()]
    title = unescape(item.get("title") or "")
    return _post(
        item,
        ContributionKind.QUESTION,
        f"q{qid}",
        item.get("link"),
        f"q{qid}",
        title=title,
        tags=tags,
        replies=answers,
    )


def _answer(item: Item, comments: int, qid: int, link: str | None) -> ContributionRecord:
    aid = item["answer_id"]
    url = item.get("link") or (f"{link}#{aid}" if link else None)
    accepted = item.get("is_accepted") is True
    return _post(
        item,
        ContributionKind.ANSWER,
        f"a{aid}",
        url,
        f"q{qid}",
        parent=f"q{qid}",
        accepted=accepted,
        replies=comments,
    )


def _comment(item: Item, on: str, qid: int, link: str | None) -> ContributionRecord:
    cid, post = item["comment_id"], item["post_id"]
    url = item.get("link") or (f"{link}#comment{cid}_{post}" if link else None)
    return _post(item, ContributionKind.COMMENT, f"c{cid}", url, f"q{qid}", parent=f"{on}{post}")


def _post(
    item: Item, kind: ContributionKind, record_id: str, url: str | None, thread: str, **fields: Any
) -> ContributionRecord:
    # Comments have no last_edit_date (only an `edited` flag) and no up_vote_count: their
    # update time is their creation, their likes 0.
    created = _time(item, "creation_date")
    updated = _time(item, "last_edit_date") if "last_edit_date" in item else created
    author, text = _author(item.get("owner")), html_to_text(item.get("body") or "")
    score, likes = _int(item, "score"), _int(item, "up_vote_count")
    return ContributionRecord(
        id=record_id,
        kind=kind,
        author=author,
        created=created,
        updated=updated,
        text=text,
        url=url,
        thread=thread,
        score=score,
        likes=likes,
        **fields,
    )


def _author(owner: Any) -> AuthorRecord:
    if not isinstance(owner, dict):
        raise _Unmappable("it has no owner")
    name = " ".join(unescape(str(owner.get("display_name") or "")).split()) or None
    if isinstance(owner.get("user_id"), int):
        return AuthorRecord(id=str(owner["user_id"]), name=name, url=owner.get("link"))
    if name:
        return AuthorRecord(id=f"name:{name}", name=name)
    raise _Unmappable("its owner has neither a user_id nor a display_name")


def _time(item: Item, key: str) -> datetime:
    value = item.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Unmappable(f"it has no {key}")
    return datetime.fromtimestamp(value, UTC)


def _int(item: Item, key: str) -> int:
    value = item.get(key)
    return value if isinstance(value, int) else 0
