"""The health endpoint of a worker or scheduler (the chart's probes): `GET /healthz`
answers 200 while the process's loop has beaten within `max_age` seconds, else 503."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Heartbeat"]


class Heartbeat:
    """`beat()` from the loop; `serve(port)` answers the probes in a daemon thread."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._last = time.monotonic()

    def beat(self) -> None:
        self._last = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._last <= self.max_age

    def serve(self, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:  # noqa: S104
        heartbeat = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path not in ("/healthz", "/readyz"):
                    status, body = 404, b'{"status": "not found"}'
                elif heartbeat.alive():
                    status, body = 200, b'{"status": "ok"}'
                else:
                    status, body = 503, b'{"status": "stalled"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True,
                         name="whoknows-health").start()
        return server
