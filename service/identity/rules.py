"""Identity resolution: which accounts belong to one person. Pure functions, no I/O.

Rules (DESIGN.md): identities merge automatically only on strong evidence — the same
verified, normalised e-mail, or a directory entry naming the accounts — never on display
name alone. An administrator's manual link always holds; a manual unlink is remembered as
a block, and no automatic merge ever joins two blocked identities again. Every link says
how it was made: `single`, `email`, `directory` or `manual`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "DirectoryEntry",
    "IdentityFacts",
    "Link",
    "ResolvedPerson",
    "resolve",
]


@dataclass(frozen=True, slots=True)
class IdentityFacts:
    id: int
    source_id: str
    username: str | None
    display_name: str | None
    email: str | None
    email_verified: bool


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    email: str
    name: str | None = None
    department: str | None = None
    #: source id -> the account's username in that source
    accounts: Mapping[str, str] = field(default_factory=dict)
    #: the person's organisation (an organisation id or name) and until when they are
    #: away (an ISO date), when the directory says
    organisation: str | None = None
    away_until: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    person_id: int
    method: str
    detail: str | None = None


@dataclass(slots=True)
class ResolvedPerson:
    """One person after resolution. `person_id` None means a new person is needed."""

    person_id: int | None
    identity_ids: list[int]
    links: dict[int, tuple[str, str | None]]
    display_name: str
    email: str | None
    department: str | None


class _Groups:
    """Union-find over identity ids that refuses merges joining blocked identities."""

    def __init__(self, ids: Iterable[int], blocked: Iterable[tuple[int, int]]) -> None:
        self.parent = {i: i for i in ids}
        self.members: dict[int, set[int]] = {i: {i} for i in self.parent}
        self.blocked: dict[int, set[int]] = {}
        for a, b in blocked:
            self.blocked.setdefault(a, set()).add(b)
            self.blocked.setdefault(b, set()).add(a)
        self.method: dict[int, tuple[str, str | None]] = {}

    def find(self, item: int) -> int:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def _conflict(self, ra: int, rb: int) -> bool:
        small, large = sorted((self.members[ra], self.members[rb]), key=len)
        return any(self.blocked.get(x, set()) & large for x in small if x in self.blocked)

    def union(self, a: int, b: int, method: str, detail: str | None, force: bool = False) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb or (not force and self._conflict(ra, rb)):
            return
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)
        for item in (a, b):
            self.method.setdefault(item, (method, detail))

    def groups(self) -> list[set[int]]:
        return list(self.members.values())


def resolve(
    identities: list[IdentityFacts],
    directory: list[DirectoryEntry],
    manual: Iterable[tuple[int, int]],
    blocked: Iterable[tuple[int, int]],
    current: Mapping[int, Link],
) -> list[ResolvedPerson]:
    """Group identities into people and keep existing person ids stable.

    Returns one `ResolvedPerson` per group; a group keeps the person id most of its
    identities already had (a split-off group gets a new person).
    """
    by_id = {facts.id: facts for facts in identities}
    groups = _Groups(by_id, blocked)
    for a, b in manual:
        if a in by_id and b in by_id:
            groups.union(a, b, "manual", None, force=True)
    entries = _merge_directory(groups, identities, directory)
    _merge_emails(groups, identities)
    taken: set[int] = set()
    people = []
    for members in sorted(groups.groups(), key=min):
        ids = sorted(members)
        links = {i: groups.method.get(i, ("single", None)) for i in ids}
        entry = next((entries[i] for i in ids if i in entries), None)
        people.append(_person(ids, links, entry, by_id, current, taken))
    return people


def _merge_directory(
    groups: _Groups, identities: list[IdentityFacts], directory: list[DirectoryEntry]
) -> dict[int, DirectoryEntry]:
    by_account = {
        (f.source_id, f.username.lower()): f.id for f in identities if f.username
    }
    by_email: dict[str, list[int]] = {}
    for facts in identities:
        if facts.email and facts.email_verified:
            by_email.setdefault(facts.email, []).append(facts.id)
    named: dict[int, DirectoryEntry] = {}
    for entry in directory:
        found = list(by_email.get(entry.email, []))
        for source_id, username in entry.accounts.items():
            match = by_account.get((source_id, username.lower()))
            if match is not None:
                found.append(match)
        for identity_id in found:
            named.setdefault(identity_id, entry)
            groups.union(found[0], identity_id, "directory", entry.email)
    return named


def _merge_emails(groups: _Groups, identities: list[IdentityFacts]) -> None:
    first: dict[str, int] = {}
    for facts in identities:
        if not (facts.email and facts.email_verified):
            continue
        anchor = first.setdefault(facts.email, facts.id)
        if anchor != facts.id:
            groups.union(anchor, facts.id, "email", facts.email)


def _person(
    ids: list[int],
    links: dict[int, tuple[str, str | None]],
    entry: DirectoryEntry | None,
    by_id: Mapping[int, IdentityFacts],
    current: Mapping[int, Link],
    taken: set[int],
) -> ResolvedPerson:
    votes = Counter(current[i].person_id for i in ids if i in current)
    person_id = next((pid for pid, _ in votes.most_common() if pid not in taken), None)
    if person_id is not None:
        taken.add(person_id)
    emails = Counter(by_id[i].email for i in ids if by_id[i].email and by_id[i].email_verified)
    names = [by_id[i].display_name or by_id[i].username for i in ids]
    return ResolvedPerson(
        person_id=person_id,
        identity_ids=ids,
        links=links,
        display_name=(entry.name if entry and entry.name else None)
        or next((n for n in names if n), None)
        or f"person {ids[0]}",
        email=entry.email if entry else (emails.most_common(1)[0][0] if emails else None),
        department=entry.department if entry else None,
    )
