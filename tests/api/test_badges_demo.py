"""Badges and cards on the demo company, whose sources live in the store only (no
configuration names them): employees active on the customer forum get a badge by their
forum name; their intranet blog names resolve to nothing; no internal text anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from service import pipeline
from service.api import create_app
from service.config import load_config
from service.demo.generator import MARKER as DEMO_MARKER
from service.demo.loader import load_demo
from service.store.schema import identities, identity_links, profile_topics
from tests.api.conftest import ContractClient


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractClient]:
    folder = tmp_path_factory.mktemp("badges-demo")
    config = folder / "whoknows.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{folder / "demo.db"}"\n')
    services = pipeline.open_services(load_config(config, environ={}),
                                      clock=lambda: datetime(2026, 5, 1, tzinfo=UTC))
    load_demo(services, date(2026, 5, 1), echo=lambda _: None, queries=False)
    app = create_app({"SERVICES": services, "TESTING": True})
    app.test_client_class = ContractClient
    yield app.test_client()  # type: ignore[misc]
    services.engine.dispose()


def _employee_on_the_forum(client: ContractClient) -> tuple[int, str, str]:
    """An employee with public topics: (person id, forum username, blog username)."""
    services = client.application.extensions["whoknows"]
    account = {}
    with services.engine.connect() as conn:
        rows = conn.execute(
            select(identity_links.c.person_id, identities.c.source_id, identities.c.username)
            .join(identities, identities.c.id == identity_links.c.identity_id)
            .where(identity_links.c.person_id.in_(
                select(profile_topics.c.person_id).where(profile_topics.c.scope == "public"))))
        for person, source, username in rows:
            account[(person, source)] = username
    person = min(p for p, source in account if source == "intranet-blog"
                 and (p, "customer-forum") in account)
    return person, account[(person, "customer-forum")], account[(person, "intranet-blog")]


def test_demo_employees_get_a_badge_by_their_forum_name_only(
        demo_client: ContractClient) -> None:
    person, forum_name, blog_name = _employee_on_the_forum(demo_client)
    by_id = demo_client.get(f"/v1/badges/{person}.svg")
    by_name = demo_client.get(f"/v1/badges/by-account/customer-forum/{forum_name}.svg")
    assert by_id.status_code == 200 and by_name.get_data() == by_id.get_data()
    assert demo_client.get(
        f"/v1/badges/by-account/intranet-blog/{blog_name}.svg").status_code == 404
    card = demo_client.get(f"/v1/embed/by-account/customer-forum/{forum_name}")
    oembed = demo_client.get("/v1/oembed", query_string={
        "url": f"http://localhost/v1/embed/by-account/customer-forum/{forum_name}"})
    for response in (by_id, card, oembed):
        assert response.status_code == 200
        assert DEMO_MARKER not in response.get_data(as_text=True)
