"""The rendered chart runs every process of every package, migrates each database, and imports
a realm without the local demo's people and secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from shequ_deploycheck import realm
from shequ_deploycheck.chart import chart_dir, repo_root
from shequ_deploycheck.processes import check_processes, rendered_processes
from shequ_infra.platform import PLATFORM_TOPICS, RUN_MODES

Manifests = list[Mapping[str, Any]]


def named(manifests: Manifests, kind: str, name: str) -> Mapping[str, Any]:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name)


def test_the_default_chart_runs_every_process_kind_of_every_package(
    default_manifests: Manifests,
) -> None:
    expected = {(package, mode) for package, modes in RUN_MODES.items() for mode in modes}
    assert rendered_processes(default_manifests) == expected
    assert check_processes(default_manifests) == []


def test_a_chart_missing_a_process_kind_fails(default_manifests: Manifests) -> None:
    without_dispatch = [
        m for m in default_manifests if m["metadata"]["name"] != "shequ-notify-dispatch"
    ]
    assert check_processes(without_dispatch) == ["no Deployment runs `python -m notify dispatch`"]


def test_a_container_running_a_mode_its_package_lacks_fails(default_manifests: Manifests) -> None:
    manifests = json.loads(json.dumps(default_manifests))  # a deep copy to break
    relay = named(manifests, "Deployment", "shequ-census-relay")
    relay["spec"]["template"]["spec"]["containers"][0]["args"] = ["consume"]
    problems = check_processes(manifests)
    assert any("`python -m census consume` is no mode of census" in p for p in problems)


def test_every_package_migrates_before_install_and_upgrade(default_manifests: Manifests) -> None:
    for package in RUN_MODES:
        job = named(default_manifests, "Job", f"shequ-{package}-migrate")
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


def test_serve_probes_are_native_grpc_and_loops_probe_their_heartbeat(
    default_manifests: Manifests,
) -> None:
    for package, modes in RUN_MODES.items():
        for mode in modes:
            deployment = named(default_manifests, "Deployment", f"shequ-{package}-{mode}")
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            liveness = container["livenessProbe"]
            if mode != "serve":
                assert liveness["httpGet"] == {"path": "/healthz", "port": "probe"}
                env = {e["name"]: e.get("value") for e in container["env"]}
                assert env["SHEQU_PROBE_PORT"] == "9000"
            elif package == "gateway":
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            else:
                assert "grpc" in liveness
                assert "grpc" in container["readinessProbe"]


def test_services_reach_each_other_by_the_chart_names(default_manifests: Manifests) -> None:
    settings = named(default_manifests, "ConfigMap", "shequ-gateway-settings")["data"]
    services = {m["metadata"]["name"]: m for m in default_manifests if m["kind"] == "Service"}
    for package in ("census", "grid", "cases", "notify"):
        host, port = settings[f"GATEWAY_{package.upper()}_TARGET"].split(":")
        assert int(port) == services[host]["spec"]["ports"][0]["port"]


def test_the_charts_realm_is_the_local_realm_without_demo_people_and_secrets() -> None:
    local = repo_root() / "deploy/local/realm-shequ.json"
    charted = (chart_dir() / "files/realm-shequ.json").read_text(encoding="utf-8")
    assert charted == realm.render(local), "python -m shequ_deploycheck realm"
    imported = json.loads(charted)
    assert all("serviceAccountClientId" in user for user in imported["users"])
    assert "credentials" not in json.dumps(imported["users"])
    for secret in ("shequ-demo", "local-dev-"):
        assert secret not in charted
    local_realm = json.loads(local.read_text(encoding="utf-8"))
    assert [c["clientId"] for c in imported["clients"]] == [
        c["clientId"] for c in local_realm["clients"]
    ]


def test_the_realm_import_fills_client_secrets_from_the_services_secrets(
    rendered: dict[str, Manifests],
) -> None:
    manifests = rendered["operators"]
    realm_import = next(m for m in manifests if m["kind"] == "KeycloakRealmImport")
    clients = {c["clientId"]: c for c in realm_import["spec"]["realm"]["clients"]}
    placeholders = realm_import["spec"]["placeholders"]
    gateway_secret = placeholders["SHEQU_GATEWAY_CLIENT_SECRET"]["secret"]
    assert clients["shequ-gateway"]["secret"] == "${SHEQU_GATEWAY_CLIENT_SECRET}"
    # The gateway reads the very Secret key the realm's client secret comes from.
    gateway = named(manifests, "Deployment", "shequ-gateway-serve")
    env = gateway["spec"]["template"]["spec"]["containers"][0]["env"]
    reference = next(e for e in env if e["name"] == "GATEWAY_KEYCLOAK_CLIENT_SECRET")
    assert reference["valueFrom"]["secretKeyRef"] == gateway_secret
    # The console may only return to the ingress host.
    assert clients["shequ-console"]["redirectUris"] == ["http://shequ.example.org/console/*"]


def test_production_values_serve_the_console_over_tls(rendered: dict[str, Manifests]) -> None:
    ingress = next(m for m in rendered["production"] if m["kind"] == "Ingress")
    assert ingress["spec"]["tls"][0]["hosts"] == ["shequ.example.org"]
    paths = {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert {"/api", "/console", "/open311"} <= paths
    assert not paths & {"/metrics", "/healthz", "/readyz", "/"}


def test_with_cloudnativepg_each_service_reads_its_own_clusters_secret(
    rendered: dict[str, Manifests],
) -> None:
    manifests = rendered["operators"]
    clusters = {m["metadata"]["name"] for m in manifests if m["kind"] == "Cluster"}
    assert clusters == {f"shequ-{package}-db" for package in RUN_MODES}
    for package in RUN_MODES:
        deployment = named(manifests, "Deployment", f"shequ-{package}-serve")
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        url = next(e for e in env if e["name"] == f"{package.upper()}_DATABASE_URL")
        assert url["valueFrom"]["secretKeyRef"] == {"name": f"shequ-{package}-db-app", "key": "uri"}


def test_the_topics_are_the_platforms_topics(default_manifests: Manifests) -> None:
    topics = {m["spec"]["topicName"] for m in default_manifests if m["kind"] == "KafkaTopic"}
    assert topics == set(PLATFORM_TOPICS) | {f"{t}.dlq" for t in PLATFORM_TOPICS}
    values = yaml.safe_load((chart_dir() / "values.yaml").read_text(encoding="utf-8"))
    assert values["kafka"]["topics"]["names"] == list(PLATFORM_TOPICS)
