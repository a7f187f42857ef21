""""My profile" on the intranet page: the signed-in employee (found by the e-mail their
OpenID Connect provider verified, in the directory) claims their external accounts.

A claim is never taken on the word alone: the page gives a one-time code to put in that
account's profile text; the next sync of the source (or "Check now") reads it, and only
then are the accounts one person (an audit entry, credited to the person's subject).
With `[smtp]`, a link e-mailed to the account's verified address proves it too
(`claim_link`).
Only the person acts on their own claims; a claim of an account someone else claimed
goes to the administrators' review queue instead.

The page shows the profile as each audience gets it (`queries.audience_profile`, which
the API's profile, the badge and the card read too), and the person hides a topic (from
everyone, or from the external and partner audiences) or confirms it, and undoes either:
stored by e-mail and person, an identity audit entry credited to their subject, and the
profile recomputed at once by the pipeline."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from service import pipeline
from service.config import ConfigError
from service.connectors import build_connector
from service.model import Audience, normalise_email
from service.reputation.own_topics import CONFIRMED, HIDDEN_ALL, HIDDEN_EXTERNAL
from service.store import claims as store_claims
from service.store import people as store_people
from service.store import person_topics as store_person_topics
from service.store import queries
from service.store import suggestions as store_suggestions
from service.store import sync as store_sync
from service.web.auth import current_user, signed_in_person
from service.web.review import csrf_token, posted_reason
from service.web.views import PageError, _services, web

__all__: list[str] = []

_DONE = {"claimed": "Claim made: put the code in that account's profile text, then check.",
         "conflict": "Someone else claims that account too: an administrator will decide.",
         "verified": "Verified: the account is yours now.",
         "waiting": "The code is not in that profile yet (or the claim expired).",
         "mailed": "A link is on its way: open it while signed in here, and confirm.",
         "mail_failed": "Sending the link failed. Try again in a while, or put the code "
                        "in that account's profile text instead.",
         "no_link": "No link can be sent for that claim (it is not pending, or the "
                    "account has no verified e-mail address).",
         "topic": "Done: every audience sees the change now."}
#: the topic form's actions and the state each leaves (undo: none)
_ACTIONS = {"hide_all": HIDDEN_ALL, "hide_external": HIDDEN_EXTERNAL,
            "confirm": CONFIRMED, "undo": None}
#: the audiences the page shows the profile as, in order
_VIEWS = (("Colleagues (internal)", Audience.INTERNAL), ("Partners", Audience.PARTNER),
          ("Customers (external)", Audience.EXTERNAL))


def _me() -> tuple[dict[str, str], Any]:
    """The signed-in user and their person; a 403 page without sign-in or e-mail, a 404
    page when the directory knows nobody with it."""
    user = current_user()
    if user is None or not user.get("email"):
        raise PageError(403, "My profile needs sign-in with a verified e-mail address.")
    person = signed_in_person()
    if person is None:
        raise PageError(404, "Nobody with contributions has your e-mail address yet.")
    return user, person


def _claimable(conn: Any) -> list[Any]:
    return [s for s in store_sync.list_sources(conn) if s.audience != Audience.INTERNAL]


@web.get("/me")
def my_profile() -> ResponseReturnValue:
    """The signed-in person's accounts and claims, and the claim form."""
    _, person = _me()
    with _services().engine.connect() as conn:
        accounts = store_people.person_accounts(conn, person.id)
        claims = store_claims.claims_of(conn, person.id)
        sources = _claimable(conn)
        views = [(label, audience, queries.audience_profile(conn, person.id, audience))
                 for label, audience in _VIEWS]
        decided = _decided(conn, person.id)
    inside = views[0][2]
    topics = [t["topic"] for t in (inside["topics"] if inside else [])]
    topics += sorted(set(decided) - set(topics))
    return render_template("web/me.html", person=person, accounts=accounts, claims=claims,
                           sources=sources, done=_DONE.get(request.args.get("done", "")),
                           csrf=csrf_token(), hours=store_claims.CLAIM_HOURS,
                           mail=_services().config.smtp is not None,
                           failed=request.args.get("done") == "mail_failed", views=views,
                           topics=topics, decided=decided)


def _decided(conn: Any, person_id: int) -> dict[str, str]:
    return store_person_topics.states(conn, [person_id]).get(person_id, {})


@web.post("/me/topics")
def decide_topic() -> ResponseReturnValue:
    """Hide, confirm or show again one of the signed-in person's own topics."""
    user, person = _me()
    posted_reason()
    action = request.form.get("action", "")
    if action not in _ACTIONS:
        raise PageError(400, "action: hide_all, hide_external, confirm or undo.")
    topic = request.form.get("topic", "").strip()
    services = _services()
    with services.engine.begin() as conn:
        mine = queries.audience_profile(conn, person.id, Audience.INTERNAL)
        known = {t["topic"] for t in (mine["topics"] if mine else [])}
        if topic not in known | set(_decided(conn, person.id)):
            raise PageError(400, "topic: one of the topics your profile lists.")
        store_person_topics.decide(conn, person.id, normalise_email(user["email"]) or "",
                                   topic, _ACTIONS[action], user["sub"], services.clock())
    pipeline.recompute(services, [person.id])
    return redirect(url_for("web.my_profile", done="topic", _anchor="topics-heading"), 303)


@web.post("/me/claims")
def claim_account() -> ResponseReturnValue:
    user, person = _me()
    posted_reason()
    source_id = request.form.get("source", "").strip()
    account = request.form.get("account", "").strip()
    services = _services()
    with services.engine.begin() as conn:
        if source_id not in {s.id for s in _claimable(conn)}:
            raise PageError(400, "source: an external or partner community (internal "
                                 "accounts come from the directory).")
        if not account or len(account) > 255:
            raise PageError(400, "account: the username on that community.")
        identity = store_people.find_identity(conn, source_id, account)
        if identity is None:
            raise PageError(400, f"account: nobody called {account!r} on {source_id} yet "
                                 "(an account appears with its first contribution).")
        if store_people.person_of(conn, identity) == person.id:
            raise PageError(409, "account: that account is yours already.")
        claim = store_claims.create(conn, person.id, identity, user["sub"], services.clock())
        if claim.status == store_claims.CONFLICT:
            store_suggestions.queue_claim_conflict(
                conn, person.id, identity,
                f"{person.display_name} claims {source_id}:{account}, which someone else "
                "claims too")
    done = "conflict" if claim.status == store_claims.CONFLICT else "claimed"
    return redirect(url_for("web.my_profile", done=done), 303)


@web.post("/me/claims/<int:claim_id>/check")
def check_claim(claim_id: int) -> ResponseReturnValue:
    """Read the account's profile now: a sync of a pull source, a resolution otherwise
    (a push source's records carry the profile text)."""
    _, person = _me()
    posted_reason()
    services = _services()
    with services.engine.connect() as conn:
        claim = own_claim(conn, person.id, claim_id)
    source = services.config.source(claim.source_id)
    if source is not None and source.kind != "push":
        try:
            pipeline.sync_source(services, source.id, lambda s: build_connector(
                s, services.config.secrets.get(s.id)))
        except ConfigError as exc:
            raise PageError(409, "That community cannot be read right now.") from exc
    pipeline.resolve_and_recompute(services, set())
    return redirect(url_for("web.my_profile", done=verified_or(
        person.id, claim_id, "waiting")), 303)


def own_claim(conn: Any, person_id: int, claim_id: int) -> store_claims.Claim:
    """The person's claim; a 404 page for anyone else's (nobody's business here)."""
    claim = next((c for c in store_claims.claims_of(conn, person_id) if c.id == claim_id),
                 None)
    if claim is None:
        raise PageError(404, f"You have no claim {claim_id}.")
    return claim


def verified_or(person_id: int, claim_id: int, otherwise: str) -> str:
    """`verified` when the claim is now, else `otherwise` (the page's notice)."""
    with _services().engine.connect() as conn:
        claim = own_claim(conn, person_id, claim_id)
    return "verified" if claim.status == store_claims.VERIFIED else otherwise
