"""Merge suggestions on their own: what is suggested, how confident, and why."""

from __future__ import annotations

from service.identity.suggestions import THRESHOLD, Account, PersonFacts, suggest


def _employee(pid: int, name: str, username: str, department: str = "Claims",
              email: str | None = None) -> PersonFacts:
    email = email or f"{name.split()[0].lower()}@corp.example"
    return PersonFacts(pid, name, (Account(pid * 10, "blog", "internal", username, name,
                                           email),),
                       email, department, in_directory=True)


def _outsider(pid: int, *accounts: Account) -> PersonFacts:
    return PersonFacts(pid, accounts[0].display_name or accounts[0].username or "?", accounts)


def _forum(iid: int, username: str, name: str | None = None, **extra: str) -> Account:
    return Account(iid, "forum", "external", username, name, **extra)  # type: ignore[arg-type]


def test_the_same_name_on_an_external_source_is_suggested_with_its_reason() -> None:
    dana = _employee(1, "Dana Smith", "dsmith")
    found = suggest([dana, _outsider(2, _forum(20, "DanaS", "Dana Smith"))])
    assert len(found) == 1
    pair = found[0]
    assert (pair.person_id, pair.other_person_id) == (1, 2)
    assert (pair.identity_id, pair.other_identity_id) == (10, 20)
    codes = [r.code for r in pair.reasons]
    assert codes[0] == "same_name_internal_external" and "dana smith" in pair.reasons[0].detail
    assert pair.confidence >= THRESHOLD


def test_a_display_name_alone_is_not_enough_when_a_verified_email_says_otherwise() -> None:
    alex = _employee(1, "Alex Kim", "akim")
    customer = _outsider(2, _forum(20, "AlexK", "Alex Kim", email="alex@brightdental.example"))
    assert suggest([alex, customer]) == []
    weak = suggest([alex, customer], threshold=0.0)
    assert "other_email" in [r.code for r in weak[0].reasons]


def test_similar_usernames_across_sources_count_but_not_alone() -> None:
    lee = _employee(1, "Lee Park", "lpark")
    alike = _outsider(2, _forum(20, "lpark7"))
    unlike = _outsider(3, _forum(30, "zebra_fan"))
    found = suggest([lee, alike, unlike], threshold=0.0)
    assert [c.other_person_id for c in found] == [2]
    assert found[0].reasons[0].code == "similar_username"
    assert found[0].confidence < THRESHOLD  # a username alone waits below the threshold


def test_a_bio_naming_the_employee_or_their_email_is_evidence() -> None:
    dana = _employee(1, "Dana Smith", "dsmith", email="dana@corp.example")
    by_name = _outsider(2, _forum(20, "helper", bio="I am Dana Smith, claims team at Lumen"))
    by_email = _outsider(3, _forum(30, "other", bio="Write to dana@corp.example"))
    found = {c.other_person_id: c for c in suggest([dana, by_name, by_email])}
    assert found[2].reasons[0].code == "bio_name"
    assert found[3].reasons[0].code == "bio_email" and found[3].confidence >= 0.9


def test_same_name_within_a_department_between_two_internal_people() -> None:
    first = _employee(1, "Ravi Rao", "rrao", "Underwriting")
    second = PersonFacts(2, "Ravi Rao", (Account(20, "wiki", "internal", "ravi", "Ravi Rao"),),
                         department="Underwriting")
    found = suggest([first, second])
    assert found and found[0].reasons[0].code == "same_name_department"


def test_a_blocked_pair_is_never_suggested() -> None:
    dana = _employee(1, "Dana Smith", "dsmith")
    other = _outsider(2, _forum(20, "DanaS", "Dana Smith"))
    assert suggest([dana, other], blocked=[frozenset((1, 2))]) == []


def test_two_customers_are_never_suggested() -> None:
    one = _outsider(1, _forum(10, "sam", "Sam Hill"))
    two = _outsider(2, Account(20, "portal", "partner", "sam.hill", "Sam Hill"))
    assert suggest([one, two], threshold=0.0) == []
