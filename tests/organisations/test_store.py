"""Organisations in the store (SQLite and PostgreSQL): members by the rules, a CRM's
registration with its conflicts, and who knows who with the evidence."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.organisations import connections as org_connections
from service.organisations import store as org_store
from service.store.schema import organisation_members
from tests.organisations.conftest import CONFIG, NOW, SETTINGS, Community


def _members(community: Community) -> dict[int, tuple[str, str]]:
    with community.engine.connect() as conn:
        return {row.person_id: (row.organisation_id, row.method)
                for row in conn.execute(select(organisation_members))}


def test_people_belong_by_company_domain_directory_and_portal(community: Community) -> None:
    members = _members(community)
    assert members[community.dana] == ("company", "company")
    assert members[community.ivan] == ("company", "company")
    assert members[community.carl] == ("acme", "email_domain")
    assert members[community.gina] == ("acme", "directory")  # by name, on a free-mail address
    assert community.cleo not in members  # gmail.com names no organisation
    assert members[community.pat] == ("claim-soft", "portal")
    with community.engine.connect() as conn:
        portal = org_store.get(conn, "claim-soft")
        company = org_store.get(conn, "company")
    assert portal is not None and (portal.name, portal.origin) == ("Claim Soft", "derived")
    assert company is not None and (company.name, company.members) == ("Corp", 2)


def test_a_registered_domain_takes_over_a_derived_organisation(community: Community) -> None:
    with community.engine.begin() as conn:
        org_store.put(conn, "other", "Other", ["other.example"], None, CONFIG, NOW)
        org_store.put(conn, "claim-soft", "ClaimSoft Ltd", ["claimsoft.example"], "CRM-2",
                      CONFIG, NOW)
        found = org_store.get(conn, "claim-soft")
    assert found is not None
    assert (found.name, found.origin, found.crm_account_id, found.members) == (
        "ClaimSoft Ltd", "crm", "CRM-2", 1)


def test_a_domain_or_crm_id_of_another_registered_organisation_is_a_conflict(
        community: Community) -> None:
    with community.engine.begin() as conn:
        with pytest.raises(org_store.Conflict) as domain:
            org_store.put(conn, "acme2", "Acme Two", ["ACME.example"], None, CONFIG, NOW)
        with pytest.raises(org_store.Conflict) as crm:
            org_store.put(conn, "acme2", "Acme Two", [], "CRM-1", CONFIG, NOW)
    assert domain.value.field == "domains" and crm.value.field == "crm_account_id"


def test_list_searches_names_ids_and_domains(community: Community) -> None:
    with community.engine.connect() as conn:
        by_name, total = org_store.list_organisations(conn, "ACME", None, None, 10, 0)
        by_domain, _ = org_store.list_organisations(conn, None, None, "acme.example", 10, 0)
        by_crm, _ = org_store.list_organisations(conn, None, "CRM-1", None, 10, 0)
        everything, count = org_store.list_organisations(conn, None, None, None, 2, 0)
    assert [o.id for o in by_name] == ["acme"] and total == 1
    assert [o.id for o in by_domain] == [o.id for o in by_crm] == ["acme"]
    assert count == 3 and [o.id for o in everything] == ["acme", "claim-soft"]


def test_connections_name_the_employee_who_answered_with_the_evidence(
        community: Community) -> None:
    with community.engine.connect() as conn:
        items, total = org_connections.connections(conn, "acme", "company", SETTINGS, NOW, 10)
    assert total == 1  # Ivan never talked to Acme
    dana = items[0]
    assert dana["person_id"] == community.dana
    # her answer replies to the question, Carl replied to her answer, accepted and liked it
    assert dana["evidence"] == {"replies": 1, "their_replies": 1, "accepted_answers": 1,
                                "likes": 1, "shared_threads": 1}
    assert dana["knows"][0]["person_id"] == community.carl
    assert "medical insurance claims" in dana["topics"]
    assert dana["last_at"].startswith("2026-09-23")  # Carl's thanks, the latest


def test_topics_say_what_the_organisation_asks_about(community: Community) -> None:
    with community.engine.connect() as conn:
        topics = org_connections.organisation_topics(conn, "acme", SETTINGS, NOW, 10)
    by_topic = {t["topic"]: t for t in topics}
    claims = by_topic["medical insurance claims"]
    assert claims["questions"] == 1 and claims["people"] == 1
    assert claims["last_90_days"] >= 1
