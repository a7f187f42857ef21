"""A JSON portal's `options`, read and validated once, when the connector is built.

Every problem raises `ConfigError` naming the key (`options.<key>`) and what is wrong, so
that a portal misconfigured fails at start and not halfway through a sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.config import ConfigError, SourceConfig
from service.model import ContributionKind

__all__ = [
    "CANONICAL_FIELDS",
    "JsonFeedOptions",
    "Pagination",
    "PathSpec",
    "parse_options",
    "parse_path",
]

#: A dotted path split into its steps ("data.results" -> ("data", "results")); () is the
#: value itself.
PathSpec = tuple[str, ...]

CANONICAL_FIELDS = tuple(
    "id kind author.id author.username author.name author.email author.url author.organisation "
    "title text html "
    "url created updated thread parent tags score likes replies accepted deleted".split()
)
_REQUIRED_FIELDS = {
    "id": "the path to an item's id",
    "author.id": "the path to the id of an item's author",
    "created": "the path to the time an item was created",
}
PAGINATION_KINDS = ("page", "offset", "cursor", "link", "none")
ORDERS = ("asc", "desc", "any")
SINCE_FORMATS = ("iso", "epoch", "epoch_ms")

_PAGINATION_KEYS: dict[str, frozenset[str]] = {
    "page": frozenset({"page_param", "per_page_param", "per_page", "first_page", "total_pages"}),
    "offset": frozenset({"offset_param", "limit_param", "per_page"}),
    "cursor": frozenset({"next_cursor", "cursor_param", "per_page_param", "per_page"}),
    "link": frozenset({"per_page_param", "per_page"}),
    "none": frozenset(),
}
_COMMON_KEYS = frozenset(
    "items pagination fields kind_value kinds tags_key order total updated_since_param "
    "updated_since_format params headers credentials_header".split()
)
_ALL_KEYS = _COMMON_KEYS.union(*_PAGINATION_KEYS.values())


@dataclass(frozen=True, slots=True)
class Pagination:
    """How to walk the listing; only the keys of `kind` matter (see the package doc)."""

    kind: str
    per_page: int | None = None
    per_page_param: str | None = None
    page_param: str = "page"
    first_page: int = 1
    total_pages: PathSpec | None = None
    offset_param: str = "offset"
    limit_param: str = "limit"
    next_cursor: PathSpec = ()
    cursor_param: str = "cursor"


@dataclass(frozen=True, slots=True)
class JsonFeedOptions:
    """A source's validated options: where the items are, how to page, how to map them."""

    items: PathSpec
    pagination: Pagination
    fields: dict[str, PathSpec]
    kind_value: ContributionKind | None = None
    kinds: dict[str, ContributionKind] = field(default_factory=dict)
    tags_key: str | None = None
    order: str = "any"
    total: PathSpec | None = None
    updated_since_param: str | None = None
    updated_since_format: str = "iso"
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    credentials_header: str | None = None


def parse_path(text: str) -> PathSpec:
    """Split a dotted path ("authors.0.name") into its steps; "" is the value itself.

    Raises ValueError when a step is empty ("a..b").
    """
    if text == "":
        return ()
    steps = tuple(text.split("."))
    if any(not step.strip() for step in steps):
        raise ValueError(f"{text!r} has an empty step")
    return steps


def parse_options(source: SourceConfig) -> JsonFeedOptions:
    """Read and validate `source.options` for the jsonfeed connector.

    Returns the options; raises `ConfigError` naming `options.<key>` on any problem.
    """
    reader = _Reader(source.id, source.options)
    reader.reject_unknown()
    pagination = reader.pagination()
    fields = reader.fields()
    kind_value = reader.kind("kind_value", source.options.get("kind_value"))
    if "kind" not in fields and kind_value is None:
        raise reader.error(
            "fields.kind", "required unless options.kind_value gives one kind for every item"
        )
    since_param = reader.string("updated_since_param", None)
    if since_param and "updated" not in fields:
        raise reader.error(
            "updated_since_param",
            "needs options.fields.updated: the portal filters by update time, so the "
            "connector must read it",
        )
    return JsonFeedOptions(
        items=reader.path("items", required=True) or (),
        pagination=pagination,
        fields=fields,
        kind_value=kind_value,
        kinds=reader.kinds(),
        tags_key=reader.string("tags_key", None),
        order=reader.choice("order", ORDERS, "any"),
        total=reader.path("total"),
        updated_since_param=since_param,
        updated_since_format=reader.choice("updated_since_format", SINCE_FORMATS, "iso"),
        params=reader.string_table("params"),
        headers=reader.string_table("headers"),
        credentials_header=reader.string("credentials_header", None),
    )


class _Reader:
    """Typed reads of one source's options, each failure naming its key."""

    def __init__(self, source_id: str, options: Mapping[str, Any]) -> None:
        self.source_id = source_id
        self.options = options

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"source {self.source_id!r}: options.{key}: {problem}")

    def reject_unknown(self) -> None:
        for key in self.options:
            if key not in _ALL_KEYS:
                raise self.error(key, f"unknown option (known: {', '.join(sorted(_ALL_KEYS))})")

    def string(self, key: str, default: str | None) -> str | None:
        value = self.options.get(key, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.error(key, f"must be a non-empty string, not {value!r}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.options.get(key, default)
        if value not in allowed:
            raise self.error(key, f"{value!r} is not one of {', '.join(allowed)}")
        return str(value)

    def integer(self, key: str, default: int | None, minimum: int) -> int | None:
        value = self.options.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(key, f"must be a whole number of at least {minimum}, not {value!r}")
        return value

    def path(self, key: str, value: Any = None, required: bool = False) -> PathSpec | None:
        value = self.options.get(key) if value is None else value
        if value is None:
            if required:
                raise self.error(key, 'required: the dotted path to it ("" for the body itself)')
            return None
        if not isinstance(value, str):
            raise self.error(key, f"must be a dotted path (a string), not {value!r}")
        try:
            return parse_path(value)
        except ValueError as exc:
            raise self.error(key, f"not a dotted path: {exc}") from exc

    def string_table(self, key: str) -> dict[str, str]:
        value = self.options.get(key, {})
        if not isinstance(value, Mapping):
            raise self.error(key, f"must be a table of names to values, not {value!r}")
        table: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise self.error(f"{key}.{name}", f"must be a string or number, not {item!r}")
            table[str(name)] = str(item)
        return table

    def pagination(self) -> Pagination:
        kind = self.choice("pagination", PAGINATION_KINDS, "none")
        for key in self.options:
            if key in _ALL_KEYS - _COMMON_KEYS - _PAGINATION_KEYS[kind]:
                users = [k for k, keys in _PAGINATION_KEYS.items() if key in keys]
                raise self.error(key, f"only used with pagination = {' or '.join(users)}")
        default_size = 100 if kind in ("page", "offset") else None
        default_size_param = "per_page" if kind == "page" else None
        next_cursor = self.path("next_cursor", required=kind == "cursor")
        if kind == "cursor" and not next_cursor:
            raise self.error("next_cursor", "must name a field of the answer, not the body")
        size_param: str | None = None
        if self.options.get("per_page_param") != "":  # "": the portal's own page size
            size_param = self.string("per_page_param", default_size_param)
        per_page = self.integer("per_page", default_size, minimum=1)
        if kind in ("cursor", "link") and per_page is not None and size_param is None:
            raise self.error("per_page", "needs options.per_page_param to send it with")
        return Pagination(
            kind=kind,
            per_page=per_page,
            per_page_param=size_param,
            page_param=self.string("page_param", "page") or "page",
            first_page=self.integer("first_page", 1, minimum=0) or 0,
            total_pages=self.path("total_pages"),
            offset_param=self.string("offset_param", "offset") or "offset",
            limit_param=self.string("limit_param", "limit") or "limit",
            next_cursor=next_cursor or (),
            cursor_param=self.string("cursor_param", "cursor") or "cursor",
        )

    def fields(self) -> dict[str, PathSpec]:
        raw = self.options.get("fields")
        if not isinstance(raw, Mapping):
            raise self.error("fields", "required: a table of canonical fields to dotted paths")
        flat: dict[str, Any] = {}
        for name, value in raw.items():
            # `author = {id = "uid"}` and `"author.id" = "uid"` say the same thing.
            if name == "author" and isinstance(value, Mapping):
                flat.update({f"author.{key}": path for key, path in value.items()})
            else:
                flat[name] = value
        fields: dict[str, PathSpec] = {}
        for name, value in flat.items():
            if name not in CANONICAL_FIELDS:
                raise self.error(
                    f"fields.{name}",
                    f"not a canonical field (known: {', '.join(CANONICAL_FIELDS)})",
                )
            if not isinstance(value, str) or not value:
                raise self.error(f"fields.{name}", f"must be a dotted path, not {value!r}")
            fields[name] = self.path(f"fields.{name}", value) or ()
        for name, purpose in _REQUIRED_FIELDS.items():
            if name not in fields:
                raise self.error(f"fields.{name}", f"required: {purpose}")
        if "text" in fields and "html" in fields:
            raise self.error("fields.html", "give fields.text (plain) or fields.html, not both")
        return fields

    def kind(self, key: str, value: Any) -> ContributionKind | None:
        if value is None:
            return None
        try:
            return ContributionKind(value)
        except ValueError:
            allowed = ", ".join(kind.value for kind in ContributionKind)
            raise self.error(key, f"{value!r} is not a contribution kind ({allowed})") from None

    def kinds(self) -> dict[str, ContributionKind]:
        raw = self.options.get("kinds", {})
        if not isinstance(raw, Mapping):
            raise self.error("kinds", f"must be a table of portal values to kinds, not {raw!r}")
        kinds: dict[str, ContributionKind] = {}
        for name, value in raw.items():
            kind = self.kind(f"kinds.{name}", value)
            if kind is None:
                raise self.error(f"kinds.{name}", "must name a contribution kind")
            kinds[str(name)] = kind
        return kinds
