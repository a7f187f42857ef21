"""Prometheus metrics at `GET /metrics` (text exposition format).

Request metrics are observed in the API process:

- `whoknows_http_request_duration_seconds{endpoint,method,status}`: a histogram; `endpoint`
  is the route template (`/v1/people/<int:person_id>`), never the path, so ids and e-mails
  never become labels (its `_count` is the request counter);
- `whoknows_rate_limit_storage_errors_total`: calls to the `[limits] storage` (Redis) that
  failed; those requests were counted in the process's memory instead (fail open).

Sync runs in other processes (the CronJobs), so what they did is read from the store at
scrape time instead (`StoreCollector`):

- per source: `whoknows_source_contributions` (live items stored, counted at most
  `[api] metrics_counts_seconds` ago, see below),
  `whoknows_source_items_synced_total`, `whoknows_source_sync_errors_total`,
  `whoknows_source_last_run_timestamp_seconds`,
  `whoknows_source_last_success_timestamp_seconds`, `whoknows_source_failing` (1 when the
  last run failed);
- the index: `whoknows_index_documents` (live contributions, what the index holds once
  the outbox is drained), `whoknows_outbox_pending`, `whoknows_outbox_oldest_seconds`;
- the community insight (`insight_state`, written by `whoknows topics --refresh`, a sync
  or a rebuild): `whoknows_insight_computed_timestamp_seconds` (0: never computed, so one
  alert on its age also catches a CronJob that never ran) and
  `whoknows_insight_compute_seconds` (how long that computation took);
- `whoknows_store_up` (0 when the store did not answer; the scrape still succeeds) and
  `whoknows_store_scrape_seconds`.

Counting live contributions scans all of them (about 0.55 s at a million on SQLite, see
BENCHMARKS.md), too much for every scrape. So each process keeps the last counts
(`LiveCounts`): the first scrape counts, a later one older than `metrics_counts_seconds`
answers with the kept counts and recounts in a background thread, and
`whoknows_store_counts_age_seconds` says how old the counts shown are. The sync state, the
errors, the outbox and the insight are read at every scrape (indexed reads of small
tables). With `metrics_counts_seconds = 0` every scrape counts.

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
import threading
import time
from collections.abc import Iterator
from datetime import datetime

from flask import Flask, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.engine import Engine

from service.insight import store as insight_store
from service.store import outbox
from service.store import sync as store_sync
from service.store.schema import sync_state

__all__ = ["RATE_LIMIT_STORAGE_ERRORS", "REQUEST_SECONDS", "LiveCounts", "StoreCollector",
           "init_metrics", "observe_request"]

log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "whoknows_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status.",
    ["endpoint", "method", "status"],
)
RATE_LIMIT_STORAGE_ERRORS = Counter(
    "whoknows_rate_limit_storage_errors",
    "Calls to the rate limits' storage (Redis) that failed; those requests were counted in "
    "the process's memory instead.",
)
#: Methods kept as they are in the label; any other becomes "other" (bounded labels).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    method = method if method in _METHODS else "other"
    REQUEST_SECONDS.labels(endpoint, method, str(status)).observe(seconds)


class LiveCounts:
    """Live contributions per source, recounted at most every `max_age` seconds.

    `get()` counts when nothing is kept yet or `max_age` is 0; otherwise it answers with
    the kept counts and, once they are older than `max_age`, starts one background recount
    (a failed recount is logged and the counts simply keep ageing)."""

    def __init__(self, engine: Engine, max_age: float) -> None:
        self.engine = engine
        self.max_age = max_age
        self._lock = threading.Lock()
        self._counts: dict[str, int] | None = None
        self._counted_at = 0.0  # time.monotonic() when the kept count started
        self._recount: threading.Thread | None = None

    def get(self) -> tuple[dict[str, int], float]:
        """Return the counts by source id and their age in seconds; raise what the store
        raises when it has to count now and cannot."""
        with self._lock:
            counts, counted_at = self._counts, self._counted_at
            if (counts is not None and self.max_age > 0 and self._recount is None
                    and time.monotonic() - counted_at > self.max_age):
                self._recount = threading.Thread(target=self._count_in_background,
                                                 name="metrics-recount", daemon=True)
                self._recount.start()
        if counts is None or self.max_age <= 0:
            return self._count(), 0.0
        return counts, time.monotonic() - counted_at

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background recount in progress, if any (tests, benchmarks)."""
        with self._lock:
            recount = self._recount
        if recount is not None:
            recount.join(timeout)

    def _count(self) -> dict[str, int]:
        started = time.monotonic()
        with self.engine.connect() as conn:
            counts = store_sync.live_counts(conn)
        with self._lock:
            if started >= self._counted_at:
                self._counts, self._counted_at = counts, started
        return counts

    def _count_in_background(self) -> None:
        try:
            self._count()
        except Exception:  # noqa: BLE001 - the kept counts age, and the age shows it
            log.warning("metrics: recounting contributions failed", exc_info=True)
        finally:
            with self._lock:
                self._recount = None


class StoreCollector(Collector):
    """Sync, index and insight figures read from the store at each scrape; the live
    contribution counts from `LiveCounts`, at most `counts_max_age` seconds old."""

    def __init__(self, engine: Engine, counts_max_age: float) -> None:
        self.engine = engine
        self.counts = LiveCounts(engine, counts_max_age)

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
        counts, age = self.counts.get()
        with self.engine.connect() as conn:
            statuses = store_sync.list_sources(conn, counts)
            synced = dict(conn.execute(select(sync_state.c.source_id,
                                              sync_state.c.items_total)).all())
            lag = outbox.lag(conn)
            insight = insight_store.last_state(conn)
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
        counts_age = GaugeMetricFamily(
            "whoknows_store_counts_age_seconds",
            "Age of the live contribution counts in this scrape (recounted in the background).")
        counts_age.add_metric([], age)
        return [*per_source.values(), documents, pending, oldest, counts_age,
                *_insight_families(insight)]


def _insight_families(state: tuple[datetime, datetime, float] | None) -> list[Metric]:
    computed = GaugeMetricFamily(
        "whoknows_insight_computed_timestamp_seconds",
        "When the community insight was last computed (Unix time; 0: never).")
    computed.add_metric([], state[0].timestamp() if state else 0.0)
    if state is None:
        return [computed]
    took = GaugeMetricFamily("whoknows_insight_compute_seconds",
                             "How long the last computation of the community insight took.")
    took.add_metric([], state[2])
    return [computed, took]


def _registry(engine: Engine, counts_max_age: float) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # every worker's request samples, read at each scrape
    else:
        registry.register(REQUEST_SECONDS)
        registry.register(RATE_LIMIT_STORAGE_ERRORS)
    registry.register(StoreCollector(engine, counts_max_age))
    return registry


def init_metrics(app: Flask, engine: Engine, counts_max_age: float) -> None:
    """Serve `/metrics` for this app's store, with live contribution counts at most
    `counts_max_age` seconds old (`[api] metrics_counts_seconds`)."""
    registry = _registry(engine, counts_max_age)  # one per app: it keeps the counts

    def metrics() -> Response:
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
