"""The identity audit log: append-only entries, read per person or whole, exported."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from service.identity.audit import Change
from service.store.schema import identity_audit, identity_audit_accounts, identity_links

__all__ = ["AuditEntry", "entries", "entry", "export_csv", "export_jsonl", "write"]


@dataclass(slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    method: str
    reason: str | None
    suggestion_id: int | None
    undoes: int | None
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor,
                "action": self.action, "method": self.method, "reason": self.reason,
                "suggestion_id": self.suggestion_id, "undoes": self.undoes,
                "before": self.before, "after": self.after}


def write(conn: Connection, change: Change, at: datetime | None = None) -> int:
    """Append one entry (and the accounts it is about); return its id."""
    result = conn.execute(identity_audit.insert().values(
        at=at or datetime.now(UTC), actor=change.actor[:200], action=change.action,
        method=change.method, reason=change.reason, suggestion_id=change.suggestion_id,
        undoes=change.undoes, before=change.before, after=change.after))
    entry_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    accounts = {i for group in change.before + change.after for i in group["identities"]}  # type: ignore[attr-defined]
    if accounts:
        conn.execute(identity_audit_accounts.insert(),
                     [{"entry_id": entry_id, "identity_id": i} for i in sorted(accounts)])
    return entry_id


def _entry(row: Any) -> AuditEntry:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
    return AuditEntry(row.id, at, row.actor, row.action, row.method, row.reason,
                      row.suggestion_id, row.undoes, row.before, row.after)


def entry(conn: Connection, entry_id: int) -> AuditEntry | None:
    row = conn.execute(select(identity_audit).where(identity_audit.c.id == entry_id)).first()
    return _entry(row) if row else None


def entries(conn: Connection, person_id: int | None = None, after_id: int = 0,
            limit: int | None = None) -> list[AuditEntry]:
    """The entries oldest first: all, or those about the person's accounts (their history
    keeps the merges and splits of accounts they hold now)."""
    query = select(identity_audit).where(identity_audit.c.id > after_id)
    if person_id is not None:
        accounts = select(identity_links.c.identity_id).where(
            identity_links.c.person_id == person_id)
        about = select(identity_audit_accounts.c.entry_id).where(
            identity_audit_accounts.c.identity_id.in_(accounts))
        query = query.where(identity_audit.c.id.in_(about))
    query = query.order_by(identity_audit.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [_entry(row) for row in conn.execute(query)]


def export_jsonl(found: Iterable[AuditEntry]) -> Iterator[str]:
    """One JSON object a line."""
    for item in found:
        yield json.dumps(item.as_dict(), sort_keys=True) + "\n"


_CSV_COLUMNS = ("id", "at", "actor", "action", "method", "reason", "suggestion_id",
                "undoes", "before", "after")


def export_csv(found: Iterable[AuditEntry]) -> Iterator[str]:
    """A header, then one row an entry; the people before and after as `person:ids`
    groups (`new` for an account with no person yet), `;`-separated."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_CSV_COLUMNS)
    for item in found:
        row = item.as_dict()
        row["before"], row["after"] = _groups(item.before), _groups(item.after)
        writer.writerow(["" if row[c] is None else row[c] for c in _CSV_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


def _groups(groups: list[dict[str, Any]]) -> str:
    return ";".join(f"{g['person_id'] if g['person_id'] is not None else 'new'}:"
                    + ",".join(str(i) for i in g["identities"]) for g in groups)
