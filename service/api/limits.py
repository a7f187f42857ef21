"""Request limits: per API client (`api.rate_limit_per_minute`) and per client IP for the
public badges and embeds (`api.badge_rate_limit_per_minute`), counted with the `limits`
library in a moving window of one minute.

Where the counts live is `[limits] storage`: `memory://` (the embedded default) counts in
each process, so behind N replicas a client gets N times its limit; `redis://host:6379/0`
counts once for every replica and worker. Every limited answer carries the
`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers (seconds until a
request is free again); a request past the limit is a 429 problem+json with `Retry-After`.

When Redis does not answer the API keeps serving (fail open): the request is counted in
this process's memory instead, as the embedded default does, the failure is logged (once
per outage) and counted in `whoknows_rate_limit_storage_errors_total`, and Redis is tried
again `RETRY_SECONDS` later.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, g
from limits import RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from service.api.errors import ApiError
from service.config import ApiConfig, LimitsConfig
from service.ops.metrics import RATE_LIMIT_STORAGE_ERRORS

__all__ = ["Limits", "RateLimiter", "Spent", "SharedStorage", "init_limits", "spend"]

log = logging.getLogger(__name__)

#: after a failed call, this many seconds are counted in memory before Redis is tried again
RETRY_SECONDS = 5.0
#: a Redis call taking longer than this counts as Redis being down (a request must not
#: hang on a black-holed connection)
REDIS_TIMEOUT_SECONDS = 0.5
_EXTENSION = "whoknows_limits"
_SPENT = "whoknows_rate_limit"


@dataclass(frozen=True, slots=True)
class Spent:
    """What one request left of its key's limit."""

    allowed: bool
    limit: int
    remaining: int
    #: seconds until the window frees a request (0: one is free now)
    reset: int

    def headers(self) -> dict[str, str]:
        """The `RateLimit-*` headers (and `Retry-After` once the limit is spent)."""
        headers = {"RateLimit-Limit": str(self.limit),
                   "RateLimit-Remaining": str(self.remaining),
                   "RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset))
        return headers


class _ConnectFailed(Exception):
    """Making the storage's client failed (a Redis Cluster client connects at once); the
    message is the error's class name."""


class SharedStorage:
    """The configured storage, with this process's memory in its place while it fails.

    `storage` is a `limits` storage URI; `key_prefix` keeps several deployments (or tests)
    on one Redis apart."""

    def __init__(self, uri: str, key_prefix: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.uri = uri
        self.key_prefix = key_prefix
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self.clock = clock
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    def run(self, call: Callable[[MovingWindowRateLimiter], Spent]) -> Spent:
        """`call` on a limiter over the configured storage, or over memory while it fails."""
        if self.uri.startswith("memory://") or self._in_outage():
            return call(self._local)
        try:
            spent = call(self._connected())
        except StorageError as exc:
            self._failed(type(exc.storage_error).__name__)
            return call(self._local)
        except _ConnectFailed as exc:
            self._failed(str(exc))
            return call(self._local)
        if self._failed_at is not None:
            self._recovered()
        return spent

    def _connected(self) -> MovingWindowRateLimiter:
        """The limiter on the configured storage, made on first use: a Redis Cluster
        client connects when it is made, and a start must not wait for Redis."""
        if self._shared is None:
            # redis-py is imported only when a Redis is configured (memory:// needs none)
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            try:
                # one attempt per call: memory is the fallback, and redis-py's default
                # retries (with backoff of seconds) would hold the request up
                self._shared = MovingWindowRateLimiter(storage_from_string(
                    self.uri, key_prefix=self.key_prefix, wrap_exceptions=True,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    # limits types its options as scalars; redis.from_url takes a Retry
                    retry=Retry(NoBackoff(), 0)))  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - whatever the client raised connecting
                raise _ConnectFailed(type(exc).__name__) from exc
        return self._shared

    def _in_outage(self) -> bool:
        with self._lock:
            return (self._failed_at is not None
                    and self.clock() - self._failed_at < RETRY_SECONDS)

    def _failed(self, error: str) -> None:
        RATE_LIMIT_STORAGE_ERRORS.inc()
        with self._lock:
            first = self._failed_at is None
            self._failed_at = self.clock()
        if first:  # one warning per outage, not one per request; never the URL (a password)
            log.warning("rate limits: the limits storage does not answer (%s); counting "
                        "in this process until it does", error)

    def _recovered(self) -> None:
        with self._lock:
            was_down, self._failed_at = self._failed_at is not None, None
        if was_down:
            log.warning("rate limits: the limits storage answers again; counting there")


class RateLimiter:
    """`per_minute` requests per key in any minute (0: no limit), for one kind of key
    (`namespace`: the client ids and the addresses are counted apart)."""

    def __init__(self, per_minute: int, namespace: str, storage: SharedStorage) -> None:
        self.per_minute = per_minute
        self.item = RateLimitItemPerMinute(max(per_minute, 1), namespace=namespace)
        self.storage = storage

    def take(self, key: str) -> Spent | None:
        """Spend one request of `key`; None when there is no limit."""
        if self.per_minute <= 0:
            return None
        return self.storage.run(lambda limiter: self._take(limiter, key))

    def _take(self, limiter: MovingWindowRateLimiter, key: str) -> Spent:
        allowed = limiter.hit(self.item, key)
        reset_at, remaining = limiter.get_window_stats(self.item, key)
        return Spent(allowed, self.per_minute, max(0, remaining),
                     max(0, math.ceil(reset_at - time.time())))


@dataclass(frozen=True, slots=True)
class Limits:
    """The app's two limiters, on one storage."""

    storage: SharedStorage
    clients: RateLimiter
    addresses: RateLimiter


def init_limits(app: Flask, api: ApiConfig, config: LimitsConfig) -> Limits:
    """Give the app its limiters and the hook that adds the `RateLimit-*` headers."""
    storage = SharedStorage(config.storage, config.key_prefix)
    limits = Limits(storage, RateLimiter(api.rate_limit_per_minute, "client", storage),
                    RateLimiter(api.badge_rate_limit_per_minute, "address", storage))
    app.extensions[_EXTENSION] = limits

    @app.after_request
    def _rate_limit_headers(response: Response) -> Response:
        spent: Spent | None = g.get(_SPENT)
        if spent is not None:
            for name, value in spent.headers().items():
                response.headers.setdefault(name, value)
        return response

    return limits


def spend(which: Callable[[Limits], RateLimiter], key: str, who: str) -> None:
    """Spend one request of `key` on the app's limiter `which` picks; raises a 429
    ApiError (with Retry-After) when none is left, saying "too many requests `who`"."""
    spent = which(current_app.extensions[_EXTENSION]).take(key)
    if spent is None:
        return
    g.setdefault(_SPENT, spent)
    if not spent.allowed:
        wait = max(1, spent.reset)
        raise ApiError(429, f"too many requests {who}; retry in {wait} s",
                       headers=spent.headers())
