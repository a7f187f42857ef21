"""Prometheus metrics at `GET /metrics` (text exposition format).

Request metrics are observed in the API process:

- `whoknows_http_request_duration_seconds{endpoint,method,status}`: a histogram; `endpoint`
  is the route template (`/v1/people/<int:person_id>`), never the path, so ids and e-mails
  never become labels (its `_count` is the request counter).

Sync runs in other processes (the CronJobs), so what they did is read from the store at
scrape time instead (`StoreCollector`):

- per source: `whoknows_source_contributions` (live items stored),
  `whoknows_source_items_synced_total`, `whoknows_source_sync_errors_total`,
  `whoknows_source_last_run_timestamp_seconds`,
  `whoknows_source_last_success_timestamp_seconds`, `whoknows_source_failing` (1 when the
  last run failed);
- the index: `whoknows_index_documents` (live contributions, what the index holds once
  the outbox is drained), `whoknows_outbox_pending`, `whoknows_outbox_oldest_seconds`;
- `whoknows_store_up` (0 when the store did not answer; the scrape still succeeds) and
  `whoknows_store_scrape_seconds`.

Labels carry only configuration (source ids) and route templates: nothing from a
contribution, an error message or a request. The endpoint has no authentication, like
`/healthz`; the Helm chart's NetworkPolicy lets only the monitoring namespace reach it.

With several gunicorn workers, `PROMETHEUS_MULTIPROC_DIR` (prometheus_client's own
variable; the gunicorn configuration sets it) names a folder where every worker writes its
samples; a scrape of any worker then sums them all.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator

from flask import Flask, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.engine import Engine

from service.store import outbox
from service.store import sync as store_sync
from service.store.schema import sync_state

__all__ = ["REQUEST_SECONDS", "StoreCollector", "init_metrics", "observe_request"]

log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "whoknows_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status.",
    ["endpoint", "method", "status"],
)
#: Methods kept as they are in the label; any other becomes "other" (bounded labels).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    method = method if method in _METHODS else "other"
    REQUEST_SECONDS.labels(endpoint, method, str(status)).observe(seconds)


class StoreCollector(Collector):
    """Sync and index figures read from the store at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily("whoknows_store_up", "1 when the store answered this scrape.")
        try:
            families = self._families()
        except Exception:  # noqa: BLE001 - a store outage must not fail the scrape
            log.warning("metrics: the store did not answer", exc_info=True)
            families = []
        up.add_metric([], 1.0 if families else 0.0)
        yield up
        yield from families
        took = GaugeMetricFamily("whoknows_store_scrape_seconds",
                                 "Time the store queries of this scrape took.")
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _families(self) -> list[Metric]:
        with self.engine.connect() as conn:
            statuses = store_sync.list_sources(conn)
            synced = dict(conn.execute(select(sync_state.c.source_id,
                                              sync_state.c.items_total)).all())
            lag = outbox.lag(conn)
        now = time.time()
        per_source: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "contributions": GaugeMetricFamily(
                "whoknows_source_contributions", "Live contributions stored, per source.",
                labels=["source"]),
            "synced": CounterMetricFamily(
                "whoknows_source_items_synced", "Items stored by syncs and imports, per source.",
                labels=["source"]),
            "errors": CounterMetricFamily(
                "whoknows_source_sync_errors", "Sync errors recorded, per source.",
                labels=["source"]),
            "last_run": GaugeMetricFamily(
                "whoknows_source_last_run_timestamp_seconds",
                "When the source's last sync ran (Unix time).", labels=["source"]),
            "last_success": GaugeMetricFamily(
                "whoknows_source_last_success_timestamp_seconds",
                "When the source's last sync succeeded (Unix time).", labels=["source"]),
            "failing": GaugeMetricFamily(
                "whoknows_source_failing", "1 when the source's last sync failed.",
                labels=["source"]),
        }
        for s in statuses:
            per_source["contributions"].add_metric([s.id], s.contributions)
            per_source["synced"].add_metric([s.id], synced.get(s.id) or 0)
            per_source["errors"].add_metric([s.id], s.errors)
            if s.last_run_at:
                per_source["last_run"].add_metric([s.id], s.last_run_at.timestamp())
            if s.last_success_at:
                per_source["last_success"].add_metric([s.id], s.last_success_at.timestamp())
            per_source["failing"].add_metric([s.id], 1.0 if s.last_error else 0.0)
        documents = GaugeMetricFamily(
            "whoknows_index_documents",
            "Live contributions: the documents the search index holds once drained.")
        documents.add_metric([], sum(s.contributions for s in statuses))
        pending = GaugeMetricFamily("whoknows_outbox_pending",
                                    "Changes waiting in the outbox for the search cluster.")
        pending.add_metric([], lag.pending)
        oldest = GaugeMetricFamily("whoknows_outbox_oldest_seconds",
                                   "How long the oldest change has waited in the outbox.")
        oldest.add_metric([], lag.oldest and max(0.0, now - lag.oldest.timestamp()) or 0.0)
        return [*per_source.values(), documents, pending, oldest]


def _registry(engine: Engine) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # every worker's request samples
    else:
        registry.register(REQUEST_SECONDS)
    registry.register(StoreCollector(engine))
    return registry


def init_metrics(app: Flask, engine: Engine) -> None:
    """Serve `/metrics` for this app's store."""

    def metrics() -> Response:
        return Response(generate_latest(_registry(engine)), content_type=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
