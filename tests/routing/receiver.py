"""A webhook receiver on a local port, as a subscriber would run one: it checks the
signature, answers each attempt with the next scripted status (per idempotency key), and
processes each key once, the first time it answers 2xx."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service.routing.webhooks import SIGNATURE_HEADER, verify


@dataclass
class Attempt:
    key: str
    event: str
    body: str
    signed: bool
    status: int


@dataclass
class Receiver:
    secret: str = ""
    #: statuses to answer per key, in order; then 200
    script: list[int] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    _count: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                key = self.headers.get("Idempotency-Key", "")
                signed = verify(receiver.secret, self.headers.get(SIGNATURE_HEADER, ""), body,
                                time.time(), tolerance=10**10)
                step = receiver._count[key]
                receiver._count[key] += 1
                status = receiver.script[step] if step < len(receiver.script) else 200
                if not signed:
                    status = 401
                receiver.attempts.append(Attempt(key, self.headers.get("Whoknows-Event", ""),
                                                 body, signed, status))
                if 200 <= status < 300 and key not in receiver.processed:
                    receiver.processed[key] = json.loads(body)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
