"""The plumbing every fake source in these tests shares: a threaded HTTP server on a free
local port, and a request handler that sends an answer and keeps quiet.

A fake source subclasses `LocalServer`, passing the `Handler` subclass that answers for
it; the handler's `send` writes one answer (whole, or cut short for the truncation tests).
A fixture serves one for its test with `with Server(...) as server: yield server`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

__all__ = ["Handler", "LocalServer"]


class LocalServer:
    """A `ThreadingHTTPServer` on 127.0.0.1, port 0, in a daemon thread; `start()` and
    `stop()` it, or run it for a `with` block (what the fixtures do)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        """`http://host:port`, without a path."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; subclasses write `do_GET` and answer through `send`."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle's algorithm and the
    # client's delayed ACK add 40 ms to every request.
    disable_nagle_algorithm = True

    def send(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        length: int | None = None,
        close: bool = False,
    ) -> None:
        """Send `headers` and `body`, announcing `length` bytes (default: the body's).

        `close` adds `Connection: close` and ends the connection after this answer, as an
        answer cut short must. A client that has left (timed out) is not an error.
        """
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left, as the timeout tests make it

    def log_message(self, format: str, *args: object) -> None:
        pass
