"""Timings of issue 17 on the demo company: the membership refresh, who knows who per
organisation, the open questions with their suggestions, and webhook delivery to a local
receiver.

    python -m bench.organisations [--events 1000] [--repeat 5]

Loads the demo company (`whoknows demo`'s data, end 2026-05-01) into a temporary SQLite
store, then times each step `--repeat` times and prints one JSON line of medians (ms).
Delivery: `--events` events to one subscription whose receiver (a local
ThreadingHTTPServer answering 200) checks nothing; events per second of `deliver_due`.
Figures are measured and written into BENCHMARKS.md, never asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from service import pipeline
from service.config import load_config
from service.demo.company import ORGANISATIONS
from service.demo.loader import load_demo
from service.organisations import connections as org_connections
from service.organisations import store as org_store
from service.routing import webhooks
from service.routing.questions import route

END = date(2026, 5, 1)
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _median_ms(step: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        times.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(times), 1)


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def _deliveries(services: pipeline.Services, events: int) -> float:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with services.engine.begin() as conn:
            webhooks.create_subscription(conn, f"http://127.0.0.1:{server.server_port}/",
                                         ["question.open"], None, NOW)
            for n in range(events):
                webhooks.enqueue(conn, "question.open", {"question": n}, NOW)
        started, sent = time.perf_counter(), 0
        while sent < events:
            sent += webhooks.deliver_due(services.engine, services.config.webhooks,
                                         NOW).delivered
        return round(events / (time.perf_counter() - started), 1)
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="whoknows-orgs-") as folder:
        config = Path(folder) / "whoknows.toml"
        config.write_text(f'[database]\nurl = "sqlite:///{Path(folder) / "demo.db"}"\n')
        services = pipeline.open_services(load_config(config, environ={}), clock=lambda: NOW)
        load_demo(services, END, echo=lambda _: None, queries=False)
        orgs = services.config.organisations
        customers = [o[0] for o in ORGANISATIONS]

        def refresh() -> None:
            with services.engine.begin() as conn:
                org_store.refresh(conn, orgs, NOW)

        def connections() -> None:
            with services.engine.connect() as conn:
                for org in customers:
                    org_connections.connections(conn, org, orgs.company_id,
                                                services.settings, NOW, 20)

        def topics() -> None:
            with services.engine.connect() as conn:
                for org in customers:
                    org_connections.organisation_topics(conn, org, services.settings, NOW, 20)

        def questions() -> list[Any]:
            with services.engine.connect() as conn:
                return route(conn, services.index, services.config.routing, orgs.company_id,
                             NOW, services.vocabulary)

        found = {
            "machine": f"{platform.machine()}, {platform.python_implementation()} "
                       f"{platform.python_version()}",
            "refresh_ms": _median_ms(refresh, args.repeat),
            "connections_ms_per_org": round(_median_ms(connections, args.repeat)
                                            / len(customers), 1),
            "topics_ms_per_org": round(_median_ms(topics, args.repeat) / len(customers), 1),
            "open_questions": len(questions()),
            "open_questions_ms": _median_ms(questions, args.repeat),
            "deliveries_per_s": _deliveries(services, args.events),
        }
        services.engine.dispose()
    print(json.dumps(found))


if __name__ == "__main__":
    main()
