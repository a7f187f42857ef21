"""Storing batches of canonical records: identities, contributions, interactions.

`(source_id, external_id)` is unique for identities and contributions, so a batch seen
again updates in place and never duplicates.
"""

from __future__ import annotations

import json

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from service.model import AuthorRecord, ContributionRecord, normalise_email
from service.store.db import chunks, from_db_time, insert_rows, sqlite_time, to_utc
from service.store.erasure import suppressed_authors
from service.store.schema import (
    bulk_loads,
    contributions,
    identities,
    interactions,
    recompute_queue,
)

__all__ = ["AccountCache", "BatchResult", "SourceInfo", "any_contribution", "begin_bulk", "bulk_pending",
           "end_bulk", "flag_unseen_deleted", "link_source", "source_is_empty",
           "store_batch", "store_new_batch"]



@dataclass(slots=True, frozen=True)
class SourceInfo:
    id: str
    audience: str
    verified_emails: bool = True


@dataclass(slots=True)
class BatchResult:
    """What storing one batch did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Contribution ids inserted or changed (the index must refresh them).
    changed_ids: list[int] = field(default_factory=list)
    #: Contribution ids flagged deleted by this batch (the index must drop them).
    deleted_ids: list[int] = field(default_factory=list)
    #: Identities whose reputation may have changed.
    touched_identities: set[int] = field(default_factory=set)
    #: Whether an account was added or changed (identity resolution has work to do).
    identities_changed: bool = False
    #: external id -> created | updated | unchanged, for this batch's records (not merged)
    outcome: dict[str, str] = field(default_factory=dict)

    def merge(self, other: BatchResult) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.changed_ids.extend(other.changed_ids)
        self.deleted_ids.extend(other.deleted_ids)
        self.touched_identities |= other.touched_identities
        self.identities_changed = self.identities_changed or other.identities_changed


def _rows_in(conn: Connection, query: Any, column: Any, values: Iterable[Any]) -> list[Any]:
    """Run `query` restricted to `column IN values`, chunk by chunk.

    One expanding parameter keeps the statement cached: compiling an IN of 500 literals
    per chunk was a large share of the import time.
    """
    statement = query.where(column.in_(bindparam("_values", expanding=True)))
    found: list[Any] = []
    for chunk in chunks(sorted(set(values))):
        found += conn.execute(statement, {"_values": list(chunk)}).all()
    return found


def any_contribution(conn: Connection) -> bool:
    """Whether the store holds any contribution at all (deleted or not)."""
    return conn.execute(select(contributions.c.id).limit(1)).first() is not None


#: external id -> (identity id, its stored values): the accounts a bulk load has stored
#: so far, so that an account seen again unchanged costs no query
AccountCache = dict[str, tuple[int, dict[str, Any]]]
_ACCOUNT_FIELDS = ("username", "display_name", "email", "profile_url", "organisation", "bio",
                   "website")


def upsert_identities(
    conn: Connection, source: SourceInfo, authors: Iterable[AuthorRecord],
    cache: AccountCache | None = None,
) -> tuple[dict[str, int], bool]:
    """Insert new accounts, refresh changed ones; return external id -> identity id, and
    whether any account was added or changed (identity resolution then has work).
    `cache`: what earlier batches of the same load stored (read and kept up to date)."""
    wanted: dict[str, AuthorRecord] = {}
    for author in authors:
        known = wanted.get(author.id)
        # A later mention fills in what an earlier one left out, field by field: a liker
        # named without an e-mail does not erase the e-mail its post gave.
        wanted[author.id] = author if known is None else AuthorRecord(
            author.id, *(getattr(author, name) or getattr(known, name)
                         for name in ("username", "name", "email", "url", "organisation",
                                      "bio", "website")))
    ids: dict[str, int] = {}
    if cache:
        for key, author in list(wanted.items()):
            if key in cache:
                identity_id, old = cache[key]
                new = _identity_values(author, source)
                if all(old[name] == (new[name] or old[name]) for name in _ACCOUNT_FIELDS):
                    ids[key] = identity_id
                    del wanted[key]
    changes: list[dict[str, Any]] = []
    t = identities.c
    query = select(t.id, t.external_id, *(t[name] for name in _ACCOUNT_FIELDS))
    for row in _rows_in(conn, query.where(t.source_id == source.id), t.external_id, wanted):
        ids[row.external_id] = row.id
        new = _identity_values(wanted[row.external_id], source)
        old = {name: getattr(row, name) for name in _ACCOUNT_FIELDS}
        merged = {key: new[key] or old[key] for key in old}
        if merged != old:
            changes.append({"_id": row.id, **merged})
        if cache is not None:
            cache[row.external_id] = (row.id, merged)
    if changes:
        conn.execute(
            update(identities).where(t.id == bindparam("_id")),
            changes,
        )
    missing = [
        {"source_id": source.id, "external_id": key, **_identity_values(author, source)}
        for key, author in wanted.items()
        if key not in ids
    ]
    if missing:
        insert_rows(conn, identities, missing)
        rows = _rows_in(conn, select(t.id, t.external_id).where(t.source_id == source.id),
                        t.external_id, [row["external_id"] for row in missing])
        ids.update({row.external_id: row.id for row in rows})
        if cache is not None:
            for row in missing:
                cache[row["external_id"]] = (ids[row["external_id"]],
                                             {name: row[name] for name in _ACCOUNT_FIELDS})
    return ids, bool(changes or missing)


def _identity_values(author: AuthorRecord, source: SourceInfo) -> dict[str, Any]:
    email = normalise_email(author.email)
    return {
        "username": author.username,
        "display_name": author.name or author.username,
        "email": email,
        "email_verified": bool(email) and source.verified_emails,
        "profile_url": author.url,
        "organisation": (author.organisation or "").strip() or None,
        "bio": author.bio,
        "website": author.website,
    }


def _contribution_values(record: ContributionRecord, author_id: int) -> dict[str, Any]:
    created = to_utc(record.created)
    parent = record.parent
    if parent is None and record.thread and record.thread != record.id:
        parent = record.thread
    return {
        "kind": str(record.kind),
        "author_identity_id": author_id,
        "thread_external_id": record.thread or record.id,
        "parent_external_id": parent,
        "url": record.url,
        "title": record.title or "",
        "body": record.text or "",
        "tags": list(record.tags),
        "created_at": created,
        "updated_at": to_utc(record.updated) if record.updated else created,
        "score": record.score,
        "likes": record.likes,
        "accepted": record.accepted,
        "replies": record.replies,
        "deleted": record.deleted,
    }


_COMPARED = (
    "kind", "author_identity_id", "thread_external_id", "parent_external_id", "url", "title",
    "body", "tags", "created_at", "updated_at", "score", "likes", "accepted", "replies", "deleted",
)  # fmt: skip


def store_batch(
    conn: Connection,
    source: SourceInfo,
    records: Sequence[ContributionRecord],
    seen_at: datetime | None = None,
) -> BatchResult:
    """Store one batch in the open transaction; return what changed.

    Within a batch the last record for an id wins.
    """
    latest, suppressed = _without_erased(conn, source, records)
    identity_ids, result = _accounts(conn, source, latest, suppressed)
    values = {
        key: _contribution_values(record, identity_ids[record.author.id])
        for key, record in latest.items()
    }
    existing = _existing(conn, source.id, list(values))
    new_rows: list[dict[str, Any]] = []
    changed_rows: list[dict[str, Any]] = []
    unchanged_ids: list[int] = []
    touched_keys: list[str] = []
    for key, row in values.items():
        old = existing.get(key)
        if old is None:
            new_rows.append({"source_id": source.id, "external_id": key,
                             "audience": source.audience, "seen_at": seen_at, **row})
            touched_keys.append(key)
            result.outcome[key] = "created"
        elif _differs(old, row):
            changed_rows.append({"_id": old["id"], "seen_at": seen_at, **row})
            touched_keys.append(key)
            result.outcome[key] = "updated"
        else:
            result.outcome[key] = "unchanged"
            unchanged_ids.append(old["id"])
    insert_rows(conn, contributions, new_rows)
    if changed_rows:
        conn.execute(
            update(contributions).where(contributions.c.id == bindparam("_id")), changed_rows
        )
    if seen_at is not None and unchanged_ids:
        for chunk in chunks(unchanged_ids):
            conn.execute(
                update(contributions)
                .where(contributions.c.id.in_(chunk))
                .values(seen_at=seen_at)
            )
    result.inserted, result.updated, result.unchanged = (
        len(new_rows), len(changed_rows), len(unchanged_ids)
    )
    _collect_changes(conn, source, touched_keys, latest, identity_ids, result)
    return result


def _without_erased(conn: Connection, source: SourceInfo,
                    records: Sequence[ContributionRecord]
                    ) -> tuple[dict[str, ContributionRecord], list[str]]:
    """The batch by id (the last record for an id wins) without erased people's records
    and likes, and the ids left out."""
    latest: dict[str, ContributionRecord] = {record.id: record for record in records}
    gone = suppressed_authors(conn, source.id, [r.author for r in latest.values()]
                              + [liker for r in latest.values() for liker in r.liked_by])
    suppressed = [key for key, r in latest.items() if r.author.id in gone]
    if gone:
        # erased people: their records are not stored again, their likes not counted
        latest = {key: replace(r, liked_by=[x for x in r.liked_by if x.id not in gone])
                  for key, r in latest.items() if r.author.id not in gone}
    return latest, suppressed


def _accounts(conn: Connection, source: SourceInfo, latest: dict[str, ContributionRecord],
              suppressed: list[str], cache: AccountCache | None = None
              ) -> tuple[dict[str, int], BatchResult]:
    """Upsert the batch's authors and likers; the result to fill, suppressions noted."""
    authors = [r.author for r in latest.values()]
    authors += [liker for r in latest.values() for liker in r.liked_by]
    identity_ids, accounts_changed = upsert_identities(conn, source, authors, cache)
    result = BatchResult(identities_changed=accounts_changed)
    result.outcome.update({key: "suppressed" for key in suppressed})
    return identity_ids, result


# The columns a new contribution is inserted with, in order (store_new_batch).
_NEW_COLUMNS = (
    "source_id", "external_id", "audience", "seen_at", "kind", "author_identity_id",
    "thread_external_id", "parent_external_id", "url", "title", "body", "tags", "created_at",
    "updated_at", "score", "likes", "accepted", "replies", "deleted",
)  # fmt: skip
_INSERT_NEW = (f"INSERT INTO contributions ({', '.join(_NEW_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(_NEW_COLUMNS))})")


def store_new_batch(conn: Connection, source: SourceInfo,
                    records: Sequence[ContributionRecord], seen_at: datetime | None = None,
                    cache: AccountCache | None = None) -> BatchResult | None:
    """Store a batch none of whose contributions is stored yet, the fast way (SQLite, a
    bulk load: see `begin_bulk`): no change detection, rows straight to the driver, reply
    and accept links left to the load's end (`link_source`). Returns None,
    storing nothing, when one of the batch's ids is stored already: `store_batch` it.
    `cache`: the accounts earlier batches of the load stored (see `upsert_identities`)."""
    c = contributions.c
    wanted = {record.id for record in records}
    if _rows_in(conn, select(c.id).where(c.source_id == source.id), c.external_id, wanted):
        return None
    latest, suppressed = _without_erased(conn, source, records)
    identity_ids, result = _accounts(conn, source, latest, suppressed, cache)
    seen = sqlite_time(seen_at)
    # a rowid table numbers new rows from its largest rowid up, and this transaction
    # holds the write lock: the batch's ids are the next len(rows) numbers, in order
    first = int(conn.execute(select(func.max(c.id))).scalar() or 0) + 1
    rows = []
    for key, record in latest.items():
        created = sqlite_time(to_utc(record.created))
        parent = record.parent
        if parent is None and record.thread and record.thread != record.id:
            parent = record.thread
        rows.append((source.id, key, source.audience, seen, str(record.kind),
                     identity_ids[record.author.id], record.thread or record.id, parent,
                     record.url, record.title or "", record.text or "", json.dumps(record.tags),
                     created, sqlite_time(to_utc(record.updated)) if record.updated else created,
                     record.score, record.likes, int(record.accepted), record.replies,
                     int(record.deleted)))
        result.outcome[key] = "created"
    conn.exec_driver_sql(_INSERT_NEW, rows)
    if rows and conn.execute(select(func.max(c.id))).scalar() != first + len(rows) - 1:
        raise RuntimeError("contributions were numbered out of order")  # never on SQLite
    result.inserted = len(rows)
    ids = {key: first + index for index, key in enumerate(latest)}
    insert_rows(conn, interactions, [
        {"source_id": source.id, "kind": "like", "actor_identity_id": identity_ids[liker.id],
         "target_contribution_id": ids[key],
         "created_at": to_utc(record.updated or record.created)}
        for key, record in latest.items() for liker in record.liked_by
    ], ignore=True)
    result.changed_ids = [ids[key] for key, record in latest.items() if not record.deleted]
    result.touched_identities = {identity_ids[r.author.id] for r in latest.values()}
    _queue_recompute(conn, result.touched_identities)
    return result


def source_is_empty(conn: Connection, source_id: str) -> bool:
    """Whether the source holds no contribution (deleted or not)."""
    return conn.execute(select(contributions.c.id).where(
        contributions.c.source_id == source_id).limit(1)).first() is None


def begin_bulk(conn: Connection, source_id: str, now: datetime) -> None:
    """Mark the source as being loaded in bulk, in the transaction of its first batch."""
    insert_rows(conn, bulk_loads, [{"source_id": source_id, "started_at": now}], ignore=True)


def bulk_pending(conn: Connection) -> list[str]:
    """The sources whose bulk load has not been finished (killed, or running)."""
    return list(conn.execute(select(bulk_loads.c.source_id).order_by(
        bulk_loads.c.source_id)).scalars())


def end_bulk(conn: Connection, source_id: str) -> None:
    conn.execute(bulk_loads.delete().where(bulk_loads.c.source_id == source_id))


# Reply and accept links of a whole source in one statement each: what
# _link_replies_and_accepts does batch by batch (the first link stored for an actor and
# target stays).
_LINK_REPLIES = (
    "INSERT OR IGNORE INTO interactions (source_id, kind, actor_identity_id, "
    "target_contribution_id, created_at) "
    "SELECT c.source_id, 'reply', c.author_identity_id, p.id, c.created_at "
    "FROM contributions c JOIN contributions p ON p.source_id = c.source_id "
    "AND p.external_id = c.parent_external_id WHERE c.source_id = ? AND p.id != c.id "
    "ORDER BY c.id"
)
_LINK_ACCEPTS = (
    "INSERT OR IGNORE INTO interactions (source_id, kind, actor_identity_id, "
    "target_contribution_id, created_at) "
    "SELECT c.source_id, 'accept', r.author_identity_id, c.id, c.updated_at "
    "FROM contributions c JOIN contributions r ON r.source_id = c.source_id "
    "AND r.external_id = c.thread_external_id WHERE c.source_id = ? AND c.accepted "
    "AND r.id != c.id ORDER BY c.id"
)


def link_source(conn: Connection, source_id: str) -> None:
    """Record every reply and accept interaction among the source's contributions."""
    conn.exec_driver_sql(_LINK_REPLIES, (source_id,))
    conn.exec_driver_sql(_LINK_ACCEPTS, (source_id,))


def _queue_recompute(conn: Connection, identity_ids: set[int]) -> None:
    now = datetime.now(UTC)
    insert_rows(conn, recompute_queue, [{"identity_id": i, "queued_at": now}
                                        for i in sorted(identity_ids)], ignore=True)


def _existing(conn: Connection, source_id: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    c = contributions.c
    columns = [c.id, c.external_id] + [c[name] for name in _COMPARED]
    rows = _rows_in(conn, select(*columns).where(c.source_id == source_id), c.external_id, keys)
    return {row.external_id: dict(row._mapping) for row in rows}


def _differs(old: dict[str, Any], new: dict[str, Any]) -> bool:
    for name in _COMPARED:
        a, b = old[name], new[name]
        if name in ("created_at", "updated_at"):
            a = from_db_time(a)
        if a != b:
            return True
    return False


def _collect_changes(
    conn: Connection,
    source: SourceInfo,
    keys: list[str],
    records: dict[str, ContributionRecord],
    identity_ids: dict[str, int],
    result: BatchResult,
) -> None:
    if not keys:
        return
    c = contributions.c
    batch = _rows_in(conn, select(*_LINK_COLUMNS, c.deleted).where(c.source_id == source.id),
                     c.external_id, keys)
    ids = {row.external_id: row.id for row in batch}
    for row in batch:
        (result.deleted_ids if row.deleted else result.changed_ids).append(row.id)
    likes = [
        {"source_id": source.id, "kind": "like", "actor_identity_id": identity_ids[liker.id],
         "target_contribution_id": ids[key], "created_at": to_utc(records[key].updated
                                                                   or records[key].created)}
        for key in keys for liker in records[key].liked_by
    ]
    insert_rows(conn, interactions, likes, ignore=True)
    related = _link_replies_and_accepts(conn, source.id, batch)
    result.touched_identities |= {identity_ids[records[key].author.id] for key in keys}
    # authors of the parents and thread roots: their self-reply and accept facts may change
    result.touched_identities |= related
    _queue_recompute(conn, result.touched_identities)


_LINK_COLUMNS = (
    contributions.c.id, contributions.c.external_id, contributions.c.author_identity_id,
    contributions.c.thread_external_id, contributions.c.parent_external_id,
    contributions.c.accepted, contributions.c.created_at, contributions.c.updated_at,
)


def _link_replies_and_accepts(conn: Connection, source_id: str, batch: list[Any]) -> set[int]:
    """Record reply and accept interactions for the batch's rows, in both directions (a
    reply stored before its parent is linked when the parent arrives). Returns the
    authors of their parents and thread roots."""
    c = contributions.c
    query = select(*_LINK_COLUMNS).where(c.source_id == source_id)
    keys = [row.external_id for row in batch]
    # the other side of each link, whichever arrived first
    children = _rows_in(conn, query, c.parent_external_id, keys)
    answers = _rows_in(conn, query.where(c.accepted.is_(True)), c.thread_external_id, keys)
    wanted = {r.parent_external_id for r in batch} | {r.thread_external_id for r in batch}
    by_key = {r.external_id: r for r in batch}
    wanted -= set(by_key)
    wanted.discard(None)
    by_key.update({r.external_id: r for r in _rows_in(conn, query, c.external_id, wanted)})
    links: dict[tuple[str, int, int], Any] = {}
    for row in batch + children:
        parent = by_key.get(row.parent_external_id)
        if parent is not None and parent.id != row.id:
            links[("reply", row.author_identity_id, parent.id)] = row.created_at
    for row in batch + answers:
        root = by_key.get(row.thread_external_id)
        if row.accepted and root is not None and root.id != row.id:
            links[("accept", root.author_identity_id, row.id)] = row.updated_at
    insert_rows(conn, interactions, [
        {"source_id": source_id, "kind": kind, "actor_identity_id": actor,
         "target_contribution_id": target, "created_at": from_db_time(at)}
        for (kind, actor, target), at in links.items()
    ], ignore=True)
    # An answer no longer accepted loses its accept interaction.
    rejected = [r.id for r in batch if not r.accepted]
    for chunk in chunks(rejected):
        conn.execute(interactions.delete().where(
            interactions.c.kind == "accept", interactions.c.target_contribution_id.in_(chunk)))
    related = {r.parent_external_id for r in batch} | {r.thread_external_id for r in batch}
    return {by_key[key].author_identity_id for key in related if key in by_key}


def flag_unseen_deleted(conn: Connection, source_id: str, pass_started: datetime) -> list[int]:
    """Flag as deleted what a complete pass started at `pass_started` did not see.

    Returns the ids newly flagged.
    """
    c = contributions.c
    stale = select(c.id).where(
        c.source_id == source_id,
        c.deleted.is_(False),
        (c.seen_at.is_(None)) | (c.seen_at < pass_started),
    )
    ids = [row.id for row in conn.execute(stale)]
    for chunk in chunks(ids):
        conn.execute(update(contributions).where(c.id.in_(chunk)).values(deleted=True))
    return ids
