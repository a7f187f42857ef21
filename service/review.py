"""Reviewing identity: accept or reject a merge suggestion, undo a merge or a split.

Each action writes its intent in the store (a manual link, blocks, the decision), then
resolves through the pipeline's one path, which writes the audit entries of what changed
and recomputes whom it touched. The API and the CLI call these; neither repeats them.

Errors: `NotFound` (no such suggestion or entry) and `Conflict` (already decided, already
undone, nothing to change), both `ReviewError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.engine import Connection

from service import pipeline
from service.identity.audit import Cause, Change
from service.store import audit as store_audit
from service.store import people as store_people
from service.store import suggestions as store_suggestions
from service.store.schema import identity_audit, identity_links

__all__ = ["Conflict", "NotFound", "Outcome", "ReviewError", "accept", "reject", "undo"]


class ReviewError(Exception):
    """A review action that cannot be done as asked."""


class NotFound(ReviewError):
    pass


class Conflict(ReviewError):
    pass


@dataclass(slots=True)
class Outcome:
    """The audit entries an action wrote, and the person the first account now has."""

    audit_ids: list[int]
    person_id: int | None


def _open(conn: Connection, suggestion_id: int) -> store_suggestions.Suggestion:
    found = store_suggestions.get(conn, suggestion_id)
    if found is None:
        raise NotFound(f"no suggestion {suggestion_id}")
    if found.status != store_suggestions.OPEN:
        raise Conflict(f"suggestion {suggestion_id} is already {found.status}")
    if found.first.person_id is None or found.second.person_id is None:
        raise Conflict(f"suggestion {suggestion_id}: an account of the pair is gone")
    return found


def accept(services: pipeline.Services, suggestion_id: int, actor: str,
           reason: str | None = None) -> Outcome:
    """Merge the pair of a suggestion (a manual link between their accounts): an `accept`
    entry, then the `merge` entry of what the resolution changed."""
    with services.engine.begin() as conn:
        found = _open(conn, suggestion_id)
        a, b = found.first.identity_id, found.second.identity_id
        store_people.add_manual_link(conn, a, b)
        store_suggestions.decide(conn, suggestion_id, store_suggestions.ACCEPTED, actor, reason)
        entry = _decision_entry(conn, "accept", found, actor, reason)
    ids = pipeline.resolve_for(services, Cause(actor, "suggestion", reason, frozenset((a, b)),
                                               suggestion_id=suggestion_id))
    return Outcome([entry, *ids], _person_of(services, a))


def _decision_entry(conn: Connection, action: str, found: store_suggestions.Suggestion,
                    actor: str, reason: str | None) -> int:
    """The entry of a decision on a suggestion: the two people as they stand."""
    groups = [{"person_id": side.person_id,
               "identities": [a["identity_id"] for a in side.accounts]}
              for side in (found.first, found.second)]
    return store_audit.write(conn, Change(action, "suggestion", actor, reason, groups, groups,
                                          found.id))


def reject(services: pipeline.Services, suggestion_id: int, actor: str,
           reason: str | None = None) -> Outcome:
    """Keep the pair apart for good: blocks between all their accounts (a full rebuild
    keeps them), the suggestion rejected, and a `reject` audit entry."""
    with services.engine.begin() as conn:
        found = _open(conn, suggestion_id)
        store_people.block_between(conn, [a["identity_id"] for a in found.first.accounts],
                                   [a["identity_id"] for a in found.second.accounts])
        store_suggestions.decide(conn, suggestion_id, store_suggestions.REJECTED, actor, reason)
        entry = _decision_entry(conn, "reject", found, actor, reason)
    return Outcome([entry], found.first.person_id)


def undo(services: pipeline.Services, entry_id: int, actor: str,
         reason: str | None = None) -> Outcome:
    """Undo a merge (its accounts apart again, for good) or a split (linked again, by
    hand). The undo is a new entry naming the one it undoes."""
    with services.engine.begin() as conn:
        entry = store_audit.entry(conn, entry_id)
        if entry is None:
            raise NotFound(f"no identity audit entry {entry_id}")
        if entry.action not in ("merge", "split"):
            raise Conflict(f"entry {entry_id} is a {entry.action}: only a merge or a split "
                           "can be undone")
        done = conn.execute(select(identity_audit.c.id).where(
            identity_audit.c.undoes == entry_id)).first()
        if done is not None:
            raise Conflict(f"entry {entry_id} is already undone (entry {done.id})")
        groups = entry.before if entry.action == "merge" else entry.after
        parts = _present(conn, [list(g["identities"]) for g in groups])
        owners = [{_owner(conn, i) for i in part} for part in parts]
        together = len(parts) > 1 and len(set().union(*owners)) == 1
        if len(parts) < 2 or together != (entry.action == "merge"):
            raise Conflict(f"entry {entry_id}: nothing to undo, the accounts are already "
                           f"{'apart' if entry.action == 'merge' else 'together'}")
        if entry.action == "merge":
            for i, left in enumerate(parts):
                for right in parts[i + 1:]:
                    store_people.block_between(conn, left, right)
        else:
            for left, right in pairwise(parts):
                store_people.add_manual_link(conn, left[0], right[0])
        if entry.suggestion_id is not None and entry.action == "merge":
            store_suggestions.decide(conn, entry.suggestion_id, store_suggestions.UNDONE,
                                     actor, reason)
    accounts = frozenset(i for part in parts for i in part)
    ids = pipeline.resolve_for(services, Cause(actor, "undo", reason, accounts,
                                               suggestion_id=entry.suggestion_id,
                                               undoes=entry_id))
    return Outcome(ids, _person_of(services, parts[0][0]))


def _present(conn: Connection, groups: list[list[int]]) -> list[list[int]]:
    """The groups' accounts that still have a person (an erased one has none)."""
    linked = set(conn.execute(select(identity_links.c.identity_id).where(
        identity_links.c.identity_id.in_([i for g in groups for i in g]))).scalars())
    return [kept for g in groups if (kept := [i for i in g if i in linked])]


def _owner(conn: Connection, identity_id: int) -> int | None:
    return store_people.person_of(conn, identity_id)


def _person_of(services: pipeline.Services, identity_id: int) -> int | None:
    with services.engine.connect() as conn:
        return store_people.person_of(conn, identity_id)
