"""Public badges, no token: `GET /v1/badges/{person}.svg|.json`, and by the community's
own account name, `GET /v1/badges/by-account/{source}/{username}.svg|.json`.

External audience only, like an external API client: the `public` reputation scope
(external and partner contributions), only people who have not opted out, nothing from
an internal source; an account of an internal source does not resolve (the same 404 as
an unknown one, so a badge URL cannot tell that an internal account exists). Answers
carry an ETag (a 304 for `If-None-Match`) and `Cache-Control: public`, and are rate
limited per client IP (`api.badge_rate_limit_per_minute`, counted as `service.api.limits`
says; behind proxies the address comes from X-Forwarded-For only as far as
`api.trusted_proxies` says).

The shared edge of the public endpoints (`public_person`, `person_by_account`,
`limit_by_ip`, `public_response`, `absolute_url`) is used by `service.api.embed` too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, fields, validate

from service import pipeline
from service.api.errors import ApiError
from service.api.experts import load_query
from service.api.limits import spend
from service.badges import Badge, TopicLevel, person_badge, shields_endpoint, svg
from service.config import ConfigError
from service.model import VISIBLE_AUDIENCES, Audience
from service.store import people as store_people
from service.store import queries

__all__ = ["PublicPerson", "absolute_url", "badges", "base_url", "limit_by_ip",
           "person_by_account", "public_person", "public_response"]

badges = Blueprint("badges", __name__)

#: how long browsers, the forum's proxy and shields.io may keep a badge
CACHE_SECONDS = 300
PUBLIC_AUDIENCES = [str(a) for a in VISIBLE_AUDIENCES[Audience.EXTERNAL]]
NOT_FOUND = "no public badge for this person"
NO_ACCOUNT = "no public badge for this account"
SVG_CSP = "default-src 'none'; frame-ancestors *"


@dataclass(frozen=True, slots=True)
class PublicPerson:
    """A person as the external audience may see them."""

    id: int
    name: str
    topics: list[TopicLevel]


class BadgeQuery(Schema):
    topic = fields.String(load_default=None, validate=validate.Length(min=1, max=100))

    class Meta:
        # a forum adds cache-busting parameters to image URLs; they change nothing here
        unknown = EXCLUDE


def limit_by_ip() -> None:
    """Spend one request of the client's address (one budget for badges and embeds); a
    429 with Retry-After when none is left."""
    spend(lambda limits: limits.addresses, request.remote_addr or "", "from this address")


badges.before_request(limit_by_ip)


def public_person(person_id: int, not_found: str = NOT_FOUND) -> PublicPerson:
    """The person with their public topics (best first); raises a 404 ApiError saying
    `not_found`, and nothing more, when they are unknown, opted out or have nothing
    public."""
    with current_app.extensions["whoknows"].engine.connect() as conn:
        found = queries.audience_profile(conn, person_id, Audience.EXTERNAL)
    if found is None:
        raise ApiError(404, not_found)
    return PublicPerson(person_id, found["display_name"],
                        [TopicLevel(t["topic"], t["level"], t["score"], t["confirmed"])
                         for t in found["topics"]])


def person_by_account(source_id: str, username: str) -> PublicPerson:
    """The person behind an account (its username or id) of an external or partner
    source; raises the same 404 for an unknown source or account, an internal source,
    and a person the external audience may not see."""
    services = current_app.extensions["whoknows"]
    with services.engine.connect() as conn:
        try:
            # the stored source: the demo and older stores hold sources no config names
            source = pipeline.source_info(conn, services.config, source_id)
        except ConfigError as exc:
            raise ApiError(404, NO_ACCOUNT) from exc
        if source.audience not in PUBLIC_AUDIENCES:
            raise ApiError(404, NO_ACCOUNT)
        identity = store_people.find_identity(conn, source_id, username)
        person_id = store_people.person_of(conn, identity) if identity is not None else None
    if person_id is None:
        raise ApiError(404, NO_ACCOUNT)
    return public_person(person_id, NO_ACCOUNT)


def public_response(response: Response, *, csp: str | None = None, cors: bool = False,
                    max_age: int = CACHE_SECONDS) -> Response:
    """`response` made cacheable (ETag of its content, `Cache-Control: public`), not
    sniffable, with `csp` and CORS for any origin when asked; a 304 when the request's
    If-None-Match holds its ETag."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if csp:
        response.headers["Content-Security-Policy"] = csp
    if cors:
        response.headers["Access-Control-Allow-Origin"] = "*"
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    response.add_etag()
    response.make_conditional(request)  # turns it into a 304 in place
    return response


def base_url() -> str:
    """The public base URL of whoknows (`api.public_base_url`, else the request's)."""
    configured = current_app.extensions["whoknows"].config.api.public_base_url
    return str(configured or request.url_root).rstrip("/")


def absolute_url(endpoint: str, **values: Any) -> str:
    """The public absolute URL of an endpoint (values not in its path become the query)."""
    return base_url() + current_app.url_map.bind("localhost").build(endpoint, values)


def _badge(person: PublicPerson) -> Badge:
    topic = load_query(BadgeQuery())["topic"]
    if topic is None:
        return person_badge(person.name, person.topics)
    name = current_app.extensions["whoknows"].vocabulary.normalise(topic)
    if name is None:
        raise ApiError(400, "invalid query parameters: topic: names no topic",
                       errors={"topic": ["names no topic: give words, e.g. gdpr"]})
    found = _resolve_topic(name, [t.topic for t in person.topics])
    if len(found) != 1:
        # a 404, not a badge saying "none": a badge never shows words from the request;
        # the person's public topics (what their card shows anyway) say what to ask for
        public = found or [t.topic for t in person.topics]
        what = "could be several public topics" if found else "no public expertise on this topic"
        raise ApiError(404, f"{what}; give one of: {', '.join(public)}",
                       errors={"topic": [what]}, topics=public)
    return person_badge(person.name, person.topics, found[0])


def _resolve_topic(name: str, topics: list[str]) -> list[str]:
    """The topics (of `topics`, in their order) that `name` (synonym-mapped) asks for:
    the one it names exactly, else those holding each of its words as the start of one of
    theirs (`claims`, `insur claims` → `medical insurance claims`)."""
    if name in topics:
        return [name]
    words = name.split()
    return [topic for topic in topics
            if all(any(own.startswith(word) for own in topic.split()) for word in words)]


def _svg(person: PublicPerson) -> Response:
    badge = _badge(person)
    # element ids apart when several badges are inlined in one page
    suffix = "-" + hashlib.sha256(f"{badge.label}|{badge.message}".encode()).hexdigest()[:8]
    return public_response(Response(svg(badge, suffix), mimetype="image/svg+xml"),
                           csp=SVG_CSP)


def _json(person: PublicPerson) -> Response:
    body = shields_endpoint(_badge(person), CACHE_SECONDS)
    return public_response(jsonify(body), cors=True)


@badges.get("/badges/<int:person_id>.svg")
def person_svg(person_id: int) -> ResponseReturnValue:
    """A person's badge as SVG."""
    return _svg(public_person(person_id))


@badges.get("/badges/<int:person_id>.json")
def person_json(person_id: int) -> ResponseReturnValue:
    """A person's badge as a shields.io endpoint body."""
    return _json(public_person(person_id))


@badges.get("/badges/by-account/<source>/<username>.svg")
def account_svg(source: str, username: str) -> ResponseReturnValue:
    """The badge of a community account, as SVG."""
    return _svg(person_by_account(source, username))


@badges.get("/badges/by-account/<source>/<username>.json")
def account_json(source: str, username: str) -> ResponseReturnValue:
    """The badge of a community account, as a shields.io endpoint body."""
    return _json(person_by_account(source, username))
