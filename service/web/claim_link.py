"""Claims proven by an e-mailed link (beside the code in the profile text, `me`): the
link goes to the address the account's platform verified, only its token's sha256 is
stored, and it works once, until the claim expires.

Opening the link (GET) changes nothing — mail scanners follow links — it shows a page
to confirm; the confirmation (POST, with the session's form token) uses the link, and
the next resolution, run at once, links the account (`store.claims.apply_due`: the same
path as a code). Only the claimant's own session can use it. The message names the
account and the link, nothing about the employee: it may reach someone else."""

from __future__ import annotations

import logging
from email.message import EmailMessage

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from service import mail, pipeline
from service.store import claims as store_claims
from service.web.me import _me, own_claim, verified_or
from service.web.review import csrf_token, posted_reason
from service.web.views import _services, web

__all__: list[str] = []

log = logging.getLogger(__name__)

#: why a link no longer works (store.claims.find_link), as the page says it
_REFUSED = {
    "unknown": (404, "This link is not valid: it may be mistyped, or a newer link "
                     "replaced it. Send a new one from My profile."),
    "used": (410, "This link was used already, or the claim is verified: there is "
                  "nothing more to do."),
    "expired": (410, "This link has expired with its claim. Claim the account again "
                     "from My profile."),
    "someone_else": (403, "This link is for a claim someone else made: only the person "
                          "who asked for it, signed in, can use it."),
}


def _message(claim: store_claims.Claim, to: str, url: str) -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = f"Is the account {claim.account} on {claim.source_id} yours?"
    message.set_content(
        f"Someone signed in to whoknows, our expertise directory, says the account "
        f"{claim.account} on {claim.source_id} is theirs.\n\n"
        f"If that was you, open this link while signed in and confirm:\n\n{url}\n\n"
        f"The link works once, until {claim.expires_at:%Y-%m-%d %H:%M} UTC.\n"
        "If it was not you, ignore this message: nothing is linked without the "
        "confirmation.\n")
    return message


@web.post("/me/claims/<int:claim_id>/mail")
def mail_claim_link(claim_id: int) -> ResponseReturnValue:
    """E-mail a link proving the claim to the account's verified address; a new link
    replaces the claim's earlier one."""
    _, person = _me()
    posted_reason()
    services = _services()
    smtp = services.config.smtp
    with services.engine.connect() as conn:
        claim = own_claim(conn, person.id, claim_id)
        to = store_claims.verified_email(conn, claim.identity_id)
    if smtp is None or to is None or claim.status != store_claims.PENDING \
            or claim.expires_at <= services.clock():
        return redirect(url_for("web.my_profile", done="no_link"), 303)
    token, digest = store_claims.link_token()
    url = url_for("web.claim_link", token=token, _external=True)
    try:
        mail.send(smtp, services.config.smtp_auth, _message(claim, to, url))
    except mail.MailError as exc:  # the server's name and answer stay in the log
        log.warning("claim #%d: the link was not sent: %s", claim.id, exc)
        return redirect(url_for("web.my_profile", done="mail_failed"), 303)
    with services.engine.begin() as conn:
        store_claims.link_sent(conn, claim.id, digest, store_claims.mask(to), services.clock())
    return redirect(url_for("web.my_profile", done="mailed"), 303)


def _link_claim(token: str) -> store_claims.Claim:
    """The signed-in claimant's claim this link works for; a refusal page otherwise."""
    user, _ = _me()
    services = _services()
    with services.engine.connect() as conn:
        claim, problem = store_claims.find_link(conn, token, services.clock())
    if claim is not None and claim.subject != user["sub"]:
        problem = "someone_else"
    if problem is not None or claim is None:
        raise _Refused(problem or "unknown")
    return claim


class _Refused(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@web.errorhandler(_Refused)
def _refused(error: _Refused) -> ResponseReturnValue:
    status, message = _REFUSED[error.why]
    return render_template("web/claim_link.html", refused=message, claim=None), status


@web.get("/me/claims/link")
def claim_link() -> ResponseReturnValue:
    """The confirmation page of an e-mailed link: nothing changes until it is posted."""
    token = request.args.get("token", "")
    claim = _link_claim(token)
    return render_template("web/claim_link.html", claim=claim, token=token,
                           csrf=csrf_token(), refused=None)


@web.post("/me/claims/link")
def confirm_claim_link() -> ResponseReturnValue:
    """Use the link once and resolve now: the account is the claimant's."""
    posted_reason()
    token = request.form.get("token", "")
    claim = _link_claim(token)
    services = _services()
    with services.engine.begin() as conn:
        if not store_claims.use_link(conn, claim.id, token, services.clock()):
            raise _Refused("used")  # used in another tab meanwhile
    pipeline.resolve_and_recompute(services, set())
    # not verified: the claimant's own accounts are gone (erased) meanwhile
    return redirect(url_for("web.my_profile", done=verified_or(
        claim.person_id, claim.id, "waiting")), 303)
