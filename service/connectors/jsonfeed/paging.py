"""Pagination strategies: which request comes next, and whether this answer was the last.

A position is a small JSON object stored in the cursor so that an interrupted walk goes
on where it stopped: `{"page": 3}`, `{"offset": 200}`, `{"cursor": "eyJpZCI6NDJ9"}`,
`{"url": "https://portal.example.com/api/items?page=3"}`; `{}` is a walk's first request
for the cursor and link styles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from service.connectors.base import ConnectorError
from service.connectors.jsonfeed.mapping import MISSING, lookup
from service.connectors.jsonfeed.options import Pagination

__all__ = ["Paginator"]


class Paginator:
    """Builds the requests of one walk over `base_url` in the configured style."""

    def __init__(self, pagination: Pagination, base_url: str) -> None:
        self.pagination = pagination
        self.base_url = base_url

    def first(self) -> dict[str, Any]:
        """Return the position of a walk's first request."""
        kind = self.pagination.kind
        if kind == "page":
            return {"page": self.pagination.first_page}
        if kind == "offset":
            return {"offset": 0}
        return {}

    def accepts(self, position: Mapping[str, Any]) -> bool:
        """Return whether a stored position fits this walk (the options may have changed
        since it was stored; a walk that does not fit starts again from the first page)."""
        kind = self.pagination.kind
        if kind in ("page", "offset"):
            return isinstance(position.get(kind), int)
        if kind == "cursor":
            return set(position) <= {"cursor"}
        if kind == "link":
            url = position.get("url")
            return not position or (isinstance(url, str) and _origin(url) == _origin(self.base_url))
        return False

    def request(
        self, position: Mapping[str, Any], params: Mapping[str, str]
    ) -> tuple[str, dict[str, Any]]:
        """Return the URL and query parameters for the request at `position`.

        `params` (static and update-time filters) go with every request except a followed
        `Link`, whose URL already carries what the portal wants.
        """
        p = self.pagination
        if p.kind == "link" and position.get("url"):
            return str(position["url"]), {}
        query: dict[str, Any] = dict(params)
        if p.kind == "page":
            query[p.page_param] = position["page"]
            if p.per_page_param and p.per_page:
                query[p.per_page_param] = p.per_page
        elif p.kind == "offset":
            query[p.offset_param] = position["offset"]
            query[p.limit_param] = p.per_page
        elif p.kind in ("cursor", "link"):
            if p.per_page_param and p.per_page:
                query[p.per_page_param] = p.per_page
            if position.get("cursor"):
                query[p.cursor_param] = position["cursor"]
        return self.base_url, query

    def label(self, position: Mapping[str, Any]) -> str:
        """Return how messages name the request at `position`."""
        if "page" in position:
            return f"page {position['page']}"
        if "offset" in position:
            return f"offset {position['offset']}"
        if position.get("cursor"):
            return f"cursor {position['cursor']!r}"
        if position.get("url"):
            return str(position["url"])
        return "the first page"

    def next(
        self,
        position: Mapping[str, Any],
        response: requests.Response,
        body: Any,
        count: int,
        total: int | None,
    ) -> dict[str, Any] | None:
        """Return the position after this answer of `count` items, or None if it was last.

        Raises `ConnectorError` when the portal sends the walk back to where it is (it
        would never end) or a `Link` to another site (our credentials would go with it).
        """
        p = self.pagination
        if p.kind == "page":
            return self._next_page(position, body, count)
        if p.kind == "offset":
            offset = int(position["offset"]) + count
            if count == 0 or (total is not None and offset >= total):
                return None
            if total is None and p.per_page and count < p.per_page:
                return None
            return {"offset": offset}
        if p.kind == "cursor":
            token = lookup(body, p.next_cursor)
            if token is MISSING or token is None or token == "":
                return None
            if token == position.get("cursor"):
                raise ConnectorError(
                    f"{self.label(position)}: the portal gives the same cursor as the next "
                    f"one (options.next_cursor '{'.'.join(p.next_cursor)}')"
                )
            return {"cursor": token}
        if p.kind == "link":
            return self._next_link(position, response)
        return None

    def _next_page(
        self, position: Mapping[str, Any], body: Any, count: int
    ) -> dict[str, Any] | None:
        p = self.pagination
        page = int(position["page"])
        if count == 0:
            return None
        pages = lookup(body, p.total_pages) if p.total_pages else MISSING
        if isinstance(pages, int) and not isinstance(pages, bool):
            # Pages counted from 0 end at total_pages - 1.
            return None if page - p.first_page + 1 >= pages else {"page": page + 1}
        if p.per_page_param and p.per_page and count < p.per_page:
            return None
        return {"page": page + 1}

    def _next_link(
        self, position: Mapping[str, Any], response: requests.Response
    ) -> dict[str, Any] | None:
        target = response.links.get("next", {}).get("url")
        if not target:
            return None
        url = urljoin(response.url or self.base_url, target)
        if _origin(url) != _origin(self.base_url):
            raise ConnectorError(
                f"{self.label(position)}: the next link leads to {_origin(url)}, away from "
                f"the portal at {_origin(self.base_url)}; not following it"
            )
        if url == position.get("url"):
            raise ConnectorError(f"{self.label(position)}: the next link points to itself")
        return {"url": url}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
