"""Merge suggestions: pairs of people who are likely, not certainly, one human.

The certain rules (`rules.py`) merge on a verified e-mail or a directory entry. What they
cannot see, an administrator reviews: the same display name within a department, the
same name on an internal and an external source, similar usernames across sources, an
external profile's bio or website naming the employee. Each piece of evidence has a
confidence; they combine as independent evidence (noisy-or), then what speaks against the
pair lowers it (another verified e-mail, an account on the same source already, a name
several employees share). Pure functions, no I/O.

A suggestion always has one *anchor*: a person with a directory entry or an account on an
internal source (an employee). Two customers are never suggested: nobody on staff can
vouch for them, and the pairs would grow with the square of the community.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz, process

__all__ = [
    "AGAINST",
    "THRESHOLD",
    "Account",
    "Candidate",
    "PersonFacts",
    "Reason",
    "suggest",
]

#: The shipped confidence threshold: pairs below it are not queued (BENCHMARKS.md has the
#: precision and recall of the demo company's ground truth at this threshold).
THRESHOLD = 0.5

# The confidence each kind of evidence gives on its own.
_SAME_NAME_DEPARTMENT = 0.75
_SAME_NAME_ACROSS = 0.65  # an internal and an external (or partner) source
_SAME_NAME = 0.55
_SIMILAR_NAME = 0.45  # at a token-sort ratio of 100; scaled down to the cut-off
_SHORT_NAME = 0.35  # `Dana S.` for `Dana Smith`: many people share a first name
_USERNAME_EXACT = 0.45  # a username alone stays below the threshold
_USERNAME_SIMILAR = 0.3  # at the cut-off, rising to _USERNAME_EXACT
_BIO_EMAIL = 0.9
_BIO_NAME = 0.55
_WEBSITE = 0.45
# What speaks against a pair multiplies its confidence.
_OTHER_EMAIL = 0.5
_SAME_SOURCE = 0.6
_USERNAME_CUTOFF = 85.0
_ROUGH_CUTOFF = 66.0
_COMMON_HANDLE = 3
_NAME_CUTOFF = 90.0
_MIN_HANDLE = 4
#: the reasons that speak against a pair
AGAINST = frozenset({"other_email", "same_source", "common_name"})


@dataclass(frozen=True, slots=True)
class Account:
    identity_id: int
    source_id: str
    audience: str
    username: str | None
    display_name: str | None
    #: the verified e-mail only: an unverified one is evidence of nothing
    email: str | None = None
    bio: str | None = None
    website: str | None = None


@dataclass(frozen=True, slots=True)
class PersonFacts:
    person_id: int
    display_name: str
    accounts: tuple[Account, ...]
    email: str | None = None
    department: str | None = None
    in_directory: bool = False

    @property
    def is_anchor(self) -> bool:
        return self.in_directory or any(a.audience == "internal" for a in self.accounts)

    @property
    def first_identity(self) -> int:
        return min(a.identity_id for a in self.accounts)


@dataclass(frozen=True, slots=True)
class Reason:
    """One piece of evidence (or counter-evidence, `weight` < 1 multiplying)."""

    code: str
    detail: str
    weight: float


@dataclass(slots=True)
class Candidate:
    """A suggested pair: `person_id` is the anchor; the identity ids are the two people's
    first accounts, the pair an accept links."""

    person_id: int
    other_person_id: int
    identity_id: int
    other_identity_id: int
    confidence: float = 0.0
    reasons: list[Reason] = field(default_factory=list)


@lru_cache(maxsize=65536)
def normalise_name(text: str | None) -> str:
    """Lower-case ASCII words: `Zoë  O'Neil` -> `zoe o neil`."""
    if not text:
        return ""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.findall(r"[a-z]+", ascii_text.lower()))


def _handle(text: str | None) -> str:
    """A username without case, digits or separators: `Dana.Smith_2` -> `danasmith`."""
    return re.sub(r"[^a-z]", "", normalise_name(text))


def _names(person: PersonFacts, short: bool = False) -> frozenset[str]:
    """The person's full names (two words or more; `short`: a last initial is enough)."""
    return _names_of(person.display_name, tuple(a.display_name for a in person.accounts),
                     short)


@lru_cache(maxsize=65536)
def _names_of(display_name: str | None, account_names: tuple[str | None, ...],
              short: bool) -> frozenset[str]:
    found = {normalise_name(display_name)} | {normalise_name(n) for n in account_names}
    return frozenset(name for name in found if len(name.split()) >= 2
                     and (short or len(name.split()[-1]) > 1))


def _handles_of_name(name: str) -> set[str]:
    words = name.split()
    first, last = words[0], words[-1]
    return {first + last, first[0] + last, first + last[0], last + first}


def _anchor_handles(person: PersonFacts) -> set[str]:
    found = {_handle(a.username) for a in person.accounts}
    for name in _names(person):
        found |= _handles_of_name(name)
    return {h for h in found if len(h) >= _MIN_HANDLE}


class _Pairs:
    """The evidence gathered so far, per (anchor, other) pair of person ids."""

    def __init__(self, people: dict[int, PersonFacts], blocked: set[frozenset[int]]) -> None:
        self.people = people
        self.anchors = {pid for pid, p in people.items() if p.is_anchor}
        self.blocked = blocked
        self.found: dict[tuple[int, int], dict[str, Reason]] = defaultdict(dict)

    def add(self, anchor: int, other: int, reason: Reason, only_known: bool = False) -> None:
        """Add evidence for a pair; `only_known`: to a pair that has some already."""
        if anchor == other or (self.blocked and frozenset((anchor, other)) in self.blocked):
            return
        if other < anchor and other in self.anchors:  # each pair of anchors once
            anchor, other = other, anchor
        if only_known and (anchor, other) not in self.found:
            return
        kept = self.found[(anchor, other)].get(reason.code)
        if kept is None or kept.weight < reason.weight:
            self.found[(anchor, other)][reason.code] = reason


def _same_names(pairs: _Pairs, anchors: list[PersonFacts], others: list[PersonFacts]) -> None:
    by_name: dict[str, list[PersonFacts]] = defaultdict(list)
    for person in anchors:
        for name in _names(person):
            by_name[name].append(person)
    for other in others:
        for name in _names(other):
            for anchor in by_name.get(name, []):
                pairs.add(anchor.person_id, other.person_id, _name_reason(anchor, other, name))
    _similar_names(pairs, by_name, others)


def _name_reason(anchor: PersonFacts, other: PersonFacts, name: str) -> Reason:
    if anchor.department and anchor.department == other.department:
        return Reason("same_name_department",
                      f"the same name ({name}) within the department {anchor.department}",
                      _SAME_NAME_DEPARTMENT)
    if not other.is_anchor:
        sources = ", ".join(sorted({a.source_id for a in other.accounts}))
        return Reason("same_name_internal_external",
                      f"the same name ({name}) on an internal source and on {sources}",
                      _SAME_NAME_ACROSS)
    return Reason("same_name", f"the same name ({name})", _SAME_NAME)


def _short_names(pairs: _Pairs, by_name: dict[str, list[PersonFacts]],
                 others: list[PersonFacts]) -> None:
    """`dana s` (a forum's `Dana S.`) for the employees called Dana S-something."""
    by_short: dict[str, list[tuple[str, PersonFacts]]] = defaultdict(list)
    for name, anchors in by_name.items():
        words = name.split()
        by_short[f"{words[0]} {words[-1][0]}"] += [(name, a) for a in anchors]
    for other in others:
        for name in _names(other, short=True):
            for full, anchor in by_short.get(name, []) if len(name.split()[-1]) == 1 else []:
                pairs.add(anchor.person_id, other.person_id, Reason(
                    "short_name", f"the first name and last initial of {full} ({name})",
                    _SHORT_NAME))


def _initials(name: str) -> str:
    words = name.split()
    return "".join(sorted((words[0][0], words[-1][0])))


def _similar_names(pairs: _Pairs, by_name: dict[str, list[PersonFacts]],
                   others: list[PersonFacts]) -> None:
    _short_names(pairs, by_name, others)
    # blocked by the initials (a typo rarely changes both first letters), and compared
    # a block at a time, all against all in C
    known: dict[str, list[str]] = defaultdict(list)
    for name in by_name:
        known[_initials(name)].append(name)
    asked: dict[str, dict[str, list[PersonFacts]]] = defaultdict(lambda: defaultdict(list))
    for other in others:
        for name in _names(other):
            if _initials(name) in known:
                asked[_initials(name)][name].append(other)
    for initials, names in asked.items():
        queries, choices = list(names), known[initials]
        scores = process.cdist(queries, choices, scorer=fuzz.token_sort_ratio,
                               score_cutoff=_NAME_CUTOFF, dtype="uint8")
        for row, column in zip(*scores.nonzero(), strict=True):
            name, match = queries[row], choices[column]
            if match == name:
                continue
            score = float(scores[row, column])
            reason = Reason("similar_name", f"similar names ({match} ~ {name}, {score:.0f}%)",
                            _SIMILAR_NAME * score / 100)
            for other in names[name]:
                for anchor in by_name[match]:
                    pairs.add(anchor.person_id, other.person_id, reason)


def _usernames(pairs: _Pairs, anchors: list[PersonFacts], others: list[PersonFacts],
               only_known: bool) -> None:
    """Similar usernames across sources. `only_known`: only for the pairs found already
    (a username alone stays below the threshold, and the pairs it would start are most
    of the work on a large community)."""
    handles: dict[str, list[PersonFacts]] = defaultdict(list)
    own: dict[int, set[str]] = {}
    for anchor in anchors:
        own[anchor.person_id] = _anchor_handles(anchor)
        for handle in own[anchor.person_id]:
            handles[handle].append(anchor)
    if only_known:
        for anchor_id, other_id in list(pairs.found):
            for key in ((anchor_id, other_id), (other_id, anchor_id)):
                if key[0] in own:
                    _known_pair(pairs, pairs.people[key[0]], own[key[0]],
                                pairs.people[key[1]], handles)
        return
    # blocked by the first two letters: the comparisons grow with the community, not
    # with its square (a typo in the first two letters is missed)
    by_letter: dict[str, list[str]] = defaultdict(list)
    for handle in handles:
        by_letter[handle[:2]].append(handle)
    for other in others:
        for account in other.accounts:
            wanted = _handle(account.username)
            if len(wanted) < _MIN_HANDLE:
                continue
            # a cheap first pass in C (a handle inside another scores 67 or more), then
            # the score that knows about handles inside handles
            for match, _, _ in process.extract(wanted, by_letter.get(wanted[:2], []),
                                               scorer=fuzz.ratio,
                                               score_cutoff=_ROUGH_CUTOFF, limit=10):
                for anchor in handles[match]:
                    _username_pair(pairs, anchor, other, account, wanted, match, handles)


def _known_pair(pairs: _Pairs, anchor: PersonFacts, anchor_handles: set[str],
                other: PersonFacts, handles: dict[str, list[PersonFacts]]) -> None:
    for account in other.accounts:
        wanted = _handle(account.username)
        if len(wanted) >= _MIN_HANDLE:
            for match in anchor_handles:
                _username_pair(pairs, anchor, other, account, wanted, match, handles)


def _username_pair(pairs: _Pairs, anchor: PersonFacts, other: PersonFacts, account: Account,
                   wanted: str, match: str, handles: dict[str, list[PersonFacts]]) -> None:
    if len(handles[match]) > _COMMON_HANDLE:
        return  # `jamesm` fits every James M.: evidence of nobody
    if all(a.source_id == account.source_id for a in anchor.accounts):
        return  # usernames are compared across sources
    score = _username_score(wanted, match)
    if score >= _USERNAME_CUTOFF:
        pairs.add(anchor.person_id, other.person_id, _username_reason(account, match, score))


def _username_score(a: str, b: str) -> float:
    """Edit similarity, or a little less for a handle inside the other (`danas` in
    `danaslumen`, a company suffix) when it is at least half of it and five letters."""
    score = fuzz.ratio(a, b)
    shorter, longer = sorted((a, b), key=len)
    if len(shorter) >= 5 and 2 * len(shorter) >= len(longer):
        score = max(score, 0.95 * fuzz.partial_ratio(shorter, longer))
    return score


def _username_reason(account: Account, match: str, score: float) -> Reason:
    if score >= 100:
        return Reason("similar_username",
                      f"the username {account.username} on {account.source_id} matches "
                      f"{match}", _USERNAME_EXACT)
    span = (score - _USERNAME_CUTOFF) / (100 - _USERNAME_CUTOFF)
    weight = _USERNAME_SIMILAR + (_USERNAME_EXACT - _USERNAME_SIMILAR) * span
    return Reason("similar_username",
                  f"the username {account.username} on {account.source_id} is like "
                  f"{match} ({score:.0f}%)", weight)


def _ngrams(words: list[str], sizes: Iterable[int]) -> Iterator[str]:
    for size in sizes:
        for i in range(len(words) - size + 1):
            yield " ".join(words[i:i + size])


def _profiles(pairs: _Pairs, anchors: list[PersonFacts], others: list[PersonFacts]) -> None:
    by_name: dict[str, list[PersonFacts]] = defaultdict(list)
    by_email: dict[str, list[PersonFacts]] = defaultdict(list)
    by_handle: dict[str, list[PersonFacts]] = defaultdict(list)
    for anchor in anchors:
        for name in _names(anchor):
            by_name[name].append(anchor)
        for email in {anchor.email} | {a.email for a in anchor.accounts}:
            if email:
                by_email[email.lower()].append(anchor)
        for account in anchor.accounts:
            if handle := _handle(account.username):
                by_handle[handle].append(anchor)
    for other in others:
        for account in other.accounts:
            _bio(pairs, other, account, by_name, by_email)
            _website(pairs, other, account, by_handle)


def _bio(pairs: _Pairs, other: PersonFacts, account: Account,
         by_name: dict[str, list[PersonFacts]], by_email: dict[str, list[PersonFacts]]) -> None:
    if not account.bio:
        return
    for email in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", account.bio):
        for anchor in by_email.get(email.lower(), []):
            pairs.add(anchor.person_id, other.person_id, Reason(
                "bio_email", f"the profile on {account.source_id} gives the e-mail {email}",
                _BIO_EMAIL))
    words = normalise_name(account.bio).split()
    for phrase in set(_ngrams(words, (2, 3))):
        for anchor in by_name.get(phrase, []):
            pairs.add(anchor.person_id, other.person_id, Reason(
                "bio_name", f"the profile on {account.source_id} names {phrase}", _BIO_NAME))


def _website(pairs: _Pairs, other: PersonFacts, account: Account,
             by_handle: dict[str, list[PersonFacts]]) -> None:
    if not account.website:
        return
    for part in re.split(r"[/?#=&]+", account.website.lower()):
        for anchor in by_handle.get(_handle(part), []) if len(_handle(part)) >= _MIN_HANDLE \
                else []:
            pairs.add(anchor.person_id, other.person_id, Reason(
                "website", f"the website on {account.source_id} ({account.website}) names "
                f"the account {part}", _WEBSITE))


def _against(anchor: PersonFacts, other: PersonFacts, name_counts: dict[str, int]
             ) -> list[Reason]:
    found = []
    anchor_emails = {anchor.email} | {a.email for a in anchor.accounts}
    other_emails = {a.email for a in other.accounts if a.email}
    if other_emails and not other_emails & anchor_emails:
        found.append(Reason("other_email", "a verified e-mail of another address: "
                            + ", ".join(sorted(other_emails)), _OTHER_EMAIL))
    shared = {a.source_id for a in anchor.accounts} & {a.source_id for a in other.accounts}
    if shared:
        found.append(Reason("same_source", "already has an account on "
                            + ", ".join(sorted(shared)), _SAME_SOURCE))
    # the other side counts among the employees of that name when it is one
    own = 1 if other.is_anchor else 0
    shared_by = max((name_counts.get(n, 1) - own for n in _names(anchor) & _names(other)),
                    default=1)
    if shared_by > 1:
        found.append(Reason("common_name", f"{shared_by} employees have this name",
                            1 / shared_by))
    return found


def suggest(people: Iterable[PersonFacts], blocked: Iterable[frozenset[int]] = (),
            threshold: float = THRESHOLD) -> list[Candidate]:
    """The suggested pairs at or above `threshold`, most confident first.

    `blocked` holds the person-id pairs never to suggest (a rejected or undone pair: a
    block between any of their accounts).
    """
    everyone = {p.person_id: p for p in people if p.accounts}
    anchors = [p for p in everyone.values() if p.is_anchor]
    pairs = _Pairs(everyone, set(blocked))
    others = list(everyone.values())
    _same_names(pairs, anchors, others)
    _profiles(pairs, anchors, others)
    # a username alone stays below the threshold: then it only adds to other evidence
    # (the pairs it would start are most of the work on a large community)
    _usernames(pairs, anchors, others, only_known=_USERNAME_EXACT < threshold)
    name_counts: dict[str, int] = defaultdict(int)
    for anchor in anchors:
        for name in _names(anchor):
            name_counts[name] += 1
    found = []
    for (anchor_id, other_id), reasons in pairs.found.items():
        anchor, other = everyone[anchor_id], everyone[other_id]
        support = 1.0
        for reason in reasons.values():
            support *= 1 - reason.weight
        confidence = 1 - support
        if confidence < threshold:
            continue  # what speaks against a pair only lowers it
        against = _against(anchor, other, name_counts)
        for reason in against:
            confidence *= reason.weight
        if confidence >= threshold:
            first, second = sorted((anchor.first_identity, other.first_identity))
            found.append(Candidate(anchor_id, other_id, first, second, round(confidence, 3),
                                   sorted(reasons.values(), key=lambda r: -r.weight)
                                   + against))
    found.sort(key=lambda c: (-c.confidence, c.identity_id, c.other_identity_id))
    return found
