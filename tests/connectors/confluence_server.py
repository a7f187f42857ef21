"""A fake Confluence Cloud site for connector tests: the REST API v2 over real sockets.

`ConfluenceServer` serves, under `/wiki`, from the files in tests/fixtures/confluence/ (see
its README for their source): `api/v2/spaces` (`keys=`), `api/v2/blogposts` and
`api/v2/pages` (`status=current|trashed`, `space-id=`), `api/v2/footer-comments` and
`api/v2/inline-comments` (comments of current content only), each with `limit` (1-250,
else 400), `sort` (`id`, `modified-date`, `created-date`, each also descending with `-`),
`body-format=storage` (without it `body` is left out) and keyset `cursor`s: `_links.next`
(`/wiki/api/v2/...?...&cursor=...`), the `Link` header, and `_links.base`. Also
`api/v2/{pages,blogposts}/{id}`, `api/v2/<listing>/{id}/likes/users` and v1
`rest/api/user/bulk?accountId=a,b`. Every answer carries `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset` (ISO 8601).

Knobs: `basic` ("e-mail:API token") and `bearer` (an OAuth access token): when either is
set, a request needs one of them, else HTTP 401 in the v2 error format; `can_look_up_users`
(403 on the user lookup when false); `rate_limit = (requests, seconds)`: after that many
requests Remaining is 0 until the reset, and a request before it is recorded in
`early` and answered 429 with `Retry-After`; `reset_only`: a 429 (over the limit, or a
plan's throttle) names only `X-RateLimit-Reset`, no `Retry-After`, as Atlassian's page
allows; `spend_elsewhere()`: another client spends the rest of the window; `prefix`
(served under the OAuth gateway's `/ex/confluence/<cloud id>`); `fault(...)` (scripted
answers, as the WordPress server's); `on_request(hook)`. Changes move the clock (`now`) a minute:
`add`, `edit` (a new version), `trash`, `like`. A seeded `plan` (faults.py) draws faults;
its repeats serve a listing's previous answer of the same walk again (its `next` leads back
to the link just followed). `tripwire` (crashsite.py) sees every content listing request.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.connectors.faults import HTML_ERROR, FaultPlan, cut, pause
from tests.connectors.localserver import Handler, LocalServer
from tests.connectors.wordpress_server import Fault, Recorded, Scripted

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "confluence"
BASE = "https://example-claims.atlassian.net/wiki"
CONTENT = ("blogposts", "pages")
COMMENTS = ("footer-comments", "inline-comments")
Answer = tuple[int, dict[str, str], bytes]


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def error_body(status: int, code: str, title: str) -> bytes:
    """A v2 error answer."""
    return json.dumps(
        {"errors": [{"status": status, "code": code, "title": title, "detail": None}]}
    ).encode()


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class ConfluenceServer(Scripted, LocalServer):
    """A `LocalServer` answering as the fixture wiki; `start()` and `stop()` it."""

    def __init__(self) -> None:
        self.spaces = {s["id"]: s for s in load("spaces")}
        self.items: dict[str, dict[str, dict[str, Any]]] = {
            route: {item["id"]: item for item in load(route)} for route in CONTENT + COMMENTS
        }
        self.likes: dict[str, list[str]] = load("likes")
        self.users = {u["accountId"]: u for u in load("users")}
        self.now = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
        self.basic: str | None = None
        self.bearer: str | None = None
        self.can_look_up_users = True
        self.rate_limit: tuple[int, float] | None = None
        self.early: list[str] = []
        self.reset_only = False
        self.requests: list[Recorded] = []
        self.faults: dict[str, list[Fault]] = {}
        self.hooks: list[Callable[[Recorded], None]] = []
        self.plan: FaultPlan | None = None
        self.tripwire: Any = None
        #: Served under this path, as Atlassian's OAuth gateway serves a site
        #: (`/ex/confluence/<cloud id>`); `_links.next` still starts with /wiki.
        self.prefix = ""
        self._last: dict[tuple[str, ...], Answer] = {}
        self._window: tuple[float, int] = (0.0, 0)  # (reset at, requests in it)
        self.lock = threading.RLock()
        super().__init__(_handler_for(self))

    @classmethod
    def scaled(cls, copies: int) -> ConfluenceServer:
        """The fixture wiki `copies` times over: ids 1,000,000 apart, each copy 30 days
        earlier than the one before."""
        server = cls()
        originals = {route: list(items.values()) for route, items in server.items.items()}
        for number in range(1, copies):
            shift, earlier = 1_000_000 * number, timedelta(days=30 * number)
            for route, items in originals.items():
                for item in copy.deepcopy(items):
                    for key in ("id", "pageId", "blogPostId", "parentCommentId"):
                        if item.get(key):
                            item[key] = str(int(item[key]) + shift)
                    for holder, key in ((item, "createdAt"), (item["version"], "createdAt")):
                        if key in holder:
                            holder[key] = stamp(parse(holder[key]) - earlier)
                    server.items[route][item["id"]] = item
            for key, likers in list(server.likes.items()):
                route, item_id = key.split("/")
                if int(item_id) < 1_000_000:
                    server.likes[f"{route}/{int(item_id) + shift}"] = list(likers)
        return server

    @property
    def url(self) -> str:
        """The wiki root, as a source's `url` names it."""
        return self.origin + self.prefix + "/wiki"

    def tick(self) -> str:
        self.now += timedelta(minutes=1)
        return stamp(self.now)

    def add(self, route: str, item_id: str, like: str, html: str, **fields: Any) -> None:
        """A new item in `route` made from the item `like`, with `fields` changed."""
        with self.lock:
            item = copy.deepcopy(self.items[route][like])
            when = self.tick()
            item.update(id=item_id, createdAt=when, **fields)
            item["version"] = {**item["version"], "createdAt": when, "number": 1}
            item["body"]["storage"]["value"] = html
            item["_links"] = {"webui": item["_links"]["webui"].replace(like, item_id)}
            self.items[route][item_id] = item

    def edit(self, route: str, item_id: str, html: str) -> None:
        with self.lock:
            item = self.items[route][item_id]
            item["body"]["storage"]["value"] = html
            version = item["version"]
            item["version"] = {**version, "number": version["number"] + 1, "createdAt": self.tick()}

    def trash(self, route: str, item_id: str) -> None:
        with self.lock:
            self.items[route][item_id]["status"] = "trashed"
            self.tick()

    def like(self, route: str, item_id: str, account_id: str) -> None:
        with self.lock:
            self.likes.setdefault(f"{route}/{item_id}", []).append(account_id)
            self.tick()

    # -- answering -------------------------------------------------------------------------

    def authorised(self, header: str | None) -> bool:
        accepted = set()
        if self.basic:
            accepted.add("Basic " + base64.b64encode(self.basic.encode()).decode())
        if self.bearer:
            accepted.add(f"Bearer {self.bearer}")
        return not accepted or header in accepted

    def answer(self, route: str, query: dict[str, str]) -> Answer:
        with self.lock:
            parts = route.split("/")
            if route == "rest/api/user/bulk":
                return self._users(query)
            if parts[:2] != ["api", "v2"]:
                return 404, {}, error_body(404, "NOT_FOUND", "Not Found")
            rest = parts[2:]
            if rest == ["spaces"]:
                spaces = list(self.spaces.values())
                if query.get("keys"):
                    spaces = [s for s in spaces if s["key"] in query["keys"].split(",")]
                return self._listing(route, spaces, query)
            if len(rest) == 1 and rest[0] in CONTENT + COMMENTS:
                return self._listing(route, self._visible(rest[0], query), query)
            if len(rest) == 2 and rest[0] in CONTENT and rest[1] in self.items[rest[0]]:
                return 200, {}, json.dumps(self._shown(self.items[rest[0]][rest[1]], {})).encode()
            if len(rest) == 4 and rest[2:] == ["likes", "users"]:
                likers = [{"accountId": a} for a in self.likes.get(f"{rest[0]}/{rest[1]}", [])]
                return self._listing(route, likers, {**query, "sort": "id"})
        return 404, {}, error_body(404, "NOT_FOUND", "Not Found")

    def _visible(self, listing: str, query: dict[str, str]) -> list[dict[str, Any]]:
        items = list(self.items[listing].values())
        if listing in CONTENT:
            items = [i for i in items if i["status"] == query.get("status", "current")]
            if query.get("space-id"):
                items = [i for i in items if i["spaceId"] in query["space-id"].split(",")]
            return items
        current = {
            f"{r}/{i}"
            for r in CONTENT
            for i, c in self.items[r].items()
            if c["status"] == "current"
        }
        return [
            c
            for c in items
            if f"pages/{c.get('pageId')}" in current
            or f"blogposts/{c.get('blogPostId')}" in current
        ]

    def _users(self, query: dict[str, str]) -> Answer:
        if not self.can_look_up_users:
            return 403, {}, json.dumps({"statusCode": 403, "message": "Forbidden"}).encode()
        wanted = [a for a in query.get("accountId", "").split(",") if a]
        found = [self.users[a] for a in wanted if a in self.users]
        body = {
            "results": found,
            "start": 0,
            "limit": 200,
            "size": len(found),
            "_links": {"base": BASE, "context": "/wiki"},
        }
        return 200, {}, json.dumps(body).encode()

    def _listing(self, route: str, items: list[dict[str, Any]], query: dict[str, str]) -> Answer:
        limit = int(query.get("limit", 25))
        if not 1 <= limit <= 250:
            return 400, {}, error_body(400, "INVALID_REQUEST_PARAMETER", "limit")
        sort = query.get("sort", "id")
        descending = sort.startswith("-")
        order = _ORDERS[sort.lstrip("-")]
        # keyset: (sort value, id); a like has no id, its position serves
        keyed = sorted(
            (((order(i), int(i.get("id") or n)), i) for n, i in enumerate(items)),
            key=lambda pair: pair[0],
        )
        ranked = [(k, i) for k, i in (reversed(keyed) if descending else keyed)]
        if "cursor" in query:
            after = tuple(json.loads(base64.urlsafe_b64decode(query["cursor"])))
            after = (tuple(after[0]), after[1])
            ranked = [(k, i) for k, i in ranked if (k < after if descending else k > after)]
        shown, more = ranked[:limit], len(ranked) > limit
        links: dict[str, str] = {"base": BASE}
        headers: dict[str, str] = {}
        if more:
            last = shown[-1][0]
            token = base64.urlsafe_b64encode(json.dumps([list(last[0]), last[1]]).encode())
            params = {k: v for k, v in query.items() if k != "cursor"}
            links["next"] = f"/wiki/{route}?{urlencode({**params, 'cursor': token.decode()})}"
            headers["Link"] = f'<{links["next"]}>; rel="next", <{BASE}>; rel="base"'
        results = [self._shown(i, query) for _, i in shown]
        return 200, headers, json.dumps({"results": results, "_links": links}).encode()

    @staticmethod
    def _shown(item: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if query.get("body-format") == "storage" or "body" not in item:
            return item
        return {k: v for k, v in item.items() if k != "body"}

    def spend_elsewhere(self) -> None:
        """Another client with the same credentials spends a whole window, begun now."""
        limit, seconds = self.rate_limit or (1_000_000, 60.0)
        with self.lock:
            self._window = (_ms_up(time.time() + seconds), limit)

    def rate_headers(self) -> tuple[dict[str, str], bool]:
        """The rate-limit headers for the next answer, and whether it is over the limit."""
        limit, seconds = self.rate_limit or (1_000_000, 60.0)
        now = time.time()
        reset_at, used = self._window
        if now >= reset_at:
            reset_at, used = _ms_up(now + seconds), 0
        over = self.rate_limit is not None and used >= limit
        if over:
            self.early.append(f"{reset_at - now:.3f} s before the reset")
        else:
            used += 1
        self._window = (reset_at, used)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - used)),
            "X-RateLimit-Reset": reset_stamp(reset_at),
        }
        if over and not self.reset_only:
            headers["Retry-After"] = str(max(1, round(reset_at - now)))
        return headers, over


def _ms_up(epoch: float) -> float:
    """`epoch` rounded up to the millisecond, the precision the reset goes out with."""
    return math.ceil(epoch * 1000) / 1000


def reset_stamp(epoch: float) -> str:
    """An `X-RateLimit-Reset` value: ISO 8601 in UTC, to the millisecond (rounded up)."""
    return stamp(datetime.fromtimestamp(_ms_up(epoch), UTC))


_ORDERS: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {
    "id": lambda item: (),
    "modified-date": lambda item: (item["version"]["createdAt"],),
    "created-date": lambda item: (item.get("createdAt") or item["version"]["createdAt"],),
}


def _handler_for(server: ConfluenceServer) -> type[BaseHTTPRequestHandler]:
    class ConfluenceHandler(Handler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            route = parts.path.removeprefix(server.prefix + "/wiki/")
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            server.record(route, query, dict(self.headers))
            listing = route.removeprefix("api/v2/") in CONTENT + COMMENTS
            tripwire = server.tripwire if listing else None
            if tripwire:
                tripwire.enter()
            try:
                status, headers, body, length, close = self._answer(route, query, listing)
            finally:
                if tripwire:
                    tripwire.leave()
            headers = {"Content-Type": "application/json;charset=UTF-8", **headers}
            self.send(status, headers, body, length=length, close=close)

        def _answer(
            self, route: str, query: dict[str, str], listing: bool
        ) -> tuple[int, dict[str, str], bytes, int | None, bool]:
            with server.lock:
                fault = server.take_fault(route, query)
                limits, over = server.rate_headers()
            # a scripted fault or a rate limit answers instead of what the plan would draw
            planned = server.plan and not fault and not over
            drawn = server.plan.draw(route, listing=listing) if planned else None
            if fault and fault.delay:
                time.sleep(fault.delay)
            if server.plan:
                pause(drawn, server.plan)
            if not server.authorised(self.headers.get("Authorization")):
                return 401, limits, error_body(401, "UNAUTHORIZED", "Unauthorized"), None, False
            if over:
                body = error_body(429, "TOO_MANY_REQUESTS", "Rate limit exceeded")
                return 429, limits, body, None, False
            status, headers, body = self._drawn(drawn, route, query, server.answer(route, query))
            headers = {**limits, **headers}
            if fault and fault.cut_at is None:
                return fault.status, {**limits, **fault.headers}, fault.body, None, False
            if fault:
                return status, headers, body[: fault.cut_at], len(body), True
            if status == 200:
                body, length, close = cut(body, drawn)
                return status, headers, body, length, close
            return status, headers, body, None, False

        def _drawn(
            self, drawn: str | None, route: str, query: dict[str, str], answer: Answer
        ) -> Answer:
            plan = server.plan
            if plan is None:
                return answer
            if drawn == "error":
                return plan.error_status(), {"Content-Type": "text/html"}, HTML_ERROR
            if drawn == "throttle":
                body = error_body(429, "TOO_MANY_REQUESTS", "Rate limit exceeded")
                headers = {
                    "X-RateLimit-Remaining": "0",
                    "RateLimit-Reason": "confluence-burst-based",
                }
                if server.reset_only:  # the window the plan opened ends at most then
                    headers["X-RateLimit-Reset"] = reset_stamp(time.time() + plan.wait)
                else:
                    headers["Retry-After"] = str(plan.wait)
                return 429, headers, body
            walk = (route, query.get("sort", ""), query.get("status", ""))
            with server.lock:
                if "cursor" not in query:
                    server._last.pop(walk, None)
                elif drawn == "repeat" and walk in server._last:
                    return server._last[walk]
                if answer[0] == 200:
                    server._last[walk] = answer
            return answer

    return ConfluenceHandler


def bench(copies: int, limit: int, runs: int) -> None:
    """Print items/s of full passes (`pages(None)`, nothing stored) against the fixture
    wiki `copies` times over, with likes and without."""
    from service.config import SourceConfig
    from service.connectors.confluence import ConfluenceConnector
    from service.connectors.http import HttpClient

    with ConfluenceServer.scaled(copies) as server:
        for likes in (True, False):
            options = {"limit": limit, "likes": likes}
            source = SourceConfig(
                id="wiki", kind="confluence", audience="internal", url=server.url, options=options
            )
            timings, items, requests = [], 0, 0
            for _ in range(runs + 1):  # the first warms up
                client = HttpClient(max_requests=None)
                started = time.perf_counter()
                items = sum(len(p.records) for p in ConfluenceConnector(source, client).pages(None))
                timings.append(time.perf_counter() - started)
                requests = client.requests_made
            best = sorted(timings[1:])[len(timings[1:]) // 2]
            print(
                f"likes={likes}: {items} items, {requests} requests, median {best:.2f} s, "
                f"{items / best:,.0f} items/s"
            )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=bench.__doc__)
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    bench(arguments.copies, arguments.limit, arguments.runs)
