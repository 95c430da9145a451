"""The project's own policies for rendered manifests, beyond what the schemas say.

Every container of every workload: runs as non-root, hardened (no privilege escalation,
read-only root file system, all capabilities dropped, seccomp RuntimeDefault), has CPU and
memory requests and limits, and an image pinned to a tag that is not ``latest``. Every
long-running container (Deployment, StatefulSet, DaemonSet) has liveness and readiness probes,
and every Deployment a PodDisruptionBudget. Secrets only by reference: no literal env value and
no ConfigMap entry under a name that says password, secret, key, token, DSN or database URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from shequ_deploycheck.dockerfile import image_is_pinned

Manifest = Mapping[str, Any]

POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"})
LONG_RUNNING_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})
# Marks of a secret setting: anywhere in the name (PGPASSWORD), or as a whole word between
# underscores (PII_KEYS, but KEYCLOAK_URL is no KEY).
SECRET_PARTS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "DATABASE_URL")
SECRET_WORDS = frozenset({"KEY", "KEYS", "DSN", "CREDENTIALS"})


def looks_secret(name: str) -> bool:
    upper = name.upper()
    words = set(re.split(r"[^A-Z0-9]+", upper))
    return any(part in upper for part in SECRET_PARTS) or bool(words & SECRET_WORDS)


def pod_spec(manifest: Manifest) -> Mapping[str, Any] | None:
    if manifest.get("kind") == "CronJob":
        spec: Mapping[str, Any] = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    if manifest.get("kind") in POD_TEMPLATE_KINDS:
        template_spec: Mapping[str, Any] = manifest["spec"]["template"]["spec"]
        return template_spec
    return None


def describe(manifest: Manifest) -> str:
    return f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"


def check_policies(manifests: list[Manifest]) -> list[str]:
    """Every policy violation in ``manifests``; empty: all hold."""
    problems: list[str] = []
    for manifest in manifests:
        spec = pod_spec(manifest)
        if spec is not None:
            problems += _check_pod(manifest, spec)
        if manifest.get("kind") == "ConfigMap":
            problems += [
                f"{describe(manifest)}: {key} looks like a secret; keep it in a Secret"
                for key in manifest.get("data") or {}
                if looks_secret(key)
            ]
    problems += _check_disruption_budgets(manifests)
    return problems


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or []:
            yield kind, container


def _check_pod(manifest: Manifest, spec: Mapping[str, Any]) -> list[str]:
    where = describe(manifest)
    pod_security = spec.get("securityContext") or {}
    long_running = manifest.get("kind") in LONG_RUNNING_KINDS
    problems: list[str] = []
    for kind, container in _containers(spec):
        name = f"{where} container {container.get('name')}"
        security = {**pod_security, **(container.get("securityContext") or {})}
        problems += [f"{name}: {p}" for p in _security_problems(security)]
        resources = container.get("resources") or {}
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(bound) or {}):
                    problems.append(f"{name}: no {resource} {bound[:-1]}")
        image = str(container.get("image", ""))
        if not image_is_pinned(image):
            problems.append(f"{name}: image {image!r} must be pinned to a tag other than latest")
        if long_running and kind == "containers":
            for probe in ("livenessProbe", "readinessProbe"):
                if not container.get(probe):
                    problems.append(f"{name}: no {probe}")
        for variable in container.get("env") or []:
            if "value" in variable and looks_secret(str(variable.get("name", ""))):
                problems.append(
                    f"{name}: {variable['name']} is a literal value; "
                    "reference a Secret (valueFrom.secretKeyRef)"
                )
    return problems


def _security_problems(security: Mapping[str, Any]) -> list[str]:
    """What a merged pod and container securityContext lacks of the hardened baseline."""
    problems = []
    if security.get("runAsNonRoot") is not True or security.get("runAsUser") == 0:
        problems.append("must run as non-root (runAsNonRoot: true)")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation must be false")
    if security.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem must be true")
    if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
        problems.append("capabilities must drop ALL")
    if (security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append("seccompProfile must be RuntimeDefault")
    return problems


def _check_disruption_budgets(manifests: list[Manifest]) -> list[str]:
    selectors = [
        m["spec"]["selector"].get("matchLabels") or {}
        for m in manifests
        if m.get("kind") == "PodDisruptionBudget"
    ]
    problems = []
    for manifest in manifests:
        if manifest.get("kind") != "Deployment":
            continue
        labels = manifest["spec"]["template"]["metadata"].get("labels") or {}
        if not any(
            selector and all(labels.get(k) == v for k, v in selector.items())
            for selector in selectors
        ):
            problems.append(f"{describe(manifest)}: no PodDisruptionBudget selects its pods")
    return problems
