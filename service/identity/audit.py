"""What a resolution pass changed, as identity audit entries. Pure functions, no I/O.

A pass moves accounts between people. The accounts that moved, the people they left and
the people they joined form connected groups; each group is one entry: a *merge* when it
ends with fewer people than it started with (an account with no person yet counts as
one), a *split* when with more, a *move* otherwise. An account stored for the first time
that becomes a person of its own is no entry: nothing was merged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cause", "Change", "changes"]

#: the actor of what the rules did on their own
SYSTEM = "whoknows"


@dataclass(frozen=True, slots=True)
class Cause:
    """Who asked for a change and why; it is given to the changes that touch its
    accounts (`identity_ids`), the rules are credited with the others."""

    actor: str
    method: str  # manual | suggestion | undo | self-claim
    reason: str | None = None
    identity_ids: frozenset[int] = frozenset()
    suggestion_id: int | None = None
    undoes: int | None = None


@dataclass(slots=True)
class Change:
    action: str  # merge | split | move
    method: str
    actor: str
    reason: str | None
    #: [{"person_id": ..., "identities": [...]}], person_id None for new accounts
    before: list[dict[str, Any]] = field(default_factory=list)
    after: list[dict[str, Any]] = field(default_factory=list)
    suggestion_id: int | None = None
    undoes: int | None = None

    @property
    def identity_ids(self) -> list[int]:
        return sorted({i for group in self.after for i in group["identities"]})


def _members(links: Mapping[int, int]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = defaultdict(set)
    for identity_id, person_id in links.items():
        found[person_id].add(identity_id)
    return found


def changes(before: Mapping[int, int], after: Mapping[int, int],
            methods: Mapping[int, str], cause: Cause | None = None) -> list[Change]:
    """The entries for a pass that took the links (identity id -> person id) from
    `before` to `after`; `methods` names how each account is linked after it."""
    moved = [i for i, person in after.items() if before.get(i) != person]
    if not moved:
        return []
    old_members, new_members = _members(before), _members(after)
    # union-find over ("old", person) and ("new", person) nodes joined by moved accounts
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(node: tuple[str, int]) -> tuple[str, int]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for identity_id in moved:
        new = find(("new", after[identity_id]))
        old = find(("old", before[identity_id])) if identity_id in before \
            else find(("acct", identity_id))
        parent[old] = new
    # the people who kept accounts belong to the change too (the one a merge grew)
    for kind, key in list(parent):
        members = new_members.get(key, set()) if kind == "new" else \
            old_members.get(key, set()) if kind == "old" else set()
        for i in members:
            other = ("old", before[i]) if kind == "new" and i in before else \
                ("new", after[i]) if kind == "old" and i in after else None
            if other is not None:
                parent[find(other)] = find((kind, key))
    groups: dict[tuple[str, int], list[tuple[str, int]]] = defaultdict(list)
    for node in list(parent):
        groups[find(node)].append(node)
    found = []
    for nodes in groups.values():
        change = _change(nodes, old_members, new_members, methods, cause)
        if change is not None:
            found.append(change)
    return sorted(found, key=lambda c: c.identity_ids)


def _change(nodes: list[tuple[str, int]], old_members: Mapping[int, set[int]],
            new_members: Mapping[int, set[int]], methods: Mapping[int, str],
            cause: Cause | None) -> Change | None:
    before = [{"person_id": key, "identities": sorted(old_members[key])}
              for kind, key in sorted(nodes) if kind == "old"]
    before += [{"person_id": None, "identities": [key]}
               for kind, key in sorted(nodes) if kind == "acct"]
    after = [{"person_id": key, "identities": sorted(new_members[key])}
             for kind, key in sorted(nodes) if kind == "new"]
    if len(before) == 1 and before[0]["person_id"] is None:
        return None  # a new account, a person of its own
    action = ("merge" if len(after) < len(before) else
              "split" if len(after) > len(before) else "move")
    ids = {i for group in after for i in group["identities"]}  # type: ignore[attr-defined]
    if cause is not None and ids & cause.identity_ids:
        return Change(action, cause.method, cause.actor, cause.reason, before, after,
                      cause.suggestion_id, cause.undoes)
    rule = sorted({methods.get(i, "single") for i in ids} - {"single"}) or ["rules"]
    return Change(action, "+".join(rule), SYSTEM, None, before, after)
