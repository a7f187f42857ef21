"""Start and stop a real OpenID Connect provider (panva's oidc-provider on Node.js) for tests.

The provider plays an enterprise IdP (Azure AD / Okta / Keycloak): clients obtain access
tokens with a real client_credentials request; tokens for the API resource are RS256 JWTs
(header typ "at+jwt") signed with a key the provider generates at start-up and serves at
its jwks_uri.

Use from a conftest::

    from tests.oidc.harness import oidc_provider_fixture

    oidc_provider = oidc_provider_fixture()          # session-scoped fixture named "oidc_provider"

    def test_x(oidc_provider):
        token = oidc_provider.token("crm-app", "crm-secret", scope="whoknows.read")

or directly::

    with OidcProvider() as idp:
        idp.token_for("community-app")
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

OIDC_DIR = Path(__file__).resolve().parent
PROVIDER_SCRIPT = OIDC_DIR / "provider.mjs"

DEFAULT_RESOURCE = "https://whoknows.test/api"
DEFAULT_SCOPES: tuple[str, ...] = ("whoknows.read", "whoknows.write", "whoknows.admin")
DEFAULT_ACCESS_TOKEN_TTL = 300
STARTUP_TIMEOUT = 30.0
NPM_TIMEOUT = 600.0


class OidcProviderError(RuntimeError):
    """The provider could not be installed, started or queried."""


class OidcTokenError(OidcProviderError):
    """The token endpoint refused a request (the response is attached)."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        try:
            self.body: dict[str, Any] = response.json()
        except ValueError:
            self.body = {"raw": response.text}
        super().__init__(f"token endpoint answered {response.status_code}: {self.body}")


@dataclass(frozen=True)
class OidcClient:
    """A client registered at the provider (client_credentials grant only)."""

    client_id: str
    client_secret: str
    roles: tuple[str, ...] = ()
    audience_group: str | None = None
    # Space-separated allow-list of API scopes; None lets the client ask for any of them.
    scope: str | None = None
    token_endpoint_auth_method: str = "client_secret_basic"
    # An authorization-code client (a web sign-in) names its grants and redirect URIs; the
    # provider then also serves its built-in login and consent pages. Empty: client
    # credentials only.
    grant_types: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "roles": list(self.roles),
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
        }
        if self.audience_group is not None:
            data["audience_group"] = self.audience_group
        if self.scope is not None:
            data["scope"] = self.scope
        if self.grant_types:
            data["grant_types"] = list(self.grant_types)
        if self.redirect_uris:
            data["redirect_uris"] = list(self.redirect_uris)
        return data


DEFAULT_CLIENTS: tuple[OidcClient, ...] = (
    OidcClient("crm-app", "crm-secret", roles=("experts.read",), audience_group="internal"),
    OidcClient(
        "community-app", "community-secret", roles=("experts.read",), audience_group="external"
    ),
)


def _which(name: str, override_env: str) -> str:
    path = os.environ.get(override_env) or shutil.which(name)
    if not path:
        raise OidcProviderError(
            f"'{name}' was not found on PATH (set {override_env} to its path); the OIDC test "
            "provider needs Node.js >= 18 and npm (Debian: apt-get install nodejs npm)"
        )
    return path


def ensure_node_modules(
    oidc_dir: Path = OIDC_DIR, timeout: float = NPM_TIMEOUT, package: str = "oidc-provider"
) -> Path:
    """Install ``oidc_dir``/node_modules (``npm ci``) unless ``package`` is already there.

    Needs the npm registry the first time (a fresh CI machine); later calls are free.
    A file lock keeps parallel test processes from installing at the same time. Other
    test folders with a package.json (tests/web/a11y for axe-core) pass their own
    folder and package.
    """
    node_modules = oidc_dir / "node_modules"
    marker = node_modules / package / "package.json"
    if marker.exists():
        return node_modules
    npm = _which("npm", "WHOKNOWS_TEST_NPM")
    lock_path = Path(tempfile.gettempdir()) / f"whoknows-oidc-npm-{os.getuid()}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if marker.exists():
                return node_modules
            has_lock = (oidc_dir / "package-lock.json").exists()
            cmd = [npm, "ci" if has_lock else "install", "--no-audit", "--no-fund"]
            try:
                proc = subprocess.run(
                    cmd,
                    cwd=oidc_dir,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired as exc:
                raise OidcProviderError(
                    f"{' '.join(cmd)} in {oidc_dir} took over {timeout:.0f}s"
                ) from exc
            if proc.returncode != 0 or not marker.exists():
                raise OidcProviderError(
                    f"{' '.join(cmd)} in {oidc_dir} failed (exit {proc.returncode}):\n"
                    f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
                )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return node_modules


@dataclass
class OidcProvider:
    """A running oidc-provider subprocess. ``start()``/``stop()`` or use as a context manager."""

    clients: Sequence[OidcClient] = DEFAULT_CLIENTS
    resources: Sequence[str] = (DEFAULT_RESOURCE,)
    scopes: Sequence[str] = DEFAULT_SCOPES
    access_token_ttl: int = DEFAULT_ACCESS_TOKEN_TTL
    port: int = 0
    startup_timeout: float = STARTUP_TIMEOUT
    install: bool = True  # run ensure_node_modules() on start()

    issuer: str = field(init=False, default="")
    discovery: dict[str, Any] = field(init=False, default_factory=dict)
    startup_seconds: float = field(init=False, default=0.0)
    _proc: subprocess.Popen[bytes] | None = field(init=False, default=None, repr=False)
    _stderr: Any = field(init=False, default=None, repr=False)
    _session: requests.Session | None = field(init=False, default=None, repr=False)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> OidcProvider:
        if self._proc is not None:
            raise OidcProviderError("provider already started")
        began = time.monotonic()
        node = _which("node", "WHOKNOWS_TEST_NODE")
        if self.install:
            ensure_node_modules()
        env = dict(os.environ)
        env.update(
            OIDC_PORT=str(self.port),
            OIDC_RESOURCES=" ".join(self.resources),
            OIDC_SCOPES=" ".join(self.scopes),
            OIDC_CLIENTS=json.dumps([c.to_json() for c in self.clients]),
            OIDC_ACCESS_TOKEN_TTL=str(self.access_token_ttl),
        )
        env.setdefault("NODE_ENV", "test")
        # stderr goes to a file: it cannot fill a pipe, and it is quoted when start-up fails.
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [node, str(PROVIDER_SCRIPT)],
            cwd=OIDC_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,  # a Ctrl-C in the terminal does not hit the provider first
        )
        atexit.register(self.stop)
        try:
            info = self._wait_for_ready(began + self.startup_timeout)
            self.issuer = info["issuer"]
            self.port = int(info["port"])
            self._session = requests.Session()
            resp = self._session.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
            resp.raise_for_status()
            self.discovery = resp.json()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _wait_for_ready(self, deadline: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self._proc.stdout

        def pump() -> None:  # keeps reading, so the provider can never block on stdout
            for line in iter(stdout.readline, b""):
                lines.put(line)
            lines.put(b"")

        threading.Thread(target=pump, name="oidc-provider-stdout", daemon=True).start()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OidcProviderError(
                    f"oidc provider did not report ready within {self.startup_timeout:.0f}s\n"
                    + self.stderr_text()
                )
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line == b"":
                code = self._proc.wait(timeout=5)
                raise OidcProviderError(
                    f"oidc provider exited with code {code} before it was ready\n"
                    + self.stderr_text()
                )
            try:
                info = json.loads(line)
            except ValueError:
                continue
            if isinstance(info, dict) and "issuer" in info:
                return info

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        if self._session is not None:
            self._session.close()
            self._session = None
        atexit.unregister(self.stop)

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stderr_text(self, limit: int = 8000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    # ---- endpoints -------------------------------------------------------------------------

    def _require_started(self) -> None:
        if not self.discovery:
            raise OidcProviderError("provider not started")

    @property
    def resource(self) -> str:
        """The default resource indicator (the API's expected ``aud``)."""
        return self.resources[0]

    @property
    def jwks_uri(self) -> str:
        self._require_started()
        return str(self.discovery["jwks_uri"])

    @property
    def token_endpoint(self) -> str:
        self._require_started()
        return str(self.discovery["token_endpoint"])

    @property
    def discovery_url(self) -> str:
        self._require_started()
        return f"{self.issuer}/.well-known/openid-configuration"

    def jwks(self) -> dict[str, Any]:
        """The provider's public JWK Set, as served at jwks_uri."""
        assert self._session is not None
        resp = self._session.get(self.jwks_uri, timeout=10)
        resp.raise_for_status()
        return dict(resp.json())

    def client(self, client_id: str) -> OidcClient:
        for c in self.clients:
            if c.client_id == client_id:
                return c
        raise KeyError(client_id)

    def token_response(
        self,
        client_id: str,
        client_secret: str,
        scope: str | Sequence[str] | None = None,
        resource: str | None = None,
        auth: str = "basic",
    ) -> requests.Response:
        """POST a client_credentials request to the token endpoint and return the raw response.

        ``auth`` is "basic" (HTTP Basic, the clients' default method) or "post" (credentials
        in the form body; the client must be registered with client_secret_post).
        ``resource`` defaults to the provider's first resource; pass "" to omit the parameter.
        """
        self._require_started()
        assert self._session is not None
        data: dict[str, str] = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope if isinstance(scope, str) else " ".join(scope)
        if resource is None:
            resource = self.resource
        if resource:
            data["resource"] = resource
        kwargs: dict[str, Any] = {}
        if auth == "basic":
            kwargs["auth"] = (client_id, client_secret)
        elif auth == "post":
            data.update(client_id=client_id, client_secret=client_secret)
        else:
            raise ValueError(f"auth must be 'basic' or 'post', not {auth!r}")
        return self._session.post(self.token_endpoint, data=data, timeout=10, **kwargs)

    def token(
        self,
        client_id: str,
        client_secret: str,
        scope: str | Sequence[str] | None = None,
        resource: str | None = None,
        auth: str = "basic",
    ) -> str:
        """The access token (a JWT) of a real client_credentials request.

        Raises OidcTokenError when the provider refuses the request.
        """
        resp = self.token_response(
            client_id, client_secret, scope=scope, resource=resource, auth=auth
        )
        if resp.status_code != 200:
            raise OidcTokenError(resp)
        return str(resp.json()["access_token"])

    def token_for(
        self, client_id: str, scope: str | Sequence[str] | None = None, resource: str | None = None
    ) -> str:
        """``token()`` with the registered secret and auth method of this provider's client."""
        c = self.client(client_id)
        auth = "post" if c.token_endpoint_auth_method == "client_secret_post" else "basic"
        return self.token(c.client_id, c.client_secret, scope=scope, resource=resource, auth=auth)


def oidc_provider_fixture(
    *,
    scope: str = "session",
    name: str | None = None,
    **provider_kwargs: Any,
) -> Callable[..., Iterator[OidcProvider]]:
    """Make a pytest fixture that yields a started ``OidcProvider`` and stops it afterwards.

    In a conftest: ``oidc_provider = oidc_provider_fixture()`` (the fixture takes the
    variable's name unless ``name=`` is given). Keyword arguments go to ``OidcProvider``.
    """
    import pytest

    def _fixture() -> Iterator[OidcProvider]:
        provider = OidcProvider(**provider_kwargs)
        provider.start()
        try:
            yield provider
        finally:
            provider.stop()

    if name is not None:
        return pytest.fixture(scope=scope, name=name)(_fixture)  # type: ignore[call-overload, no-any-return]
    return pytest.fixture(scope=scope)(_fixture)  # type: ignore[call-overload, no-any-return]


__all__ = [
    "DEFAULT_CLIENTS",
    "DEFAULT_RESOURCE",
    "DEFAULT_SCOPES",
    "OidcClient",
    "OidcProvider",
    "OidcProviderError",
    "OidcTokenError",
    "ensure_node_modules",
    "oidc_provider_fixture",
]
