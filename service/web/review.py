"""The intranet page's identity review, for administrators (`web.admin_subjects`): the
queue of merge suggestions with accept and reject, the identity audit log with undo, and
a person's identity history on their profile. Routes on the page's blueprint (its
sign-in, headers and errors); forms carry a per-session token against cross-site posts."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from service import review
from service.store import audit as store_audit
from service.store import suggestions as store_suggestions
from service.web.auth import current_user, is_admin
from service.web.views import PageError, _services, web

__all__ = ["csrf_token", "identity_history", "posted_reason"]

_CSRF = "csrf"
_RECENT = 30
_DONE = {"accepted": "Accepted: the two are one person now.",
         "rejected": "Rejected: the two stay apart for good.",
         "undone": "Undone: a new entry in the log says so."}


def csrf_token() -> str:
    """The session's form token (made on first use)."""
    if _CSRF not in session:
        session[_CSRF] = secrets.token_urlsafe(32)
    return str(session[_CSRF])


def _admin() -> str:
    """The acting administrator (`web:<sub>`); a 403 page for anyone else."""
    if not is_admin():
        raise PageError(403, "The identity review is for administrators: sign in with a "
                             "subject listed in web.admin_subjects.")
    user = current_user()
    assert user is not None
    return f"web:{user['sub']}"


def posted_reason() -> str | None:
    """Check the form's token; return its reason (None when empty)."""
    sent = request.form.get(_CSRF, "")
    if not sent or not hmac.compare_digest(sent, str(session.get(_CSRF, ""))):
        raise PageError(400, "csrf: the form expired; reload the page and try again.")
    reason = request.form.get("reason", "").strip()
    if len(reason) > 2000:
        raise PageError(400, "reason: at most 2,000 characters.")
    return reason or None


def identity_history(person_id: int) -> list[Any] | None:
    """A person's identity audit entries, for an administrator (None for anyone else)."""
    if not is_admin():
        return None
    with _services().engine.connect() as conn:
        return store_audit.entries(conn, person_id)


@web.get("/admin/identity")
def identity_review() -> ResponseReturnValue:
    """The review queue (open suggestions, most confident first) and the latest entries of
    the identity audit log."""
    _admin()
    with _services().engine.connect() as conn:
        queue = store_suggestions.list_suggestions(conn, limit=100)
        recent = store_audit.entries(conn)[-_RECENT:][::-1]
    return render_template("web/identity.html", queue=queue, recent=recent,
                           done=_DONE.get(request.args.get("done", "")),
                           csrf=csrf_token())


@web.post("/admin/identity/suggestions/<int:suggestion_id>")
def decide_suggestion(suggestion_id: int) -> ResponseReturnValue:
    actor = _admin()
    reason = posted_reason()
    action = request.form.get("action")
    if action not in ("accept", "reject"):
        raise PageError(400, "action: accept or reject.")
    decide = review.accept if action == "accept" else review.reject
    _act(lambda: decide(_services(), suggestion_id, actor, reason))
    return redirect(url_for("web.identity_review", done=f"{action}ed"), 303)


@web.post("/admin/identity/audit/<int:entry_id>/undo")
def undo_entry(entry_id: int) -> ResponseReturnValue:
    actor = _admin()
    reason = posted_reason()
    outcome = _act(lambda: review.undo(_services(), entry_id, actor, reason))
    back = request.form.get("back")
    if back == "profile" and outcome.person_id is not None:
        return redirect(url_for("web.profile", person_id=outcome.person_id,
                                _anchor="identity-heading"), 303)
    return redirect(url_for("web.identity_review", done="undone"), 303)


def _act(action: Any) -> review.Outcome:
    try:
        return action()  # type: ignore[no-any-return]
    except review.NotFound as exc:
        raise PageError(404, str(exc)) from exc
    except review.Conflict as exc:
        raise PageError(409, str(exc)) from exc


# globals, not context values: the profile page asks for the history of whom it shows
web.add_app_template_global(identity_history, "identity_history")
web.add_app_template_global(csrf_token, "csrf_token")
web.add_app_template_global(is_admin, "is_admin")
