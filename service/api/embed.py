"""The embeddable card, no token: `GET /v1/embed/{person}` and
`GET /v1/embed/by-account/{source}/{username}` (a small static HTML page for an iframe),
and its oEmbed endpoint, `GET /v1/oembed?url=…` (oEmbed 1.0, type `rich`, JSON or XML).

Same audience, caching and per-IP limit as the badges (`service.api.badges`). The card
has no script and no external asset; its CSP allows any site to frame it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, fields, validate
from werkzeug.exceptions import HTTPException

from service.api import MAX_ID
from service.api.badges import (
    PublicPerson,
    absolute_url,
    base_url,
    limit_by_ip,
    person_by_account,
    public_person,
    public_response,
)
from service.api.errors import ApiError
from service.api.experts import load_query
from service.badges import CARD_CSP, CardView, card_html, oembed, oembed_xml, person_badge
from service.badges.card import OEMBED_CACHE_SECONDS

__all__ = ["embed"]

embed = Blueprint("embed", __name__)
embed.before_request(limit_by_ip)

NO_CARD = "no embeddable card at this url"


class OEmbedQuery(Schema):
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                     validate=validate.Length(max=2048))
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "xml"]))
    maxwidth = fields.Integer(load_default=None, validate=validate.Range(min=1, max=10000))
    maxheight = fields.Integer(load_default=None, validate=validate.Range(min=1, max=10000))

    class Meta:
        # oEmbed consumers may send parameters of their own (the spec allows them)
        unknown = EXCLUDE


def _card(person: PublicPerson, badge_endpoint: str, **values: Any) -> Response:
    card_url = absolute_url(str(request.endpoint), **(request.view_args or {}))
    view = CardView(
        name=person.name, topics=person.topics,
        # relative: the card's CSP allows images from its own origin only
        badge_url=url_for(badge_endpoint, **values),
        badge_alt=person_badge(person.name, person.topics).title,
        oembed_url=absolute_url("embed.oembed_answer", url=card_url, format="json"))
    return public_response(Response(card_html(view), mimetype="text/html"), csp=CARD_CSP)


@embed.get("/embed/<int:person_id>")
def card(person_id: int) -> ResponseReturnValue:
    """A person's card."""
    return _card(public_person(person_id), "badges.person_svg", person_id=person_id)


@embed.get("/embed/by-account/<source>/<username>")
def account_card(source: str, username: str) -> ResponseReturnValue:
    """The card of a community account."""
    return _card(person_by_account(source, username), "badges.account_svg", source=source,
                 username=username)


def _card_of(url: str) -> tuple[str, PublicPerson]:
    """The public URL of the card `url` names, and its person; a 404 ApiError when `url`
    names no card of this whoknows."""
    base = base_url()
    if not url.startswith(base + "/"):
        raise ApiError(404, NO_CARD)
    path = unquote(urlsplit(url[len(base):]).path)
    try:
        endpoint, values = current_app.url_map.bind("localhost").match(path, method="GET")
    except HTTPException as exc:
        raise ApiError(404, NO_CARD) from exc
    if endpoint == "embed.card" and values["person_id"] <= MAX_ID:
        person = public_person(values["person_id"], NO_CARD)
    elif endpoint == "embed.account_card":
        try:
            person = person_by_account(values["source"], values["username"])
        except ApiError as exc:
            raise ApiError(404, NO_CARD) from exc
    else:
        raise ApiError(404, NO_CARD)
    return absolute_url(str(endpoint), **values), person


@embed.get("/oembed")
def oembed_answer() -> ResponseReturnValue:
    """The oEmbed answer for a card URL."""
    params = load_query(OEmbedQuery())
    card_url, person = _card_of(params["url"])
    body = oembed(person.name, card_url, base_url() + "/", params["maxwidth"],
                  params["maxheight"])
    response = (jsonify(body) if params["format"] == "json"
                else Response(oembed_xml(body), mimetype="text/xml"))
    return public_response(response, cors=True, max_age=OEMBED_CACHE_SECONDS)
