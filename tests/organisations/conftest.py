"""A small community in the store, on SQLite and PostgreSQL: two employees, customers of
Acme (one on a free-mail address, one named by the directory), a partner named by its
portal; Dana answers Acme's questions, Ivan only blogs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from service.config import OrganisationsConfig
from service.identity import DirectoryEntry
from service.model import AuthorRecord
from service.organisations import store as org_store
from service.reputation.engine import ReputationSettings
from service.reputation.scoring import Weights
from service.reputation.topics import load_vocabulary
from service.store.contributions import SourceInfo, store_batch
from service.store.people import find_identity, import_directory, person_of, resolve_people
from service.store.sync import register_source
from tests.records import author, record

CONFIG = OrganisationsConfig(company_name="Corp", company_domains=["corp.example"])
NOW = datetime(2026, 11, 1, tzinfo=UTC)
SETTINGS = ReputationSettings(load_vocabulary(), Weights.from_config({}, {}, 12.0, 20.0, 5),
                              365.0, {})


@dataclass
class Community:
    engine: Engine
    dana: int
    ivan: int
    carl: int
    cleo: int
    gina: int
    pat: int

    def refresh(self) -> None:
        with self.engine.begin() as conn:
            resolve_people(conn)
            org_store.refresh(conn, CONFIG, NOW)


def _person(engine: Engine, source: str, account: str) -> int:
    with engine.connect() as conn:
        found = person_of(conn, find_identity(conn, source, account) or 0)
    assert found is not None
    return found


@pytest.fixture
def community(engine: Engine) -> Community:
    with engine.begin() as conn:
        for source, audience in (("blog", "internal"), ("forum", "external"),
                                 ("portal", "partner")):
            register_source(conn, {"id": source, "kind": "push", "audience": audience})
        store_batch(conn, SourceInfo("blog", "internal"), [
            record("b1", "dana", kind="blog_post", email="dana@corp.example",
                   title="Claims internals", tags=["claims"]),
            record("b2", "ivan", kind="blog_post", email="ivan@corp.example",
                   title="Fraud models", tags=["fraud"]),
        ])
        store_batch(conn, SourceInfo("forum", "external"), [
            record("q1", "carl", kind="question", email="carl@acme.example", day=-10,
                   title="How are medical insurance claims adjudicated?", tags=["claims"]),
            record("a1", "dana_f", email="dana@corp.example", thread="q1", accepted=True,
                   day=-9, liked_by=[author("carl", "carl@acme.example")], likes=1, tags=["claims"],
                   text="Medical insurance claims go through adjudication rules"),
            record("r1", "carl", kind="reply", email="carl@acme.example", thread="q1",
                   parent="a1", day=-8,
                   text="Thanks, that helps"),
            record("q2", "cleo", kind="question", email="cleo@gmail.com", day=-5,
                   title="Mobile app login fails", tags=["mobile"]),
            record("a2", "dana_f", email="dana@corp.example", thread="q2", day=-4,
                   text="Reinstall the mobile app"),
            record("q3", "gina", kind="question", email="gina@gmail.com", day=-3,
                   title="Billing question", tags=["billing"]),
        ])
        store_batch(conn, SourceInfo("portal", "partner"), [
            _portal_article(),
        ])
        import_directory(conn, [DirectoryEntry("gina@gmail.com", "Gina", None, {},
                                               organisation="Acme Corp")])
        org_store.put(conn, "acme", "Acme Corp", ["acme.example"], "CRM-1", CONFIG, NOW)
    found = Community(engine, 0, 0, 0, 0, 0, 0)
    found.refresh()
    found.dana = _person(engine, "blog", "dana")
    found.ivan = _person(engine, "blog", "ivan")
    found.carl = _person(engine, "forum", "carl")
    found.cleo = _person(engine, "forum", "cleo")
    found.gina = _person(engine, "forum", "gina")
    found.pat = _person(engine, "portal", "pat")
    return found


def _portal_article():  # type: ignore[no-untyped-def]
    item = record("p1", "pat", kind="article", title="Our claims connector", tags=["claims"])
    item.author = AuthorRecord("pat", "pat", "Pat", None, None, organisation="Claim Soft")
    return item
