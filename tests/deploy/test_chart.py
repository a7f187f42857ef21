"""The Helm chart, linted and rendered with Helm's own Go library (helm-python-sdk, no helm
binary, offline), every manifest validated against the Kubernetes schemas
(kubernetes-validate, strict: an unknown field fails), for the least an install needs and
for a production-like values file; then what an operator relies on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from flask import Flask

from service.config import load_config
from service.web.auth import init_auth

CHART = Path(__file__).resolve().parents[2] / "helm" / "whoknows"
PRODUCTION = CHART / "ci" / "production-values.yaml"
#: the oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest known
KUBE_VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]
#: what an install cannot do without
MINIMAL: dict[str, Any] = {"database": {"existingSecret": "wk-db"},
                           "api": {"signingKey": {"existingSecret": "wk-key"}}}
PROVIDER = "https://login.example.com/.well-known/openid-configuration"

Manifests = list[dict[str, Any]]


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def production_values() -> dict[str, Any]:
    return helm.values_from_yaml(PRODUCTION.read_text(encoding="utf-8"))


def render(chart: helm.Chart, values: dict[str, Any], upgrade: bool = False) -> Manifests:
    rendered = chart.render(values, name="wk", namespace="expertise", is_install=not upgrade,
                            is_upgrade=upgrade)
    return [doc for name, text in sorted(rendered.items()) if name.endswith(".yaml")
            for doc in yaml.safe_load_all(text) if doc]


def only(manifests: Manifests, kind: str, component: str | None = None) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind and (
        component is None
        or m["metadata"]["labels"].get("app.kubernetes.io/component") == component)]


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def minimal(chart: helm.Chart) -> Manifests:
    return render(chart, MINIMAL)


@pytest.fixture(scope="module")
def production(chart: helm.Chart) -> Manifests:
    return render(chart, production_values())


def values_without_redis() -> dict[str, Any]:
    """The production values with no Redis: no workers, no scheduler; the schedules in
    cron syntax, as sync CronJobs take them."""
    values = production_values()
    del values["redis"]
    for source in values["sources"]:
        if source["id"] == "member-community":
            source["schedule"] = "*/15 * * * *"
            del source["full_every_days"]
    return values


@pytest.fixture(scope="module")
def without_redis(chart: helm.Chart) -> Manifests:
    return render(chart, values_without_redis())


@pytest.fixture(scope="module")
def bundled_redis(chart: helm.Chart) -> Manifests:
    return render(chart, {**MINIMAL, "redis": {"enabled": True}})


@pytest.mark.parametrize("values", ["minimal", "production"])
def test_chart_lints_clean_in_strict_mode(values: str) -> None:
    given = MINIMAL if values == "minimal" else production_values()
    report = helm.lint(CHART, given, strict=True, kube_version="v1.27.0")
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


@pytest.mark.parametrize("values", ["minimal", "production", "without_redis", "bundled_redis"])
@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_rendered_manifest_is_valid_kubernetes(values: str, version: str,
                                                     request: pytest.FixtureRequest) -> None:
    manifests: Manifests = request.getfixturevalue(values)
    assert len(manifests) >= 7
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']}: {where}: "
                        f"{exc.message}")


def test_api_pods_probe_ready_on_readyz_and_alive_on_healthz(production: Manifests) -> None:
    (deployment,) = only(production, "Deployment", "api")
    (container,) = pod_spec(deployment)["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["command"] == ["gunicorn"]
    assert "--workers=3" in container["args"] and "--threads=4" in container["args"]
    assert container["args"][-1] == "service.api.wsgi:app"
    assert "replicas" not in deployment["spec"]  # the autoscaler owns the count


def test_every_pod_runs_unprivileged_on_a_read_only_root_with_a_writable_tmp(
        production: Manifests) -> None:
    workloads = [m for m in production if m["kind"] in ("Deployment", "CronJob", "Job")]
    assert {m["kind"] for m in workloads} == {"Deployment", "CronJob", "Job"}
    for workload in workloads:
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts["/tmp"] == "tmp"
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"]


def test_credentials_come_only_from_the_named_secrets(production: Manifests) -> None:
    (deployment,) = only(production, "Deployment", "api")
    (container,) = pod_spec(deployment)["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["WHOKNOWS_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "whoknows-db", "key": "url"}
    assert env["SEARCH_CLUSTER_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == \
        "whoknows-search"
    assert container["envFrom"] == [{"secretRef": {"name": "whoknows-sources"}}]
    assert env["WEB_SESSION_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "whoknows-web", "key": "session-secret"}
    assert env["WEB_OIDC_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "whoknows-web", "key": "client-secret"}
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    assert volumes["signing-key"]["secret"]["secretName"] == "whoknows-signing-key"
    assert not only(production, "Secret")  # the chart never holds a secret itself
    named = {"whoknows-db", "whoknows-search", "whoknows-web", "whoknows-redis"}
    for workload in (m for m in production if m["kind"] in ("Deployment", "CronJob", "Job")):
        for variable in pod_spec(workload)["containers"][0]["env"]:
            assert "value" in variable or variable["valueFrom"]["secretKeyRef"]["name"] in named
            # the page's sign-in secrets reach the API pods only, never a job or worker
            if workload["metadata"]["labels"]["app.kubernetes.io/component"] != "api":
                assert not variable["name"].startswith(("WEB_", "WHOKNOWS_WEB_"))
    text = yaml.safe_dump_all(production)
    assert "postgresql+psycopg" not in text


def test_without_redis_each_scheduled_source_gets_a_cron_job_that_never_overlaps(
        without_redis: Manifests) -> None:
    assert not only(without_redis, "Deployment", "worker")
    assert not only(without_redis, "Deployment", "scheduler")
    (config_map,) = only(without_redis, "ConfigMap")
    # the API pods would run the schedules in-process too: they do not see them
    assert "schedule =" not in config_map["data"]["whoknows.toml"]
    cron_jobs = only(without_redis, "CronJob")
    runs = {tuple(pod_spec(c)["containers"][0]["args"]): c for c in cron_jobs}
    assert set(runs) == {("sync", "intranet-blog"), ("sync", "member-community"),
                         ("sync", "partner_hub"),  # not the push source
                         ("topics", "--refresh"),  # the community insight, on its own
                         ("webhooks", "deliver")}  # the outbound webhooks' outbox
    member = runs[("sync", "member-community")]
    assert member["spec"]["schedule"] == "*/15 * * * *"
    for cron_job in cron_jobs:
        assert cron_job["spec"]["concurrencyPolicy"] == "Forbid"
        assert len(cron_job["metadata"]["name"]) <= 52
        assert pod_spec(cron_job)["containers"][0]["command"] == ["whoknows"]
        if cron_job not in (runs[("topics", "--refresh")], runs[("webhooks", "deliver")]):
            assert pod_spec(cron_job)["terminationGracePeriodSeconds"] == 120


def test_with_redis_workers_run_the_syncs_and_the_scheduler_enqueues_them(
        production: Manifests) -> None:
    runs = {tuple(pod_spec(c)["containers"][0]["args"]) for c in only(production, "CronJob")}
    # no sync CronJob: the scheduler has them (topics and webhook deliveries stay CronJobs)
    assert runs == {("topics", "--refresh"), ("webhooks", "deliver")}
    (worker,) = only(production, "Deployment", "worker")
    (scheduler,) = only(production, "Deployment", "scheduler")
    assert worker["spec"]["replicas"] == 3 and scheduler["spec"]["replicas"] == 2
    assert pod_spec(worker)["terminationGracePeriodSeconds"] == 120
    for deployment, command in ((worker, "worker"), (scheduler, "scheduler")):
        (container,) = pod_spec(deployment)["containers"]
        assert container["command"] == ["whoknows"]
        assert container["args"] == [command, "--health-port=8081"]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"health": 8081}
        assert container["envFrom"] == [{"secretRef": {"name": "whoknows-sources"}}]
    for deployment in (worker, scheduler, *only(production, "Deployment", "api")):
        env = {e["name"]: e for e in pod_spec(deployment)["containers"][0]["env"]}
        assert env["WHOKNOWS_JOBS_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "whoknows-redis", "key": "url"}


def test_the_bundled_redis_serves_only_this_release(bundled_redis: Manifests,
                                                    tmp_path: Path) -> None:
    (redis,) = only(bundled_redis, "Deployment", "redis")
    (service,) = only(bundled_redis, "Service", "redis")
    (container,) = pod_spec(redis)["containers"]
    assert container["readinessProbe"]["exec"]["command"] == ["redis-cli", "ping"]
    assert "--appendonly" in container["args"]  # no persistence: the queue is refilled
    assert pod_spec(redis)["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    for component in ("api", "worker", "scheduler"):
        (deployment,) = only(bundled_redis, "Deployment", component)
        env = {e["name"]: e for e in pod_spec(deployment)["containers"][0]["env"]}
        assert env["WHOKNOWS_JOBS_REDIS_URL"]["value"] == \
            f"redis://{service['metadata']['name']}:6379/0"
    policy = next(p for p in only(bundled_redis, "NetworkPolicy")
                  if p["spec"]["podSelector"]["matchLabels"].get(
                      "app.kubernetes.io/component") == "redis")
    (peer,) = policy["spec"]["ingress"][0]["from"]
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "whoknows",
                                                  "app.kubernetes.io/instance": "wk"}
    (config_map,) = only(bundled_redis, "ConfigMap")
    (tmp_path / "whoknows.toml").write_text(config_map["data"]["whoknows.toml"])
    config = load_config(tmp_path / "whoknows.toml", environ={
        "WHOKNOWS_DATABASE_URL": "postgresql+psycopg://wk@db/wk",
        "WHOKNOWS_JOBS_REDIS_URL": env["WHOKNOWS_JOBS_REDIS_URL"]["value"]})
    assert config.jobs.redis_url.startswith("redis://wk-whoknows-redis:6379")
    assert config.jobs.lease_seconds == 60 and config.jobs.queue == "whoknows-sync"


def test_an_every_schedule_without_redis_is_refused_by_name(chart: helm.Chart) -> None:
    values = values_without_redis()
    values["sources"][0]["schedule"] = "every 1h"
    with pytest.raises(helm.HelmError, match="intranet-blog.*redis.enabled"):
        chart.render(values, name="wk")


def test_migrations_run_before_install_and_upgrade_and_reindex_after(
        production: Manifests, minimal: Manifests) -> None:
    (migrate,) = only(production, "Job", "migrate")
    annotations = migrate["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = pod_spec(migrate)["containers"]
    assert (container["command"], container["args"]) == (["whoknows"], ["init"])
    # a pre-install hook runs before the ConfigMap and ServiceAccount exist
    assert "serviceAccountName" not in pod_spec(migrate)
    assert all(v.get("configMap") is None for v in pod_spec(migrate)["volumes"])
    (reindex,) = only(production, "Job", "reindex")
    assert reindex["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert pod_spec(reindex)["containers"][0]["args"] == ["reindex"]
    assert not only(minimal, "Job", "reindex")  # off unless asked for


def test_the_configmap_is_a_whoknows_toml_the_service_accepts(production: Manifests,
                                                              tmp_path: Path) -> None:
    (config_map,) = only(production, "ConfigMap")
    (tmp_path / "whoknows.toml").write_text(config_map["data"]["whoknows.toml"])
    (tmp_path / "synonyms.toml").write_text(config_map["data"]["synonyms.toml"])
    environ = {"WHOKNOWS_DATABASE_URL": "postgresql+psycopg://wk@db/wk",
               "SEARCH_CLUSTER_USER": "wk", "SEARCH_CLUSTER_PASSWORD": "pw"}
    config = load_config(tmp_path / "whoknows.toml", environ=environ)
    assert config.search.engine == "elasticsearch"
    assert config.search.url == "https://search.example.com:9200"
    assert config.search_auth == ("wk", "pw")
    assert config.api.issuer == "https://whoknows.example.com"
    assert config.api.signing_key_file == "/etc/whoknows/keys/signing-key.pem"
    assert config.api.external_issuers[0].scope_map["Experts.Read"] == "experts:read"
    assert config.reputation.synonyms == "/etc/whoknows/synonyms.toml"
    assert [s.id for s in config.sources] == ["intranet-blog", "member-community",
                                              "partner_hub", "support-push"]
    hub = config.source("partner_hub")
    assert hub is not None and hub.options["per_page"] == 50  # an int, as written
    assert config.reputation.evidence_per_topic == 8  # from `config`, merged in
    member = config.source("member-community")
    assert member is not None and member.schedule == "every 15m"
    assert member.full_every_days == 7
    assert config.jobs.scheduler_tick_seconds == 15 and config.jobs.max_attempts == 3


#: the Secrets an operator creates for production-values.yaml (its header says how)
PRODUCTION_SECRETS = {
    "whoknows-db": {"url": "postgresql+psycopg://whoknows:pw@pg.example.com:5432/whoknows"},
    "whoknows-search": {"username": "whoknows", "password": "search-pw"},
    "whoknows-web": {"session-secret": "9f" * 32, "client-secret": "oidc-client-pw"},
    "whoknows-redis": {"url": "rediss://:redis-pw@redis.example.com:6380/0"},
}


def container_environ(manifest: dict[str, Any],
                      secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The container's environment as the kubelet sets it from these Secrets (a reference
    to any other Secret or key fails with KeyError)."""
    environ = {}
    for variable in pod_spec(manifest)["containers"][0]["env"]:
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        environ[variable["name"]] = (secrets[ref["name"]][ref["key"]] if ref
                                     else variable["value"])
    return environ


def test_the_api_pods_configuration_signs_the_page_in_through_the_provider(
        production: Manifests, tmp_path: Path) -> None:
    (config_map,) = only(production, "ConfigMap")
    (tmp_path / "whoknows.toml").write_text(config_map["data"]["whoknows.toml"])
    (tmp_path / "synonyms.toml").write_text(config_map["data"]["synonyms.toml"])
    (deployment,) = only(production, "Deployment", "api")
    environ = container_environ(deployment, PRODUCTION_SECRETS)
    config = load_config(tmp_path / "whoknows.toml", environ=environ)
    web = config.web
    assert web.oidc_metadata_url == \
        "https://login.example.com/realms/corp/.well-known/openid-configuration"
    assert (web.client_id, web.scopes) == ("whoknows-intranet", "openid profile email")
    assert (web.session_minutes, web.secure_cookies) == (600, True)
    assert config.web_secrets == {"client_secret": "oidc-client-pw",
                                  "session_secret": "9f" * 32}
    assert config.api.trusted_proxies == 1  # the callback URL is the ingress's https one
    app = Flask(__name__)
    init_auth(app, web, config.web_secrets)  # what the page does at start: it accepts them
    assert app.secret_key == "9f" * 32
    assert app.config["SESSION_COOKIE_SECURE"] is True
    (ingress,) = only(production, "Ingress")
    paths = {p["path"]: p["pathType"] for rule in ingress["spec"]["rules"]
             for p in rule["http"]["paths"]}
    assert paths["/"] == "Exact"  # the page, not everything under it
    assert paths["/signin"] == paths["/people"] == paths["/assets"] == "Prefix"


def test_without_a_provider_the_page_has_no_sign_in_settings_and_no_route_in(
        chart: helm.Chart, minimal: Manifests) -> None:
    (deployment,) = only(minimal, "Deployment")
    secrets = {"wk-db": {"url": "postgresql+psycopg://wk@db/wk"}}
    assert not [name for name in container_environ(deployment, secrets) if "WEB" in name]
    open_page = render(chart, {**MINIMAL, "ingress": {"enabled": True,
                                                       "hosts": ["wk.example.com"]}})
    (ingress,) = only(open_page, "Ingress")
    paths = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths == ["/v1", "/oauth", "/.well-known", "/openapi.yaml"]


def test_a_public_client_gets_no_client_secret(chart: helm.Chart) -> None:
    values = {**MINIMAL, "web": {"oidcMetadataUrl": PROVIDER, "clientId": "wk",
                                 "existingSecret": "wk-web", "clientSecretKey": ""}}
    (deployment,) = only(render(chart, values), "Deployment")
    environ = container_environ(deployment, {"wk-db": {"url": "postgresql+psycopg://wk@db/wk"},
                                             "wk-web": {"session-secret": "s"}})
    assert environ["WEB_SESSION_SECRET"] == "s"
    assert not {"WEB_OIDC_CLIENT_SECRET", "WHOKNOWS_WEB_CLIENT_SECRET_ENV"} & set(environ)


def test_ingress_serves_tls_and_keeps_metrics_and_probes_inside(production: Manifests,
                                                               minimal: Manifests) -> None:
    (ingress,) = only(production, "Ingress")
    assert ingress["spec"]["tls"] == [{"secretName": "whoknows-tls",
                                       "hosts": ["whoknows.example.com"]}]
    paths = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert "/v1" in paths and "/oauth" in paths
    assert not {"/metrics", "/healthz", "/readyz"} & set(paths)
    assert all(p["pathType"] == "Exact" for rule in ingress["spec"]["rules"]
               for p in rule["http"]["paths"] if p["path"] == "/")
    (policy,) = only(production, "NetworkPolicy")
    peers = policy["spec"]["ingress"][0]["from"]
    names = [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
             for p in peers]
    assert names == ["ingress-nginx", "monitoring", "crm"]
    (hpa,) = only(production, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert only(production, "PodDisruptionBudget")
    assert not only(minimal, "Ingress") and not only(minimal, "HorizontalPodAutoscaler")
    assert only(minimal, "Deployment")[0]["spec"]["replicas"] == 2


@pytest.mark.parametrize(("values", "named"), [
    ({"api": {"signingKey": {"existingSecret": "wk-key"}}}, "/database/existingSecret"),
    ({"database": {"existingSecret": "wk-db"}}, "/api/signingKey/existingSecret"),
    ({**MINIMAL, "replicaCount": -1}, "/replicaCount"),
    ({**MINIMAL, "search": {"url": "search.example.com:9200"}}, "/search/url"),
    ({**MINIMAL, "sources": [{"id": "Blog", "kind": "rss", "audience": "internal"}]},
     "/sources/0/id"),
    ({**MINIMAL, "web": {"oidcMetadataUrl": PROVIDER, "clientId": "wk"}},
     "/web/existingSecret"),
    ({**MINIMAL, "web": {"oidcMetadataUrl": PROVIDER, "existingSecret": "wk-web"}},
     "/web/clientId"),
    ({**MINIMAL, "web": {"scopes": "profile email"}}, "/web/scopes"),
    ({**MINIMAL, "web": {"oidcMetadataUrl": "login.example.com"}}, "/web/oidcMetadataUrl"),
])
def test_a_wrong_value_fails_the_install_with_a_message_naming_it(
        chart: helm.Chart, values: dict[str, Any], named: str) -> None:
    with pytest.raises(helm.HelmValuesError) as raised:
        chart.render(values, name="wk", namespace="expertise", is_install=True)
    assert f"at '{named}'" in str(raised.value)
    report = helm.lint(CHART, values)
    assert any(named in error for error in report["errors"]), report


def test_an_ingress_without_hosts_is_refused_by_name(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmError, match="ingress.hosts"):
        chart.render({**MINIMAL, "ingress": {"enabled": True}}, name="wk")
