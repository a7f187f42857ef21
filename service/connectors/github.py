"""What GitHub's APIs ask of every GitHub connector: authenticating as a GitHub App
installation, and reading the secondary rate limit.

App auth, as GitHub's "Generating an installation access token for a GitHub App" has it:

1. a JWT signed RS256 with the App's private key: `iat` 60 s in the past (clock drift),
   `exp` 9 minutes ahead (GitHub refuses more than 10 from its own clock), `iss` the App
   id (or its client id);
2. `POST <REST root>/app/installations/<installation id>/access_tokens` with that JWT as
   bearer answers 201 `{"token": "ghs_…", "expires_at": "2024-06-01T10:00:00Z", …}`: an
   installation token, sent as a bearer on every API call until it expires (an hour).

`InstallationAuth.headers()` gives the `Authorization` header, first minting a token when
none is held or the held one has less than a tenth of its life (at most `_MARGIN` s) left;
`expire()` drops it (a 401 on a token thought good: revoked, or the clocks disagree) so
the next call mints another. The exchange goes through the connector's `HttpClient` (its
retries, budget and throttles); a refused JWT or an unknown installation is a
`FatalSourceError` that says which setting to check. The REST root comes from the GraphQL
endpoint: `https://api.github.com/graphql` → `https://api.github.com`,
`https://<host>/api/graphql` (GitHub Enterprise Server) → `https://<host>/api/v3`.

The App's private key is the source's credentials (the PEM file GitHub gives, in the
variable `credentials_env` names; `\\n` escapes are read as line breaks). A value that is
not an RSA private key is a `ConfigError` naming `credentials_env`, raised before any
request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from service.config import ConfigError, SourceConfig
from service.connectors.base import ConnectorError, FatalSourceError, option_error
from service.connectors.http import HttpClient, parse_retry_after

__all__ = ["InstallationAuth", "app_auth", "parse_time", "secondary_limit"]

_MARGIN = timedelta(minutes=5)  # the most of a token's life given up to refresh it early
_BACKDATE = 60  # seconds `iat` is set back
_LIFETIME = 9 * 60  # seconds the JWT is good for (GitHub: at most 10 minutes)
_REST_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires: datetime
    refresh_at: datetime


class InstallationAuth:
    """Installation tokens for one App installation, minted through `client` (see the
    module docstring). `clock` tells the time the expiry is judged by."""

    def __init__(
        self,
        *,
        app_id: int | str,
        installation_id: int,
        key: RSAKey,
        rest_url: str,
        client: HttpClient,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        key_name: str = "credentials_env",
    ) -> None:
        self.app_id = app_id
        self.installation_id = installation_id
        self._key = key
        self._url = f"{rest_url.rstrip('/')}/app/installations/{installation_id}/access_tokens"
        self._client = client
        self._clock = clock
        self._key_name = key_name
        self._token: _Token | None = None
        self.minted = 0  # installation tokens minted so far

    def headers(self) -> dict[str, str]:
        """The `Authorization` header with a live installation token, minting one first
        when needed. Raises `FatalSourceError` when GitHub refuses the JWT or does not
        know the installation, `ConnectorError` for an answer without a token, and what
        `HttpClient.post_json` raises."""
        if self._token is None or self._clock() >= self._token.refresh_at:
            self._token = self._mint()
        return {"Authorization": f"Bearer {self._token.value}"}

    def expire(self) -> None:
        """Forget the held token: the next `headers()` mints another."""
        self._token = None

    def app_jwt(self) -> str:
        """The App's JWT, good for the next nine minutes."""
        now = int(time.time())
        claims = {"iat": now - _BACKDATE, "exp": now + _LIFETIME, "iss": self.app_id}
        return jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, self._key)

    def _mint(self) -> _Token:
        headers = {**_REST_HEADERS, "Authorization": f"Bearer {self.app_jwt()}"}
        try:
            answer, _ = self._client.post_json(
                self._url, {}, headers=headers, throttled=secondary_limit
            )
        except FatalSourceError as exc:
            raise FatalSourceError(self._refusal(exc), exc.status) from exc
        token = answer.get("token") if isinstance(answer, dict) else None
        expires = parse_time(answer.get("expires_at")) if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token or expires is None:
            raise ConnectorError(
                "the installation token answer has no token or no readable expires_at"
            )
        now = self._clock()
        margin = min(_MARGIN, max(timedelta(0), expires - now) / 10)
        self.minted += 1
        return _Token(token, expires, expires - margin)

    def _refusal(self, exc: FatalSourceError) -> str:
        who = f"App {self.app_id}, installation {self.installation_id}"
        if exc.status == 401:
            return (
                f"GitHub refused the App's JWT ({who}: HTTP 401): options.app_id is not the "
                f"App of the private key in {self._key_name}, the key was revoked or "
                "regenerated, or this machine's clock is off"
            )
        if exc.status == 404:
            return (
                f"GitHub knows no installation {self.installation_id} of App {self.app_id} "
                "(HTTP 404): check options.installation_id (the number in the installation's "
                "settings URL)"
            )
        if exc.status == 403:
            return f"GitHub refuses an installation token for {who} (HTTP 403: suspended?)"
        return f"minting an installation token for {who}: {exc}"


def app_auth(
    source: SourceConfig,
    credentials: str | None,
    client: HttpClient,
    clock: Callable[[], datetime],
) -> InstallationAuth | None:
    """The App auth `source.options` asks for (`app_id` with `installation_id`), or None
    when they name no App (the credentials are then a token). Raises `ConfigError`
    naming the option, or `credentials_env` for a missing or unreadable private key."""
    app_id, installation = source.options.get("app_id"), source.options.get("installation_id")
    if app_id is None and installation is None:
        return None
    if app_id is None:
        raise option_error(source, "app_id", "required with options.installation_id")
    if installation is None:
        raise option_error(source, "installation_id", "required with options.app_id")
    return InstallationAuth(
        app_id=_app_id(source, app_id),
        installation_id=_positive(source, "installation_id", installation),
        key=_private_key(source, credentials),
        rest_url=_rest_url(source),
        client=client,
        clock=clock,
        key_name=_key_name(source),
    )


def _app_id(source: SourceConfig, value: Any) -> int | str:
    if isinstance(value, str) and value.strip() and not value.strip().isdigit():
        if any(c.isspace() for c in value.strip()):
            raise option_error(source, "app_id", "a number, or the App's client id")
        return value.strip()  # the client id ("Iv23li…"), which GitHub also takes as iss
    return _positive(source, "app_id", value)


def _positive(source: SourceConfig, key: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise option_error(source, key, "must be a positive number")
    return value


def _key_name(source: SourceConfig) -> str:
    named = source.credentials_env
    return f"credentials_env ({named})" if named else "credentials_env"


def _private_key(source: SourceConfig, credentials: str | None) -> RSAKey:
    where = f"source {source.id!r}: {_key_name(source)}"
    if not credentials or not credentials.strip():
        raise ConfigError(
            f"{where}: must hold the GitHub App's private key (PEM) when options.app_id is "
            "set; it is unset or empty"
        )
    pem = credentials.strip()
    if "\n" not in pem:
        pem = pem.replace("\\n", "\n")  # a PEM put on one line in an env file
    try:
        key = RSAKey.import_key(pem)
    except (ValueError, TypeError, JoseError) as exc:
        raise ConfigError(
            f"{where}: not a PEM RSA private key (the .pem file GitHub generates for the "
            f"App): {type(exc).__name__}"
        ) from exc
    if not key.is_private:
        raise ConfigError(f"{where}: holds a public key; the App's private key is needed")
    return key


def _rest_url(source: SourceConfig) -> str:
    url = (source.url or "").rstrip("/")
    if url.endswith("/api/graphql"):
        return url.removesuffix("/graphql") + "/v3"
    if url.endswith("/graphql"):
        return url.removesuffix("/graphql")
    raise ConfigError(
        f"source {source.id!r}: url: App auth needs the GraphQL endpoint "
        "(https://api.github.com/graphql, or https://<host>/api/graphql) to find the REST API"
    )


def secondary_limit(response: requests.Response) -> float | None:
    """The seconds a 403 or 429 asks to wait when it is a rate limit (GitHub's secondary
    limit names `Retry-After`; a spent primary limit `X-RateLimit-Reset`); None otherwise
    (a 403 is then fatal, a 429 backed off)."""
    if response.status_code not in (403, 429):
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is not None:
        return retry_after
    if response.headers.get("X-RateLimit-Remaining") == "0":
        reset = response.headers.get("X-RateLimit-Reset", "")
        return max(1.0, int(reset) - time.time()) if reset.isdigit() else 60.0
    return None


def parse_time(value: Any) -> datetime | None:
    """GitHub's ISO 8601 time ("2024-06-01T10:00:00Z") in UTC, or None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
