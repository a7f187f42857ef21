"""The membership rules, first match wins: employees are the company's; the directory's
field, then a portal's, then a verified e-mail's registered domain; free-mail domains name
nobody's organisation."""

from __future__ import annotations

from service.organisations.membership import (
    FREE_MAIL_DOMAINS,
    PersonFacts,
    Rules,
    assign,
    domain_of,
    is_free_mail,
    slug,
)

RULES = Rules("company", frozenset({"corp.example"}), frozenset({"mail.example"}))


def _one(person: PersonFacts, domains: dict[str, str] | None = None,
         names: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    found = assign([person], RULES, domains or {}, names or {})
    return found[0] if found else None


def test_the_maintained_free_mail_list_holds_the_big_providers() -> None:
    assert len(FREE_MAIL_DOMAINS) > 1000
    for domain in ("gmail.com", "outlook.com", "yahoo.com", "web.de", "proton.me"):
        assert is_free_mail(domain), domain
    assert not is_free_mail("acme.com")
    assert is_free_mail("mail.example", RULES.extra_free_mail)


def test_a_free_mail_address_names_no_organisation() -> None:
    assert _one(PersonFacts(1, emails={"jo@gmail.com"})) is None
    assert _one(PersonFacts(1, emails={"jo@mail.example"})) is None


def test_an_employee_belongs_to_the_company_whatever_else_is_known() -> None:
    internal = _one(PersonFacts(1, internal=True, emails={"jo@acme.com"},
                                directory_organisation="Acme"))
    assert (internal.organisation_id, internal.method) == ("company", "company")
    by_mail = _one(PersonFacts(2, emails={"jo@eu.corp.example"}))
    assert (by_mail.organisation_id, by_mail.detail) == ("company", "jo@eu.corp.example")


def test_the_directory_comes_before_a_portal_and_the_e_mail() -> None:
    person = PersonFacts(1, emails={"jo@acme.com"}, directory_organisation="  beta  corp ",
                         portal_organisations=["Gamma"])
    found = _one(person, {"acme.com": "acme"}, {"beta": "beta", "Beta Corp": "beta"})
    assert (found.organisation_id, found.method) == ("beta", "directory")
    portal = _one(PersonFacts(1, emails={"jo@acme.com"}, portal_organisations=["Gamma Ltd"]),
                  {"acme.com": "acme"})
    assert (portal.organisation_id, portal.method, portal.new) == (
        "gamma-ltd", "portal", ("Gamma Ltd", None))


def test_a_registered_parent_domain_claims_its_subdomains() -> None:
    found = _one(PersonFacts(1, emails={"jo@eu.acme.com"}), {"acme.com": "acme"})
    assert (found.organisation_id, found.method, found.detail, found.new) == (
        "acme", "email_domain", "acme.com", None)


def test_an_unregistered_domain_makes_a_derived_organisation() -> None:
    found = _one(PersonFacts(1, emails={"jo@gmail.com", "jo@harbour-clinic.example"}))
    assert found.organisation_id == "harbour-clinic-example"
    assert found.new == ("Harbour Clinic", "harbour-clinic.example")


def test_helpers() -> None:
    assert domain_of("Jo@Acme.COM") == "acme.com"
    assert domain_of("nobody") is None
    assert slug("Zürich Versicherung AG") == "zurich-versicherung-ag"
    assert slug("!!!") == "organisation"
