"""What every connector is: something that reads one source and yields pages of records.

Connectors never touch the store. They yield `Page`s of canonical records in ascending
update time, each with the cursor to resume after it; the pipeline stores the page, then
commits the cursor, so a crash resumes at the last stored page (nothing lost; a page seen
twice updates in place, so nothing duplicates).

Errors, drawn in one place:

    ConnectorError            the source failed; the run stops, the error is recorded
    ├── FatalSourceError      retrying will not help (401, 403, 404, malformed config)
    └── RetryExhaustedError   timeouts / 5xx / 429 went on past the retry budget
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from service.config import ConfigError, SourceConfig
from service.model import ContributionRecord

__all__ = [
    "Connector",
    "ConnectorError",
    "FatalSourceError",
    "Page",
    "RetryExhaustedError",
    "checked_flags",
    "known_options",
    "load_cursor",
    "option_error",
    "whole_number",
]

_C = TypeVar("_C")


class ConnectorError(Exception):
    """The source could not be read."""


class FatalSourceError(ConnectorError):
    """The source refused us in a way that retrying will not fix; `status` is the HTTP
    status that said so, when one did."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetryExhaustedError(ConnectorError):
    """Retriable failures went on past the retry budget."""


@dataclass(slots=True)
class Page:
    """One page of records and the cursor to resume after it.

    `complete` is True on the last page of a full pass (a run started with no cursor, over
    a source whose listing shows everything): the pipeline then flags as deleted whatever
    that pass did not see. `skipped` counts malformed items the connector reported and
    left out; `errors` describes them.
    """

    records: list[ContributionRecord]
    cursor: str | None
    complete: bool = False
    errors: list[str] = field(default_factory=list)
    #: Items the source says exist in all (for the progress bar), when it says.
    total: int | None = None


class Connector(Protocol):
    """A source reader. `pages(cursor)` yields pages, oldest update first."""

    source: SourceConfig

    def pages(self, cursor: str | None) -> Iterator[Page]: ...


def option_error(source: SourceConfig, key: str, problem: str) -> ConfigError:
    """The error for a bad connector option: the source and `options.<key>` named."""
    return ConfigError(f"source {source.id!r}: options.{key}: {problem}")


def known_options(source: SourceConfig, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The source's options over `defaults`; raises `ConfigError` naming the first option
    `defaults` does not know."""
    unknown = sorted(set(source.options) - set(defaults))
    if unknown:
        raise option_error(
            source, unknown[0], f"unknown option (known: {', '.join(sorted(defaults))})")
    return {**defaults, **source.options}


def whole_number(source: SourceConfig, values: Mapping[str, Any], key: str, low: int,
                 high: int) -> int:
    """`values[key]`, an int from `low` to `high`; raises `ConfigError` naming it."""
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise option_error(
            source, key, f"must be a whole number from {low} to {high}, not {value!r}")
    return value


def checked_flags(source: SourceConfig, values: Mapping[str, Any], keys: Iterable[str]) -> None:
    """Raise `ConfigError` naming the first of `keys` whose value is not true or false."""
    for key in keys:
        if not isinstance(values[key], bool):
            raise option_error(source, key, f"must be true or false, not {values[key]!r}")


def load_cursor(
    text: str | None,
    parse: Callable[[Any], _C],
    empty: _C,
    *,
    kind: str,
    afresh: str,
    describe: Callable[[Exception], str] = str,
) -> _C:
    """Return `parse` applied to the stored JSON cursor `text`, or `empty` when there is none.

    `kind` names the cursor with its article ("a Discourse") and `afresh` what a reset
    reads again ("the forum"). Raises `ConnectorError` asking for a reset when `text` is
    not JSON or `parse` fails on it with ValueError, TypeError, KeyError or AttributeError
    (a cursor some other connector or release wrote); `describe` words that failure.
    """
    if not text:
        return empty
    try:
        return parse(json.loads(text))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConnectorError(
            f"the stored cursor is not {kind} cursor ({describe(exc)}); reset the source's "
            f"cursor to read {afresh} afresh"
        ) from exc
