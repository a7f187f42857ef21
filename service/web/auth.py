"""Sign-in to the intranet page: OpenID Connect authorization code with PKCE (S256),
through authlib's Flask client, when `[web]` names a provider; open otherwise (demo).

The signed-in user lives in Flask's signed session cookie (HttpOnly, SameSite=Lax,
Secure unless `web.secure_cookies = false`); no token is kept, the page needs none.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from service.config import ConfigError, WebConfig
from service.store import people as store_people

__all__ = ["current_user", "init_auth", "is_admin", "signed_in_person", "signin",
           "signin_required"]

signin = Blueprint("signin", __name__, template_folder="templates")
_OAUTH = "whoknows_web_oauth"
_USER = "user"
_NEXT = "next"


def init_auth(app: Flask, web: WebConfig, secrets: dict[str, str]) -> None:
    """Bind sign-in to the app when a provider is configured; raise ConfigError when the
    session key's variable is not set."""
    app.register_blueprint(signin)
    if not web.oidc_metadata_url:
        return
    if "session_secret" not in secrets:
        raise ConfigError(f"web.session_secret_env: the variable {web.session_secret_env} "
                          "is not set (it holds the key that signs the session cookie)")
    app.secret_key = secrets["session_secret"]
    app.config.update(
        SESSION_COOKIE_NAME="whoknows_session", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=web.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=web.session_minutes))
    client_kwargs: dict[str, Any] = {"scope": web.scopes, "code_challenge_method": "S256"}
    if "client_secret" not in secrets:  # a public client: PKCE is its only proof
        client_kwargs["token_endpoint_auth_method"] = "none"
    oauth = OAuth(app)
    oauth.register("oidc", client_id=web.client_id, client_secret=secrets.get("client_secret"),
                   server_metadata_url=web.oidc_metadata_url, client_kwargs=client_kwargs)
    app.extensions[_OAUTH] = oauth


def _client() -> Any:
    oauth = current_app.extensions.get(_OAUTH)
    return oauth.oidc if oauth is not None else None  # type: ignore[attr-defined]


def current_user() -> dict[str, str] | None:
    """The signed-in user ({"sub", "name"}, and "email" when the provider verified one),
    or None (also in open demo mode)."""
    return session.get(_USER) if _client() is not None else None


def signed_in_person() -> Any | None:
    """The person the signed-in user is, found by the e-mail their provider verified
    (the directory's); None without sign-in, without an e-mail, or with nobody found."""
    email = (current_user() or {}).get("email")
    if not email:
        return None
    with current_app.extensions["whoknows"].engine.connect() as conn:
        return store_people.find_person(conn, email)


def is_admin() -> bool:
    """Whether the signed-in user reviews identity (`web.admin_subjects`); never in open
    demo mode, where nobody is signed in."""
    user = current_user()
    subjects = current_app.extensions["whoknows"].config.web.admin_subjects
    return user is not None and bool(user["sub"]) and user["sub"] in subjects


def signin_required() -> ResponseReturnValue | None:
    """A `before_request` hook: send a visitor who is not signed in to the provider."""
    if _client() is None or _USER in session or request.endpoint == "web.static":
        return None
    return redirect(url_for("signin.start", next=request.full_path.rstrip("?")))


def _local(path: str | None) -> str:
    """Only a path on this site is a place to return to (no open redirect)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return url_for("web.search")


@signin.get("/signin")
def start() -> ResponseReturnValue:
    client = _client()
    if client is None:
        return redirect(url_for("web.search"))
    session[_NEXT] = _local(request.args.get("next"))
    return client.authorize_redirect(url_for("signin.callback", _external=True))  # type: ignore[no-any-return]


@signin.get("/signin/callback")
def callback() -> ResponseReturnValue:
    client = _client()
    if client is None:
        return redirect(url_for("web.search"))
    try:
        token = client.authorize_access_token()
    except OAuthError as exc:
        return render_template("web/signin_failed.html", error=exc.error), 400
    claims = token.get("userinfo") or {}
    back = _local(session.get(_NEXT))
    session.clear()
    session.permanent = True
    session[_USER] = {"sub": str(claims.get("sub", "")),
                      "name": str(claims.get("name") or claims.get("preferred_username")
                                  or claims.get("email") or claims.get("sub", ""))}
    if claims.get("email") and claims.get("email_verified") is not False:
        # "my profile" finds the person by their directory e-mail
        session[_USER]["email"] = str(claims["email"])
    return redirect(back)


@signin.post("/signout")
def signout() -> ResponseReturnValue:
    session.clear()
    return render_template("web/signed_out.html")
