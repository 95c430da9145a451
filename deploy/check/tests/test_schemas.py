"""Offline validation against the Kubernetes schemas catches what an API server would refuse."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from shequ_deploycheck.schemas import OPERATOR_KINDS, validate_manifests


@pytest.mark.parametrize("variant", ["default", "production", "operators"])
def test_every_rendered_manifest_is_valid(
    rendered: dict[str, list[Mapping[str, Any]]], variant: str
) -> None:
    report = validate_manifests(rendered[variant])
    assert report.problems == []
    assert report.validated > 0


def test_the_operator_resources_are_the_only_ones_skipped(
    rendered: dict[str, list[Mapping[str, Any]]],
) -> None:
    manifests = rendered["operators"]
    report = validate_manifests(manifests)
    operator_resources = [
        f"{m['kind']}/{m['metadata']['name']}"
        for m in manifests
        if (m["apiVersion"], m["kind"]) in OPERATOR_KINDS
    ]
    assert sorted(report.skipped) == sorted(operator_resources)
    assert {m["kind"] for m in manifests if (m["apiVersion"], m["kind"]) in OPERATOR_KINDS} == {
        "KafkaTopic",
        "KeycloakRealmImport",
        "Cluster",
    }


def service(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "demo"}, "spec": spec}


def test_a_field_of_the_wrong_type_fails() -> None:
    report = validate_manifests([service(ports=[{"port": "grpc"}])])
    assert len(report.problems) == 1
    assert report.problems[0].startswith("Service/demo: spec.ports.0.port:")


def test_an_unknown_field_fails() -> None:
    report = validate_manifests([service(ports=[{"port": 80}], loadBalancerClassName="x")])
    assert len(report.problems) == 1
    assert "loadBalancerClassName" in report.problems[0]


def test_a_kind_without_a_schema_is_not_waved_through() -> None:
    report = validate_manifests(
        [{"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "demo"}}]
    )
    assert report.problems == ["Deploymnet/demo: no Kubernetes 1.31.0 schema for apps/v1"]
