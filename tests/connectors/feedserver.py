"""A local HTTP server for connector tests: real sockets, recorded real-format files.

The `feed_server` fixture (conftest.py) starts one per test on a free port.

`feed_server.file(path, fixture, ...)` serves a file from tests/fixtures/feeds with
conditional-GET support; `feed_server.reply(path, ...)` queues scripted answers, used in
order, the last one repeating. Every request is recorded in `feed_server.requests`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.connectors.localserver import Handler, LocalServer

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    #: Validators: a request presenting them gets a 304.
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    at: float


class FeedServer(LocalServer):
    """A `LocalServer` answering from `routes`; `start()` and `stop()` it."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    def url(self, path: str) -> str:
        return self.origin + path

    def reply(
        self,
        path: str,
        status: int = 200,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self._add(path, Reply(status, data, dict(headers or {}), delay))

    def file(
        self,
        path: str,
        fixture: str,
        content_type: str = "application/rss+xml; charset=UTF-8",
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        body = (FEEDS / fixture).read_bytes()
        headers = {"Content-Type": content_type}
        self._add(path, Reply(200, body, headers, etag=etag, last_modified=last_modified))

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path.split("?")[0] == path)

    def _add(self, path: str, reply: Reply) -> None:
        with self._lock:
            self.routes.setdefault(path, []).append(reply)

    def _next(self, path: str) -> Reply | None:
        with self._lock:
            queue = self.routes.get(path.split("?")[0])
            if not queue:
                return None
            return queue.pop(0) if len(queue) > 1 else queue[0]


def _handler_for(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class FeedHandler(Handler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            with server._lock:
                server.requests.append(Recorded(self.path, dict(self.headers), time.monotonic()))
            reply = server._next(self.path) or Reply(404, b"not found")
            if reply.delay:
                time.sleep(reply.delay)
            status, body = reply.status, reply.body
            headers = dict(reply.headers)
            if reply.etag:
                headers["ETag"] = reply.etag
            if reply.last_modified:
                headers["Last-Modified"] = reply.last_modified
            if _not_modified(reply, self.headers):
                status, body = 304, b""
            self.send(status, headers, body)

    return FeedHandler


def _not_modified(reply: Reply, headers: Message) -> bool:
    # As RFC 9110 says: If-None-Match, when sent, decides; If-Modified-Since only without it.
    if reply.etag and headers.get("If-None-Match"):
        return headers.get("If-None-Match") == reply.etag
    since = headers.get("If-Modified-Since")
    return bool(reply.last_modified and since == reply.last_modified)
