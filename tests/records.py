"""Building canonical records for tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from service.model import AuthorRecord, ContributionKind, ContributionRecord

BASE = datetime.fromisoformat("2026-10-01T09:00:00+00:00")


def author(account: str, email: str | None = None, name: str | None = None) -> AuthorRecord:
    return AuthorRecord(id=account, username=account, name=name or account.title(), email=email)


def record(external_id: str, account: str = "alice", *, kind: str = "answer",
           email: str | None = None, name: str | None = None, day: float = 0,
           **fields: Any) -> ContributionRecord:
    """A contribution by `account`, `day` days after BASE."""
    fields.setdefault("title", f"About {external_id}")
    fields.setdefault("text", f"Some text for {external_id}")
    return ContributionRecord(
        id=external_id, kind=ContributionKind(kind), author=author(account, email, name),
        created=BASE + timedelta(days=day), **fields,
    )
