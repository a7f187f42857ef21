"""A Discourse site in memory, speaking Discourse's JSON API over real HTTP.

It loads tests/fixtures/discourse (responses in Discourse's own format: `latest.json`,
`t/<id>.json` with every post of the topic, `site.json`) and answers as Discourse does:

    GET /latest.json?page=N     pinned topics first, then by `bumped_at`, newest first;
                                `per_page` topics, `more_topics_url` when the page is full
    GET /t/<id>.json            the topic with its first `chunk_size` posts; `stream` lists
                                the ids of all of them
    GET /t/<id>/posts.json      the posts named by `post_ids[]`
    GET /site.json              the categories
    GET /u/<username>.json      a member's public profile (`profiles` sets its bio_raw and
                                website; id, username and name come from their posts)

With `api_key` set, a request without the matching `Api-Key` and `Api-Username` headers
gets Discourse's 403. The viewer is staff (`staff_view`): whispers and soft-deleted posts
are in the stream, as Discourse shows them to staff.

Tests change the site (`add_post`, `edit_post`, `delete_post`, `purge_post`,
`remove_topic`) and script faults per path (`fail`, `rate_limit`, `slow`, `truncate`), used
in order, or draw them with a seeded `plan` (tests/connectors/faults.py: a repeated list
page shifts the rest of the walk down a page, as topics bumped at the head do). `overlap`
makes each page after the first repeat the previous page's last topics, as Discourse's
offset paging does when topics are bumped during a walk; `ignores_paging` answers page 0
to every page. Every request is recorded in `requests`, with the time it arrived.

For concurrent clients: each request takes `latency` seconds to arrive (a forum is not on
localhost: the round trip is that much longer, and a request sent just before a 429 went
out still arrives up to `latency` after it), and `limit` (tests/connectors/faults.py
`RateLimit`) is the forum's own rate limit, counting the requests that arrive before the
`Retry-After` it sent has passed.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.connectors.faults import HTML_ERROR, FaultPlan, RateLimit, cut, pause
from tests.connectors.localserver import Handler, LocalServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "discourse"
_TOPIC = re.compile(r"^/t/(\d+)\.json$")
_POSTS = re.compile(r"^/t/(\d+)/posts\.json$")
_USER = re.compile(r"^/u/([^/]+)\.json$")
_NOT_FOUND = {
    "errors": ["The requested URL or resource could not be found."],
    "error_type": "not_found",
}
_FORBIDDEN = {
    "errors": [
        "You are not permitted to view the requested resource. The API username or key is invalid."
    ],
    "error_type": "invalid_access",
}


@dataclass
class Fault:
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate: bool = False
    #: Only for requests of this `page` (a list page), when set.
    page: str | None = None


@dataclass
class Recorded:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float = 0.0  # time.monotonic() on arrival
    status: int = 0  # the answer's


class DiscourseServer(LocalServer):
    """A `LocalServer` answering as the fixture forum; `start()` and `stop()` it."""

    def __init__(
        self,
        *,
        per_page: int = 30,
        chunk_size: int = 20,
        api_key: str | None = None,
        api_username: str = "system",
    ) -> None:
        self.per_page = per_page
        self.chunk_size = chunk_size
        self.api_key = api_key
        self.api_username = api_username
        self.staff_view = True
        self.overlap = 0
        self.ignores_paging = False
        self.plan: FaultPlan | None = None
        self.latency = 0.0
        self.limit: RateLimit | None = None
        self._shift = 0  # list offset the plan's repeats moved the current walk back
        self.requests: list[Recorded] = []
        listing = json.loads((FIXTURES / "latest.json").read_text("utf-8"))
        self._list_template = listing
        topics = listing["topic_list"]["topics"]
        self.items: dict[int, dict[str, Any]] = {t["id"]: t for t in topics}
        self.topics: dict[int, dict[str, Any]] = {
            tid: json.loads((FIXTURES / "t" / f"{tid}.json").read_text("utf-8"))
            for tid in self.items
        }
        self.site = json.loads((FIXTURES / "site.json").read_text("utf-8"))
        #: username -> {"bio_raw": ..., "website": ...}: what a member wrote on their profile
        self.profiles: dict[str, dict[str, str]] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    @classmethod
    def scaled(cls, copies: int, **settings: Any) -> DiscourseServer:
        """The fixture forum `copies` times over (topic ids 1000 apart, post ids 10000
        apart, times 200 days apart; only the original welcome topic pinned)."""
        server = cls(**settings)
        items, topics = dict(server.items), dict(server.topics)
        for number in range(1, copies):
            for tid in items:
                item, topic = copy.deepcopy(items[tid]), copy.deepcopy(topics[tid])
                new_id = tid + 1000 * number
                _shift_times(item, number)
                _shift_times(topic, number)
                item.update(id=new_id, pinned=False, pinned_globally=False)
                topic.update(id=new_id, pinned=False, pinned_globally=False)
                stream = topic["post_stream"]
                stream["stream"] = [pid + 10000 * number for pid in stream["stream"]]
                for post in stream["posts"]:
                    _shift_times(post, number)
                    post.update(id=post["id"] + 10000 * number, topic_id=new_id)
                server.items[new_id], server.topics[new_id] = item, topic
        return server

    @property
    def base(self) -> str:
        return self.origin

    def paths(self) -> list[str]:
        """The paths requested so far, in order (queries left out)."""
        return [r.path for r in self.requests]

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    # -- faults ---------------------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: bytes = b"<html><body>Bad Gateway</body></html>",
        page: int | None = None,
    ) -> None:
        only = None if page is None else str(page)
        self._queue(
            path, [Fault(status, body, dict(headers or {}), page=only) for _ in range(times)]
        )

    def rate_limit(self, path: str, wait_seconds: int, times: int = 1) -> None:
        """Discourse's 429: `Retry-After` and its JSON error body."""
        status, body, headers = _rate_limited(wait_seconds)
        self.fail(path, status, times, headers, body)

    def slow(self, path: str, delay: float, times: int = 1) -> None:
        self._queue(path, [Fault(delay=delay) for _ in range(times)])

    def truncate(self, path: str, times: int = 1) -> None:
        """Answer 200 with the JSON cut in half (a proxy that lost the end of the body)."""
        self._queue(path, [Fault(truncate=True) for _ in range(times)])

    def _queue(self, path: str, faults: list[Fault]) -> None:
        with self._lock:
            self._faults.setdefault(path, []).extend(faults)

    def _next_fault(self, path: str, query: dict[str, list[str]]) -> Fault | None:
        page = (query.get("page") or ["0"])[0]
        with self._lock:
            queue = self._faults.get(path) or []
            for index, fault in enumerate(queue):
                if fault.page in (None, page):
                    return queue.pop(index)
            return None

    # -- changes to the site ---------------------------------------------------------------

    def post(self, post_id: int) -> dict[str, Any]:
        for topic in self.topics.values():
            for post in topic["post_stream"]["posts"]:
                if post["id"] == post_id:
                    return post
        raise KeyError(post_id)

    def add_post(
        self, topic_id: int, author_of: int, cooked: str, at: str, reply_to: int | None = None
    ) -> dict[str, Any]:
        """Append a post by the author of post `author_of`; it bumps the topic."""
        topic = self.topics[topic_id]
        posts = topic["post_stream"]["posts"]
        post = copy.deepcopy(self.post(author_of))
        number = max(p["post_number"] for p in posts) + 1
        new_id = max(p["id"] for t in self.topics.values() for p in t["post_stream"]["posts"]) + 1
        post.update(
            {
                "id": new_id,
                "post_number": number,
                "cooked": cooked,
                "created_at": at,
                "updated_at": at,
                "reply_to_post_number": reply_to,
                "reply_count": 0,
                "actions_summary": [{"id": 2, "can_act": True}],
                "accepted_answer": False,
                "deleted_at": None,
                "user_deleted": False,
                "version": 1,
                "post_type": 1,
            }
        )
        posts.append(post)
        topic["post_stream"]["stream"].append(new_id)
        for record in (topic, self.items[topic_id]):
            record["posts_count"] += 1
            record["highest_post_number"] = number
            record["last_posted_at"] = at
        self.items[topic_id]["bumped_at"] = at
        return post

    def edit_post(self, post_id: int, cooked: str, at: str, bump: bool = False) -> None:
        """Edit a post; `bump` as Discourse does when the topic's last post is edited."""
        post = self.post(post_id)
        post.update({"cooked": cooked, "updated_at": at, "version": post["version"] + 1})
        if bump:
            self.items[post["topic_id"]]["bumped_at"] = at

    def delete_post(self, post_id: int, at: str) -> None:
        """Soft-delete a post: staff still see it, with `deleted_at`. No bump."""
        self.post(post_id).update({"deleted_at": at, "updated_at": at, "can_recover": True})

    def purge_post(self, post_id: int) -> None:
        """Take a post out of its topic altogether, as non-staff viewers see a deletion."""
        topic = self.topics[self.post(post_id)["topic_id"]]
        topic["post_stream"]["posts"] = [
            p for p in topic["post_stream"]["posts"] if p["id"] != post_id
        ]
        topic["post_stream"]["stream"].remove(post_id)

    def remove_topic(self, topic_id: int) -> None:
        del self.items[topic_id]
        del self.topics[topic_id]

    def bump(self, topic_id: int, at: str) -> None:
        self.items[topic_id]["bumped_at"] = at

    # -- answers ---------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/latest.json":
            return 200, self._latest(
                int((query.get("page") or ["0"])[0]),
                int((query.get("per_page") or [self.per_page])[0]),
            )
        if path == "/site.json":
            return 200, self.site
        if match := _TOPIC.match(path):
            topic = self.topics.get(int(match.group(1)))
            if topic is None:
                return 404, _NOT_FOUND
            view = copy.deepcopy(topic)
            posts = self._visible(view)
            view["post_stream"] = {
                "posts": posts[: self.chunk_size],
                "stream": [p["id"] for p in posts],
            }
            view["chunk_size"] = self.chunk_size
            return 200, view
        if match := _POSTS.match(path):
            topic = self.topics.get(int(match.group(1)))
            if topic is None:
                return 404, _NOT_FOUND
            wanted = {int(v) for v in query.get("post_ids[]", [])}
            posts = [p for p in self._visible(copy.deepcopy(topic)) if p["id"] in wanted]
            return 200, {"post_stream": {"posts": posts}, "id": topic["id"]}
        if match := _USER.match(path):
            user = self._user(unquote(match.group(1)))
            return (200, {"user_badges": [], "user": user}) if user else (404, _NOT_FOUND)
        return 404, _NOT_FOUND

    def _user(self, username: str) -> dict[str, Any] | None:
        """A member as /u/<username>.json shows them (the fields the profile page has)."""
        post = next((p for t in self.topics.values() for p in t["post_stream"]["posts"]
                     if p.get("username") == username), None)
        if post is None:
            return None
        written = self.profiles.get(username, {})
        bio = written.get("bio_raw", "")
        return {"id": post["user_id"], "username": username, "name": post.get("name"),
                "avatar_template": post.get("avatar_template"), "bio_raw": bio,
                "bio_cooked": f"<p>{bio}</p>" if bio else "", "bio_excerpt": bio[:300],
                "website": written.get("website"), "website_name": written.get("website"),
                "created_at": post.get("created_at"), "trust_level": post.get("trust_level", 1)}

    def _visible(self, topic: dict[str, Any]) -> list[dict[str, Any]]:
        posts = topic["post_stream"]["posts"]
        if self.staff_view:
            return posts
        return [p for p in posts if p["post_type"] != 4 and not p["deleted_at"]]

    def _latest(self, page: int, per_page: int) -> dict[str, Any]:
        newest = sorted(self.items.values(), key=lambda t: t["bumped_at"], reverse=True)
        ordered = [t for t in newest if t["pinned"]] + [t for t in newest if not t["pinned"]]
        if self.ignores_paging:
            page = 0
        if page == 0:
            self._shift = 0
        start = max(0, page * per_page - (self.overlap if page else 0) - self._shift)
        topics = ordered[start : start + per_page]
        listing = copy.deepcopy(self._list_template)
        listing["topic_list"].update({"per_page": per_page, "topics": copy.deepcopy(topics)})
        listing["topic_list"].pop("more_topics_url", None)
        if len(topics) == per_page:
            listing["topic_list"]["more_topics_url"] = (
                f"/latest?no_definitions=true&page={page + 1}"
            )
        return listing

    def authorised(self, headers: dict[str, str]) -> bool:
        if self.api_key is None:
            return True
        return (
            headers.get("Api-Key") == self.api_key
            and headers.get("Api-Username") == self.api_username
        )


def _handler_for(server: DiscourseServer) -> type[BaseHTTPRequestHandler]:
    class DiscourseHandler(Handler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if server.latency:
                time.sleep(server.latency)
            recorded = Recorded(parts.path, query, dict(self.headers), time.monotonic())
            with server._lock:
                server.requests.append(recorded)
            if server.limit is not None and server.limit.over(parts.path):
                fault = Fault(*_rate_limited(server.limit.wait))
            else:
                fault = server._next_fault(parts.path, query) or Fault()
            drawn = _draw(server, parts.path, query)
            if fault.delay:
                time.sleep(fault.delay)
            if server.plan:
                pause(drawn, server.plan)
            headers = {"Content-Type": "application/json; charset=utf-8"}
            if fault.status is not None:
                status, body = fault.status, fault.body
                headers.update(fault.headers)
            elif server.plan and drawn == "error":
                status, body = server.plan.error_status(), HTML_ERROR
                headers["Content-Type"] = "text/html"
            elif server.plan and drawn == "throttle":
                status, body, throttle = _rate_limited(server.plan.wait)
                headers.update(throttle)
            elif not server.authorised(dict(self.headers)):
                status, body = 403, json.dumps(_FORBIDDEN).encode()
            else:
                with server._lock:
                    status, payload = server.answer(parts.path, query)
                body = json.dumps(payload).encode()
                if fault.truncate:
                    body = body[: len(body) // 2]
            length, close = len(body), False
            if status == 200:
                body, length, close = cut(body, drawn)
            recorded.status = status
            self.close_connection = close or self.close_connection
            self.send(status, headers, body, length=length)

    return DiscourseHandler


def _rate_limited(wait_seconds: int) -> tuple[int, bytes, dict[str, str]]:
    body = json.dumps(
        {
            "errors": [
                f"You’ve performed this action too many times. Please wait "
                f"{wait_seconds} seconds before trying again."
            ],
            "error_type": "rate_limit",
            "extras": {"wait_seconds": wait_seconds, "time_left": f"{wait_seconds} seconds"},
        }
    ).encode()
    headers = {
        "Retry-After": str(wait_seconds),
        "Content-Type": "application/json",
        "Discourse-Rate-Limit-Error-Code": "ip_10_secs_limit",
    }
    return 429, body, headers


def _draw(server: DiscourseServer, path: str, query: dict[str, list[str]]) -> str | None:
    if server.plan is None:
        return None
    listing = path == "/latest.json" and (query.get("page") or ["0"])[0] != "0"
    drawn = server.plan.draw(path, listing=listing)
    if drawn == "repeat":
        with server._lock:
            server._shift += int((query.get("per_page") or [server.per_page])[0])
    return drawn


def _shift_times(record: dict[str, Any], copies: int) -> None:
    for name in ("created_at", "updated_at", "bumped_at", "last_posted_at"):
        value = record.get(name)
        if isinstance(value, str) and value:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            when += timedelta(days=200 * copies)
            millis = f"{when.microsecond // 1000:03d}"
            record[name] = when.strftime("%Y-%m-%dT%H:%M:%S.") + millis + "Z"


@pytest.fixture
def forum() -> Iterator[DiscourseServer]:
    """The fixture forum, served with Discourse's default page and chunk sizes."""
    with DiscourseServer(api_key="k-1234", api_username="whoknows") as server:
        yield server
