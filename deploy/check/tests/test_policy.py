"""The project's policies hold for every rendered variant and fail purpose-made bad manifests."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from shequ_deploycheck.policy import check_policies, looks_secret
from shequ_deploycheck.schemas import validate_manifests

SECURE = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
LABELS = {"app.kubernetes.io/name": "demo", "app.kubernetes.io/component": "serve"}


def deployment() -> dict[str, Any]:
    """A Deployment that meets every policy; each test breaks one thing."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "demo-serve"},
        "spec": {
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "containers": [
                        {
                            "name": "demo",
                            "image": "registry.example.org/shequ/shequ-demo:0.1.0",
                            "args": ["serve"],
                            "env": [
                                {"name": "DEMO_LOG_LEVEL", "value": "INFO"},
                                {
                                    "name": "DEMO_DATABASE_URL",
                                    "valueFrom": {"secretKeyRef": {"name": "db", "key": "uri"}},
                                },
                            ],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "1", "memory": "256Mi"},
                            },
                            "livenessProbe": {"grpc": {"port": 50051}},
                            "readinessProbe": {"grpc": {"port": 50051}},
                            "securityContext": dict(SECURE),
                        }
                    ]
                },
            },
        },
    }


def budget() -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "demo-serve"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": LABELS}},
    }


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = manifest["spec"]["template"]["spec"]["containers"][0]
    return found


def problems_with(manifest: Mapping[str, Any]) -> list[str]:
    return check_policies([manifest, budget()])


def test_the_reference_deployment_meets_every_policy() -> None:
    manifest = deployment()
    assert problems_with(manifest) == []
    # and is a valid Deployment, so the bad ones below differ from it in one thing only
    assert validate_manifests([manifest]).problems == []


@pytest.mark.parametrize("variant", ["default", "production", "operators"])
def test_every_rendered_variant_meets_every_policy(
    rendered: dict[str, list[Mapping[str, Any]]], variant: str
) -> None:
    assert check_policies(rendered[variant]) == []


def test_a_container_without_limits_fails() -> None:
    manifest = deployment()
    del container(manifest)["resources"]["limits"]
    problems = problems_with(manifest)
    assert "Deployment/demo-serve container demo: no cpu limit" in problems
    assert "Deployment/demo-serve container demo: no memory limit" in problems


def test_a_container_without_a_memory_request_fails() -> None:
    manifest = deployment()
    del container(manifest)["resources"]["requests"]["memory"]
    assert problems_with(manifest) == ["Deployment/demo-serve container demo: no memory request"]


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe"])
def test_a_missing_probe_fails(probe: str) -> None:
    manifest = deployment()
    del container(manifest)[probe]
    assert problems_with(manifest) == [f"Deployment/demo-serve container demo: no {probe}"]


def test_a_job_runs_to_completion_without_probes() -> None:
    manifest = deployment()
    manifest["kind"] = "Job"
    del container(manifest)["livenessProbe"]
    del container(manifest)["readinessProbe"]
    assert check_policies([manifest]) == []


@pytest.mark.parametrize(
    "image",
    ["registry.example.org/shequ/shequ-demo:latest", "registry.example.org:5000/shequ-demo"],
)
def test_an_unpinned_image_fails(image: str) -> None:
    manifest = deployment()
    container(manifest)["image"] = image
    problems = problems_with(manifest)
    assert problems == [
        f"Deployment/demo-serve container demo: image {image!r} must be pinned to a tag "
        "other than latest"
    ]


def test_an_image_pinned_by_digest_passes() -> None:
    manifest = deployment()
    container(manifest)["image"] = "registry.example.org/shequ-demo@sha256:" + "a" * 64
    assert problems_with(manifest) == []


@pytest.mark.parametrize(
    "name", ["DEMO_DATABASE_URL", "DEMO_PII_KEYS", "DEMO_SERVICE_CLIENT_SECRET", "PGPASSWORD"]
)
def test_a_literal_secret_fails(name: str) -> None:
    manifest = deployment()
    container(manifest)["env"].append({"name": name, "value": "s3cr3t"})
    assert problems_with(manifest) == [
        f"Deployment/demo-serve container demo: {name} is a literal value; "
        "reference a Secret (valueFrom.secretKeyRef)"
    ]


def test_a_secret_in_a_config_map_fails() -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "demo-settings"},
        "data": {"DEMO_KEYCLOAK_URL": "https://login", "DEMO_SMS_ACCESS_KEY_SECRET": "s3cr3t"},
    }
    assert check_policies([config_map]) == [
        "ConfigMap/demo-settings: DEMO_SMS_ACCESS_KEY_SECRET looks like a secret; "
        "keep it in a Secret"
    ]


def test_names_that_merely_contain_key_are_not_secrets() -> None:
    assert not looks_secret("GATEWAY_KEYCLOAK_URL")
    assert not looks_secret("NOTIFY_SMS_TEMPLATE_CODE")
    assert looks_secret("CENSUS_PII_LOOKUP_KEY")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("runAsNonRoot", False, "must run as non-root (runAsNonRoot: true)"),
        ("runAsUser", 0, "must run as non-root (runAsNonRoot: true)"),
        ("allowPrivilegeEscalation", True, "allowPrivilegeEscalation must be false"),
        ("readOnlyRootFilesystem", False, "readOnlyRootFilesystem must be true"),
        ("capabilities", {"drop": ["NET_RAW"]}, "capabilities must drop ALL"),
        ("seccompProfile", {"type": "Unconfined"}, "seccompProfile must be RuntimeDefault"),
    ],
)
def test_a_weakened_security_context_fails(field: str, value: object, message: str) -> None:
    manifest = deployment()
    container(manifest)["securityContext"][field] = value
    assert problems_with(manifest) == [f"Deployment/demo-serve container demo: {message}"]


def test_a_deployment_without_a_disruption_budget_fails() -> None:
    other = copy.deepcopy(budget())
    other["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "else"}
    assert check_policies([deployment(), other]) == [
        "Deployment/demo-serve: no PodDisruptionBudget selects its pods"
    ]
