"""Tokens: issued by client credentials, and every bad token rejected with 401."""

from __future__ import annotations

import base64
import json
import time

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from service.api.scopes import EXPERTS_READ, PROFILES_READ
from tests.api.conftest import Api


def _sign(api: Api, claims: dict, key: RSAKey | None = None,  # type: ignore[type-arg]
          typ: str = "at+jwt") -> str:
    own = api.app.extensions["whoknows_signing_key"]
    if key is not None:  # a stranger's key, under no kid we know
        return jwt.encode({"alg": "RS256", "typ": typ}, claims, KeySet([key]))
    return jwt.encode({"alg": "RS256", "kid": own.kid, "typ": typ}, claims, KeySet([own.key]))


def _claims(api: Api, **overrides: object) -> dict:  # type: ignore[type-arg]
    """The claims of a token of ours for a client that exists and is not revoked."""
    from service.store import clients as store_clients

    with api.services.engine.begin() as conn:
        client_id, _ = store_clients.create_client(conn, "c", [EXPERTS_READ], "internal")
    config = api.services.config.api
    now = int(time.time())
    return {"iss": config.issuer, "aud": config.resource, "sub": client_id,
            "client_id": client_id, "iat": now, "exp": now + 60, "jti": "x",
            "scope": EXPERTS_READ, "audience_group": "internal", **overrides}


def test_client_credentials_give_a_working_rs256_token(api: Api) -> None:
    token = api.token([EXPERTS_READ], "external")
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256"
    keys = api.client.get("/.well-known/jwks.json").get_json()
    decoded = jwt.decode(token, KeySet.import_key_set(keys))
    assert decoded.claims["audience_group"] == "external"
    assert api.get("/v1/experts", token, q="claims").status_code == 200


def test_a_wrong_secret_or_an_unknown_client_is_invalid_client_in_problem_json(
        api: Api) -> None:
    from service.store import clients as store_clients

    with api.services.engine.begin() as conn:
        client_id, _ = store_clients.create_client(conn, "x", [EXPERTS_READ], "internal")
    answers = [api.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(who, "nope"))
               for who in (client_id, "wk_nobody")]
    for response in answers:
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        body = response.get_json()
        assert body["error"] == "invalid_client"
        assert body["detail"] == "unknown client or wrong secret"
        assert set(body["errors"]) == {"client_id", "client_secret"}
        assert "client_secret_basic" not in response.get_data(as_text=True)
        assert response.headers["WWW-Authenticate"].startswith('Basic error="invalid_client"')
        assert "access_token" not in body
    # the same answer whether the client exists or not
    assert answers[0].get_json() == answers[1].get_json()


def test_an_unsupported_grant_type_is_problem_json_naming_the_field(api: Api) -> None:
    response = api.client.post("/oauth/token", data={"grant_type": "password"})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert (body["status"], body["error"]) == (400, "unsupported_grant_type")
    assert list(body["errors"]) == ["grant_type"]


def test_no_token_is_401_with_www_authenticate(api: Api) -> None:
    response = api.get("/v1/experts", None, q="claims")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.mimetype == "application/problem+json"


def test_bad_tokens_are_rejected(api: Api) -> None:
    stranger = RSAKey.generate_key(2048, private=True)
    bad = {
        "expired": _sign(api, _claims(api, exp=int(time.time()) - 10)),
        "wrong key": _sign(api, _claims(api), key=stranger),
        "wrong issuer": _sign(api, _claims(api, iss="https://evil.example")),
        "wrong audience": _sign(api, _claims(api, aud="someone-else")),
        "garbage": "not.a.token",
        # RFC 9068: an access token of ours says typ at+jwt; a plain JWT with our key is not one
        "typ JWT": _sign(api, _claims(api), typ="JWT"),
        "no typ": jwt.encode({"alg": "RS256", "kid": api.app.extensions[
            "whoknows_signing_key"].kid}, _claims(api), KeySet([api.app.extensions[
                "whoknows_signing_key"].key])),
        "unknown client": _sign(api, _claims(api, sub="wk_nobody", client_id="wk_nobody")),
    }
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(_claims(api)).encode()).rstrip(b"=").decode()
    bad["alg none"] = f"{header}.{body}."
    good = _sign(api, _claims(api))
    assert api.get("/v1/experts", good, q="claims").status_code == 200
    for name, token in bad.items():
        response = api.get("/v1/experts", token, q="claims")
        assert response.status_code == 401, name


def test_a_missing_scope_is_403_naming_it(api: Api) -> None:
    token = api.token([PROFILES_READ])
    response = api.get("/v1/experts", token, q="claims")
    assert response.status_code == 403
    assert EXPERTS_READ in response.get_json()["detail"]


def test_a_revoked_client_gets_no_new_token(api: Api) -> None:
    from service.store import clients as store_clients

    with api.services.engine.begin() as conn:
        client_id, secret = store_clients.create_client(conn, "x", [EXPERTS_READ], "internal")
        store_clients.revoke_client(conn, client_id)
    response = api.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=(client_id, secret))
    assert response.status_code in (400, 401)


def test_a_client_over_its_rate_gets_429_with_retry_after(services) -> None:  # type: ignore[no-untyped-def]
    import msgspec

    from service.api import create_app
    from tests.api.conftest import ContractClient

    services.config = msgspec.structs.replace(services.config, api=msgspec.structs.replace(
        services.config.api, rate_limit_per_minute=3))
    app = create_app({"SERVICES": services, "TESTING": True})
    app.test_client_class = ContractClient
    api = Api(app, app.test_client(), services)
    token = api.token([EXPERTS_READ])
    statuses = [api.get("/v1/experts", token, q="claims").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.get("/v1/experts", token, q="claims")
    assert int(limited.headers["Retry-After"]) >= 1
    other = api.token([EXPERTS_READ])  # another client keeps its own budget
    assert api.get("/v1/experts", other, q="claims").status_code == 200


def test_a_revoked_clients_token_is_refused_by_another_process_within_the_delay(
        api: Api, replica, config_file) -> None:  # type: ignore[no-untyped-def]
    """`api.revocation_check_seconds` (here 1) after `whoknows clients revoke`, a token
    issued before is refused by another API process, long before it expires."""
    from click.testing import CliRunner

    from service.cli import cli
    from service.store import clients as store_clients

    delay = 1.0
    there = replica({"WHOKNOWS_API_REVOCATION_CHECK_SECONDS": str(delay)})
    with api.services.engine.begin() as conn:
        client_id, secret = store_clients.create_client(conn, "crm", [EXPERTS_READ],
                                                        "internal")
    token = api.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                            auth=(client_id, secret)).get_json()["access_token"]
    assert there.get("/v1/experts", token, q="claims").status_code == 200
    revoking = CliRunner().invoke(cli, ["--config", str(config_file), "clients", "revoke",
                                        client_id])
    revoked = time.monotonic()
    assert revoking.exit_code == 0, revoking.output
    assert revoking.output == f"revoked {client_id}: its tokens are refused within 5 s\n"
    while (answer := there.get("/v1/experts", token, q="claims")).status_code == 200:
        assert time.monotonic() - revoked < delay + 2, "still accepted past the delay"
        time.sleep(0.05)
    refused_after = time.monotonic() - revoked
    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert refused_after < delay + 2
    # the token is not expired: only the revocation refuses it
    assert jwt.decode(token, KeySet.import_key_set(api.client.get(
        "/.well-known/jwks.json").get_json())).claims["exp"] > time.time() + 60
