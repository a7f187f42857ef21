"""OAuth2: the built-in authorization server (client credentials, RS256 JWT access
tokens) and the resource protector that accepts those tokens and an enterprise OpenID
Connect provider's.

Views declare what they need with `@require_oauth(EXPERTS_READ)`; `current_caller()`
gives the caller's client id, scopes and audience. The audience always comes from the
token, never from the request.

Our own tokens are JWT access tokens of RFC 9068: their header says `typ: at+jwt`, and a
token of ours without it (an ID token, any other JWT signed with the key) is refused. Each
one is also refused once its client is revoked: every process re-reads a client's state
from the store at most `api.revocation_check_seconds` after it last did, so a revocation
reaches every replica within that delay. An enterprise provider's tokens are checked for
issuer, audience, expiry and signature only: most providers (Azure AD, Keycloak) send
`typ: JWT` on access tokens, and their revocation is the provider's.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2 import current_token as _current_token
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6750 import BearerTokenValidator, InsufficientScopeError, InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask, current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from service.api.errors import problem
from service.api.keys import SigningKey
from service.api.limits import spend
from service.config import ApiConfig, ExternalIssuer
from service.model import Audience
from service.store import clients as store_clients

__all__ = ["Caller", "current_caller", "init_oauth", "require_oauth"]

JWKS_TTL_SECONDS = 300
#: the `typ` header of our access tokens (RFC 9068 section 2.1; the long form is allowed,
#: RFC 7515 section 4.1.9), compared without case
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]


@dataclass(frozen=True, slots=True)
class Caller:
    client_id: str
    scopes: frozenset[str]
    audience: Audience


class _Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, client: store_clients.ApiClient) -> None:
        self.client = client

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.client.scopes)
        if not scope:
            return " ".join(sorted(allowed))
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return store_clients.verify_secret(self.client, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class _TokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    def __init__(self, config: ApiConfig, key: SigningKey) -> None:
        super().__init__(issuer=config.issuer, alg="RS256")
        self.config = config
        self.key = key

    def get_jwks(self) -> KeySet:
        return KeySet.import_key_set(self.key.private_jwks())  # type: ignore[arg-type]

    def get_audiences(self, client: _Client, user: Any, scope: str) -> str:
        return self.config.resource

    def get_extra_claims(self, client: _Client, grant_type: str, user: Any, scope: str
                         ) -> dict[str, Any]:
        return {"audience_group": client.client.audience, "sub": client.get_client_id()}


class _Jwks:
    """A JWKS fetched from a URL, cached with a TTL and fetched again on an unknown kid."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.keys: KeySet | None = None
        self.fetched = 0.0

    def get(self, kid: str | None) -> KeySet:
        stale = time.monotonic() - self.fetched > JWKS_TTL_SECONDS
        unknown = self.keys is not None and kid is not None and not any(
            k.kid == kid for k in self.keys.keys)
        if self.keys is None or stale or unknown:
            response = requests.get(self.url, timeout=10)
            response.raise_for_status()
            self.keys = KeySet.import_key_set(response.json())
            self.fetched = time.monotonic()
        return self.keys


class _ActiveClients:
    """Whether a client may still call, read from the store at most every `ttl` seconds
    per client (0: at every request)."""

    def __init__(self, engine: Any, ttl: float) -> None:
        self.engine = engine
        self.ttl = ttl
        self._checked: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def active(self, client_id: str) -> bool:
        """True unless the client is revoked or unknown (then its tokens are refused)."""
        with self._lock:
            kept = self._checked.get(client_id)
        if kept is not None and time.monotonic() - kept[1] < self.ttl:
            return kept[0]
        with self.engine.connect() as conn:
            client = store_clients.get_client(conn, client_id)
        active = client is not None and not client.revoked
        with self._lock:
            self._checked[client_id] = (active, time.monotonic())
        return active


class _Issuers:
    """What the app trusts: its own key (for clients not revoked) and the configured
    external issuers."""

    def __init__(self, config: ApiConfig, key: SigningKey, engine: Any) -> None:
        self.config = config
        self.own = KeySet.import_key_set(key.public_jwks())  # type: ignore[arg-type]
        self.clients = _ActiveClients(engine, config.revocation_check_seconds)
        self.external = {issuer.issuer: (issuer, _Jwks(issuer.jwks_url))
                         for issuer in config.external_issuers}


class _Validator(BearerTokenValidator):  # type: ignore[misc]
    """Validates our own tokens and those of the configured external issuers (of the
    app serving the request)."""

    def authenticate_token(self, token_string: str) -> Caller | None:
        trusted: _Issuers = current_app.extensions["whoknows_issuers"]
        header, unverified = _peek(token_string)
        if header.get("alg") not in _ALGORITHMS:
            return None
        issuer = unverified.get("iss")
        try:
            if issuer == trusted.config.issuer:
                if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
                    return None
                claims = _verified(token_string, trusted.own, issuer, trusted.config.resource)
                caller = _caller(claims, claims.get("scope", ""), claims.get("audience_group"))
                return caller if trusted.clients.active(caller.client_id) else None
            if issuer in trusted.external:
                settings, jwks = trusted.external[issuer]
                keys = jwks.get(header.get("kid"))
                claims = _verified(token_string, keys, issuer, settings.audience)
                return _external_caller(claims, settings)
        except (JoseError, ValueError, requests.RequestException):
            return None
        return None

    def validate_token(self, token: Caller | None, scopes: list[str] | None,
                       request: Any) -> None:
        if token is None:
            raise InvalidTokenError(realm=self.realm)
        if scopes and not set(scopes) <= token.scopes:
            raise InsufficientScopeError()


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        head, body, _ = token.split(".")
        decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
        return decode(head), decode(body)
    except (ValueError, UnicodeDecodeError):
        return {}, {}


def _verified(token: str, keys: KeySet, issuer: str, audience: str) -> dict[str, Any]:
    decoded = jwt.decode(token, keys, algorithms=_ALGORITHMS)
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
    )
    registry.validate(decoded.claims)
    return dict(decoded.claims)


def _scopes(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def _caller(claims: dict[str, Any], scope: Any, audience: Any) -> Caller:
    try:
        group = Audience(audience)
    except ValueError as exc:
        raise ValueError("the token names no known audience") from exc
    client = str(claims.get("client_id") or claims.get("sub") or "")
    return Caller(client, frozenset(_scopes(scope)), group)


def _external_caller(claims: dict[str, Any], settings: ExternalIssuer) -> Caller:
    granted = {settings.scope_map.get(value, value)
               for name in settings.scope_claims for value in _scopes(claims.get(name))}
    audience = claims.get(settings.audience_claim, settings.default_audience)
    return _caller(claims, " ".join(sorted(granted)), audience)


class _ProblemProtector(ResourceProtector):  # type: ignore[misc]
    def raise_error_response(self, error: Any) -> None:
        from flask import abort

        if error.error == "insufficient_scope":
            response = problem(403, "the token lacks the scope this endpoint needs: "
                               + " ".join(getattr(error, "wanted", [])), title="Forbidden")
        else:
            response = problem(401, "a valid bearer access token is required "
                               "(POST /oauth/token with client credentials)",
                               headers={"WWW-Authenticate": 'Bearer realm="whoknows", '
                                        f'error="{error.error}"'})
        abort(response)

    def validate_request(self, scopes: list[str] | None, request: Any, **kwargs: Any) -> Any:
        try:
            token = super().validate_request(scopes, request, **kwargs)
        except InsufficientScopeError as error:
            error.wanted = scopes or []
            raise
        spend(lambda limits: limits.clients, token.client_id, "for this client")
        return token


require_oauth = _ProblemProtector()
require_oauth.register_token_validator(_Validator())


def current_caller() -> Caller:
    """The caller of the current request (inside a `require_oauth` view)."""
    return _current_token  # type: ignore[return-value]


#: The token endpoint's errors (RFC 6749 section 5.2): what to fix, and the field at fault.
_TOKEN_ERRORS: dict[str, tuple[str, tuple[str, ...]]] = {
    # never which of the two: that would tell a stranger which client ids exist
    "invalid_client": ("unknown client or wrong secret", ("client_id", "client_secret")),
    "unsupported_grant_type": ("grant_type: only client_credentials is supported",
                               ("grant_type",)),
    "unauthorized_client": ("this client may not use this grant_type", ("grant_type",)),
    "invalid_scope": ("scope: a scope this client does not hold", ("scope",)),
}


class _ProblemAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """The token endpoint, its errors as problem+json like every other error, keeping
    the OAuth2 `error` member (and `error_description`) that clients read."""

    def handle_error_response(self, request: Any, error: Any) -> Any:
        status, body, headers = error(self.get_error_uri(request, error))
        code = str(dict(body).get("error", "invalid_request"))
        described = str(dict(body).get("error_description") or code)
        detail, fields = _TOKEN_ERRORS.get(code, (described, ()))
        kept = {k: v for k, v in headers if k.lower() not in ("content-type",
                                                             "www-authenticate")}
        if status == 401:
            kept["WWW-Authenticate"] = f'Basic error="{code}", error_description="{detail}"'
        extra: dict[str, Any] = {"error": code, "error_description": detail}
        if fields:
            extra["errors"] = {field: [detail] for field in fields}
        return problem(status, detail, headers=kept, **extra)


def init_oauth(app: Flask, config: ApiConfig, key: SigningKey, engine: Any) -> AuthorizationServer:
    """Set up the token endpoint's server and the protector on the app."""

    def query_client(client_id: str) -> _Client | None:
        with engine.connect() as conn:
            client = store_clients.get_client(conn, client_id)
        return None if client is None or client.revoked else _Client(client)

    server = _ProblemAuthorizationServer(app, query_client=query_client,
                                         save_token=lambda token, request: None)
    server.register_grant(ClientCredentialsGrant)
    generator = _TokenGenerator(config, key)
    server.register_token_generator("default", generator)
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"client_credentials": config.token_lifetime_seconds}
    generator.expires_generator = lambda client, grant_type: config.token_lifetime_seconds
    app.extensions["whoknows_issuers"] = _Issuers(config, key, engine)
    return server
