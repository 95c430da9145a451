"""Every rendered manifest against the Kubernetes JSON schemas, offline (kubernetes-validate).

Strict mode: an unknown field is an error, as a server-side dry run would make it. The
operators' custom resources (Strimzi, Keycloak, CloudNativePG) have no schema in
kubernetes-validate; they are skipped *by name*, and reported as skipped, while any other kind
without a schema is an error, so a typo in a core kind cannot slip through as "unknown".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kubernetes_validate

from shequ_deploycheck.chart import KUBERNETES_VERSION

# (apiVersion, kind) of the operators' resources the chart may render.
OPERATOR_KINDS = frozenset(
    {
        ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
        ("k8s.keycloak.org/v2alpha1", "KeycloakRealmImport"),
        ("postgresql.cnpg.io/v1", "Cluster"),
    }
)


@dataclass
class SchemaReport:
    problems: list[str] = field(default_factory=list)
    validated: int = 0
    skipped: list[str] = field(default_factory=list)


def validate_manifests(
    manifests: list[Mapping[str, Any]], version: str = KUBERNETES_VERSION
) -> SchemaReport:
    report = SchemaReport()
    for manifest in manifests:
        kind, api_version = manifest.get("kind"), manifest.get("apiVersion")
        name = f"{kind}/{manifest.get('metadata', {}).get('name')}"
        if (api_version, kind) in OPERATOR_KINDS:
            report.skipped.append(name)
            continue
        try:
            kubernetes_validate.validate(dict(manifest), version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            report.problems.append(f"{name}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            report.problems.append(f"{name}: no Kubernetes {version} schema for {api_version}")
        else:
            report.validated += 1
    return report
