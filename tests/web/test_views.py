"""The page's HTML answers without a browser: bad input named, headers, safe links."""

from __future__ import annotations

from typing import Any

import pytest

from service.api import create_app
from service.config import ConfigError, load_config
from tests.web.conftest import HOSTILE_WORD


@pytest.fixture(scope="module")
def client(demo_services: Any) -> Any:
    return create_app({"SERVICES": demo_services[0]}).test_client()


@pytest.mark.parametrize(("query", "field"), [
    ("q=claims&since=yesterday", "since"),
    ("q=claims&community=everyone", "community"),
    ("q=claims&source=no-such-forum", "source"),
    ("q=claims&page=0", "page"),
    ("q=" + "x" * 201, "q"),
])
def test_bad_input_is_a_400_page_naming_the_field(client: Any, query: str, field: str) -> None:
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    assert response.content_type.startswith("text/html")
    assert f'class="error">{field}: ' in response.get_data(as_text=True)


def test_an_unknown_person_is_a_404_page_saying_no_more(client: Any) -> None:
    response = client.get("/people/987654")
    assert response.status_code == 404
    assert "Nobody with contributions has the id 987654." in response.get_data(as_text=True)


def test_pages_forbid_inline_script_framing_and_caching(client: Any) -> None:
    response = client.get("/?q=claims")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_javascript_url_from_a_source_is_never_a_link(client: Any) -> None:
    html = client.get(f"/?q={HOSTILE_WORD}").get_data(as_text=True)
    assert HOSTILE_WORD in html and "javascript:" not in html
    assert "<script>alert" not in html


def test_filters_that_exclude_every_source_find_nobody(client: Any) -> None:
    html = client.get("/?q=claims&source=customer-forum&community=internal").get_data(
        as_text=True)
    assert 'class="card"' not in html and "Nobody found" in html


def test_a_misspelled_query_offers_the_corrected_one(client: Any) -> None:
    html = client.get("/?q=medcal+insurance+claims").get_data(as_text=True)
    assert ('Did you mean <a href="/?q=medical+insurance+claims">medical insurance claims</a>?'
            in html)
    assert "Did you mean" not in client.get("/?q=medical+insurance+claims").get_data(
        as_text=True)


def test_web_sign_in_settings_are_validated_naming_the_key(tmp_path: Any) -> None:
    config = tmp_path / "whoknows.toml"
    config.write_text('[web]\noidc_metadata_url = "https://idp.example/.well-known/x"\n')
    with pytest.raises(ConfigError, match="web.client_id"):
        load_config(config, environ={})
    config.write_text('[web]\noidc_metadata_url = "idp.example"\nclient_id = "x"\n')
    with pytest.raises(ConfigError, match="web.oidc_metadata_url"):
        load_config(config, environ={})
    config.write_text('[web]\noidc_metadata_url = "https://idp.example/x"\nclient_id = "x"\n'
                      'session_secret_env = "S"\nclient_secret_env = "C"\n')
    loaded = load_config(config, environ={"S": "key", "C": "secret"})
    assert loaded.web_secrets == {"client_secret": "secret", "session_secret": "key"}
