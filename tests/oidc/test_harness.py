"""Tests of the OIDC provider harness: real tokens, verified as the API will verify them."""

from __future__ import annotations

import base64
import json
import time
import warnings
from typing import Any

import authlib.deprecate  # noqa: F401  (its import adds an "always" filter; ours must come after)
import pytest

from tests.oidc.harness import (
    DEFAULT_RESOURCE,
    OidcClient,
    OidcProvider,
    OidcProviderError,
    OidcTokenError,
    ensure_node_modules,
    oidc_provider_fixture,
)

with warnings.catch_warnings():
    # authlib >= 1.7 marks authlib.jose deprecated in favour of joserfc; it still works.
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt
    from authlib.jose.errors import BadSignatureError, InvalidClaimError

# The same fixture the API's conftest will import.
oidc_provider = oidc_provider_fixture()

CLIENTS = {
    "crm-app": ("crm-secret", "internal"),
    "community-app": ("community-secret", "external"),
}


def _b64json(part: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS, without checking the signature."""
    parts = token.split(".")
    assert len(parts) == 3, "not a compact JWS"
    return _b64json(parts[0]), _b64json(parts[1])


def verify(token: str, idp: OidcProvider, audience: str = DEFAULT_RESOURCE) -> Any:
    """Validate a token the way the API will: JWKS from jwks_uri, RS256 only, iss + aud + exp."""
    keys = JsonWebKey.import_key_set(idp.jwks())
    claims = jwt.decode(
        token,
        keys,
        claims_options={
            "iss": {"essential": True, "value": idp.issuer},
            "aud": {"essential": True, "value": audience},
            "exp": {"essential": True},
        },
    )
    claims.validate(leeway=30)
    return claims


def test_discovery(oidc_provider: OidcProvider) -> None:
    assert oidc_provider.issuer == f"http://127.0.0.1:{oidc_provider.port}"
    assert oidc_provider.discovery["issuer"] == oidc_provider.issuer
    assert oidc_provider.jwks_uri.startswith(oidc_provider.issuer + "/")
    assert "client_credentials" in oidc_provider.discovery["grant_types_supported"]
    assert {"whoknows.read", "whoknows.write", "whoknows.admin"} <= set(
        oidc_provider.discovery["scopes_supported"]
    )
    keys = oidc_provider.jwks()["keys"]
    assert [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")]
    assert "d" not in keys[0], "private key material must not be published"
    assert oidc_provider.startup_seconds < 30


@pytest.mark.parametrize("client_id", sorted(CLIENTS))
def test_token_is_rs256_jwt_with_custom_claims(oidc_provider: OidcProvider, client_id: str) -> None:
    secret, group = CLIENTS[client_id]
    before = int(time.time())
    token = oidc_provider.token(
        client_id, secret, scope="whoknows.read whoknows.write", resource=DEFAULT_RESOURCE
    )

    header, claims = unverified(token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"
    assert header["kid"] in {k["kid"] for k in oidc_provider.jwks()["keys"]}
    assert claims["iss"] == oidc_provider.issuer
    assert claims["aud"] == DEFAULT_RESOURCE
    assert claims["sub"] == client_id
    assert claims["client_id"] == client_id
    assert claims["scope"] == "whoknows.read whoknows.write"
    assert claims["roles"] == ["experts.read"]
    assert claims["audience_group"] == group
    assert claims["exp"] - claims["iat"] == 300
    assert before - 5 <= claims["iat"] <= time.time() + 5
    assert claims["jti"]

    verified = verify(token, oidc_provider)
    assert verified["audience_group"] == group
    assert verified["roles"] == ["experts.read"]


def test_tampered_token_fails_signature_check(oidc_provider: OidcProvider) -> None:
    token = oidc_provider.token_for("community-app", scope="whoknows.read")
    header_b64, payload_b64, sig = token.split(".")
    claims = _b64json(payload_b64)
    claims["audience_group"] = "internal"  # an external client trying to look internal
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        verify(f"{header_b64}.{forged_payload}.{sig}", oidc_provider)


def test_wrong_audience_is_rejected_by_validation(oidc_provider: OidcProvider) -> None:
    token = oidc_provider.token_for("crm-app")
    with pytest.raises(InvalidClaimError):
        verify(token, oidc_provider, audience="https://another.test/api")


def test_defaults_without_scope_or_resource(oidc_provider: OidcProvider) -> None:
    resp = oidc_provider.token_response("crm-app", "crm-secret", resource="")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    _, claims = unverified(body["access_token"])
    assert claims["aud"] == DEFAULT_RESOURCE  # no resource parameter: the API is the default
    assert "scope" not in claims
    verify(body["access_token"], oidc_provider)


def test_wrong_secret_gets_401(oidc_provider: OidcProvider) -> None:
    resp = oidc_provider.token_response("crm-app", "not-the-secret")
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"
    with pytest.raises(OidcTokenError) as exc:
        oidc_provider.token("community-app", "crm-secret")
    assert exc.value.status_code == 401
    assert exc.value.body["error"] == "invalid_client"


def test_unknown_client_gets_401(oidc_provider: OidcProvider) -> None:
    assert oidc_provider.token_response("nobody", "whatever").status_code == 401


def test_unknown_resource_is_refused(oidc_provider: OidcProvider) -> None:
    resp = oidc_provider.token_response(
        "crm-app", "crm-secret", resource="https://unknown.test/api"
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_target"


def test_unknown_scope_is_dropped(oidc_provider: OidcProvider) -> None:
    token = oidc_provider.token_for("crm-app", scope=["whoknows.read", "payroll.read"])
    assert unverified(token)[1]["scope"] == "whoknows.read"


def test_second_provider_custom_config_and_foreign_key() -> None:
    clients = [
        OidcClient(
            "partner-app",
            "partner-secret",
            roles=("experts.read", "experts.write"),
            audience_group="partner",
            scope="whoknows.read",
            token_endpoint_auth_method="client_secret_post",
        ),
        OidcClient("bare-app", "bare-secret"),
    ]
    resources = ["https://api.example.test", "https://other.example.test"]
    with OidcProvider(
        clients=clients,
        resources=resources,
        scopes=["whoknows.read", "whoknows.write"],
        access_token_ttl=60,
    ) as idp:
        assert idp.running
        token = idp.token_for("partner-app", scope="whoknows.read")
        header, claims = unverified(token)
        assert claims["aud"] == "https://api.example.test"
        assert claims["roles"] == ["experts.read", "experts.write"]
        assert claims["audience_group"] == "partner"
        assert claims["exp"] - claims["iat"] == 60
        verify(token, idp, audience="https://api.example.test")

        other = idp.token_for("bare-app", resource="https://other.example.test")
        _, bare = unverified(other)
        assert bare["aud"] == "https://other.example.test"
        assert bare["roles"] == []
        assert "audience_group" not in bare

        # The client's scope allow-list is enforced by the provider.
        denied = idp.token_response(
            "partner-app", "partner-secret", scope="whoknows.write", auth="post"
        )
        assert denied.status_code == 400 and denied.json()["error"] == "invalid_scope"
        # oidc-provider treats client_secret_basic and client_secret_post as interchangeable.
        assert idp.token_response("partner-app", "partner-secret", auth="basic").status_code == 200
        assert idp.token_response("partner-app", "wrong", auth="post").status_code == 401

        # A token from another IdP (another signing key) does not verify against this one's JWKS.
        with OidcProvider() as stranger:
            assert stranger.jwks()["keys"][0]["kid"] != idp.jwks()["keys"][0]["kid"]
            foreign = stranger.token_for("crm-app")
            # Unknown kid: authlib raises a plain ValueError("Key not found").
            with pytest.raises(ValueError, match="Key not found"):
                jwt.decode(foreign, JsonWebKey.import_key_set(idp.jwks()))
            # Checked against this IdP's key anyway: the signature does not match.
            with pytest.raises(BadSignatureError):
                jwt.decode(foreign, JsonWebKey.import_key(idp.jwks()["keys"][0]))
        assert not stranger.running
    assert not idp.running


def test_missing_node_gives_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("WHOKNOWS_TEST_NODE", raising=False)
    with pytest.raises(OidcProviderError, match="'node' was not found"):
        OidcProvider().start()


def test_start_twice_and_stop_idempotent(oidc_provider: OidcProvider) -> None:
    with pytest.raises(OidcProviderError, match="already started"):
        oidc_provider.start()
    idp = OidcProvider()
    idp.stop()  # never started: no-op
    with pytest.raises(OidcProviderError, match="not started"):
        idp.token("crm-app", "crm-secret")


def test_ensure_node_modules_is_idempotent() -> None:
    path = ensure_node_modules()
    assert (path / "oidc-provider" / "package.json").exists()
