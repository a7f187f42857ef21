"""The demo company, Lumen Mutual: its three sources and its people.

Lumen Mutual sells insurance and software. About 35 employees (each in a department, with
accounts on the intranet blog and often on the customer forum and the partner portal,
the same e-mail everywhere and a different username on each), 30 customers (forum only)
and 15 partner people (portal only). Each topic has one planted expert employee, a couple
of secondary colleagues in the expert's department, and a long tail of occasional
contributors: activity is Zipf-like. Two different people are both called "Alex Kim".
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field

from service.demo.vocabulary import FIRST_NAMES, LAST_NAMES, TOPICS

__all__ = [
    "BLOG",
    "COMPANY_DOMAIN",
    "COMPANY_NAME",
    "ORGANISATIONS",
    "FORUM",
    "PORTAL",
    "SOURCES",
    "SOURCE_IDS",
    "SPIKE_TOPIC",
    "TOPIC_WEIGHTS",
    "DemoPerson",
    "make_people",
]

BLOG, FORUM, PORTAL = "intranet-blog", "customer-forum", "partner-portal"
SOURCE_IDS: tuple[str, ...] = (BLOG, FORUM, PORTAL)
SOURCES: tuple[dict[str, str], ...] = (
    {"id": BLOG, "kind": "push", "audience": "internal", "name": "Lumen intranet blog"},
    {"id": FORUM, "kind": "push", "audience": "external", "name": "Lumen customer community"},
    {"id": PORTAL, "kind": "push", "audience": "partner", "name": "Lumen partner portal"},
)
COMPANY_DOMAIN = "lumenmutual.example"
COMPANY_NAME = "Lumen Mutual"
#: The topic that spikes on the forum about five months before the end, then fades.
SPIKE_TOPIC = "data privacy gdpr"
_CUSTOMER_DOMAINS = (
    "harbourclinic.example",
    "brightdental.example",
    "northgatehr.example",
    "fernleyhealth.example",
    "citybrokers.example",
    "alpinelogistics.example",
    "meridianschools.example",
    "oakfieldcare.example",
)
_PARTNER_DOMAINS = (
    "claimsoft.example",
    "cloudnorth.example",
    "datavault.example",
    "policyworks.example",
)
#: The customers and partners as the CRM registers them: (id, name, domain, CRM account
#: id). The people on the forum and the portal belong to them by their e-mail's domain.
ORGANISATIONS: tuple[tuple[str, str, str, str], ...] = (
    ("harbour-clinic", "Harbour Clinic", "harbourclinic.example", "001-HARB"),
    ("bright-dental", "Bright Dental", "brightdental.example", "001-BRIG"),
    ("northgate-hr", "Northgate HR", "northgatehr.example", "001-NORT"),
    ("fernley-health", "Fernley Health", "fernleyhealth.example", "001-FERN"),
    ("city-brokers", "City Brokers", "citybrokers.example", "001-CITY"),
    ("alpine-logistics", "Alpine Logistics", "alpinelogistics.example", "001-ALPI"),
    ("meridian-schools", "Meridian Schools", "meridianschools.example", "001-MERI"),
    ("oakfield-care", "Oakfield Care", "oakfieldcare.example", "001-OAKF"),
    ("claimsoft", "ClaimSoft", "claimsoft.example", "002-CLAI"),
    ("cloudnorth", "CloudNorth", "cloudnorth.example", "002-CLOU"),
    ("datavault", "DataVault", "datavault.example", "002-DATA"),
    ("policyworks", "PolicyWorks", "policyworks.example", "002-POLI"),
)
#: How often each topic starts a thread per source (the GDPR burst comes on top).
TOPIC_WEIGHTS: dict[str, dict[str, float]] = {
    BLOG: {t.name: 1.0 for t in TOPICS} | {SPIKE_TOPIC: 0.3},
    FORUM: {
        "medical insurance claims": 1.6,
        "kubernetes deployment": 0.35,
        SPIKE_TOPIC: 0.2,
        "fraud detection": 0.5,
        "mobile app": 1.3,
        "billing and invoicing": 1.3,
        "api integration": 1.2,
        "customer onboarding": 1.0,
        "underwriting": 0.6,
        "python data pipelines": 0.3,
        "accessibility": 0.8,
        "pricing models": 0.7,
    },
    PORTAL: {
        "medical insurance claims": 0.7,
        "kubernetes deployment": 1.4,
        SPIKE_TOPIC: 0.2,
        "fraud detection": 1.0,
        "mobile app": 0.5,
        "billing and invoicing": 0.8,
        "api integration": 1.5,
        "customer onboarding": 0.5,
        "underwriting": 1.0,
        "python data pipelines": 1.0,
        "accessibility": 0.5,
        "pricing models": 1.0,
    },
}
_DEFAULT_AFFINITY = 0.15
_PLANTED_AFFINITY = 10.0
_SECONDARY_AFFINITY = 4.0


@dataclass(slots=True)
class DemoPerson:
    """One human of the demo: `usernames` names their account on each source they use."""

    name: str
    email: str
    role: str  # employee | customer | partner
    department: str | None = None
    usernames: dict[str, str] = field(default_factory=dict)
    activity: float = 1.0
    affinity: dict[str, float] = field(default_factory=dict)

    def expertise(self, topic: str) -> float:
        return self.affinity.get(topic, _DEFAULT_AFFINITY)

    def weight(self, topic: str) -> float:
        return self.activity * self.expertise(topic)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


class _Roster:
    """Hands out unique display names and per-source usernames."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: set[str] = {"Alex Kim"}
        self.usernames: dict[str, set[str]] = {s: set() for s in SOURCE_IDS}

    def name(self) -> str:
        """Return a new full name, with a first and last name not used yet while any remain
        (so the people a demo shows are easy to tell apart)."""
        used = {part for name in self.names for part in name.split(" ")}
        for attempt in range(1000):
            name = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"
            fresh = not used.intersection(name.split(" ")) or attempt >= 50
            if fresh and name not in self.names:
                self.names.add(name)
                return name
        raise RuntimeError("ran out of demo names")

    def username(self, source: str, name: str, role: str) -> str:
        first, last = _ascii(name).split(" ", 1)
        styles = {
            BLOG: f"{first[0]}{last}",
            FORUM: f"{first.capitalize()}{last[0].upper()}{'_Lumen' if role == 'employee' else ''}",
            PORTAL: f"{first}.{last}",
        }
        base, candidate, n = styles[source], styles[source], 1
        while candidate in self.usernames[source]:
            n += 1
            candidate = f"{base}{n}"
        self.usernames[source].add(candidate)
        return candidate


def _email(name: str, domain: str) -> str:
    first, last = _ascii(name).split(" ", 1)
    return f"{first}.{last}@{domain}"


def _add_interests(rng: random.Random, person: DemoPerson, source: str, count: int) -> None:
    weights = TOPIC_WEIGHTS[source]
    for topic in rng.choices(list(weights), list(weights.values()), k=count):
        person.affinity[topic] = max(person.affinity.get(topic, 0.0), rng.uniform(1.0, 2.0))


def _zipf_activity(rng: random.Random, people: list[DemoPerson], top: float) -> None:
    ranks = list(range(1, len(people) + 1))
    rng.shuffle(ranks)
    for person, rank in zip(people, ranks, strict=True):
        person.activity = top / rank**0.7


def _employee(roster: _Roster, name: str, department: str, accounts: tuple[str, ...]) -> DemoPerson:
    person = DemoPerson(name, _email(name, COMPANY_DOMAIN), "employee", department)
    for source in accounts:
        person.usernames[source] = roster.username(source, name, "employee")
    return person


def _make_employees(roster: _Roster) -> tuple[list[DemoPerson], dict[str, str]]:
    rng = roster.rng
    experts = [_employee(roster, roster.name(), t.department, SOURCE_IDS) for t in TOPICS]
    planted = {}
    for topic, person in zip(TOPICS, experts, strict=True):
        person.affinity[topic.name] = _PLANTED_AFFINITY
        planted[topic.name] = person.email
    others = []
    for i, name in enumerate([roster.name() for _ in range(22)] + ["Alex Kim"]):
        topic = TOPICS[i % len(TOPICS)]  # colleagues of the expert: the secondary people
        accounts = [BLOG] + [s for s, p in ((FORUM, 0.75), (PORTAL, 0.45)) if rng.random() < p]
        if name == "Alex Kim" and FORUM not in accounts:
            accounts.append(FORUM)
        person = _employee(roster, name, topic.department, tuple(accounts))
        person.affinity[topic.name] = _SECONDARY_AFFINITY
        others.append(person)
    _zipf_activity(rng, others, 0.8)
    for person in experts + others:
        _add_interests(rng, person, BLOG, rng.randint(1, 2))
    return experts + others, planted


def _make_outsiders(
    roster: _Roster, role: str, count: int, source: str, domains: tuple[str, ...]
) -> list[DemoPerson]:
    rng = roster.rng
    names = [roster.name() for _ in range(count - 1)]
    names.insert(3, "Alex Kim" if role == "customer" else roster.name())
    people = []
    for name in names:
        domain = "brightdental.example" if name == "Alex Kim" else rng.choice(domains)
        person = DemoPerson(name, _email(name, domain), role)
        person.usernames[source] = roster.username(source, name, role)
        _add_interests(rng, person, source, rng.randint(2, 3))
        people.append(person)
    _zipf_activity(rng, people, 1.0)
    return people


def make_people(rng: random.Random) -> tuple[list[DemoPerson], dict[str, str]]:
    roster = _Roster(rng)
    employees, planted = _make_employees(roster)
    customers = _make_outsiders(roster, "customer", 30, FORUM, _CUSTOMER_DOMAINS)
    partners = _make_outsiders(roster, "partner", 15, PORTAL, _PARTNER_DOMAINS)
    return employees + customers + partners, planted
