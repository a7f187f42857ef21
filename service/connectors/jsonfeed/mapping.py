"""From a portal's JSON item to a canonical `ContributionRecord`, as `options.fields` says.

Paths are dotted; a step into a list is its index ("authors.0.name", "-1" the last).
Timestamps are ISO 8601 (naive ones are UTC) or epoch seconds or milliseconds, told
apart by size. An item that lacks a required value (id, author id, created) or holds a
value of the wrong shape raises `Unmappable`, whose message says which field and path.
"""

from __future__ import annotations

import email.utils
import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from service.connectors.jsonfeed.options import JsonFeedOptions, PathSpec
from service.connectors.rss import html_to_text
from service.model import AuthorRecord, ContributionKind, ContributionRecord, normalise_email

__all__ = ["MISSING", "ItemMapper", "Unmappable", "lookup", "parse_timestamp"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: What `lookup` answers for a path that leads nowhere (None is a JSON null).
MISSING: Any = _Missing()

# Beyond this many seconds (the year 5138) an epoch number is taken as milliseconds.
_MILLISECONDS_FROM = 1e11
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0", ""})


class Unmappable(Exception):
    """An item cannot become a contribution; the message says what is missing or wrong."""


def lookup(value: Any, path: PathSpec) -> Any:
    """Return what `path` names inside `value`, or `MISSING` when it leads nowhere."""
    for step in path:
        if isinstance(value, dict):
            value = value.get(step, MISSING)
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", step):
            index = int(step)
            value = value[index] if -len(value) <= index < len(value) else MISSING
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def parse_timestamp(value: Any) -> datetime:
    """Return an ISO 8601 (or RFC 2822) string or an epoch number (seconds or ms) as an
    aware UTC time.

    Raises ValueError when it is neither.
    """
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value)
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= _MILLISECONDS_FROM else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"{value!r} is out of range as an epoch time") from exc
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            # RFC 2822 ("Tue, 02 Apr 2024 09:15:00 GMT"), as some APIs still send.
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                raise ValueError(f"{value!r} is neither ISO 8601 nor an RFC 2822 date") from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    raise ValueError(f"{value!r} is neither an ISO 8601 string nor an epoch number")


class ItemMapper:
    """Maps items with one source's `fields`; relative URLs resolve against `base_url`."""

    def __init__(self, options: JsonFeedOptions, base_url: str) -> None:
        self.options = options
        self.fields = options.fields
        self.base_url = base_url

    def label(self, item: Any) -> str:
        """Return how an error names the item: its id when readable, else ''."""
        value = lookup(item, self.fields["id"]) if isinstance(item, dict) else MISSING
        return f" ({value})" if isinstance(value, str | int) and not isinstance(value, bool) else ""

    def map(self, item: Any) -> ContributionRecord:
        """Return the contribution the item describes.

        Raises `Unmappable` when the item is not an object, lacks a required value or
        holds one of the wrong shape.
        """
        if not isinstance(item, dict):
            raise Unmappable(f"it is a {_json_type(item)}, not an object")
        item_id = self._identifier(item, "id", required=True)
        text = self._string(item, "text")
        if "html" in self.fields:
            text = html_to_text(self._string(item, "html"))
        return ContributionRecord(
            id=item_id or "",
            kind=self._kind(item),
            author=self._author(item),
            created=self._created(item),
            updated=self._time(item, "updated"),
            title=" ".join(self._string(item, "title").split()),
            text=" ".join(text.split()),
            url=self._url(item, "url"),
            thread=self._identifier(item, "thread"),
            parent=self._identifier(item, "parent"),
            tags=self._tags(item),
            score=self._integer(item, "score"),
            likes=self._integer(item, "likes"),
            replies=self._integer(item, "replies"),
            accepted=self._flag(item, "accepted"),
            deleted=self._flag(item, "deleted"),
        )

    def _get(self, item: dict[str, Any], name: str) -> Any:
        path = self.fields.get(name)
        if path is None:
            return None
        value = lookup(item, path)
        return None if value is MISSING else value

    def _where(self, name: str) -> str:
        return f"{name} at '{'.'.join(self.fields[name])}'"

    def _identifier(self, item: dict[str, Any], name: str, required: bool = False) -> str | None:
        value = self._get(item, name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if value is None or value == "":
            if required:
                raise Unmappable(f"no {self._where(name)}")
            return None
        raise Unmappable(f"{self._where(name)} is a {_json_type(value)}, not an id")

    def _string(self, item: dict[str, Any], name: str) -> str:
        value = self._get(item, name)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise Unmappable(f"{self._where(name)} is a {_json_type(value)}, not text")
        return str(value)

    def _created(self, item: dict[str, Any]) -> datetime:
        created = self._time(item, "created")
        if created is None:
            raise Unmappable(f"no {self._where('created')}")
        return created

    def _url(self, item: dict[str, Any], name: str) -> str | None:
        value = self._string(item, name).strip()
        return urljoin(self.base_url, value) if value else None

    def _time(self, item: dict[str, Any], name: str) -> datetime | None:
        value = self._get(item, name)
        if value is None or value == "":
            return None
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise Unmappable(f"{self._where(name)} is not a readable time: {exc}") from exc

    def _integer(self, item: dict[str, Any], name: str) -> int:
        value = self._get(item, name)
        if value is None:
            return 0
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            value = float(value)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise Unmappable(f"{self._where(name)} is {value!r}, not a number")
        return int(value)

    def _flag(self, item: dict[str, Any], name: str) -> bool:
        value = self._get(item, name)
        if value is None or isinstance(value, bool):
            return bool(value)
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise Unmappable(f"{self._where(name)} is {value!r}, not true or false")

    def _kind(self, item: dict[str, Any]) -> ContributionKind:
        value = self._get(item, "kind")
        if value is None or value == "":
            if self.options.kind_value is None:
                raise Unmappable(f"no {self._where('kind')} (and no options.kind_value)")
            return self.options.kind_value
        text = str(value)
        if text in self.options.kinds:
            return self.options.kinds[text]
        try:
            return ContributionKind(text)
        except ValueError:
            raise Unmappable(
                f"{self._where('kind')} is {text!r}, not a contribution kind "
                "(map it with options.kinds)"
            ) from None

    def _author(self, item: dict[str, Any]) -> AuthorRecord:
        author_id = self._identifier(item, "author.id", required=True) or ""
        return AuthorRecord(
            id=author_id,
            username=self._string(item, "author.username").strip() or None,
            name=" ".join(self._string(item, "author.name").split()) or None,
            email=normalise_email(self._string(item, "author.email")),
            url=self._url(item, "author.url"),
            organisation=" ".join(self._string(item, "author.organisation").split()) or None,
        )

    def _tags(self, item: dict[str, Any]) -> list[str]:
        value = self._get(item, "tags")
        if value is None:
            return []
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list):
            raise Unmappable(f"{self._where('tags')} is a {_json_type(value)}, not a list")
        key = self.options.tags_key
        tags: list[str] = []
        for entry in value:
            if isinstance(entry, dict) and key is not None:
                entry = entry.get(key)
            if not isinstance(entry, str):
                hint = "" if key else " (set options.tags_key for a list of objects)"
                raise Unmappable(f"{self._where('tags')} holds {entry!r}, not a tag{hint}")
            tags.append(" ".join(entry.split()))
        return list(dict.fromkeys(tag for tag in tags if tag))


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
