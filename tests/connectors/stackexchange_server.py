"""A local Stack Exchange API 2.3 for connector tests: real sockets, real-format items.

`StackExchangeServer` holds a site's questions, answers and comments (plain dicts in the
API's field format, loaded from tests/fixtures/stackexchange) and answers the four methods
the connector calls, under any URL prefix:

    /questions?sort=activity&order=asc&min=&page=&pagesize=   by last_activity_date, inclusive
    /questions/{ids}/answers, /questions/{ids}/comments, /answers/{ids}/comments
                                                              by creation_date, paged

Each answer is the documented wrapper: `items`, `has_more`, `quota_max`, `quota_remaining`
(one less per request; at 0 the API's own 400 throttle_violation), and `backoff` when
scripted. `body` is only sent when a `filter` is (as the default filter leaves it out).
Tests change the site by editing the dicts, and script faults with `fault(...)` or draw
them with a seeded `plan` (tests/connectors/faults.py: repeats on /questions only, where
the API's cache replays). Every request is recorded in `requests`.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.connectors.faults import HTML_ERROR, FaultPlan, cut, pause
from tests.connectors.localserver import Handler, LocalServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stackexchange"

#: route name -> (path pattern, collection, field matched against the ids, sort field)
ROUTES = {
    "questions": (re.compile(r"/questions$"), "questions", None, "last_activity_date"),
    "question-answers": (
        re.compile(r"/questions/([\d;]+)/answers$"),
        "answers",
        "question_id",
        "creation_date",
    ),
    "question-comments": (
        re.compile(r"/questions/([\d;]+)/comments$"),
        "comments",
        "post_id",
        "creation_date",
    ),
    "answer-comments": (
        re.compile(r"/answers/([\d;]+)/comments$"),
        "comments",
        "post_id",
        "creation_date",
    ),
}
THROTTLE = {
    "error_id": 502,
    "error_message": "Violation of backoff parameter",
    "error_name": "throttle_violation",
}
QUOTA_GONE = {
    "error_id": 502,
    "error_name": "throttle_violation",
    "error_message": "too many requests from this IP, more requests available in 86400 seconds",
}


@dataclass
class Fault:
    """What to do instead of (or on top of) the normal answer to a route.

    kind: "status" (answer `status` with `headers`), "throttle" (400 throttle_violation
    body), "timeout" (answer after `delay` s), "cut" (announce more bytes than sent),
    "garbled" (200 with the JSON cut in half), "duplicate" (the route's previous answer
    again), "backoff" (add `backoff` seconds to the wrapper). A throttle comes with HTTP
    `error_status`: 400 as the API sends it, 200 as it answers JSONP calls.
    """

    route: str
    kind: str
    times: int = 1
    after: int = 0
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 1.0
    backoff: int = 0
    error_status: int = 400
    #: For a throttle: the seconds its message names ("more requests available in N").
    wait: int | None = None


@dataclass
class Recorded:
    route: str
    query: dict[str, str]
    headers: dict[str, str]


class StackExchangeServer(LocalServer):
    """A `LocalServer` answering as the Stack Exchange API; `start()` and `stop()` it."""

    def __init__(
        self,
        questions: list[dict[str, Any]],
        answers: list[dict[str, Any]],
        comments: list[dict[str, Any]],
        quota_remaining: int = 10000,
        plan: FaultPlan | None = None,
    ) -> None:
        self.data = {"questions": questions, "answers": answers, "comments": comments}
        self.quota_max = 10000
        self.quota_remaining = quota_remaining
        self.faults: list[Fault] = []
        self.plan = plan
        self.requests: list[Recorded] = []
        self._last: dict[str, bytes] = {}
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    @classmethod
    def from_fixtures(cls, *names: str) -> StackExchangeServer:
        """A server holding the items of the named fixture files ("beer_site" holds all
        three kinds; "questions" and "answers" are the recorded Stack Overflow answers)."""
        data: dict[str, list[dict[str, Any]]] = {"questions": [], "answers": [], "comments": []}
        for name in names:
            raw = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
            if "items" in raw:
                data[name].extend(raw["items"])
            else:
                for kind, items in raw.items():
                    data[kind].extend(items)
        return cls(**copy.deepcopy(data))

    @classmethod
    def scaled(cls, copies: int, plan: FaultPlan | None = None) -> StackExchangeServer:
        """The beer site `copies` times over (ids 100 apart, times 10^6 s apart): enough
        requests for a fault plan to show every fault."""
        site = json.loads((FIXTURES / "beer_site.json").read_text(encoding="utf-8"))
        data: dict[str, list[dict[str, Any]]] = {kind: [] for kind in site}
        for copy_number in range(copies):
            shift_id, shift_time = 100 * copy_number, 1_000_000 * copy_number
            for kind, items in site.items():
                for item in copy.deepcopy(items):
                    for name in ("question_id", "answer_id", "comment_id", "post_id"):
                        if name in item:
                            item[name] += shift_id
                    if item.get("accepted_answer_id"):
                        item["accepted_answer_id"] += shift_id
                    for name in ("creation_date", "last_activity_date", "last_edit_date"):
                        if name in item:
                            item[name] += shift_time
                    data[kind].append(item)
        return cls(**data, plan=plan)

    def url(self, path: str = "/2.3") -> str:
        return self.origin + path

    def fault(self, route: str, kind: str, **options: Any) -> None:
        with self._lock:
            self.faults.append(Fault(route, kind, **options))

    def count(self, route: str | None = None) -> int:
        return sum(1 for r in self.requests if route is None or r.route == route)

    def item(self, kind: str, item_id: int) -> dict[str, Any]:
        id_field = {"questions": "question_id", "answers": "answer_id"}.get(kind, "comment_id")
        return next(i for i in self.data[kind] if i[id_field] == item_id)

    def remove(self, kind: str, item_id: int) -> None:
        self.data[kind].remove(self.item(kind, item_id))

    def answer(self, path: str, query: dict[str, str]) -> tuple[str, dict[str, Any]]:
        """The route name and the wrapper for one request, without faults."""
        matched = next(
            ((name, route, m) for name, route in ROUTES.items() if (m := route[0].search(path))),
            None,
        )
        if matched is None:
            error = {"error_id": 404, "error_name": "no_method", "error_message": path}
            return "unknown", error
        name, (_, kind, match_field, sort_field), found = matched
        items = self.data[kind]
        if match_field:
            wanted = {int(i) for i in found.group(1).split(";")}
            items = [i for i in items if i.get(match_field) in wanted]
        if "min" in query:
            items = [i for i in items if i.get(sort_field, 0) >= int(query["min"])]
        id_field = "question_id" if kind == "questions" else f"{kind[:-1]}_id"
        items = sorted(items, key=lambda i: (i.get(sort_field, 0), i.get(id_field, 0)))
        if query.get("order", "desc") == "desc":
            items.reverse()
        size, page = int(query.get("pagesize", 30)), int(query.get("page", 1))
        chosen = items[(page - 1) * size : page * size]
        if "filter" not in query:
            chosen = [{k: v for k, v in i.items() if k != "body"} for i in chosen]
        wrapper = {"items": copy.deepcopy(chosen), "has_more": page * size < len(items)}
        return name, wrapper


def _handler_for(server: StackExchangeServer) -> type[BaseHTTPRequestHandler]:
    class StackExchangeHandler(Handler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            with server._lock:
                route, wrapper = server.answer(parts.path, query)
                server.requests.append(Recorded(route, query, dict(self.headers)))
                fault = _take_fault(server, route)
                drawn = (
                    server.plan.draw(route, listing=route == "questions") if server.plan else None
                )
                status, headers, body, delay = _respond(server, route, wrapper, fault, drawn)
                server._last[route] = body if status == 200 else server._last.get(route, b"")
            if delay:
                time.sleep(delay)
            if server.plan:
                pause(drawn, server.plan)
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
            length = len(body)
            if fault and fault.kind == "cut":
                # The whole length announced, a part sent, the connection closed (without
                # a `Connection: close` header to say so).
                body, self.close_connection = body[: len(body) // 3], True
            elif status == 200:
                body, length, self.close_connection = cut(body, drawn)
            self.send(status, headers, body, length=length)

    return StackExchangeHandler


def _take_fault(server: StackExchangeServer, route: str) -> Fault | None:
    for fault in server.faults:
        if fault.route != route:
            continue
        if fault.after:
            fault.after -= 1
            return None
        fault.times -= 1
        if fault.times <= 0:
            server.faults.remove(fault)
        return fault
    return None


def _respond(
    server: StackExchangeServer,
    route: str,
    wrapper: dict[str, Any],
    fault: Fault | None,
    drawn: str | None = None,
) -> tuple[int, dict[str, str], bytes, float]:
    kind = fault.kind if fault else drawn
    if "error_id" in wrapper:
        return 400, {}, json.dumps(wrapper).encode(), 0.0
    if server.quota_remaining <= 0:
        return 400, {}, json.dumps(QUOTA_GONE).encode(), 0.0
    if kind == "error" and server.plan:
        return server.plan.error_status(), {"Content-Type": "text/html"}, HTML_ERROR, 0.0
    if kind == "throttle" and server.plan and not fault:
        wait = server.plan.wait
        message = f"too many requests from this IP, more requests available in {wait} seconds"
        return 400, {}, json.dumps({**THROTTLE, "error_message": message}).encode(), 0.0
    if kind == "repeat" and server._last.get(route):
        return 200, {}, server._last[route], 0.0
    if kind == "status" and fault:
        return fault.status, dict(fault.headers), b'{"error": "temporarily unavailable"}', 0.0
    if kind == "throttle" and fault:
        error = dict(THROTTLE)
        if fault.wait is not None:
            error["error_message"] = (
                f"too many requests from this IP, more requests available in {fault.wait} seconds"
            )
        return fault.error_status, {}, json.dumps(error).encode(), 0.0
    if kind == "duplicate" and server._last.get(route):
        return 200, {}, server._last[route], 0.0
    server.quota_remaining -= 1
    wrapper |= {"quota_max": server.quota_max, "quota_remaining": server.quota_remaining}
    if kind == "backoff":
        wrapper["backoff"] = fault.backoff if fault else server.plan.wait if server.plan else 0
    body = json.dumps(wrapper).encode()
    if kind == "garbled":
        body = body[: len(body) // 2]
    delay = fault.delay if kind == "timeout" and fault else 0.0
    return 200, {}, body, delay
