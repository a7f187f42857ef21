"""GitHub App auth (service/connectors/github.py) for the GitHub Discussions connector,
against the local GitHub server's `POST /app/installations/<id>/access_tokens`: the App's
JWT verified with its public key, installation tokens that expire."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from joserfc.jwk import ECKey, RSAKey

from service import pipeline
from service.config import ConfigError, SourceConfig, load_config
from service.connectors import build_connector
from service.connectors.base import FatalSourceError, Page
from service.connectors.github_discussions import GitHubDiscussionsConnector
from service.connectors.http import HttpClient
from tests.connectors.faults import FaultPlan, Rates
from tests.connectors.github_server import App, GitHubServer
from tests.connectors.test_github_discussions import stored, sync
from tests.connectors.test_under_faults import check_sync_under_faults

APP_ID, INSTALLATION = 918273, 46151
KEY_ENV = "OCTO_GITHUB_APP_KEY"
Services = pipeline.Services


@pytest.fixture(scope="module")
def app_key() -> RSAKey:
    return RSAKey.generate_key(2048, private=True)


@pytest.fixture(scope="module")
def pem(app_key: RSAKey) -> str:
    return app_key.as_pem(private=True).decode()


def serve(app_key: RSAKey, copies: int = 1, token_seconds: float = 3600.0) -> GitHubServer:
    server = GitHubServer.scaled(copies) if copies > 1 else GitHubServer()
    server.app = App(APP_ID, INSTALLATION, RSAKey.import_key(app_key.as_pem()), token_seconds)
    return server


@pytest.fixture
def repo(app_key: RSAKey) -> Iterator[GitHubServer]:
    with serve(app_key) as server:
        yield server


def source(server: GitHubServer, **options: Any) -> SourceConfig:
    return SourceConfig(
        id="forum",
        kind="github_discussions",
        audience="external",
        url=server.url,
        credentials_env=KEY_ENV,
        options={
            "repository": "octo-org/octo-repo",
            "per_page": 2,
            "app_id": APP_ID,
            "installation_id": INSTALLATION,
            **options,
        },
    )


def connect(server: GitHubServer, key: str, **options: Any) -> GitHubDiscussionsConnector:
    client = HttpClient(timeout=0.4, backoff_base=0.01, backoff_max=0.2)
    return GitHubDiscussionsConnector(source(server, **options), client, key)


def ids(pages: list[Page]) -> set[str]:
    return {record.id for page in pages for record in page.records}


def test_a_sync_with_app_auth_stores_what_the_server_holds(
    repo: GitHubServer, pem: str, services: Services
) -> None:
    started = int(time.time())

    report = sync(services, connect(repo, pem))

    assert report.failed is None
    assert set(stored(services)) == set(repo.expected())
    assert repo.refused == 0  # the key itself never went out as a token
    [claims] = repo.minted  # one installation token served the whole run
    assert claims["iss"] == APP_ID
    assert started - 62 <= claims["iat"] <= started - 58  # backdated 60 s
    assert 0 < claims["exp"] - claims["iat"] <= 600


def test_on_github_enterprise_server_tokens_come_from_its_rest_root(
    repo: GitHubServer, pem: str
) -> None:
    config = msgspec.structs.replace(source(repo), url=repo.origin + "/api/graphql")
    connector = GitHubDiscussionsConnector(config, HttpClient(), pem)

    assert ids(list(connector.pages(None))) == set(repo.expected())
    assert repo.token_paths == [f"/api/v3/app/installations/{INSTALLATION}/access_tokens"]


def test_a_token_about_to_expire_mid_sync_is_replaced_before_github_refuses_it(
    app_key: RSAKey, pem: str
) -> None:
    with serve(app_key, token_seconds=2.0) as server:
        connector = connect(server, pem)
        pages = connector.pages(None)
        first = next(pages)
        [expiry] = server._issued.values()
        time.sleep(max(0.0, expiry - time.time()) + 0.05)  # a long run outlives its token

        rest = list(pages)

        assert ids([first, *rest]) == set(server.expected())
        assert len(server.minted) == 2 and server.refused == 0
        assert connector.app is not None and connector.app.minted == 2


def test_a_token_github_stops_taking_mid_sync_is_replaced_after_one_refusal(
    repo: GitHubServer, pem: str
) -> None:
    pages = connect(repo, pem).pages(None)
    first = next(pages)
    repo.revoke_tokens()  # revoked, or this machine's clock runs slow

    rest = list(pages)

    assert ids([first, *rest]) == set(repo.expected())
    assert repo.refused == 1 and len(repo.minted) == 2


def test_a_sync_with_app_auth_under_faults_ends_exact(
    app_key: RSAKey, pem: str, open_store: Callable[[str], Services]
) -> None:
    with serve(app_key, copies=8) as server:

        def attach(plan: FaultPlan | None) -> None:
            server.plan = plan

        plan = FaultPlan(seed=5, rates=Rates(error=0.25, throttle=0.05, repeat=0.0))
        check_sync_under_faults(
            plan, attach, lambda: connect(server, pem), open_store, "forum", {"error", "throttle"}
        )
    # every run minted its token, through the faults on the token route too
    assert any(drawn.route == "/app/installations" and drawn.kind for drawn in plan.log)
    assert len(server.minted) == 3 and server.refused == 0


def _ec_key() -> str:
    return ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (None, "unset or empty"),
        ("ghs_notakey0but0a0token", "not a PEM RSA private key"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow==\n-----END RSA PRIVATE KEY-----\n", "not a PEM"),
        ("public", "holds a public key"),
        ("ec", "not a PEM RSA private key"),
    ],
)
def test_a_bad_private_key_is_refused_naming_credentials_env(
    repo: GitHubServer, app_key: RSAKey, key: str | None, problem: str
) -> None:
    if key == "public":
        key = app_key.as_pem(private=False).decode()
    elif key == "ec":
        key = _ec_key()

    with pytest.raises(ConfigError, match=rf"credentials_env \({KEY_ENV}\): .*{problem}") as raised:
        connect(repo, key)  # type: ignore[arg-type]

    assert repo.requests == [] and repo.minted == []
    assert "MII" not in str(raised.value)  # no part of the key in the message


def test_a_key_github_does_not_take_for_the_app_is_fatal_naming_what_to_check(
    repo: GitHubServer,
) -> None:
    stranger = RSAKey.generate_key(2048, private=True).as_pem(private=True).decode()

    with pytest.raises(FatalSourceError, match=r"HTTP 401\): options\.app_id .* credentials_env"):
        list(connect(repo, stranger).pages(None))

    assert repo.requests == []  # no GraphQL query went out


def test_an_unknown_installation_is_fatal_naming_the_option(repo: GitHubServer, pem: str) -> None:
    with pytest.raises(FatalSourceError, match="options.installation_id"):
        list(connect(repo, pem, installation_id=1).pages(None))
    assert repo.requests == []


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"installation_id": None}, "options.installation_id: required with options.app_id"),
        ({"app_id": None}, "options.app_id: required with options.installation_id"),
        ({"installation_id": "forty-six"}, "options.installation_id: must be a positive"),
        ({"app_id": 0}, "options.app_id: must be a positive"),
        ({"app_id": "Iv23 li"}, "options.app_id: a number, or the App's client id"),
    ],
)
def test_bad_app_options_are_refused_naming_the_key(
    repo: GitHubServer, pem: str, options: dict[str, Any], key: str
) -> None:
    config = source(repo, **options)
    config = msgspec.structs.replace(
        config, options={k: v for k, v in config.options.items() if v is not None}
    )
    with pytest.raises(ConfigError, match=key):
        GitHubDiscussionsConnector(config, credentials=pem)


def test_the_readme_app_example_loads_and_syncs_with_a_one_line_key(
    repo: GitHubServer, pem: str, tmp_path: Path
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    section = readme.split("### GitHub Discussions", 1)[1].split("\n### ", 1)[0]
    example = section.split("```toml\n")[2].split("```", 1)[0]
    config_file = tmp_path / "whoknows.toml"
    config_file.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/w.db"\n\n{example}')
    one_line = pem.strip().replace("\n", "\\n")  # as an env file or a CI secret holds it

    config = load_config(config_file, environ={KEY_ENV: one_line})
    configured = config.source("octo-discussions")
    assert configured is not None and configured.options["app_id"] == APP_ID
    assert configured.options["installation_id"] == INSTALLATION
    local = msgspec.structs.replace(configured, url=repo.url)  # the same source, served here
    connector = build_connector(local, config.secrets.get("octo-discussions"))

    assert ids(list(connector.pages(None))) == set(repo.expected())
    assert len(repo.minted) == 1
