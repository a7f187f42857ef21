"""The jsonfeed cursor: what has been emitted, and where an interrupted walk goes on.

    {"updated": "2024-05-01T09:30:00+00:00",   watermark: every item updated before it,
     "ids": ["417"],                           and these ids updated exactly then, are
                                               emitted (ISO 8601, UTC; null: nothing yet)
     "walk": {"next": {"page": 3},             an unfinished walk: the request it makes
              "updated": "...", "ids": [...]}  next, and the newest item it has seen
    }

`walk` is null between runs. While a walk is unfinished the watermark stays where the
walk started (it filters against it), unless the listing is in ascending update order,
where everything before the newest item seen is known to be emitted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from service.connectors.base import load_cursor

__all__ = ["Cursor", "Mark", "Walk"]


@dataclass(frozen=True, slots=True)
class Mark:
    """An update time and the ids seen with exactly that time."""

    updated: datetime | None = None
    ids: tuple[str, ...] = ()

    def is_new(self, updated: datetime, item_id: str) -> bool:
        """Return whether an item with this time and id is past the mark."""
        if self.updated is None or updated > self.updated:
            return True
        return updated == self.updated and item_id not in self.ids

    def advanced(self, updated: datetime, item_id: str, now: datetime) -> Mark:
        """Return the mark moved up to this item (never past `now`: one item dated in the
        future by a wrong clock would otherwise hide every real one until that date)."""
        clamped = min(updated, now)
        if self.updated is not None and clamped < self.updated:
            return self
        ids: tuple[str, ...] = (item_id,) if clamped == updated else ()
        if clamped == self.updated:
            return replace(self, ids=tuple(dict.fromkeys(self.ids + ids)))
        return Mark(clamped, ids)

    def dump(self) -> dict[str, Any]:
        return {
            "updated": self.updated.isoformat() if self.updated else None,
            "ids": list(self.ids),
        }

    @classmethod
    def load(cls, raw: dict[str, Any]) -> Mark:
        updated = raw.get("updated")
        return cls(
            datetime.fromisoformat(updated) if updated else None,
            tuple(str(i) for i in raw.get("ids") or ()),
        )


@dataclass(frozen=True, slots=True)
class Walk:
    """An unfinished walk: the position of its next request and the newest item seen."""

    next: dict[str, Any]
    newest: Mark


@dataclass(frozen=True, slots=True)
class Cursor:
    mark: Mark = Mark()
    walk: Walk | None = None

    @classmethod
    def load(cls, text: str | None) -> Cursor:
        """Read a stored cursor (None: from the start); raise ConnectorError if unreadable."""
        return load_cursor(text, cls._parse, cls(), kind="a jsonfeed", afresh="the portal")

    @classmethod
    def _parse(cls, raw: Any) -> Cursor:
        walk = raw.get("walk")
        return cls(
            mark=Mark.load(raw),
            walk=Walk(dict(walk["next"]), Mark.load(walk)) if walk else None,
        )

    def dump(self) -> str:
        raw = self.mark.dump()
        raw["walk"] = {"next": self.walk.next, **self.walk.newest.dump()} if self.walk else None
        return json.dumps(raw, sort_keys=True)
