"""Fake partner portals for the jsonfeed tests: real sockets, items from tests/fixtures.

`PortalServer(style, items)` serves `items` (a list the test may edit between runs) the
way `style` lays its API out: one of four pagination styles, its own envelope, its own
update-time filter, listed in ascending, descending or insertion order. Faults are
scheduled in order, one per request (`None` for a normal answer):

    Fault(status=429, retry_after="1")   an error status, with Retry-After if given
    Fault(delay=0.5)                      answer late (past the client's timeout)
    Fault(cut=True)                       announce the whole body, send half, hang up
    Fault(cut_json=True)                  send half the body as if whole (broken JSON)
    Fault(repeat=True)                    send the previous answer again

Every request is recorded in `server.requests` with its query parameters and headers.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.connectors.localserver import Handler, LocalServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jsonfeed"

Item = dict[str, Any]


def load_items(name: str) -> list[Item]:
    """A fresh copy of a fixture's items (tests edit them)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class Listing:
    """One answer's slice of the listing, for an envelope to wrap."""

    items: list[Item]
    page: int
    per_page: int
    total: int
    next_cursor: str | None


@dataclass
class PortalStyle:
    """How one fake portal lays out its API."""

    pagination: str  # page | offset | cursor | link
    envelope: Callable[[Listing], Any]
    updated: Callable[[Item], float]  # an item's update time, epoch seconds
    order: str = "asc"  # asc | desc | insertion
    per_page: int = 3
    page_param: str = "page"
    per_page_param: str = "per_page"
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    since_param: str | None = None
    since: Callable[[str], float] = float


@dataclass
class Fault:
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    cut: bool = False
    cut_json: bool = False
    repeat: bool = False


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Answer:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class PortalServer(LocalServer):
    """A `LocalServer` serving one portal at `path`; `start()` and `stop()` it."""

    def __init__(self, style: PortalStyle, items: list[Item], path: str = "/api/items") -> None:
        self.style = style
        self.items = items
        self.path = path
        self.requests: list[Seen] = []
        self._faults: list[Fault | None] = []
        self._last: _Answer | None = None
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    def start(self) -> PortalServer:  # type: ignore[override]
        super().start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}{self.path}"

    def schedule(self, *faults: Fault | None) -> None:
        with self._lock:
            self._faults.extend(faults)

    def restyle(self, **changes: Any) -> None:
        self.style = replace(self.style, **changes)

    def _fault(self) -> Fault:
        with self._lock:
            return (self._faults.pop(0) if self._faults else None) or Fault()

    def answer(self, query: dict[str, str]) -> _Answer:
        """The portal's answer to a listing request with these query parameters."""
        style = self.style
        listing = list(self.items)
        if style.since_param and style.since_param in query:
            since = style.since(query[style.since_param])
            listing = [item for item in listing if style.updated(item) >= since]
        if style.order != "insertion":
            listing.sort(key=style.updated, reverse=style.order == "desc")
        size = int(
            query.get(style.per_page_param) or query.get(style.limit_param) or style.per_page
        )
        if style.pagination == "offset":
            start = int(query.get(style.offset_param, 0))
        elif style.pagination == "cursor":
            token = query.get(style.cursor_param)
            start = json.loads(base64.urlsafe_b64decode(token))["after"] if token else 0
        else:
            start = (int(query.get(style.page_param, 1)) - 1) * size
        end = start + size
        more = end < len(listing)
        token = base64.urlsafe_b64encode(json.dumps({"after": end}).encode()).decode()
        page = Listing(
            listing[start:end], start // size + 1, size, len(listing), token if more else None
        )
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if style.pagination == "link" and more:
            following = urlencode({**query, style.page_param: page.page + 1})
            headers["Link"] = f'<{self.path}?{following}>; rel="next", <{self.path}>; rel="first"'
        return _Answer(json.dumps(style.envelope(page)).encode("utf-8"), headers)


def total_pages(listing: Listing) -> int:
    return max(1, math.ceil(listing.total / listing.per_page))


def _handler_for(server: PortalServer) -> type[BaseHTTPRequestHandler]:
    class PortalHandler(Handler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            with server._lock:
                server.requests.append(Seen(parts.path, query, dict(self.headers)))
            fault = server._fault()
            if fault.delay:
                time.sleep(fault.delay)
            if parts.path != server.path:
                self._send(404, _Answer(b'{"error": "not found"}'))
            elif fault.status != 200:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._send(fault.status, _Answer(b'{"error": "try later"}', headers))
            elif fault.repeat and server._last is not None:
                self._send(200, server._last)
            else:
                answer = server.answer(query)
                if fault == Fault():
                    server._last = answer  # what a later `repeat` sends again
                self._send(200, answer, fault)

        def _send(self, status: int, answer: _Answer, fault: Fault | None = None) -> None:
            body, length = answer.body, len(answer.body)
            if fault and (fault.cut or fault.cut_json):
                body = body[: len(body) // 2]
                length = length if fault.cut else len(body)
            self.send(status, answer.headers, body, length=length, close=bool(fault and fault.cut))

    return PortalHandler
