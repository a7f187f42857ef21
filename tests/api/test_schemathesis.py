"""Property-based contract test: schemathesis generates requests for every operation in
openapi.yaml (valid and invalid ones) and sends them to the live app with a token that
holds every scope; no answer may be a 5xx, and every answer must be what the contract
documents (status code, content type, headers, body schema)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service import pipeline
from service.api import create_app
from service.api.scopes import ALL_SCOPES
from service.config import load_config
from service.store import clients as store_clients
from tests.api.conftest import _load
from tests.conftest import CONFIG, NOW

CONTRACT = Path(__file__).parents[2] / "openapi.yaml"
# generated cases per operation, on top of the coverage phase's boundary cases; for a
# deeper run: WHOKNOWS_SCHEMATHESIS_EXAMPLES=500 pytest tests/api/test_schemathesis.py
MAX_EXAMPLES = int(os.environ.get("WHOKNOWS_SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """A fresh app for this module: the erasures and links it makes stay here."""
    folder = tmp_path_factory.mktemp("schemathesis")
    config_file = folder / "whoknows.toml"
    config_file.write_text(CONFIG.format(db=folder / "whoknows.db"))
    # no rate limits (token and per-IP badge): the generated cases must reach the views,
    # not a 429
    config = load_config(config_file, environ={"WHOKNOWS_API_RATE_LIMIT_PER_MINUTE": "0",
                                               "WHOKNOWS_API_BADGE_RATE_LIMIT_PER_MINUTE": "0"})
    assert config.api.rate_limit_per_minute == config.api.badge_rate_limit_per_minute == 0
    services = pipeline.open_services(config, clock=lambda: NOW)
    _load(services)
    yield create_app({"SERVICES": services, "TESTING": True})
    services.engine.dispose()


@pytest.fixture(scope="module")
def auth_headers(live_app: Flask) -> dict[str, str]:
    """A bearer token with every scope, for an internal client, got the real way."""
    services = live_app.extensions["whoknows"]
    with services.engine.begin() as conn:
        client_id, secret = store_clients.create_client(conn, "schemathesis", list(ALL_SCOPES),
                                                        "internal")
    response = live_app.test_client().post("/oauth/token",
                                           data={"grant_type": "client_credentials"},
                                           auth=(client_id, secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


schema = schemathesis.openapi.from_path(CONTRACT)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_the_contract(case: schemathesis.Case, live_app: Flask,
                                            auth_headers: dict[str, str]) -> None:
    """Valid and invalid requests alike: never a 5xx, always a documented answer."""
    case.call_and_validate(headers=auth_headers, checks=CHECKS, app=live_app)

