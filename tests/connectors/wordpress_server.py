"""A fake WordPress site for connector tests: the REST API over real sockets.

`WordPressServer` serves `/wp-json/wp/v2/posts`, `/comments` and `/users` from the
recorded-format files in tests/fixtures/wordpress/, filtering, ordering and paginating as
WordPress 6 does: `per_page` (1-100), `page` (a posts page past the end is HTTP 400
`rest_post_invalid_page_number`), `orderby`/`order`, `modified_after` and `after`
(strictly after, an offset-less time read in the site's zone, +02:00), `post=<ids>`,
`include=<ids>`, `_embed` (without it `_embedded` is left out), `X-WP-Total` and
`X-WP-TotalPages`, and a `Date` header from the site's clock (`now`).

Knobs: `credentials` (the application password "user:pass" the site accepts; wrong
ones get 401 `incorrect_password`), `private` (every request needs them),
`ignores_modified_after` (a site older than 5.7), `can_list_users` (whether the
credentials' user may read `users?context=edit`), `fault(...)` (scripted answers used
before the real one: status, headers, body, delay, a body cut short), `on_request(hook)`
(change the site between requests), and `edit_post`, `trash_post`, `add_post`,
`add_comment`, which move the clock a minute and stamp the change. A seeded `plan`
(tests/connectors/faults.py) draws faults; its repeats replay the previous posts answer,
as a cache would. Every request is recorded in `requests`.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.connectors.faults import HTML_ERROR, FaultPlan, cut, pause
from tests.connectors.localserver import Handler, LocalServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wordpress"
API = "/wp-json/wp/v2"
SITE_OFFSET = timedelta(hours=2)


@dataclass
class Fault:
    status: int = 500
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    #: Send only this many bytes of the real answer, announcing its full length.
    cut_at: int | None = None
    #: Only for requests whose query has these values, e.g. {"page": "2"}.
    when: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    route: str
    query: dict[str, str]
    headers: dict[str, str]


class Scripted:
    """What a test server with scripted faults shares: it records each request (and
    tells the hooks), queues `Fault`s per route and hands the first that fits a request.
    The server sets `requests`, `faults`, `hooks` and an RLock `lock` itself."""

    requests: list[Recorded]
    faults: dict[str, list[Fault]]
    hooks: list[Callable[[Recorded], None]]
    lock: threading.RLock

    def fault(self, route: str, times: int = 1, **fault: Any) -> None:
        """Answer the next `times` matching requests to `route` with a Fault."""
        with self.lock:
            self.faults.setdefault(route, []).extend(Fault(**fault) for _ in range(times))

    def on_request(self, hook: Callable[[Recorded], None]) -> None:
        self.hooks.append(hook)

    def count(self, route: str) -> int:
        return sum(1 for r in self.requests if r.route == route)

    def record(self, route: str, query: dict[str, str], headers: dict[str, str]) -> None:
        recorded = Recorded(route, query, headers)
        with self.lock:
            self.requests.append(recorded)
            hooks = list(self.hooks)
        for hook in hooks:
            hook(recorded)

    def take_fault(self, route: str, query: dict[str, str]) -> Fault | None:
        """The first queued fault of `route` whose `when` the query matches, taken."""
        with self.lock:
            queue = self.faults.get(route, [])
            for index, fault in enumerate(queue):
                if all(query.get(k) == v for k, v in fault.when.items()):
                    return queue.pop(index)
        return None


def error_body(code: str, message: str, status: int) -> bytes:
    """A WordPress REST error, as `WP_Error` goes out."""
    return json.dumps({"code": code, "message": message, "data": {"status": status}}).encode()


def load(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def gmt(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


class WordPressServer(Scripted, LocalServer):
    """A `LocalServer` answering as the fixture site; `start()` and `stop()` it."""

    def __init__(self) -> None:
        self.posts = {p["id"]: p for p in load("posts.json")}
        self.comments = {c["id"]: c for c in load("comments.json")}
        self.users = {u["id"]: u for u in load("users.json")}
        self.now = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
        self.credentials: str | None = None
        self.private = False
        self.ignores_modified_after = False
        self.can_list_users = True
        self.requests: list[Recorded] = []
        self.faults: dict[str, list[Fault]] = {}
        self.hooks: list[Callable[[Recorded], None]] = []
        self.plan: FaultPlan | None = None
        self._last: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.lock = threading.RLock()
        super().__init__(_handler_for(self))

    @classmethod
    def scaled(cls, copies: int) -> WordPressServer:
        """The fixture site `copies` times over: ids 1000 apart, each copy 30 days
        earlier than the one before."""
        server = cls()
        posts, comments = list(server.posts.values()), list(server.comments.values())
        for number in range(1, copies):
            shift, earlier = 1000 * number, timedelta(days=30 * number)
            for post in copy.deepcopy(posts):
                post["id"] += shift
                for name in ("date", "modified"):
                    server._stamp(post, name, _earlier(post[f"{name}_gmt"], earlier))
                server.posts[post["id"]] = post
            for comment in copy.deepcopy(comments):
                comment["id"] += shift
                comment["post"] += shift
                comment["parent"] += shift if comment["parent"] else 0
                server._stamp(comment, "date", _earlier(comment["date_gmt"], earlier))
                server.comments[comment["id"]] = comment
        return server

    @property
    def url(self) -> str:
        """The site root, as a source's `url` names it."""
        return self.origin + "/claims"

    def tick(self) -> str:
        self.now += timedelta(minutes=1)
        return self.now.strftime("%Y-%m-%dT%H:%M:%S")

    def edit_post(self, post_id: int, content: str) -> None:
        with self.lock:
            post = self.posts[post_id]
            post["content"]["rendered"] = content
            self._stamp(post, "modified", self.tick())

    def trash_post(self, post_id: int) -> None:
        with self.lock:
            self.posts[post_id]["status"] = "trash"
            self._stamp(self.posts[post_id], "modified", self.tick())

    def add_post(self, post_id: int, title: str, content: str, like: int = 101) -> None:
        with self.lock:
            post = copy.deepcopy(self.posts[like])
            stamp = self.tick()
            post.update(
                id=post_id,
                slug=f"post-{post_id}",
                title={"rendered": title},
                link=f"https://intranet.example.com/claims/?p={post_id}",
            )
            post["content"]["rendered"] = content
            self._stamp(post, "date", stamp)
            self._stamp(post, "modified", stamp)
            self.posts[post_id] = post

    def add_comment(
        self, comment_id: int, post_id: int, content: str, like: int = 33, parent: int = 0
    ) -> None:
        with self.lock:
            comment = copy.deepcopy(self.comments[like])
            comment.update(
                id=comment_id,
                post=post_id,
                parent=parent,
                content={"rendered": content},
                link=f"https://intranet.example.com/claims/?p={post_id}#comment-{comment_id}",
            )
            self._stamp(comment, "date", self.tick())
            self.comments[comment_id] = comment

    @staticmethod
    def _stamp(item: dict[str, Any], name: str, stamp: str) -> None:
        item[f"{name}_gmt"] = stamp
        item[name] = (gmt(stamp) + SITE_OFFSET).strftime("%Y-%m-%dT%H:%M:%S")

    # -- answering -------------------------------------------------------------------------

    def answer(
        self, route: str, query: dict[str, str], auth: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        expected = (
            self.credentials and "Basic " + base64.b64encode(self.credentials.encode()).decode()
        )
        if auth and auth != expected:
            return (
                401,
                {},
                error_body(
                    "incorrect_password",
                    "The provided password is an invalid application password.",
                    401,
                ),
            )
        if self.private and not auth:
            return (
                401,
                {},
                error_body("rest_not_logged_in", "You are not currently logged in.", 401),
            )
        with self.lock:
            if route == "posts":
                return self._posts(query)
            if route == "comments":
                return self._comments(query)
            if route == "users":
                return self._users(query, authorised=bool(auth))
        return (
            404,
            {},
            error_body(
                "rest_no_route", "No route was found matching the URL and request method.", 404
            ),
        )

    def _posts(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        items = [p for p in self.posts.values() if p["status"] == "publish"]
        after = query.get("modified_after")
        if after and not self.ignores_modified_after:
            items = [p for p in items if gmt(p["modified_gmt"]) > _site_time(after)]
        key = {"modified": "modified_gmt", "date": "date_gmt", "id": "id"}[
            query.get("orderby", "date")
        ]
        return self._listing(items, key, query, past_end_error=True)

    def _comments(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        visible = {pid for pid, p in self.posts.items() if p["status"] == "publish"}
        items = [c for c in self.comments.values() if c["post"] in visible]
        if "post" in query:
            wanted = {int(i) for i in query["post"].split(",")}
            items = [c for c in items if c["post"] in wanted]
        if "after" in query:
            items = [c for c in items if gmt(c["date_gmt"]) > _site_time(query["after"])]
        key = {"date_gmt": "date_gmt", "date": "date_gmt", "id": "id"}[
            query.get("orderby", "date_gmt")
        ]
        return self._listing(items, key, query, past_end_error=False)

    def _users(self, query: dict[str, str], authorised: bool) -> tuple[int, dict[str, str], bytes]:
        if query.get("context") == "edit" and not (authorised and self.can_list_users):
            status = 403 if authorised else 401  # rest_authorization_required_code()
            return (
                status,
                {},
                error_body(
                    "rest_forbidden_context", "Sorry, you are not allowed to list users.", status
                ),
            )
        wanted = {int(i) for i in query.get("include", "").split(",") if i}
        items = [u for u in self.users.values() if not wanted or u["id"] in wanted]
        return self._listing(items, "id", query, past_end_error=False)

    def _listing(
        self, items: list[dict[str, Any]], key: str, query: dict[str, str], past_end_error: bool
    ) -> tuple[int, dict[str, str], bytes]:
        per_page, page = int(query.get("per_page", 10)), int(query.get("page", 1))
        if not 1 <= per_page <= 100:
            return 400, {}, error_body("rest_invalid_param", "Invalid parameter(s): per_page", 400)
        items = sorted(
            items, key=lambda item: item[key], reverse=query.get("order", "desc") == "desc"
        )
        total, pages = len(items), math.ceil(len(items) / per_page)
        if past_end_error and page > pages and total > 0:
            return (
                400,
                {},
                error_body(
                    "rest_post_invalid_page_number",
                    "The page number requested is larger than the number of pages available.",
                    400,
                ),
            )
        shown = items[(page - 1) * per_page : page * per_page]
        if "_embed" not in query:
            shown = [{k: v for k, v in item.items() if k != "_embedded"} for item in shown]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        return 200, headers, json.dumps(shown).encode()


def _earlier(stamp: str, by: timedelta) -> str:
    return (gmt(stamp) - by).strftime("%Y-%m-%dT%H:%M:%S")


def _site_time(value: str) -> datetime:
    # As WP_Date_Query: a time with no offset is in the site's zone.
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC) - SITE_OFFSET
    return parsed


def _handler_for(server: WordPressServer) -> type[BaseHTTPRequestHandler]:
    class WordPressHandler(Handler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            route = parts.path.removeprefix("/claims" + API + "/")
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            server.record(route, query, dict(self.headers))
            fault = server.take_fault(route, query)
            drawn = server.plan.draw(route, listing=route == "posts") if server.plan else None
            if fault and fault.delay:
                time.sleep(fault.delay)
            if server.plan:
                pause(drawn, server.plan)
            status, headers, body = server.answer(route, query, self.headers.get("Authorization"))
            status, headers, body = self._drawn(drawn, route, (status, headers, body))
            length = len(body)
            if fault and fault.cut_at is None:
                status, headers, body = fault.status, fault.headers, fault.body
                length = len(body)
            elif fault:
                body = body[: fault.cut_at]
            close = fault is not None and fault.cut_at is not None
            if status == 200 and not fault:
                body, length, close = cut(body, drawn)
            headers = {"Content-Type": "application/json; charset=UTF-8", **headers}
            self.send(status, headers, body, length=length, close=close)

        def _drawn(
            self, drawn: str | None, route: str, answer: tuple[int, dict[str, str], bytes]
        ) -> tuple[int, dict[str, str], bytes]:
            plan = server.plan
            if plan is None:
                return answer
            if drawn == "error":
                return plan.error_status(), {"Content-Type": "text/html"}, HTML_ERROR
            if drawn == "throttle":
                body = error_body("rest_too_many_requests", "Too many requests.", 429)
                return 429, {"Retry-After": str(plan.wait)}, body
            with server.lock:
                if drawn == "repeat" and route in server._last:
                    return server._last[route]
                if answer[0] == 200:
                    server._last[route] = answer
            return answer

        def date_time_string(self, timestamp: float | None = None) -> str:
            return format_datetime(server.now, usegmt=True)

    return WordPressHandler
