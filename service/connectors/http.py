"""The HTTP client every connector reads its source through.

It knows only requests and their failures, not any source's URLs or formats. Failures are
classified here, in one table, and retried here, in one place:

    2xx, 304                  returned to the caller
    401, 403, 404, 410, 4xx   `FatalSourceError` at once (retrying will not help)
    408, 429, 5xx             retried with exponential backoff and jitter; a
    timeouts, dropped links   `Retry-After` (seconds or HTTP-date) replaces the backoff,
    a body cut short          else the seconds the caller's `throttled(response)` names
                              (a platform's own reset header); the connection closed
                              before `Content-Length` bytes came is a body cut short
    a 4xx the caller's        retried after the seconds `throttled(response)` names (the
      `throttled` calls a     Stack Exchange API answers throttles as HTTP 400)
      throttle
    `get_json`: a 2xx body    retried like a 5xx (a proxy or server that cut the body
      that is not JSON        short but announced the shorter length)
    still failing             `RetryExhaustedError` after `max_attempts` attempts, or at
                              once when a server asks to wait more than `max_retry_after`
    over the request budget   `ConnectorError` (the pipeline resumes from the last cursor)

Pacing: every attempt first takes its turn from the client's `Pacer` (service/connectors/
pacer.py: a token bucket, shared by all requests of a source, `client_for` gives the
source's); a `Retry-After` or a `throttled` wait pauses the pacer, so every thread of the
source holds off, not only the one that was told. The client is thread-safe: a connector
may send up to `pool_size` requests at once through its one keep-alive session.

Secrets come from the caller (the pipeline reads them from the environment variable the
source names); this module never reads the environment.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from service.config import SourceConfig
from service.connectors.base import ConnectorError, FatalSourceError, RetryExhaustedError
from service.connectors.pacer import Pacer, for_source

log = logging.getLogger(__name__)

__all__ = [
    "USER_AGENT",
    "HttpClient",
    "Throttled",
    "client_for",
    "credentials_headers",
    "parse_retry_after",
]

#: Given a 4xx answer, the seconds it asks to wait when it is a throttle (0 or less: the
#: client's own backoff), or None when it is not one (the answer is then fatal). Asked too
#: of a 408, 429 or 5xx without a readable `Retry-After` (None: the client's own backoff).
Throttled = Callable[[requests.Response], float | None]

USER_AGENT = "whoknows/0.1"
_RETRIABLE_STATUSES = frozenset({408, 429})
_SECRET_PARAMS = frozenset({"key", "api_key", "apikey", "token", "access_token", "password"})
_T = TypeVar("_T")


class _RetriableError(Exception):
    """One attempt failed in a way that another attempt may fix."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HttpClient:
    """A `requests.Session` with the retry policy above and a per-run request budget.

    One client serves one run: `max_requests` counts every attempt it sends (retries
    included; None means no budget). `backoff_base` is the first backoff in seconds, doubled
    per attempt up to `backoff_max`, plus up to `backoff_base` of random jitter. `sleep` is
    how the client waits between attempts (tests pass a recorder). `headers` and `auth` go
    with every request. `pacer` paces every attempt (default: one of its own, with no rate
    but the server's pauses); `pool_size` is how many connections the session keeps alive
    to one host, at least the threads that share the client.
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        max_attempts: int = 8,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_retry_after: float = 300.0,
        max_requests: int | None = 1000,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | AuthBase | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pacer: Pacer | None = None,
        pool_size: int = 10,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.max_requests = max_requests
        self._sleep = sleep
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.pacer = pacer or Pacer(sleep=sleep)
        self._requests_made = 0
        self._retries = 0
        self._count_lock = threading.Lock()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.headers.update(headers or {})
        self._session.auth = auth

    @property
    def requests_made(self) -> int:
        """How many requests (attempts) this client has sent so far."""
        return self._requests_made

    @property
    def retries(self) -> int:
        """How many of those attempts were retries of a failed one."""
        return self._retries

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        throttled: Throttled | None = None,
    ) -> requests.Response:
        """GET `url`, retrying as the module docstring says.

        Returns the response when its status is 2xx or 304 (redirects are followed).
        Raises `FatalSourceError`, `RetryExhaustedError` or `ConnectorError` (see above).
        """
        return self._retrying(url, lambda: self._attempt(url, params, headers, throttled))

    def post_json(
        self,
        url: str,
        body: Any,
        *,
        headers: Mapping[str, str] | None = None,
        throttled: Throttled | None = None,
    ) -> tuple[Any, requests.Response]:
        """POST `body` as JSON to `url` (a GraphQL endpoint: its queries only read, so a
        retry is safe) and return the parsed JSON answer with the response, retried and
        raising as `get_json` does."""
        return self._json(url, None, headers, throttled, body)

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        throttled: Throttled | None = None,
    ) -> tuple[Any, requests.Response]:
        """GET `url` as `get` does and return its parsed JSON body with the response.

        A 2xx body that is not JSON (or not UTF-8) is retried as a 5xx is; raises what
        `get` raises, `RetryExhaustedError` when no attempt brought JSON.
        """
        return self._json(url, params, headers, throttled)

    def _json(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        throttled: Throttled | None,
        body: Any = None,
    ) -> tuple[Any, requests.Response]:
        def attempt() -> tuple[Any, requests.Response]:
            response = self._attempt(url, params, headers, throttled, body)
            try:
                return json.loads(response.content.decode("utf-8-sig")), response
            except (UnicodeDecodeError, ValueError) as exc:
                kind = response.headers.get("Content-Type", "no content type")
                raise _RetriableError(
                    f"the answer is not JSON ({len(response.content)} bytes of {kind}: cut "
                    "short, or a login page?)"
                ) from exc

        return self._retrying(url, attempt, "GET" if body is None else "POST")

    def _retrying(self, url: str, attempt: Callable[[], _T], method: str = "GET") -> _T:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_RetriableError),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: self._note_retry(method, url, state),
        )
        try:
            return retrying(attempt)
        except _RetriableError as exc:
            raise RetryExhaustedError(
                f"{method} {_redact(url)}: gave up after {self.max_attempts} attempts: {exc}"
            ) from exc

    def _note_retry(self, method: str, url: str, state: RetryCallState) -> None:
        """Count the retry and say it (a WARNING on stderr: `whoknows sync` shows each
        attempt and its wait rather than going quiet while it backs off)."""
        with self._count_lock:
            self._retries += 1
        failure = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s %s: %s; attempt %d of %d, next in %.1f s", method, _redact(url),
                    failure, state.attempt_number, self.max_attempts, wait)

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _attempt(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        throttled: Throttled | None,
        body: Any = None,
    ) -> requests.Response:
        method = "GET" if body is None else "POST"
        shown = f"{method} {_redact(url)}"
        with self._count_lock:
            if self.max_requests is not None and self._requests_made >= self.max_requests:
                raise ConnectorError(
                    f"{shown}: request budget exhausted ({self.max_requests} requests per "
                    "run); the next run resumes from the last stored page"
                )
            self._requests_made += 1
        self.pacer.acquire()
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                json=body,
                headers=dict(headers or {}),
                timeout=self.timeout,
            )
        # The messages leave out requests' own text: it repeats the URL with its query.
        except requests.Timeout as exc:
            raise _RetriableError(f"no answer within {self.timeout:g} s") from exc
        except requests.ConnectionError as exc:
            raise _RetriableError(f"connection failed ({type(exc).__name__})") from exc
        except requests.exceptions.ChunkedEncodingError as exc:
            raise _RetriableError("response cut short") from exc
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ) as exc:
            raise FatalSourceError(f"{shown}: not a usable URL") from exc
        except requests.RequestException as exc:
            raise ConnectorError(f"{shown}: {type(exc).__name__}") from exc
        return self._classify(response, shown, throttled)

    def _classify(
        self, response: requests.Response, shown: str, throttled: Throttled | None
    ) -> requests.Response:
        status = response.status_code
        if status < 400:
            return response
        reason = f"HTTP {status} {response.reason or ''}".rstrip()
        if status in _RETRIABLE_STATUSES or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is None and throttled is not None:
                # the platform's own header, e.g. Atlassian's X-RateLimit-Reset
                wait = throttled(response)
                retry_after = wait if wait is not None and wait > 0 else None
        elif throttled is not None and (wait := throttled(response)) is not None:
            reason += " (a throttle)"
            retry_after = wait if wait > 0 else None
        else:
            raise FatalSourceError(f"{shown}: {reason}", status)
        if retry_after is not None and retry_after > self.max_retry_after:
            raise RetryExhaustedError(
                f"{shown}: {reason}; the server asks to wait {retry_after:.0f} s, "
                f"more than the {self.max_retry_after:.0f} s allowed"
            )
        if retry_after is not None:
            self.pacer.pause(retry_after)  # the whole source waits, not only this thread
        raise _RetriableError(reason, retry_after)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetriableError) and exc.retry_after is not None:
            return exc.retry_after
        # Exponential, capped, plus jitter so that connectors failing together do not retry
        # in step. (tenacity's wait_exponential_jitter renamed its arguments across
        # versions; this is the same formula.)
        exponential = self.backoff_base * 2 ** (state.attempt_number - 1)
        return min(exponential, self.backoff_max) + random.uniform(0, self.backoff_base)


def client_for(source: SourceConfig, **settings: Any) -> HttpClient:
    """A client for `source`: its requests paced by the source's shared `Pacer` (its
    `requests_per_second`, a burst of its `concurrency`), a connection pool as large as its
    `concurrency`; `settings` as `HttpClient` takes them."""
    burst = source.concurrency
    settings.setdefault("pool_size", max(10, source.concurrency))
    pacer = for_source(source.id, source.requests_per_second, burst)
    return HttpClient(pacer=pacer, **settings)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Return the seconds a `Retry-After` header asks to wait (never negative).

    The header is either delay-seconds or an HTTP-date. Returns None when it is absent or
    unreadable (the caller then backs off on its own).
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def credentials_headers(credentials: str | None) -> dict[str, str]:
    """Return the `Authorization` header for a source's secret, or {} when there is none.

    `user:password` becomes HTTP Basic; anything else is sent as a bearer token.
    """
    if not credentials:
        return {}
    if ":" in credentials:
        token = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
        return {"Authorization": f"Basic {token}"}
    return {"Authorization": f"Bearer {credentials}"}


def _redact(url: str) -> str:
    # Error messages are recorded and shown to admins; API keys in a query must not be.
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (name, "***" if name.lower() in _SECRET_PARAMS else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))
