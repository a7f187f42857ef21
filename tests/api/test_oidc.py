"""Access tokens from an enterprise OpenID Connect provider (a real oidc-provider started
by the tests) are accepted, mapped to our scopes and audience, and checked like ours."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from service import pipeline
from service.api import create_app
from service.config import ExternalIssuer
from tests.api.conftest import MARKER, Api, ContractClient, _load
from tests.oidc.harness import OidcProvider, oidc_provider_fixture

oidc_provider = oidc_provider_fixture()


@pytest.fixture
def enterprise_api(services: pipeline.Services, oidc_provider: OidcProvider) -> Api:
    _load(services)
    issuer = ExternalIssuer(
        issuer=oidc_provider.issuer, jwks_url=oidc_provider.jwks_uri,
        audience=oidc_provider.resource, scope_claims=["scope", "roles"],
        scope_map={"experts.read": "experts:read", "whoknows.read": "profiles:read"},
    )
    api_config = msgspec.structs.replace(services.config.api, external_issuers=[issuer])
    services.config = msgspec.structs.replace(services.config, api=api_config)
    app = create_app({"SERVICES": services, "TESTING": True})
    app.test_client_class = ContractClient
    return Api(app, app.test_client(), services)


def test_an_idp_token_reaches_the_experts_with_its_audience(
    enterprise_api: Api, oidc_provider: OidcProvider
) -> None:
    internal = oidc_provider.token("crm-app", "crm-secret", scope="whoknows.read")
    response = enterprise_api.get("/v1/experts", internal, q=MARKER)
    assert response.status_code == 200
    assert MARKER in response.get_data(as_text=True)
    external = oidc_provider.token("community-app", "community-secret")
    response = enterprise_api.get("/v1/experts", external, q=MARKER)
    assert response.status_code == 200
    assert MARKER not in response.get_data(as_text=True)


def test_idp_scopes_are_mapped_and_enforced(
    enterprise_api: Api, oidc_provider: OidcProvider
) -> None:
    without_read = oidc_provider.token("community-app", "community-secret")
    assert enterprise_api.get("/v1/people/1", without_read).status_code == 403
    with_read = oidc_provider.token("crm-app", "crm-secret", scope="whoknows.read")
    assert enterprise_api.get("/v1/people", with_read,
                              email="dana@corp.example").status_code == 200


def test_an_idp_token_for_another_api_is_rejected(tmp_path: Path, services: pipeline.Services
                                                  ) -> None:
    other = "https://other.test/api"
    with OidcProvider(resources=["https://whoknows.test/api", other]) as provider:
        issuer = ExternalIssuer(issuer=provider.issuer, jwks_url=provider.jwks_uri,
                                audience="https://whoknows.test/api",
                                scope_map={"experts.read": "experts:read"})
        services.config = msgspec.structs.replace(services.config, api=msgspec.structs.replace(
            services.config.api, external_issuers=[issuer]))
        app = create_app({"SERVICES": services, "TESTING": True})
        api = Api(app, app.test_client(), services)
        right = provider.token("crm-app", "crm-secret")
        wrong = provider.token("crm-app", "crm-secret", resource=other)
        assert api.get("/v1/experts", right, q="claims").status_code == 200
        assert api.get("/v1/experts", wrong, q="claims").status_code == 401
