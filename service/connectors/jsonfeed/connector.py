"""`JsonFeedConnector`: walks a JSON portal's listing and yields mapped pages.

One answer of the portal is one `Page`, whatever it holds, so that the cursor (position
of the next request) is committed after each; see `cursor.py` for its form and the
package docstring for the options.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from service.config import ConfigError, SourceConfig
from service.connectors.base import ConnectorError, Page
from service.connectors.http import HttpClient, client_for, credentials_headers
from service.connectors.jsonfeed.cursor import Cursor, Mark, Walk
from service.connectors.jsonfeed.mapping import MISSING, ItemMapper, Unmappable, lookup
from service.connectors.jsonfeed.options import JsonFeedOptions, parse_options
from service.connectors.jsonfeed.paging import Paginator
from service.model import ContributionRecord

__all__ = ["JsonFeedConnector"]

# Asking for a little before the watermark costs nothing (what is not past it is left
# out) and covers portals whose filter is "strictly after" or that truncate the time.
_SINCE_OVERLAP = timedelta(seconds=1)


@dataclass(slots=True)
class _Run:
    """What one run of `pages` knows beyond the cursor it started from."""

    start: Cursor
    cursor: Cursor
    #: False once the listing breaks the order `options.order` promised.
    ordered: bool = True
    #: The listing order's last update time (for checking `options.order`).
    last_seen: datetime | None = None
    #: id -> update time of the items this run has read (a page shifted by the portal's
    #: changes must neither emit them twice nor count as breaking the order).
    seen: dict[str, datetime] = field(default_factory=dict)


class JsonFeedConnector:
    """Reads a partner portal's JSON API, shaped by `source.options` (package docstring).

    `client` defaults to a fresh `HttpClient`; `credentials` is the secret the caller read
    from the source's `credentials_env`: sent as Basic ("user:password") or Bearer, or raw
    in the `options.credentials_header` header. Raises `ConfigError` naming the key when
    the options are invalid.
    """

    def __init__(
        self,
        source: SourceConfig,
        client: HttpClient | None = None,
        credentials: str | None = None,
    ) -> None:
        if not source.url:
            raise ConfigError(f"source {source.id!r}: url: required for a jsonfeed source")
        self.source = source
        self.url: str = source.url
        self.options: JsonFeedOptions = parse_options(source)
        self.client = client or client_for(source)
        self.paginator = Paginator(self.options.pagination, self.url)
        self.mapper = ItemMapper(self.options, self.url)
        self._headers = dict(self.options.headers)
        if credentials and self.options.credentials_header:
            self._headers[self.options.credentials_header] = credentials
        else:
            self._headers.update(credentials_headers(credentials))

    def pages(self, cursor: str | None) -> Iterator[Page]:
        """Yield one page per answer of the portal, each with the cursor to resume after it.

        With no cursor the walk covers the whole listing and its last page is `complete`.
        Raises `ConnectorError` when an answer has no list at `options.items`, repeats
        the previous one, or the cursor is unreadable, and what `HttpClient.get_json`
        raises (an answer that is not JSON is retried there).
        """
        start = Cursor.load(cursor)
        run = _Run(start=start, cursor=start)
        resumable = start.walk is not None and self.paginator.accepts(start.walk.next)
        position = start.walk.next if start.walk and resumable else self.paginator.first()
        previous: list[Any] | None = None
        while True:
            label = self.paginator.label(position)
            url, params = self.paginator.request(position, self._params(start.mark))
            # A body that is not JSON is retried by the client, like a 5xx.
            body, response = self.client.get_json(url, params=params, headers=self._headers)
            items = self._items(body, label)
            if items and items == previous:
                raise ConnectorError(
                    f"{label} repeats the previous answer: does the portal read the "
                    "pagination parameters the options name? (the next run resumes here)"
                )
            total = _count(lookup(body, self.options.total)) if self.options.total else None
            following = self.paginator.next(position, response, body, len(items), total)
            records, errors = self._map(items, label)
            fresh = self._fresh(run, records, errors)
            if self._reached_the_mark(run, records):
                following = None
            run.cursor = self._advance(run, fresh, following)
            yield Page(
                records=fresh,
                cursor=run.cursor.dump(),
                complete=cursor is None and following is None,
                errors=errors,
                total=total,
            )
            if following is None:
                return
            position, previous = following, items

    def _params(self, mark: Mark) -> dict[str, str]:
        params = dict(self.options.params)
        name = self.options.updated_since_param
        if name and mark.updated is not None:
            since = (mark.updated - _SINCE_OVERLAP).astimezone(UTC).replace(microsecond=0)
            fmt = self.options.updated_since_format
            if fmt == "epoch":
                params[name] = str(int(since.timestamp()))
            elif fmt == "epoch_ms":
                params[name] = str(int(since.timestamp()) * 1000)
            else:
                params[name] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        return params

    def _items(self, body: Any, label: str) -> list[Any]:
        items = lookup(body, self.options.items)
        where = ".".join(self.options.items) or "(the body)"
        if items is MISSING:
            raise ConnectorError(f"{label}: the answer has nothing at options.items {where!r}")
        if items is None:
            return []
        if not isinstance(items, list):
            raise ConnectorError(f"{label}: options.items {where!r} is not a list")
        return items

    def _map(self, items: list[Any], label: str) -> tuple[list[ContributionRecord], list[str]]:
        records: list[ContributionRecord] = []
        errors: list[str] = []
        for number, item in enumerate(items, start=1):
            try:
                records.append(self.mapper.map(item))
            except Unmappable as exc:
                errors.append(f"{label}, item {number}{self.mapper.label(item)} skipped: {exc}")
        return records, errors

    def _fresh(
        self, run: _Run, records: list[ContributionRecord], errors: list[str]
    ) -> list[ContributionRecord]:
        """Return the records past the run's starting mark, not yet emitted, oldest first;
        check the listing's order on the way."""
        fresh: list[ContributionRecord] = []
        for record in records:
            updated = _updated(record)
            seen = run.seen.get(record.id)
            if seen is not None and seen >= updated:
                continue
            run.seen[record.id] = updated
            self._check_order(run, record, errors)
            if run.start.mark.is_new(updated, record.id):
                fresh.append(record)
        return sorted(fresh, key=lambda r: (_updated(r), r.id))

    def _check_order(self, run: _Run, record: ContributionRecord, errors: list[str]) -> None:
        order, updated = self.options.order, _updated(record)
        if order != "any" and run.ordered and run.last_seen is not None:
            if (updated < run.last_seen) if order == "asc" else (updated > run.last_seen):
                run.ordered = False
                errors.append(
                    f"options.order says {order!r} but {record.id!r} ({updated.isoformat()}) "
                    f"follows an item of {run.last_seen.isoformat()}: treating the listing "
                    "as unordered for the rest of this run"
                )
        run.last_seen = updated

    def _reached_the_mark(self, run: _Run, records: list[ContributionRecord]) -> bool:
        # Newest first: once items are older than the mark the rest of the walk is too.
        mark = run.start.mark.updated
        return (
            self.options.order == "desc"
            and run.ordered
            and mark is not None
            and any(_updated(record) < mark for record in records)
        )

    def _advance(
        self, run: _Run, fresh: list[ContributionRecord], following: dict[str, Any] | None
    ) -> Cursor:
        now = datetime.now(UTC)
        walk = run.cursor.walk
        newest = walk.newest if walk else run.cursor.mark
        for record in fresh:
            newest = newest.advanced(_updated(record), record.id, now)
        if following is None:
            return Cursor(mark=newest)
        if self.options.order == "asc" and run.ordered:
            # In ascending order all before the newest item is emitted; a portal that
            # filters by update time then resumes from the watermark, not a position
            # that edits may have shifted.
            if self.options.updated_since_param:
                return Cursor(mark=newest)
            return Cursor(mark=newest, walk=Walk(following, newest))
        return Cursor(mark=run.start.mark, walk=Walk(following, newest))


def _updated(record: ContributionRecord) -> datetime:
    return record.updated or record.created


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
