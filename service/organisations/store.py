"""Organisations, their domains and members in the store.

`refresh` re-applies the membership rules to everyone (after identity resolution, a
directory import or a CRM's PUT): it creates the derived organisations the rules name,
rewrites `organisation_members`, and drops derived organisations left with nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Connection

from service.config import OrganisationsConfig
from service.organisations.membership import PersonFacts, Rules, assign
from service.store.db import from_db_time
from service.store.schema import (
    directory_entries,
    identities,
    identity_links,
    organisation_domains,
    organisation_members,
    organisations,
    people,
    sources,
)

__all__ = ["Conflict", "Organisation", "get", "list_organisations", "members", "put",
           "refresh", "rules_of"]


class Conflict(ValueError):
    """A PUT names what another registered organisation holds: `field` is `domains` or
    `crm_account_id`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(slots=True)
class Organisation:
    id: str
    name: str
    origin: str
    crm_account_id: str | None
    domains: list[str]
    members: int
    created_at: datetime | None
    updated_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "origin": self.origin,
                "crm_account_id": self.crm_account_id, "domains": self.domains,
                "members": self.members,
                "updated_at": self.updated_at.isoformat() if self.updated_at else None}


def rules_of(config: OrganisationsConfig) -> Rules:
    return Rules(config.company_id,
                 frozenset(d.strip().lower() for d in config.company_domains if d.strip()),
                 frozenset(d.strip().lower() for d in config.extra_free_mail_domains))


def _ensure_company(conn: Connection, config: OrganisationsConfig, now: datetime) -> None:
    """The company's organisation, named from the configuration when first made (a PUT
    may rename it)."""
    o = organisations.c
    if conn.execute(select(o.id).where(o.id == config.company_id)).first() is None:
        conn.execute(organisations.insert().values(
            id=config.company_id, name=config.company_name, origin="company",
            created_at=now, updated_at=now))


def _facts(conn: Connection) -> list[PersonFacts]:
    found: dict[int, PersonFacts] = {}

    def of(person: int) -> PersonFacts:
        return found.setdefault(person, PersonFacts(person))

    i, link = identities.c, identity_links.c
    rows = conn.execute(
        select(link.person_id, sources.c.audience, i.email, i.email_verified, i.organisation)
        .join(identities, i.id == link.identity_id)
        .join(sources, sources.c.id == i.source_id))
    for row in rows:
        facts = of(row.person_id)
        facts.internal |= row.audience == "internal"
        if row.email and row.email_verified:
            facts.emails.add(row.email)
        if row.organisation:
            facts.portal_organisations.append(row.organisation)
    d = directory_entries.c
    for entry in conn.execute(select(people.c.id, d.email, d.organisation)
                              .join(directory_entries, d.email == people.c.email)):
        facts = of(entry.id)
        facts.emails.add(entry.email)  # the directory is the company's own record
        facts.directory_organisation = entry.organisation
    return [found[k] for k in sorted(found)]


def refresh(conn: Connection, config: OrganisationsConfig, now: datetime | None = None
            ) -> int:
    """Re-apply the membership rules to everyone, in `conn`'s transaction. Returns how
    many people belong to an organisation."""
    now = now or datetime.now(UTC)
    _ensure_company(conn, config, now)
    o = organisations.c
    domains = {r.domain: r.organisation_id for r in conn.execute(select(organisation_domains))}
    names: dict[str, str] = {}
    for row in conn.execute(select(o.id, o.name)):
        names[row.id] = row.id
        names.setdefault(row.name, row.id)
    memberships = assign(_facts(conn), rules_of(config), domains, names)
    new = {m.organisation_id: m.new for m in memberships if m.new and m.organisation_id
           not in names}
    for org_id, (name, domain) in sorted(new.items()):  # type: ignore[misc]
        conn.execute(organisations.insert().values(id=org_id, name=name, origin="derived",
                                                   created_at=now, updated_at=now))
        if domain and domain not in domains:
            conn.execute(organisation_domains.insert().values(domain=domain,
                                                              organisation_id=org_id))
    conn.execute(delete(organisation_members))
    if memberships:
        conn.execute(organisation_members.insert(), [
            {"person_id": m.person_id, "organisation_id": m.organisation_id,
             "method": m.method, "detail": m.detail} for m in memberships])
    _drop_empty_derived(conn)
    return len(memberships)


def _drop_empty_derived(conn: Connection) -> None:
    o, m = organisations.c, organisation_members.c
    empty = [row.id for row in conn.execute(
        select(o.id).where(o.origin == "derived",
                           ~select(m.person_id).where(m.organisation_id == o.id).exists()))]
    if empty:
        conn.execute(delete(organisation_domains)
                     .where(organisation_domains.c.organisation_id.in_(empty)))
        conn.execute(delete(organisations).where(o.id.in_(empty)))


def _load(conn: Connection, rows: Sequence[Any]) -> list[Organisation]:
    ids = [row.id for row in rows]
    if not ids:
        return []
    domains: dict[str, list[str]] = {}
    for row in conn.execute(select(organisation_domains)
                            .where(organisation_domains.c.organisation_id.in_(ids))
                            .order_by(organisation_domains.c.domain)):
        domains.setdefault(row.organisation_id, []).append(row.domain)
    m = organisation_members.c
    counts: dict[str, int] = dict(conn.execute(  # type: ignore[arg-type]
select(m.organisation_id, func.count())
                               .where(m.organisation_id.in_(ids))
                               .group_by(m.organisation_id)).all())
    return [Organisation(row.id, row.name, row.origin, row.crm_account_id,
                         domains.get(row.id, []), int(counts.get(row.id, 0)),
                         from_db_time(row.created_at), from_db_time(row.updated_at))
            for row in rows]


def get(conn: Connection, org_id: str) -> Organisation | None:
    rows = conn.execute(select(organisations).where(organisations.c.id == org_id)).all()
    found = _load(conn, rows)
    return found[0] if found else None


def list_organisations(conn: Connection, query: str | None, crm_account_id: str | None,
                       domain: str | None, limit: int, offset: int
                       ) -> tuple[list[Organisation], int]:
    """Organisations matching the filters, by name, paged; and how many match. `query`
    matches the name, id or a domain (case-insensitive substring)."""
    o = organisations.c
    statement = select(organisations)
    if query:
        pattern = f"%{query.lower()}%"
        holding = select(organisation_domains.c.organisation_id).where(
            func.lower(organisation_domains.c.domain).like(pattern))
        statement = statement.where(or_(func.lower(o.name).like(pattern),
                                        o.id.like(pattern), o.id.in_(holding)))
    if crm_account_id:
        statement = statement.where(o.crm_account_id == crm_account_id)
    if domain:
        statement = statement.where(o.id.in_(select(organisation_domains.c.organisation_id)
                                             .where(organisation_domains.c.domain
                                                    == domain.lower())))
    total = conn.execute(select(func.count()).select_from(statement.subquery())).scalar_one()
    rows = conn.execute(statement.order_by(func.lower(o.name), o.id)
                        .limit(limit).offset(offset)).all()
    return _load(conn, rows), int(total)


def put(conn: Connection, org_id: str, name: str, domains: Sequence[str],
        crm_account_id: str | None, config: OrganisationsConfig,
        now: datetime | None = None) -> tuple[Organisation, bool]:
    """Create or replace a registered organisation (its name, domains and CRM account
    id), then re-apply the membership rules. Returns it and whether it was created.

    Raises Conflict when a domain is another registered (CRM or company) organisation's
    (a derived organisation's domain moves over), or the CRM account id another's."""
    now = now or datetime.now(UTC)
    o, d = organisations.c, organisation_domains.c
    wanted = sorted({x.strip().lower() for x in domains})
    for row in conn.execute(select(d.domain, d.organisation_id, o.origin)
                            .join(organisations, o.id == d.organisation_id)
                            .where(d.domain.in_(wanted), d.organisation_id != org_id)):
        if row.origin != "derived":
            raise Conflict("domains", f"domain {row.domain!r} belongs to organisation "
                           f"{row.organisation_id!r}")
    if crm_account_id is not None:
        other = conn.execute(select(o.id).where(o.crm_account_id == crm_account_id,
                                                o.id != org_id)).scalar()
        if other is not None:
            raise Conflict("crm_account_id", f"CRM account {crm_account_id!r} is organisation "
                           f"{other!r}'s")
    existing = conn.execute(select(o.id, o.origin).where(o.id == org_id)).first()
    origin = "company" if org_id == config.company_id else "crm"
    values = {"name": name, "crm_account_id": crm_account_id, "origin": origin,
              "updated_at": now}
    if existing is None:
        conn.execute(organisations.insert().values(id=org_id, created_at=now, **values))
    else:
        conn.execute(update(organisations).where(o.id == org_id).values(**values))
    conn.execute(delete(organisation_domains).where(
        (d.organisation_id == org_id) | d.domain.in_(wanted)))
    if wanted:
        conn.execute(organisation_domains.insert(),
                     [{"domain": x, "organisation_id": org_id} for x in wanted])
    refresh(conn, config, now)
    found = get(conn, org_id)
    assert found is not None
    return found, existing is None


def members(conn: Connection, org_id: str) -> list[int]:
    """The person ids of the organisation's members."""
    m = organisation_members.c
    return [row.person_id for row in conn.execute(
        select(m.person_id).where(m.organisation_id == org_id).order_by(m.person_id))]
