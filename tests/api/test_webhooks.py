"""The Discourse webhook: signed bodies only; the topic it names is read back and stored."""

from __future__ import annotations

import hashlib
import hmac
import json

import msgspec
import pytest
from sqlalchemy import select

from service import pipeline
from service.api import create_app
from service.config import SourceConfig
from service.store import sync as store_sync
from service.store.schema import contributions
from tests.api.conftest import Api, ContractClient
from tests.connectors.discourse_server import DiscourseServer

SECRET = "hook-secret-42"


@pytest.fixture
def hooked(services: pipeline.Services, forum: DiscourseServer) -> Api:
    source = SourceConfig(id="community", kind="discourse", audience="external", url=forum.base,
                          credentials_env="DISCOURSE_KEY", webhook_secret_env="DISCOURSE_HOOK",
                          options={"api_username": "whoknows"})
    services.config = msgspec.structs.replace(
        services.config, sources=[*services.config.sources, source],
        secrets={"community": "k-1234"}, webhook_secrets={"community": SECRET})
    with services.engine.begin() as conn:
        store_sync.register_source(conn, {"id": "community", "kind": "discourse",
                                          "audience": "external"})
    app = create_app({"SERVICES": services, "TESTING": True})
    app.test_client_class = ContractClient
    return Api(app, app.test_client(), services)


def _send(api: Api, body: dict, event: str = "post_created", secret: str = SECRET):  # type: ignore[no-untyped-def,type-arg]
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return api.client.post("/v1/webhooks/discourse/community", data=raw, headers={
        "Content-Type": "application/json", "X-Discourse-Event": event,
        "X-Discourse-Event-Type": "post", "X-Discourse-Event-Signature": signature})


def _stored(api: Api) -> dict[str, str]:
    with api.services.engine.connect() as conn:
        rows = conn.execute(select(contributions.c.external_id, contributions.c.body)
                            .where(contributions.c.source_id == "community"))
        return {r.external_id: r.body for r in rows}


def _member_topic(forum: DiscourseServer) -> int:
    """A topic started by a member (not Discourse's own system user)."""
    return next(t for t, view in forum.topics.items()
                if view["post_stream"]["posts"][0].get("user_id", 0) > 0)


def test_a_signed_post_event_stores_its_topic(hooked: Api, forum: DiscourseServer) -> None:
    topic_id = _member_topic(forum)
    post = forum.topics[topic_id]["post_stream"]["posts"][0]
    response = _send(hooked, {"post": {"id": post["id"], "topic_id": topic_id}})
    assert response.status_code == 202, response.get_data(as_text=True)
    assert str(post["id"]) in _stored(hooked)
    forum.edit_post(post["id"], "<p>rewritten by the author</p>", "2026-10-05T10:00:00.000Z")
    again = _send(hooked, {"post": {"id": post["id"], "topic_id": topic_id}}, "post_edited")
    assert again.get_json()["updated"] >= 1
    assert _stored(hooked)[str(post["id"])] == "rewritten by the author"
    with hooked.services.engine.connect() as conn:
        assert store_sync.get_cursor(conn, "community") is None  # the pull cursor is untouched


def test_a_bad_signature_stores_nothing(hooked: Api, forum: DiscourseServer) -> None:
    topic_id = _member_topic(forum)
    response = _send(hooked, {"post": {"topic_id": topic_id}}, secret="guess")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert _stored(hooked) == {}
    assert forum.count(f"/t/{topic_id}.json") == 0


def test_unknown_sources_events_and_payloads(hooked: Api) -> None:
    assert hooked.client.post("/v1/webhooks/discourse/blog", data=b"{}").status_code == 404
    assert _send(hooked, {}, event="ping").status_code == 202
    bad = _send(hooked, {"post": {"id": 1}})
    assert bad.status_code == 400 and "body" in bad.get_json()["errors"]
