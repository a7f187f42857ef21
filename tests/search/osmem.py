"""The search clusters the contract suite runs against, and a cuttable network path.

- osmem-server (PyPI `osmem-server`): an independent, in-memory, OpenSearch-compatible
  server (a Go binary in the wheel), started once per session on a random port and spoken
  to through `opensearch-py`.
- Real clusters, when `WHOKNOWS_TEST_SEARCH_URL` names them (several separated by spaces;
  credentials in the URL, `https://user:password@host:9200`); each one's flavor
  (Elasticsearch or OpenSearch, hence the client) is read from its `GET /`.

`MediaTypeProxy` lets the `elasticsearch` client talk to osmem-server: that client sends
`application/vnd.elasticsearch+json; compatible-with=8`, which Elasticsearch accepts and
osmem refuses (406); the proxy rewrites it to `application/json`. The Elasticsearch flavor's
code (client, request bodies, bulk helper) then runs in every test run, without an
Elasticsearch server.

`TcpProxy` stands for the network between whoknows and the cluster; the outage test cuts
and restores it. osmem keeps its data in memory only: stopping its process would be a loss
of the whole index (a failure the engine meets by rebuilding from the store), not the
outage a real cluster has, after which it comes back with its data.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import threading
import urllib.request
from contextlib import suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["ClusterTarget", "MediaTypeProxy", "TcpProxy", "real_clusters", "start_osmem"]


@dataclass(frozen=True)
class ClusterTarget:
    #: the engine parameter's name in test ids
    name: str
    url: str
    flavor: str


def real_clusters() -> list[ClusterTarget]:
    """The clusters named by WHOKNOWS_TEST_SEARCH_URL, each with the flavor it reports."""
    found = []
    for url in os.environ.get("WHOKNOWS_TEST_SEARCH_URL", "").split():
        flavor = _flavor(url)
        found.append(ClusterTarget(f"{flavor}-cluster", url, flavor))
    return found


def _flavor(url: str) -> str:
    parts = urlsplit(url)
    headers = {}
    if parts.username:  # urllib does not send the URL's credentials by itself
        secret = f"{parts.username}:{parts.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()
        url = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    request = urllib.request.Request(url.rstrip("/") + "/", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            version = json.load(response).get("version", {})
    except OSError as exc:
        raise RuntimeError(f"WHOKNOWS_TEST_SEARCH_URL: {parts.hostname}:{parts.port} did not "
                           f"answer GET /: {exc}") from exc
    return "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"


def start_osmem() -> object:
    """A running osmem-server (its `.url`, `.close()`)."""
    from osmem_server import OsmemServer

    return OsmemServer.start(freeze=False, japanese=False)


class TcpProxy:
    """Forwards a local port to `target` (host:port) until `stop`; `start` again listens on
    the same port."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.scheme = parts.scheme
        self.target = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        for sock in ([listener] if listener else []) + list(sockets):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class MediaTypeProxy:
    """An HTTP proxy to `target` that sends Elasticsearch's compatible-with media types
    on as plain `application/json`."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        upstream = (parts.hostname or "127.0.0.1", parts.port or 9200)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name: ("application/json" if "compatible-with" in value else value)
                           for name, value in self.headers.items()
                           if name.lower() not in ("host", "content-length", "connection")}
                connection = http.client.HTTPConnection(*upstream, timeout=30)
                try:
                    connection.request(self.command, self.path, body=body or None,
                                       headers=headers)
                    response = connection.getresponse()
                    payload = response.read()
                finally:
                    connection.close()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("content-length", "connection",
                                            "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
