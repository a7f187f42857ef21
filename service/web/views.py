"""The intranet page's routes: the search page (`/`), a person's profile
(`/people/<id>`) and the connection map (`/map`), server-rendered; web.js only fetches
the next results in place."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, render_template, request
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from werkzeug.exceptions import HTTPException

from service import pipeline
from service.model import Audience
from service.reputation.activity import ACTIVITY_HALF_LIFE_DAYS
from service.search.base import QueryError
from service.search.cluster.client import ClusterError
from service.store import queries
from service.web import data
from service.web.auth import current_user, signin_required
from service.web.chart import timeline_chart
from service.web.graphmap import interactions

__all__ = ["PageError", "web"]

web = Blueprint("web", __name__, template_folder="templates", static_folder="static",
                static_url_path="/assets")
web.before_request(signin_required)

MAX_PAGE = 50
POPULAR_SECONDS = 600
#: the strongest connections the map's table lists
STRONGEST = 20
_POPULAR = "whoknows_web_popular"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


class PageError(Exception):
    """Bad input to a page: the status and a message naming the field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SearchSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # a link may carry tracking parameters; they change nothing

    q = fields.String(load_default="", validate=validate.Length(max=200))
    source = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                         load_default=list)
    community = fields.List(fields.String(validate=validate.OneOf([a.value for a in Audience])),
                            load_default=list)
    since = fields.Date(load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))


class MapSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    topic = fields.String(load_default="", validate=validate.Length(max=200))
    since = fields.Date(load_default=None)


def _services() -> pipeline.Services:
    return current_app.extensions["whoknows"]  # type: ignore[no-any-return]


def _form(schema: Schema, lists: tuple[str, ...] = ()) -> dict[str, Any]:
    """A form's values (empty fields dropped, `lists` fields repeatable); a bad one is a
    400 naming it."""
    args: dict[str, Any] = {key: [v for v in request.args.getlist(key) if v.strip()]
                            for key in lists}
    args.update({key: value.strip() for key, value in request.args.items()
                 if key not in args and value.strip()})
    try:
        return schema.load(args)  # type: ignore[no-any-return]
    except ValidationError as exc:
        fields_ = exc.messages if isinstance(exc.messages, dict) else {"q": exc.messages}
        name, messages = next(iter(fields_.items()))
        detail = messages if isinstance(messages, list) else [str(messages)]
        raise PageError(400, f"{name}: {' '.join(map(str, detail))}") from exc


@web.get("/")
def search() -> ResponseReturnValue:
    """The search page; with `q`, the people who know about it as cards."""
    form = _form(SearchSchema(), ("source", "community"))
    services = _services()
    with services.engine.connect() as conn:
        known = data.list_sources(conn)
    unknown = sorted(set(form["source"]) - {s.id for s in known})
    if unknown:
        raise PageError(400, f"source: no community called {unknown[0]!r}")
    context: dict[str, Any] = {"form": form, "sources": known, "cards": [], "result": None,
                               "popular": [] if form["q"] else _popular_topics(services)}
    if form["q"]:
        search_ = data.Search(form["q"], tuple(form["source"]), tuple(form["community"]),
                              form["since"], form["page"])
        try:
            context["result"], context["cards"] = data.search_cards(services, search_, known)
        except QueryError as exc:
            raise PageError(400, f"q: {str(exc).partition(': ')[2] or exc}") from exc
        except ClusterError as exc:
            raise PageError(503, "The search index is not reachable; try again shortly.") \
                from exc
        context["page_size"] = data.PAGE_SIZE
        context["signal_labels"] = data.SIGNAL_LABELS
    return render_template("web/search.html", **context)


def _popular_topics(services: pipeline.Services) -> list[dict[str, Any]]:
    """The landing page's topic suggestions, counted at most every POPULAR_SECONDS
    (counting takes most of a second on a million contributions)."""
    cached = current_app.extensions.get(_POPULAR)
    if cached is None or time.monotonic() - cached[0] > POPULAR_SECONDS:
        with services.engine.connect() as conn:
            cached = (time.monotonic(), queries.topic_counts(conn, data.SCOPE, services.clock(), 8))
        current_app.extensions[_POPULAR] = cached
    return cached[1]  # type: ignore[no-any-return]


@web.get("/people/<int:person_id>")
def profile(person_id: int) -> ResponseReturnValue:
    """A person's profile: topics, activity timeline, evidence, connections."""
    services = _services()
    found = data.load_profile(services, person_id)
    if found is None:
        raise PageError(404, f"Nobody with contributions has the id {person_id}.")
    return render_template("web/profile.html", profile=found,
                           chart=timeline_chart(found.timeline),
                           half_life_days=f"{ACTIVITY_HALF_LIFE_DAYS:g}")


@web.get("/map")
def connection_map() -> ResponseReturnValue:
    """Who works with whom on a topic (every topic without one): the strongest people as
    an SVG map coloured by community, the bridges, and the strongest links as a table."""
    form = _form(MapSchema())
    services = _services()
    form["topic"] = services.vocabulary.normalise(form["topic"]) or ""
    topics = [t["topic"] for t in _popular_topics(services)]
    if form["topic"] and form["topic"] not in topics:
        topics.append(form["topic"])
    graph = data.load_map(services, form["topic"], form["since"])
    return render_template("web/map.html", form=form, topics=topics, graph=graph,
                           strongest=graph.strongest(STRONGEST))


@web.errorhandler(PageError)
def _page_error(error: PageError) -> ResponseReturnValue:
    return render_template("web/error.html", status=error.status, message=error.message), \
        error.status


@web.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> ResponseReturnValue:
    status = error.code or 500
    return render_template("web/error.html", status=status, message=error.name), status


@web.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "web.static":
        # the page is for signed-in employees: never kept by a shared cache
        response.headers["Cache-Control"] = "private, no-store"
    return response


@web.app_template_filter("link")
def _link(url: str | None) -> str | None:
    """Only http(s) URLs become links: a source's `javascript:` URL stays text."""
    return url if url and urlsplit(url).scheme in ("http", "https") else None


@web.app_template_filter("ago")
def _ago(value: datetime | str | None) -> str:
    if value is None:
        return "never"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    days = (_services().clock() - when.astimezone(UTC)).days
    if days < 1:
        return "today"
    if days < 60:
        return f"{days} day{'s' if days != 1 else ''} ago"
    if days < 730:
        return f"{days // 30} months ago"
    return f"{days // 365} years ago"


# a global, not a context value: the macros imported by the templates call it
web.add_app_template_global(interactions, "interactions")


@web.context_processor
def _context() -> dict[str, Any]:
    return {"user": current_user(), "audience_names": ("internal", "external", "partner")}
